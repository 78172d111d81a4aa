/**
 * The whole local platform end to end: OSB requests to the broker -> worker -> route in the
 * local DynamoDB -> control plane -> a real proxyless gRPC client (@grpc/grpc-js-xds,
 * `xds:///<hostname>`) reaching gRPC backends on loopback, and simulated Envoy nodes on ADS
 * receiving the route and ACKing it (or NACKing it). Then a restart on EDGE_DATA_DIR while
 * an operation is in progress.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { messageType } from '../../lib/control-plane/runtime/protos';
import { LocalPlatform, startLocalPlatform } from '../../lib/local/platform';
import { resourceBaseName } from '../../lib/model';
import { loadProtos, startGrpcBackend, unary } from '../../scripts/demo';
import { catalogIds, finishOperation, osbClient, OsbCall, provisionBody, testSettings, TOKEN, waitFor } from './support/platform';
import { SimEnvoy, SimFleet } from './support/sim-envoy';
import { restResources } from '../support/rest-discovery';

const HOST = 'echo-e2e.edge.example.com';
const INSTANCE = 'e2e-echo';
const FAST_CONTROL_PLANE = { routesRefreshMs: 150, settleMs: 1000 };

/** The backend ports a node holds for an instance (decoded from its ACKed ClusterLoadAssignment). */
function heldPorts(node: SimEnvoy, instanceId: string): number[] {
  const type = messageType('envoy.config.endpoint.v3.ClusterLoadAssignment');
  const held = node.held.get('endpoints');
  const index = held?.names.indexOf(resourceBaseName(instanceId)) ?? -1;
  if (!held || index < 0) return [];
  const cla = type.toObject(type.decode(held.resources[index]), { defaults: false }) as { endpoints?: Array<{ lb_endpoints?: Array<{ endpoint?: { address?: { socket_address?: { port_value?: number } } } }> }> };
  return (cla.endpoints ?? []).flatMap((l) => (l.lb_endpoints ?? []).map((e) => e.endpoint?.address?.socket_address?.port_value ?? 0));
}

