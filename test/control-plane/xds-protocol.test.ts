/** xDS protocol behaviour a proxyless client does not exercise, with a raw ADS client (SotW and Delta). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { REGION, RawAdsClient, Response, TOKEN, TYPE, TestTable, envoyNode, startTable, startTestControlPlane, waitFor, writeRoute } from './support';

const backend = (port: number) => ({ address: '10.0.0.1', port, protocol: 'http' as const });

describe('xDS protocol', () => {
  let table: TestTable;
  let cp: LocalControlPlane;
  let dataDir: string;
  const clients: RawAdsClient[] = [];

  const start = (dynamodbEndpoint: string) =>
    startTestControlPlane(dynamodbEndpoint, {
      dataDir,
      routesRefreshMs: 100,
      settleMs: 500,
      persistDebounceMs: 50,
      // Protocol behaviour: every node gets a new snapshot at once (the canary has its own tests).
      canary: { fraction: 0 },
    });

  const client = (delta = false) => {
    const c = new RawAdsClient(cp.xdsPort, delta);
    clients.push(c);
    return c;
  };

  /** SotW request helper: the node rides on the first request only. */
  const request = (c: RawAdsClient, typeUrl: string, names: string[] = [], ack?: Response, extra: Record<string, unknown> = {}, node?: Record<string, unknown>) =>
    c.send({ type_url: typeUrl, resource_names: names, version_info: ack?.version_info ?? '', response_nonce: ack?.nonce ?? '', ...(node ? { node } : {}), ...extra });

  const rest = (path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${cp.restPort}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'edge-cp-'));
    table = await startTable();
    await writeRoute(table, 'alpha', { hostnames: ['alpha.edge.example.com'], backends: [backend(8001)] });
    await writeRoute(table, 'beta', { hostnames: ['beta.edge.example.com'], backends: [backend(8002)], regions: ['eu-west-1'] });
    cp = await start(table.emulators.dynamodbEndpoint);
    await waitFor('ready', async () => (await fetch(`http://127.0.0.1:${cp.restPort}/readyz`)).status === 200 || undefined);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cp?.stop();
    await table?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves LDS/CDS wildcard subscriptions with the complete state, RDS/EDS by name, and only routes of its region', async () => {
    const c = client();
    request(c, TYPE.clusters, [], undefined, {}, envoyNode('wildcard-node'));
    const cds = await c.next(TYPE.clusters);
    expect(cds.resources.map((r) => r.name)).toEqual(['svc-alpha']); // beta is eu-west-1 only
    expect(cds.resources[0].value).toMatchObject({ type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, outlier_detection: { consecutive_5xx: { value: 5 } } });
    request(c, TYPE.clusters, [], cds);
    request(c, TYPE.endpoints, ['svc-alpha']);
    const eds = await c.next(TYPE.endpoints);
    expect(eds.resources.map((r) => r.name)).toEqual(['svc-alpha']);
    request(c, TYPE.endpoints, ['svc-alpha'], eds);
    request(c, TYPE.listeners, []);
    const lds = await c.next(TYPE.listeners);
    expect(lds.resources.map((r) => r.name).sort()).toEqual(['edge-http', 'edge-https']);
    const https = lds.resources.find((r) => r.name === 'edge-https')!.value as { address: { socket_address: { port_value: number } }; listener_filters: Array<{ name: string }> };
    expect(https.address.socket_address.port_value).toBe(8443);
    expect(https.listener_filters[0].name).toBe('envoy.filters.listener.proxy_protocol');
    request(c, TYPE.listeners, [], lds);
    request(c, TYPE.routes, ['edge-https']);
    const rds = await c.next(TYPE.routes);
    const vhosts = (rds.resources[0].value as { virtual_hosts: Array<{ domains: string[] }> }).virtual_hosts;
    expect(vhosts.map((v) => v.domains)).toEqual([['alpha.edge.example.com']]);
    request(c, TYPE.routes, ['edge-https'], rds);
    await c.nothingFor(300);
  });

  it('pushes additions make-before-break (clusters, endpoints, then routes) and removals after', async () => {
    const c = client();
    request(c, TYPE.clusters, [], undefined, {}, envoyNode('ordering-node'));
    let cds = await c.next(TYPE.clusters);
    request(c, TYPE.clusters, [], cds);
    request(c, TYPE.endpoints, ['svc-alpha']);
    let eds = await c.next(TYPE.endpoints);
    request(c, TYPE.endpoints, ['svc-alpha'], eds);
    request(c, TYPE.routes, ['edge-https']);
    let rds = await c.next(TYPE.routes);
    request(c, TYPE.routes, ['edge-https'], rds);
    await c.nothingFor(200);

    // Addition: the new cluster comes first; routes wait until clusters and endpoints are acknowledged.
    await writeRoute(table, 'gamma', { hostnames: ['gamma.edge.example.com'], backends: [backend(8003)] });
    const first = await c.next();
    expect(first.type_url).toBe(TYPE.clusters);
    expect(first.resources.map((r) => r.name)).toEqual(['svc-alpha', 'svc-gamma']);
    await c.nothingFor(300); // nothing else until the ACK
    request(c, TYPE.clusters, [], first);
    eds = await c.next();
    expect(eds.type_url).toBe(TYPE.endpoints);
    request(c, TYPE.endpoints, ['svc-alpha', 'svc-gamma'], eds);
    const more = await c.next();
    // Either the newly named endpoints or the routes; routes must come after the endpoints of svc-gamma.
    let gammaEndpoints = more.type_url === TYPE.endpoints ? more : undefined;
    if (gammaEndpoints) {
      expect(gammaEndpoints.resources.map((r) => r.name)).toContain('svc-gamma');
      request(c, TYPE.endpoints, ['svc-alpha', 'svc-gamma'], gammaEndpoints);
      rds = await c.next();
    } else rds = more;
    expect(rds.type_url).toBe(TYPE.routes);
    expect((rds.resources[0].value as { virtual_hosts: unknown[] }).virtual_hosts).toHaveLength(2);
    request(c, TYPE.routes, ['edge-https'], rds);
    gammaEndpoints = undefined;

    // Removal: routes first, the cluster only goes once routes no longer use it.
    await writeRoute(table, 'gamma', { hostnames: ['gamma.edge.example.com'], backends: [backend(8003)] }, true);
    const seen: Response[] = [];
    for (;;) {
      const response = await c.next();
      seen.push(response);
      const names = response.type_url === TYPE.endpoints ? ['svc-alpha', 'svc-gamma'] : response.type_url === TYPE.routes ? ['edge-https'] : [];
      request(c, response.type_url, names, response);
      if (response.type_url === TYPE.clusters) break;
    }
    const routesAt = seen.findIndex((r) => r.type_url === TYPE.routes);
    const clustersAt = seen.findIndex((r) => r.type_url === TYPE.clusters);
    expect(routesAt).toBeGreaterThanOrEqual(0);
    expect(clustersAt).toBeGreaterThan(routesAt);
    expect(seen[clustersAt].resources.map((r) => r.name)).toEqual(['svc-alpha']);
    cds = seen[clustersAt];
    void cds;
  });

  /** A counter's value on /metrics now (tests compare it before and after their action: other tests move it too). */
  const counter = async (name: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${cp.restPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    if (!line) throw new Error(`${name} is not on /metrics`);
    return Number(line.slice(name.length + 1));
  };

  it('records a NACK with its error_detail in /status and does not resend the rejected version', async () => {
    const nacksBefore = await counter('edge_xds_nacks_total');
    const c = client();
    request(c, TYPE.clusters, [], undefined, {}, envoyNode('nack-node'));
    const cds = await c.next(TYPE.clusters);
    request(c, TYPE.clusters, [], { version_info: '', nonce: cds.nonce } as Response, { error_detail: { code: 3, message: 'cluster svc-alpha: unsupported field' } });
    await c.nothingFor(300);
    const status = (await (await fetch(`http://127.0.0.1:${cp.restPort}/status`)).json()) as { nodes: Array<{ id: string; lastNack?: { kind: string; message: string; version: string } }>; convergence: Record<string, { rejected: Array<{ node: string; error: string }> }> };
    const node = status.nodes.find((n) => n.id === 'nack-node')!;
    expect(node.lastNack).toMatchObject({ kind: 'clusters', message: 'cluster svc-alpha: unsupported field', version: cds.version_info });
    expect(status.convergence[REGION].rejected).toEqual(expect.arrayContaining([expect.objectContaining({ node: 'nack-node', error: 'cluster svc-alpha: unsupported field' })]));
    // This one NACK, counted once.
    expect((await counter('edge_xds_nacks_total')) - nacksBefore).toBe(1);
    expect(JSON.stringify(status)).not.toContain(TOKEN);
  });

  it('ignores requests that carry a stale nonce', async () => {
    const staleBefore = await counter('edge_xds_stale_nonces_total');
    const c = client();
    request(c, TYPE.endpoints, ['svc-alpha'], undefined, {}, envoyNode('stale-node'));
    const first = await c.next(TYPE.endpoints);
    request(c, TYPE.endpoints, ['svc-alpha'], first);
    // A reply to a nonce that was never current (or superseded): no response, even though it names new resources.
    request(c, TYPE.endpoints, ['svc-alpha', 'svc-nothing'], { version_info: first.version_info, nonce: 'stale-nonce' } as Response);
    await c.nothingFor(400);
    expect((await counter('edge_xds_stale_nonces_total')) - staleBefore).toBe(1);
  });

  it('serves Delta xDS: wildcard, explicit subscriptions, removals and unsubscribe', async () => {
    const c = client(true);
    c.send({ node: envoyNode('delta-node'), type_url: TYPE.clusters });
    const cds = await c.next(TYPE.clusters);
    expect(cds.resources.map((r) => r.name)).toEqual(['svc-alpha']);
    expect(cds.resources[0].version).toMatch(/^[0-9a-f]{16}$/);
    c.send({ type_url: TYPE.clusters, response_nonce: cds.nonce });
    c.send({ type_url: TYPE.endpoints, resource_names_subscribe: ['svc-alpha'] });
    const eds = await c.next(TYPE.endpoints);
    expect(eds.resources.map((r) => r.name)).toEqual(['svc-alpha']);
    c.send({ type_url: TYPE.endpoints, response_nonce: eds.nonce });

    // Only what changed is sent.
    await writeRoute(table, 'delta', { hostnames: ['delta.edge.example.com'], backends: [backend(8004)] });
    const added = await c.next(TYPE.clusters);
    expect(added.resources.map((r) => r.name)).toEqual(['svc-delta']);
    c.send({ type_url: TYPE.clusters, response_nonce: added.nonce });

    // Unsubscribed names get no updates.
    c.send({ type_url: TYPE.endpoints, resource_names_unsubscribe: ['svc-alpha'] });
    await writeRoute(table, 'alpha', { hostnames: ['alpha.edge.example.com'], backends: [backend(9001)] });
    await c.nothingFor(600);

    await writeRoute(table, 'delta', { hostnames: ['delta.edge.example.com'], backends: [backend(8004)] }, true);
    const removed = await c.next(TYPE.clusters);
    expect(removed.removed_resources).toEqual(['svc-delta']);
    expect(removed.resources).toEqual([]);
    c.send({ type_url: TYPE.clusters, response_nonce: removed.nonce });
  });

  it('answers REST discovery, 304 when the version is current, 401/403 without the right token', async () => {
    const node = { id: 'rest-node', cluster: 'edge', user_agent_name: 'envoy', metadata: { auth: TOKEN } };
    const first = await rest('/v3/discovery:clusters', { node, type_url: TYPE.clusters });
    expect(first.status).toBe(200);
    const body = (await first.json()) as { version_info: string; resources: Array<{ '@type': string; name: string }> };
    expect(body.resources.map((r) => r.name)).toEqual(['svc-alpha']);
    expect(body.resources[0]['@type']).toBe(TYPE.clusters);
    expect((await rest('/v3/discovery:clusters', { node, version_info: body.version_info })).status).toBe(304);
    const camel = await rest('/v3/discovery:listeners', { node: { ...node, userAgentName: 'envoy' }, versionInfo: 'old' });
    expect(camel.status).toBe(200);
    expect((await rest('/v3/discovery:clusters', { node: { id: 'x', metadata: {} } })).status).toBe(401);
    expect((await rest('/v3/discovery:clusters', { node: { id: 'x', metadata: { auth: 'wrong' } } })).status).toBe(403);
  });

  it('refuses gRPC streams without the right token', async () => {
    const missing = client();
    request(missing, TYPE.clusters, [], undefined, {}, envoyNode('no-token', {}, null));
    expect((await missing.closed()).code).toBe(grpc.status.UNAUTHENTICATED);
    const wrong = client();
    request(wrong, TYPE.clusters, [], undefined, {}, envoyNode('bad-token', {}, 'not-the-token'));
    expect((await wrong.closed()).code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('serves the persisted last good snapshot after a restart while DynamoDB is unreachable', async () => {
    const before = await rest('/v3/discovery:clusters', { node: { id: 'p', user_agent_name: 'envoy', locality: { region: REGION }, metadata: { auth: TOKEN } } });
    const expected = (await before.json()) as { version_info: string };
    await new Promise((r) => setTimeout(r, 300)); // let the debounced persist land
    await cp.stop();
    cp = await start('http://127.0.0.1:9'); // nothing listens there
    expect((await fetch(`http://127.0.0.1:${cp.restPort}/readyz`)).status).toBe(200);
    const c = client();
    request(c, TYPE.clusters, [], undefined, {}, envoyNode('after-restart'));
    const cds = await c.next(TYPE.clusters);
    expect(cds.version_info).toBe(expected.version_info);
    expect(cds.resources.map((r) => r.name)).toEqual(['svc-alpha']);
    const status = (await (await fetch(`http://127.0.0.1:${cp.restPort}/status`)).json()) as { contextOrigin: string; sources: Array<{ name: string; ok: boolean }> };
    expect(status.contextOrigin).toBe('persisted');
  });
});
