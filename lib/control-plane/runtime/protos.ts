import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as protobuf from 'protobufjs';
import { addNewerEnvoyFields } from './envoy-api-additions';

/**
 * Envoy's v3 protos, as shipped by @grpc/grpc-js-xds (envoy-api, xds/udpa, googleapis,
 * protoc-gen-validate), loaded once into one protobufjs Root with the original (snake_case)
 * field names and the `(validate.rules)` options kept, so that templates, the strict
 * validator and the encoder all speak the same types.
 */
const PROTO_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'google/rpc/status.proto',
];

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

export const TYPE_URLS = {
  listeners: `${TYPE_URL_PREFIX}envoy.config.listener.v3.Listener`,
  routes: `${TYPE_URL_PREFIX}envoy.config.route.v3.RouteConfiguration`,
  clusters: `${TYPE_URL_PREFIX}envoy.config.cluster.v3.Cluster`,
  endpoints: `${TYPE_URL_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  /** VHDS: the virtual hosts of a route configuration whose `vhds` asks for them (Delta xDS only). */
  virtualHosts: `${TYPE_URL_PREFIX}envoy.config.route.v3.VirtualHost`,
} as const;

export type ResourceKind = keyof typeof TYPE_URLS;
export const RESOURCE_KINDS: readonly ResourceKind[] = ['listeners', 'routes', 'clusters', 'endpoints', 'virtualHosts'];

export function kindOfTypeUrl(typeUrl: string): ResourceKind | undefined {
  return RESOURCE_KINDS.find((kind) => TYPE_URLS[kind] === typeUrl);
}

function includeDirs(): string[] {
  const xds = dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const protobufjs = dirname(require.resolve('protobufjs/package.json'));
  return [
    join(xds, 'deps/envoy-api'),
    join(xds, 'deps/xds'),
    join(xds, 'deps/googleapis'),
    join(xds, 'deps/protoc-gen-validate'),
    protobufjs, // google/protobuf/descriptor.proto and friends
  ];
}

let loaded: protobuf.Root | undefined;

/** The shared Root (loaded on first use, ~100 ms). */
export function envoyRoot(): protobuf.Root {
  if (loaded) return loaded;
  const dirs = includeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (existsSync(target)) return target;
    for (const dir of dirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  addNewerEnvoyFields(root);
  loaded = root;
  return root;
}

/**
 * Loads more of Envoy's protos into the shared Root (e.g. `envoy/config/bootstrap/v3/bootstrap.proto`
 * to check a bootstrap); files already loaded are skipped.
 */
export function loadEnvoyProtos(files: readonly string[]): void {
  const root = envoyRoot();
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
}

/** Looks a message type up by full name or type URL. */
export function lookupMessage(nameOrUrl: string): protobuf.Type | undefined {
  const name = nameOrUrl.startsWith(TYPE_URL_PREFIX) ? nameOrUrl.slice(TYPE_URL_PREFIX.length) : nameOrUrl.replace(/^.*\//, '');
  try {
    return envoyRoot().lookupType(name);
  } catch {
    return undefined;
  }
}

export function messageType(name: string): protobuf.Type {
  const type = lookupMessage(name);
  if (!type) throw new Error(`unknown message type ${name}`);
  return type;
}
