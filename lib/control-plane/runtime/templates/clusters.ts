import { ServedRoute } from '../context';
import { clusterTlsFields, endpointTlsMetadata } from '../upstream-tls';
import { ADS_SOURCE, ANY, RATELIMIT_CLUSTER, authzClusterName, clusterName, compact, isIpAddress, localityGroups, seconds, speaksHttp2, upstreamTls, usesEds } from './common';
import { NodeInfo, RenderedResource, Template, isEnvoy } from './types';

const HTTP2_OPTIONS = {
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
    '@type': `${ANY}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
    explicit_http_config: { http2_protocol_options: {} },
  },
};

const OUTLIER_DETECTION = { consecutive_5xx: 5, interval: '10s', base_ejection_time: '30s', max_ejection_percent: 50 };
const CIRCUIT_BREAKERS = { thresholds: [{ priority: 'DEFAULT', max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 }] };

function healthChecks(route: ServedRoute): unknown[] | undefined {
  const check = route.spec.health_check;
  if (!check) return undefined;
  const grpc = route.spec.backends[0]?.protocol === 'grpc';
  return [
    {
      timeout: seconds(check.timeout_seconds ?? 5),
      interval: seconds(check.interval_seconds ?? 10),
      healthy_threshold: check.healthy_threshold ?? 2,
      unhealthy_threshold: check.unhealthy_threshold ?? 3,
      ...(grpc ? { grpc_health_check: {} } : { http_health_check: { path: check.path ?? '/' } }),
    },
  ];
}


/** Inline endpoints of a cluster that resolves DNS itself. */
function inlineAssignment(route: ServedRoute, node: NodeInfo) {
  return {
    cluster_name: clusterName(route),
    endpoints: localityGroups(route, node.region).map((group) => ({
      locality: { region: group.region },
      priority: group.priority,
      lb_endpoints: group.endpoints.map((e) =>
        compact({
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
          load_balancing_weight: e.weight,
          metadata: endpointTlsMetadata(route, e.address, e.port, upstreamTls(route)),
        }),
      ),
    })),
  };
}

/** Endpoints over EDS, on the same ADS stream. */
const edsDiscovery = () => ({ type: 'EDS', eds_cluster_config: { eds_config: ADS_SOURCE } });

/** A cluster of one service endpoint (ext_authz, rate limit service): static for an IP, DNS otherwise. */
function serviceCluster(name: string, endpoint: { address: string; port: number }, http2: boolean) {
  return compact({
    name,
    connect_timeout: '2s',
    type: isIpAddress(endpoint.address) ? 'STATIC' : 'STRICT_DNS',
    lb_policy: 'ROUND_ROBIN',
    typed_extension_protocol_options: http2 ? HTTP2_OPTIONS : undefined,
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: endpoint.address, port_value: endpoint.port } } } }] }],
    },
  });
}

function discovery(route: ServedRoute, node: NodeInfo) {
  return usesEds(route)
    ? edsDiscovery()
    : { type: 'STRICT_DNS', dns_lookup_family: 'V4_PREFERRED', load_assignment: inlineAssignment(route, node) };
}

export const edgeClusters: Template = {
  id: 'edge-clusters',
  kind: 'clusters',
  description: 'Envoy upstream clusters: health checks, outlier detection, circuit breakers, upstream TLS with SNI, HTTP/2 for h2/grpc',
  appliesTo: isEnvoy,
  perInstance: true,
  render({ context, node }): RenderedResource[] {
    const out: RenderedResource[] = [];
    for (const route of context.routes) {
      out.push({
        name: clusterName(route),
        instanceIds: [route.instanceId],
        resource: compact({
          name: clusterName(route),
          connect_timeout: '5s',
          ...discovery(route, node),
          lb_policy: 'ROUND_ROBIN',
          health_checks: healthChecks(route),
          outlier_detection: OUTLIER_DETECTION,
          circuit_breakers: CIRCUIT_BREAKERS,
          typed_extension_protocol_options: speaksHttp2(route) ? HTTP2_OPTIONS : undefined,
          // Verified upstream TLS: trust store, SAN and SNI per backend (upstream-tls.ts).
          ...(upstreamTls(route) ? clusterTlsFields(route, speaksHttp2(route) ? ['h2'] : []) : {}),
        }),
      });
      const authz = route.spec.auth?.ext_authz;
      if (authz) {
        out.push({
          name: authzClusterName(route),
          instanceIds: [route.instanceId],
          resource: serviceCluster(authzClusterName(route), authz, authz.protocol === 'grpc'),
        });
      }
    }
    return out;
  },
};

/** The global rate limit service's cluster, when the platform configures one. */
export const rateLimitServiceCluster: Template = {
  id: 'ratelimit-service-cluster',
  kind: 'clusters',
  description: 'The cluster of the global rate limit service (settings.rateLimitService), whenever the platform configures one',
  appliesTo: isEnvoy,
  render({ context }): RenderedResource[] {
    const service = context.settings.rateLimitService;
    // Whenever configured, like the listener's filter that names it (no tenant setting decides).
    if (!service) return [];
    return [
      {
        name: RATELIMIT_CLUSTER,
        resource: serviceCluster(RATELIMIT_CLUSTER, service, true),
      },
    ];
  },
};

/**
 * Clusters for proxyless gRPC clients: EDS over ADS, round robin. gRPC accepts upstream TLS
 * only with certificate providers from its bootstrap, so none is rendered here; DNS
 * backends are served as LOGICAL_DNS when there is exactly one.
 */
export const grpcClusters: Template = {
  id: 'grpc-clusters',
  kind: 'clusters',
  description: 'Proxyless gRPC clusters: EDS over ADS, round robin, circuit breaker',
  appliesTo: (node) => !isEnvoy(node),
  render({ context, node, warn }): RenderedResource[] {
    const out: RenderedResource[] = [];
    for (const route of context.routes) {
      let discoveryConfig: Record<string, unknown>;
      if (usesEds(route)) discoveryConfig = edsDiscovery();
      else if (route.spec.backends.length === 1) discoveryConfig = { type: 'LOGICAL_DNS', load_assignment: inlineAssignment(route, node) };
      else {
        warn(route.instanceId, 'proxyless gRPC needs IP backends or a single DNS backend; not served to gRPC clients');
        continue;
      }
      out.push({
        name: clusterName(route),
        instanceIds: [route.instanceId],
        resource: { name: clusterName(route), connect_timeout: '5s', ...discoveryConfig, lb_policy: 'ROUND_ROBIN', circuit_breakers: CIRCUIT_BREAKERS },
      });
    }
    return out;
  },
};
