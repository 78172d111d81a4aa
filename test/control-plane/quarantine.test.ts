/** The quarantine of rejected changes (rollout/quarantine.ts), a pure record. */
import { Quarantine } from '../../lib/control-plane/runtime/rollout/quarantine';
import { RouteDocument } from '../../lib/model';

const route = (id: string, generation: number, port = 80): RouteDocument => ({
  instanceId: id,
  plan: 'standard',
  generation,
  deleted: false,
  updatedAt: '',
  spec: { hostnames: [`${id}.example.com`], backends: [{ address: '10.0.0.1', port, protocol: 'http' }], regions: ['us-east-1'] },
});

describe('quarantine', () => {
  it('serves the last promoted generation of a rejected change, lifts it on a newer generation, and counts the nodes', () => {
    const q = new Quarantine();
    q.promote([route('a', 1), route('b', 2)]);
    const bad = route('a', 3, 81);
    expect(q.reject(bad, 'nack', 'no').nodes).toBe(1);
    expect(q.reject(bad, 'nack', 'no').nodes).toBe(2);
    expect(q.apply([bad, route('b', 2)]).map((r) => [r.instanceId, r.generation])).toEqual([['a', 1], ['b', 2]]);
    expect(q.rejections.get('a')).toMatchObject({ generation: 3, source: 'nack', nodes: 2 });
    // A newer generation lifts the quarantine and drops the old rejection.
    expect(q.apply([route('a', 4), route('b', 2)]).map((r) => r.generation)).toEqual([4, 2]);
    expect(q.rejections.has('a')).toBe(false);
  });

  it('leaves out a rejected instance that was never promoted, and falls back to the prior promotion when the current one is rejected', () => {
    const q = new Quarantine();
    q.reject(route('new', 5), 'canary-health', 'dead');
    expect(q.apply([route('new', 5)])).toEqual([]);
    q.promote([route('c', 1)]);
    q.promote([route('c', 2)]);
    q.reject(route('c', 2), 'nack', 'no');
    expect(q.apply([route('c', 2)]).map((r) => r.generation)).toEqual([1]);
  });
});
