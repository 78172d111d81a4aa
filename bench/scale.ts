/**
 * Scale benchmark (`npm run bench:scale -- --services N --nodes M --rate R`). Figures, not a test.
 *
 * Provisions N services through the table (as the broker's worker writes routes, without the
 * OSB API, to be quick), starts the control plane in this process (canary on, a 1 s soak) and
 * connects M simulated Envoy nodes on Delta ADS in a child process. Each node subscribes the
 * way Envoy does: LDS and CDS wildcard, then the EDS names of the EDS clusters it receives,
 * the route configurations its listeners name, and the VHDS virtual hosts of the route
 * configurations that ask for them; it ACKs every response.
 *
 * Then: one service's route change, several times (bytes each node receives, render and
 * validation time, the wave from the change being read to every node holding it less the
 * soak, the control plane's peak memory above idle), and R changes a second for
 * --churn-seconds (how many were promoted to every node, and the p99 of change written to
 * every node holding it). Heap per node: what the control plane frees when half the nodes
 * disconnect, at the end (and, as before, its heap growth per node while they connected).
 *
 * Setup speed: 50 nodes receive their first configuration at a time, one more connecting as
 * each one holds it (no batch barrier); a node reads only the nonce of a response it was sent
 * before (responses are encoded once, nonce included, for every stream), so the ~8 MB first
 * configuration is decoded once, not once per node. The nodes are plain HTTP/2 clients speaking
 * gRPC (5-byte length prefix per message), which read a response as the chunks that hold it; a
 * gRPC client library joins every message into one buffer (8 MB per node). Every node still
 * receives every byte and subscribes as before. SCALE_HEAP_SNAPSHOT=<prefix> writes heap snapshots around the disconnect.
 *
 * Ends with one line that tools read:
 *   scale: services=N nodes=M change_bytes_per_node=B render_ms=R wave_ms=W peak_extra_mb=P churn_rate=R churn_promoted=X/Y churn_p99_ms=Q
 */
import { ChildProcess, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as http2 from 'node:http2';
import { Reader, Writer } from 'protobufjs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureBrokerTable, localClientConfig, startEmulators } from '../lib/local/emulators';
import { RouteDocument, resourceBaseName } from '../lib/model';
import { startLocalControlPlane } from '../lib/control-plane/runtime/local';
import { silentLogger } from '../lib/control-plane/runtime/logger';
import { TYPE_URLS, messageType } from '../lib/control-plane/runtime/protos';
import { putRoutes, reserveGenerations, routeWriter } from '../test/support/routes';
import { wholeNumber } from './args';

const REGION = 'us-east-1';
const TOKEN = 'bench-token';
const TABLE = 'edge-broker';
/** Streams per simulated HTTP/2 connection, and nodes receiving their first (full) configuration at a time. */
const STREAMS_PER_CONNECTION = 50;
const CONNECT_WINDOW = 50;

const log = (message: string) => process.stdout.write(`[scale] ${message}\n`);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)];
}
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** --name value flags over the defaults; a bad value names the flag. */
function flags(argv: readonly string[]) {
  const raw = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}" (flags: --services N --nodes M --rate R --churn-seconds S --soak-ms MS --changes K)`);
    const [name, inline] = arg.slice(2).split('=', 2);
    raw.set(name, inline ?? argv[++i]);
  }
  const known = ['services', 'nodes', 'rate', 'churn-seconds', 'soak-ms', 'changes'];
  for (const name of raw.keys()) if (!known.includes(name)) throw new Error(`--${name}: unknown flag (flags: ${known.map((k) => `--${k}`).join(' ')})`);
  return {
    services: wholeNumber('--services', raw.get('services'), 10_000, 1),
    nodes: wholeNumber('--nodes', raw.get('nodes'), 2000, 1),
    rate: wholeNumber('--rate', raw.get('rate'), 2, 0),
    churnSeconds: wholeNumber('--churn-seconds', raw.get('churn-seconds'), 60, 1),
    soakMs: wholeNumber('--soak-ms', raw.get('soak-ms'), 1000, 0),
    changes: wholeNumber('--changes', raw.get('changes'), 5, 1),
  };
}

// ---------------------------------------------------------------- services

const instanceId = (i: number) => `scale-${String(i).padStart(5, '0')}`;

