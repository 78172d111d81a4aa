import { CanaryState, RegionPin, RejectedChange } from '../../model';
import { CanaryHealth } from './canary-health';
import { RenderContext, SourceStatus } from './context';
import { DiscoveryTokens } from './discovery-token';
import { Logger, silentLogger } from './logger';
import { Metrics } from './metrics';
import { Snapshot } from './snapshot';
import { NodeInfo, TemplateRegistry } from './templates';
import { TenantRules } from './tenant-rules';
import { SnapshotCache } from './cache/snapshot-cache';
import { Persister } from './cache/persist';
import { CoreState, NodeRecord, ProfileState, Session } from './cache/types';
import { RenderStage } from './render/render-stage';
import { Reporter } from './report/status';
import { Quarantine } from './rollout/quarantine';
import { RegionRollout, RolloutStage } from './rollout/rollout';
import { ContextRevisions, buildContext } from './sources/merge';
import { SourceSupervisor } from './sources/supervisor';

import { ControlPlaneOptions } from './options';

export type { ControlPlaneOptions } from './options';
export type { CoreState, NodeRecord, ProfileState, Rollout, Session } from './cache/types';
export { MAX_PROFILES, PROFILE_IDLE_MS } from './cache/snapshot-cache';
export { CANARY_ACK_GRACE_MS, RESTART_CANARY_WAIT_MS, type RegionRollout } from './rollout/rollout';

/**
 * The core, as a facade over its stages (docs/control-plane.md, "Stages"): sources
 * (sources/) → context merge → render and validate (render/, snapshot.ts) → snapshot cache
 * (cache/) → rollout (rollout/) → protocol (xds-server.ts, rest-server.ts, through the
 * callbacks attach/acknowledged/nacked/detach) → report (report/, convergence-reporter.ts).
 */
export class ControlPlane {
  readonly metrics = new Metrics();
  readonly registry: TemplateRegistry;
  readonly logger: Logger;
  /** HDS streams of the nodes and the health gates of rollouts (see canary-health.ts). */
  readonly canaryHealth: CanaryHealth;
  /** The broker's rules again on every render, whatever the source (tenant-rules.ts). */
  readonly tenantRules: TenantRules;
  /** The discovery tokens nodes may present: current and previous (discovery-token.ts). */
  readonly tokens: DiscoveryTokens;
  private readonly state: CoreState = { stopped: false, startedAt: Date.now() };
  private readonly quarantine = new Quarantine();
  /** Which instances changed from one context to the next, handed down to the render. */
  private readonly revisions = new ContextRevisions();
  private readonly supervisor: SourceSupervisor;
  private readonly renderer: RenderStage;
  private readonly cache: SnapshotCache;
  private readonly rollout: RolloutStage;
  private readonly persister: Persister;
  private readonly reporter: Reporter;
  private readonly changeListeners = new Set<() => void>();
  private rebuildScheduled = false;

  constructor(readonly options: ControlPlaneOptions) {
    this.registry = options.registry ?? new TemplateRegistry();
    this.logger = options.logger ?? silentLogger;
    this.canaryHealth = new CanaryHealth(options.canaryHealth ?? { mode: 'off', timeoutMs: 60_000 }, this.logger);
    if (!options.discoveryTokens && !options.authToken) throw new Error('control plane: authToken or discoveryTokens is required');
    this.tokens = options.discoveryTokens ?? DiscoveryTokens.fixed(options.authToken!, this.logger);
    const rules = { domain: options.settings.domain, region: options.region, fleetCidrs: options.tenantRules?.fleetCidrs ?? [], allowLoopbackBackends: options.tenantRules?.allowLoopbackBackends ?? false };
    this.tenantRules = new TenantRules(rules, this.logger);
    const refreshed = (changed: boolean) => (changed || !this.state.context || this.state.contextOrigin === 'persisted') && this.scheduleRebuild();
    this.supervisor = new SourceSupervisor(options.sources, refreshed, this.metrics, this.logger);
    this.renderer = new RenderStage(this.metrics, this.logger);
    this.cache = new SnapshotCache({ registry: this.registry, logger: this.logger, profileIdleMs: options.profileIdleMs, maxProfiles: options.maxProfiles });
    this.persister = new Persister(options.region, options.store, options.persistDebounceMs ?? 1000, this.state, this.cache, this.logger);
    const hooks = { renderProfile: (p: ProfileState) => this.renderProfile(p), rebuild: () => this.rebuild(), changed: () => this.changed(), persist: () => this.persister.schedule() };
    this.rollout = new RolloutStage(options, this.state, this.cache, this.canaryHealth, this.quarantine, hooks, this.metrics, this.logger);
    this.reporter = new Reporter({
      ...{ region: options.region, state: this.state, cache: this.cache, metrics: this.metrics, canaryHealth: this.canaryHealth, tenantRules: this.tenantRules, tokens: this.tokens, canarySettings: options.canary },
      sourceStatuses: () => this.supervisor.statuses(),
      pinned: () => this.pinned(),
      lastRender: () => this.renderer.lastRender,
      canary: () => this.canary(),
      rejections: () => this.rejections,
    });
  }

  get region(): string {
    return this.options.region;
  }
  get profiles(): Map<string, ProfileState> {
    return this.cache.profiles;
  }
  get sessions(): Set<Session> {
    return this.cache.sessions;
  }
  get lastCanary(): CanaryState | undefined {
    return this.rollout.lastCanary;
  }
  get lastRender(): { at: string; ms: number; ok: boolean } | undefined {
    return this.renderer.lastRender;
  }
  /** Changes the proxies rejected (NACK, canary health), by instance; validation rejections are in the snapshots' `excluded`. */
  get rejections(): ReadonlyMap<string, RejectedChange> {
    return this.rollout.rejections;
  }

