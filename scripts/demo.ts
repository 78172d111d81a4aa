/**
 * `npm run demo`: the platform end to end, on loopback, in well under a minute.
 *
 * 1. Starts the local platform in process on free ports (or, with EDGE_BROKER_URL set, uses
 *    a running `npm start`: the broker there, the control plane on EDGE_XDS_PORT and
 *    EDGE_CONTROL_PLANE_PORT, with the EDGE_* credentials).
 * 2. Starts a sample gRPC backend (edge.demo.Echo + grpc.health.v1.Health) and a sample
 *    HTTP backend on 127.0.0.1.
 * 3. Provisions a service for each through the broker's OSB API (PUT ?accepts_incomplete=true,
 *    then polls last_operation, printing each step), like any OSB platform would.
 * 4. Sends traffic to the gRPC service through a proxyless gRPC client (`xds:///<hostname>`,
 *    @grpc/grpc-js-xds bootstrapped to the local control plane with the discovery token).
 * 5. Shows the HTTP service's config as the control plane serves it to Envoy (REST discovery).
 * 6. Prints the fleet status (GET /status), deprovisions both services and stops everything.
 * Every wait is bounded; a failure exits 1 with the reason.
 */
import '../lib/local/process-env';
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, Server } from 'node:http';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { resourceBaseName } from '../lib/model';
import { LocalPlatform, startLocalPlatform } from '../lib/local/platform';
import { readLocalSettings } from '../lib/local/settings';
import { listen } from '../lib/shared/listen';

