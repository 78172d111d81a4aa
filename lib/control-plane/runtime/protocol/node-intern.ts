import { NodeInfo } from '../templates';

/**
 * What the nodes of a fleet share of their node message (cluster, locality, user agent,
 * version, metadata), one object for all of them: a session keeps only its id of its own.
 * Ten thousand Envoys of one fleet send the same strings and metadata ten thousand times.
 */
type SharedNode = Omit<NodeInfo, 'id'>;

const MAX_SHARED = 10_000;
const shared = new Map<string, SharedNode>();

/** The node with its shared part interned (same values, shared objects). */
export function internNode(node: NodeInfo): NodeInfo {
  const { id, ...rest } = node;
  const key = JSON.stringify(rest);
  let part = shared.get(key);
  if (!part) {
    // Bounded: a fleet has a handful of shapes; past the bound, start over rather than grow.
    if (shared.size >= MAX_SHARED) shared.clear();
    part = rest;
    shared.set(key, part);
  }
  return { id, ...part };
}
