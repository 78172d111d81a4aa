/**
 * Control plane benchmark (`npm run bench:control-plane`). Figures, not a test:
 *  - render + validate time for 1,000 and 10,000 routes (cold and after one change);
 *  - 2,000 (then 10,000) simulated Envoy nodes on SotW ADS streams, 1,000 routes: time from a
 *    route change written to DynamoDB to every node having ACKed it (median of several changes);
 *  - server heap per connected node beyond the shared snapshot;
 *  - REST discovery requests per second.
 * The simulated nodes run in a child process (this file with `--clients`), so the server has
 * its own core; everything is on loopback.
 */
import { ChildProcess, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { Reader, Writer } from 'protobufjs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureBrokerTable, localClientConfig, startEmulators } from '../lib/local/emulators';
import { RouteDocument } from '../lib/model';
import { putRoutes, reserveGenerations, routeWriter } from '../test/support/routes';
import { startLocalControlPlane } from '../lib/control-plane/runtime/local';
import { silentLogger } from '../lib/control-plane/runtime/logger';
import { SnapshotRenderer } from '../lib/control-plane/runtime/snapshot';
import { TYPE_URLS, messageType } from '../lib/control-plane/runtime/protos';
import { NodeInfo, TemplateRegistry } from '../lib/control-plane/runtime/templates';
import { wholeNumber, wholeNumbers } from './args';

const REGION = 'us-east-1';
const TOKEN = 'bench-token';
const TABLE = 'edge-broker';
const ROUTES = wholeNumber('BENCH_ROUTES', process.env.BENCH_ROUTES, 1000, 1);
const NODE_COUNTS = wholeNumbers('BENCH_NODES', process.env.BENCH_NODES, [2000, 10000], 1);
const CHANGES = wholeNumber('BENCH_CHANGES', process.env.BENCH_CHANGES, 5, 1);
const STREAMS_PER_CONNECTION = 50;

const log = (message: string) => process.stdout.write(`[bench] ${message}\n`);
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)];
};
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function spec(i: number, port = 8000 + (i % 1000)): RouteDocument['spec'] {
  return {
    hostnames: [`svc-${i}.edge.example.com`],
    backends: [
      { address: `10.${(i >> 8) & 255}.${i & 255}.1`, port, protocol: 'http', region: REGION },
      { address: `10.${(i >> 8) & 255}.${i & 255}.2`, port, protocol: 'http', region: 'eu-west-1', weight: 2 },
    ],
    health_check: { path: '/healthz' },
    routes: [{ match: { prefix: '/' }, timeout_seconds: 15, retries: { attempts: 2 } }],
    rate_limit: i % 10 === 0 ? { requests_per_unit: 100, unit: 'second' } : undefined,
    regions: [REGION],
  };
}

function routeDoc(i: number, generation: number): RouteDocument {
  return { instanceId: `bench-${String(i).padStart(5, '0')}`, plan: 'standard', generation, deleted: false, spec: spec(i), updatedAt: new Date().toISOString() };
}

// ---------------------------------------------------------------- render + validate

function renderFigures(count: number) {
  const node: NodeInfo = { id: 'bench', cluster: 'fleet', region: REGION, zone: 'a', userAgentName: 'envoy', metadata: {} };
  const registry = new TemplateRegistry();
  const renderer = new SnapshotRenderer(registry, registry.profileOf(node), node);
  const settings = { platformName: 'edge', region: REGION, domain: 'edge.example.com', httpsTrafficPort: 8443, httpTrafficPort: 8080, accessLogPath: '/dev/stdout' };
  const routes = Array.from({ length: count }, (_, i) => routeDoc(i, i + 1));
  let t = nowMs();
  const cold = renderer.render({ settings, routes });
  const coldMs = nowMs() - t;
  if (!cold.ok) throw new Error(`render failed: ${JSON.stringify(cold.problems.slice(0, 3))}`);
  const changed = [...routes];
  changed[7] = { ...changed[7], generation: count + 1, spec: spec(7, 9999) };
  t = nowMs();
  const warm = renderer.render({ settings, routes: changed }, cold.snapshot);
  const warmMs = nowMs() - t;
  if (!warm.ok) throw new Error('warm render failed');
  const resources = Object.values(cold.snapshot.types).reduce((n, ts) => n + ts.resources.size, 0);
  return { routes: count, resources, coldMs: round(coldMs), oneChangeMs: round(warmMs) };
}

// ---------------------------------------------------------------- simulated nodes (child process)

interface ParsedResponse {
  version: string;
  typeUrl: string;
  nonce: string;
  names?: string[];
}

