/**
 * `npm run bench:synth [runs]` (or BENCH_RUNS=n): times the full synth of the whole app.
 *
 * 1. The real CLI, `npx cdk synth -q -o <tmp>`, `runs` times (cdk-nag and CloudFormation
 *    validation on, as in CI): median wall time, and that time divided by the number of stacks.
 * 2. In process (same config, same checks, no Lambda bundling), `runs` times: median time to construct the app,
 *    median `app.synth()` time (aspects, cdk-nag, CloudFormation validation, templates), and the
 *    median time each stack's synthesizer takes to render and write its template (measured by
 *    timing each stack's `synthesizer.synthesize` call; it excludes construction and the
 *    app-wide checks, which CDK runs once for all stacks).
 * Prints progress per run and writes bench-results/synth.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, ISynthesisSession, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildEdgeApp } from '../lib/app';
import { loadConfig } from '../lib/config';
import { wholeNumber } from './args';

const ROOT = join(__dirname, '..');
/** Synth refuses alarms that reach nobody (lib/config/alarm-recipients.ts): the bench synthesizes with one recipient. */
const ALARM_RECIPIENTS = JSON.stringify({ alarms: { emails: ['edge-oncall@example.com'] } });
const runs = wholeNumber('runs (argument 1 or BENCH_RUNS)', process.argv[2] ?? process.env.BENCH_RUNS, 5, 1);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const ms = (n: number) => `${n.toFixed(0)} ms`;
const log = (line: string) => process.stdout.write(`${line}\n`);

/** Hermetic environment: no credentials, no metadata service, no version check. */
function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true', AWS_EC2_METADATA_DISABLED: 'true' };
  for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_DEFAULT_PROFILE']) delete env[key];
  return env;
}

interface CliRun {
  readonly ms: number;
  readonly stacks: number;
  readonly resources: Record<string, number>;
}

