import { CanaryState, RegionPin, RejectedChange, RouteDocument, resourceBaseName } from '../../model';
import { CanarySettings, canaryCount, chooseCanaries } from './canary';
import { CanaryHealth, CanaryHealthSettings, RolloutHealth, healthTargets } from './canary-health';
import { ContextSource, PlatformSettings, RenderContext, SourceStatus, isServedIn } from './context';
import { Logger, silentLogger } from './logger';
import { Metrics } from './metrics';
import { PersistedState, SnapshotStore } from './persistence';
import { RESOURCE_KINDS, ResourceKind } from './protos';
import { EncodedResource, RenderProblem, Snapshot, SnapshotRenderer, encodeResource, typeSnapshot } from './snapshot';
import { NodeInfo, TemplateRegistry } from './templates';
import { CdnOriginSource } from './cdn-origin';
import { DiscoveryTokens } from './discovery-token';
import { upstreamTls } from './templates/common';
import { Quarantine } from './rollout/quarantine';
import { TenantRulePolicy, TenantRules } from './tenant-rules';
import { SYSTEM_TRUST_STORE, unverifiedUpstreamTls } from './upstream-tls';

/** What the control plane knows about one connected node (shown in /status). */
export interface NodeRecord {
  readonly node: NodeInfo;
  readonly protocol: 'sotw' | 'delta' | 'rest';
  readonly connectedAt: string;
  readonly profile: string;
  /** Version each type was last acknowledged at. */
  readonly acked: Partial<Record<ResourceKind, string>>;
  /** Version each type was last sent at. */
  readonly sent: Partial<Record<ResourceKind, string>>;
  lastNack?: { kind: ResourceKind; version: string; message: string; at: string };
  /** Route generation of the newest snapshot the node was seen to hold in full. */
  heldGeneration?: number;
}

/** A stream that wants to hear about new snapshots of its profile. */
export interface Session {
  readonly record: NodeRecord;
  onSnapshot(): void;
}

/** How long past the soak a rollout waits for its canaries' ACKs before it counts them unhealthy. */
export const CANARY_ACK_GRACE_MS = 30_000;

/**
 * After a restart, how long (from start) a rendered candidate that differs from the persisted
 * snapshot waits for an ADS node to reconnect and canary it. Past it, with no node connected,
 * it is promoted as any candidate with nobody to canary it.
 */
export const RESTART_CANARY_WAIT_MS = 10_000;

/** A new snapshot of a profile on its way out: served to `canaries` only until promoted. */
export interface Rollout {
  generation: number;
  /** Set on a follower of the region's leader: no canary here, promoted once the leader promoted the generation. */
  readonly follows?: string;
  /** The canaries: a canary that leaves is replaced by another node of the profile. */
  readonly canaries: Set<NodeRecord>;
  readonly startedAt: string;
  state: 'waiting-for-acks' | 'soaking';
  timer?: NodeJS.Timeout;
  /** The canaries' health of the changed clusters over HDS (undefined: not health-gated). */
  health?: RolloutHealth;
}

export interface ProfileState {
  readonly key: string;
  readonly node: NodeInfo;
  readonly renderer: SnapshotRenderer;
  /** The newest good snapshot: the candidate while a rollout is under way. */
  snapshot?: Snapshot;
  /** The context `snapshot` was rendered from. */
  rendered?: RenderContext;
  /** What every node outside a rollout's canaries is served (the promoted snapshot, or the persisted one after a restart). */
  stable?: Snapshot;
  stableContext?: RenderContext;
  stableOrigin?: 'rendered' | 'persisted';
  rollout?: Rollout;
  snapshotOrigin?: 'rendered' | 'persisted';
  lastFailure?: { at: string; problems: readonly RenderProblem[] };
  /**
   * The versions of a candidate halted on the canaries with no route change to blame (a
   * template or settings fault): rendering the same candidate again does not roll it out again.
   */
  heldBack?: Readonly<Record<ResourceKind, string>>;
  /** Ends the wait of a candidate for a canary after a restart (see RESTART_CANARY_WAIT_MS). */
  canaryWait?: NodeJS.Timeout;
  /**
   * Set when the context changed while a rollout was under way: the rollout keeps its fixed
   * candidate, and the changes board the next train (rendered when the rollout ends).
   */
  nextTrain?: boolean;
  /** When a node last used the profile (connected, left or polled): idle profiles are dropped. */
  lastUsedAt: number;
  readonly sessions: Set<Session>;
}

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

/** A profile no node has used for this long is dropped (rendered again if a node of it comes back). */
export const PROFILE_IDLE_MS = 5 * 60_000;
/** Past this many profiles, the idle ones are dropped first, longest idle first. */
export const MAX_PROFILES = 64;

