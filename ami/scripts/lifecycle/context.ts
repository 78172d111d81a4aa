import { randomUUID } from 'node:crypto';
import { PlatformConfig } from '../../../lib/config';
import { ClientFactory, RetryOptions, describeError } from './aws';

/** What every command gets: the config, a way to reach each region, and where to report. */
export interface CommandContext {
  readonly config: PlatformConfig;
  readonly clients: ClientFactory;
  readonly retry: RetryOptions;
  /** Waits between reads that confirm a parameter write (SSM checks an aws:ec2:image value after PutParameter answers). */
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => Date;
  /** One structured JSON log line per event. */
  readonly log: (entry: Record<string, unknown>) => void;
}

/** What a command that changes something did, region by region. Nothing is half-done in a region. */
export interface ChangeReport {
  readonly ok: boolean;
  /** Regions the command changed, in the order it changed them. */
  readonly changed: readonly string[];
  /** Regions that needed no change. */
  readonly unchanged: readonly string[];
  /** The region that failed, and why; the command stopped there. */
  readonly failed?: { readonly region: string; readonly reason: string };
  /** Regions it did not get to (after a failure, or refused by a check before any change). */
  readonly notAttempted: readonly string[];
  /** Lines for a person: what was done, what failed, what to run next. */
  readonly lines: readonly string[];
}

export function jsonLogger(op: string, write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): (entry: Record<string, unknown>) => void {
  const operation = randomUUID();
  return (entry) => write(JSON.stringify({ time: new Date().toISOString(), level: 'info', op: `ami ${op}`, operation, ...entry }));
}

/**
 * Applies `step` region by region, in order, and stops at the first failure: the report names the
 * regions changed, the one that failed (with why) and the ones not attempted.
 */
export async function regionByRegion(
  ctx: CommandContext,
  regions: readonly string[],
  step: (region: string) => Promise<'changed' | 'unchanged'>,
): Promise<Omit<ChangeReport, 'ok' | 'lines'>> {
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const [i, region] of regions.entries()) {
    try {
      const outcome = await step(region);
      (outcome === 'changed' ? changed : unchanged).push(region);
    } catch (error) {
      const reason = describeError(error);
      ctx.log({ level: 'error', region, msg: 'failed; stopping here', reason });
      return { changed, unchanged, failed: { region, reason }, notAttempted: regions.slice(i + 1) };
    }
  }
  return { changed, unchanged, notAttempted: [] };
}

/** The summary lines every changing command ends with. */
export function summaryLines(what: string, r: Omit<ChangeReport, 'ok' | 'lines'>, atomic = true): string[] {
  const lines = [`${what}: changed ${r.changed.length ? r.changed.join(', ') : 'no region'}`];
  if (r.unchanged.length) lines.push(`already so: ${r.unchanged.join(', ')}`);
  if (r.failed) lines.push(`FAILED in ${r.failed.region}: ${r.failed.reason}${atomic ? ' (nothing changed there)' : ''}`);
  if (r.notAttempted.length) lines.push(`not attempted: ${r.notAttempted.join(', ')}`);
  return lines;
}
