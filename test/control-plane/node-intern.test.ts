import { internNode } from '../../lib/control-plane/runtime/protocol/node-intern';
import { NodeInfo } from '../../lib/control-plane/runtime/templates';
import { envoyNode } from '../support/fixtures';

const fleetNode = (id: string, metadata: Record<string, unknown> = { team: 'edge', tier: { name: 'gold' } }): NodeInfo =>
  envoyNode({ id, version: { major: 1, minor: 39, patch: 0 }, metadata, deltaXds: true });

describe('internNode: a node keeps its id, the fleet shares the rest', () => {
  it('keeps every value of each node', () => {
    const a = internNode(fleetNode('i-000001'));
    const b = internNode(fleetNode('i-000002'));
    expect(a).toEqual(fleetNode('i-000001'));
    expect(b).toEqual(fleetNode('i-000002'));
  });

  it('shares the metadata and version objects of nodes that sent the same ones', () => {
    const a = internNode(fleetNode('i-000003'));
    const b = internNode(fleetNode('i-000004'));
    expect(b.metadata).toBe(a.metadata);
    expect(b.version).toBe(a.version);
  });

  it('does not share between nodes whose metadata differ', () => {
    const a = internNode(fleetNode('i-000005', { team: 'edge' }));
    const b = internNode(fleetNode('i-000006', { team: 'payments' }));
    expect(a.metadata).toEqual({ team: 'edge' });
    expect(b.metadata).toEqual({ team: 'payments' });
    expect(b.metadata).not.toBe(a.metadata);
  });

  it('tells a SotW node from a Delta node of the same fleet', () => {
    const delta = internNode(fleetNode('i-000007'));
    const { deltaXds: _ignored, ...sotwNode } = fleetNode('i-000008');
    const sotw = internNode(sotwNode);
    expect(delta.deltaXds).toBe(true);
    expect(sotw.deltaXds).toBeUndefined();
    expect('deltaXds' in sotw).toBe(false);
  });
});
