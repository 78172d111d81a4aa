/**
 * What a node holds (cache/snapshot-cache.ts isCurrent, heldGeneration): a node that was sent
 * clusters and rejected them holds nothing, so its NACKs of later changes blame none of them
 * (rollout/blame.ts: a non-canary that never held a snapshot in full is at fault itself).
 * Under CPU load, the rollout-trains test's node that rejects everything was counted as
 * holding the stable generation, and its NACK quarantined the change being promoted.
 */
import { SnapshotCache } from '../../lib/control-plane/runtime/cache/snapshot-cache';
import { NodeRecord } from '../../lib/control-plane/runtime/cache/types';
import { silentLogger } from '../../lib/control-plane/runtime/logger';
import { TemplateRegistry } from '../../lib/control-plane/runtime/templates';
import { envoyNode } from '../support/fixtures';

const node = envoyNode({ id: 'n1', cluster: 'fleet' });

describe('what a node holds', () => {
  const registry = new TemplateRegistry();
  const cache = new SnapshotCache({ registry, logger: silentLogger });
  const profile = cache.create(registry.profileOf(node), node);
  const types = Object.fromEntries(
    (['listeners', 'routes', 'clusters', 'endpoints', 'virtualHosts'] as const).map((k) => [k, { kind: k, typeUrl: '', version: `${k}-v1`, resources: new Map(), cache: new Map() }]),
  );
  profile.stable = profile.snapshot = { profile: profile.key, seq: 1, createdAt: '', generation: 7, types: types as never, excluded: [], warnings: [] };
  const record = (acked: NodeRecord['acked']): NodeRecord => ({ node, protocol: 'sotw', connectedAt: '', profile: profile.key, sent: { clusters: 'clusters-v1' }, acked });

  it('a node sent clusters that it rejected holds nothing', () => {
    const nacker = record({});
    expect(cache.isCurrent(nacker)).toBe(false);
    expect(cache.heldGeneration(nacker)).toBeUndefined();
  });

  it('a node that ACKed what it was sent holds the stable generation', () => {
    const acker = record({ clusters: 'clusters-v1' });
    expect(cache.isCurrent(acker)).toBe(true);
    expect(cache.heldGeneration(acker)).toBe(7);
  });
});
