/**
 * Runbooks that run: every `npm run ops` command line in docs/runbooks (and in the operator
 * guide) parses against the CLI, run with --dry-run (arguments, flags, target and regions
 * checked, nothing contacted); every metric a runbook names exists (AWS metrics from their
 * documentation, custom ones from the metric contract); every alarm it names and every
 * dashboard graph it points at is one the app creates.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BROKER_METRICS, CONTROL_PLANE_METRICS, METRIC_NAMESPACES, PROXY_METRICS } from '../../lib/model/metrics';
import { runOps } from '../../lib/ops/cli';
import { SynthResult, synthEdgeApp } from '../support/synth';
import { AWS_METRICS, awsMetricProblems } from './aws/metric-catalog';
import { TemplateReader } from './aws/template';
import { REPO_ROOT } from './support';

const RUNBOOK_DIR = join(REPO_ROOT, 'docs', 'runbooks');
const runbooks = readdirSync(RUNBOOK_DIR)
  .filter((f) => f.endsWith('.md'))
  .map((f) => ({ file: `docs/runbooks/${f}`, text: readFileSync(join(RUNBOOK_DIR, f), 'utf8') }));
const operations = { file: 'docs/operations.md', text: readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8') };

/** What the placeholders of the runbooks stand for in a dry run (an unknown placeholder fails the test). */
const PLACEHOLDERS: Record<string, string> = {
  '<home-region>': 'us-east-1',
  '<region>': 'eu-west-1',
  '<instance-id>': 'a1b2c3d4-instance',
  '<platform>': 'edge',
  '<alarm-name>': 'edge-broker-dlq-not-empty',
  '<text>': 'a reason',
};

/** The `npm run ops -- ...` command lines of a markdown text: inline code spans and lines of fenced blocks. */
function opsCommands(text: string): string[] {
  const commands: string[] = [];
  const fenced = /```[a-z]*\n([\s\S]*?)```/g;
  for (const block of text.matchAll(fenced)) {
    for (const line of block[1].split('\n')) {
      const trimmed = line.trim().replace(/\s+#\s.*$/, '');
      if (trimmed.startsWith('npm run ops --')) commands.push(trimmed);
    }
  }
  const outside = text.replace(fenced, '');
  for (const span of outside.matchAll(/`(npm run ops -- [^`]*)`/g)) commands.push(span[1]);
  return commands;
}

/** Shell words (double and single quotes), placeholders replaced. */
function words(command: string): string[] {
  const out: string[] = [];
  for (const m of command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]);
  return out.map((w) => w.replace(/<[a-z-]+>/g, (p) => {
    if (!(p in PLACEHOLDERS)) throw new Error(`placeholder ${p} in "${command}" has no dry-run value in runbooks.test.ts`);
    return PLACEHOLDERS[p];
  }));
}

describe('every operator command the runbooks give parses against the CLI', () => {
  const all = [...runbooks, operations].flatMap(({ file, text }) => opsCommands(text).map((command) => ({ file, command })));

  test('the runbooks give commands (the extraction finds them)', () => {
    expect(all.filter((c) => c.file.startsWith('docs/runbooks')).length).toBeGreaterThan(30);
    expect(all.map((c) => c.command)).toEqual(expect.arrayContaining(['npm run ops -- dlq redrive --region <home-region> --max 5']));
  });

  test.each(all.map((c) => [`${c.file}: ${c.command}`, c.command] as const))('%s', async (_label, command) => {
    const argv = words(command).slice(words('npm run ops --').length);
    let stdout = '';
    let stderr = '';
    const code = await runOps([...argv, '--dry-run'], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: { USER: 'runbook-test' } });
    expect({ command, code, stderr }).toEqual({ command, code: 0, stderr: '' });
    expect(stdout).toMatch(/^(dry run: would |usage: )/);
  });

  test('the dry run catches what the issue found: a command without a target exits 2', async () => {
    let stderr = '';
    const code = await runOps(['dlq', 'show', '--dry-run'], { stdout: () => undefined, stderr: (t) => (stderr += t), env: {} });
    expect(code).toBe(2);
    expect(stderr).toContain('choose a target');
  });
});

/** Metric names the platform emits, by namespace (the metric contract). */
const CUSTOM: Record<string, readonly string[]> = {
  [METRIC_NAMESPACES.broker]: Object.values(BROKER_METRICS),
  [METRIC_NAMESPACES.controlPlane]: Object.values(CONTROL_PLANE_METRICS),
  [METRIC_NAMESPACES.proxy]: Object.values(PROXY_METRICS),
};
const KNOWN_METRIC_NAMES = new Set([...Object.values(CUSTOM).flat(), ...Object.values(AWS_METRICS).flatMap((m) => Object.keys(m))]);

/**
 * CamelCase words in runbook code spans that are not metrics: error codes and exception names
 * the runbooks quote, dimension names, construct ids, API enum values.
 */
const NOT_METRICS = new Set([
  'AccessDenied',
  'CannotPullContainerError',
  'FunctionName',
  'InsufficientInstanceCapacity',
  'InternalServerError',
  'InvalidAMIID',
  'LaunchFailures',
  'NoHealthyProxies',
  'PendingConfirmation',
  'ResourceInitializationError',
  'ServiceUnavailable',
  'SetAlarmState',
]);

describe('every metric a runbook names exists', () => {
  test('`Namespace MetricName` spans: documented AWS metrics, or metrics of the platform\'s contract', () => {
    const problems: string[] = [];
    let found = 0;
    for (const { file, text } of runbooks) {
      for (const m of text.matchAll(/`((?:AWS|ECS|Edge)\/[A-Za-z0-9]+) ([A-Za-z0-9_]+)/g)) {
        found++;
        const [, namespace, name] = m;
        if (namespace.startsWith('Edge/')) {
          if (!(CUSTOM[namespace] ?? []).includes(name)) problems.push(`${file}: ${namespace} ${name} is not a metric of the platform's contract (lib/model/metrics.ts)`);
        } else problems.push(...awsMetricProblems(namespace, name).map((p) => `${file}: ${p}`));
      }
    }
    expect(problems).toEqual([]);
    expect(found).toBeGreaterThan(25);
  });

  test('CamelCase code spans are metrics that exist, or known non-metric words (InitDuration is no metric)', () => {
    const problems: string[] = [];
    for (const { file, text } of runbooks) {
      for (const m of text.matchAll(/`([A-Z][a-z]+(?:[A-Z][a-z0-9]*)+)`/g)) {
        if (!KNOWN_METRIC_NAMES.has(m[1]) && !NOT_METRICS.has(m[1])) problems.push(`${file}: \`${m[1]}\` is no metric CloudWatch has (and not a known non-metric word)`);
      }
    }
    expect(problems).toEqual([]);
    expect(KNOWN_METRIC_NAMES.has('InitDuration')).toBe(false);
  });
});

