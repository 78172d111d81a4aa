import { clusterName, compact, localityGroups, upstreamTls, usesEds } from './common';
import { endpointTlsMetadata } from '../upstream-tls';
import { RenderedResource, Template } from './types';

/**
 * Endpoints (EDS) of clusters whose backends are IP addresses: a locality per backend
 * region (weights summed), the node's own region at priority 0 and the others at
 * priority 1 so traffic stays in-region while it has healthy backends.
 */
export const endpoints: Template = {
  id: 'endpoints',
  kind: 'endpoints',
  description: 'ClusterLoadAssignments with localities by backend region and per-backend weights',
  appliesTo: () => true,
  perInstance: true,
  render({ context, node }): RenderedResource[] {
    return context.routes.filter(usesEds).map((route) => ({
      name: clusterName(route),
      instanceIds: [route.instanceId],
      resource: {
        cluster_name: clusterName(route),
        endpoints: localityGroups(route, node.region).map((group) => ({
          locality: { region: group.region },
          priority: group.priority,
          load_balancing_weight: group.endpoints.reduce((sum, e) => sum + e.weight, 0),
          lb_endpoints: group.endpoints.map((e) =>
            compact({
              endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
              load_balancing_weight: e.weight,
              metadata: endpointTlsMetadata(route, e.address, e.port, upstreamTls(route)),
            }),
          ),
        })),
      },
    }));
  },
};