/** A typical tenant: 2 hostnames, 3 route rules, two backends. `revision` changes a route rule. */
function spec(i: number, revision = 0): RouteDocument['spec'] {
  return {
    hostnames: [`svc-${i}.edge.example.com`, `www.svc-${i}.edge.example.com`],
    backends: [
      { address: `10.${(i >> 8) & 255}.${i & 255}.1`, port: 8080, protocol: 'http', region: REGION },
      { address: `10.${(i >> 8) & 255}.${i & 255}.2`, port: 8080, protocol: 'http', region: 'eu-west-1', weight: 2 },
    ],
    health_check: { path: '/healthz' },
    routes: [
      { match: { prefix: '/api' }, timeout_seconds: 15 + revision, retries: { attempts: 2 } },
      { match: { prefix: '/static' }, response_headers_to_add: { 'cache-control': 'max-age=60' } },
      { match: { prefix: '/' } },
    ],
    regions: [REGION],
  };
}

// ---------------------------------------------------------------- simulated Envoy nodes (child process)

const TYPES = { cds: TYPE_URLS.clusters, eds: TYPE_URLS.endpoints, lds: TYPE_URLS.listeners, rds: TYPE_URLS.routes, vhds: TYPE_URLS.virtualHosts };

interface DeltaResource {
  name: string;
  version: string;
  value?: Uint8Array;
}

function parseDelta(buffer: Buffer): { typeUrl: string; nonce: string; resources: DeltaResource[]; removed: string[] } {
  const reader = Reader.create(buffer);
  const out = { typeUrl: '', nonce: '', resources: [] as DeltaResource[], removed: [] as string[] };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    switch (tag >>> 3) {
      case 2: {
        const r = Reader.create(reader.bytes());
        const res: DeltaResource = { name: '', version: '' };
        while (r.pos < r.len) {
          const t = r.uint32();
          if (t >>> 3 === 3) res.name = r.string();
          else if (t >>> 3 === 1) res.version = r.string();
          else if (t >>> 3 === 2) {
            const any = Reader.create(r.bytes());
            while (any.pos < any.len) {
              const a = any.uint32();
              if (a >>> 3 === 2) res.value = any.bytes();
              else any.skipType(a & 7);
            }
          } else r.skipType(t & 7);
        }
        out.resources.push(res);
        break;
      }
      case 4:
        out.typeUrl = reader.string();
        break;
      case 5:
        out.nonce = reader.string();
        break;
      case 6:
        out.removed.push(reader.string());
        break;
      default:
        reader.skipType(tag & 7);
    }
  }
  return out;
}

function deltaRequest(typeUrl: string, opts: { node?: Uint8Array; subscribe?: readonly string[]; unsubscribe?: readonly string[]; nonce?: string }): Buffer {
  const writer = Writer.create();
  if (opts.node) writer.uint32(10).bytes(opts.node);
  writer.uint32(18).string(typeUrl);
  for (const name of opts.subscribe ?? []) writer.uint32(26).string(name);
  for (const name of opts.unsubscribe ?? []) writer.uint32(34).string(name);
  if (opts.nonce) writer.uint32(50).string(opts.nonce);
  return Buffer.from(writer.finish());
}

