import { amiCheck, bootstrapCheck, endpointServicesCheck, instanceTypeCheck, regionEnabledCheck, zonesCheck } from './checks/region';
import { credentialsCheck, hostedZoneCheck, placeholdersCheck, serviceLinkedRolesCheck } from './checks/account';
import { dockerCheck } from './checks/deploy-host';
import { tableReplicasCheck } from './checks/table';
import { CheckDefinition, CheckResult, PreflightContext } from './types';

/** Every check, in the order they run and print. */
export const CHECKS: readonly CheckDefinition[] = [
  credentialsCheck,
  placeholdersCheck,
  serviceLinkedRolesCheck,
  hostedZoneCheck,
  dockerCheck,
  regionEnabledCheck,
  bootstrapCheck,
  zonesCheck,
  instanceTypeCheck,
  endpointServicesCheck,
  amiCheck,
  tableReplicasCheck,
];

/** Checks that need no AWS call. */
const LOCAL = new Set([placeholdersCheck.id, dockerCheck.id]);

export interface RunOptions {
  /** Called as each result comes in (progress). */
  readonly onResult?: (result: CheckResult, done: number, total: number) => void;
  /** Regions checked at once (each region's checks run one after another). */
  readonly concurrency?: number;
  readonly checks?: readonly CheckDefinition[];
}

/** The regions a check runs in. */
export function scopesOf(check: CheckDefinition, ctx: PreflightContext): string[] {
  const fleet = ctx.config.regions.map((r) => r.region);
  switch (check.scope) {
    case 'account':
      return ['account'];
    case 'deploy-host':
      return ['deploy host'];
    case 'home-region':
      return [ctx.config.homeRegion];
    case 'every-region':
      return [...new Set([ctx.config.homeRegion, ...fleet])];
    case 'fleet-regions':
      return fleet;
  }
}

async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
  }));
}

/**
 * Runs every check and returns one result per check and place, in CHECKS order. A check that
 * cannot run says why (status `error`): with no usable credentials, every AWS check says so
 * without calling; in a region the account has not enabled, that region's checks do.
 */
export async function runPreflight(ctx: PreflightContext, options: RunOptions = {}): Promise<CheckResult[]> {
  const checks = options.checks ?? CHECKS;
  const total = checks.reduce((n, c) => n + scopesOf(c, ctx).length, 0);
  const results: CheckResult[] = [];
  const record = (result: CheckResult) => {
    results.push(result);
    options.onResult?.(result, results.length, total);
  };
  const runOne = async (check: CheckDefinition, scope: string, blocked?: string) => {
    if (blocked && !LOCAL.has(check.id)) {
      record({ check: check.id, scope, status: 'error', detail: blocked });
      return;
    }
    const region = scope === 'account' || scope === 'deploy host' ? ctx.config.homeRegion : scope;
    record({ check: check.id, scope, ...(await check.run(ctx, region)) });
  };

  const accountChecks = checks.filter((c) => c.scope === 'account' || c.scope === 'deploy-host');
  let noCredentials: string | undefined;
  for (const check of accountChecks) {
    for (const scope of scopesOf(check, ctx)) await runOne(check, scope, noCredentials);
    const credentials = results.find((r) => r.check === credentialsCheck.id);
    if (check.id === credentialsCheck.id && credentials?.status === 'error') noCredentials = 'could not check: no usable AWS credentials (see the credentials check)';
  }

  const regionChecks = checks.filter((c) => !accountChecks.includes(c));
  const enabled = regionChecks.find((c) => c.id === regionEnabledCheck.id);
  const regions = [...new Set(regionChecks.flatMap((c) => scopesOf(c, ctx)))];
  await eachLimited(regions, options.concurrency ?? 4, async (region) => {
    if (enabled && scopesOf(enabled, ctx).includes(region)) await runOne(enabled, region, noCredentials);
    const disabled = ctx.disabledRegions.has(region) ? `could not check: ${region} is not enabled for the account (see region-enabled)` : undefined;
    for (const check of regionChecks) {
      if (check === enabled || !scopesOf(check, ctx).includes(region)) continue;
      await runOne(check, region, noCredentials ?? disabled);
    }
  });

  const order = (r: CheckResult) => checks.findIndex((c) => c.id === r.check) * 1000 + [...new Set(checks.flatMap((c) => scopesOf(c, ctx)))].indexOf(r.scope);
  return results.sort((a, b) => order(a) - order(b));
}

/** 0: a deploy would go through; 1: something fails; 2: nothing fails but something could not be checked. */
export function exitCode(results: readonly CheckResult[]): number {
  if (results.some((r) => r.status === 'fail')) return 1;
  if (results.some((r) => r.status === 'error')) return 2;
  return 0;
}
