import { RouteDocument } from '../../model';
import { ContextSource, PlatformSettings, RenderContext, SourceStatus, isServedIn } from './context';
import { Logger, silentLogger } from './logger';
import { Metrics } from './metrics';
import { PersistedState, SnapshotStore } from './persistence';
import { RESOURCE_KINDS, ResourceKind } from './protos';
import { EncodedResource, RenderProblem, Snapshot, SnapshotRenderer, encodeResource, typeSnapshot } from './snapshot';
import { NodeInfo, TemplateRegistry } from './templates';

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

export interface ProfileState {
  readonly key: string;
  readonly node: NodeInfo;
  readonly renderer: SnapshotRenderer;
  snapshot?: Snapshot;
  snapshotOrigin?: 'rendered' | 'persisted';
  lastFailure?: { at: string; problems: readonly RenderProblem[] };
  readonly sessions: Set<Session>;
}

export interface ControlPlaneOptions {
  readonly region: string;
  readonly authToken: string;
  /** Settings before any source overrides them. */
  readonly settings: PlatformSettings;
  /** The first source is primary (the broker's routes): nothing renders from sources until it has loaded. */
  readonly sources: readonly ContextSource[];
  readonly store?: SnapshotStore;
  readonly registry?: TemplateRegistry;
  readonly logger?: Logger;
  readonly persistDebounceMs?: number;
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
  private rebuildScheduled = false;
  private stopped = false;
  private persistTimer?: NodeJS.Timeout;
  private persisting: Promise<void> = Promise.resolve();
  private readonly reportedExclusions = new Set<string>();
  lastRender?: { at: string; ms: number; ok: boolean };

  constructor(readonly options: ControlPlaneOptions) {
    this.registry = options.registry ?? new TemplateRegistry();
    this.logger = options.logger ?? silentLogger;
    for (const source of options.sources) this.sourceStates.set(source.name, { ok: false });
  }

  get region(): string {
    return this.options.region;
  }

  get authToken(): string {
    return this.options.authToken;
  }

  /** Loads the persisted snapshot (if any), then starts every source's refresh loop. */
  async start(): Promise<void> {
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
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.persistTimer) {
      clearTimeout(this.persistTimer);
      this.persistTimer = undefined;
      this.persist();
    }
    await this.persisting;
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
      const changed = await source.refresh();
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
    return { settings, routes: served, generation };
  }

  /** Re-renders every known profile from the sources' current context. */
  rebuild(): void {
    const context = this.buildContext();
    if (!context) return;
    this.context = context;
    this.contextOrigin = 'sources';
    let anyOk = false;
    for (const profile of this.profiles.values()) if (this.renderProfile(profile)) anyOk = true;
    if (anyOk) this.schedulePersist();
  }

  /** Renders one profile; on failure the profile keeps its last good snapshot. */
  private renderProfile(profile: ProfileState): boolean {
    if (!this.context) return false;
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
    const unchanged = profile.snapshot && RESOURCE_KINDS.every((k) => profile.snapshot!.types[k].version === snapshot.types[k].version);
    profile.lastFailure = undefined;
    if (unchanged && profile.snapshotOrigin === 'rendered') {
      // Nothing to push; keep the shared encodings, refresh what is reported.
      profile.snapshot = { ...profile.snapshot!, excluded: snapshot.excluded, warnings: snapshot.warnings, generation: snapshot.generation };
      return true;
    }
    profile.snapshot = snapshot;
    profile.snapshotOrigin = 'rendered';
    this.logger.log('info', 'snapshot rendered', {
      profile: profile.key,
      seq: snapshot.seq,
      ms: Math.round(outcome.renderMs),
      versions: Object.fromEntries(RESOURCE_KINDS.map((k) => [k, snapshot.types[k].version])),
      routes: this.context.routes.length,
      excluded: snapshot.excluded.length,
    });
    for (const session of profile.sessions) session.onSnapshot();
    return true;
  }

  /** The profile of a node, created (and rendered) on first use. */
  profileFor(node: NodeInfo): ProfileState {
    const key = this.registry.profileOf(node);
    let profile = this.profiles.get(key);
    if (!profile) {
      profile = { key, node, renderer: new SnapshotRenderer(this.registry, key, node), sessions: new Set() };
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
  }

  detach(session: Session): void {
    this.sessions.delete(session);
    this.profiles.get(session.record.profile)?.sessions.delete(session);
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

  persistedState(): PersistedState & { nodes: Record<string, NodeInfo> } {
    const profiles: Record<string, Record<ResourceKind, Array<{ name: string; template: string; instanceIds: readonly string[]; json: Record<string, unknown> }>>> = {};
    const nodes: Record<string, NodeInfo> = {};
    for (const profile of this.profiles.values()) {
      if (!profile.snapshot) continue;
      nodes[profile.key] = { ...profile.node, id: 'persisted' };
      profiles[profile.key] = Object.fromEntries(
        RESOURCE_KINDS.map((kind) => [
          kind,
          [...profile.snapshot!.types[kind].resources.values()].map((r) => ({ name: r.name, template: r.template, instanceIds: r.instanceIds, json: r.json })),
        ]),
      ) as Record<ResourceKind, Array<{ name: string; template: string; instanceIds: readonly string[]; json: Record<string, unknown> }>>;
    }
    return {
      format: 1,
      savedAt: new Date().toISOString(),
      region: this.region,
      context: { settings: this.context!.settings, routes: this.context!.routes, generation: this.context!.generation },
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
      const profile: ProfileState = { key, node, renderer: new SnapshotRenderer(this.registry, key, node), sessions: new Set(), snapshotOrigin: 'persisted' };
      profile.snapshot = { profile: key, seq: 0, createdAt: state.savedAt, generation: state.context.generation ?? 0, types, excluded: [], warnings: [] };
      profile.renderer.remember(state.context.routes);
      this.profiles.set(key, profile);
    }
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

  metricsText(): string {
    const excluded = new Set<string>();
    for (const p of this.profiles.values()) for (const e of p.snapshot?.excluded ?? []) excluded.add(e.instanceId);
    return this.metrics.render({
      connectedNodes: this.sessions.size,
      sourceStaleness: this.sourceStatuses().map((s) => ({ name: s.name, seconds: s.stalenessSeconds })),
      excludedInstances: excluded.size,
    });
  }

  /** Whether a node has acknowledged every type it was sent at its profile's current versions. */
  isCurrent(record: NodeRecord): boolean {
    const snapshot = this.profiles.get(record.profile)?.snapshot;
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
      connectedNodes: this.sessions.size,
      nodes: listed,
    };
  }
}