function parseResponse(buffer: Buffer, wantNames: boolean): ParsedResponse {
  const reader = Reader.create(buffer);
  const out: ParsedResponse = { version: '', typeUrl: '', nonce: '' };
  const names: string[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 1) out.version = reader.string();
    else if (field === 4) out.typeUrl = reader.string();
    else if (field === 5) out.nonce = reader.string();
    else if (field === 2 && wantNames) {
      const any = Reader.create(reader.bytes());
      while (any.pos < any.len) {
        const t = any.uint32();
        if (t >>> 3 === 2) {
          const value = Reader.create(any.bytes());
          // name is field 1 of Cluster, Listener and RouteConfiguration
          if (value.uint32() >>> 3 === 1) names.push(value.string());
        } else any.skipType(t & 7);
      }
    } else reader.skipType(tag & 7);
  }
  if (wantNames) out.names = names;
  return out;
}

function encodeRequest(typeUrl: string, namesBytes: Uint8Array, version: string, nonce: string, node?: Uint8Array): Buffer {
  const writer = Writer.create();
  if (version) writer.uint32(10).string(version);
  if (node) writer.uint32(18).bytes(node);
  writer.uint32(34).string(typeUrl);
  if (nonce) writer.uint32(42).string(nonce);
  return Buffer.concat([Buffer.from(writer.finish()), Buffer.from(namesBytes)]);
}

function namesField(names: readonly string[]): Uint8Array {
  const writer = Writer.create();
  for (const name of names) writer.uint32(26).string(name);
  return writer.finish();
}

async function runClients(port: number, count: number): Promise<void> {
  const send = (message: unknown) => process.send!(message);
  const nodeType = messageType('envoy.config.core.v3.Node');
  const ORDER = [TYPE_URLS.clusters, TYPE_URLS.endpoints, TYPE_URLS.listeners, TYPE_URLS.routes];
  const acked = ORDER.map(() => new Map<number, string>()); // per type: node -> version acked
  const ackTime = new Map<string, number>(); // `${type}|${version}` -> time the last node acked (updated)
  const ackCount = new Map<string, number>();
  let edsNames: Uint8Array | undefined;
  const edsWaiting: Array<() => void> = [];
  const channels: grpc.Client[] = [];
  const empty = new Uint8Array(0);
  const routeNames = namesField(['edge-https']);
  let opened = 0;

  const open = (index: number) => {
    const channelIndex = Math.floor(index / STREAMS_PER_CONNECTION);
    channels[channelIndex] ??= new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, channelIndex });
    const call = channels[channelIndex].makeBidiStreamRequest(
      '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    const node = nodeType.encode(
      nodeType.fromObject({
        id: `i-${String(index).padStart(6, '0')}`,
        cluster: 'edge-fleet-us-east-1',
        locality: { region: REGION, zone: 'us-east-1a' },
        user_agent_name: 'envoy',
        metadata: { fields: { auth: { stringValue: TOKEN } } },
      }),
    ).finish();
    const namesFor = (typeUrl: string) => (typeUrl === TYPE_URLS.endpoints ? (edsNames ?? empty) : typeUrl === TYPE_URLS.routes ? routeNames : empty);
    call.on('data', (buffer: Buffer) => {
      const wantNames = edsNames === undefined && buffer.length > 0;
      const response = parseResponse(buffer, wantNames);
      if (wantNames && response.typeUrl === TYPE_URLS.clusters) {
        edsNames = namesField(response.names!);
        for (const w of edsWaiting.splice(0)) w();
      }
      const typeIndex = ORDER.indexOf(response.typeUrl as (typeof ORDER)[number]);
      call.write(encodeRequest(response.typeUrl, namesFor(response.typeUrl), response.version, response.nonce));
      acked[typeIndex].set(index, response.version);
      const key = `${typeIndex}|${response.version}`;
      ackCount.set(key, (ackCount.get(key) ?? 0) + 1);
      ackTime.set(key, nowMs());
    });
    call.on('error', () => {});
    call.write(encodeRequest(TYPE_URLS.clusters, empty, '', '', node));
    const subscribeRest = () => {
      call.write(encodeRequest(TYPE_URLS.endpoints, edsNames!, '', ''));
      call.write(encodeRequest(TYPE_URLS.listeners, empty, '', ''));
      call.write(encodeRequest(TYPE_URLS.routes, routeNames, '', ''));
    };
    if (edsNames) subscribeRest();
    else edsWaiting.push(subscribeRest);
    opened++;
  };

  process.on('message', (message: { cmd: string; type?: number; version?: string }) => {
    if (message.cmd === 'versions') {
      // The version most nodes hold per type.
      send({ cmd: 'versions', versions: acked.map((m) => [...m.values()][0] ?? '') });
    } else if (message.cmd === 'wait-all') {
      // Replies once every node has acked a version of `type` other than `version`.
      const started = Date.now();
      const before = new Set(ackCount.keys());
      const check = () => {
        let done = 0;
        let last = 0;
        let newVersion = '';
        for (const [key, n] of ackCount) {
          const [type, version] = key.split('|');
          if (Number(type) === message.type && version !== message.version && !before.has(key) && n >= count) {
            done = n;
            newVersion = version;
            last = ackTime.get(key)!;
          }
        }
        if (done >= count) send({ cmd: 'all-acked', at: last, version: newVersion });
        else if (Date.now() - started > 60_000) send({ cmd: 'all-acked', at: -1, version: '' });
        else setTimeout(check, 5);
      };
      check();
    } else if (message.cmd === 'stop') {
      for (const c of channels) c?.close();
      process.exit(0);
    }
  });

  // Open in batches so the server is not flooded with handshakes.
  for (let i = 0; i < count; i++) {
    open(i);
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20));
  }
  const allInitial = () => ORDER.every((_, t) => acked[t].size >= count);
  const started = Date.now();
  while (!allInitial() && Date.now() - started < 180_000) await new Promise((r) => setTimeout(r, 50));
  send({ cmd: 'ready', opened, initialAcked: allInitial() });
}

