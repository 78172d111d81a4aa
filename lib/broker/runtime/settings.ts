/**
 * What the broker runtime needs to know about the platform, read once per process from
 * the environment the broker stack sets (see CONTRACTS.md), or given directly locally.
 */
export interface BrokerSettings {
  readonly tableName: string;
  readonly queueUrl: string;
  readonly platformName: string;
  /** The platform domain: `<domain>` is the edge's global name, `<region>.<domain>` each fleet's. */
  readonly domain: string;
  /** Public hosted zone of the platform domain (Route 53). */
  readonly hostedZoneId: string;
  readonly homeRegion: string;
  /** Fleet regions a service may name; `regions` defaults to all of them. */
  readonly regions: readonly string[];
  /** The convergence gate: when a change counts as served by the edge. */
  readonly convergence: ConvergenceSettings;
}

/**
 * What the region rule does with a region whose control planes report no connected
 * proxies (or no fresh report at all: a region being built, or local with no proxies).
 * `pass`: the region counts as converged; `wait`: the gate waits for proxies (until the timeout).
 */
export type EmptyRegionRule = 'pass' | 'wait';

export interface ConvergenceSettings {
  /** Share of a region's healthy connected proxies that must hold the generation (0 < f <= 1). */
  readonly fraction: number;
  readonly emptyRegion: EmptyRegionRule;
  /** Longest the gate waits before it fails the operation and withdraws the change. */
  readonly timeoutSeconds: number;
  /** Seconds between two reads of the reports (the worker re-enqueues itself with this delay). */
  readonly pollSeconds: number;
}

/** The environment variables of the gate (all optional; defaults in DEFAULT_CONVERGENCE). */
export const CONVERGENCE_ENV: Readonly<Record<keyof ConvergenceSettings, string>> = {
  fraction: 'EDGE_CONVERGENCE_FRACTION',
  emptyRegion: 'EDGE_CONVERGENCE_EMPTY_REGION',
  timeoutSeconds: 'EDGE_CONVERGENCE_TIMEOUT_SECONDS',
  pollSeconds: 'EDGE_CONVERGENCE_POLL_SECONDS',
};

/** In AWS: every healthy proxy, empty regions pass, 10 minutes, a poll every 2 s (SQS DelaySeconds). */
export const DEFAULT_CONVERGENCE: ConvergenceSettings = { fraction: 1, emptyRegion: 'pass', timeoutSeconds: 600, pollSeconds: 2 };

/**
 * Checks the gate's settings; `name` says what to call a field in the error (an
 * environment variable, or an option of startLocalBroker).
 */
export function checkConvergenceSettings(settings: ConvergenceSettings, name: (key: keyof ConvergenceSettings) => string): ConvergenceSettings {
  const { fraction, emptyRegion, timeoutSeconds, pollSeconds } = settings;
  if (typeof fraction !== 'number' || !Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
    throw new Error(`${name('fraction')}: must be a number greater than 0 and at most 1 (got ${JSON.stringify(fraction)})`);
  }
  if (emptyRegion !== 'pass' && emptyRegion !== 'wait') throw new Error(`${name('emptyRegion')}: must be "pass" or "wait" (got ${JSON.stringify(emptyRegion)})`);
  if (typeof timeoutSeconds !== 'number' || !Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new Error(`${name('timeoutSeconds')}: must be a number of seconds greater than 0 (got ${JSON.stringify(timeoutSeconds)})`);
  }
  if (typeof pollSeconds !== 'number' || !Number.isFinite(pollSeconds) || pollSeconds <= 0 || pollSeconds > 900) {
    throw new Error(`${name('pollSeconds')}: must be a number of seconds greater than 0 and at most 900 (got ${JSON.stringify(pollSeconds)})`);
  }
  return settings;
}

/** The gate's settings from `EDGE_CONVERGENCE_*`; unset variables take `defaults`; a bad value throws naming it. */
export function convergenceSettingsFromEnv(env: NodeJS.ProcessEnv = process.env, defaults: ConvergenceSettings = DEFAULT_CONVERGENCE): ConvergenceSettings {
  const text = (key: keyof ConvergenceSettings) => env[CONVERGENCE_ENV[key]]?.trim() || undefined;
  const number = (key: keyof ConvergenceSettings, fallback: number): number => {
    const value = text(key);
    if (value === undefined) return fallback;
    // Number('') and Number(' ') are 0, and Number('1e') is NaN: only plain decimals pass.
    if (!/^[0-9]*\.?[0-9]+$/.test(value)) throw new Error(`${CONVERGENCE_ENV[key]}: must be a number (got ${JSON.stringify(value)})`);
    return Number(value);
  };
  return checkConvergenceSettings(
    {
      fraction: number('fraction', defaults.fraction),
      emptyRegion: (text('emptyRegion')?.toLowerCase() ?? defaults.emptyRegion) as EmptyRegionRule,
      timeoutSeconds: number('timeoutSeconds', defaults.timeoutSeconds),
      pollSeconds: number('pollSeconds', defaults.pollSeconds),
    },
    (key) => CONVERGENCE_ENV[key],
  );
}

/** SQS redrive limit of the broker queue: the stack sets `maxReceiveCount` to this. */
export const WORKER_MAX_RECEIVE_COUNT = 5;
/** How long a finished operation stays pollable (DynamoDB TTL on `expiresAt`). */
export const OPERATION_TTL_SECONDS = 7 * 24 * 3600;
/** Largest request body the API reads (OSB bodies are small; parameters are capped well below). */
export const MAX_BODY_BYTES = 64 * 1024;

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): BrokerSettings {
  return {
    tableName: required(env, 'EDGE_TABLE_NAME'),
    queueUrl: required(env, 'EDGE_QUEUE_URL'),
    platformName: env.EDGE_PLATFORM_NAME?.trim() || 'edge',
    domain: required(env, 'EDGE_DOMAIN').toLowerCase(),
    hostedZoneId: env.EDGE_HOSTED_ZONE_ID?.trim() ?? '',
    homeRegion: env.EDGE_HOME_REGION?.trim() || 'us-east-1',
    regions: required(env, 'EDGE_REGIONS')
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean),
    convergence: convergenceSettingsFromEnv(env),
  };
}
