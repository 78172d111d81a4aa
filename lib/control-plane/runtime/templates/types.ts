import { RenderContext } from '../context';
import { ResourceKind } from '../protos';

/** What templates may know about the node they render for (never its token). */
export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  /** locality.region, or the control plane's region when the node gives none. */
  readonly region: string;
  readonly zone: string;
  /** `envoy` for Envoy; grpc-node-js, grpc-go, ... for proxyless gRPC clients. */
  readonly userAgentName: string;
  /** From user_agent_build_version (Envoy), when given. */
  readonly version?: { readonly major: number; readonly minor: number; readonly patch: number };
  /** node.metadata without `auth`. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /**
   * Set for a node on Delta ADS: it is served its virtual hosts over VHDS, one resource per
   * instance (VHDS is Delta only). Nodes on SotW ADS or REST get them inline in RDS.
   */
  readonly deltaXds?: boolean;
}

/** A rendered resource: canonical proto3 JSON (snake_case, "5s" durations, Any with "@type"), without its own "@type". */
export interface RenderedResource {
  readonly name: string;
  readonly resource: Record<string, unknown>;
  /** Instances this resource was rendered from (for reports and per-instance isolation). */
  readonly instanceIds?: readonly string[];
}

export interface TemplateInput {
  readonly context: RenderContext;
  readonly node: NodeInfo;
  /** Report something the template could not serve (e.g. a feature not configured); shown in /status. */
  warn(instanceId: string | undefined, message: string): void;
}

/**
 * A template renders one resource type for the nodes it applies to. Every template of a
 * kind whose `appliesTo` matches contributes resources; nodes for which the same set of
 * templates applies (and which share a region) share one rendered snapshot.
 */
export interface Template {
  /** Stable id, shown in reports (`edge-listeners`). */
  readonly id: string;
  readonly kind: ResourceKind;
  readonly description: string;
  appliesTo(node: NodeInfo): boolean;
  render(input: TemplateInput): RenderedResource[];
  /**
   * Set when the template renders each instance on its own (what it renders for several
   * routes is what it renders for each alone, concatenated): its resources are rendered,
   * validated and encoded once per instance revision and settings, and reused until they change.
   */
  readonly perInstance?: boolean;
}

export const isEnvoy = (node: NodeInfo): boolean => node.userAgentName === 'envoy';

/** Whether an Envoy node runs at least `major.minor` (nodes without a version are assumed current). */
export function envoyAtLeast(node: NodeInfo, major: number, minor: number): boolean {
  if (!node.version) return true;
  return node.version.major > major || (node.version.major === major && node.version.minor >= minor);
}
