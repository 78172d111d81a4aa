import { PlatformConfig } from '../config';

/**
 * The outcome of one check in one place. `error` is "could not check" (no credentials, a region
 * not enabled, throttling, access denied): never counted as passed.
 */
export type CheckStatus = 'pass' | 'fail' | 'error';

export interface CheckResult {
  /** Check id (`zones`, `ami`, ...), as `--help` lists them. */
  readonly check: string;
  /** `account`, `deploy host`, or a region name. */
  readonly scope: string;
  readonly status: CheckStatus;
  /** What was found, for a person: on a failure, what is wrong. */
  readonly detail: string;
  /** On a failure: the command or config change that fixes it. */
  readonly fix?: string;
  /** Facts for machines (`--json`): the zone map, the deployed replicas, ... */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** Where a check runs: once, once in the home region, or in every region of a set. */
export type CheckScope = 'account' | 'deploy-host' | 'home-region' | 'every-region' | 'fleet-regions';

export interface CheckDefinition {
  readonly id: string;
  readonly scope: CheckScope;
  /** One line for `--help`: what it checks and why a deploy needs it. */
  readonly summary: string;
  /** Runs in `region` (the home region for account-wide checks). Throws only on a bug: AWS errors become results. */
  run(ctx: PreflightContext, region: string): Promise<Omit<CheckResult, 'check' | 'scope'>>;
}

/** Runs a local command (the deploy host checks); tests stand it in. */
export type CommandRunner = (command: string, args: readonly string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/** Resolves a name's NS records the way the internet sees the delegation; tests stand it in. */
export type NsResolver = (name: string) => Promise<string[]>;

export interface PreflightContext {
  readonly config: PlatformConfig;
  /** The account the credentials belong to (from STS), once known. */
  account?: string;
  /** Per region: AZ ID → zone name in this account (the zones check fills it). */
  readonly zoneNames: Map<string, Map<string, string>>;
  /** Regions the account has not enabled (the region-enabled check fills it). */
  readonly disabledRegions: Set<string>;
  readonly runCommand: CommandRunner;
  readonly resolveNs: NsResolver;
  /** `CDK_DOCKER` or `docker`: what the CDK CLI builds the control plane image with. */
  readonly docker: string;
}
