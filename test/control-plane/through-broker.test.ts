/**
 * The whole path: an instance provisioned through the local OSB broker (its worker writes the
 * route document), served by the control plane, resolved by a real @grpc/grpc-js-xds client.
 */
import * as grpc from '@grpc/grpc-js';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { LocalBroker, LocalEmulators, SERVICE_ID, STANDARD, osbClient, startEmulators, startTestBroker, waitForOperation } from '../broker/support';
import { EchoClient, REGION, callWho, registerXdsClient, startEchoBackend, startTestControlPlane, waitFor, waitForRpcFailure } from './support';

const HOST = 'grpc-echo.edge.example.com';

describe('a route provisioned through the broker reaches a proxyless gRPC client', () => {
  let emulators: LocalEmulators;
  let broker: LocalBroker;
  let cp: LocalControlPlane;
  let backendA: Awaited<ReturnType<typeof startEchoBackend>>;
  let backendB: Awaited<ReturnType<typeof startEchoBackend>>;
  let client: grpc.Client;
  let osb: ReturnType<typeof osbClient>;

  beforeAll(async () => {
    emulators = await startEmulators();
    broker = await startTestBroker(emulators, { regions: [REGION, 'eu-west-1'] });
    osb = osbClient(broker.url);
    backendA = await startEchoBackend('A');
    backendB = await startEchoBackend('B');
    cp = await startTestControlPlane(emulators.dynamodbEndpoint, {
      routesRefreshMs: 150,
      settleMs: 1000,
    });
    registerXdsClient(cp.xdsPort, { id: 'broker-path-client', locality: { region: REGION } });
  });

  afterAll(async () => {
    client?.close();
    await cp?.stop();
    await broker?.stop();
    await backendA?.stop();
    await backendB?.stop();
    await emulators?.stop();
  });

  const parameters = (port: number) => ({ hostnames: [HOST], backends: [{ address: '127.0.0.1', port, protocol: 'grpc' }], regions: [REGION] });

  it('provisions, follows an update and withdraws on deprovision', async () => {
    const put = await osb('PUT', '/v2/service_instances/grpc-echo?accepts_incomplete=true', {
      body: { service_id: SERVICE_ID, plan_id: STANDARD, organization_guid: 'o', space_guid: 's', parameters: parameters(backendA.port) },
    });
    expect(put.status).toBe(202);
    expect((await waitForOperation(osb, 'grpc-echo', put.body.operation)).body.state).toBe('succeeded');
    client = new EchoClient(`xds:///${HOST}`, grpc.credentials.createInsecure());
    expect(await waitFor('an RPC through xds', () => callWho(client, 1000), 20000)).toBe('A');

    const patch = await osb('PATCH', '/v2/service_instances/grpc-echo?accepts_incomplete=true', {
      body: { service_id: SERVICE_ID, parameters: { backends: [{ address: '127.0.0.1', port: backendB.port, protocol: 'grpc' }] } },
    });
    expect(patch.status).toBe(202);
    expect((await waitForOperation(osb, 'grpc-echo', patch.body.operation)).body.state).toBe('succeeded');
    await waitFor('the RPC to reach backend B', async () => ((await callWho(client, 1000)) === 'B' ? true : undefined), 15000);

    const del = await osb('DELETE', `/v2/service_instances/grpc-echo?accepts_incomplete=true&service_id=${SERVICE_ID}&plan_id=${STANDARD}`);
    expect(del.status).toBe(202);
    // The deprovision itself succeeds (a failed one would also make the RPCs fail below).
    expect((await waitForOperation(osb, 'grpc-echo', del.body.operation)).body.state).toBe('succeeded');
    expect(await broker.store.getRoute('grpc-echo')).toMatchObject({ deleted: true });
    const err = await waitForRpcFailure(client, 'RPCs to fail after deprovision');
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });
});
