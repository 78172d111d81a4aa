import { CanaryState, RejectedChange, RouteDocument } from '../../../model';
import { CanarySettings, canaryCount, chooseCanaries } from '../canary';
import { CanaryHealth, healthTargets } from '../canary-health';
import { Logger } from '../logger';
import { Metrics } from '../metrics';
import { RESOURCE_KINDS } from '../protos';
import { SnapshotCache, sameVersions, versionsOf } from '../cache/snapshot-cache';
import { CoreState, NodeRecord, ProfileState, Rollout, Session } from '../cache/types';
import { healthVerdict, nackVerdict } from './blame';
import { Quarantine } from './quarantine';

/** How long past the soak a rollout waits for its canaries' ACKs before it counts them unhealthy. */
export const CANARY_ACK_GRACE_MS = 30_000;

/**
 * After a restart, how long (from start) a rendered candidate that differs from the persisted
 * snapshot waits for an ADS node to reconnect and canary it. Past it, with no node connected,
 * it is promoted as any candidate with nobody to canary it.
 */
export const RESTART_CANARY_WAIT_MS = 10_000;

/** What this task knows of the region's rollout (from the convergence reports; see convergence-reporter.ts). */
export interface RegionRollout {
  readonly leader: boolean;
  readonly leaderTaskId: string;
  /** The leader's stable generation: a follower promotes candidates up to it. */
  readonly leaderStable: number;
  /** The leader's rejections: a follower quarantines them too. */
  readonly leaderRejected: Readonly<Record<string, RejectedChange>>;
  /** ADS nodes connected to the region's tasks (fresh reports, this one included). */
  readonly regionNodes: number;
}

export interface RolloutOptions {
  /** Canary rollout of new snapshots (unset or fraction 0: every node gets a new snapshot at once). */
  readonly canary?: CanarySettings;
  /** Default RESTART_CANARY_WAIT_MS. */
  readonly restartCanaryWaitMs?: number;
}

/** What the rollout asks of the rest of the core. */
export interface RolloutHooks {
  /** Renders a profile from the current context (the next train); whether it gave a good snapshot. */
  renderProfile(profile: ProfileState): boolean;
  /** Rebuilds the context and renders every profile (after a rejection quarantined changes). */
  rebuild(): void;
  /** What the convergence report says may have changed. */
  changed(): void;
  /** The stable snapshots changed: persist them (debounced). */
  persist(): void;
}

/**
 * Stage 5, the rollout: trains of candidates through canaries. A candidate goes to a canary
 * subset of the profile's ADS nodes, waits for their ACKs, soaks (and, with a health gate,
 * waits for the changed clusters to be healthy on them), and is promoted to every node; a
 * rejection (NACK, health drop) rolls it back and quarantines the changes at fault. On a
 * follower task of the region, the leader's canary decides. The protocol reaches it only
 * through the stream callbacks `opened`, `acked`, `nacked` and `closed`.
 */
export class RolloutStage {
  /** How the last canary rollout ended (shown until the next starts). */
  lastCanary?: CanaryState;
  /** The region's rollout as the reports last showed it (unset: this task decides alone). */
  private region?: RegionRollout;

