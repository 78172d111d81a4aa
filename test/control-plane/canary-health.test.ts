/**
 * Canary health over HDS with simulated Envoys that really health-check what they are
 * told to: a change whose backend is dead is halted on the canary, rolled back and
 * rejected with a reason naming the instance, cluster and endpoints; a healthy one is
 * promoted; HDS refuses a node without the discovery token; and nodes that do not speak
 * HDS keep the ACK + soak behaviour (unless HDS is required).
 */
import { createServer, Server } from 'node:net';
import { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { chooseCanaries } from '../../lib/control-plane/runtime/canary';
import { CanaryHealthSettings, canaryHealthSettingsFromEnv, checkCanaryHealthSettings, healthCheckSpecifier, reportIntervalMs } from '../../lib/control-plane/runtime/canary-health';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { strictFromJson } from '../../lib/control-plane/runtime/proto-json';
import { loadHdsProtos } from '../../lib/control-plane/runtime/hds-server';
import { ConvergenceReport, convergenceKey, resourceBaseName } from '../../lib/model';
import { SimEnvoy } from '../e2e/support/sim-envoy';
import { SimHdsClient } from '../e2e/support/sim-hds';
import { REGION, TABLE, TOKEN, TestTable, freePort, startTable, startTestControlPlane, waitFor, writeRoute } from './support';

const SOAK_MS = 400;
const HEALTH_TIMEOUT_MS = 2000;
const backend = (port: number) => ({ address: '127.0.0.1', port, protocol: 'http' as const });

describe('canary health settings', () => {
  it('reads and validates EDGE_CANARY_HEALTH and EDGE_CANARY_HEALTH_TIMEOUT_MS', () => {
    const defaults: CanaryHealthSettings = { mode: 'hds', timeoutMs: 60_000 };
    expect(canaryHealthSettingsFromEnv({}, defaults)).toEqual(defaults);
    expect(canaryHealthSettingsFromEnv({ EDGE_CANARY_HEALTH: 'required', EDGE_CANARY_HEALTH_TIMEOUT_MS: '5000' }, defaults)).toEqual({ mode: 'required', timeoutMs: 5000 });
    expect(canaryHealthSettingsFromEnv({ EDGE_CANARY_HEALTH: 'off' }, defaults).mode).toBe('off');
    expect(() => canaryHealthSettingsFromEnv({ EDGE_CANARY_HEALTH: 'yes' }, defaults)).toThrow('EDGE_CANARY_HEALTH: must be one of off, hds, required (got "yes")');
    expect(() => canaryHealthSettingsFromEnv({ EDGE_CANARY_HEALTH_TIMEOUT_MS: 'soon' }, defaults)).toThrow('EDGE_CANARY_HEALTH_TIMEOUT_MS: must be a number');
    expect(() => canaryHealthSettingsFromEnv({ EDGE_CANARY_HEALTH_TIMEOUT_MS: '50' }, defaults)).toThrow('EDGE_CANARY_HEALTH_TIMEOUT_MS: must be a whole number of milliseconds from 100 to 3600000');
    expect(() => checkCanaryHealthSettings({ mode: 'hds', timeoutMs: 1.5 }, (k) => `canaryHealth.${k}`)).toThrow('canaryHealth.timeoutMs');
    expect(reportIntervalMs({ mode: 'hds', timeoutMs: 60_000 })).toBe(5000);
    expect(reportIntervalMs({ mode: 'hds', timeoutMs: 1000 })).toBe(200);
  });

  it('renders a HealthCheckSpecifier that passes Envoy proto validation', () => {
    loadHdsProtos();
    const specifier = healthCheckSpecifier(
      [
        {
          cluster: 'svc-a',
          instanceIds: ['a'],
          localities: [{ locality: { region: REGION }, endpoints: [{ address: '10.0.0.1', port: 9 }] }],
          healthChecks: [{ timeout: '1s', interval: '1s', no_traffic_interval: '1s', unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }],
        },
      ],
      { mode: 'hds', timeoutMs: 5000 },
    );
    expect(() => strictFromJson('envoy.service.health.v3.HealthCheckSpecifier', specifier)).not.toThrow();
    expect(specifier).toMatchObject({ interval: '0.5s', cluster_health_checks: [{ cluster_name: 'svc-a', locality_endpoints: [{ endpoints: [{ address: { socket_address: { address: '10.0.0.1', port_value: 9 } } }] }] }] });
  });
});

interface Harness {
  table: TestTable;
  cp: LocalControlPlane;
  nodes: Map<string, SimEnvoy>;
  /** Every cluster name each node ever held. */
  everHeld: Map<string, Set<string>>;
  clients: grpc.Client[];
  report(): Promise<ConvergenceReport | undefined>;
  stop(): Promise<void>;
}

async function harness(ids: readonly string[], health: Partial<CanaryHealthSettings>, hds: boolean): Promise<Harness> {
  const table = await startTable();
  await writeRoute(table, 'base', { hostnames: ['base.edge.example.com'], backends: [backend(8000)] });
  const cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, {
    routesRefreshMs: 100,
    settleMs: 300,
    convergenceReportMs: 50,
    canary: { fraction: 1 / ids.length, soakMs: SOAK_MS, ackTimeoutMs: 10_000 },
    canaryHealth: { mode: 'hds', timeoutMs: HEALTH_TIMEOUT_MS, ...health },
  });
  const nodes = new Map<string, SimEnvoy>();
  const everHeld = new Map<string, Set<string>>();
  const clients: grpc.Client[] = [];
  for (const id of ids) {
    const client = new grpc.Client(`127.0.0.1:${cp.xdsPort}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    clients.push(client);
    const node = new SimEnvoy(client, { id, token: TOKEN, region: REGION, hds });
    everHeld.set(id, new Set());
    node.onChange = (n) => {
      for (const name of n.held.get('clusters')?.names ?? []) everHeld.get(id)!.add(name);
    };
    nodes.set(id, node);
  }
  await waitFor('every node holding the base route', () => [...nodes.values()].every((n) => n.holds('clusters', resourceBaseName('base'))) || undefined);
  return {
    table,
    cp,
    nodes,
    everHeld,
    clients,
    report: async () => (await table.doc.send(new GetCommand({ TableName: TABLE, Key: convergenceKey(REGION, cp.taskId!) }))).Item as ConvergenceReport | undefined,
    async stop() {
      for (const n of nodes.values()) n.close();
      for (const c of clients) c.close();
      await cp.stop();
      await table.stop();
    },
  };
}

async function listeningBackend(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('canary health over HDS', () => {
  const IDS = ['hds-1', 'hds-2'];
  const [canaryId] = chooseCanaries(IDS, (x) => x, 1);
  const otherId = IDS.find((id) => id !== canaryId)!;
  let h: Harness;
  let healthy: { server: Server; port: number };
  const canary = () => h.nodes.get(canaryId)!;

  beforeAll(async () => {
    healthy = await listeningBackend();
    h = await harness(IDS, {}, true);
    await waitFor('both HDS streams open', async () => {
      const status = (await (await fetch(`http://127.0.0.1:${h.cp.restPort}/status`)).json()) as { canaryHealth: { hdsStreams: number } };
      return status.canaryHealth.hdsStreams === 2 || undefined;
    });
  });

  afterAll(async () => {
    await h?.stop();
    await new Promise((resolve) => healthy?.server.close(resolve));
  });

  it('promotes a change whose backend the canary finds healthy, then stops the checks', async () => {
    const name = resourceBaseName('good');
    const generation = await writeRoute(h.table, 'good', { hostnames: ['good.edge.example.com'], backends: [backend(healthy.port)] });
    const promoted = await waitFor(
      'the change promoted',
      async () => {
        const r = await h.report();
        return r?.canary?.state === 'promoted' && r.canary.generation >= generation ? r : undefined;
      },
      10_000,
    );
    expect(promoted.rejected.good).toBeUndefined();
    const asked = canary().hds!.specifiers.find((s) => s.cluster_health_checks?.some((c) => c.cluster_name === name));
    expect(asked?.cluster_health_checks?.find((c) => c.cluster_name === name)?.locality_endpoints?.[0].endpoints?.[0].address?.socket_address).toEqual({ address: '127.0.0.1', port_value: healthy.port });
    expect(canary().hds!.reports.some((r) => r.clusters[name]?.[`127.0.0.1:${healthy.port}`] === 'HEALTHY')).toBe(true);
    // Only the canary is asked; after the promotion it is told to stop checking.
    expect(h.nodes.get(otherId)!.hds!.specifiers.some((s) => s.cluster_health_checks?.some((c) => c.cluster_name === name))).toBe(false);
    await waitFor('the checks stopped', () => canary().hds!.clusters().length === 0 || undefined);
    await waitFor('every node holding the change', () => [...h.nodes.values()].every((n) => n.holds('clusters', name)) || undefined);
  });

  it('halts a change whose backend is dead: rolled back, rejected naming the instance, cluster and endpoint', async () => {
    const name = resourceBaseName('dead');
    const deadPort = await freePort();
    const generation = await writeRoute(h.table, 'dead', { hostnames: ['dead.edge.example.com'], backends: [backend(deadPort)] });
    await waitFor('the canary to hold the change', () => canary().holds('clusters', name) || undefined);
    const rejected = await waitFor('the health rejection in the report', async () => (await h.report())?.rejected.dead, 10_000);
    expect(rejected).toEqual({
      generation,
      source: 'canary-health',
      nodes: 1,
      reason: `canary health: instance dead, cluster ${name} has no healthy endpoint (127.0.0.1:${deadPort} unhealthy) on 1 of 1 canaries (${canaryId})`,
    });
    expect((await h.report())!.canary).toMatchObject({ state: 'rolled-back', reason: rejected.reason });
    await waitFor('the canary back without the change', () => (!canary().holds('clusters', name) && canary().holds('clusters', resourceBaseName('good'))) || undefined);
    await new Promise((resolve) => setTimeout(resolve, SOAK_MS + 300));
    expect(h.everHeld.get(otherId)!.has(name)).toBe(false);
    expect(canary().hds!.reports.some((r) => r.clusters[name]?.[`127.0.0.1:${deadPort}`] === 'UNHEALTHY')).toBe(true);
  });

  it('blames only the unhealthy change of a rollout: the healthy one folded with it is promoted after', async () => {
    const deadPort = await freePort();
    await Promise.all([
      writeRoute(h.table, 'broken', { hostnames: ['broken.edge.example.com'], backends: [backend(deadPort)] }),
      writeRoute(h.table, 'fine', { hostnames: ['fine.edge.example.com'], backends: [backend(healthy.port)] }),
    ]);
    const rejected = await waitFor('the health rejection of the broken change', async () => (await h.report())?.rejected.broken, 10_000);
    expect(rejected.reason).toContain(`instance broken, cluster ${resourceBaseName('broken')} has no healthy endpoint (127.0.0.1:${deadPort} unhealthy)`);
    await waitFor('every node holding the fine change', () => [...h.nodes.values()].every((n) => n.holds('clusters', resourceBaseName('fine'))) || undefined, 10_000);
    expect((await h.report())!.rejected.fine).toBeUndefined();
    expect(h.everHeld.get(otherId)!.has(resourceBaseName('broken'))).toBe(false);
  });

  it('refuses an HDS stream without the discovery token, or with a wrong one', async () => {
    const client = new grpc.Client(`127.0.0.1:${h.cp.xdsPort}`, grpc.credentials.createInsecure());
    try {
      const missing = new SimHdsClient(client, { id: 'no-token', token: '', region: REGION });
      const wrong = new SimHdsClient(client, { id: 'bad-token', token: 'not-the-token', region: REGION });
      const a = await waitFor('the refusal', () => missing.error);
      const b = await waitFor('the refusal', () => wrong.error);
      expect(a.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(a.details).toBe('node.metadata.auth is required');
      expect(b.code).toBe(grpc.status.PERMISSION_DENIED);
      missing.close();
      wrong.close();
    } finally {
      client.close();
    }
  });
});