export interface ControlPlaneOptions {
  readonly region: string;
  /** The discovery token, when it never changes (else `discoveryTokens`). */
  readonly authToken?: string;
  /** The accepted discovery tokens, re-read (discovery-token.ts); default: `authToken` alone. */
  readonly discoveryTokens?: DiscoveryTokens;
  /** Settings before any source overrides them. */
  readonly settings: PlatformSettings;
  /** The first source is primary (the broker's routes): nothing renders from sources until it has loaded. */
  readonly sources: readonly ContextSource[];
  readonly store?: SnapshotStore;
  readonly registry?: TemplateRegistry;
  readonly logger?: Logger;
  readonly persistDebounceMs?: number;
  /** Canary rollout of new snapshots (unset or fraction 0: every node gets a new snapshot at once). */
  readonly canary?: CanarySettings;
  /** Canary health over HDS (unset: off). */
  readonly canaryHealth?: CanaryHealthSettings;
  /** Default RESTART_CANARY_WAIT_MS. */
  readonly restartCanaryWaitMs?: number;
  /** Default PROFILE_IDLE_MS. */
  readonly profileIdleMs?: number;
  /** Default MAX_PROFILES. */
  readonly maxProfiles?: number;
  /** The cdn origin secret (cdn-origin.ts), also one of `sources`; unset: cdn hosts refuse every request. */
  readonly cdnOrigin?: CdnOriginSource;
  /** The tenant rules' fleet CIDRs and loopback waiver (tenant-rules.ts; default: no fleet CIDRs, loopback refused). */
  readonly tenantRules?: Pick<TenantRulePolicy, 'fleetCidrs' | 'allowLoopbackBackends'>;
}

interface SourceState {
  ok: boolean;
  lastSuccessAt?: number;
  lastAttemptAt?: number;
  lastError?: string;
}

/**
 * The core: keeps the context from its sources, renders a validated snapshot per node
 * profile, tells connected sessions when their snapshot changes, persists the last good
 * state and reports fleet status.
 */
/** How long stop() waits for source refreshes under way. */
const REFRESH_STOP_WAIT_MS = 5000;

export class ControlPlane {
  readonly metrics = new Metrics();
  readonly registry: TemplateRegistry;
  readonly logger: Logger;
  readonly profiles = new Map<string, ProfileState>();
  readonly sessions = new Set<Session>();
  private context?: RenderContext;
  private contextOrigin?: 'sources' | 'persisted';
  private readonly sourceStates = new Map<string, SourceState>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Source refreshes under way; stop() waits for them so that nothing reads a closed client. */
  private readonly refreshing = new Set<Promise<boolean>>();
  private rebuildScheduled = false;
  private stopped = false;
  private startedAt = Date.now();
  private persistTimer?: NodeJS.Timeout;
  private persisting: Promise<void> = Promise.resolve();
  private readonly reportedExclusions = new Set<string>();
  lastRender?: { at: string; ms: number; ok: boolean };
  /** Rejected changes and what is served instead (rollout/quarantine.ts). */
  private readonly quarantine = new Quarantine();
  /** How the last canary rollout ended (shown until the next starts). */
  lastCanary?: CanaryState;
  /** The region's rollout as the reports last showed it (unset: this task decides alone). */
  private region_?: RegionRollout;
  private readonly changeListeners = new Set<() => void>();
  /** HDS streams of the nodes and the health gates of rollouts (see canary-health.ts). */
  readonly canaryHealth: CanaryHealth;
  /** The broker's rules again on every render, whatever the source (tenant-rules.ts). */
  readonly tenantRules: TenantRules;
  /** The discovery tokens nodes may present: current and previous (discovery-token.ts). */
  readonly tokens: DiscoveryTokens;

  constructor(readonly options: ControlPlaneOptions) {
    this.registry = options.registry ?? new TemplateRegistry();
    this.logger = options.logger ?? silentLogger;
    this.canaryHealth = new CanaryHealth(options.canaryHealth ?? { mode: 'off', timeoutMs: 60_000 }, this.logger);
    if (!options.discoveryTokens && !options.authToken) throw new Error('control plane: authToken or discoveryTokens is required');
    this.tokens = options.discoveryTokens ?? DiscoveryTokens.fixed(options.authToken!, this.logger);
    this.tenantRules = new TenantRules(
      { domain: options.settings.domain, region: options.region, fleetCidrs: options.tenantRules?.fleetCidrs ?? [], allowLoopbackBackends: options.tenantRules?.allowLoopbackBackends ?? false },
      this.logger,
    );
    for (const source of options.sources) this.sourceStates.set(source.name, { ok: false });
  }

  get region(): string {
    return this.options.region;
  }


