/**
 * Who a rejection blames (rollout/blame.ts), by the rules of docs/control-plane.md
 * ("rejected": `nack`, `canary-health") and issue 16 (blame per resource; a canary NACK no
 * changed instance explains is a render fault). Pure: profiles built by hand.
 */
import { healthVerdict, nackVerdict, Verdict } from '../../lib/control-plane/runtime/rollout/blame';
import { NodeRecord, ProfileState } from '../../lib/control-plane/runtime/cache/types';
import { context, FakeResource, profile, record, snapshot } from './rollout-support';

const ids = (v: Verdict) => (v.kind === 'changes' ? v.routes.map((r) => `${r.instanceId}@${r.generation}`) : v.kind);

/** Stable: a@1, b@1, c@1. Candidate: a@2, b@2, c@1 and the new d@1. */
const CANDIDATE_CLUSTERS: readonly FakeResource[] = [
  ['svc-a', '2', ['a']],
  ['svc-b', '1', ['b']],
  ['svc-c', '1', ['c']],
  ['svc-d', '1', ['d']],
];

function canaryProfile(canary: NodeRecord, candidateClusters: readonly FakeResource[] = CANDIDATE_CLUSTERS): ProfileState {
  const stable = snapshot(1, { clusters: [['svc-a', '1', ['a']], ['svc-b', '1', ['b']], ['svc-c', '1', ['c']]] });
  return profile({
    stable,
    stableContext: context(['a', 1], ['b', 1], ['c', 1]),
    snapshot: snapshot(2, { clusters: candidateClusters }),
    rendered: context(['a', 2], ['b', 2], ['c', 1], ['d', 1]),
    rollout: { generation: 2, canaries: new Set([canary]), startedAt: '', state: 'waiting-for-acks' },
  });
}

describe('NACK from a canary: the candidate against the stable snapshot', () => {
  it('blames the changed instances the error_detail names', () => {
    const canary = record('n1');
    expect(ids(nackVerdict(canaryProfile(canary), canary, 'cluster svc-b: bad field'))).toEqual(['b@2']);
    expect(ids(nackVerdict(canaryProfile(canary), canary, 'svc-a and svc-d failed'))).toEqual(['a@2', 'd@1']);
  });

  it('a name is a whole resource base name: svc-a is not named by svc-ab', () => {
    const canary = record('n1');
    const p = canaryProfile(canary);
    p.rendered = context(['a', 2], ['ab', 1], ['b', 2], ['c', 1]);
    expect(ids(nackVerdict(p, canary, 'cluster svc-ab: bad'))).toEqual(['ab@1']);
    expect(ids(nackVerdict(p, canary, 'cluster svc-a1: bad; svc-b.'))).toEqual(['b@2']);
  });

  it("a name is read as the longest instance's base name it starts with: svc-a-b names a-b, not a", () => {
    const canary = record('n1');
    const p = canaryProfile(canary);
    p.rendered = context(['a', 2], ['a-b', 1], ['b', 2], ['c', 1]);
    expect(ids(nackVerdict(p, canary, 'cluster svc-a-b: bad'))).toEqual(['a-b@1']);
    // An instance's other resources (docs/control-plane.md): route svc-<id>-<n>, cluster svc-<id>-authz, virtual host edge-https/svc-<id>.
    expect(ids(nackVerdict(p, canary, 'route svc-a-0: bad'))).toEqual(['a@2']);
    expect(ids(nackVerdict(p, canary, 'cluster svc-a-authz: bad'))).toEqual(['a@2']);
    expect(ids(nackVerdict(p, canary, 'virtual host edge-https/svc-a-b: bad'))).toEqual(['a-b@1']);
    // Ids that share a base name (svc-x-y) are both named.
    p.rendered = context(['x.y', 1], ['x_y', 1], ['b', 2], ['c', 1]);
    expect(ids(nackVerdict(p, canary, 'cluster svc-x-y: bad'))).toEqual(['x.y@1', 'x_y@1']);
  });

  it('a name of several parts that names no instance of the context names none (and the search ends)', () => {
    const canary = record('n1', { lastNack: { kind: 'clusters', version: 'x', message: '', at: '' } });
    // svc-gone-0-authz: each shorter prefix is tried (svc-gone-0, svc-gone), none is an instance: the owners are blamed.
    expect(ids(nackVerdict(canaryProfile(canary), canary, 'cluster svc-gone-0-authz: bad'))).toEqual(['a@2', 'd@1']);
  });

  it('an instance the message names but whose route did not change is not blamed', () => {
    const canary = record('n1', { lastNack: { kind: 'clusters', version: 'x', message: '', at: '' } });
    // svc-c did not change: the owners of the changed clusters (a, d; b's cluster is the same) are blamed.
    expect(ids(nackVerdict(canaryProfile(canary), canary, 'cluster svc-c rejected'))).toEqual(['a@2', 'd@1']);
  });

  it('names none: the owners of the resources of the rejected type that changed', () => {
    const canary = record('n1', { lastNack: { kind: 'clusters', version: 'x', message: '', at: '' } });
    expect(ids(nackVerdict(canaryProfile(canary), canary, 'something failed'))).toEqual(['a@2', 'd@1']);
  });

  it('names none and no changed instance owns a changed resource of that type: a render fault', () => {
    // The rejected type is listeners: none changed.
    const onListeners = record('n1', { lastNack: { kind: 'listeners', version: 'x', message: '', at: '' } });
    expect(nackVerdict(canaryProfile(onListeners), onListeners, 'listener failed')).toEqual({ kind: 'render-fault' });
    // The only changed cluster belongs to c, whose route did not change.
    const canary = record('n1', { lastNack: { kind: 'clusters', version: 'x', message: '', at: '' } });
    const p = canaryProfile(canary, [['svc-a', '1', ['a']], ['svc-b', '1', ['b']], ['svc-c', '9', ['c']]]);
    expect(nackVerdict(p, canary, 'cluster failed')).toEqual({ kind: 'render-fault' });
    // No NACK recorded on the node (no rejected type): nothing explains it.
    const bare = record('n1');
    expect(nackVerdict(canaryProfile(bare), bare, 'failed')).toEqual({ kind: 'render-fault' });
  });
});

