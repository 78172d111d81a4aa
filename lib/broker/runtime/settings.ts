import { TargetPolicy, parseIpv4Cidr } from '../../model/targets';

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
  // ---- tenant names (issue 12) ----
  /** Custom domains: how long the owner has to prove control, and the AWS quotas they live under. */
  readonly customDomains: CustomDomainSettings;
  /** Secrets Manager secret of the cdn plan's origin header value (unset: distributions get no origin header). */
  readonly cdnOriginSecretArn?: string;

  // ---- Tenant isolation (issue 13): targets the edge may not reach (lib/model/targets.ts) ----
  /** The fleet VPCs' IPv4 CIDRs (`EDGE_FLEET_CIDRS`): no backend or auth target may be in them. */
  readonly fleetCidrs: readonly string[];
  /** Loopback backends allowed: only the local platform sets it; never read from the environment, so never in AWS. */
  readonly allowLoopbackBackends: boolean;
}

/** Custom domains (names outside the platform domain): see docs/broker.md, "Custom domains". */
export interface CustomDomainSettings {
  /** Longest an operation waits for the owner's DNS records before it fails naming what is missing. */
  readonly ownershipTimeoutSeconds: number;
  /**
   * Certificates a region's edge NLB listener may hold besides its default one. Elastic Load
   * Balancing's quota "Certificates per Network Load Balancer": 25 by default, adjustable
   * (Service Quotas); set this to the quota the account has.
   */
  readonly listenerCertificateQuota: number;
  /** Names per ACM certificate: ACM's quota, 10 by default, up to 100 on request. An instance's custom names share one certificate per region. */
  readonly namesPerCertificate: number;
}

/** The environment variables of the custom-domain settings (all optional). */
export const CUSTOM_DOMAIN_ENV: Readonly<Record<keyof CustomDomainSettings, string>> = {
  ownershipTimeoutSeconds: 'EDGE_CUSTOM_DOMAIN_TIMEOUT_SECONDS',
  listenerCertificateQuota: 'EDGE_LISTENER_CERTIFICATE_QUOTA',
  namesPerCertificate: 'EDGE_CERTIFICATE_NAMES_QUOTA',
};

/** ACM retries DNS validation of a pending certificate for 72 hours, then it times out: no point waiting longer. */
export const ACM_VALIDATION_WINDOW_SECONDS = 72 * 3600;

/** AWS's documented defaults (ELB: 25 certificates per NLB; ACM: 10 names per certificate) and ACM's own validation window. */
export const DEFAULT_CUSTOM_DOMAINS: CustomDomainSettings = { ownershipTimeoutSeconds: ACM_VALIDATION_WINDOW_SECONDS, listenerCertificateQuota: 25, namesPerCertificate: 10 };

/** Checks the custom-domain settings; `name` says what to call a field in the error. */
export function checkCustomDomainSettings(settings: CustomDomainSettings, name: (key: keyof CustomDomainSettings) => string): CustomDomainSettings {
  const { ownershipTimeoutSeconds, listenerCertificateQuota, namesPerCertificate } = settings;
  if (typeof ownershipTimeoutSeconds !== 'number' || !Number.isFinite(ownershipTimeoutSeconds) || ownershipTimeoutSeconds <= 0 || ownershipTimeoutSeconds > ACM_VALIDATION_WINDOW_SECONDS) {
    throw new Error(`${name('ownershipTimeoutSeconds')}: must be a number of seconds greater than 0 and at most ${ACM_VALIDATION_WINDOW_SECONDS} (ACM stops validating a pending certificate after 72 hours) (got ${JSON.stringify(ownershipTimeoutSeconds)})`);
  }
  if (!Number.isInteger(listenerCertificateQuota) || listenerCertificateQuota < 1) {
    throw new Error(`${name('listenerCertificateQuota')}: must be a whole number of certificates, at least 1 (got ${JSON.stringify(listenerCertificateQuota)})`);
  }
  if (!Number.isInteger(namesPerCertificate) || namesPerCertificate < 1 || namesPerCertificate > 100) {
    throw new Error(`${name('namesPerCertificate')}: must be a whole number from 1 to 100 (ACM's quota of names per certificate) (got ${JSON.stringify(namesPerCertificate)})`);
  }
  return settings;
}

/** The custom-domain settings from `EDGE_CUSTOM_DOMAIN_*` and friends; unset variables take `defaults`. */
export function customDomainSettingsFromEnv(env: NodeJS.ProcessEnv = process.env, defaults: CustomDomainSettings = DEFAULT_CUSTOM_DOMAINS): CustomDomainSettings {
  const number = (key: keyof CustomDomainSettings): number => {
    const value = env[CUSTOM_DOMAIN_ENV[key]]?.trim();
    if (!value) return defaults[key];
    if (!/^[0-9]*\.?[0-9]+$/.test(value)) throw new Error(`${CUSTOM_DOMAIN_ENV[key]}: must be a number (got ${JSON.stringify(value)})`);
    return Number(value);
  };
  return checkCustomDomainSettings(
    { ownershipTimeoutSeconds: number('ownershipTimeoutSeconds'), listenerCertificateQuota: number('listenerCertificateQuota'), namesPerCertificate: number('namesPerCertificate') },
    (key) => CUSTOM_DOMAIN_ENV[key],
  );
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

/** The rule for targets the edge may not reach, from the broker's settings (issue 13). */
export function targetPolicy(settings: BrokerSettings): TargetPolicy {
  return { domain: settings.domain, fleetCidrs: settings.fleetCidrs, allowLoopbackBackends: settings.allowLoopbackBackends };
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

/**
 * `EDGE_FLEET_CIDRS`: the fleet VPCs' IPv4 CIDRs, comma-separated, each checked. The api
 * function requires it (`required`): without it the fleet rule would be silently off, so
 * it refuses to serve rather than accept targets in the fleet's network.
 */
export function fleetCidrsFromEnv(env: NodeJS.ProcessEnv, required: boolean): string[] {
  const text = env.EDGE_FLEET_CIDRS?.trim();
  if (!text) {
    if (required) throw new Error('environment variable EDGE_FLEET_CIDRS is required (the fleet VPCs no tenant target may reach)');
    return [];
  }
  return text.split(',').map((cidr, i) => {
    const value = cidr.trim();
    if (!parseIpv4Cidr(value)) {
      throw new Error(`EDGE_FLEET_CIDRS[${i}]: ${JSON.stringify(value)} is not an IPv4 CIDR (a.b.c.d/n)`);
    }
    return value;
  });
}

/** The broker's settings from its environment; `requireFleetCidrs`: the api function (it validates targets). */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env, options: { readonly requireFleetCidrs?: boolean } = {}): BrokerSettings {
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
    customDomains: customDomainSettingsFromEnv(env),
    cdnOriginSecretArn: env.EDGE_CDN_ORIGIN_SECRET_ARN?.trim() || undefined,
    fleetCidrs: fleetCidrsFromEnv(env, options.requireFleetCidrs ?? false),
    allowLoopbackBackends: false,
  };
}