/** What a node follows from a resource (decoded once per resource version, shared by every node). */
const follows = new Map<string, { eds?: boolean; routeConfigs?: string[]; vhds?: boolean }>();
function followOf(typeUrl: string, res: DeltaResource): { eds?: boolean; routeConfigs?: string[]; vhds?: boolean } {
  const key = `${typeUrl}|${res.name}|${res.version}`;
  let f = follows.get(key);
  if (f) return f;
  const type = messageType(typeUrl);
  const value = type.toObject(type.decode(res.value ?? new Uint8Array()), { defaults: false, enums: String }) as Record<string, unknown>;
  if (typeUrl === TYPES.cds) f = { eds: value.type === 'EDS' || value.eds_cluster_config !== undefined };
  else if (typeUrl === TYPES.lds) {
    const hcm = messageType('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    const names: string[] = [];
    for (const chain of (value.filter_chains as Array<{ filters?: Array<{ typed_config?: { type_url: string; value: Uint8Array } }> }>) ?? []) {
      for (const filter of chain.filters ?? []) {
        if (!filter.typed_config?.type_url.endsWith('HttpConnectionManager')) continue;
        const config = hcm.toObject(hcm.decode(filter.typed_config.value), { defaults: false }) as { rds?: { route_config_name?: string } };
        if (config.rds?.route_config_name) names.push(config.rds.route_config_name);
      }
    }
    f = { routeConfigs: names };
  } else if (typeUrl === TYPES.rds) f = { vhds: value.vhds !== undefined };
  else f = {};
  follows.set(key, f);
  return f;
}

interface SimNode {
  bytes: number;
  vhdsResponses: number;
  markBytes: number;
}

/** A response as a node acts on it: what it names, not the resources themselves. */
interface Summary {
  typeUrl: string;
  nonce: string;
  removed: string[];
  /** The names of the resources it carries. */
  names: string[];
  /** CDS: the EDS clusters; LDS: the route configurations named; RDS: the route configurations with VHDS. */
  follow: string[];
}

/** Reads the top-level fields of a message held in several chunks, without joining them. */
class ChunkReader {
  private chunk = 0;
  private pos = 0;
  private left: number;
  constructor(
    private readonly chunks: readonly Buffer[],
    length: number,
  ) {
    this.left = length;
  }
  get done(): boolean {
    return this.left <= 0;
  }
  private byte(): number {
    while (this.pos >= this.chunks[this.chunk].length) {
      this.chunk++;
      this.pos = 0;
    }
    this.left--;
    return this.chunks[this.chunk][this.pos++];
  }
  varint(): number {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = this.byte();
      value += (b & 127) * 2 ** shift;
      if (b < 128) return value;
    }
  }
  skip(n: number): void {
    this.left -= n;
    while (n > 0) {
      const here = Math.min(n, this.chunks[this.chunk].length - this.pos);
      this.pos += here;
      n -= here;
      if (n > 0) {
        this.chunk++;
        this.pos = 0;
      }
    }
  }
  string(n: number): string {
    const parts: Buffer[] = [];
    let rest = n;
    while (rest > 0) {
      while (this.pos >= this.chunks[this.chunk].length) {
        this.chunk++;
        this.pos = 0;
      }
      const here = Math.min(rest, this.chunks[this.chunk].length - this.pos);
      parts.push(this.chunks[this.chunk].subarray(this.pos, this.pos + here));
      this.pos += here;
      rest -= here;
    }
    this.left -= n;
    return Buffer.concat(parts).toString('utf8');
  }
}

/**
 * The nonce of a response, read by skipping over its resources (a length-delimited field is
 * skipped without being read). The control plane encodes each response once, nonce included, for
 * every stream it sends it on, so a nonce names the bytes.
 */
function nonceOf(chunks: readonly Buffer[], length: number): string {
  const reader = new ChunkReader(chunks, length);
  while (!reader.done) {
    const tag = reader.varint();
    const wire = tag & 7;
    if (wire === 0) reader.varint();
    else if (wire === 1) reader.skip(8);
    else if (wire === 5) reader.skip(4);
    else if (wire === 2) {
      const n = reader.varint();
      if (tag >>> 3 === 5) return reader.string(n);
      reader.skip(n);
    } else throw new Error(`unexpected wire type ${wire} in a DeltaDiscoveryResponse`);
  }
  return '';
}

/** Responses already read, by nonce: thousands of nodes receive the same bytes, read once. */
const summaries = new Map<string, Summary>();
function summaryOf(chunks: readonly Buffer[], length: number): Summary {
  const nonce = nonceOf(chunks, length);
  let summary = summaries.get(nonce);
  if (summary) return summary;
  const response = parseDelta(Buffer.concat(chunks, length));
  const names = response.resources.map((r) => r.name);
  let follow: string[] = [];
  if (response.typeUrl === TYPES.cds) follow = response.resources.filter((r) => followOf(TYPES.cds, r).eds).map((r) => r.name);
  else if (response.typeUrl === TYPES.lds) follow = response.resources.flatMap((r) => followOf(TYPES.lds, r).routeConfigs ?? []);
  else if (response.typeUrl === TYPES.rds) follow = response.resources.filter((r) => followOf(TYPES.rds, r).vhds).map((r) => r.name);
  summary = { typeUrl: response.typeUrl, nonce: response.nonce, removed: response.removed, names, follow };
  if (summaries.size > 2000) summaries.clear();
  summaries.set(nonce, summary);
  return summary;
}

/**
 * gRPC length-prefixed messages out of HTTP/2 DATA chunks (grpc/doc/PROTOCOL-HTTP2.md,
 * Length-Prefixed-Message: a 1-byte Compressed-Flag, a 4-byte big-endian Message-Length, the
 * message). A message is handed on as the
 * chunks that hold it, not joined.
 */