// ---------------------------------------------------------------- parent

function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function message<T>(child: ChildProcess, cmd: string): Promise<T> {
  return new Promise((resolve) => {
    const handler = (m: { cmd: string }) => {
      if (m.cmd === cmd) {
        child.off('message', handler);
        resolve(m as T);
      }
    };
    child.on('message', handler);
  });
}

async function restRps(port: number, body: unknown, seconds: number, concurrency = 32): Promise<{ rps: number; status: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const payload = JSON.stringify(body);
  let done = 0;
  let status = 0;
  const deadline = Date.now() + seconds * 1000;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/v3/discovery:clusters', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        status = res.statusCode ?? 0;
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end(payload);
    });
  const started = nowMs();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        await one();
        done++;
      }
    }),
  );
  agent.destroy();
  return { rps: Math.round(done / ((nowMs() - started) / 1000)), status };
}

async function main(): Promise<void> {
  const gc = gcFunction();
  const results: Record<string, unknown> = { routes: ROUTES, cpus: (await import('node:os')).cpus().length, node: process.version };

  log('render + validate (in process)...');
  const render = [renderFigures(1000), renderFigures(10000)];
  results.render = render;
  for (const r of render) log(`  ${r.routes} routes (${r.resources} resources): cold ${r.coldMs} ms, after one change ${r.oneChangeMs} ms`);

  log('starting emulators and writing routes...');
  const emulators = await startEmulators();
  const client = new DynamoDBClient(localClientConfig(emulators.dynamodbEndpoint));
  await ensureBrokerTable(client, TABLE);
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const first = await reserveGenerations(doc, TABLE, ROUTES);
  await putRoutes(doc, TABLE, Array.from({ length: ROUTES }, (_, i) => routeDoc(i, first + i)));
  /** A change as the broker writes it (BrokerStore.writeRoute: counter, then conditional put). */
  const writeRoute = routeWriter(client, TABLE);
  const change = async (i: number, port: number) => {
    const { instanceId, plan } = routeDoc(i, 0);
    await writeRoute({ instanceId, plan, deleted: false, spec: spec(i, port) });
  };

  const cp = await startLocalControlPlane({
    xdsPort: 0,
    restPort: 0,
    region: REGION,
    tableName: TABLE,
    dynamodbEndpoint: emulators.dynamodbEndpoint,
    authToken: TOKEN,
    domain: 'edge.example.com',
    routesRefreshMs: 100,
    settleMs: 2000,
    // The change -> ACK figure measures the push itself: no canary soak in the way.
    canary: { fraction: 0 },
    logger: silentLogger,
  });
  const status = async () => (await (await fetch(`http://127.0.0.1:${cp.restPort}/status?nodes=0`)).json()) as { routes: number; ready: boolean };
  const t0 = Date.now();
  while ((await status()).routes < ROUTES && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
  log(`control plane serving ${(await status()).routes} routes`);

  const fleets: Array<Record<string, unknown>> = [];
  let portBump = 20000;
  for (const count of NODE_COUNTS) {
    const changes = count > 5000 ? Math.max(3, Math.floor(CHANGES / 2)) : CHANGES;
    // Warm the profile (first Envoy render) before measuring the heap baseline.
    await fetch(`http://127.0.0.1:${cp.restPort}/v3/discovery:clusters`, { method: 'POST', body: JSON.stringify({ node: { id: 'warm', user_agent_name: 'envoy', locality: { region: REGION }, metadata: { auth: TOKEN } } }) });
    gc();
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    log(`${count} nodes: connecting (${Math.ceil(count / STREAMS_PER_CONNECTION)} HTTP/2 connections, ${STREAMS_PER_CONNECTION} streams each)...`);
    const connectStarted = nowMs();
    const child = fork(__filename, ['--clients', String(cp.xdsPort), String(count)], { stdio: 'inherit' });
    const ready = await message<{ opened: number; initialAcked: boolean }>(child, 'ready');
    const connectMs = nowMs() - connectStarted;
    log(`  ${ready.opened} nodes connected and ACKed the initial snapshot in ${round(connectMs / 1000, 2)} s (complete: ${ready.initialAcked})`);
    await new Promise((r) => setTimeout(r, 500));
    gc();
    gc();
    const heapAfter = process.memoryUsage().heapUsed;
    const perNodeKb = (heapAfter - heapBefore) / count / 1024;
    log(`  server heap per connected node: ${round(perNodeKb, 2)} KB`);

    const latencies: number[] = [];
    for (let n = 0; n < changes; n++) {
      child.send({ cmd: 'versions' });
      const { versions } = await message<{ versions: string[] }>(child, 'versions');
      const waiting = message<{ at: number; version: string }>(child, 'all-acked');
      const changedAt = nowMs();
      child.send({ cmd: 'wait-all', type: 1, version: versions[1] });
      await change(n * 37 + 11, portBump++);
      const done = await waiting;
      if (done.at < 0) {
        log(`  change ${n + 1}: not every node acked within 60 s`);
        continue;
      }
      latencies.push(done.at - changedAt);
      log(`  change ${n + 1}/${changes}: every node ACKed the new endpoints in ${round(done.at - changedAt)} ms`);
      await new Promise((r) => setTimeout(r, 300));
    }
    fleets.push({
      nodes: count,
      connectSeconds: round(connectMs / 1000, 2),
      changeToAllAckedMs: { median: round(median(latencies)), max: round(Math.max(...latencies)), samples: latencies.map((l) => round(l)) },
      heapPerNodeKb: round(perNodeKb, 2),
    });
    child.send({ cmd: 'stop' });
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, 1000));
  }
  results.fleets = fleets;

  log('REST discovery...');
  const node = { id: 'rest', user_agent_name: 'envoy', locality: { region: REGION }, metadata: { auth: TOKEN } };
  const current = (await (await fetch(`http://127.0.0.1:${cp.restPort}/v3/discovery:clusters`, { method: 'POST', body: JSON.stringify({ node }) })).json()) as { version_info: string };
  const full = await restRps(cp.restPort, { node }, 3);
  const notModified = await restRps(cp.restPort, { node, version_info: current.version_info }, 3);
  results.rest = { fullClustersRps: full.rps, fullStatus: full.status, notModifiedRps: notModified.rps, notModifiedStatus: notModified.status };
  log(`  full CDS (${ROUTES} clusters): ${full.rps} req/s (HTTP ${full.status}); 304 path: ${notModified.rps} req/s (HTTP ${notModified.status})`);

  await cp.stop();
  client.destroy();
  await emulators.stop();

  process.stdout.write('\n| figure | value | goal |\n| --- | --- | --- |\n');
  for (const r of render) process.stdout.write(`| render + validate ${r.routes} routes (cold / one change) | ${r.coldMs} ms / ${r.oneChangeMs} ms | |\n`);
  for (const f of fleets as Array<{ nodes: number; changeToAllAckedMs: { median: number; max: number }; heapPerNodeKb: number; connectSeconds: number }>) {
    process.stdout.write(`| ${f.nodes} nodes: change -> all ACKed (median / max) | ${f.changeToAllAckedMs.median} ms / ${f.changeToAllAckedMs.max} ms | ${f.nodes === 2000 ? '< 1000 ms median' : 'report'} |\n`);
    process.stdout.write(`| ${f.nodes} nodes: server heap per node | ${f.heapPerNodeKb} KB | < 50 KB |\n`);
    process.stdout.write(`| ${f.nodes} nodes: connect + initial ACK | ${f.connectSeconds} s | |\n`);
  }
  const restResults = results.rest as { fullClustersRps: number; notModifiedRps: number };
  process.stdout.write(`| REST discovery, full CDS / 304 | ${restResults.fullClustersRps} / ${restResults.notModifiedRps} req/s | |\n`);
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(join('bench-results', 'control-plane.json'), `${JSON.stringify({ ...results, at: new Date().toISOString() }, null, 2)}\n`);
  log('wrote bench-results/control-plane.json');
}

if (process.argv[2] === '--clients') {
  void runClients(Number(process.argv[3]), Number(process.argv[4]));
} else {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
