/**
 * `auth.ext_authz` without touching the shared listener (issue 13, item 5). The `edge-https`
 * listener carries a fixed set of ext_authz filters, one per combination of the settings
 * Envoy cannot override per route (the service's protocol, `failure_mode_allow`), all
 * disabled and pointing at a placeholder cluster with no endpoints. A tenant's virtual host
 * enables the filter of its combination and names its own target through
 * `ExtAuthzPerRoute.check_settings.grpc_service` / `http_service`, which "override the
 * external authorization service for this route" (Envoy's ext_authz.proto; the vendored
 * protos lack them, envoy-api-additions.ts declares them). So a tenant adding, changing or
 * removing its ext_authz target changes its virtual host and its `-authz` cluster, never the
 * listener, whose change would drain every connection of every tenant.
 *
 * If Envoy could not build the route's client it "falls back to" the filter-level one
 * (ext_authz.cc): the placeholder, whose cluster does not exist, so the check fails and
 * `failure_mode_allow` decides, as for an unreachable target: closed unless the tenant
 * chose open.
 */
import { ServedRoute } from './context';
import { authzClusterName, seconds } from './templates/common';

const ANY = 'type.googleapis.com/';

/**
 * The cluster the listener's ext_authz filters name: never rendered. Envoy builds the
 * filter-level gRPC client with skip_cluster_check (ext_authz config.cc:
 * getOrCreateRawAsyncClientWithHashKey(..., true)) and looks an HTTP service's cluster up per
 * request, so an absent cluster is accepted, and a check that would use it fails.
 */
export const AUTHZ_PLACEHOLDER_CLUSTER = 'edge-authz-unset';

type Protocol = 'grpc' | 'http';

/** The filter of one combination of the settings that are not per route. */
export function authzFilterName(protocol: Protocol, failureModeAllow: boolean): string {
  return `envoy.filters.http.ext_authz/${protocol}-${failureModeAllow ? 'fail-open' : 'fail-closed'}`;
}

const COMBINATIONS: ReadonlyArray<{ protocol: Protocol; failureModeAllow: boolean }> = [
  { protocol: 'grpc', failureModeAllow: false },
  { protocol: 'grpc', failureModeAllow: true },
  { protocol: 'http', failureModeAllow: false },
  { protocol: 'http', failureModeAllow: true },
];

const PLACEHOLDER_TIMEOUT = seconds(0.2);

function service(protocol: Protocol, cluster: string, address: string, port: number, timeout: string): Record<string, unknown> {
  return protocol === 'grpc'
    ? { grpc_service: { envoy_grpc: { cluster_name: cluster }, timeout } }
    : { http_service: { server_uri: { uri: `http://${address}:${port}`, cluster, timeout } } };
}

/** The listener's ext_authz filters: the same whatever the tenants configure. */
export function listenerAuthzFilters(): unknown[] {
  return COMBINATIONS.map(({ protocol, failureModeAllow }) => ({
    name: authzFilterName(protocol, failureModeAllow),
    // Off by default; a tenant's virtual host switches on the one of its combination.
    disabled: true,
    typed_config: {
      '@type': `${ANY}envoy.extensions.filters.http.ext_authz.v3.ExtAuthz`,
      transport_api_version: 'V3',
      failure_mode_allow: failureModeAllow,
      ...service(protocol, AUTHZ_PLACEHOLDER_CLUSTER, AUTHZ_PLACEHOLDER_CLUSTER, 80, PLACEHOLDER_TIMEOUT),
    },
  }));
}

/** The virtual host's entry that enables its combination's filter with its own target, or undefined. */
export function virtualHostAuthz(route: ServedRoute): [string, Record<string, unknown>] | undefined {
  const target = route.spec.auth?.ext_authz;
  if (!target) return undefined;
  const timeout = seconds((target.timeout_ms ?? 200) / 1000);
  return [
    authzFilterName(target.protocol, target.failure_mode_allow ?? false),
    {
      '@type': `${ANY}envoy.config.route.v3.FilterConfig`,
      config: {
        '@type': `${ANY}envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute`,
        check_settings: service(target.protocol, authzClusterName(route), target.address, target.port, timeout),
      },
    },
  ];
}
