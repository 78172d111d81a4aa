import { createHash } from 'node:crypto';

/**
 * Canary rollout settings: a new snapshot first goes to `fraction` of a profile's connected
 * nodes (at least one), and is promoted to all once every canary ACKed it and stayed
 * healthy for `soakMs`. `fraction` 0 turns the canary off (every node gets a new snapshot at once).
 */
export interface CanarySettings {
  readonly fraction: number;
  readonly soakMs: number;
  /** How long a rollout waits for every canary's ACK before it counts as a health drop (default soakMs + 30 s). */
  readonly ackTimeoutMs?: number;
}

export const CANARY_ENV: Readonly<Record<'fraction' | 'soakMs', string>> = {
  fraction: 'EDGE_CANARY_FRACTION',
  soakMs: 'EDGE_CANARY_SOAK_MS',
};

/** In AWS: 5% of the nodes of each task, 30 s of soak. */
export const DEFAULT_CANARY: CanarySettings = { fraction: 0.05, soakMs: 30_000 };
/** Locally: 5% (so the one local proxy), 1 s of soak. */
export const LOCAL_CANARY: CanarySettings = { fraction: 0.05, soakMs: 1000 };

/** Checks canary settings; `name` says what to call a field in the error (an env variable or an option). */
export function checkCanarySettings(settings: CanarySettings, name: (key: keyof CanarySettings) => string = (k) => (k === 'ackTimeoutMs' ? 'canary.ackTimeoutMs' : CANARY_ENV[k])): CanarySettings {
  const { fraction, soakMs, ackTimeoutMs } = settings;
  if (typeof fraction !== 'number' || !Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
    throw new Error(`${name('fraction')}: must be a number from 0 (no canary) to 1 (got ${JSON.stringify(fraction)})`);
  }
  if (typeof soakMs !== 'number' || !Number.isInteger(soakMs) || soakMs < 0 || soakMs > 3_600_000) {
    throw new Error(`${name('soakMs')}: must be a whole number of milliseconds from 0 to 3600000 (got ${JSON.stringify(soakMs)})`);
  }
  if (ackTimeoutMs !== undefined && (!Number.isInteger(ackTimeoutMs) || ackTimeoutMs < 0)) {
    throw new Error(`${name('ackTimeoutMs')}: must be a whole number of milliseconds (got ${JSON.stringify(ackTimeoutMs)})`);
  }
  return settings;
}

/** Reads EDGE_CANARY_FRACTION / EDGE_CANARY_SOAK_MS over `defaults`; a bad value throws naming the variable. */
export function canarySettingsFromEnv(env: NodeJS.ProcessEnv, defaults: CanarySettings): CanarySettings {
  const read = (key: 'fraction' | 'soakMs'): number => {
    const raw = env[CANARY_ENV[key]];
    if (raw === undefined || raw.trim() === '') return defaults[key];
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new Error(`${CANARY_ENV[key]}: must be a number (got ${JSON.stringify(raw)})`);
    return value;
  };
  return checkCanarySettings({ fraction: read('fraction'), soakMs: read('soakMs') });
}

/** How many canaries among `nodes` connected nodes: ceil(fraction x nodes), at least 1 (0 with no nodes or no canary). */
export function canaryCount(nodes: number, fraction: number): number {
  if (nodes === 0 || fraction === 0) return 0;
  return Math.min(nodes, Math.max(1, Math.ceil(fraction * nodes - 1e-9)));
}

const rank = (id: string) => createHash('sha256').update(id).digest('hex');

/** The canaries: the `count` node ids with the lowest hash (deterministic, spread over zones and hosts). */
export function chooseCanaries<T>(items: readonly T[], idOf: (item: T) => string, count: number): T[] {
  return items
    .map((item) => ({ item, key: rank(idOf(item)) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, count)
    .map((x) => x.item);
}
