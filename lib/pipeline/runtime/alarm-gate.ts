/**
 * The wave gate: while a wave bakes, any of the platform's alarms in ALARM in one of its regions
 * fails the wave, naming the region and the alarm. Runs in a CodeBuild step of the pipeline
 * (lib/pipeline/pipeline-stack.ts); no CDK here.
 */
import { CloudWatchClient, DescribeAlarmHistoryCommand, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';

export interface Firing {
  readonly region: string;
  readonly alarm: string;
  readonly reason: string;
  readonly at?: string;
}

export type CloudWatchFor = (region: string) => Pick<CloudWatchClient, 'send'>;

/** Alarms whose name starts with `prefix` that are in ALARM now (every page). */
export async function alarmsInAlarm(cloudwatch: Pick<CloudWatchClient, 'send'>, region: string, prefix: string): Promise<Firing[]> {
  const firing: Firing[] = [];
  let NextToken: string | undefined;
  do {
    const page = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: prefix, StateValue: 'ALARM', AlarmTypes: ['MetricAlarm', 'CompositeAlarm'], MaxRecords: 100, NextToken }));
    for (const a of [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])]) {
      firing.push({ region, alarm: a.AlarmName ?? '?', reason: a.StateReason ?? '', at: a.StateUpdatedTimestamp?.toISOString() });
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return firing;
}

/**
 * Alarms whose name starts with `prefix` that went to ALARM since `since`, even if they are OK
 * again: an alarm that fired and cleared between two polls still fails the wave. The history's
 * HistoryData is JSON with newState.stateValue (CloudWatch API reference, AlarmHistoryItem).
 */
export async function alarmsThatFired(cloudwatch: Pick<CloudWatchClient, 'send'>, region: string, prefix: string, since: Date): Promise<Firing[]> {
  const firing: Firing[] = [];
  let NextToken: string | undefined;
  do {
    const page = await cloudwatch.send(new DescribeAlarmHistoryCommand({ HistoryItemType: 'StateUpdate', StartDate: since, MaxRecords: 100, NextToken }));
    for (const item of page.AlarmHistoryItems ?? []) {
      if (!item.AlarmName?.startsWith(prefix)) continue;
      let state: { newState?: { stateValue?: string; stateReason?: string } } = {};
      try {
        state = JSON.parse(item.HistoryData ?? '{}');
      } catch {
        continue;
      }
      if (state.newState?.stateValue === 'ALARM') firing.push({ region, alarm: item.AlarmName, reason: state.newState.stateReason ?? item.HistorySummary ?? '', at: item.Timestamp?.toISOString() });
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return firing;
}

export interface BakeOptions {
  readonly regions: readonly string[];
  /** Alarm name prefix: `<platform>-` (every alarm of the platform), `<platform>-broker-` for the broker. */
  readonly prefix: string;
  readonly minutes: number;
  readonly cloudwatch: CloudWatchFor;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly pollSeconds?: number;
  readonly log?: (entry: Record<string, unknown>) => void;
}

export interface BakeResult {
  readonly ok: boolean;
  readonly firing: readonly Firing[];
  readonly checks: number;
}

/** Polls every region until the bake time is over or an alarm fires; one check at least. */
export async function bake(options: BakeOptions): Promise<BakeResult> {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const poll = (options.pollSeconds ?? 60) * 1000;
  const start = now();
  const end = start.getTime() + options.minutes * 60_000;
  for (let checks = 1; ; checks++) {
    const found = (
      await Promise.all(
        options.regions.map(async (region) => {
          const client = options.cloudwatch(region);
          const [current, past] = await Promise.all([alarmsInAlarm(client, region, options.prefix), alarmsThatFired(client, region, options.prefix, start)]);
          const seen = new Set(current.map((f) => f.alarm));
          return [...current, ...past.filter((f) => !seen.has(f.alarm) && (seen.add(f.alarm), true))];
        }),
      )
    ).flat();
    options.log?.({ msg: 'bake check', check: checks, regions: options.regions, firing: found.map((f) => `${f.region} ${f.alarm}`) });
    if (found.length) return { ok: false, firing: found, checks };
    const left = end - now().getTime();
    if (left <= 0) return { ok: true, firing: [], checks };
    await sleep(Math.min(poll, left));
  }
}

/** The lines a failed wave prints: one per region and alarm. */
export function firingLines(firing: readonly Firing[]): string[] {
  return firing.map((f) => `ALARM in ${f.region}: ${f.alarm}${f.at ? ` since ${f.at}` : ''}${f.reason ? ` (${f.reason})` : ''}`);
}