describe('the local platform end to end', () => {
  let platform: LocalPlatform;
  let call: OsbCall;
  let ids: { serviceId: string; planId: string };
  let backendA: Awaited<ReturnType<typeof startGrpcBackend>>;
  let backendB: Awaited<ReturnType<typeof startGrpcBackend>>;
  let fleet: SimFleet;
  let nacker: SimEnvoy | undefined;
  let nackerClient: grpc.Client | undefined;
  let echo: grpc.Client;

  const say = async () => (await unary<{ backend: string }>(echo, 'Say', { message: 'hi' }, 1500)).backend;
  const status = async () => (await fetch(`${platform.controlPlaneUrl}/status`)).json();

  beforeAll(async () => {
    platform = await startLocalPlatform(testSettings(), { quiet: true, controlPlane: FAST_CONTROL_PLANE });
    call = osbClient(platform.brokerUrl);
    ids = await catalogIds(call);
    backendA = await startGrpcBackend('A');
    backendB = await startGrpcBackend('B');
    fleet = await SimFleet.connect({ xdsAddress: platform.xdsAddress, token: TOKEN, region: platform.region, nodes: 5, idPrefix: 'e2e-envoy' });
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: platform.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'e2e-grpc-client', cluster: 'e2e-clients', locality: { region: platform.region, zone: 'us-east-1a' }, metadata: { auth: TOKEN } },
    });
    require('@grpc/grpc-js-xds').register();
  });

  afterAll(async () => {
    echo?.close();
    nacker?.close();
    nackerClient?.close();
    fleet?.close();
    await platform?.stop();
    await backendA?.stop();
    await backendB?.stop();
  });

  it('provisions a gRPC service through the broker; a proxyless client reaches it and every Envoy node ACKs it', async () => {
    const put = await call('PUT', `/v2/service_instances/${INSTANCE}?accepts_incomplete=true`, provisionBody(ids, { hostnames: [HOST], backends: [{ address: '127.0.0.1', port: backendA.port, protocol: 'grpc' }] }));
    expect(put.status).toBe(202);
    const done = await finishOperation(call, INSTANCE);
    expect(done.body).toEqual(expect.objectContaining({ state: 'succeeded' }));

    const { Echo } = loadProtos();
    echo = new Echo(`xds:///${HOST}`, grpc.credentials.createInsecure());
    expect(await waitFor('an RPC through xds:///', say, 20_000)).toBe('A');

    await fleet.waitForAll('every node to hold the route', (n) => n.servesInstance(INSTANCE) && heldPorts(n, INSTANCE).includes(backendA.port), 15_000);
    for (const node of fleet.nodes) {
      expect(node.holds('listeners', 'edge-https')).toBe(true);
      expect(node.nacks).toEqual([]);
    }
    const s = await waitFor('the fleet status to show every node current', async () => {
      const current = await status();
      return current.convergence['us-east-1']?.current === current.connectedNodes ? current : undefined;
    });
    expect(s.connectedNodes).toBe(6); // 5 Envoy nodes + the gRPC client
    const envoyNode = s.nodes.find((n: { id: string }) => n.id === 'e2e-envoy-0');
    expect(envoyNode.userAgent).toBe('envoy');
    expect(Object.keys(envoyNode.acked).sort()).toEqual(['clusters', 'endpoints', 'listeners', 'routes']);
  });

  it('an update moves the backend; the client and the Envoy nodes follow', async () => {
    const patch = await call('PATCH', `/v2/service_instances/${INSTANCE}?accepts_incomplete=true`, {
      service_id: ids.serviceId,
      plan_id: ids.planId,
      parameters: { hostnames: [HOST], backends: [{ address: '127.0.0.1', port: backendB.port, protocol: 'grpc' }] },
    });
    expect(patch.status).toBe(202);
    expect((await finishOperation(call, INSTANCE)).body.state).toBe('succeeded');
    await waitFor('the client to reach backend B', async () => ((await say()) === 'B' ? true : undefined), 15_000);
    await fleet.waitForAll('every node to hold backend B', (n) => heldPorts(n, INSTANCE).join() === String(backendB.port), 15_000);
  });

  it('a node that NACKs a change: the fleet status names it and its error, the operation fails with it and the change is withdrawn', async () => {
    const rejected = 'e2e-rejected';
    const error = 'route_config edge-https: unknown field in the test';
    nackerClient = new grpc.Client(platform.xdsAddress, grpc.credentials.createInsecure());
    nacker = new SimEnvoy(nackerClient, {
      id: 'e2e-envoy-picky',
      token: TOKEN,
      region: platform.region,
      reject: (kind, response) => (kind === 'routes' && response.resources.some((r) => r.includes(Buffer.from(resourceBaseName(rejected)))) ? error : undefined),
    });
    await waitFor('the picky node to hold a first config', () => nacker!.held.has('listeners'));
    const put = await call('PUT', `/v2/service_instances/${rejected}?accepts_incomplete=true`, provisionBody(ids, { hostnames: ['rejected-e2e.edge.example.com'], backends: [{ address: '127.0.0.1', port: 8081, protocol: 'http' }] }));
    expect(put.status).toBe(202);
    await waitFor('the NACK', () => nacker!.nacks.length > 0);
    expect(nacker.nacks[0]).toEqual(expect.objectContaining({ kind: 'routes', message: error }));
    expect(nacker.servesInstance(rejected)).toBe(false);
    const s = await waitFor('the status to report the rejection', async () => {
      const current = await status();
      return current.convergence['us-east-1'].rejected.length > 0 ? current : undefined;
    });
    expect(s.convergence['us-east-1'].rejected).toEqual([expect.objectContaining({ node: 'e2e-envoy-picky', type: 'routes', error })]);
    expect(s.convergence['us-east-1'].behind).toContain('e2e-envoy-picky');

    // The convergence gate fails the operation with the node's error_detail and withdraws
    // the change, so every node ends without it.
    const done = await finishOperation(call, rejected);
    expect(done.body.state).toBe('failed');
    expect(done.body.description).toContain(error);
    expect(done.body.description).toMatch(/withdrawn/);
    await fleet.waitForAll('every node to be without the withdrawn change', (n) => !n.servesInstance(rejected), 15_000);
    nacker.close();
    nacker = undefined;
    const del = await call('DELETE', `/v2/service_instances/${rejected}?service_id=${ids.serviceId}&plan_id=${ids.planId}&accepts_incomplete=true`);
    expect([200, 202, 410]).toContain(del.status);
    if (del.status === 202) expect((await finishOperation(call, rejected)).body.state).toBe('succeeded');
  });

  it('deprovision withdraws the service from the client and from every node', async () => {
    const del = await call('DELETE', `/v2/service_instances/${INSTANCE}?service_id=${ids.serviceId}&plan_id=${ids.planId}&accepts_incomplete=true`);
    expect(del.status).toBe(202);
    expect((await finishOperation(call, INSTANCE)).body.state).toBe('succeeded');
    await fleet.waitForAll('every node to drop the cluster', (n) => !n.holds('clusters', resourceBaseName(INSTANCE)) && !n.mentions('routes', resourceBaseName(INSTANCE)), 15_000);
    const err = await waitFor(
      'RPCs to fail once the service is withdrawn',
      async () => {
        try {
          await say();
          return undefined;
        } catch (e) {
          return e as grpc.ServiceError;
        }
      },
      15_000,
    );
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(err.code);
    const gone = await call('GET', `/v2/service_instances/${INSTANCE}`);
    expect([404, 410]).toContain(gone.status);
  });
});