export interface DemoOptions {
  /** Where the demo's lines go (default: stdout). */
  readonly log?: (line: string) => void;
  /** The whole demo's deadline (default 50 s). */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

export interface DemoResult {
  /** The whole demo, start to stop. */
  readonly ms: number;
  /** `backend` fields of the Echo replies received through xds:///. */
  readonly grpcReplies: readonly string[];
  readonly grpcHealth: string;
  /** Milliseconds from each PUT to `succeeded`. */
  readonly provisionMs: { readonly grpc: number; readonly http: number };
  readonly deprovisionMs: { readonly grpc: number; readonly http: number };
  /** Names of the clusters the control plane served for the HTTP service. */
  readonly httpClusters: readonly string[];
  readonly connectedNodes: number;
}

interface Endpoints {
  readonly brokerUrl: string;
  readonly xdsAddress: string;
  readonly controlPlaneUrl: string;
  readonly user: string;
  readonly password: string;
  readonly token: string;
  readonly domain: string;
  readonly region: string;
}

// OSB and discovery replies are loose JSON read field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

/** A small OSB client: basic auth, X-Broker-API-Version 2.17, bounded requests. */
function osb(endpoints: Endpoints) {
  const authorization = `Basic ${Buffer.from(`${endpoints.user}:${endpoints.password}`).toString('base64')}`;
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const response = await fetch(`${endpoints.brokerUrl}${path}`, {
      method,
      headers: { authorization, 'x-broker-api-version': '2.17', 'content-type': 'application/json', 'x-broker-api-originating-identity': `demo ${Buffer.from('{"user":"demo"}').toString('base64')}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let parsed: Json;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { raw: text };
    }
    return { status: response.status, body: parsed };
  };
}

/** Polls last_operation until the operation is finished, printing each new description. */
async function pollOperation(call: ReturnType<typeof osb>, instanceId: string, operation: string | undefined, log: (l: string) => void, what: string, timeoutMs = 20_000): Promise<'succeeded' | 'gone'> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  const query = operation ? `?operation=${encodeURIComponent(operation)}` : '';
  for (;;) {
    const reply = await call('GET', `/v2/service_instances/${instanceId}/last_operation${query}`);
    if (reply.status === 410) return 'gone';
    if (reply.status !== 200) throw new Error(`${what}: last_operation answered ${reply.status} ${JSON.stringify(reply.body)}`);
    const line = `${reply.body.state}${reply.body.description ? `: ${reply.body.description}` : ''}`;
    if (line !== last) log(`    ${what}: ${line}`);
    last = line;
    if (reply.body.state === 'succeeded') return 'succeeded';
    if (reply.body.state === 'failed') throw new Error(`${what} failed: ${reply.body.description ?? 'no description'}`);
    if (Date.now() > deadline) throw new Error(`${what}: still "${line}" after ${timeoutMs} ms`);
    await sleep(100);
  }
}

// ---- sample backends --------------------------------------------------------------------

export function loadProtos() {
  const definition = protoLoader.loadSync([join(__dirname, 'demo', 'echo.proto'), join(__dirname, 'demo', 'health.proto')], { keepCase: true, enums: String, defaults: true });
  // The generated package tree is untyped by nature.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const tree = grpc.loadPackageDefinition(definition) as any;
  return { Echo: tree.edge.demo.Echo as grpc.ServiceClientConstructor, Health: tree.grpc.health.v1.Health as grpc.ServiceClientConstructor };
}

export async function startGrpcBackend(name: string) {
  const { Echo, Health } = loadProtos();
  const server = new grpc.Server();
  server.addService(Echo.service, {
    Say: (call: grpc.ServerUnaryCall<{ message: string }, unknown>, done: grpc.sendUnaryData<unknown>) => done(null, { message: call.request.message, backend: name }),
  });
  server.addService(Health.service, {
    Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, done: grpc.sendUnaryData<unknown>) => done(null, { status: 'SERVING' }),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

async function startHttpBackend() {
  const server: Server = createHttpServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ hello: 'from the demo HTTP backend', path: req.url }));
  });
  return listen(server, 0);
}


export function unary<T>(client: grpc.Client, method: string, request: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    // Generated client methods are looked up by name.
    (client as unknown as Record<string, (req: unknown, metadata: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: T) => void) => void>)[method](
      request,
      // Wait for the channel (xDS resolution, then a backend) instead of failing fast.
      new grpc.Metadata({ waitForReady: true }),
      { deadline: Date.now() + timeoutMs },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
}

// ---- the demo ---------------------------------------------------------------------------

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = performance.now();
  const elapsed = () => ((performance.now() - started) / 1000).toFixed(1).padStart(5);
  const out = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const log = (line: string) => out(`[${elapsed()}s] ${line}`);
  const env = options.env ?? process.env;
  const cleanups: Array<() => Promise<void> | void> = [];
  let finished = false;

  const demo = async (): Promise<DemoResult> => {
    const settings = readLocalSettings(env);
    let endpoints: Endpoints;
    if (env.EDGE_BROKER_URL) {
      endpoints = {
        brokerUrl: env.EDGE_BROKER_URL.replace(/\/$/, ''),
        xdsAddress: `127.0.0.1:${settings.xdsPort}`,
        controlPlaneUrl: `http://127.0.0.1:${settings.controlPlanePort}`,
        user: settings.brokerUser,
        password: settings.brokerPassword,
        token: settings.xdsAuthToken,
        domain: settings.domain,
        region: 'us-east-1',
      };
      // The region the running control plane serves, as it reports it.
      const running = (await (await fetch(`${endpoints.controlPlaneUrl}/status?nodes=0`, { signal: AbortSignal.timeout(5000) })).json()) as Json;
      if (typeof running.region === 'string') endpoints = { ...endpoints, region: running.region };
      log(`using the running platform: broker ${endpoints.brokerUrl}, xDS ${endpoints.xdsAddress}, control plane ${endpoints.controlPlaneUrl}`);
    } else {
      log(`starting a platform of its own on free ports (to use a running \`npm start\` instead: EDGE_BROKER_URL=http://127.0.0.1:${settings.brokerPort} npm run demo)`);
      const platform: LocalPlatform = await withTimeout(
        startLocalPlatform({ ...settings, brokerPort: 0, xdsPort: 0, controlPlanePort: 0, dynamodbPort: 0, sqsPort: 0, dataDir: undefined }, { quiet: true, controlPlane: { routesRefreshMs: 200 } }),
        20_000,
        'starting the local platform',
      );
      cleanups.push(() => platform.stop());
      endpoints = { brokerUrl: platform.brokerUrl, xdsAddress: platform.xdsAddress, controlPlaneUrl: platform.controlPlaneUrl, user: settings.brokerUser, password: settings.brokerPassword, token: settings.xdsAuthToken, domain: platform.domain, region: platform.region };
      log(`platform up: broker ${endpoints.brokerUrl}, xDS grpc://${endpoints.xdsAddress}, control plane ${endpoints.controlPlaneUrl}`);
    }

    const grpcBackend = await startGrpcBackend('grpc-backend-1');
    cleanups.push(() => grpcBackend.stop());
    const httpBackend = await startHttpBackend();
    cleanups.push(() => httpBackend.stop());
    log(`sample backends: gRPC (edge.demo.Echo, grpc.health.v1.Health) on 127.0.0.1:${grpcBackend.port}, HTTP on 127.0.0.1:${httpBackend.port}`);

    const call = osb(endpoints);
    const catalog = await call('GET', '/v2/catalog');
    if (catalog.status !== 200) throw new Error(`GET /v2/catalog answered ${catalog.status}: ${JSON.stringify(catalog.body)}`);
    const service = catalog.body.services?.[0];
    const plan = service?.plans?.find((p: Json) => p.name === 'standard') ?? service?.plans?.[0];
    if (!service || !plan) throw new Error('the catalog has no service or plan');
    log(`catalog: service ${service.name} (${service.id}), plans ${service.plans.map((p: Json) => p.name).join(', ')}`);

    const suffix = randomUUID().slice(0, 8);
    const services = {
      grpc: {
        id: `demo-grpc-${suffix}`,
        hostname: `echo-${suffix}.${endpoints.domain}`,
        parameters: { backends: [{ address: '127.0.0.1', port: grpcBackend.port, protocol: 'grpc' }], regions: [endpoints.region] },
      },
      http: {
        id: `demo-http-${suffix}`,
        hostname: `web-${suffix}.${endpoints.domain}`,
        parameters: {
          backends: [{ address: '127.0.0.1', port: httpBackend.port, protocol: 'http' }],
          health_check: { path: '/healthz' },
          routes: [{ match: { prefix: '/api/' }, timeout_seconds: 5, retries: { attempts: 2, retry_on: ['5xx'] } }, { match: { prefix: '/' } }],
          regions: [endpoints.region],
        },
      },
    };
    const provisioned: string[] = [];
    cleanups.push(async () => {
      // Best effort if the demo failed halfway: remove what it created.
      for (const id of provisioned) await call('DELETE', `/v2/service_instances/${id}?service_id=${service.id}&plan_id=${plan.id}&accepts_incomplete=true`).catch(() => undefined);
    });

    const provisionMs = { grpc: 0, http: 0 };
    for (const kind of ['grpc', 'http'] as const) {
      const s = services[kind];
      log(`provisioning the ${kind} service ${s.hostname} (instance ${s.id})`);
      const t0 = performance.now();
      const put = await call('PUT', `/v2/service_instances/${s.id}?accepts_incomplete=true`, {
        service_id: service.id,
        plan_id: plan.id,
        organization_guid: 'demo-org',
        space_guid: 'demo-space',
        parameters: { hostnames: [s.hostname], ...s.parameters },
      });
      if (put.status !== 202 && put.status !== 201) throw new Error(`PUT ${s.id} answered ${put.status}: ${JSON.stringify(put.body)}`);
      provisioned.push(s.id);
      log(`    PUT answered ${put.status}, operation ${put.body.operation ?? '(none)'}`);
      await pollOperation(call, s.id, put.body.operation, log, `provision ${kind}`);
      provisionMs[kind] = Math.round(performance.now() - t0);
      log(`    ${kind} service provisioned in ${provisionMs[kind]} ms`);
    }

    // Proxyless gRPC: the client asks the control plane (ADS) for the listener named like the hostname.
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: endpoints.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: `demo-client-${suffix}`, cluster: 'demo-clients', locality: { region: endpoints.region, zone: `${endpoints.region}a` }, metadata: { auth: endpoints.token } },
    });
    require('@grpc/grpc-js-xds').register();
    const { Echo, Health } = loadProtos();
    const target = `xds:///${services.grpc.hostname}`;
    const echo = new Echo(target, grpc.credentials.createInsecure());
    const health = new Health(target, grpc.credentials.createInsecure());
    cleanups.push(() => {
      echo.close();
      health.close();
    });
    log(`calling ${target} through a proxyless gRPC client (bootstrap: ADS at ${endpoints.xdsAddress}, node.metadata.auth = the discovery token)`);
    const t1 = performance.now();
    let first: { message: string; backend: string } | undefined;
    let lastError: Error | undefined;
    const firstDeadline = Date.now() + 20_000;
    while (!first && Date.now() < firstDeadline) {
      try {
        first = await unary(echo, 'Say', { message: 'hello 0' }, 3000);
      } catch (err) {
        lastError = err as Error;
        await sleep(200);
      }
    }
    if (!first) throw new Error(`no reply through ${target} within 20 s: ${lastError?.message}`);
    log(`    first reply after ${Math.round(performance.now() - t1)} ms: "${first.message}" from ${first.backend}`);
    const replies = [first.backend];
    for (let i = 1; i < 5; i++) {
      const reply = await unary<{ message: string; backend: string }>(echo, 'Say', { message: `hello ${i}` }, 3000);
      replies.push(reply.backend);
    }
    const healthReply = await unary<{ status: string }>(health, 'Check', { service: '' }, 3000);
    log(`    5 Echo.Say calls answered by ${[...new Set(replies)].join(', ')}; grpc.health.v1 Check: ${healthReply.status}`);

    // The HTTP service as the control plane serves it to an Envoy node (REST discovery).
    const discovery = async (kind: string, names: string[]) => {
      const response = await fetch(`${endpoints.controlPlaneUrl}/v3/discovery:${kind}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          node: { id: `demo-viewer-${suffix}`, cluster: `edge-fleet-${endpoints.region}`, locality: { region: endpoints.region }, user_agent_name: 'envoy', metadata: { auth: endpoints.token } },
          resource_names: names,
        }),
        signal: AbortSignal.timeout(5000),
      });
      if (response.status !== 200) throw new Error(`REST discovery of ${kind} answered ${response.status}: ${await response.text()}`);
      return (await response.json()) as Json;
    };
    const httpCluster = resourceBaseName(services.http.id);
    const clusters = await discovery('clusters', [httpCluster]);
    const cluster = clusters.resources?.[0];
    if (!cluster) throw new Error(`the control plane serves no cluster ${httpCluster}`);
    log(`HTTP service as served to Envoy (POST /v3/discovery:clusters, version ${clusters.version_info}):`);
    log(`    cluster ${cluster.name}: ${cluster.type ?? 'EDS'} ${cluster.lb_policy ?? ''}, connect_timeout ${cluster.connect_timeout ?? '-'}, health checks ${cluster.health_checks?.length ?? 0}, outlier detection ${cluster.outlier_detection ? 'on' : 'off'}`);
    const endpointsReply = await discovery('endpoints', [httpCluster]);
    const lbEndpoints = (endpointsReply.resources?.[0]?.endpoints ?? []).flatMap((l: Json) => l.lb_endpoints ?? []);
    log(`    endpoints: ${lbEndpoints.map((e: Json) => `${e.endpoint?.address?.socket_address?.address}:${e.endpoint?.address?.socket_address?.port_value}`).join(', ') || '(none)'}`);
    const routes = await discovery('routes', ['edge-https']);
    const virtualHost = (routes.resources?.[0]?.virtual_hosts ?? []).find((v: Json) => v.name === httpCluster);
    if (!virtualHost) throw new Error(`the edge route table has no virtual host ${httpCluster}`);
    log(`    virtual host ${virtualHost.name}: domains ${virtualHost.domains.join(', ')}`);
    for (const route of virtualHost.routes ?? []) {
      log(`      ${JSON.stringify(route.match)} -> ${route.route?.cluster ?? JSON.stringify(route.route)}${route.route?.timeout ? `, timeout ${route.route.timeout}` : ''}${route.route?.retry_policy ? `, retries ${route.route.retry_policy.num_retries}` : ''}`);
    }

    const statusResponse = await fetch(`${endpoints.controlPlaneUrl}/status`, { signal: AbortSignal.timeout(5000) });
    const status = (await statusResponse.json()) as Json;
    log(`fleet status (GET /status): region ${status.region}, ready ${status.ready}, ${status.routes} routes, ${status.connectedNodes} connected node(s)`);
    for (const [region, c] of Object.entries(status.convergence ?? {}) as Array<[string, Json]>) {
      log(`    ${region}: ${c.current} of ${c.nodes} node(s) hold the newest config${c.rejected?.length ? `, ${c.rejected.length} rejected it` : ''}`);
    }
    for (const node of (status.nodes ?? []).slice(0, 5)) {
      log(`    node ${node.id} (${node.userAgent ?? 'unknown agent'}, ${node.protocol}): ACKed ${Object.keys(node.acked ?? {}).join(', ') || 'nothing yet'}`);
    }
    echo.close();
    health.close();

    const deprovisionMs = { grpc: 0, http: 0 };
    for (const kind of ['grpc', 'http'] as const) {
      const s = services[kind];
      log(`deprovisioning the ${kind} service (instance ${s.id})`);
      const t0 = performance.now();
      const del = await call('DELETE', `/v2/service_instances/${s.id}?service_id=${service.id}&plan_id=${plan.id}&accepts_incomplete=true`);
      if (del.status === 202) await pollOperation(call, s.id, del.body.operation, log, `deprovision ${kind}`);
      else if (del.status !== 200 && del.status !== 410) throw new Error(`DELETE ${s.id} answered ${del.status}: ${JSON.stringify(del.body)}`);
      provisioned.splice(provisioned.indexOf(s.id), 1);
      deprovisionMs[kind] = Math.round(performance.now() - t0);
      log(`    ${kind} service deprovisioned in ${deprovisionMs[kind]} ms`);
    }
    finished = true;
    return {
      ms: 0,
      grpcReplies: replies,
      grpcHealth: healthReply.status,
      provisionMs,
      deprovisionMs,
      httpClusters: (clusters.resources ?? []).map((c: Json) => c.name as string),
      connectedNodes: status.connectedNodes,
    };
  };

  let result: DemoResult;
  try {
    result = await withTimeout(demo(), options.timeoutMs ?? 50_000, 'the demo');
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await withTimeout(Promise.resolve(cleanup()), 10_000, 'cleaning up');
      } catch {
        // Cleaning up is best effort; the demo's own outcome is what is reported.
      }
    }
    log(finished ? 'stopped everything' : 'stopped everything after a failure');
  }
  return { ...result, ms: Math.round(performance.now() - started) };
}

if (require.main === module) {
  runDemo().then(
    (result) => {
      process.stdout.write(`demo succeeded in ${(result.ms / 1000).toFixed(1)} s\n`);
      process.exit(0);
    },
    (err: Error) => {
      process.stderr.write(`demo failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