  constructor(
    private readonly options: RolloutOptions,
    private readonly state: CoreState,
    private readonly cache: SnapshotCache,
    private readonly canaryHealth: CanaryHealth,
    private readonly quarantine: Quarantine,
    private readonly hooks: RolloutHooks,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** Clears every rollout's timers and health checks (at stop). */
  stop(): void {
    for (const profile of this.cache.profiles.values()) {
      clearTimeout(profile.rollout?.timer);
      clearTimeout(profile.canaryWait);
      profile.rollout?.health?.cancel();
    }
  }

  /**
   * Starts the canary rollout of a profile's new snapshot (a train). Promoted at once: the
   * first snapshot, a snapshot equal to the stable one, canary off, or no ADS node connected.
   * No newer snapshot replaces the candidate of a rollout under way (the facade defers it to
   * the next train).
   */
  start(profile: ProfileState, first: boolean): void {
    const candidate = profile.snapshot!;
    const nodes = [...profile.sessions].map((s) => s.record).filter((r) => r.protocol !== 'rest');
    // One canary subset per region: the leader's share is the fraction of the region's nodes.
    const count = Math.min(nodes.length, canaryCount(Math.max(nodes.length, this.region?.regionNodes ?? 0), this.options.canary?.fraction ?? 0));
    const same = profile.stable !== undefined && sameVersions(candidate, versionsOf(profile.stable));
    const waitMs = this.state.startedAt + (this.options.restartCanaryWaitMs ?? RESTART_CANARY_WAIT_MS) - Date.now();
    if (!first && !same && count === 0 && profile.stableOrigin === 'persisted' && (this.options.canary?.fraction ?? 0) > 0 && waitMs > 0) {
      // After a restart the nodes reconnect after the first render: the candidate waits for
      // the first of them to be its canary (opened()); until then every node gets the persisted snapshot.
      clearTimeout(profile.rollout?.timer);
      profile.rollout?.health?.cancel();
      profile.rollout = undefined;
      profile.canaryWait ??= setTimeout(() => {
        profile.canaryWait = undefined;
        if (this.state.stopped || !this.cache.waitingForCanary(profile)) return;
        this.start(profile, false);
        for (const session of profile.sessions) session.onSnapshot();
        this.hooks.changed();
      }, waitMs);
      this.logger.log('info', 'rendered snapshot after a restart waits for a node to canary it; the persisted snapshot is served', { profile: profile.key, generation: candidate.generation, waitMs });
      return;
    }
    if (first || !profile.stable || count === 0 || same) {
      // A candidate equal to the stable snapshot needs no canary: the rollout (if any) just ends.
      if (same && profile.rollout) {
        clearTimeout(profile.rollout.timer);
        profile.rollout.health?.cancel();
        profile.rollout = undefined;
      }
      this.promote(profile);
      return;
    }
    clearTimeout(profile.rollout?.timer);
    profile.rollout?.health?.cancel();
    if (this.region && !this.region.leader) {
      // A follower: the region's leader canaries the change; this task promotes once the leader did.
      profile.rollout = { generation: candidate.generation, follows: this.region.leaderTaskId, canaries: new Set(), startedAt: new Date().toISOString(), state: 'waiting-for-acks' };
      this.lastCanary = undefined;
      this.logger.log('info', "candidate waits for the region leader's canary", { profile: profile.key, generation: candidate.generation, leader: this.region.leaderTaskId });
      this.followLeader(profile);
      return;
    }
    const canaries = new Set(chooseCanaries(nodes, (r) => r.node.id, count));
    const rollout: Rollout = { generation: candidate.generation, canaries, startedAt: new Date().toISOString(), state: 'waiting-for-acks' };
    profile.rollout = rollout;
    rollout.health = this.canaryHealth.begin({
      canaries: [...canaries].map((r) => r.node.id),
      targets: healthTargets(candidate, profile.stable, this.canaryHealth.settings),
      onUnhealthy: (reason, instanceIds) => {
        if (profile.rollout === rollout && !this.state.stopped) this.healthDrop(profile, reason, instanceIds);
      },
    });
    this.awaitAcks(profile, rollout);
    this.lastCanary = undefined;
    this.logger.log('info', 'canary rollout started', {
      profile: profile.key,
      generation: candidate.generation,
      canaries: [...canaries].map((r) => r.node.id).slice(0, 20),
      nodes: nodes.length,
    });
    // Canaries that subscribe to none of the changed resources hold the candidate already.
    this.checkAcks(profile, rollout);
  }

  /** Waits for every canary's ACK; a canary that never answers is as unhealthy as a rejection. */
  private awaitAcks(profile: ProfileState, rollout: Rollout): void {
    clearTimeout(rollout.timer);
    rollout.state = 'waiting-for-acks';
    const ackTimeoutMs = this.options.canary?.ackTimeoutMs ?? (this.options.canary?.soakMs ?? 0) + CANARY_ACK_GRACE_MS;
    rollout.timer = setTimeout(() => {
      if (profile.rollout === rollout && rollout.state === 'waiting-for-acks' && !this.state.stopped) {
        const silent = [...rollout.canaries].filter((r) => !this.cache.isCurrent(r, profile.snapshot)).map((r) => r.node.id);
        this.healthDrop(profile, `canary proxies did not ACK the candidate within ${ackTimeoutMs / 1000} s: ${silent.slice(0, 5).join(', ')}`);
      }
    }, ackTimeoutMs);
  }

  /** This task's part in the region's rollouts, for its report. */
  regionRole(): { role: 'leader' | 'follower'; leader: string } | undefined {
    return this.region ? { role: this.region.leader ? 'leader' : 'follower', leader: this.region.leaderTaskId } : undefined;
  }

  /**
   * Takes the region's rollout as the reports show it. A follower quarantines the changes the
   * leader's canaries rejected, and promotes the candidates the leader has promoted; a task
   * that becomes leader canaries its pending candidate itself.
   */
  followRegion(view: RegionRollout): void {
    if (this.state.stopped) return;
    this.region = view;
    let rejected = false;
    if (!view.leader) {
      const routes = new Map((this.state.context?.routes ?? []).map((r) => [r.instanceId, r]));
      for (const [id, change] of Object.entries(view.leaderRejected)) {
        if (change.source === 'validation') continue;
        const route = routes.get(id);
        const mine = this.rejections.get(id);
        if (!route || route.generation !== change.generation || (mine && mine.generation === change.generation)) continue;
        this.reject([route], change.source, `${change.reason} (on the canary of task ${view.leaderTaskId})`);
        rejected = true;
      }
    }
    for (const profile of this.cache.profiles.values()) {
      const rollout = profile.rollout;
      if (!rollout?.follows) continue;
      if (view.leader || rollout.follows !== view.leaderTaskId || rejected) {
        // Rendered again at once (as the next train), canaried here or following the new leader.
        profile.nextTrain = true;
        this.rollBack(profile, view.leader ? 'this task now leads the region' : 'the region leader changed or rejected a change');
      } else this.followLeader(profile);
    }
    if (rejected) this.hooks.rebuild();
    this.hooks.changed();
  }

  /** Promotes a follower's candidate once the leader's stable generation reached it. */
  private followLeader(profile: ProfileState): void {
    const rollout = profile.rollout;
    if (!rollout?.follows || !this.region || this.region.leaderStable < rollout.generation) return;
    this.logger.log('info', 'the region leader promoted the generation; promoted here too', { profile: profile.key, generation: rollout.generation, leader: rollout.follows });
    this.promote(profile);
  }

  /** Renders the changes that boarded the next train once the rollout before them has ended. */
  private boardNextTrain(profile: ProfileState): void {
    if (!profile.nextTrain) return;
    setImmediate(() => {
      if (this.state.stopped || profile.rollout || !profile.nextTrain || !this.state.context) return;
      if (this.hooks.renderProfile(profile)) this.hooks.persist();
    });
  }

  /** Makes the profile's newest snapshot the one every node is served. */
  promote(profile: ProfileState): void {
    const rollout = profile.rollout;
    clearTimeout(rollout?.timer);
    rollout?.health?.cancel();
    profile.rollout = undefined;
    profile.stable = profile.snapshot;
    profile.stableContext = profile.rendered;
    profile.stableOrigin = profile.snapshotOrigin;
    profile.heldBack = undefined;
    this.hooks.persist();
    this.quarantine.promote(profile.rendered?.routes ?? []);
    if (!rollout) return;
    this.lastCanary = { ...this.canaryState(profile, rollout), state: 'promoted' };
    this.logger.log('info', 'canary soak passed; snapshot promoted to every node', { profile: profile.key, generation: rollout.generation, canaries: rollout.canaries.size });
    for (const session of profile.sessions) session.onSnapshot();
    this.hooks.changed();
    this.boardNextTrain(profile);
  }

  /** Halts a rollout: the canaries go back to the stable snapshot. */
  private rollBack(profile: ProfileState, reason: string): void {
    const rollout = profile.rollout;
    if (!rollout) return;
    clearTimeout(rollout.timer);
    rollout.health?.cancel();
    this.lastCanary = { ...this.canaryState(profile, rollout), state: 'rolled-back', reason };
    this.metrics.canaryRollbacks++;
    profile.rollout = undefined;
    profile.snapshot = profile.stable;
    profile.rendered = profile.stableContext;
    profile.snapshotOrigin = profile.stableOrigin;
    this.logger.log('warn', 'canary rollout halted; canaries rolled back to the stable snapshot', { profile: profile.key, generation: rollout.generation, reason });
    for (const session of profile.sessions) session.onSnapshot();
    this.boardNextTrain(profile);
  }

  private canaryState(profile: ProfileState, rollout: Rollout): CanaryState {
    const acked = [...rollout.canaries].filter((r) => this.cache.isCurrent(r, profile.snapshot)).length;
    return { generation: rollout.generation, nodes: rollout.canaries.size, acked, startedAt: rollout.startedAt, state: rollout.state };
  }

  /** The canary of this task: a rollout under way, else how the last one ended. */
  canary(): CanaryState | undefined {
    for (const profile of this.cache.profiles.values()) if (profile.rollout) return this.canaryState(profile, profile.rollout);
    return this.lastCanary;
  }

  /** A stream of the profile opened: a candidate waiting for a canary (after a restart) rolls out to the first ADS node. */
  opened(session: Session, profile: ProfileState): void {
    if (session.record.protocol !== 'rest' && this.cache.waitingForCanary(profile) && !this.state.stopped) this.start(profile, false);
  }

  /** A node ACKed a response: moves a waiting rollout to its soak once every canary holds the candidate. */
  acked(record: NodeRecord): void {
    const profile = this.cache.profiles.get(record.profile);
    const rollout = profile?.rollout;
    if (!profile || !rollout || !rollout.canaries.has(record)) return;
    this.checkAcks(profile, rollout);
  }

  /** Moves a rollout waiting for its canaries' ACKs to its soak once every canary holds the candidate. */
  private checkAcks(profile: ProfileState, rollout: Rollout): void {
    if (rollout.state !== 'waiting-for-acks' || rollout.follows) return;
    if (![...rollout.canaries].every((r) => this.cache.isCurrent(r, profile.snapshot))) return;
    rollout.state = 'soaking';
    clearTimeout(rollout.timer);
    const soakMs = this.options.canary?.soakMs ?? 0;
    this.logger.log('info', 'every canary ACKed the candidate; soaking', { profile: profile.key, generation: rollout.generation, soakMs });
    rollout.timer = setTimeout(() => {
      if (profile.rollout !== rollout || this.state.stopped) return;
      // With a health gate, promotion also waits for every changed cluster to be healthy on the canaries.
      if (!rollout.health) this.promote(profile);
      else rollout.health.awaitHealthy(() => profile.rollout === rollout && !this.state.stopped && this.promote(profile));
    }, soakMs);
  }

  /**
   * A node NACKed a response (blame: blame.ts). The blamed changes are rejected and
   * quarantined, a rollout carrying them rolled back, and the profile re-rendered. A canary's
   * rejection no change explains is a render fault (held back). A NACK that blames nothing
   * leaves a rollout under way alone.
   */
  nacked(record: NodeRecord, message: string): void {
    if (this.state.stopped) return;
    const profile = this.cache.profiles.get(record.profile);
    if (!profile) return;
    const verdict = nackVerdict(profile, record, message);
    if (verdict.kind === 'render-fault') {
      this.renderFault(profile, `NACK from ${record.node.id}: ${message}`);
      this.hooks.changed();
      return;
    }
    this.reject(verdict.routes, 'nack', message);
    if (verdict.routes.length > 0) {
      if (profile.rollout) this.rollBack(profile, `NACK from ${record.node.id}: ${message}`);
      this.hooks.rebuild();
    }
    this.hooks.changed();
  }

  private reject(routes: readonly RouteDocument[], source: RejectedChange['source'], reason: string): void {
    for (const route of routes) {
      this.quarantine.reject(route, source, reason);
      this.logger.log('warn', 'change rejected by the proxies; quarantined (its last good generation is served)', { instanceId: route.instanceId, generation: route.generation, source, reason });
    }
  }

  /** Changes the proxies rejected (NACK, canary health), by instance; validation rejections are in the snapshots' `excluded`. */
  get rejections(): ReadonlyMap<string, RejectedChange> {
    return this.quarantine.rejections;
  }

  /**
   * A node left. A canary leaving during its rollout (a restart, a scale-in) says nothing
   * about the candidate: it is replaced by another node of the profile, which must ACK the
   * candidate (and soak it) before the rollout goes on; with no node left, nobody canaries it.
   */
  closed(session: Session, profile: ProfileState | undefined): void {
    const rollout = profile?.rollout;
    if (this.state.stopped || !profile || !rollout?.canaries.has(session.record)) return;
    rollout.canaries.delete(session.record);
    const spare = [...profile.sessions].filter((s) => s.record.protocol !== 'rest' && !rollout.canaries.has(s.record));
    const [replacement] = chooseCanaries(spare, (s) => s.record.node.id, 1);
    this.logger.log('info', replacement ? 'canary left during the rollout; replaced' : 'canary left during the rollout; no node to replace it', {
      profile: profile.key,
      generation: rollout.generation,
      left: session.record.node.id,
      replacement: replacement?.record.node.id,
    });
    if (replacement) {
      rollout.canaries.add(replacement.record);
      rollout.health?.replace(session.record.node.id, replacement.record.node.id);
      this.awaitAcks(profile, rollout);
      replacement.onSnapshot();
    } else if (rollout.canaries.size === 0) {
      this.promote(profile);
      return;
    }
    this.checkAcks(profile, rollout);
  }

  /**
   * A canary's health dropped: the candidate's changes (those of `blamed` instances, when it
   * names any that changed) are rejected and quarantined, the canaries rolled back.
   */
  private healthDrop(profile: ProfileState, reason: string, blamed?: ReadonlySet<string>): void {
    const verdict = healthVerdict(profile, blamed);
    if (verdict.kind === 'render-fault') {
      this.renderFault(profile, reason);
      this.hooks.changed();
      return;
    }
    this.reject(verdict.routes, 'canary-health', reason);
    this.rollBack(profile, reason);
    if (verdict.routes.length > 0) this.hooks.rebuild();
    this.hooks.changed();
  }

  /**
   * The canaries rejected a candidate for reasons no route change explains (a template or
   * settings fault): every node keeps the stable snapshot, no route is quarantined, the
   * profile reports the failure, and the same candidate is not rolled out again; a new
   * route generation, settings or a restart with other templates renders a new candidate.
   */
  private renderFault(profile: ProfileState, reason: string): void {
    const candidate = profile.snapshot!;
    const stable = profile.stable;
    const changed = RESOURCE_KINDS.flatMap((kind) =>
      [...candidate.types[kind].resources.values()].filter((r) => stable?.types[kind].resources.get(r.name)?.version !== r.version).map((r) => ({ kind, name: r.name, template: r.template })),
    );
    const templates = [...new Set(changed.map((r) => r.template))].join(', ');
    const resources = changed.slice(0, 5).map((r) => `${r.kind}/${r.name}`);
    if (changed.length > 5) resources.push(`${changed.length - 5} more`);
    profile.heldBack = versionsOf(candidate);
    this.metrics.renderFaultsHeldBack++;
    const message = `${RENDER_FAULT_PREFIX} with no route change to blame (a template or settings fault); every node keeps the stable snapshot until the routes, settings or templates change: ${reason}`;
    this.rollBack(profile, reason);
    profile.lastFailure = { at: new Date().toISOString(), problems: [{ template: templates, resource: resources.join(', '), field: '', message }] };
    this.logger.log('error', 'render fault: the candidate failed on the canaries with no route change to blame; held back', {
      profile: profile.key,
      generation: candidate.generation,
      templates,
      resources,
      reason,
    });
  }
}

/** How a render fault's problem message starts (report/status.ts tells it from a failed render). */
export const RENDER_FAULT_PREFIX = 'rendered config failed canary health';