describe('a restart on EDGE_DATA_DIR while an operation is in progress', () => {
  let dataDir: string;
  let platform: LocalPlatform | undefined;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'edge-e2e-data-'));
  });
  afterAll(async () => {
    await platform?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('completes the operation after the restart, and the control plane serves the route', async () => {
    const instance = 'e2e-restart';
    // First run: CloudFront (the local stand-in) never finishes deploying, so the cdn
    // provision stays in progress at its distribution step.
    platform = await startLocalPlatform(testSettings({ dataDir }), {
      quiet: true,
      controlPlane: FAST_CONTROL_PLANE,
      broker: { cloud: new LocalCloud({ actionsFile: join(dataDir, 'cloud-actions.jsonl'), deployPolls: 1_000_000 }), worker: { waitSeconds: 1 } },
    });
    let call = osbClient(platform.brokerUrl);
    const cdn = await catalogIds(call, 'cdn');
    const put = await call('PUT', `/v2/service_instances/${instance}?accepts_incomplete=true`, provisionBody(cdn, { hostnames: ['restart-e2e.edge.example.com'], backends: [{ address: '127.0.0.1', port: 8080, protocol: 'http' }] }));
    expect(put.status).toBe(202);
    const waiting = await waitFor('the operation to wait for the distribution', async () => {
      const reply = await call('GET', `/v2/service_instances/${instance}/last_operation`);
      return reply.body?.state === 'in progress' && /CloudFront/i.test(reply.body.description ?? '') ? reply : undefined;
    });
    expect(waiting.body.state).toBe('in progress');
    await platform.stop();
    platform = undefined;

    // Second run on the same data dir (new ports): the broker re-enqueues the operation,
    // the recorded distribution has deployed meanwhile, and the operation finishes.
    platform = await startLocalPlatform(testSettings({ dataDir }), { quiet: true, controlPlane: FAST_CONTROL_PLANE });
    expect(platform.resumedOperations).toBe(1);
    call = osbClient(platform.brokerUrl);
    const done = await finishOperation(call, instance);
    expect(done.body.state).toBe('succeeded');
    const instanceReply = await call('GET', `/v2/service_instances/${instance}`);
    expect(instanceReply.status).toBe(200);

    const cluster = await waitFor('the control plane to serve the route after the restart', async () => {
      const resources = await restResources(platform!.controlPlaneUrl, 'clusters', { nodeId: 'restart-check', token: TOKEN, resourceNames: [resourceBaseName(instance)] });
      return resources?.[0];
    });
    expect(cluster.name).toBe(resourceBaseName(instance));
  });
});
