import { Logger } from '../logger';
import { PersistedState, SnapshotStore } from '../persistence';
import { RESOURCE_KINDS, ResourceKind } from '../protos';
import { EncodedResource, encodeResource, typeSnapshot } from '../snapshot';
import { NodeInfo } from '../templates';
import { Quarantine } from '../rollout/quarantine';
import { SnapshotCache } from './snapshot-cache';
import { CoreState } from './types';

type PersistedResources = Record<ResourceKind, Array<{ name: string; template: string; instanceIds: readonly string[]; json: Record<string, unknown> }>>;

/**
 * The cache's last good state on disk or in S3 (persistence.ts holds the stores): each
 * profile's stable snapshot and its context, saved debounced after each promotion, and
 * restored at start so a restarted control plane serves at once.
 */
export class Persister {
  private timer?: NodeJS.Timeout;
  private persisting: Promise<void> = Promise.resolve();

  constructor(
    private readonly region: string,
    private readonly store: SnapshotStore | undefined,
    private readonly debounceMs: number,
    private readonly state: CoreState,
    private readonly cache: SnapshotCache,
    private readonly logger: Logger,
  ) {}

  /** Loads the persisted state into the cache (if any); a load failure is logged, not thrown. */
  async load(quarantine: Quarantine): Promise<void> {
    if (!this.store) return;
    try {
      const state = await this.store.load();
      if (state) this.restore(state, quarantine);
    } catch (err) {
      this.logger.log('warn', 'could not load the persisted snapshot', { store: this.store.description, error: (err as Error).message });
    }
  }

  schedule(): void {
    if (!this.store || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.persist();
    }, this.debounceMs);
  }

  /** Writes a pending save at once (at stop). */
  flush(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.persist();
  }

  /** The saves under way. */
  settled(): Promise<void> {
    return this.persisting;
  }

  private persist(): void {
    const store = this.store;
    if (!store || !this.state.context) return;
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
    const profiles: Record<string, PersistedResources> = {};
    const nodes: Record<string, NodeInfo> = {};
    let context = undefined as CoreState['context'];
    for (const profile of this.cache.profiles.values()) {
      const snapshot = profile.stable ?? profile.snapshot;
      if (!snapshot) continue;
      const rendered = profile.stable ? profile.stableContext : profile.rendered;
      if (rendered && (!context || (rendered.generation ?? 0) < (context.generation ?? 0))) context = rendered;
      nodes[profile.key] = { ...profile.node, id: 'persisted' };
      profiles[profile.key] = Object.fromEntries(
        RESOURCE_KINDS.map((kind) => [kind, [...snapshot.types[kind].resources.values()].map((r) => ({ name: r.name, template: r.template, instanceIds: r.instanceIds, json: r.json }))]),
      ) as PersistedResources;
    }
    context ??= this.state.context!;
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
  private restore(state: PersistedState & { nodes?: Record<string, NodeInfo> }, quarantine: Quarantine): void {
    if (state.region !== this.region) {
      this.logger.log('warn', 'persisted snapshot is for another region; ignored', { region: state.region });
      return;
    }
    this.state.context = { settings: state.context.settings, routes: state.context.routes, generation: state.context.generation };
    this.state.contextOrigin = 'persisted';
    for (const [key, kinds] of Object.entries(state.profiles)) {
      const node = state.nodes?.[key];
      if (!node) continue;
      const types = {} as Record<ResourceKind, ReturnType<typeof typeSnapshot>>;
      for (const kind of RESOURCE_KINDS) {
        const resources = new Map<string, EncodedResource>();
        for (const r of kinds[kind] ?? []) resources.set(r.name, encodeResource(kind, r.name, r.json, r.template, r.instanceIds));
        types[kind] = typeSnapshot(kind, resources);
      }
      const profile = this.cache.create(key, node);
      profile.snapshotOrigin = 'persisted';
      profile.snapshot = { profile: key, seq: 0, createdAt: state.savedAt, generation: state.context.generation ?? 0, types, excluded: [], warnings: [] };
      // The persisted snapshot is the stable one: the first render after the restart is a canary rollout against it.
      profile.stable = profile.snapshot;
      profile.stableContext = this.state.context;
      profile.stableOrigin = 'persisted';
      profile.renderer.remember(state.context.routes);
    }
    // A change quarantined after the restart falls back to its persisted generation.
    quarantine.remember(state.context.routes);
    this.logger.log('info', 'serving the persisted last good snapshot until the sources answer', { savedAt: state.savedAt, profiles: this.cache.profiles.size });
  }
}