  /** Loads the persisted snapshot (if any), then starts every source's refresh loop. */
  async start(): Promise<void> {
    this.state.startedAt = Date.now();
    await this.persister.load(this.quarantine);
    this.supervisor.start();
  }

  async stop(): Promise<void> {
    this.state.stopped = true;
    this.rollout.stop();
    const sources = this.supervisor.stop();
    this.persister.flush();
    await sources;
    await this.persister.settled();
  }

  /** Coalesces source changes that land together into one render. */
  scheduleRebuild(): void {
    if (this.rebuildScheduled) return;
    this.rebuildScheduled = true;
    setImmediate(() => {
      this.rebuildScheduled = false;
      if (!this.state.stopped) this.rebuild();
    });
  }

  /** Re-renders every known profile from the sources' current context. */
  rebuild(): void {
    const merged = buildContext({ ...this.options, quarantine: this.quarantine, tenantRules: this.tenantRules });
    if (!merged) return;
    const context = this.revisions.stamp(merged);
    this.cache.dropIdleProfiles();
    this.state.context = context;
    this.state.contextOrigin = 'sources';
    let anyOk = false;
    for (const profile of this.cache.profiles.values()) if (this.renderProfile(profile)) anyOk = true;
    if (anyOk) this.persister.schedule();
  }

  /** Renders one profile (render stage) and hands a new candidate to the rollout; on failure the profile keeps its last good snapshot. */
  private renderProfile(profile: ProfileState): boolean {
    const context = this.state.context;
    if (!context) return false;
    if (profile.rollout) {
      // A rollout runs to its end on its fixed candidate; what changed meanwhile boards the next train.
      profile.nextTrain = true;
      return true;
    }
    profile.nextTrain = false;
    const outcome = this.renderer.render(profile, context);
    if (outcome.kind === 'failed') profile.lastFailure = { at: new Date().toISOString(), problems: outcome.problems };
    if (outcome.kind === 'failed' || outcome.kind === 'held-back') return outcome.kind === 'held-back';
    const waiting = this.cache.waitingForCanary(profile);
    profile.lastFailure = undefined;
    if (outcome.kind === 'unchanged') {
      // Nothing to push; keep the shared encodings, refresh what is reported.
      profile.snapshot = { ...profile.snapshot!, excluded: outcome.snapshot.excluded, warnings: outcome.snapshot.warnings, generation: outcome.snapshot.generation };
      profile.rendered = context;
      if (!waiting) this.rollout.promote(profile);
      return true;
    }
    // The first snapshot of a profile; after a restart the persisted snapshot is the stable one.
    const first = profile.stable === undefined;
    profile.snapshot = outcome.snapshot;
    profile.rendered = context;
    profile.snapshotOrigin = 'rendered';
    this.rollout.start(profile, first);
    for (const session of profile.sessions) session.onSnapshot();
    this.changed();
    return true;
  }

  // ---- the protocol's callbacks (xds-server.ts, hds-server.ts, rest-server.ts)

  /** The profile of a node, created (and rendered) on first use. */
  profileFor(node: NodeInfo): ProfileState {
    return this.cache.profileFor(node, (profile) => {
      if (!this.state.context) return;
      this.renderProfile(profile);
      this.persister.schedule();
    });
  }
  attach(session: Session, profile: ProfileState): void {
    this.cache.attach(session, profile);
    this.rollout.opened(session, profile);
    this.changed();
  }
  detach(session: Session): void {
    const profile = this.cache.detach(session);
    this.changed();
    this.rollout.closed(session, profile);
  }
  acknowledged(record: NodeRecord): void {
    this.cache.heldGeneration(record);
    this.changed();
    this.rollout.acked(record);
  }
  nacked(record: NodeRecord, message: string): void {
    this.rollout.nacked(record, message);
  }
  servedSnapshot(record: NodeRecord): Snapshot | undefined {
    return this.cache.servedSnapshot(record);
  }
  stableSnapshot(profile: ProfileState): Snapshot | undefined {
    return this.cache.stableSnapshot(profile);
  }
  heldGeneration(record: NodeRecord): number | undefined {
    return this.cache.heldGeneration(record);
  }

  // ---- the region's rollout (convergence-reporter.ts)

  followRegion(view: RegionRollout): void {
    this.rollout.followRegion(view);
  }
  regionRole(): { role: 'leader' | 'follower'; leader: string } | undefined {
    return this.rollout.regionRole();
  }
  canary(): CanaryState | undefined {
    return this.rollout.canary();
  }
  /** Calls `listener` whenever what the convergence report says may have changed. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }
  private changed(): void {
    for (const listener of this.changeListeners) listener();
  }

  // ---- state and report (runtime.ts, emf.ts, rest-server.ts)

  /** Ready once any snapshot can be served (rendered, or loaded from the persisted one). */
  ready(): boolean {
    return this.state.context !== undefined;
  }
  pinned(): RegionPin | undefined {
    return this.supervisor.pinned();
  }
  /** The context generation (what a node that is current holds). */
  contextGeneration(): number {
    return this.state.context?.generation ?? 0;
  }
  currentContext(): RenderContext | undefined {
    return this.state.context;
  }
  sourceStatuses(): SourceStatus[] {
    return this.supervisor.statuses();
  }
  renderStateGauges(): { profilesRenderFailing: number; profilesHeldBack: number } {
    return this.reporter.renderStateGauges();
  }
  metricsText(): string {
    return this.reporter.metricsText();
  }
  status(options: { listNodes?: number } = {}): Record<string, unknown> {
    return this.reporter.status(options);
  }
}