describe('canaries that do not speak HDS', () => {
  const IDS = ['plain-1', 'plain-2'];
  const [canaryId] = chooseCanaries(IDS, (x) => x, 1);

  it('keep the ACK + soak behaviour in hds mode: a dead backend is promoted', async () => {
    const h = await harness(IDS, { mode: 'hds' }, false);
    try {
      const generation = await writeRoute(h.table, 'unchecked', { hostnames: ['unchecked.edge.example.com'], backends: [backend(await freePort())] });
      const r = await waitFor('the change promoted', async () => {
        const report = await h.report();
        return report?.canary?.state === 'promoted' && report.canary.generation >= generation ? report : undefined;
      });
      expect(r.rejected).toEqual({});
    } finally {
      await h.stop();
    }
  });

  it('are a health drop when HDS is required', async () => {
    const h = await harness(IDS, { mode: 'required' }, false);
    try {
      const port = await freePort();
      const generation = await writeRoute(h.table, 'unreported', { hostnames: ['unreported.edge.example.com'], backends: [backend(port)] });
      const rejected = await waitFor('the health rejection', async () => (await h.report())?.rejected.unreported, 10_000);
      expect(rejected).toMatchObject({
        generation,
        source: 'canary-health',
        reason: `canary health: instance unreported, cluster ${resourceBaseName('unreported')} has no healthy endpoint (127.0.0.1:${port} not reported within 2 s) on 1 of 1 canaries (${canaryId})`,
      });
    } finally {
      await h.stop();
    }
  });
});