  /** Loads the persisted snapshot (if any), then starts every source's refresh loop. */
  async start(): Promise<void> {
    this.startedAt = Date.now();
    if (this.options.store) {
      try {
        const state = await this.options.store.load();
        if (state) this.restore(state);
      } catch (err) {
        this.logger.log('warn', 'could not load the persisted snapshot', { store: this.options.store.description, error: (err as Error).message });
      }
    }
    for (const source of this.options.sources) void this.refreshLoop(source);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const profile of this.profiles.values()) {
      clearTimeout(profile.rollout?.timer);
      clearTimeout(profile.canaryWait);
      profile.rollout?.health?.cancel();
    }
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.persistTimer) {
      clearTimeout(this.persistTimer);
      this.persistTimer = undefined;
      this.persist();
    }
    // Bounded: a source stuck on a hanging request must not hold a SIGTERM stop forever.
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.refreshing]), new Promise((resolve) => (waited = setTimeout(resolve, REFRESH_STOP_WAIT_MS)))]);
    clearTimeout(waited);
    await this.persisting;
  }

  /** The operator pin of this region, as the primary (routes) source last read it. */
  pinned(): RegionPin | undefined {
    return this.options.sources[0]?.pinned?.();
  }

  /** Ready once any snapshot can be served (rendered, or loaded from the persisted one). */
  ready(): boolean {
    return this.context !== undefined;
  }

  private async refreshLoop(source: ContextSource): Promise<void> {
    if (this.stopped) return;
    const state = this.sourceStates.get(source.name)!;
    state.lastAttemptAt = Date.now();
    try {
      const refresh = source.refresh();
      this.refreshing.add(refresh);
      const changed = await refresh.finally(() => this.refreshing.delete(refresh));
      state.ok = true;
      state.lastSuccessAt = Date.now();
      state.lastError = undefined;
      if (changed || !this.context || this.contextOrigin === 'persisted') this.scheduleRebuild();
    } catch (err) {
      state.ok = false;
      state.lastError = (err as Error).message;
      this.metrics.sourceFailures.set(source.name, (this.metrics.sourceFailures.get(source.name) ?? 0) + 1);
      this.logger.log('warn', 'context source refresh failed; keeping the last good context', { source: source.name, error: state.lastError });
    }
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.refreshLoop(source);
    }, source.intervalMs);
    this.timers.add(timer);
  }

  /** Coalesces source changes that land together into one render. */
  scheduleRebuild(): void {
    if (this.rebuildScheduled) return;
    this.rebuildScheduled = true;
    setImmediate(() => {
      this.rebuildScheduled = false;
      if (!this.stopped) this.rebuild();
    });
  }

  private buildContext(): RenderContext | undefined {
    const [primary, ...others] = this.options.sources;
    if (primary && !primary.loaded) return undefined;
    let settings: PlatformSettings = { ...this.options.settings };
    const routes = new Map<string, RouteDocument>();
    for (const source of [...others].reverse()) {
      if (!source.loaded) continue;
      settings = { ...settings, ...source.settings() };
    }
    for (const source of others) for (const route of source.routes()) routes.set(route.instanceId, route);
    if (primary) for (const route of primary.routes()) routes.set(route.instanceId, route);
    const served = [...routes.values()].filter((r) => isServedIn(r, this.region)).sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
    const generation = Math.max(0, ...this.options.sources.map((source) => source.generation?.() ?? 0));
    return { settings, routes: this.quarantine.apply(this.tenantRules.admit(served)), generation, cdnOrigin: this.options.cdnOrigin?.origin() };
  }

  /**
   * Drops the profiles no node has used for PROFILE_IDLE_MS, and, to make room for `adding`
   * more within MAX_PROFILES, the longest idle ones (a profile with a node connected is kept).
   */
  private dropIdleProfiles(adding = 0): void {
    const now = Date.now();
    const idle = [...this.profiles.values()].filter((p) => p.sessions.size === 0 && !p.rollout).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    let excess = this.profiles.size + adding - (this.options.maxProfiles ?? MAX_PROFILES);
    for (const profile of idle) {
      if (excess <= 0 && now - profile.lastUsedAt < (this.options.profileIdleMs ?? PROFILE_IDLE_MS)) continue;
      clearTimeout(profile.canaryWait);
      this.profiles.delete(profile.key);
      excess--;
      this.logger.log('info', 'idle profile dropped', { profile: profile.key, idleSeconds: Math.round((now - profile.lastUsedAt) / 1000) });
    }
  }

  /** Re-renders every known profile from the sources' current context. */
  rebuild(): void {
    const context = this.buildContext();
    if (!context) return;
    this.dropIdleProfiles();
    this.context = context;
    this.contextOrigin = 'sources';
    let anyOk = false;
    for (const profile of this.profiles.values()) if (this.renderProfile(profile)) anyOk = true;
    if (anyOk) this.schedulePersist();
  }

  /** Renders one profile; on failure the profile keeps its last good snapshot. */
  private renderProfile(profile: ProfileState): boolean {
    if (!this.context) return false;
    if (profile.rollout) {
      // A rollout runs to its end on its fixed candidate; what changed meanwhile boards the next train.
      profile.nextTrain = true;
      return true;
    }
    profile.nextTrain = false;
    profile.renderer.prune(this.context);
    const outcome = profile.renderer.render(this.context, profile.snapshot);
    this.metrics.renders++;
    this.metrics.lastRenderMs = outcome.renderMs;
    this.metrics.renderMsTotal += outcome.renderMs;
    this.lastRender = { at: new Date().toISOString(), ms: Math.round(outcome.renderMs * 10) / 10, ok: outcome.ok };
    if (!outcome.ok) {
      this.metrics.renderFailures++;
      profile.lastFailure = { at: new Date().toISOString(), problems: outcome.problems };
      this.logger.log('error', 'render rejected by validation; nodes keep their last good snapshot', {
        profile: profile.key,
        problems: outcome.problems.slice(0, 20),
      });
      return false;
    }
    const snapshot = outcome.snapshot;
    for (const ex of snapshot.excluded) {
      const key = `${profile.key}|${ex.instanceId}|${ex.generation}`;
      if (this.reportedExclusions.has(key)) continue;
      this.reportedExclusions.add(key);
      this.logger.log('error', 'instance excluded: its resources failed validation; the rest of the snapshot is served', {
        profile: profile.key,
        instanceId: ex.instanceId,
        generation: ex.generation,
        problems: ex.problems.slice(0, 10),
      });
    }
    // The candidate a canary halted for a template fault, rendered again from the same context: not retried
    // (while nothing else is on its way out; a newer candidate then is replaced by it and canaried as usual).
    if (profile.heldBack && profile.snapshot === profile.stable && sameVersions(snapshot, profile.heldBack)) return true;
    const unchanged = profile.snapshot && sameVersions(snapshot, versionsOf(profile.snapshot));
    const waiting = this.waitingForCanary(profile);
    profile.lastFailure = undefined;
    if (unchanged && profile.snapshotOrigin === 'rendered') {
      // Nothing to push; keep the shared encodings, refresh what is reported.
      profile.snapshot = { ...profile.snapshot!, excluded: snapshot.excluded, warnings: snapshot.warnings, generation: snapshot.generation };
      profile.rendered = this.context;
      if (!waiting) this.promote(profile);
      return true;
    }
    // The first snapshot of a profile; after a restart the persisted snapshot is the stable one.
    const first = profile.stable === undefined;
    profile.snapshot = snapshot;
    profile.rendered = this.context;
    profile.snapshotOrigin = 'rendered';
    this.logger.log('info', 'snapshot rendered', {
      profile: profile.key,
      seq: snapshot.seq,
      ms: Math.round(outcome.renderMs),
      versions: Object.fromEntries(RESOURCE_KINDS.map((k) => [k, snapshot.types[k].version])),
      routes: this.context.routes.length,
      excluded: snapshot.excluded.length,
    });
    this.rollOut(profile, first);
    for (const session of profile.sessions) session.onSnapshot();
    this.changed();
    return true;
  }

  /**
   * Starts the canary rollout of a profile's new snapshot (a train). Promoted at once: the
   * first snapshot, a snapshot equal to the stable one, canary off, or no ADS node connected.
   * No newer snapshot replaces the candidate of a rollout under way (renderProfile defers it
   * to the next train).
   */
  private rollOut(profile: ProfileState, first: boolean): void {
    const candidate = profile.snapshot!;
    const nodes = [...profile.sessions].map((s) => s.record).filter((r) => r.protocol !== 'rest');
    // One canary subset per region: the leader's share is the fraction of the region's nodes.
    const count = Math.min(nodes.length, canaryCount(Math.max(nodes.length, this.region_?.regionNodes ?? 0), this.options.canary?.fraction ?? 0));
    const same = profile.stable !== undefined && sameVersions(candidate, versionsOf(profile.stable));
    const waitMs = this.startedAt + (this.options.restartCanaryWaitMs ?? RESTART_CANARY_WAIT_MS) - Date.now();
    if (!first && !same && count === 0 && profile.stableOrigin === 'persisted' && (this.options.canary?.fraction ?? 0) > 0 && waitMs > 0) {
      // After a restart the nodes reconnect after the first render: the candidate waits for
      // the first of them to be its canary (attach()); until then every node gets the persisted snapshot.
      clearTimeout(profile.rollout?.timer);
      profile.rollout?.health?.cancel();
      profile.rollout = undefined;
      profile.canaryWait ??= setTimeout(() => {
        profile.canaryWait = undefined;
        if (this.stopped || !this.waitingForCanary(profile)) return;
        this.rollOut(profile, false);
        for (const session of profile.sessions) session.onSnapshot();
        this.changed();
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
    if (this.region_ && !this.region_.leader) {
      // A follower: the region's leader canaries the change; this task promotes once the leader did.
      profile.rollout = { generation: candidate.generation, follows: this.region_.leaderTaskId, canaries: new Set(), startedAt: new Date().toISOString(), state: 'waiting-for-acks' };
      this.lastCanary = undefined;
      this.logger.log('info', "candidate waits for the region leader's canary", { profile: profile.key, generation: candidate.generation, leader: this.region_.leaderTaskId });
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
        if (profile.rollout === rollout && !this.stopped) this.healthDrop(profile, reason, instanceIds);
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
      if (profile.rollout === rollout && rollout.state === 'waiting-for-acks' && !this.stopped) {
        const silent = [...rollout.canaries].filter((r) => !this.isCurrent(r, profile.snapshot)).map((r) => r.node.id);
        this.healthDrop(profile, `canary proxies did not ACK the candidate within ${ackTimeoutMs / 1000} s: ${silent.slice(0, 5).join(', ')}`);
      }
    }, ackTimeoutMs);
  }

  /** This task's part in the region's rollouts, for its report. */
  regionRole(): { role: 'leader' | 'follower'; leader: string } | undefined {
    return this.region_ ? { role: this.region_.leader ? 'leader' : 'follower', leader: this.region_.leaderTaskId } : undefined;
  }

  /**
   * Takes the region's rollout as the reports show it. A follower quarantines the changes the
   * leader's canaries rejected, and promotes the candidates the leader has promoted; a task
   * that becomes leader canaries its pending candidate itself.
   */
  followRegion(view: RegionRollout): void {
    if (this.stopped) return;
    this.region_ = view;
    let rejected = false;
    if (!view.leader) {
      const routes = new Map((this.context?.routes ?? []).map((r) => [r.instanceId, r]));
      for (const [id, change] of Object.entries(view.leaderRejected)) {
        if (change.source === 'validation') continue;
        const route = routes.get(id);
        const mine = this.rejections.get(id);
        if (!route || route.generation !== change.generation || (mine && mine.generation === change.generation)) continue;
        this.reject([route], change.source, `${change.reason} (on the canary of task ${view.leaderTaskId})`);
        rejected = true;
      }
    }
    for (const profile of this.profiles.values()) {
      const rollout = profile.rollout;
      if (!rollout?.follows) continue;
      if (view.leader || rollout.follows !== view.leaderTaskId || rejected) {
        // Rendered again at once (as the next train), canaried here or following the new leader.
        profile.nextTrain = true;
        this.rollBack(profile, view.leader ? 'this task now leads the region' : 'the region leader changed or rejected a change');
      } else this.followLeader(profile);
    }
    if (rejected) this.rebuild();
    this.changed();
  }

  /** Promotes a follower's candidate once the leader's stable generation reached it. */
  private followLeader(profile: ProfileState): void {
    const rollout = profile.rollout;
    if (!rollout?.follows || !this.region_ || this.region_.leaderStable < rollout.generation) return;
    this.logger.log('info', 'the region leader promoted the generation; promoted here too', { profile: profile.key, generation: rollout.generation, leader: rollout.follows });
    this.promote(profile);
  }

  /** Renders the changes that boarded the next train once the rollout before them has ended. */
  private boardNextTrain(profile: ProfileState): void {
    if (!profile.nextTrain) return;
    setImmediate(() => {
      if (this.stopped || profile.rollout || !profile.nextTrain || !this.context) return;
      if (this.renderProfile(profile)) this.schedulePersist();
    });
  }

  /** Makes the profile's newest snapshot the one every node is served. */
  private promote(profile: ProfileState): void {
    const rollout = profile.rollout;
    clearTimeout(rollout?.timer);
    rollout?.health?.cancel();
    profile.rollout = undefined;
    profile.stable = profile.snapshot;
    profile.stableContext = profile.rendered;
    profile.stableOrigin = profile.snapshotOrigin;
    profile.heldBack = undefined;
    this.schedulePersist();
    this.quarantine.promote(profile.rendered?.routes ?? []);
    if (!rollout) return;
    this.lastCanary = { ...this.canaryState(profile, rollout), state: 'promoted' };
    this.logger.log('info', 'canary soak passed; snapshot promoted to every node', { profile: profile.key, generation: rollout.generation, canaries: rollout.canaries.size });
    for (const session of profile.sessions) session.onSnapshot();
    this.changed();
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
    const acked = [...rollout.canaries].filter((r) => this.isCurrent(r, profile.snapshot)).length;
    return { generation: rollout.generation, nodes: rollout.canaries.size, acked, startedAt: rollout.startedAt, state: rollout.state };
  }

  /** The canary of this task: a rollout under way, else how the last one ended. */
  canary(): CanaryState | undefined {
    for (const profile of this.profiles.values()) if (profile.rollout) return this.canaryState(profile, profile.rollout);
    return this.lastCanary;
  }

  /** The snapshot a node is served: the candidate for a canary, else the stable one (the newest when there is none yet). */
  servedSnapshot(record: NodeRecord): Snapshot | undefined {
    const profile = this.profiles.get(record.profile);
    if (!profile) return undefined;
    if (profile.rollout?.canaries.has(record)) return profile.snapshot;
    return profile.stable ?? profile.snapshot;
  }

  /** The snapshot pollers (REST) and non-canaries get. */
  stableSnapshot(profile: ProfileState): Snapshot | undefined {
    return profile.stable ?? profile.snapshot;
  }

  /**
   * The route generation a node holds: that of the stable snapshot once the node ACKed it
   * in full (a canary holding only the candidate keeps its older generation until promotion).
   */
  heldGeneration(record: NodeRecord): number | undefined {
    const profile = this.profiles.get(record.profile);
    const stable = profile && this.stableSnapshot(profile);
    if (stable && this.isCurrent(record, stable)) record.heldGeneration = stable.generation;
    return record.heldGeneration;
  }

  /** A node ACKed a response: moves a waiting rollout to its soak once every canary holds the candidate. */
  acknowledged(record: NodeRecord): void {
    this.heldGeneration(record);
    this.changed();
    const profile = this.profiles.get(record.profile);
    const rollout = profile?.rollout;
    if (!profile || !rollout || !rollout.canaries.has(record)) return;
    this.checkAcks(profile, rollout);
  }

  /** Moves a rollout waiting for its canaries' ACKs to its soak once every canary holds the candidate. */
  private checkAcks(profile: ProfileState, rollout: Rollout): void {
    if (rollout.state !== 'waiting-for-acks' || rollout.follows) return;
    if (![...rollout.canaries].every((r) => this.isCurrent(r, profile.snapshot))) return;
    rollout.state = 'soaking';
    clearTimeout(rollout.timer);
    const soakMs = this.options.canary?.soakMs ?? 0;
    this.logger.log('info', 'every canary ACKed the candidate; soaking', { profile: profile.key, generation: rollout.generation, soakMs });
    rollout.timer = setTimeout(() => {
      if (profile.rollout !== rollout || this.stopped) return;
      // With a health gate, promotion also waits for every changed cluster to be healthy on the canaries.
      if (!rollout.health) this.promote(profile);
      else rollout.health.awaitHealthy(() => profile.rollout === rollout && !this.stopped && this.promote(profile));
    }, soakMs);
  }

  /**
   * A node NACKed a response. Blame is per resource: the changed instances the error_detail
   * names; else the owners of the resources of the rejected type that changed in what the node
   * was sent. A canary's rejection no changed instance explains is a render fault (held back).
   * The blamed changes are rejected and quarantined, a rollout carrying them rolled back, and
   * the profile re-rendered. A NACK that blames nothing (a node that never held a snapshot in
   * full rejecting what the fleet runs: the node's problem) leaves a rollout under way alone.
   */
  nacked(record: NodeRecord, message: string): void {
    if (this.stopped) return;
    const profile = this.profiles.get(record.profile);
    if (!profile) return;
    const canary = profile.rollout?.canaries.has(record) ?? false;
    const held = record.heldGeneration;
    const context = canary ? profile.rendered : (profile.stableContext ?? profile.rendered);
    const stableGenerations = new Map((profile.stableContext?.routes ?? []).map((r) => [r.instanceId, r.generation]));
    const candidates = (context?.routes ?? []).filter((r) => (canary ? stableGenerations.get(r.instanceId) !== r.generation : held === undefined || r.generation > held));
    const named = candidates.filter((r) => new RegExp(`${resourceBaseName(r.instanceId)}(?![a-z0-9])`).test(message));
    let blamed: RouteDocument[];
    if (canary) {
      const kind = record.lastNack?.kind;
      const owners = new Set<string>();
      if (kind && profile.snapshot) {
        for (const res of profile.snapshot.types[kind].resources.values())
          if (profile.stable?.types[kind].resources.get(res.name)?.version !== res.version) for (const id of res.instanceIds) owners.add(id);
      }
      blamed = named.length > 0 ? named : candidates.filter((r) => owners.has(r.instanceId));
      if (profile.rollout && blamed.length === 0) {
        this.renderFault(profile, `NACK from ${record.node.id}: ${message}`);
        this.changed();
        return;
      }
    } else {
      blamed = held === undefined ? [] : named.length > 0 ? named : candidates;
    }
    this.reject(blamed, 'nack', message);
    if (blamed.length > 0) {
      if (profile.rollout) this.rollBack(profile, `NACK from ${record.node.id}: ${message}`);
      this.rebuild();
    }
    this.changed();
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

  /** Calls `listener` whenever what the convergence report says may have changed. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.changeListeners) listener();
  }

  /** The profile of a node, created (and rendered) on first use. */
  profileFor(node: NodeInfo): ProfileState {
    const key = this.registry.profileOf(node);
    let profile = this.profiles.get(key);
    if (profile) profile.lastUsedAt = Date.now();
    if (!profile) {
      this.dropIdleProfiles(1);
      profile = { key, node, renderer: new SnapshotRenderer(this.registry, key, node), sessions: new Set(), lastUsedAt: Date.now() };
      this.profiles.set(key, profile);
      if (this.context) {
        this.renderProfile(profile);
        this.schedulePersist();
      }
    }
    return profile;
  }

  attach(session: Session, profile: ProfileState): void {
    this.sessions.add(session);
    profile.sessions.add(session);
    profile.lastUsedAt = Date.now();
    // A candidate waiting for a canary (after a restart) rolls out to the first ADS node to connect.
    if (session.record.protocol !== 'rest' && this.waitingForCanary(profile) && !this.stopped) this.rollOut(profile, false);
    this.changed();
  }

  /** Whether the profile has a candidate that is neither promoted nor under a rollout (waiting for a node to canary it). */
  private waitingForCanary(profile: ProfileState): boolean {
    return !profile.rollout && profile.stable !== undefined && profile.snapshot !== undefined && profile.snapshot !== profile.stable;
  }

  /**
   * A node left. A canary leaving during its rollout (a restart, a scale-in) says nothing
   * about the candidate: it is replaced by another node of the profile, which must ACK the
   * candidate (and soak it) before the rollout goes on; with no node left, nobody canaries it.
   */
  detach(session: Session): void {
    this.sessions.delete(session);
    const profile = this.profiles.get(session.record.profile);
    profile?.sessions.delete(session);
    if (profile) profile.lastUsedAt = Date.now();
    this.changed();
    const rollout = profile?.rollout;
    if (this.stopped || !profile || !rollout?.canaries.has(session.record)) return;
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
    const stableGenerations = new Map((profile.stableContext?.routes ?? []).map((r) => [r.instanceId, r.generation]));
    const routes = profile.rendered?.routes ?? [];
    const all = routes.filter((r) => stableGenerations.get(r.instanceId) !== r.generation);
    // Unhealthy clusters of instances whose route did not change (or no route change at all): the render is at fault.
    if (all.length === 0 || routes.some((r) => blamed?.has(r.instanceId) && stableGenerations.get(r.instanceId) === r.generation)) {
      this.renderFault(profile, reason);
      this.changed();
      return;
    }
    const named = blamed ? all.filter((r) => blamed.has(r.instanceId)) : [];
    const changed = named.length > 0 ? named : all;
    this.reject(changed, 'canary-health', reason);
    this.rollBack(profile, reason);
    if (changed.length > 0) this.rebuild();
    this.changed();
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
    const message = `rendered config failed canary health with no route change to blame (a template or settings fault); every node keeps the stable snapshot until the routes, settings or templates change: ${reason}`;
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

  private schedulePersist(): void {
    if (!this.options.store || this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      this.persist();
    }, this.options.persistDebounceMs ?? 1000);
  }

  private persist(): void {
    const store = this.options.store;
    if (!store || !this.context) return;
    const state = this.persistedState();
    this.persisting = this.persisting
      .then(() => store.save(state))
      .catch((err: Error) => this.logger.log('warn', 'could not persist the last good snapshot', { store: store.description, error: err.message }));
  }

  /**
   * The last good state: each profile's stable snapshot (never a candidate under canary) and
   * the context it was rendered from (the oldest of the profiles' stable contexts, so that a
   * change not yet promoted everywhere still counts as a change after a restart).
   */
  persistedState(): PersistedState & { nodes: Record<string, NodeInfo> } {
    const profiles: Record<string, Record<ResourceKind, Array<{ name: string; template: string; instanceIds: readonly string[]; json: Record<string, unknown> }>>> = {};
    const nodes: Record<string, NodeInfo> = {};
    let context: RenderContext | undefined;
    for (const profile of this.profiles.values()) {
      const snapshot = profile.stable ?? profile.snapshot;
      if (!snapshot) continue;
      const rendered = profile.stable ? profile.stableContext : profile.rendered;
      if (rendered && (!context || (rendered.generation ?? 0) < (context.generation ?? 0))) context = rendered;
      nodes[profile.key] = { ...profile.node, id: 'persisted' };
      profiles[profile.key] = Object.fromEntries(
        RESOURCE_KINDS.map((kind) => [kind, [...snapshot.types[kind].resources.values()].map((r) => ({ name: r.name, template: r.template, instanceIds: r.instanceIds, json: r.json }))]),
      ) as Record<ResourceKind, Array<{ name: string; template: string; instanceIds: readonly string[]; json: Record<string, unknown> }>>;
    }
    context ??= this.context!;
    return {
      format: 1,
      savedAt: new Date().toISOString(),
      region: this.region,
      context: { settings: context.settings, routes: context.routes, generation: context.generation },
      profiles,
      nodes,
    };
  }

  /** Serves the persisted snapshot until the sources answer. */
  private restore(state: PersistedState & { nodes?: Record<string, NodeInfo> }): void {
    if (state.region !== this.region) {
      this.logger.log('warn', 'persisted snapshot is for another region; ignored', { region: state.region });
      return;
    }
    this.context = { settings: state.context.settings, routes: state.context.routes, generation: state.context.generation };
    this.contextOrigin = 'persisted';
    for (const [key, kinds] of Object.entries(state.profiles)) {
      const node = state.nodes?.[key];
      if (!node) continue;
      const types = {} as Record<ResourceKind, ReturnType<typeof typeSnapshot>>;
      for (const kind of RESOURCE_KINDS) {
        const resources = new Map<string, EncodedResource>();
        for (const r of kinds[kind] ?? []) resources.set(r.name, encodeResource(kind, r.name, r.json, r.template, r.instanceIds));
        types[kind] = typeSnapshot(kind, resources);
      }
      const profile: ProfileState = { key, node, renderer: new SnapshotRenderer(this.registry, key, node), sessions: new Set(), snapshotOrigin: 'persisted', lastUsedAt: Date.now() };
      profile.snapshot = { profile: key, seq: 0, createdAt: state.savedAt, generation: state.context.generation ?? 0, types, excluded: [], warnings: [] };
      // The persisted snapshot is the stable one: the first render after the restart is a canary rollout against it.
      profile.stable = profile.snapshot;
      profile.stableContext = this.context;
      profile.stableOrigin = 'persisted';
      profile.renderer.remember(state.context.routes);
      this.profiles.set(key, profile);
    }
    // A change quarantined after the restart falls back to its persisted generation.
    this.quarantine.remember(state.context.routes);
    this.logger.log('info', 'serving the persisted last good snapshot until the sources answer', { savedAt: state.savedAt, profiles: this.profiles.size });
  }

  sourceStatuses(): SourceStatus[] {
    const now = Date.now();
    return this.options.sources.map((source) => {
      const state = this.sourceStates.get(source.name)!;
      return {
        name: source.name,
        ok: state.ok,
        lastSuccessAt: state.lastSuccessAt ? new Date(state.lastSuccessAt).toISOString() : undefined,
        lastAttemptAt: state.lastAttemptAt ? new Date(state.lastAttemptAt).toISOString() : undefined,
        lastError: state.lastError,
        items: source.routes().length,
        stalenessSeconds: state.lastSuccessAt ? Math.round((now - state.lastSuccessAt) / 100) / 10 : -1,
      };
    });
  }

  /**
   * The render state as two gauges (Edge/ControlPlane ProfilesRenderFailing and
   * ProfilesHeldBack, published every interval by emf.ts):
   * - profilesRenderFailing: profiles whose latest render failed validation as a whole; their
   *   nodes keep the last good snapshot (or get none, if the profile never rendered);
   * - profilesHeldBack: profiles held on their stable snapshot because the canaries rejected a
   *   candidate no route change explains (a template or settings fault), until one is promoted.
   * A state, so an alarm on it stays in ALARM exactly as long as the region is affected.
   */
  renderStateGauges(): { profilesRenderFailing: number; profilesHeldBack: number } {
    let profilesRenderFailing = 0;
    let profilesHeldBack = 0;
    for (const profile of this.profiles.values()) {
      if (profile.heldBack) profilesHeldBack++;
      // renderFault() records its own lastFailure (one problem with this message): that is the held-back state, not a failed render.
      const fault = profile.heldBack !== undefined && profile.lastFailure?.problems.length === 1 && profile.lastFailure.problems[0].message.startsWith('rendered config failed canary health');
      if (profile.lastFailure && !fault) profilesRenderFailing++;
    }
    return { profilesRenderFailing, profilesHeldBack };
  }

  metricsText(): string {
    const excluded = new Set<string>();
    for (const p of this.profiles.values()) for (const e of p.snapshot?.excluded ?? []) excluded.add(e.instanceId);
    for (const e of this.tenantRules.excluded()) excluded.add(e.instanceId);
    return this.metrics.render({
      connectedNodes: this.sessions.size,
      sourceStaleness: this.sourceStatuses().map((s) => ({ name: s.name, seconds: s.stalenessSeconds })),
      excludedInstances: excluded.size,
    }) + this.tenantRules.metricsText();
  }

  /** Whether a node has acknowledged every type it was sent at its profile's current versions. */
  isCurrent(record: NodeRecord, snapshot: Snapshot | undefined = this.servedSnapshot(record)): boolean {
    const kinds = Object.keys(record.sent) as ResourceKind[];
    return (
      snapshot !== undefined &&
      kinds.length > 0 &&
      kinds.every((k) => record.acked[k] === snapshot.types[k].version || (k === 'clusters' && record.acked[k] === snapshot.transitionalClusters?.version))
    );
  }

  /** The context generation (what a node that is current holds). */
  contextGeneration(): number {
    return this.context?.generation ?? 0;
  }

  currentContext(): RenderContext | undefined {
    return this.context;
  }

  /** Fleet status: convergence per region, rejections with their error_detail, sources, render state. */
  status(options: { listNodes?: number } = {}): Record<string, unknown> {
    const regions = new Map<string, { nodes: number; current: number; behind: string[]; rejected: unknown[] }>();
    const listed: unknown[] = [];
    const limit = options.listNodes ?? 200;
    for (const session of this.sessions) {
      const record = session.record;
      const region = regions.get(record.node.region) ?? { nodes: 0, current: 0, behind: [], rejected: [] };
      regions.set(record.node.region, region);
      region.nodes++;
      const current = this.isCurrent(record);
      if (current) region.current++;
      else if (region.behind.length < 50) region.behind.push(record.node.id);
      if (record.lastNack && region.rejected.length < 50) region.rejected.push({ node: record.node.id, type: record.lastNack.kind, version: record.lastNack.version, error: record.lastNack.message, at: record.lastNack.at });
      if (listed.length < limit)
        listed.push({
          id: record.node.id,
          cluster: record.node.cluster,
          region: record.node.region,
          zone: record.node.zone,
          userAgent: record.node.userAgentName,
          version: record.node.version ? `${record.node.version.major}.${record.node.version.minor}.${record.node.version.patch}` : undefined,
          protocol: record.protocol,
          connectedAt: record.connectedAt,
          profile: record.profile,
          acked: record.acked,
          lastNack: record.lastNack,
        });
    }
    return {
      region: this.region,
      ready: this.ready(),
      contextOrigin: this.contextOrigin ?? null,
      pinned: this.pinned() ?? null,
      routes: this.context?.routes.length ?? 0,
      sources: this.sourceStatuses(),
      lastRender: this.lastRender ?? null,
      profiles: [...this.profiles.values()].map((p) => ({
        profile: p.key,
        origin: p.snapshotOrigin ?? null,
        createdAt: p.snapshot?.createdAt ?? null,
        versions: p.snapshot ? Object.fromEntries(RESOURCE_KINDS.map((k) => [k, p.snapshot!.types[k].version])) : null,
        resources: p.snapshot ? Object.fromEntries(RESOURCE_KINDS.map((k) => [k, p.snapshot!.types[k].resources.size])) : null,
        nodes: p.sessions.size,
        lastFailure: p.lastFailure ?? null,
        excluded: p.snapshot?.excluded ?? [],
        warnings: p.snapshot?.warnings ?? [],
      })),
      convergence: Object.fromEntries(regions),
      canary: this.canary() ?? null,
      canarySettings: this.options.canary ?? { fraction: 0, soakMs: 0 },
      canaryHealth: this.canaryHealth.status(),
      rejected: Object.fromEntries(this.rejections),
      tenantRules: this.tenantRules.status(),
      discoveryToken: this.tokens.status(),
      upstreamTls: { trustStore: SYSTEM_TRUST_STORE, unverified: unverifiedUpstreamTls(this.context?.routes ?? [], upstreamTls) },
      connectedNodes: this.sessions.size,
      nodes: listed,
    };
  }
}

function versionsOf(snapshot: Snapshot): Record<ResourceKind, string> {
  return Object.fromEntries(RESOURCE_KINDS.map((k) => [k, snapshot.types[k].version])) as Record<ResourceKind, string>;
}

function sameVersions(snapshot: Snapshot, versions: Readonly<Record<ResourceKind, string>>): boolean {
  return RESOURCE_KINDS.every((k) => snapshot.types[k].version === versions[k]);
}
