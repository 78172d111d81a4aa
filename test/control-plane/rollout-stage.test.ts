/**
 * The rollout stage (rollout/rollout.ts) driven directly through its callbacks (opened,
 * acked, nacked, closed, followRegion) with fake timers and a fake health gate, by the rules
 * of docs/control-plane.md ("Canary rollout", "rejected") and issue 16 (trains, per-resource
 * blame, a canary that leaves is replaced, not blamed). The gRPC tests (canary.test.ts,
 * rollout-trains, region-canary) prove the same end to end; these are fast enough to run once
 * per mutant (`MUTATE=rollout npm run mutate`).
 */
import { createHash } from 'node:crypto';
import { CanaryHealth, RolloutHealthOptions } from '../../lib/control-plane/runtime/canary-health';
import { CanarySettings } from '../../lib/control-plane/runtime/canary';
import { SnapshotCache, versionsOf } from '../../lib/control-plane/runtime/cache/snapshot-cache';
import { CoreState, NodeRecord } from '../../lib/control-plane/runtime/cache/types';
import { Metrics } from '../../lib/control-plane/runtime/metrics';
import { Quarantine } from '../../lib/control-plane/runtime/rollout/quarantine';
import { RENDER_FAULT_PREFIX, RegionRollout, RolloutStage } from '../../lib/control-plane/runtime/rollout/rollout';
import { Snapshot } from '../../lib/control-plane/runtime/snapshot';
import { context, FakeSession, hold, profile as makeProfile, record, route, session, snapshot } from './rollout-support';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
/** The canaries docs/control-plane.md promises: the node ids with the lowest SHA-256. */
const lowest = (ids: readonly string[], count: number) => [...ids].sort((a, b) => (sha(a) < sha(b) ? -1 : 1)).slice(0, count);

/** Stable: a@1, b@1 (clusters svc-a, svc-b at version 1). Candidate: a@2 (svc-a at version 2). */
const STABLE = () => snapshot(1, { clusters: [['svc-a', '1', ['a']], ['svc-b', '1', ['b']]] });
const CANDIDATE = () => snapshot(2, { clusters: [['svc-a', '2', ['a']], ['svc-b', '1', ['b']]], listeners: [['main', '2', []]] });

interface FakeHealth {
  readonly options: RolloutHealthOptions;
  readonly cancel: jest.Mock;
  readonly replace: jest.Mock;
  readonly awaitHealthy: jest.Mock;
}

interface Setup {
  canary?: CanarySettings;
  /** With a health gate (a fake: the test says when it is healthy or not). */
  health?: boolean;
  nodes?: readonly string[];
  restartCanaryWaitMs?: number;
}

function setup(opts: Setup = {}) {
  const logger = { log: jest.fn() };
  const state: CoreState = { stopped: false, startedAt: Date.now(), context: context(['a', 2], ['b', 1]) };
  const cache = new SnapshotCache({ registry: undefined as never, logger });
  const healths: FakeHealth[] = [];
  const canaryHealth = {
    settings: { mode: opts.health ? 'required' : 'off', timeoutMs: 5000 },
    begin: jest.fn((options: RolloutHealthOptions) => {
      if (!opts.health) return undefined;
      const h: FakeHealth = { options, cancel: jest.fn(), replace: jest.fn(), awaitHealthy: jest.fn() };
      healths.push(h);
      return h;
    }),
  } as unknown as CanaryHealth;
  const quarantine = new Quarantine();
  const hooks = { renderProfile: jest.fn(() => true), rebuild: jest.fn(), changed: jest.fn(), persist: jest.fn() };
  const metrics = new Metrics();
  const stage = new RolloutStage({ canary: opts.canary ?? { fraction: 0.5, soakMs: 1000 }, restartCanaryWaitMs: opts.restartCanaryWaitMs }, state, cache, canaryHealth, quarantine, hooks, metrics, logger);
  const stable = STABLE();
  const p = makeProfile({ stable, stableContext: context(['a', 1], ['b', 1]), stableOrigin: 'rendered', snapshot: CANDIDATE(), rendered: context(['a', 2], ['b', 1]), snapshotOrigin: 'rendered' });
  cache.profiles.set(p.key, p);
  const sessions = new Map<string, FakeSession>();
  const add = (id: string, protocol: NodeRecord['protocol'] = 'sotw') => {
    const rec = record(id, { protocol });
    hold(rec, stable);
    const s = session(rec);
    p.sessions.add(s);
    sessions.set(id, s);
    return s;
  };
  for (const id of opts.nodes ?? ['n1', 'n2', 'n3', 'n4']) add(id);
  const node = (id: string) => sessions.get(id)!.record;
  /** The node ACKs what it was sent: the candidate if it is a canary. */
  const ack = (id: string, snap: Snapshot = p.snapshot!) => {
    hold(node(id), snap);
    stage.acked(node(id));
  };
  const canaries = () => [...(p.rollout?.canaries ?? [])].map((r) => r.node.id).sort();
  return { stage, state, cache, canaryHealth, healths, quarantine, hooks, metrics, logger, profile: p, sessions, add, node, ack, canaries, stable };
}

type Harness = ReturnType<typeof setup>;

/** Starts the rollout of the candidate (not the first snapshot). */
function startRollout(h: Harness): void {
  h.stage.start(h.profile, false);
}

function expectPromoted(h: Harness, candidate: Snapshot) {
  expect(h.profile.rollout).toBeUndefined();
  expect(h.profile.stable).toBe(candidate);
  expect(h.profile.snapshot).toBe(candidate);
  expect(h.profile.stableContext?.routes.map((r) => `${r.instanceId}@${r.generation}`)).toEqual(['a@2', 'b@1']);
}

