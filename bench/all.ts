/**
 * `npm run bench`: every benchmark, one after another, each as its own process (so one's
 * heap and timers never skew the next): bench:synth, bench:broker, bench:control-plane,
 * bench:e2e. Their output streams through with a prefix; then their bench-results/*.json
 * are read and ONE summary table is printed (medians, with ratios against the goals the
 * issues state), and bench-results/summary.json is written.
 *
 * `npm run bench -- --only e2e,broker` or `--skip synth` (or BENCH_ONLY / BENCH_SKIP)
 * choose benches; BENCH_TIMEOUT_MS bounds each (default 20 minutes). A bench that fails
 * or is skipped is reported as such; a result file it did not write in this run is
 * marked stale, and a missing file or field is named in the summary.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = join(__dirname, '..');
const RESULTS = join(ROOT, 'bench-results');
const log = (line: string) => process.stdout.write(`${line}\n`);

interface Bench {
  readonly name: string;
  readonly script: string;
  readonly result: string;
}

const BENCHES: readonly Bench[] = [
  { name: 'synth', script: 'bench/synth.ts', result: 'synth.json' },
  { name: 'broker', script: 'bench/broker.ts', result: 'broker.json' },
  { name: 'control-plane', script: 'bench/control-plane.ts', result: 'control-plane.json' },
  { name: 'e2e', script: 'bench/e2e.ts', result: 'e2e.json' },
];

function option(flag: string, envName: string): string[] | undefined {
  const index = process.argv.indexOf(flag);
  const text = index >= 0 ? process.argv[index + 1] : process.env[envName];
  if (!text) return undefined;
  const names = text.split(',').map((n) => n.trim()).filter(Boolean);
  for (const name of names) {
    if (!BENCHES.some((b) => b.name === name)) throw new Error(`${flag} (${envName}): unknown bench "${name}"; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  }
  return names;
}

interface Outcome {
  readonly name: string;
  readonly status: 'ok' | 'failed' | 'skipped' | 'missing-script' | 'timed-out';
  readonly exitCode?: number | null;
  readonly ms?: number;
}

function runBench(bench: Bench, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [bench.script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      log(`  [${bench.name}] still running after ${timeoutMs} ms: stopping it`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, timeoutMs);
    for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', (line) => log(`  [${bench.name}] ${line}`));
    child.once('exit', (code) => {
      clearTimeout(timer);
      const ms = Math.round(performance.now() - started);
      resolve({ name: bench.name, status: timedOut ? 'timed-out' : code === 0 ? 'ok' : 'failed', exitCode: code, ms });
    });
  });
}

// ---- summary ----------------------------------------------------------------------------

interface Row {
  readonly bench: string;
  readonly measure: string;
  readonly value?: number;
  readonly unit: string;
  /** The goal an issue states, in the same unit, and whether lower is better. */
  readonly goal?: number;
  readonly ratio?: number;
  readonly note?: string;
}

// Result files are other scripts' JSON, read field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** Reads a numeric field by path; a missing one is recorded by name. */
function field(doc: Json, path: string, missing: string[], file: string): number | undefined {
  let value: Json = doc;
  for (const key of path.split('.')) value = value?.[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    missing.push(`${file}: ${path}`);
    return undefined;
  }
  return value;
}

function rowsFor(name: string, doc: Json, file: string, missing: string[]): Row[] {
  const rows: Row[] = [];
  const add = (measure: string, path: string, unit: string, goal?: number, note?: string) => {
    const value = field(doc, path, missing, file);
    rows.push({ bench: name, measure, value, unit, goal, ratio: value !== undefined && goal ? value / goal : undefined, note });
  };
  switch (name) {
    case 'synth':
      add(`cdk synth, CLI (${doc.stacks ?? '?'} stacks), median`, 'cli.medianMs', 'ms');
      add('cdk synth, CLI, per stack', 'cli.medianPerStackMs', 'ms');
      add('synth in process (construct + synth), median', 'inProcess.medianTotalMs', 'ms');
      break;
    case 'broker': {
      const latency: Json[] = Array.isArray(doc.latency) ? doc.latency : [];
      if (!latency.length) missing.push(`${file}: latency[]`);
      for (const series of latency.filter((s) => s.mode === 'sequential')) {
        rows.push({ bench: name, measure: `${series.name}, p50 (p99 ${Math.round(series.p99)} ms)`, value: series.p50, unit: 'ms' });
      }
      add('provision -> succeeded (broker only), p50', 'provisionToSucceededMs.p50', 'ms');
      add('sweeper: one sweep, 200 silent operations re-enqueued, median', 'sweepMs.p50', 'ms');
      break;
    }
    case 'control-plane': {
      const fleets: Json[] = Array.isArray(doc.fleets) ? doc.fleets : [];
      if (!fleets.length) missing.push(`${file}: fleets[]`);
      for (const fleet of fleets) {
        const value = fleet?.changeToAllAckedMs?.median;
        const goal = fleet?.nodes === 2000 ? 1000 : undefined;
        rows.push({ bench: name, measure: `${fleet.nodes} nodes: route change -> all ACKed, median`, value, unit: 'ms', goal, ratio: typeof value === 'number' && goal ? value / goal : undefined });
        if (typeof fleet?.heapPerNodeKb === 'number') rows.push({ bench: name, measure: `${fleet.nodes} nodes: server heap per node`, value: fleet.heapPerNodeKb, unit: 'KB', goal: 50, ratio: fleet.heapPerNodeKb / 50 });
      }
      if (!fleets.some((f) => f?.nodes === 2000)) missing.push(`${file}: fleets[nodes=2000] (the 1 s goal)`);
      const render: Json[] = Array.isArray(doc.render) ? doc.render : [];
      for (const r of render) rows.push({ bench: name, measure: `render + validate ${r.routes} routes, cold`, value: r.coldMs, unit: 'ms' });
      if (doc.rest) add('REST discovery, full CDS', 'rest.fullClustersRps', 'req/s');
      break;
    }
    case 'e2e': {
      const soak = doc.canary?.soakMs;
      if (typeof soak === 'number' && soak > 0) {
        add('provision -> succeeded, median', 'provisionToSucceededMs.median', 'ms');
        add(`provision -> succeeded less the ${soak} ms canary soak, median`, 'provisionToSucceededLessSoakMs.median', 'ms', 2000);
      } else add('provision -> succeeded, median', 'provisionToSucceededMs.median', 'ms', 2000);
      add(`provision -> all ${doc.nodes ?? '?'} nodes ACKed, median`, 'provisionToAllAckedMs.median', 'ms');
      add(`deprovision -> all ${doc.nodes ?? '?'} nodes dropped it, median`, 'deprovisionToAllWithdrawnMs.median', 'ms');
      break;
    }
  }
  return rows;
}