function grpcMessages(onMessage: (chunks: Buffer[], length: number) => void): (data: Buffer) => void {
  let header = Buffer.alloc(0);
  let length = -1;
  let parts: Buffer[] = [];
  let have = 0;
  return (data: Buffer) => {
    let at = 0;
    while (at < data.length) {
      if (length < 0) {
        const need = 5 - header.length;
        header = Buffer.concat([header, data.subarray(at, at + need)]);
        at += Math.min(need, data.length - at);
        if (header.length < 5) return;
        length = header.readUInt32BE(1);
        header = Buffer.alloc(0);
        parts = [];
        have = 0;
      }
      const take = Math.min(length - have, data.length - at);
      if (take > 0) parts.push(data.subarray(at, at + take));
      have += take;
      at += take;
      if (have === length) {
        const done = parts;
        const size = length;
        length = -1;
        // Let go of the message once read (a node's last message would otherwise stay held: 4 MB each).
        parts = [];
        onMessage(done, size);
      }
    }
  };
}

/** A gRPC message: the 5-byte prefix (not compressed, length) and the message. */
function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

async function runNodes(port: number, count: number): Promise<void> {
  const send = (message: unknown) => process.send!(message);
  const nodeType = messageType('envoy.config.core.v3.Node');
  const sessions: http2.ClientHttp2Session[] = [];
  const nodes: SimNode[] = [];
  /** Watched VHDS names -> nodes that received a new version since the watch began, and when the last did. */
  const watched = new Map<string, { nodes: number; at: number }>();
  let connected = 0;
  let opened = 0;
  let inFlight = 0;

  const open = (index: number) => {
    const sessionIndex = Math.floor(index / STREAMS_PER_CONNECTION);
    // A plain HTTP/2 client speaking gRPC (the bytes on the wire are gRPC's): it reads a response
    // as the chunks that hold it, where a gRPC client library joins every message into one buffer.
    if (!sessions[sessionIndex]) {
      // A node's first responses are megabytes: wide HTTP/2 windows instead of 64 KB round trips.
      const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 64 * 1024 * 1024 } });
      session.on('connect', () => session.setLocalWindowSize(256 * 1024 * 1024));
      session.on('error', () => {});
      sessions[sessionIndex] = session;
    }
    const call = sessions[sessionIndex].request(
      {
        ':method': 'POST',
        ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
        'content-type': 'application/grpc',
        te: 'trailers',
      },
      { endStream: false },
    );
    const write = (message: Buffer) => call.write(grpcFrame(message));
    const node: SimNode = { bytes: 0, vhdsResponses: 0, markBytes: 0 };
    nodes.push(node);
    const routeConfigs = new Set<string>();
    const vhdsFor = new Set<string>();
    call.on(
      'data',
      grpcMessages((chunks, length) => {
        node.bytes += length;
        const response = summaryOf(chunks, length);
        // ACK first (Envoy applies, then ACKs; the order of our own requests does not matter here).
        write(deltaRequest(response.typeUrl, { nonce: response.nonce }));
        if (response.typeUrl === TYPES.cds) {
          if (response.follow.length > 0 || response.removed.length > 0) write(deltaRequest(TYPES.eds, { subscribe: response.follow, unsubscribe: response.removed }));
        } else if (response.typeUrl === TYPES.lds) {
          const names = response.follow.filter((n) => !routeConfigs.has(n));
          for (const n of names) routeConfigs.add(n);
          if (names.length > 0) write(deltaRequest(TYPES.rds, { subscribe: names }));
        } else if (response.typeUrl === TYPES.rds) {
          // Envoy's VHDS subscription starts with the route configuration's name.
          const names = response.follow.filter((n) => !vhdsFor.has(n));
          for (const n of names) vhdsFor.add(n);
          if (names.length > 0) write(deltaRequest(TYPES.vhds, { subscribe: names }));
        } else if (response.typeUrl === TYPES.vhds) {
          if (node.vhdsResponses++ === 0) holdsFullConfig();
          for (const name of response.names) {
            const watch = watched.get(name);
            if (watch) {
              watch.nodes++;
              watch.at = nowMs();
            }
          }
        }
      }),
    );
    call.on('error', () => {});
    const nodeBytes = nodeType
      .encode(
        nodeType.fromObject({
          id: `i-${String(index).padStart(6, '0')}`,
          cluster: 'edge-fleet-us-east-1',
          locality: { region: REGION, zone: 'us-east-1a' },
          user_agent_name: 'envoy',
          metadata: { fields: { auth: { stringValue: TOKEN } } },
        }),
      )
      .finish();
    write(deltaRequest(TYPES.cds, { node: nodeBytes }));
    write(deltaRequest(TYPES.lds, {}));
  };

  /** Keeps CONNECT_WINDOW nodes receiving their first configuration at a time: one more as each one holds it. */
  const openMore = () => {
    while (inFlight < CONNECT_WINDOW && opened < count) {
      inFlight++;
      open(opened++);
    }
  };
  const holdsFullConfig = () => {
    inFlight--;
    connected++;
    if (connected % 50 === 0 || connected === count) send({ cmd: 'progress', connected });
    if (connected === count) send({ cmd: 'ready', connected, bytes: median(nodes.map((n) => n.bytes)) });
    openMore();
  };

  process.on('message', (message: { cmd: string; names?: string[]; connections?: number }) => {
    if (message.cmd === 'watch') {
      for (const node of nodes) node.markBytes = node.bytes;
      for (const name of message.names ?? []) watched.set(name, { nodes: 0, at: 0 });
      send({ cmd: 'watching' });
    } else if (message.cmd === 'status') {
      const done: Record<string, number> = {};
      for (const [name, w] of watched) if (w.nodes >= count) done[name] = w.at;
      send({ cmd: 'status', done, bytes: nodes.map((n) => n.bytes - n.markBytes) });
    } else if (message.cmd === 'unwatch') {
      watched.clear();
    } else if (message.cmd === 'drop') {
      // Closes the first connections (and every stream on them).
      const closing = sessions.slice(0, message.connections);
      for (const c of closing) c?.destroy();
      send({ cmd: 'dropped', nodes: Math.min(count, closing.length * STREAMS_PER_CONNECTION) });
    } else if (message.cmd === 'stop') {
      for (const c of sessions) c?.destroy();
      process.exit(0);
    }
  });

  openMore();
}

