/**
 * `npm run bench:broker [requests]` (or BENCH_REQUESTS=n, default 300): the local broker on
 * dynalite + fauxqs, measured over HTTP on loopback, the way a platform calls it.
 *
 * 1. API latency, p50 / p99 / mean, for GET /v2/catalog, PUT (provision, each a new
 *    instance) and GET last_operation: `requests` sequential requests, then `requests`
 *    with 8 in flight (throughput as well).
 * 2. Provision-to-succeeded: PUT, then poll last_operation every 10 ms until `succeeded`
 *    (standard plan; the worker loop long-polls the local queue), median and p99 over N=25.
 * 3. The stuck-operation sweeper: one sweep of the table (a paginated Scan) with 200
 *    operations in progress whose messages look lost (all re-enqueued), median over 5 runs.
 * 4. Lambda bundle sizes: the three entries bundled with esbuild as NodejsFunction does
 *    (minified, node22, @aws-sdk/* external since the runtime provides it), and fully bundled.
 * Prints progress and a table, and writes bench-results/broker.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { startEmulators } from '../lib/local/emulators';
import { PLANS, SERVICE_ID } from '../lib/broker/runtime/catalog';
import { startLocalBroker } from '../lib/broker/runtime/local/local-broker';
import { newOperationId } from '../lib/broker/runtime/store/store';
import { wholeNumber } from './args';

const ROOT = join(__dirname, '..');
const requests = wholeNumber('requests (argument 1 or BENCH_REQUESTS)', process.argv[2] ?? process.env.BENCH_REQUESTS, 300, 10);
const CONCURRENCY = 8;
const PROVISION_RUNS = 25;
const SWEEP_RUNS = 5;
const SWEEP_SILENT_OPERATIONS = 200;
const log = (line: string) => process.stdout.write(`${line}\n`);

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

interface Series {
  readonly name: string;
  readonly mode: string;
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  readonly perSecond: number;
}

function summarize(name: string, mode: string, samples: number[], wallMs: number): Series {
  return {
    name,
    mode,
    n: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
    perSecond: (samples.length / wallMs) * 1000,
  };
}

async function main(): Promise<void> {
  log(`bench:broker: ${requests} requests per series, concurrency ${CONCURRENCY}, ${PROVISION_RUNS} provisions`);
  const emulators = await startEmulators();
  const broker = await startLocalBroker({
    port: 0,
    user: 'broker',
    password: 'bench',
    tableName: 'edge-broker',
    dynamodbEndpoint: emulators.dynamodbEndpoint,
    sqsEndpoint: emulators.sqsEndpoint,
    logLevel: 'SILENT',
    worker: { pollWaitSeconds: 1, waitSeconds: 0 },
  });
  const headers = {
    authorization: `Basic ${Buffer.from('broker:bench').toString('base64')}`,
    'x-broker-api-version': '2.17',
    'content-type': 'application/json',
  };
  const provisionBody = (id: string) =>
    JSON.stringify({
      service_id: SERVICE_ID,
      plan_id: PLANS.standard.id,
      organization_guid: 'org',
      space_guid: 'space',
      parameters: { hostnames: [`${id}.edge.example.com`], backends: [{ address: '10.0.0.1', port: 8080, protocol: 'http' }] },
    });

  async function timed(method: string, path: string, body?: string, expect = 200): Promise<{ ms: number; json: Record<string, unknown> }> {
    const started = performance.now();
    const response = await fetch(`${broker.url}${path}`, { method, headers, body });
    const text = await response.text();
    const ms = performance.now() - started;
    if (response.status !== expect) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return { ms, json: JSON.parse(text) as Record<string, unknown> };
  }

  async function series(name: string, request: (i: number) => Promise<number>): Promise<Series[]> {
    const out: Series[] = [];
    for (const concurrency of [1, CONCURRENCY]) {
      const samples: number[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < requests) {
            const i = next++;
            samples.push(await request(i + concurrency * 100000));
            if (samples.length % 100 === 0) log(`  ${name} (x${concurrency}): ${samples.length}/${requests}`);
          }
        }),
      );
      out.push(summarize(name, concurrency === 1 ? 'sequential' : `${concurrency} in flight`, samples, performance.now() - started));
    }
    return out;
  }

  try {
    for (let i = 0; i < 20; i++) await timed('GET', '/v2/catalog'); // warm-up (JIT, connections, schema compile)

    const results: Series[] = [];
    results.push(...(await series('GET /v2/catalog', async () => (await timed('GET', '/v2/catalog')).ms)));

    log('  provision-to-succeeded ...');
    const provisionTimes: number[] = [];
    for (let i = 0; i < PROVISION_RUNS; i++) {
      const id = `p2s-${i}`;
      const started = performance.now();
      const put = await timed('PUT', `/v2/service_instances/${id}?accepts_incomplete=true`, provisionBody(id), 202);
      for (;;) {
        const poll = await timed('GET', `/v2/service_instances/${id}/last_operation?operation=${String(put.json.operation)}`);
        if (poll.json.state === 'succeeded') break;
        if (poll.json.state === 'failed') throw new Error(`provision ${id} failed: ${String(poll.json.description)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      provisionTimes.push(performance.now() - started);
    }
    log(`  provision-to-succeeded: ${PROVISION_RUNS}/${PROVISION_RUNS}`);

    const opId = `lo-probe`;
    const probe = await timed('PUT', `/v2/service_instances/${opId}?accepts_incomplete=true`, provisionBody(opId), 202);
    results.push(
      ...(await series('GET last_operation', async () => (await timed('GET', `/v2/service_instances/${opId}/last_operation?operation=${String(probe.json.operation)}`)).ms)),
    );
    results.push(...(await series('PUT provision (new)', async (i) => (await timed('PUT', `/v2/service_instances/load-${i}?accepts_incomplete=true`, provisionBody(`load-${i}`), 202)).ms)));

    log(`  sweeper: ${SWEEP_RUNS} sweeps, each with ${SWEEP_SILENT_OPERATIONS} silent operations in progress ...`);
    const sweepTimes: number[] = [];
    let sweptItems = 0;
    const idle = async () => {
      while ((await broker.store.operationsInProgress()).length > 0) await new Promise((r) => setTimeout(r, 50));
    };
    await idle(); // the provisions above finish first: only the seeded operations are in progress
    for (let run = 1; run <= SWEEP_RUNS; run++) {
      const createdAt = new Date().toISOString();
      for (let i = 0; i < SWEEP_SILENT_OPERATIONS; i++) {
        // An operation whose request crashed before its instance was written: re-enqueued, then closed by the worker.
        await broker.store.putOperation({ operationId: newOperationId(), instanceId: `sweep-${run}-${i}`, type: 'provision', state: 'in progress', step: 'queued', completedSteps: [], description: 'provision: queued', attempts: 0, createdAt, updatedAt: createdAt });
      }
      // Far enough ahead that every one of them is silent past the local threshold.
      const started = performance.now();
      const result = await broker.sweep(Date.now() + run * 3600_000);
      sweepTimes.push(performance.now() - started);
      if (result.reenqueued.length !== SWEEP_SILENT_OPERATIONS) throw new Error(`sweep ${run}: re-enqueued ${result.reenqueued.length} of ${SWEEP_SILENT_OPERATIONS}`);
      await idle();
      sweptItems = (await broker.store.operationsInProgress()).length;
      log(`    sweep ${run}/${SWEEP_RUNS}: ${sweepTimes[run - 1].toFixed(0)} ms`);
    }
    const sweep = { n: sweepTimes.length, p50: percentile(sweepTimes, 50), max: Math.max(...sweepTimes), silentOperations: SWEEP_SILENT_OPERATIONS, leftInProgress: sweptItems };

    log('  bundling the Lambda entries ...');
    const bundles: Record<string, { externalSdkKiB: number; fullKiB: number }> = {};
    for (const entry of ['api', 'worker', 'authorizer', 'sweeper']) {
      const size = (external: string[]) => {
        const out = buildSync({
          entryPoints: [join(ROOT, 'lib/broker/runtime/lambda', `${entry}.ts`)],
          bundle: true,
          minify: true,
          platform: 'node',
          target: 'node22',
          format: 'cjs',
          external,
          write: false,
          logLevel: 'silent',
        });
        return out.outputFiles[0].contents.length / 1024;
      };
      bundles[entry] = { externalSdkKiB: size(['@aws-sdk/*']), fullKiB: size([]) };
    }

    const provision = { n: provisionTimes.length, p50: percentile(provisionTimes, 50), p99: percentile(provisionTimes, 99), mean: provisionTimes.reduce((a, b) => a + b, 0) / provisionTimes.length };
    log('');
    log('| request | mode | n | p50 ms | p99 ms | mean ms | req/s |');
    log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const s of results) log(`| ${s.name} | ${s.mode} | ${s.n} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.mean.toFixed(1)} | ${s.perSecond.toFixed(0)} |`);
    log('');
    log(`provision-to-succeeded (standard, local): median ${provision.p50.toFixed(0)} ms, p99 ${provision.p99.toFixed(0)} ms over ${provision.n}`);
    log(`sweeper: one sweep with ${SWEEP_SILENT_OPERATIONS} silent operations re-enqueued: median ${sweep.p50.toFixed(0)} ms, max ${sweep.max.toFixed(0)} ms over ${sweep.n}`);
    log('');
    log('| Lambda entry | bundle, @aws-sdk external (KiB) | fully bundled (KiB) |');
    log('| --- | ---: | ---: |');
    for (const [entry, b] of Object.entries(bundles)) log(`| ${entry} | ${b.externalSdkKiB.toFixed(0)} | ${b.fullKiB.toFixed(0)} |`);

    mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
    writeFileSync(
      join(ROOT, 'bench-results', 'broker.json'),
      `${JSON.stringify({ at: new Date().toISOString(), node: process.version, requests, concurrency: CONCURRENCY, latency: results, provisionToSucceededMs: provision, sweepMs: sweep, bundlesKiB: bundles }, null, 2)}\n`,
    );
    log('\nwrote bench-results/broker.json');
  } finally {
    await broker.stop();
    await emulators.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:broker failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
