/**
 * End to end with a real proxyless gRPC client (@grpc/grpc-js-xds): routes written to the
 * local DynamoDB as the broker writes them, resolved as xds:///<hostname>.
 */
import * as grpc from '@grpc/grpc-js';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ConvergenceReport, convergenceKey } from '../../lib/model';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { EchoClient, REGION, TABLE, TestTable, callWho, registerXdsClient, startEchoBackend, startTable, startTestControlPlane, waitFor, waitForRpcFailure, writeRoute } from './support';

const HOST = 'echo.edge.example.com';

describe('proxyless gRPC through the control plane', () => {
  let table: TestTable;
  let cp: LocalControlPlane;
  let backendA: Awaited<ReturnType<typeof startEchoBackend>>;
  let backendB: Awaited<ReturnType<typeof startEchoBackend>>;
  let client: grpc.Client;

  beforeAll(async () => {
    table = await startTable();
    backendA = await startEchoBackend('A');
    backendB = await startEchoBackend('B');
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, {
      routesRefreshMs: 150,
      settleMs: 1000,
    });
    registerXdsClient(cp.xdsPort, { id: 'grpc-test-client', locality: { region: REGION, zone: 'us-east-1a' } });
  });

  afterAll(async () => {
    client?.close();
    await cp?.stop();
    await backendA?.stop();
    await backendB?.stop();
    await table?.stop();
  });

  const report = async () => (await table.doc.send(new GetCommand({ TableName: TABLE, Key: convergenceKey(REGION, cp.taskId!) }))).Item as ConvergenceReport | undefined;

  const status = async () => (await fetch(`http://127.0.0.1:${cp.restPort}/status`)).json() as Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test reads loose JSON

  it('resolves xds:///<hostname> and reaches the backend', async () => {
    const generation = await writeRoute(table, 'echo-1', { hostnames: [HOST], backends: [{ address: '127.0.0.1', port: backendA.port, protocol: 'grpc' }] });
    client = new EchoClient(`xds:///${HOST}`, grpc.credentials.createInsecure());
    const who = await waitFor('an RPC through xds', () => callWho(client, 1000), 20000);
    expect(who).toBe('A');
    const s = await status();
    const node = s.nodes.find((n: { id: string }) => n.id === 'grpc-test-client');
    expect(node.userAgent).not.toBe('envoy');
    expect(node.profile).toContain('grpc-listeners');
    expect(Object.keys(node.acked).sort()).toEqual(['clusters', 'endpoints', 'listeners', 'routes']);
    // The task's convergence report (read by the broker's gate) counts the client as holding the generation.
    const written = await waitFor('a convergence report holding the generation', async () => {
      const item = await report();
      return item && item.ackedGenerations.some(([g, n]) => g >= generation && n >= 1) ? item : undefined;
    });
    expect(written).toMatchObject({ region: REGION, taskId: cp.taskId, connectedNodes: 1 });
  });

  it('follows the backend when an update moves it', async () => {
    await writeRoute(table, 'echo-1', { hostnames: [HOST], backends: [{ address: '127.0.0.1', port: backendB.port, protocol: 'grpc' }] });
    await waitFor('the RPC to reach backend B', async () => ((await callWho(client, 1000)) === 'B' ? true : undefined), 15000);
  });

  it('rejects an invalid route before serving it and keeps the last good config', async () => {
    const generation = await writeRoute(table, 'echo-1', { hostnames: [HOST], backends: [{ address: '127.0.0.1', port: 70000, protocol: 'grpc' }] });
    const s = await waitFor('the invalid generation to be reported', async () => {
      const current = await status();
      const excluded = current.profiles.flatMap((p: { excluded: unknown[] }) => p.excluded) as Array<{ instanceId: string; generation: number; servedGeneration?: number; problems: Array<{ field: string; resource: string; template: string }> }>;
      return excluded.some((e) => e.generation === generation) ? excluded : undefined;
    });
    const entry = s.find((e) => e.generation === generation)!;
    expect(entry.servedGeneration).toBe(generation - 1);
    expect(entry.problems).toEqual(
      expect.arrayContaining([expect.objectContaining({ template: 'endpoints', resource: 'svc-echo-1', field: 'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value' })]),
    );
    // Still served from the last good generation.
    expect(await callWho(client, 2000)).toBe('B');
    const rejected = await waitFor('the rejection in the convergence report', async () => (await report())?.rejected['echo-1']);
    expect(rejected).toMatchObject({ generation, source: 'validation', reason: expect.stringContaining('port_value') });
  });

  it('withdraws the service when the instance is deprovisioned (tombstone)', async () => {
    await writeRoute(table, 'echo-1', { hostnames: [HOST], backends: [{ address: '127.0.0.1', port: backendB.port, protocol: 'grpc' }] }, true);
    const err = await waitForRpcFailure(client, 'RPCs to fail after the tombstone');
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });
});