function cliRun(i: number): CliRun {
  const out = mkdtempSync(join(tmpdir(), 'edge-bench-synth-'));
  try {
    const started = process.hrtime.bigint();
    execFileSync('npx', ['cdk', 'synth', '-q', '-o', out, '-c', `edge:config=${ALARM_RECIPIENTS}`], { cwd: ROOT, env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    const templates = readdirSync(out).filter((f) => f.endsWith('.template.json'));
    const resources = Object.fromEntries(
      templates.map((f) => [f.replace('.template.json', ''), Object.keys(JSON.parse(readFileSync(join(out, f), 'utf8')).Resources ?? {}).length]),
    );
    log(`  cli run ${i + 1}/${runs}: ${ms(elapsed)} (${templates.length} stacks)`);
    return { ms: elapsed, stacks: templates.length, resources };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

interface InProcessRun {
  readonly constructMs: number;
  readonly synthMs: number;
  readonly perStackMs: Record<string, number>;
}

/** One in-process synth; `regions` (comma list) overrides the configured fleet regions. */
function inProcessRun(i: number, regions?: string): InProcessRun {
  const outdir = mkdtempSync(join(tmpdir(), 'edge-bench-synth-'));
  try {
    // No Lambda bundling in process (the CLI runs include it): it is the broker's esbuild work, not synth.
    const context = { ...JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')).context, 'aws:cdk:bundling-stacks': [] };
    let started = process.hrtime.bigint();
    const app = new App({ outdir, context });
    const config = loadConfig((key) => (key === 'edge:regions' && regions ? regions : key === 'edge:config' ? ALARM_RECIPIENTS : app.node.tryGetContext(key)));
    const edge = buildEdgeApp(app, config);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const constructMs = Number(process.hrtime.bigint() - started) / 1e6;

    const perStackMs: Record<string, number> = {};
    for (const stack of [edge.table, edge.broker, ...edge.fleets] as Stack[]) {
      const synthesizer = stack.synthesizer;
      const original = synthesizer.synthesize.bind(synthesizer);
      synthesizer.synthesize = (session: ISynthesisSession) => {
        const t0 = process.hrtime.bigint();
        original(session);
        perStackMs[stack.stackName] = Number(process.hrtime.bigint() - t0) / 1e6;
      };
    }
    started = process.hrtime.bigint();
    app.synth();
    const synthMs = Number(process.hrtime.bigint() - started) / 1e6;
    log(`  in-process run ${i + 1}/${runs}${regions ? ` (${regions} only)` : ''}: construct ${ms(constructMs)}, synth ${ms(synthMs)}`);
    return { constructMs, synthMs, perStackMs };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function main(): void {
  log(`bench:synth — ${runs} run(s) of the whole app (cdk-nag + CloudFormation validation on)`);
  log('real CLI: npx cdk synth -q -o <tmp>');
  const cli = Array.from({ length: runs }, (_, i) => cliRun(i));
  log('in process: construct + app.synth(), per-stack synthesizer timing');
  const inProcess = Array.from({ length: runs }, (_, i) => inProcessRun(i));
  log('in process, one fleet region only (for the marginal cost of a fleet stack)');
  const single = Array.from({ length: runs }, (_, i) => inProcessRun(i, 'us-east-1'));

  const stacks = cli[0].stacks;
  const cliMedian = median(cli.map((r) => r.ms));
  const stackNames = Object.keys(inProcess[0].perStackMs);
  const perStack = Object.fromEntries(stackNames.map((name) => [name, median(inProcess.map((r) => r.perStackMs[name]))]));
  const fleetNames = stackNames.filter((n) => n.includes('-fleet-'));
  const resources = cli[0].resources;
  const fleetResources = fleetNames.map((n) => resources[n]);
  const fullTotal = median(inProcess.map((r) => r.constructMs + r.synthMs));
  const singleTotal = median(single.map((r) => r.constructMs + r.synthMs));
  const marginalPerFleetMs = (fullTotal - singleTotal) / Math.max(1, fleetNames.length - 1);
  const summary = {
    runs,
    stacks,
    cli: { medianMs: cliMedian, medianPerStackMs: cliMedian / stacks, runsMs: cli.map((r) => r.ms) },
    inProcess: {
      medianConstructMs: median(inProcess.map((r) => r.constructMs)),
      medianSynthMs: median(inProcess.map((r) => r.synthMs)),
      medianTotalMs: median(inProcess.map((r) => r.constructMs + r.synthMs)),
      medianTemplateSynthesisMsPerStack: perStack,
      medianFleetTemplateSynthesisMs: median(fleetNames.map((n) => perStack[n])),
      medianOneFleetRegionTotalMs: singleTotal,
      marginalMsPerFleetStack: marginalPerFleetMs,
    },
    resources: {
      perStack: resources,
      fleet: { min: Math.min(...fleetResources), median: median(fleetResources), max: Math.max(...fleetResources) },
    },
    node: process.version,
    measuredAt: new Date().toISOString(),
  };

  log('');
  log(`cdk synth (CLI), median of ${runs}: ${ms(cliMedian)} total for ${stacks} stacks = ${ms(cliMedian / stacks)} per stack (total / stacks)`);
  log(
    `in process, median: construct ${ms(summary.inProcess.medianConstructMs)} + app.synth ${ms(summary.inProcess.medianSynthMs)} = ${ms(summary.inProcess.medianTotalMs)}; ` +
      `CLI overhead (npx, tsx, module load, Lambda bundling, assembly read) ≈ ${ms(cliMedian - summary.inProcess.medianTotalMs)}`,
  );
  log(
    `marginal cost of one more fleet stack (construct + aspects + cdk-nag + validation + template): ` +
      `(${ms(fullTotal)} − ${ms(singleTotal)} with one region) / ${fleetNames.length - 1} = ${ms(marginalPerFleetMs)}`,
  );
  log('template synthesis per stack (median ms; excludes construction and app-wide cdk-nag/validation):');
  for (const name of stackNames) log(`  ${name.padEnd(28)} ${perStack[name].toFixed(1).padStart(7)} ms  ${String(resources[name] ?? '?').padStart(4)} resources`);
  log(`fleet stacks: median ${summary.inProcess.medianFleetTemplateSynthesisMs.toFixed(1)} ms template synthesis; resources min/median/max ${summary.resources.fleet.min}/${summary.resources.fleet.median}/${summary.resources.fleet.max}`);

  mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench-results', 'synth.json'), `${JSON.stringify(summary, null, 2)}\n`);
  log('wrote bench-results/synth.json');
}

main();
