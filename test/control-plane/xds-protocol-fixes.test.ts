/**
 * xDS protocol corner cases of the scale issue (item 5), with a raw ADS client against the
 * runtime: reconnection with an earlier stream's nonce or an already-current version, and
 * partial responses after a NACK.
 */
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { RawAdsClient, Response, TYPE, TestTable, envoyNode, startTable, startTestControlPlane, waitFor, writeRoute } from './support';

const backend = (port: number) => ({ address: '10.0.0.1', port, protocol: 'http' as const });

describe('xDS protocol fixes', () => {
  let table: TestTable;
  let cp: LocalControlPlane;
  const clients: RawAdsClient[] = [];

  const client = (delta = false) => {
    const c = new RawAdsClient(cp.xdsPort, delta);
    clients.push(c);
    return c;
  };

  const request = (c: RawAdsClient, typeUrl: string, names: string[] = [], ack?: Pick<Response, 'version_info' | 'nonce'>, extra: Record<string, unknown> = {}, node?: Record<string, unknown>) =>
    c.send({ type_url: typeUrl, resource_names: names, version_info: ack?.version_info ?? '', response_nonce: ack?.nonce ?? '', ...(node ? { node } : {}), ...extra });

  beforeAll(async () => {
    table = await startTable();
    await writeRoute(table, 'alpha', { hostnames: ['alpha.edge.example.com'], backends: [backend(8001)] });
    await writeRoute(table, 'beta', { hostnames: ['beta.edge.example.com'], backends: [backend(8002)] });
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, { routesRefreshMs: 100, settleMs: 300, canary: { fraction: 0 } });
    await waitFor('ready', async () => (await fetch(`http://127.0.0.1:${cp.restPort}/readyz`)).status === 200 || undefined);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cp?.stop();
    await table?.stop();
  });

  it("answers a reconnected stream whose first request carries a nonce from an earlier stream as a fresh request", async () => {
    const first = client();
    request(first, TYPE.clusters, [], undefined, {}, envoyNode('reconnecting-node'));
    const cds = await first.next(TYPE.clusters);
    request(first, TYPE.clusters, [], cds);
    first.close();

    // Envoy resumes on a new stream with the version it holds and the last nonce it saw; the
    // nonce means nothing on the new stream. Here the node says it holds an older version.
    const second = client();
    request(second, TYPE.clusters, [], { version_info: 'an-older-version', nonce: cds.nonce }, {}, envoyNode('reconnecting-node'));
    const again = await second.next(TYPE.clusters);
    expect(again.resources.map((r) => r.name)).toEqual(['svc-alpha', 'svc-beta']);
    expect(again.version_info).toBe(cds.version_info);
  });

  it('does not resend a type to a new stream that already holds its current version (SotW)', async () => {
    const first = client();
    request(first, TYPE.clusters, [], undefined, {}, envoyNode('current-node'));
    const cds = await first.next(TYPE.clusters);
    request(first, TYPE.clusters, [], cds);
    request(first, TYPE.endpoints, ['svc-alpha', 'svc-beta']);
    const eds = await first.next(TYPE.endpoints);
    request(first, TYPE.endpoints, ['svc-alpha', 'svc-beta'], eds);
    first.close();

    // xDS protocol: the server sends "any resources that the client has subscribed to that
    // have changed since the last resource type instance version that the client indicated"
    // and "should only send updates ... when the resources ... have changed".
    const second = client();
    request(second, TYPE.clusters, [], { version_info: cds.version_info, nonce: '' }, {}, envoyNode('current-node'));
    request(second, TYPE.endpoints, ['svc-alpha', 'svc-beta'], { version_info: eds.version_info, nonce: '' });
    await second.nothingFor(500);

    // The node counts as current, and a later change (beta's endpoints) reaches it as a partial response.
    await writeRoute(table, 'beta', { hostnames: ['beta.edge.example.com'], backends: [backend(9002)] });
    const changedEds = await second.next(TYPE.endpoints);
    expect(changedEds.resources.map((r) => r.name)).toEqual(['svc-beta']);
    const ports = JSON.stringify(changedEds.resources[0].value);
    expect(ports).toContain('9002');
    request(second, TYPE.endpoints, ['svc-alpha', 'svc-beta'], changedEds);
  });

  it('computes the partial response after a NACK from what the node acknowledged, not from what it was sent', async () => {
    const c = client();
    request(c, TYPE.endpoints, ['svc-alpha', 'svc-beta'], undefined, {}, envoyNode('nacking-node'));
    const eds = await c.next(TYPE.endpoints);
    expect(eds.resources.map((r) => r.name).sort()).toEqual(['svc-alpha', 'svc-beta']);
    // The node rejects its first response: it holds no endpoints at all.
    request(c, TYPE.endpoints, ['svc-alpha', 'svc-beta'], { version_info: '', nonce: eds.nonce }, { error_detail: { code: 3, message: 'endpoints: rejected by the node' } });
    await c.nothingFor(300);

    // A change to alpha: a partial response computed from what was sent would carry alpha
    // only, and the node would ACK a version while never holding beta.
    await writeRoute(table, 'alpha', { hostnames: ['alpha.edge.example.com'], backends: [backend(9001)] });
    const next = await c.next(TYPE.endpoints);
    expect(next.resources.map((r) => r.name).sort()).toEqual(['svc-alpha', 'svc-beta']);
    request(c, TYPE.endpoints, ['svc-alpha', 'svc-beta'], next);
  });

  it('sends every stream of a profile the same encoded response body', async () => {
    const a = client();
    const b = client();
    // a has had another response before; b asks for the endpoints straight away.
    request(a, TYPE.clusters, [], undefined, {}, envoyNode('shared-a'));
    request(a, TYPE.clusters, [], await a.next(TYPE.clusters));
    request(a, TYPE.endpoints, ['svc-alpha', 'svc-beta']);
    request(b, TYPE.endpoints, ['svc-alpha', 'svc-beta'], undefined, {}, envoyNode('shared-b'));
    const [ra, rb] = await Promise.all([a.next(TYPE.endpoints), b.next(TYPE.endpoints)]);
    expect(ra.version_info).toBe(rb.version_info);
    // The nonce is part of the shared body: the same response is the same bytes for every stream.
    expect(ra.nonce).toBe(rb.nonce);
  });

  it('sends Delta streams in the same state one shared response for a change, and a reconnected Delta node only what it lacks', async () => {
    const a = client(true);
    const b = client(true);
    for (const [c, id] of [[a, 'delta-a'], [b, 'delta-b']] as const) {
      c.send({ node: envoyNode(id), type_url: TYPE.clusters });
      const cds = await c.next(TYPE.clusters);
      c.send({ type_url: TYPE.clusters, response_nonce: cds.nonce });
    }
    await writeRoute(table, 'gamma', { hostnames: ['gamma.edge.example.com'], backends: [backend(8003)] });
    const [ra, rb] = await Promise.all([a.next(TYPE.clusters), b.next(TYPE.clusters)]);
    expect(ra.resources.map((r) => r.name)).toEqual(['svc-gamma']);
    expect(rb.nonce).toBe(ra.nonce);
    a.send({ type_url: TYPE.clusters, response_nonce: ra.nonce });

    // Reconnecting, the node says what it holds: only what differs is sent.
    const held = Object.fromEntries([...(await (async () => {
      const again = client(true);
      again.send({ node: envoyNode('delta-a'), type_url: TYPE.clusters });
      const full = await again.next(TYPE.clusters);
      again.close();
      return full.resources.map((r) => [r.name, r.version!] as const);
    })())]);
    delete held['svc-gamma'];
    const resumed = client(true);
    resumed.send({ node: envoyNode('delta-a'), type_url: TYPE.clusters, initial_resource_versions: held });
    const rest = await resumed.next(TYPE.clusters);
    expect(rest.resources.map((r) => r.name)).toEqual(['svc-gamma']);
  });
});