describe('every alarm and dashboard graph a runbook names exists', () => {
  let synth: SynthResult;
  let alarmNames: Set<string>;
  let graphTitles: Set<string>;

  beforeAll(() => {
    synth = synthEdgeApp({ nag: false });
    alarmNames = new Set();
    graphTitles = new Set();
    const stacks = [{ name: 'edge-broker', region: 'us-east-1' }, ...synth.edge.fleets.map((f) => ({ name: f.stackName, region: f.region }))];
    for (const { name, region } of stacks) {
      const reader = new TemplateReader(name, synth.template(name).toJSON().Resources, { account: '123456789012', region });
      for (const type of ['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::CompositeAlarm']) {
        for (const [, alarm] of reader.ofType(type)) if (alarm.Properties.AlarmName) alarmNames.add(String(reader.resolve(alarm.Properties.AlarmName)));
      }
      for (const [, dashboard] of reader.ofType('AWS::CloudWatch::Dashboard')) {
        const body = JSON.parse(String(reader.resolve(dashboard.Properties.DashboardBody))) as { widgets: Array<{ properties: { title?: string } }> };
        for (const w of body.widgets) if (w.properties.title) graphTitles.add(w.properties.title);
      }
    }
  });

  test('alarm names (`<platform>-...`, with {a,b} and <handler> expanded)', () => {
    const notAlarms = new Set(['<platform>-broker', '<platform>-global', '<platform>-<region>', '<platform>-fleet-<region>']);
    const problems: string[] = [];
    for (const { file, text } of runbooks) {
      for (const m of text.matchAll(/`(<platform>-[^`]+)`/g)) {
        if (notAlarms.has(m[1])) continue;
        const alternatives = /\{([^}]+)\}/.exec(m[1])?.[1].split(',') ?? [''];
        const handlers = m[1].includes('<handler>') ? ['api', 'worker', 'authorizer', 'sweeper'] : [''];
        for (const alt of alternatives) {
          for (const handler of handlers) {
            const name = m[1].replace(/\{[^}]+\}/, alt).replace('<handler>', handler).replace('<platform>', 'edge');
            if (!alarmNames.has(name)) problems.push(`${file}: ${name} is not an alarm of the app`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  test('dashboard graphs (graph "Title", graphs "A" and "B") and no graph named another way', () => {
    const problems: string[] = [];
    let found = 0;
    for (const { file, text } of runbooks) {
      for (const m of text.replace(/\s+/g, ' ').matchAll(/graphs? ((?:"[^"]+"(?:,? (?:and )?)?)+)/g)) {
        for (const title of m[1].matchAll(/"([^"]+)"/g)) {
          if (title[1].startsWith('<')) continue; // the convention itself: graph "<title>"
          found++;
          if (!graphTitles.has(title[1])) problems.push(`${file}: graph "${title[1]}" is on no dashboard (graphs: ${[...graphTitles].join(' | ')})`);
        }
      }
      // The older way of naming a graph, `dashboard ("Title")`, is not checked: it must not come back.
      for (const m of text.replace(/\s+/g, ' ').matchAll(/dashboard[^.]*?\("([^"]+)"/g)) problems.push(`${file}: name the graph as graph "${m[1]}"`);
    }
    expect(problems).toEqual([]);
    expect(found).toBeGreaterThan(10);
  });
});