function expectRolledBack(h: Harness) {
  expect(h.profile.rollout).toBeUndefined();
  expect(h.profile.snapshot).toBe(h.stable);
  expect(h.profile.stable).toBe(h.stable);
  expect(h.profile.rendered?.routes.map((r) => `${r.instanceId}@${r.generation}`)).toEqual(['a@1', 'b@1']);
  expect(h.metrics.canaryRollbacks).toBe(1);
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('no rollout: promoted at once', () => {
  it('the first snapshot of a profile', () => {
    const h = setup();
    const candidate = h.profile.snapshot!;
    h.profile.stable = undefined;
    h.profile.stableContext = undefined;
    h.stage.start(h.profile, true);
    expectPromoted(h, candidate);
    expect(h.hooks.persist).toHaveBeenCalled();
    expect(h.stage.canary()).toBeUndefined();
  });

  it('the first render is promoted even with nodes connected and the canary on', () => {
    const h = setup();
    const candidate = h.profile.snapshot!;
    h.stage.start(h.profile, true);
    expectPromoted(h, candidate);
  });

  it('no stable snapshot yet', () => {
    const h = setup();
    const candidate = h.profile.snapshot!;
    h.profile.stable = undefined;
    startRollout(h);
    expect(h.profile.rollout).toBeUndefined();
    expect(h.profile.stable).toBe(candidate);
  });

  it('the canary off (EDGE_CANARY_FRACTION=0), or no canary settings', () => {
    for (const canary of [{ fraction: 0, soakMs: 1000 }, undefined]) {
      const h = setup({ canary });
      if (!canary) (h.stage as unknown as { options: object }).options = {};
      const candidate = h.profile.snapshot!;
      startRollout(h);
      expectPromoted(h, candidate);
    }
  });

  it('no ADS node connected (REST pollers are not canaries)', () => {
    const h = setup({ nodes: [] });
    h.add('poller', 'rest');
    const candidate = h.profile.snapshot!;
    startRollout(h);
    expectPromoted(h, candidate);
    expect(h.canaryHealth.begin).not.toHaveBeenCalled();
  });

  it('a render equal to the stable snapshot: a rollout under way just ends', () => {
    const h = setup({ health: true });
    startRollout(h);
    expect(h.profile.rollout).toBeDefined();
    const health = h.healths[0];
    const same = STABLE();
    h.profile.snapshot = same;
    h.profile.rendered = context(['a', 1], ['b', 1]);
    startRollout(h);
    expect(h.profile.rollout).toBeUndefined();
    expect(h.profile.stable).toBe(same);
    expect(health.cancel).toHaveBeenCalled();
    expect(h.metrics.canaryRollbacks).toBe(0);
    // Its ACK timer is gone with it: nothing is rejected later.
    jest.advanceTimersByTime(120_000);
    expect(h.quarantine.rejections.size).toBe(0);
    expect(h.metrics.canaryRollbacks).toBe(0);
  });
});

describe('a canary rollout', () => {
  it('goes to ceil(fraction x nodes) canaries, the node ids with the lowest SHA-256', () => {
    const h = setup({ canary: { fraction: 0.5, soakMs: 1000 }, nodes: ['n1', 'n2', 'n3', 'n4', 'n5'] });
    h.add('poller', 'rest');
    startRollout(h);
    expect(h.canaries()).toEqual(lowest(['n1', 'n2', 'n3', 'n4', 'n5'], 3).sort());
    expect(h.profile.stable).toBe(h.stable);
    expect(h.stage.canary()).toMatchObject({ generation: 2, nodes: 3, acked: 0, state: 'waiting-for-acks' });
    expect(h.hooks.persist).not.toHaveBeenCalled();
  });

  it('soaks once every canary ACKed the candidate, then promotes it to every node', () => {
    const h = setup();
    const candidate = h.profile.snapshot!;
    startRollout(h);
    const [c1, c2] = h.canaries();
    const other = ['n1', 'n2', 'n3', 'n4'].find((id) => !h.canaries().includes(id))!;
    h.ack(other, h.stable);
    h.ack(c1);
    expect(h.profile.rollout?.state).toBe('waiting-for-acks');
    expect(h.stage.canary()).toMatchObject({ nodes: 2, acked: 1, state: 'waiting-for-acks' });
    h.ack(c2);
    expect(h.profile.rollout?.state).toBe('soaking');
    expect(h.stage.canary()).toMatchObject({ nodes: 2, acked: 2, state: 'soaking' });
    jest.advanceTimersByTime(999);
    expect(h.profile.rollout?.state).toBe('soaking');
    expect(h.profile.stable).toBe(h.stable);
    const changed = h.hooks.changed.mock.calls.length;
    jest.advanceTimersByTime(1);
    expectPromoted(h, candidate);
    expect(h.stage.canary()).toMatchObject({ generation: 2, nodes: 2, acked: 2, state: 'promoted' });
    expect(h.hooks.persist).toHaveBeenCalled();
    expect(h.hooks.changed.mock.calls.length).toBeGreaterThan(changed);
    for (const s of h.sessions.values()) expect(s.onSnapshot).toHaveBeenCalled();
    // The promoted routes are each instance's fallback from now on.
    h.quarantine.reject(route('a', 3), 'nack', 'bad');
    expect(h.quarantine.apply([route('a', 3)]).map((r) => r.generation)).toEqual([2]);
  });

  it('an ACK of a node that is not a canary, or of another profile, moves nothing', () => {
    const h = setup();
    startRollout(h);
    for (const id of ['n1', 'n2', 'n3', 'n4'].filter((n) => !h.canaries().includes(n))) h.ack(id, h.profile.snapshot!);
    h.stage.acked(record('elsewhere', { profile: 'other' }));
    expect(h.profile.rollout?.state).toBe('waiting-for-acks');
  });

  it('canaries that subscribe to none of the changed resources hold the candidate at once', () => {
    const h = setup();
    // Every node holds types whose versions are the same in both snapshots (endpoints, routes).
    for (const s of h.sessions.values()) {
      const rec = s.record as { sent: Record<string, string>; acked: Record<string, string> };
      rec.sent = { endpoints: h.stable.types.endpoints.version };
      rec.acked = { endpoints: h.stable.types.endpoints.version };
    }
    startRollout(h);
    expect(h.profile.rollout?.state).toBe('soaking');
  });

  it('with a health gate, promotion also waits for the canaries to be healthy', () => {
    const h = setup({ health: true });
    const candidate = h.profile.snapshot!;
    startRollout(h);
    const [health] = h.healths;
    expect(health.options.canaries.slice().sort()).toEqual(h.canaries());
    for (const id of h.canaries()) h.ack(id);
    jest.advanceTimersByTime(1000);
    expect(health.awaitHealthy).toHaveBeenCalledTimes(1);
    expect(h.profile.stable).toBe(h.stable);
    health.awaitHealthy.mock.calls[0][0]();
    expectPromoted(h, candidate);
    expect(health.cancel).toHaveBeenCalled();
  });

  it('a healthy report after the rollout ended promotes nothing', () => {
    const h = setup({ health: true });
    startRollout(h);
    const [health] = h.healths;
    for (const id of h.canaries()) h.ack(id);
    jest.advanceTimersByTime(1000);
    h.stage.nacked(h.node(h.canaries()[0]), 'cluster svc-a: bad');
    health.awaitHealthy.mock.calls[0][0]();
    expectRolledBack(h);
  });

  it('the soak ends with nothing once the rollout is gone or the core stopped', () => {
    const h = setup();
    startRollout(h);
    for (const id of h.canaries()) h.ack(id);
    h.state.stopped = true;
    jest.advanceTimersByTime(1000);
    expect(h.profile.stable).toBe(h.stable);
    expect(h.profile.rollout).toBeDefined();
  });

  it('stop clears the timers and health checks of every rollout', () => {
    const h = setup({ health: true });
    startRollout(h);
    for (const id of h.canaries()) h.ack(id);
    h.stage.stop();
    expect(h.healths[0].cancel).toHaveBeenCalled();
    jest.advanceTimersByTime(120_000);
    expect(h.profile.stable).toBe(h.stable);
    expect(h.healths[0].awaitHealthy).not.toHaveBeenCalled();
  });
});

describe('ACK timeout: a canary silent past soakMs + 30 s is a health drop', () => {
  it('rolls back and quarantines every change of the candidate, naming the silent canary', () => {
    const h = setup();
    startRollout(h);
    const [c1, c2] = h.canaries();
    h.ack(c1);
    jest.advanceTimersByTime(30_999);
    expect(h.profile.rollout).toBeDefined();
    jest.advanceTimersByTime(1);
    expectRolledBack(h);
    const rejection = h.quarantine.rejections.get('a');
    expect(rejection).toMatchObject({ generation: 2, source: 'canary-health', nodes: 1 });
    expect(rejection?.reason).toBe(`canary proxies did not ACK the candidate within 31 s: ${c2}`);
    expect([...h.quarantine.rejections.keys()]).toEqual(['a']);
    expect(h.stage.canary()).toMatchObject({ generation: 2, state: 'rolled-back', reason: rejection?.reason });
    expect(h.hooks.rebuild).toHaveBeenCalledTimes(1);
    for (const s of h.sessions.values()) expect(s.onSnapshot).toHaveBeenCalled();
  });

  it('canary.ackTimeoutMs sets the wait', () => {
    const h = setup({ canary: { fraction: 0.5, soakMs: 1000, ackTimeoutMs: 5000 } });
    startRollout(h);
    jest.advanceTimersByTime(4999);
    expect(h.profile.rollout).toBeDefined();
    jest.advanceTimersByTime(1);
    expect(h.quarantine.rejections.get('a')?.reason).toMatch(/^canary proxies did not ACK the candidate within 5 s: /);
  });

  it('no timeout once every canary ACKed (soaking), nor after stop', () => {
    const h = setup({ canary: { fraction: 0.5, soakMs: 60_000 } });
    startRollout(h);
    for (const id of h.canaries()) h.ack(id);
    jest.advanceTimersByTime(59_999);
    expect(h.quarantine.rejections.size).toBe(0);
    const s = setup();
    startRollout(s);
    s.state.stopped = true;
    jest.advanceTimersByTime(31_000);
    expect(s.quarantine.rejections.size).toBe(0);
    expect(s.metrics.canaryRollbacks).toBe(0);
  });
});

describe('health drop (canary health)', () => {
  it('rejects the changed instances the failing clusters belong to and rolls back', () => {
    const h = setup({ health: true });
    h.profile.snapshot = snapshot(2, { clusters: [['svc-a', '2', ['a']], ['svc-b', '2', ['b']]] });
    h.profile.rendered = context(['a', 2], ['b', 2]);
    startRollout(h);
    h.healths[0].options.onUnhealthy('cluster svc-b unhealthy', new Set(['b']));
    expect([...h.quarantine.rejections]).toEqual([['b', { generation: 2, source: 'canary-health', reason: 'cluster svc-b unhealthy', nodes: 1 }]]);
    expect(h.metrics.canaryRollbacks).toBe(1);
    expect(h.profile.snapshot).toBe(h.stable);
    expect(h.hooks.rebuild).toHaveBeenCalledTimes(1);
    expect(h.hooks.changed).toHaveBeenCalled();
  });

  it('an unhealthy cluster of an unchanged instance: a render fault, no route quarantined', () => {
    const h = setup({ health: true });
    startRollout(h);
    const candidate = h.profile.snapshot!;
    h.healths[0].options.onUnhealthy('cluster svc-b unhealthy', new Set(['b']));
    expect(h.quarantine.rejections.size).toBe(0);
    expect(h.profile.heldBack).toEqual(versionsOf(candidate));
    expect(h.metrics.renderFaultsHeldBack).toBe(1);
    expect(h.hooks.rebuild).not.toHaveBeenCalled();
    expectRolledBack(h);
  });

  it('a drop reported after the rollout ended, or after stop, is ignored', () => {
    const h = setup({ health: true });
    startRollout(h);
    const { onUnhealthy } = h.healths[0].options;
    h.state.stopped = true;
    onUnhealthy('late', new Set(['a']));
    expect(h.quarantine.rejections.size).toBe(0);
    h.state.stopped = false;
    h.profile.snapshot = STABLE();
    startRollout(h); // equal to the stable one: the rollout ends
    onUnhealthy('late', new Set(['a']));
    expect(h.quarantine.rejections.size).toBe(0);
    expect(h.metrics.canaryRollbacks).toBe(0);
  });
});

describe('NACK', () => {
  it('from a canary: the named change is rejected and quarantined, the canaries rolled back, the profile re-rendered', () => {
    const h = setup();
    startRollout(h);
    const [c1] = h.canaries();
    h.stage.nacked(h.node(c1), 'cluster svc-a: bad field');
    expectRolledBack(h);
    expect([...h.stage.rejections]).toEqual([['a', { generation: 2, source: 'nack', reason: 'cluster svc-a: bad field', nodes: 1 }]]);
    expect(h.stage.canary()).toMatchObject({ state: 'rolled-back', reason: `NACK from ${c1}: cluster svc-a: bad field` });
    expect(h.hooks.rebuild).toHaveBeenCalledTimes(1);
    expect(h.hooks.changed).toHaveBeenCalled();
    for (const s of h.sessions.values()) expect(s.onSnapshot).toHaveBeenCalled();
  });

  it('from a canary with nothing to blame: a render fault, held back, reported, no route quarantined', () => {
    const h = setup();
    startRollout(h);
    const candidate = h.profile.snapshot!;
    const [c1] = h.canaries();
    h.node(c1).lastNack = { kind: 'listeners', version: 'x', message: 'bad listener', at: '' };
    h.stage.nacked(h.node(c1), 'bad listener');
    expectRolledBack(h);
    expect(h.quarantine.rejections.size).toBe(0);
    expect(h.hooks.rebuild).not.toHaveBeenCalled();
    expect(h.hooks.changed).toHaveBeenCalled();
    expect(h.profile.heldBack).toEqual(versionsOf(candidate));
    expect(h.metrics.renderFaultsHeldBack).toBe(1);
    const problem = h.profile.lastFailure?.problems[0];
    expect(problem?.message.startsWith(`${RENDER_FAULT_PREFIX} with no route change to blame`)).toBe(true);
    expect(problem?.message.endsWith(`: NACK from ${c1}: bad listener`)).toBe(true);
    // What changed against the stable snapshot: the cluster svc-a and the new listener, by template.
    expect(problem?.resource).toBe('listeners/main, clusters/svc-a');
    expect(problem?.template).toBe('listeners.tpl, clusters.tpl');
    expect(h.stage.canary()).toMatchObject({ state: 'rolled-back', reason: `NACK from ${c1}: bad listener` });
  });

  it('a render fault lists five changed resources and how many more', () => {
    const h = setup();
    const many = Array.from({ length: 7 }, (_, i) => [`c${i}`, '9', ['zz']] as const);
    h.profile.snapshot = snapshot(2, { clusters: many });
    startRollout(h);
    const [c1] = h.canaries();
    h.stage.nacked(h.node(c1), 'nothing named');
    expect(h.profile.lastFailure?.problems[0].resource).toBe('clusters/c0, clusters/c1, clusters/c2, clusters/c3, clusters/c4, 2 more');
    const five = setup();
    five.profile.snapshot = snapshot(2, { clusters: many.slice(0, 5) });
    startRollout(five);
    five.stage.nacked(five.node(five.canaries()[0]), 'nothing named');
    expect(five.profile.lastFailure?.problems[0].resource).toBe('clusters/c0, clusters/c1, clusters/c2, clusters/c3, clusters/c4');
  });

  it('from a node that never held a snapshot in full: blames nothing, the rollout goes on', () => {
    const h = setup();
    startRollout(h);
    const fresh = h.add('n9');
    (fresh.record as { acked: object }).acked = {};
    fresh.record.heldGeneration = undefined;
    h.stage.nacked(fresh.record, 'svc-a bad');
    expect(h.profile.rollout).toBeDefined();
    expect(h.quarantine.rejections.size).toBe(0);
    expect(h.metrics.canaryRollbacks).toBe(0);
    expect(h.hooks.rebuild).not.toHaveBeenCalled();
    expect(h.hooks.changed).toHaveBeenCalled();
  });

  it('from a node that is not a canary, with no rollout: rejects the changes newer than it holds', () => {
    const h = setup();
    // The candidate was promoted; a node holding generation 1 NACKs it.
    h.stage.start(h.profile, true);
    const n = h.node('n1');
    n.heldGeneration = 1;
    h.stage.nacked(n, 'route svc-a: bad');
    expect([...h.quarantine.rejections.keys()]).toEqual(['a']);
    expect(h.metrics.canaryRollbacks).toBe(0);
    expect(h.hooks.rebuild).toHaveBeenCalledTimes(1);
  });

  it('from a node that is not a canary during a rollout: rejects what it blames and rolls the rollout back', () => {
    const h = setup();
    startRollout(h);
    const other = ['n1', 'n2', 'n3', 'n4'].find((id) => !h.canaries().includes(id))!;
    h.node(other).heldGeneration = 0;
    h.stage.nacked(h.node(other), 'svc-a');
    expect([...h.quarantine.rejections.keys()]).toEqual(['a']);
    expect(h.metrics.canaryRollbacks).toBe(1);
    expect(h.hooks.rebuild).toHaveBeenCalledTimes(1);
  });

  it('ignored after stop, or from a node of a profile not cached', () => {
    const h = setup();
    startRollout(h);
    h.stage.nacked(record('x', { profile: 'gone' }), 'svc-a');
    h.state.stopped = true;
    h.stage.nacked(h.node(h.canaries()[0]), 'svc-a');
    expect(h.quarantine.rejections.size).toBe(0);
    expect(h.profile.rollout).toBeDefined();
    expect(h.hooks.changed).not.toHaveBeenCalled();
  });
});

describe('a canary that leaves is replaced, not blamed', () => {
  it('the spare node with the lowest SHA-256 replaces it, gets the candidate and must ACK it', () => {
    const h = setup({ health: true, nodes: ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'] });
    h.add('poller', 'rest');
    startRollout(h);
    const before = h.canaries();
    expect(before).toHaveLength(3);
    for (const id of before) h.ack(id);
    expect(h.profile.rollout?.state).toBe('soaking');
    const [gone] = before;
    const spare = lowest(['n1', 'n2', 'n3', 'n4', 'n5', 'n6'].filter((id) => !before.includes(id)), 1)[0];
    const goneSession = h.sessions.get(gone)!;
    h.profile.sessions.delete(goneSession);
    h.stage.closed(goneSession, h.profile);
    expect(h.canaries()).toEqual([...before.filter((id) => id !== gone), spare].sort());
    expect(h.healths[0].replace).toHaveBeenCalledWith(gone, spare);
    expect(h.sessions.get(spare)!.onSnapshot).toHaveBeenCalled();
    expect(h.profile.rollout?.state).toBe('waiting-for-acks');
    expect(h.quarantine.rejections.size).toBe(0);
    expect(h.metrics.canaryRollbacks).toBe(0);
    // The soak that was running does not promote: the replacement ACKs, then a full soak.
    jest.advanceTimersByTime(1000);
    expect(h.profile.stable).toBe(h.stable);
    h.ack(spare);
    expect(h.profile.rollout?.state).toBe('soaking');
    jest.advanceTimersByTime(1000);
    expect(h.healths[0].awaitHealthy).toHaveBeenCalled();
  });

  it('the replacement waits for its ACK under a new ACK timeout', () => {
    const h = setup({ nodes: ['n1', 'n2', 'n3'] });
    startRollout(h);
    jest.advanceTimersByTime(20_000);
    const [gone] = h.canaries();
    const goneSession = h.sessions.get(gone)!;
    h.profile.sessions.delete(goneSession);
    h.stage.closed(goneSession, h.profile);
    jest.advanceTimersByTime(30_999 - 20_000 + 1000);
    expect(h.quarantine.rejections.size).toBe(0);
    jest.advanceTimersByTime(20_000);
    expect(h.quarantine.rejections.get('a')?.source).toBe('canary-health');
  });

  it('no spare node: the other canaries go on (soaking once they hold it)', () => {
    const h = setup({ nodes: ['n1', 'n2'], canary: { fraction: 1, soakMs: 1000 } });
    startRollout(h);
    const [c1, c2] = h.canaries();
    h.ack(c1);
    const s2 = h.sessions.get(c2)!;
    h.profile.sessions.delete(s2);
    h.stage.closed(s2, h.profile);
    expect(h.canaries()).toEqual([c1]);
    expect(h.profile.rollout?.state).toBe('soaking');
  });

  it('no node left at all: promoted as with no node', () => {
    const h = setup({ nodes: ['n1'] });
    const candidate = h.profile.snapshot!;
    startRollout(h);
    expect(h.canaries()).toEqual(['n1']);
    const s = h.sessions.get('n1')!;
    h.profile.sessions.delete(s);
    h.stage.closed(s, h.profile);
    expectPromoted(h, candidate);
    expect(h.metrics.canaryRollbacks).toBe(0);
  });

  it('a node that is not a canary, a REST poller, or any node after stop: nothing changes', () => {
    const h = setup({ nodes: ['n1', 'n2', 'n3', 'n4'] });
    const poller = h.add('poller', 'rest');
    startRollout(h);
    const before = h.canaries();
    const other = h.sessions.get(['n1', 'n2', 'n3', 'n4'].find((id) => !before.includes(id))!)!;
    h.stage.closed(other, h.profile);
    h.stage.closed(poller, h.profile);
    h.stage.closed(other, undefined);
    expect(h.canaries()).toEqual(before);
    h.state.stopped = true;
    h.stage.closed(h.sessions.get(before[0])!, h.profile);
    expect(h.canaries()).toEqual(before);
  });

  it('a REST poller never replaces a canary', () => {
    const h = setup({ nodes: ['n1'] });
    h.add('poller', 'rest');
    const candidate = h.profile.snapshot!;
    startRollout(h);
    const s = h.sessions.get('n1')!;
    h.profile.sessions.delete(s);
    h.stage.closed(s, h.profile);
    expectPromoted(h, candidate);
  });
});

describe('trains', () => {
  it('changes that boarded the next train are rendered once the rollout ends (promoted)', () => {
    const h = setup();
    startRollout(h);
    h.profile.nextTrain = true;
    for (const id of h.canaries()) h.ack(id);
    jest.advanceTimersByTime(1000);
    expect(h.hooks.renderProfile).not.toHaveBeenCalled();
    const persisted = h.hooks.persist.mock.calls.length;
    jest.runOnlyPendingTimers();
    expect(h.hooks.renderProfile).toHaveBeenCalledWith(h.profile);
    expect(h.hooks.persist.mock.calls.length).toBe(persisted + 1);
  });

  it('or rolled back', () => {
    const h = setup();
    startRollout(h);
    h.profile.nextTrain = true;
    h.stage.nacked(h.node(h.canaries()[0]), 'svc-a');
    jest.runOnlyPendingTimers();
    expect(h.hooks.renderProfile).toHaveBeenCalledTimes(1);
  });

  it('no next train, a render that fails, a new rollout already under way, no context or a stop: nothing rendered or persisted', () => {
    const cases: Array<(h: Harness) => void> = [
      (h) => (h.profile.nextTrain = false),
      (h) => h.hooks.renderProfile.mockReturnValue(false),
      (h) => (h.state.context = undefined),
      (h) => (h.state.stopped = true),
    ];
    for (const arrange of cases) {
      const h = setup();
      startRollout(h);
      h.profile.nextTrain = true;
      h.stage.nacked(h.node(h.canaries()[0]), 'svc-a');
      arrange(h);
      const persisted = h.hooks.persist.mock.calls.length;
      jest.runOnlyPendingTimers();
      if (h.hooks.renderProfile.mock.calls.length > 0) expect(h.hooks.renderProfile.mock.results[0].value).toBe(false);
      expect(h.hooks.persist.mock.calls.length).toBe(persisted);
    }
    const h = setup();
    startRollout(h);
    h.profile.nextTrain = true;
    h.stage.nacked(h.node(h.canaries()[0]), 'svc-a');
    h.profile.snapshot = CANDIDATE();
    startRollout(h);
    jest.runOnlyPendingTimers();
    expect(h.hooks.renderProfile).not.toHaveBeenCalled();
  });

  it('a new candidate restarts the canary selection with fresh timers (the old ACK timer is gone)', () => {
    const h = setup();
    startRollout(h);
    jest.advanceTimersByTime(20_000);
    h.profile.snapshot = snapshot(3, { clusters: [['svc-a', '3', ['a']], ['svc-b', '1', ['b']]] });
    h.profile.rendered = context(['a', 3], ['b', 1]);
    startRollout(h);
    jest.advanceTimersByTime(11_000);
    expect(h.quarantine.rejections.size).toBe(0);
    jest.advanceTimersByTime(20_000);
    expect(h.quarantine.rejections.get('a')?.generation).toBe(3);
  });
});

describe('after a restart', () => {
  function restarted(opts: Setup = {}) {
    const h = setup({ nodes: [], ...opts });
    h.profile.stableOrigin = 'persisted';
    return h;
  }

  it('a candidate waits for the first ADS node to canary it; the persisted snapshot is served', () => {
    const h = restarted();
    startRollout(h);
    expect(h.profile.rollout).toBeUndefined();
    expect(h.profile.stable).toBe(h.stable);
    expect(h.profile.canaryWait).toBeDefined();
    const poller = h.add('poller', 'rest');
    h.stage.opened(poller, h.profile);
    expect(h.profile.rollout).toBeUndefined();
    const n1 = h.add('n1');
    h.stage.opened(n1, h.profile);
    expect(h.canaries()).toEqual(['n1']);
    // The wait ends with nothing to do.
    jest.advanceTimersByTime(10_000);
    expect(h.profile.stable).toBe(h.stable);
    expect(h.canaries()).toEqual(['n1']);
  });

  it('no node within RESTART_CANARY_WAIT_MS (10 s): promoted with nobody to canary it', () => {
    const h = restarted();
    const candidate = h.profile.snapshot!;
    startRollout(h);
    jest.advanceTimersByTime(9_999);
    expect(h.profile.stable).toBe(h.stable);
    jest.advanceTimersByTime(1);
    expectPromoted(h, candidate);
    expect(h.profile.canaryWait).toBeUndefined();
    expect(h.hooks.changed).toHaveBeenCalled();
  });

  it('restartCanaryWaitMs sets the wait, counted from the start of the control plane', () => {
    const h = restarted({ restartCanaryWaitMs: 3000 });
    jest.advanceTimersByTime(1000);
    startRollout(h);
    jest.advanceTimersByTime(1999);
    expect(h.profile.stable).toBe(h.stable);
    jest.advanceTimersByTime(1);
    expect(h.profile.stable).toBe(h.profile.snapshot);
    const late = restarted({ restartCanaryWaitMs: 3000 });
    jest.advanceTimersByTime(3000);
    startRollout(late);
    expect(late.profile.stable).toBe(late.profile.snapshot);
    expect(late.profile.canaryWait).toBeUndefined();
  });

  it('one wait at a time; a stop or a promotion meanwhile ends it with nothing', () => {
    const h = restarted();
    startRollout(h);
    const wait = h.profile.canaryWait;
    jest.advanceTimersByTime(5000);
    startRollout(h);
    expect(h.profile.canaryWait).toBe(wait);
    h.state.stopped = true;
    jest.advanceTimersByTime(5000);
    expect(h.profile.stable).toBe(h.stable);
    const p = restarted();
    startRollout(p);
    p.stage.promote(p.profile);
    const changed = p.hooks.changed.mock.calls.length;
    jest.advanceTimersByTime(10_000);
    expect(p.hooks.changed.mock.calls.length).toBe(changed);
  });

  it('not with the canary off, a rendered stable snapshot, or an equal candidate', () => {
    for (const arrange of [(h: Harness) => ((h.stage as unknown as { options: object }).options = { canary: { fraction: 0, soakMs: 0 } }), (h: Harness) => (h.profile.stableOrigin = 'rendered')]) {
      const h = restarted();
      arrange(h);
      startRollout(h);
      expect(h.profile.canaryWait).toBeUndefined();
      expect(h.profile.stable).toBe(h.profile.snapshot);
    }
    const h = restarted();
    const same = STABLE();
    h.profile.snapshot = same;
    startRollout(h);
    expect(h.profile.canaryWait).toBeUndefined();
    expect(h.profile.stable).toBe(same);
  });

  it('opened after stop starts nothing', () => {
    const h = restarted();
    startRollout(h);
    h.state.stopped = true;
    const n1 = h.add('n1');
    h.stage.opened(n1, h.profile);
    expect(h.profile.rollout).toBeUndefined();
  });
});

describe('the region: one canary subset per region, on the leader', () => {
  const view = (over: Partial<RegionRollout> = {}): RegionRollout => ({ leader: false, leaderTaskId: 't0', leaderStable: 1, leaderRejected: {}, regionNodes: 4, ...over });

  it('the leader canaries ceil(fraction x the region nodes) of its own nodes', () => {
    const h = setup({ canary: { fraction: 0.25, soakMs: 1000 } });
    h.stage.followRegion(view({ leader: true, leaderTaskId: 'me', regionNodes: 16 }));
    expect(h.stage.regionRole()).toEqual({ role: 'leader', leader: 'me' });
    startRollout(h);
    expect(h.canaries()).toEqual(lowest(['n1', 'n2', 'n3', 'n4'], 4).sort());
    // Fewer region nodes than its own (a stale report): its own count.
    const s = setup({ canary: { fraction: 0.25, soakMs: 1000 } });
    s.stage.followRegion(view({ leader: true, leaderTaskId: 'me', regionNodes: 1 }));
    // More canaries than it has nodes: all of its own.
    const m = setup({ canary: { fraction: 0.25, soakMs: 1000 } });
    m.stage.followRegion(view({ leader: true, leaderTaskId: 'me', regionNodes: 40 }));
    startRollout(m);
    expect(m.canaries()).toHaveLength(4);
    startRollout(s);
    expect(s.canaries()).toHaveLength(1);
  });

  it('no region view: decides alone', () => {
    expect(setup().stage.regionRole()).toBeUndefined();
  });

  it("a follower holds its candidate until the leader's stable generation reaches it", () => {
    const h = setup();
    const candidate = h.profile.snapshot!;
    h.stage.followRegion(view());
    expect(h.stage.regionRole()).toEqual({ role: 'follower', leader: 't0' });
    startRollout(h);
    expect(h.profile.rollout).toMatchObject({ generation: 2, follows: 't0' });
    expect(h.canaries()).toEqual([]);
    expect(h.canaryHealth.begin).not.toHaveBeenCalled();
    expect(h.profile.stable).toBe(h.stable);
    // ACKs and the ACK timeout do not apply to a follower.
    jest.advanceTimersByTime(120_000);
    expect(h.profile.rollout?.follows).toBe('t0');
    h.stage.followRegion(view({ leaderStable: 1 }));
    expect(h.profile.stable).toBe(h.stable);
    h.stage.followRegion(view({ leaderStable: 2 }));
    expectPromoted(h, candidate);
    expect(h.stage.canary()).toMatchObject({ generation: 2, state: 'promoted', nodes: 0 });
  });

  it('promoted at once when the leader already promoted the generation', () => {
    const h = setup();
    const candidate = h.profile.snapshot!;
    h.stage.followRegion(view({ leaderStable: 5 }));
    startRollout(h);
    expectPromoted(h, candidate);
  });

  it("a follower quarantines the changes the leader's canary rejected, and renders again", () => {
    const h = setup();
    h.stage.followRegion(view());
    startRollout(h);
    h.stage.followRegion(
      view({
        leaderRejected: {
          a: { generation: 2, source: 'nack', reason: 'bad', nodes: 1 },
          b: { generation: 1, source: 'validation', reason: 'invalid', nodes: 0 },
          gone: { generation: 1, source: 'nack', reason: 'x', nodes: 1 },
        },
      }),
    );
    expect([...h.quarantine.rejections]).toEqual([['a', { generation: 2, source: 'nack', reason: 'bad (on the canary of task t0)', nodes: 1 }]]);
    expect(h.hooks.rebuild).toHaveBeenCalledTimes(1);
    expect(h.profile.rollout).toBeUndefined();
    expect(h.profile.nextTrain).toBe(true);
    expect(h.metrics.canaryRollbacks).toBe(1);
    expect(h.stage.canary()).toMatchObject({ state: 'rolled-back', reason: 'the region leader changed or rejected a change' });
    // The same rejection again: already quarantined, nothing more.
    h.stage.followRegion(view({ leaderRejected: { a: { generation: 2, source: 'nack', reason: 'bad', nodes: 1 } } }));
    expect(h.hooks.rebuild).toHaveBeenCalledTimes(1);
    expect(h.quarantine.rejections.get('a')?.nodes).toBe(1);
  });

  it("a rejection of a generation the follower does not have is not its concern", () => {
    const h = setup();
    h.stage.followRegion(view({ leaderRejected: { a: { generation: 7, source: 'canary-health', reason: 'x', nodes: 1 } } }));
    expect(h.quarantine.rejections.size).toBe(0);
    expect(h.hooks.rebuild).not.toHaveBeenCalled();
    expect(h.hooks.changed).toHaveBeenCalled();
    // Newer than a local rejection of an older generation: quarantined.
    h.quarantine.reject(route('a', 1), 'nack', 'old');
    h.stage.followRegion(view({ leaderRejected: { a: { generation: 2, source: 'canary-health', reason: 'sick', nodes: 1 } } }));
    expect(h.quarantine.rejections.get('a')).toMatchObject({ generation: 2, source: 'canary-health' });
  });

  it("the leader's rejections are not followed by the leader itself", () => {
    const h = setup();
    h.stage.followRegion(view({ leader: true, leaderTaskId: 'me', leaderRejected: { a: { generation: 2, source: 'nack', reason: 'bad', nodes: 1 } } }));
    expect(h.quarantine.rejections.size).toBe(0);
  });

  it('a new leader: the pending candidate is rendered again under it; this task leading: canaried here', () => {
    const h = setup();
    h.stage.followRegion(view());
    startRollout(h);
    h.stage.followRegion(view({ leaderTaskId: 't1' }));
    expect(h.profile.rollout).toBeUndefined();
    expect(h.profile.nextTrain).toBe(true);
    expect(h.stage.canary()).toMatchObject({ state: 'rolled-back', reason: 'the region leader changed or rejected a change' });
    expect(h.hooks.rebuild).not.toHaveBeenCalled();
    const l = setup();
    l.stage.followRegion(view());
    startRollout(l);
    l.stage.followRegion(view({ leader: true, leaderTaskId: 'me' }));
    expect(l.profile.rollout).toBeUndefined();
    expect(l.stage.canary()).toMatchObject({ state: 'rolled-back', reason: 'this task now leads the region' });
    jest.runOnlyPendingTimers();
    expect(l.hooks.renderProfile).toHaveBeenCalledWith(l.profile);
  });

  it("the leader's own rollouts are not disturbed by its view", () => {
    const h = setup();
    h.stage.followRegion(view({ leader: true, leaderTaskId: 'me' }));
    startRollout(h);
    const rollout = h.profile.rollout;
    h.stage.followRegion(view({ leader: true, leaderTaskId: 'me', leaderStable: 9 }));
    expect(h.profile.rollout).toBe(rollout);
  });

  it('ignored after stop', () => {
    const h = setup();
    h.state.stopped = true;
    h.stage.followRegion(view());
    expect(h.stage.regionRole()).toBeUndefined();
    expect(h.hooks.changed).not.toHaveBeenCalled();
  });
});

describe('canary()', () => {
  it('the rollout under way, else how the last one ended', () => {
    const h = setup();
    expect(h.stage.canary()).toBeUndefined();
    startRollout(h);
    expect(h.stage.canary()).toMatchObject({ generation: 2, state: 'waiting-for-acks' });
    expect(typeof h.stage.canary()?.startedAt).toBe('string');
    h.stage.nacked(h.node(h.canaries()[0]), 'svc-a');
    expect(h.stage.canary()).toMatchObject({ state: 'rolled-back' });
    // A new rollout clears how the last one ended.
    h.profile.snapshot = CANDIDATE();
    h.profile.rendered = context(['a', 2], ['b', 1]);
    startRollout(h);
    h.profile.rollout = undefined;
    expect(h.stage.canary()).toBeUndefined();
  });
});


describe('what promotion and rollback leave behind', () => {
  it('promotion takes the candidate as stable, with its origin, and clears a held-back render fault', () => {
    const h = setup();
    h.profile.heldBack = versionsOf(h.stable);
    h.profile.snapshotOrigin = 'persisted';
    h.stage.start(h.profile, true);
    expect(h.profile.stableOrigin).toBe('persisted');
    expect(h.profile.heldBack).toBeUndefined();
  });

  it('rollback serves the stable snapshot again, with its origin', () => {
    const h = setup();
    h.profile.stableOrigin = 'persisted';
    h.profile.snapshotOrigin = 'rendered';
    startRollout(h);
    h.stage.nacked(h.node(h.canaries()[0]), 'svc-a');
    expect(h.profile.snapshotOrigin).toBe('persisted');
  });

  it('a render fault reports when, which templates, which resources and why', () => {
    const h = setup();
    startRollout(h);
    const [c1] = h.canaries();
    h.stage.nacked(h.node(c1), 'no name here');
    expect(h.profile.lastFailure).toEqual({
      at: new Date().toISOString(),
      problems: [
        {
          template: 'listeners.tpl, clusters.tpl',
          resource: 'listeners/main, clusters/svc-a',
          field: '',
          message: `${RENDER_FAULT_PREFIX} with no route change to blame (a template or settings fault); every node keeps the stable snapshot until the routes, settings or templates change: NACK from ${c1}: no name here`,
        },
      ],
    });
  });

  it('the ACK timeout names at most five silent canaries', () => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
    const h = setup({ nodes: ids, canary: { fraction: 1, soakMs: 0 } });
    startRollout(h);
    jest.advanceTimersByTime(30_000);
    const reason = h.quarantine.rejections.get('a')?.reason ?? '';
    const named = reason.replace('canary proxies did not ACK the candidate within 30 s: ', '').split(', ');
    expect(named).toHaveLength(5);
    for (const id of named) expect(ids).toContain(id);
  });

  it('a healthy report after stop promotes nothing', () => {
    const h = setup({ health: true });
    startRollout(h);
    for (const id of h.canaries()) h.ack(id);
    jest.advanceTimersByTime(1000);
    h.state.stopped = true;
    h.healths[0].awaitHealthy.mock.calls[0][0]();
    expect(h.profile.stable).toBe(h.stable);
  });

  it('a follower\'s rollout ending with an equal render leaves no stale canary state', () => {
    const h = setup();
    startRollout(h);
    h.stage.nacked(h.node(h.canaries()[0]), 'svc-a');
    expect(h.stage.canary()).toMatchObject({ state: 'rolled-back' });
    h.stage.followRegion({ leader: false, leaderTaskId: 't0', leaderStable: 1, leaderRejected: {}, regionNodes: 4 });
    h.profile.snapshot = snapshot(3, { clusters: [['svc-a', '3', ['a']], ['svc-b', '1', ['b']]] });
    h.profile.rendered = context(['a', 3], ['b', 1]);
    startRollout(h);
    expect(h.profile.rollout?.follows).toBe('t0');
    h.profile.snapshot = STABLE();
    startRollout(h);
    expect(h.stage.canary()).toBeUndefined();
  });
});

describe('after a restart: more', () => {
  function restarted(opts: Setup = {}) {
    const h = setup({ nodes: [], ...opts });
    h.profile.stableOrigin = 'persisted';
    return h;
  }

  it('the first snapshot of a profile does not wait for a canary', () => {
    const h = restarted();
    h.stage.start(h.profile, true);
    expect(h.profile.canaryWait).toBeUndefined();
    expect(h.profile.stable).toBe(h.profile.snapshot);
  });

  it('the end of the wait tells every node of the profile', () => {
    const h = restarted();
    const poller = h.add('poller', 'rest');
    startRollout(h);
    jest.advanceTimersByTime(10_000);
    expect(poller.onSnapshot).toHaveBeenCalled();
  });

  it('stop clears the wait', () => {
    const h = restarted();
    startRollout(h);
    h.stage.stop();
    jest.advanceTimersByTime(10_000);
    expect(h.profile.stable).toBe(h.stable);
    expect(h.hooks.changed).not.toHaveBeenCalled();
  });

  it('a rollout whose nodes are gone ends when the next candidate waits for a canary', () => {
    const h = restarted({ nodes: ['n1'], health: true });
    startRollout(h);
    expect(h.canaries()).toEqual(['n1']);
    h.profile.sessions.clear();
    h.profile.snapshot = snapshot(3, { clusters: [['svc-a', '3', ['a']], ['svc-b', '1', ['b']]] });
    startRollout(h);
    expect(h.profile.rollout).toBeUndefined();
    expect(h.healths[0].cancel).toHaveBeenCalled();
    // Its ACK timer went with it: no health drop later.
    jest.advanceTimersByTime(9_000);
    expect(h.quarantine.rejections.size).toBe(0);
    expect(h.metrics.canaryRollbacks).toBe(0);
  });
});

describe('what a callback must not disturb (issue 17)', () => {
  it('an ACK during the soak does not restart it: promoted soakMs after the last canary first ACKed', () => {
    const h = setup({ canary: { fraction: 0.5, soakMs: 1000 } });
    const candidate = h.profile.snapshot!;
    startRollout(h);
    for (const id of h.canaries()) h.ack(id);
    jest.advanceTimersByTime(600);
    h.ack(h.canaries()[0]);
    jest.advanceTimersByTime(400);
    expectPromoted(h, candidate);
  });

  it('an ADS node opening a stream during a rollout leaves the rollout as it is', () => {
    const h = setup({ health: true });
    startRollout(h);
    const rollout = h.profile.rollout;
    const canaries = h.canaries();
    h.stage.opened(h.add('n5'), h.profile);
    expect(h.profile.rollout).toBe(rollout);
    expect(h.canaries()).toEqual(canaries);
    expect(h.canaryHealth.begin).toHaveBeenCalledTimes(1);
  });

  it('a REST poller opening a stream once the restart wait is over, before its timer ran, is no canary: the wait still ends by telling every node', () => {
    const h = setup({ nodes: [] });
    h.profile.stableOrigin = 'persisted';
    const candidate = h.profile.snapshot!;
    startRollout(h);
    const poller = h.add('poller', 'rest');
    jest.setSystemTime(Date.now() + 10_000);
    h.stage.opened(poller, h.profile);
    jest.advanceTimersByTime(10_000);
    expectPromoted(h, candidate);
    expect(poller.onSnapshot).toHaveBeenCalled();
    expect(h.hooks.changed).toHaveBeenCalled();
  });

  it('a health drop reported after the rollout was promoted holds nothing back', () => {
    const h = setup({ health: true });
    const candidate = h.profile.snapshot!;
    startRollout(h);
    const [health] = h.healths;
    for (const id of h.canaries()) h.ack(id);
    jest.advanceTimersByTime(1000);
    health.awaitHealthy.mock.calls[0][0]();
    expectPromoted(h, candidate);
    health.options.onUnhealthy('late', new Set(['a']));
    expect(h.profile.heldBack).toBeUndefined();
    expect(h.profile.lastFailure).toBeUndefined();
    expect(h.metrics.renderFaultsHeldBack).toBe(0);
    expect(h.quarantine.rejections.size).toBe(0);
    expectPromoted(h, candidate);
  });

  it('a healthy report of a rollout a newer candidate replaced promotes nothing', () => {
    const h = setup({ health: true });
    startRollout(h);
    for (const id of h.canaries()) h.ack(id);
    jest.advanceTimersByTime(1000);
    const healthy = h.healths[0].awaitHealthy.mock.calls[0][0];
    h.profile.snapshot = snapshot(3, { clusters: [['svc-a', '3', ['a']], ['svc-b', '1', ['b']]] });
    h.profile.rendered = context(['a', 3], ['b', 1]);
    startRollout(h);
    const rollout = h.profile.rollout;
    healthy();
    expect(h.profile.rollout).toBe(rollout);
    expect(h.profile.stable).toBe(h.stable);
  });

  it('a render fault says so in the words of docs/control-plane.md', () => {
    const h = setup();
    startRollout(h);
    h.stage.nacked(h.node(h.canaries()[0]), 'no name here');
    expect(h.profile.lastFailure?.problems[0].message).toMatch(/^rendered config failed canary health with no route change to blame/);
  });
});
