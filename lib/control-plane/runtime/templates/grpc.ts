import { resourceBaseName } from '../../../model';
import { ServedRoute } from '../context';
import { ADS_SOURCE, ANY, clusterName, compact, seconds, usesEds } from './common';
import { routeMatch } from './edge-routes';
import { RenderedResource, Template, isEnvoy } from './types';

const notEnvoy: Template['appliesTo'] = (node) => !isEnvoy(node);

/** Whether gRPC clients can be given this instance (see grpcClusters). */
const servedToGrpc = (route: ServedRoute) => usesEds(route) || route.spec.backends.length === 1;

/**
 * One resource per hostname served to gRPC clients, named like the hostname; a hostname
 * claimed by two instances goes to the first.
 */
function perGrpcHostname(routes: readonly ServedRoute[], render: (route: ServedRoute, hostname: string) => Record<string, unknown>): RenderedResource[] {
  const out: RenderedResource[] = [];
  const seen = new Set<string>();
  for (const route of routes.filter(servedToGrpc)) {
    for (const hostname of route.spec.hostnames) {
      if (seen.has(hostname)) continue;
      seen.add(hostname);
      out.push({ name: hostname, instanceIds: [route.instanceId], resource: render(route, hostname) });
    }
  }
  return out;
}

/**
 * Proxyless gRPC: a client dialing `xds:///<hostname>` asks for the Listener named
 * `<hostname>`; it gets an api_listener whose HttpConnectionManager takes its routes over
 * RDS (route configuration named like the hostname).
 */
export const grpcListeners: Template = {
  id: 'grpc-listeners',
  kind: 'listeners',
  description: 'Proxyless gRPC api_listeners, one per hostname',
  appliesTo: notEnvoy,
  render({ context }): RenderedResource[] {
    return perGrpcHostname(context.routes, (route, hostname) => ({
      name: hostname,
      api_listener: {
        api_listener: {
          '@type': `${ANY}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
          stat_prefix: resourceBaseName(route.instanceId),
          rds: { config_source: ADS_SOURCE, route_config_name: hostname },
          http_filters: [{ name: 'router', typed_config: { '@type': `${ANY}envoy.extensions.filters.http.router.v3.Router` } }],
        },
      },
    }));
  },
};

export const grpcRoutes: Template = {
  id: 'grpc-routes',
  kind: 'routes',
  description: 'Proxyless gRPC route configurations, one per hostname, with the instance routes (matches, timeouts as max stream duration)',
  appliesTo: notEnvoy,
  render({ context }): RenderedResource[] {
    return perGrpcHostname(context.routes, (route, hostname) => ({
      name: hostname,
      virtual_hosts: [
        {
          name: resourceBaseName(route.instanceId),
          domains: [hostname],
          routes: (route.spec.routes ?? [{ match: { prefix: '/' } }]).map((rule) => ({
            match: routeMatch(rule),
            route: compact({
              cluster: clusterName(route),
              max_stream_duration: rule.timeout_seconds !== undefined ? { max_stream_duration: seconds(rule.timeout_seconds) } : undefined,
            }),
          })),
        },
      ],
    }));
  },
};
