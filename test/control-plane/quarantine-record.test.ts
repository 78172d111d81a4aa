/**
 * The quarantine (rollout/quarantine.ts) as the pure record it is, by the rules of
 * docs/control-plane.md ("rejected", `nack`): a rejected generation is held back until the
 * instance has a newer one; meanwhile its last promoted generation is served (the one before
 * it, if that is the rejected one), or nothing if it never had one.
 */
import { Quarantine } from '../../lib/control-plane/runtime/rollout/quarantine';
import { route } from './rollout-support';

const served = (q: Quarantine, ...routes: ReadonlyArray<readonly [string, number]>) => q.apply(routes.map(([id, g]) => route(id, g))).map((r) => `${r.instanceId}@${r.generation}`);

describe('Quarantine', () => {
  it('serves every route as it is while nothing is rejected', () => {
    const q = new Quarantine();
    expect(served(q, ['a', 1], ['b', 3])).toEqual(['a@1', 'b@3']);
  });

  it('records a rejection, counting the nodes that rejected the same generation', () => {
    const q = new Quarantine();
    expect(q.reject(route('a', 2), 'nack', 'bad')).toEqual({ generation: 2, source: 'nack', reason: 'bad', nodes: 1 });
    expect(q.reject(route('a', 2), 'nack', 'bad again')).toEqual({ generation: 2, source: 'nack', reason: 'bad again', nodes: 2 });
    expect(q.rejections.get('a')).toEqual({ generation: 2, source: 'nack', reason: 'bad again', nodes: 2 });
    // Another generation starts counting again.
    expect(q.reject(route('a', 3), 'canary-health', 'unhealthy')).toEqual({ generation: 3, source: 'canary-health', reason: 'unhealthy', nodes: 1 });
    expect(q.reject(route('b', 3), 'nack', 'x').nodes).toBe(1);
  });

  it('serves the last promoted generation of a rejected instance', () => {
    const q = new Quarantine();
    q.promote([route('a', 1), route('b', 1)]);
    q.reject(route('a', 2), 'nack', 'bad');
    expect(served(q, ['a', 2], ['b', 2])).toEqual(['a@1', 'b@2']);
    // Still held while the rejected generation is the newest.
    expect(served(q, ['a', 2], ['b', 2])).toEqual(['a@1', 'b@2']);
    expect(q.rejections.get('a')?.generation).toBe(2);
  });

  it('the one before it, when the promoted generation is the rejected one', () => {
    const q = new Quarantine();
    q.promote([route('a', 1)]);
    q.promote([route('a', 2)]);
    q.reject(route('a', 2), 'nack', 'bad');
    expect(served(q, ['a', 2])).toEqual(['a@1']);
  });

  it('nothing, for an instance never promoted (or promoted only at the rejected generation)', () => {
    const q = new Quarantine();
    q.reject(route('a', 1), 'nack', 'bad');
    expect(served(q, ['a', 1], ['b', 1])).toEqual(['b@1']);
    const r = new Quarantine();
    r.promote([route('a', 4)]);
    r.reject(route('a', 4), 'nack', 'bad');
    expect(served(r, ['a', 4])).toEqual([]);
  });

  it('each promotion moves the fallback on: a rejection of a newer generation serves the last promoted one', () => {
    const q = new Quarantine();
    q.promote([route('a', 1)]);
    q.promote([route('a', 2)]);
    q.reject(route('a', 3), 'nack', 'bad');
    expect(served(q, ['a', 3])).toEqual(['a@2']);
  });

  it('promoting the same generation again keeps the one before it', () => {
    const q = new Quarantine();
    q.promote([route('a', 1)]);
    q.promote([route('a', 2)]);
    q.promote([route('a', 2)]);
    q.reject(route('a', 2), 'nack', 'bad');
    expect(served(q, ['a', 2])).toEqual(['a@1']);
  });

  it('a newer generation lifts the quarantine and drops the old rejection', () => {
    const q = new Quarantine();
    q.promote([route('a', 1)]);
    q.reject(route('a', 2), 'nack', 'bad');
    expect(served(q, ['a', 3])).toEqual(['a@3']);
    expect(q.rejections.has('a')).toBe(false);
    // Lifted for good: generation 2 is not held back any more either.
    expect(served(q, ['a', 2])).toEqual(['a@2']);
  });

  it('an instance that is gone drops its rejection, quarantine and promoted routes', () => {
    const q = new Quarantine();
    q.promote([route('a', 1)]);
    q.reject(route('a', 2), 'nack', 'bad');
    expect(served(q, ['b', 1])).toEqual(['b@1']);
    expect(q.rejections.has('a')).toBe(false);
    // Back at the same generation: nothing held, nothing promoted remembered.
    expect(served(q, ['a', 2])).toEqual(['a@2']);
    q.reject(route('a', 2), 'nack', 'bad');
    expect(served(q, ['a', 2])).toEqual([]);
  });

  it('an older generation than the rejected one (a rollback upstream) is held back too', () => {
    const q = new Quarantine();
    q.promote([route('a', 1)]);
    q.reject(route('a', 3), 'nack', 'bad');
    expect(served(q, ['a', 2])).toEqual(['a@1']);
    expect(q.rejections.get('a')?.generation).toBe(3);
  });

  it('remember seeds the promoted routes after a restart (no generation before them)', () => {
    const q = new Quarantine();
    q.remember([route('a', 1), route('b', 5)]);
    q.reject(route('a', 2), 'nack', 'bad');
    q.reject(route('b', 5), 'nack', 'bad');
    expect(served(q, ['a', 2], ['b', 5])).toEqual(['a@1']);
    // remember replaces: what was promoted before it is forgotten.
    const r = new Quarantine();
    r.promote([route('a', 1)]);
    r.remember([route('a', 2)]);
    r.reject(route('a', 2), 'nack', 'bad');
    expect(served(r, ['a', 2])).toEqual([]);
  });
});
