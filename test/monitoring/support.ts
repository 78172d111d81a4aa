import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CfnResource, Resources, ofType } from '../support/template';

/** Small readers over synthesized templates for the monitoring tests (the template readers are test/support/template.ts). */

export type { CfnResource, Resources };
export { ofType };

export const ALARM_TYPES = ['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::CompositeAlarm'];
export const REPO_ROOT = join(__dirname, '..', '..');
export const RUNBOOK_SECTIONS = ['What it means', 'Confirm', 'Mitigate', 'Verify recovery'];
export const PROCEDURE_SECTIONS = ['When to use', 'Steps', 'Verify'];

export const alarmsOf = (resources: Resources) => ofType(resources, ...ALARM_TYPES);

/** Every (namespace, metric name) an alarm reads, whether a plain metric or inside metric math. */
export function metricsOf(alarm: CfnResource): Array<{ namespace: string; name: string; dimensions: Record<string, unknown>; stat?: string }> {
  const p = alarm.Properties;
  type Dim = { Name: string; Value: unknown };
  const dims = (list: unknown) => Object.fromEntries(((list as Dim[] | undefined) ?? []).map((d) => [d.Name, d.Value]));
  if (p.MetricName) {
    return [{ namespace: p.Namespace as string, name: p.MetricName as string, dimensions: dims(p.Dimensions), stat: (p.Statistic ?? p.ExtendedStatistic) as string }];
  }
  const queries = (p.Metrics as Array<{ MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: Dim[] }; Stat: string } }> | undefined) ?? [];
  return queries
    .filter((q) => q.MetricStat)
    .map((q) => ({
      namespace: q.MetricStat!.Metric.Namespace,
      name: q.MetricStat!.Metric.MetricName,
      dimensions: dims(q.MetricStat!.Metric.Dimensions),
      stat: q.MetricStat!.Stat,
    }));
}

/** Alarms of `resources` that read `namespace`/`name` (and whose dimensions match, if given). */
export function alarmsReading(resources: Resources, namespace: string, name: string, dimensions: Record<string, unknown> = {}): Array<[string, CfnResource]> {
  return alarmsOf(resources).filter(([, alarm]) =>
    metricsOf(alarm).some(
      (m) => m.namespace === namespace && m.name === name && Object.entries(dimensions).every(([k, v]) => JSON.stringify(m.dimensions[k]) === JSON.stringify(v)),
    ),
  );
}

export function runbookPath(name: string): string {
  return join(REPO_ROOT, 'docs', 'runbooks', `${name}.md`);
}

/** Problems with a runbook file: missing, or without one of its sections as a heading. */
export function runbookProblems(name: string, sections: readonly string[] = RUNBOOK_SECTIONS): string[] {
  const path = runbookPath(name);
  if (!existsSync(path)) return [`${name}: docs/runbooks/${name}.md does not exist`];
  const text = readFileSync(path, 'utf8');
  return sections.filter((section) => !new RegExp(`^#{2,3} ${section}\\b`, 'm').test(text)).map((s) => `${name}: no "## ${s}" section`);
}