describe('NACK from a node that is not a canary: routes newer than what it holds', () => {
  function stableProfile(): ProfileState {
    return profile({
      stable: snapshot(3),
      stableContext: context(['a', 2], ['b', 1], ['c', 3]),
      snapshot: snapshot(5),
      rendered: context(['a', 2], ['b', 1], ['c', 3], ['e', 5]),
    });
  }

  it('blames the changes newer than the generation it holds, narrowed to those the message names', () => {
    const node = record('n2', { heldGeneration: 1 });
    expect(ids(nackVerdict(stableProfile(), node, 'failed'))).toEqual(['a@2', 'c@3']);
    expect(ids(nackVerdict(stableProfile(), node, 'route svc-c: bad'))).toEqual(['c@3']);
    // The generation it holds is not newer than itself.
    expect(ids(nackVerdict(stableProfile(), record('n2', { heldGeneration: 2 }), 'failed'))).toEqual(['c@3']);
  });

  it('reads what the node was sent: the stable context, not a candidate on its way', () => {
    const node = record('n2', { heldGeneration: 1 });
    expect(ids(nackVerdict(stableProfile(), node, 'svc-e failed'))).toEqual(['a@2', 'c@3']);
    // With no stable context yet, the newest render is what every node was sent.
    const p = stableProfile();
    p.stableContext = undefined;
    expect(ids(nackVerdict(p, node, 'svc-e failed'))).toEqual(['e@5']);
  });

  it('a node that never held a snapshot in full blames nothing (its problem, not a change)', () => {
    expect(nackVerdict(stableProfile(), record('n2'), 'svc-c failed')).toEqual({ kind: 'changes', routes: [] });
  });

  it('during a rollout, a NACK from a node outside the canaries that blames nothing is no render fault', () => {
    const canary = record('n1');
    const p = canaryProfile(canary);
    expect(nackVerdict(p, record('n2'), 'failed')).toEqual({ kind: 'changes', routes: [] });
    expect(nackVerdict(p, record('n2', { heldGeneration: 1 }), 'failed')).toEqual({ kind: 'changes', routes: [] });
  });
});

describe('canary health drop', () => {
  /** Stable: a@1, b@1. Candidate: a@2, b@1, d@1. */
  const health = () => profile({ stableContext: context(['a', 1], ['b', 1]), rendered: context(['a', 2], ['b', 1], ['d', 1]) });

  it('with no instance named: every change of the candidate', () => {
    expect(ids(healthVerdict(health()))).toEqual(['a@2', 'd@1']);
    expect(ids(healthVerdict(health(), new Set()))).toEqual(['a@2', 'd@1']);
  });

  it('the changed instances among those named', () => {
    expect(ids(healthVerdict(health(), new Set(['d'])))).toEqual(['d@1']);
    // An instance the candidate does not have says nothing: every change.
    expect(ids(healthVerdict(health(), new Set(['zz'])))).toEqual(['a@2', 'd@1']);
  });

  it('an unhealthy cluster of an instance that did not change: the render is at fault', () => {
    expect(healthVerdict(health(), new Set(['b']))).toEqual({ kind: 'render-fault' });
    expect(healthVerdict(health(), new Set(['a', 'b']))).toEqual({ kind: 'render-fault' });
  });

  it('no route change at all: the render is at fault', () => {
    expect(healthVerdict(profile({ stableContext: context(['a', 1]), rendered: context(['a', 1]) }))).toEqual({ kind: 'render-fault' });
    expect(healthVerdict(profile({}))).toEqual({ kind: 'render-fault' });
  });

  it('with no stable context every route of the candidate is a change', () => {
    expect(ids(healthVerdict(profile({ rendered: context(['a', 1], ['b', 1]) })))).toEqual(['a@1', 'b@1']);
  });
});
