import * as protobuf from 'protobufjs';

/**
 * Fields of Envoy's API that the fleet's Envoy (1.39, ami/salt/pillar/envoy.sls) has and the
 * protos vendored by @grpc/grpc-js-xds predate, declared here from Envoy's
 * api/envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto, so that the strict
 * validator and the encoder know them:
 *
 * - `CheckSettings.service_override` (a oneof; Envoy PRs #40169/#40843): `grpc_service = 4`
 *   (`config.core.v3.GrpcService`) and `http_service = 5` (`HttpService`): "Override the
 *   external authorization service for this route ... regardless of the original service
 *   type". It lets every tenant's ext_authz target arrive in its own virtual host instead
 *   of a filter on the shared listener (templates/edge-listeners.ts, issue 13 item 5).
 *
 * Only names, numbers and types: no validation rules are declared for them (Envoy's proto has
 * none on these two fields beyond those of their message types, which are vendored).
 */
export function addNewerEnvoyFields(root: protobuf.Root): void {
  const checkSettings = root.lookupType('envoy.extensions.filters.http.ext_authz.v3.CheckSettings');
  if (checkSettings.fields.grpc_service) return;
  const oneof = new protobuf.OneOf('service_override');
  checkSettings.add(oneof);
  const grpc = new protobuf.Field('grpc_service', 4, '.envoy.config.core.v3.GrpcService');
  const http = new protobuf.Field('http_service', 5, '.envoy.extensions.filters.http.ext_authz.v3.HttpService');
  checkSettings.add(grpc);
  checkSettings.add(http);
  oneof.add(grpc);
  oneof.add(http);
  // Called after the Root resolved its types: resolve the two new fields now.
  grpc.resolve();
  http.resolve();
}