// ---------------------------------------------------------------- parent

function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function next<T>(child: ChildProcess, cmd: string): Promise<T> {
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

async function main(): Promise<void> {
  const opts = flags(process.argv.slice(2));
  const gc = gcFunction();
  log(`services=${opts.services} nodes=${opts.nodes} rate=${opts.rate}/s for ${opts.churnSeconds} s, soak ${opts.soakMs} ms; ${cpus().length} cores, load ${loadavg().map((l) => round(l, 2)).join(' ')}`);

  log('starting the table emulator and provisioning services through the table...');
  const emulators = await startEmulators();
  const client = new DynamoDBClient(localClientConfig(emulators.dynamodbEndpoint));
  await ensureBrokerTable(client, TABLE);
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const first = await reserveGenerations(doc, TABLE, opts.services);
  const seeded = (n: number): RouteDocument => ({ instanceId: instanceId(n), plan: 'standard', generation: first + n, deleted: false, spec: spec(n), updatedAt: new Date().toISOString() });
  // Eight batches of 25 at a time.
  for (let i = 0; i < opts.services; i += 200) {
    const starts = Array.from({ length: 8 }, (_, k) => i + k * 25).filter((j) => j < opts.services);
    await Promise.all(starts.map((j) => putRoutes(doc, TABLE, Array.from({ length: Math.min(25, opts.services - j) }, (_, k) => seeded(j + k)))));
    if (i % 2000 === 0) log(`  ${Math.min(opts.services, i + 200)}/${opts.services} services written`);
  }
  /** A route change as the broker's worker writes it (BrokerStore.writeRoute: counter, then conditional put). */
  const writeRoute = routeWriter(client, TABLE);
  const revisions = new Map<number, number>();
  const change = async (i: number): Promise<number> => {
    const revision = (revisions.get(i) ?? 0) + 1;
    revisions.set(i, revision);
    return writeRoute({ instanceId: instanceId(i), plan: 'standard', deleted: false, spec: spec(i, revision) });
  };

  const cp = await startLocalControlPlane({
    xdsPort: 0,
    restPort: 0,
    region: REGION,
    tableName: TABLE,
    dynamodbEndpoint: emulators.dynamodbEndpoint,
    authToken: TOKEN,
    domain: 'edge.example.com',
    routesRefreshMs: 50,
    settleMs: 1000,
    convergenceReportMs: 0,
    canary: { fraction: 0.05, soakMs: opts.soakMs },
    canaryHealth: { mode: 'off' },
    logger: silentLogger,
  });
  const core = cp.running.controlPlane;
  const started = Date.now();
  while (core.currentContext()?.routes.length !== opts.services && Date.now() - started < 300_000) await sleep(100);
  log(`control plane serving ${core.currentContext()?.routes.length ?? 0} services`);

  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  log(`connecting ${opts.nodes} simulated Envoy nodes (Delta ADS, ${CONNECT_WINDOW} at a time)...`);
  const connectStarted = nowMs();
  const child = fork(__filename, ['--nodes-child', String(cp.xdsPort), String(opts.nodes)], { stdio: 'inherit', execArgv: ['--max-old-space-size=8192', ...process.execArgv] });
  // Heap per node: measured from the first batch on, so that the profile's first render is not counted.
  let firstBatch: { nodes: number; heap: number } | undefined;
  child.on('message', (m: { cmd: string; connected?: number }) => {
    if (m.cmd !== 'progress') return;
    if (!firstBatch && m.connected! < opts.nodes) {
      gc();
      firstBatch = { nodes: m.connected!, heap: process.memoryUsage().heapUsed };
    }
    if (m.connected! % 500 === 0 || m.connected === opts.nodes) log(`  ${m.connected}/${opts.nodes} nodes hold the full config`);
  });
  const ready = await next<{ connected: number; bytes: number }>(child, 'ready');
  log(`${ready.connected} nodes connected in ${round((nowMs() - connectStarted) / 1000)} s (initial config ${round(ready.bytes / 1024 / 1024, 2)} MB per node)`);
  await sleep(1000);
  gc();
  const heapPerNodeKb = firstBatch
    ? (process.memoryUsage().heapUsed - firstBatch.heap) / (opts.nodes - firstBatch.nodes) / 1024
    : (process.memoryUsage().heapUsed - heapBefore) / opts.nodes / 1024;
  log(`control plane heap growth per node while connecting: ${round(heapPerNodeKb, 2)} KB`);

  const status = async () => {
    child.send({ cmd: 'status' });
    return next<{ done: Record<string, number>; bytes: number[] }>(child, 'status');
  };
  const vhost = (i: number) => `edge-https/${resourceBaseName(instanceId(i))}`;

  // One service's route change, several times.
  const bytes: number[] = [];
  const renders: number[] = [];
  const waves: number[] = [];
  const peaks: number[] = [];
  for (let n = 0; n < opts.changes; n++) {
    const i = (n * 7919 + 13) % opts.services;
    gc();
    const idle = process.memoryUsage().rss;
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    child.send({ cmd: 'watch', names: [vhost(i)] });
    await next(child, 'watching');
    const rendersBefore = core.metrics.renders;
    const generation = await change(i);
    while ((core.currentContext()?.generation ?? 0) < generation) await sleep(1);
    const readAt = nowMs();
    let done: { done: Record<string, number>; bytes: number[] } | undefined;
    while (!(done = await status()).done[vhost(i)] && nowMs() - readAt < 120_000) await sleep(5);
    clearInterval(sampler);
    const allAt = done.done[vhost(i)];
    child.send({ cmd: 'unwatch' });
    if (!allAt) {
      log(`  change ${n + 1}: not every node held it within 120 s`);
      continue;
    }
    bytes.push(median(done.bytes));
    if (core.metrics.renders > rendersBefore) renders.push(core.metrics.lastRenderMs);
    waves.push(allAt - readAt - opts.soakMs);
    peaks.push((peak - idle) / 1024 / 1024);
    log(`  change ${n + 1}/${opts.changes}: ${median(done.bytes)} B per node, render ${round(core.metrics.lastRenderMs)} ms, wave ${round(allAt - readAt - opts.soakMs)} ms (less the soak), peak +${round((peak - idle) / 1024 / 1024)} MB`);
    await sleep(300);
  }

  // Sustained churn: R changes a second for S seconds, each to another service.
  const churn: Array<{ name: string; writtenAt: number; generation: number }> = [];
  if (opts.rate > 0) {
    log(`churn: ${opts.rate} changes a second for ${opts.churnSeconds} s...`);
    const total = opts.rate * opts.churnSeconds;
    const names = Array.from({ length: total }, (_, k) => vhost((k * 104729 + 101) % opts.services));
    child.send({ cmd: 'watch', names });
    await next(child, 'watching');
    const churnStart = nowMs();
    for (let k = 0; k < total; k++) {
      const due = churnStart + (k * 1000) / opts.rate;
      if (due > nowMs()) await sleep(due - nowMs());
      const writtenAt = nowMs();
      const generation = await change((k * 104729 + 101) % opts.services);
      churn.push({ name: names[k], writtenAt, generation });
      if ((k + 1) % (opts.rate * 10) === 0) log(`  ${k + 1}/${total} changes written; canary generation ${core.canary()?.generation ?? '-'}`);
    }
    const deadline = nowMs() + 30_000 + opts.soakMs;
    let done = await status();
    while (churn.some((c) => !done.done[c.name]) && nowMs() < deadline) {
      await sleep(200);
      done = await status();
    }
    const latencies = churn.filter((c) => done.done[c.name]).map((c) => done.done[c.name] - c.writtenAt);
    (churn as unknown as { latencies: number[] }).latencies = latencies;
  }
  const churnLatencies = (churn as unknown as { latencies?: number[] }).latencies ?? [];

  // Heap per node, measured as what the control plane frees when half the nodes disconnect (its
  // session state, gRPC's and HTTP/2's): unlike the growth while connecting, it does not count
  // what changed meanwhile elsewhere in the process (a render's working set, the in-process table
  // emulator).
  const dropConnections = Math.floor(opts.nodes / STREAMS_PER_CONNECTION / 2);
  let freedPerNodeKb = NaN;
  if (dropConnections > 0) {
    gc();
    const before = process.memoryUsage().heapUsed;
    if (process.env.SCALE_HEAP_SNAPSHOT) log(`heap snapshot: ${writeHeapSnapshot(`${process.env.SCALE_HEAP_SNAPSHOT}-connected.heapsnapshot`)}`);
    child.send({ cmd: 'drop', connections: dropConnections });
    const dropped = await next<{ nodes: number }>(child, 'dropped');
    const deadline = Date.now() + 60_000;
    while (core.sessions.size > opts.nodes - dropped.nodes && Date.now() < deadline) await sleep(50);
    await sleep(500);
    gc();
    freedPerNodeKb = (before - process.memoryUsage().heapUsed) / dropped.nodes / 1024;
    if (process.env.SCALE_HEAP_SNAPSHOT) log(`heap snapshot: ${writeHeapSnapshot(`${process.env.SCALE_HEAP_SNAPSHOT}-dropped.heapsnapshot`)}`);
    log(`control plane heap freed per node when ${dropped.nodes} nodes disconnect: ${round(freedPerNodeKb, 2)} KB`);
  }

  child.send({ cmd: 'stop' });
  await new Promise((resolve) => child.once('exit', resolve));
  await cp.stop();
  client.destroy();
  await emulators.stop();

  const figures = {
    services: opts.services,
    nodes: opts.nodes,
    change_bytes_per_node: Math.round(median(bytes)),
    render_ms: round(median(renders)),
    wave_ms: Math.round(median(waves)),
    peak_extra_mb: round(median(peaks)),
    churn_rate: opts.rate,
    churn_promoted: `${churnLatencies.length}/${churn.length}`,
    churn_p99_ms: Math.round(percentile(churnLatencies, 99)),
  };
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    join('bench-results', 'scale.json'),
    `${JSON.stringify({ ...figures, heapPerNodeKb: round(heapPerNodeKb, 2), heapFreedPerNodeKb: round(freedPerNodeKb, 2), soakMs: opts.soakMs, churnSeconds: opts.churnSeconds, samples: { bytes, renders, waves, peaks }, cpus: cpus().length, node: process.version, at: new Date().toISOString() }, null, 2)}\n`,
  );
  const freed = Number.isNaN(freedPerNodeKb) ? `not measured (half the nodes must fill a connection of ${STREAMS_PER_CONNECTION} streams)` : `${round(freedPerNodeKb, 2)} KB freed on disconnect`;
  log(`heap per node ${freed} (${round(heapPerNodeKb, 2)} KB growth while connecting); wrote bench-results/scale.json`);
  process.stdout.write(`scale: ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
}

if (process.argv[2] === '--nodes-child') {
  void runNodes(Number(process.argv[3]), Number(process.argv[4]));
} else {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
