import { RegionPin } from '../../../model';
import { ContextSource, SourceStatus } from '../context';
import { Logger } from '../logger';
import { Metrics } from '../metrics';

interface SourceState {
  ok: boolean;
  lastSuccessAt?: number;
  lastAttemptAt?: number;
  lastError?: string;
}

/** How long stop() waits for source refreshes under way. */
const REFRESH_STOP_WAIT_MS = 5000;

/**
 * Stage 1, sources: runs each context source's refresh loop on its own interval, keeps each
 * source's state (last success, last error) and the operator pin of the primary source. A
 * failed refresh keeps the source's last good data; `refreshed(changed)` is called after
 * every successful one (the facade decides whether to render).
 */
export class SourceSupervisor {
  private readonly states = new Map<string, SourceState>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Source refreshes under way; stop() waits for them so that nothing reads a closed client. */
  private readonly refreshing = new Set<Promise<boolean>>();
  private stopped = false;

  constructor(
    readonly sources: readonly ContextSource[],
    private readonly refreshed: (changed: boolean) => void,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    for (const source of sources) this.states.set(source.name, { ok: false });
  }

  /** Starts every source's refresh loop. */
  start(): void {
    for (const source of this.sources) void this.refreshLoop(source);
  }

  /** Stops the loops; waits (bounded) for refreshes under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    // Bounded: a source stuck on a hanging request must not hold a SIGTERM stop forever.
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.refreshing]), new Promise((resolve) => (waited = setTimeout(resolve, REFRESH_STOP_WAIT_MS)))]);
    clearTimeout(waited);
  }

  /** The operator pin of this region, as the primary (routes) source last read it. */
  pinned(): RegionPin | undefined {
    return this.sources[0]?.pinned?.();
  }

  private async refreshLoop(source: ContextSource): Promise<void> {
    if (this.stopped) return;
    const state = this.states.get(source.name)!;
    state.lastAttemptAt = Date.now();
    try {
      const refresh = source.refresh();
      this.refreshing.add(refresh);
      const changed = await refresh.finally(() => this.refreshing.delete(refresh));
      state.ok = true;
      state.lastSuccessAt = Date.now();
      state.lastError = undefined;
      this.refreshed(changed);
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

  statuses(): SourceStatus[] {
    const now = Date.now();
    return this.sources.map((source) => {
      const state = this.states.get(source.name)!;
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
}
