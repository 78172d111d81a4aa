import { resourceBaseName } from '../../../model';
import { ADS_SOURCE, ANY, clusterName, compact, seconds, usesEds } from './common';
import { routeMatch } from './edge-routes';
import { RenderedResource, Template, isEnvoy } from './types';

const notEnvoy: Template['appliesTo'] = (node) => !isEnvoy(node);

/** Whether gRPC clients can be given this instance (see grpcClusters). */
const servedToGrpc = (route: { spec: { backends: readonly { address: string }[] } }) =>
  usesEds(route as Parameters<typeof usesEds>[0]) || route.spec.backends.length === 1;

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
    const out: RenderedResource[] = [];
    const seen = new Set<string>();
    for (const route of context.routes.filter(servedToGrpc)) {
      for (const hostname of route.spec.hostnames) {
        if (seen.has(hostname)) continue;
        seen.add(hostname);
        out.push({
          name: hostname,
          instanceIds: [route.instanceId],
          resource: {
            name: hostname,
            api_listener: {
              api_listener: {
                '@type': `${ANY}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
                stat_prefix: resourceBaseName(route.instanceId),
                rds: { config_source: ADS_SOURCE, route_config_name: hostname },
                http_filters: [{ name: 'router', typed_config: { '@type': `${ANY}envoy.extensions.filters.http.router.v3.Router` } }],
              },
            },
          },
        });
      }
    }
    return out;
  },
};

export const grpcRoutes: Template = {
  id: 'grpc-routes',
  kind: 'routes',
  description: 'Proxyless gRPC route configurations, one per hostname, with the instance routes (matches, timeouts as max stream duration)',
  appliesTo: notEnvoy,
  render({ context }): RenderedResource[] {
    const out: RenderedResource[] = [];
    const seen = new Set<string>();
    for (const route of context.routes.filter(servedToGrpc)) {
      const rules = route.spec.routes ?? [{ match: { prefix: '/' } }];
      for (const hostname of route.spec.hostnames) {
        if (seen.has(hostname)) continue;
        seen.add(hostname);
        out.push({
          name: hostname,
          instanceIds: [route.instanceId],
          resource: {
            name: hostname,
            virtual_hosts: [
              {
                name: resourceBaseName(route.instanceId),
                domains: [hostname],
                routes: rules.map((rule) => ({
                  match: routeMatch(rule),
                  route: compact({
                    cluster: clusterName(route),
                    max_stream_duration: rule.timeout_seconds !== undefined ? { max_stream_duration: seconds(rule.timeout_seconds) } : undefined,
                  }),
                })),
              },
            ],
          },
        });
      }
    }
    return out;
  },
};
