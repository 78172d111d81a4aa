import { edgeClusters, grpcClusters, rateLimitServiceCluster } from './clusters';
import { edgeListeners } from './edge-listeners';
import { edgeRoutes, edgeRoutesVhds, edgeVirtualHosts } from './edge-routes';
import { endpoints } from './endpoints';
import { grpcListeners, grpcRoutes } from './grpc';
import { NodeInfo, Template } from './types';

export * from './types';

/**
 * The template registry. A template author adds a module here; the server only asks the
 * registry which templates apply to a node and renders them.
 */
export const DEFAULT_TEMPLATES: readonly Template[] = [
  edgeListeners,
  edgeRoutes,
  edgeRoutesVhds,
  edgeVirtualHosts,
  edgeClusters,
  rateLimitServiceCluster,
  endpoints,
  grpcListeners,
  grpcRoutes,
  grpcClusters,
];

export class TemplateRegistry {
  constructor(readonly templates: readonly Template[] = DEFAULT_TEMPLATES) {
    const ids = new Set<string>();
    for (const t of templates) {
      if (ids.has(t.id)) throw new Error(`template id ${t.id} is used twice`);
      ids.add(t.id);
    }
  }

  /** Templates that apply to a node, in registry order. */
  forNode(node: NodeInfo): Template[] {
    return this.templates.filter((t) => t.appliesTo(node));
  }

  /**
   * Nodes with the same profile get the same snapshot: the templates that apply and the
   * node's region (endpoint priorities depend on it).
   */
  profileOf(node: NodeInfo): string {
    return `${node.region}|${this.forNode(node)
      .map((t) => t.id)
      .join(',')}${node.deltaXds ? '|delta' : ''}`;
  }
}