function format(value: number | undefined, unit: string): string {
  if (value === undefined) return 'missing';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

async function main(): Promise<void> {
  const only = option('--only', 'BENCH_ONLY');
  const skip = option('--skip', 'BENCH_SKIP') ?? [];
  const timeoutMs = Number(process.env.BENCH_TIMEOUT_MS ?? 20 * 60_000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error(`BENCH_TIMEOUT_MS: expected a positive number of milliseconds, got "${process.env.BENCH_TIMEOUT_MS}"`);
  const started = Date.now();
  const outcomes: Outcome[] = [];
  const selected = BENCHES.filter((b) => (!only || only.includes(b.name)) && !skip.includes(b.name));
  for (const bench of BENCHES) {
    if (!selected.includes(bench)) {
      outcomes.push({ name: bench.name, status: 'skipped' });
      continue;
    }
    if (!existsSync(join(ROOT, bench.script))) {
      log(`bench ${bench.name}: ${bench.script} does not exist; skipped`);
      outcomes.push({ name: bench.name, status: 'missing-script' });
      continue;
    }
    log(`bench ${bench.name} (${selected.indexOf(bench) + 1}/${selected.length}): tsx ${bench.script}`);
    const outcome = await runBench(bench, timeoutMs);
    log(`bench ${bench.name}: ${outcome.status}${outcome.status === 'failed' ? ` (exit ${outcome.exitCode})` : ''} in ${((outcome.ms ?? 0) / 1000).toFixed(1)} s`);
    outcomes.push(outcome);
  }

  const rows: Row[] = [];
  const missing: string[] = [];
  const files: Record<string, { file: string; fresh: boolean; at?: string }> = {};
  for (const bench of BENCHES) {
    const path = join(RESULTS, bench.result);
    const file = `bench-results/${bench.result}`;
    if (!existsSync(path)) {
      missing.push(`${file}: no such file (bench ${bench.name} ${outcomes.find((o) => o.name === bench.name)?.status})`);
      continue;
    }
    let doc: Json;
    try {
      doc = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      missing.push(`${file}: not valid JSON (${(err as Error).message})`);
      continue;
    }
    const fresh = statSync(path).mtimeMs >= started;
    files[bench.name] = { file, fresh, at: typeof doc.at === 'string' ? doc.at : new Date(statSync(path).mtimeMs).toISOString() };
    for (const row of rowsFor(bench.name, doc, file, missing)) rows.push(fresh ? row : { ...row, note: `stale: from ${files[bench.name].at}` });
  }

  log('');
  log('summary');
  const header = ['bench', 'measure', 'median', 'goal', 'ratio', 'note'];
  const table = rows.map((r) => [r.bench, r.measure, format(r.value, r.unit), r.goal ? `< ${r.goal} ${r.unit}` : '', r.ratio !== undefined ? `${r.ratio.toFixed(2)}${r.ratio <= 1 ? ' ok' : ' OVER'}` : '', r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  log(line(header));
  log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of table) log(line(row));
  log('');
  for (const o of outcomes) log(`${o.name}: ${o.status}${o.ms !== undefined ? ` (${(o.ms / 1000).toFixed(1)} s)` : ''}`);
  if (missing.length) {
    log('missing:');
    for (const m of missing) log(`  ${m}`);
  }

  mkdirSync(RESULTS, { recursive: true });
  const summary = { at: new Date().toISOString(), node: process.version, benches: outcomes, files, rows, missing };
  writeFileSync(join(RESULTS, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  log('wrote bench-results/summary.json');
  process.exit(outcomes.some((o) => o.status === 'failed' || o.status === 'timed-out') ? 1 : 0);
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.message}\n`);
  process.exit(1);
});
