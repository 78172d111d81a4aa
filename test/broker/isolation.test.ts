/**
 * Issue 13 through the broker: a provision or an update whose targets the edge may not
 * reach, or whose parameters Envoy would refuse, is a 400 naming the field and the rule,
 * and nothing is written (no instance, no operation, no claim, no message). Locally,
 * loopback backends are allowed (the samples listen there) and nothing else is.
 */
import { DOMAIN, LocalBroker, OsbCall, SERVICE_ID, brokerFixture, osbClient, provisionBody, waitForOperation } from './support';
import { scanTable } from '../faults/support/harness';

const fixture = brokerFixture('edge-isolation');
const ASYNC = '?accepts_incomplete=true';
const put = (call: OsbCall, id: string, body: unknown) => call('PUT', `/v2/service_instances/${id}${ASYNC}`, { body });
const patch = (call: OsbCall, id: string, parameters: unknown) => call('PATCH', `/v2/service_instances/${id}${ASYNC}`, { body: { service_id: SERVICE_ID, parameters } });
const backend = (address: string, extra: Record<string, unknown> = {}) => ({ backends: [{ address, port: 443, protocol: 'https', ...extra }] });
const authz = (address: string) => ({ auth: { ext_authz: { address, port: 9001, protocol: 'grpc' } } });

let broker: LocalBroker;
let call: OsbCall;
let strict: LocalBroker;
let callStrict: OsbCall;

beforeAll(async () => {
  // As the local platform starts it: loopback backends allowed, the fleet CIDRs of its regions.
  broker = await fixture.start({ regions: ['us-east-1', 'eu-west-1'] });
  call = osbClient(broker.url);
  // As in AWS: no loopback, explicit fleet CIDRs.
  strict = await fixture.start({ regions: ['us-east-1'], allowLoopbackBackends: false, fleetCidrs: ['10.1.0.0/16', '10.7.0.0/16'] });
  callStrict = osbClient(strict.url);
});

async function expectRefusedAndNothingWritten(target: LocalBroker, client: OsbCall, id: string, body: unknown, fragment: string | RegExp) {
  const before = await scanTable(fixture.emulators.dynamodbEndpoint, target.settings.tableName);
  const reply = await put(client, id, body);
  expect({ status: reply.status, error: reply.body?.error }).toEqual({ status: 400, error: 'BadRequest' });
  if (typeof fragment === 'string') expect(reply.body.description).toContain(fragment);
  else expect(reply.body.description).toMatch(fragment);
  expect(await scanTable(fixture.emulators.dynamodbEndpoint, target.settings.tableName)).toEqual(before);
  expect((await client('GET', `/v2/service_instances/${id}/last_operation`)).status).toBe(404);
}

describe('item 1: targets the edge may not reach', () => {
  test.each([
    ["Envoy's admin interface", '127.0.0.1', 'backends[0].address: "127.0.0.1" is a loopback address', 'loopback'],
    ['the metadata service', '169.254.169.254', 'backends[0].address: "169.254.169.254" is a link-local address', 'link-local'],
    ['the metadata service as a decimal', '2852039166', 'is 169.254.169.254 in another spelling', 'link-local'],
    ['the metadata service, IPv4-mapped', '::ffff:169.254.169.254', 'IPv4-mapped form', 'link-local'],
    ["the metadata service's IPv6 address", 'fd00:ec2::254', "instance's AWS services", 'aws-instance-service'],
    ['loopback in octal', '0177.0.0.1', 'in another spelling', 'loopback'],
    ['localhost', 'LocalHost', 'loopback name', 'loopback'],
    ['a name under localhost', 'admin.localhost', 'loopback name', 'loopback'],
    ['the unspecified address', '0.0.0.0', 'unspecified address', 'unspecified'],
    ['the fleet network', '10.7.0.5', 'in the fleet network 10.7.0.0/16', 'fleet-network'],
    ['a control plane', 'xds.us-east-1.internal.edge.example.com', "control planes' private endpoints", 'platform-name'],
    ["the platform's region name", 'us-east-1.edge.example.com', 'platform name', 'platform-name'],
    ['the platform domain', DOMAIN, 'request loop', 'platform-name'],
    ['an EC2 host name', 'ip-10-1-0-5.us-east-1.compute.internal', 'EC2 private name', 'host-name'],
    ['a single-label name', 'instance-data', 'single-label name', 'single-label'],
    ['a multicast group', '224.0.0.251', 'multicast', 'multicast'],
  ])('a backend at %s (%s): 400, nothing written', async (_what, address, fragment, rule) => {
    const body = provisionBody(['t1.edge.example.com'], backend(address));
    await expectRefusedAndNothingWritten(strict, callStrict, 'iso-backend', body, fragment);
    expect((await put(callStrict, 'iso-backend', body)).body.description).toContain(`(rule: ${rule})`);
  });

  test('spellings the schema already refuses (zone ids, brackets, trailing dots): 400, nothing written', async () => {
    for (const address of ['fe80::1%eth0', '[::1]', 'localhost.', 'metadata.google.internal.']) {
      await expectRefusedAndNothingWritten(strict, callStrict, 'iso-schema', provisionBody(['t9.edge.example.com'], backend(address)), 'backends[0].address: must be a DNS name or an IP address');
    }
  });

  test('an ext_authz target follows the same rule, loopback included even locally', async () => {
    await expectRefusedAndNothingWritten(broker, call, 'iso-authz', provisionBody(['t2.edge.example.com'], authz('127.0.0.1')), 'auth.ext_authz.address: "127.0.0.1" is a loopback address');
    await expectRefusedAndNothingWritten(broker, call, 'iso-authz', provisionBody(['t2.edge.example.com'], authz('169.254.169.254')), 'auth.ext_authz.address');
    await expectRefusedAndNothingWritten(strict, callStrict, 'iso-authz', provisionBody(['t2.edge.example.com'], authz('xds.us-east-1.internal.edge.example.com')), 'auth.ext_authz.address');
  });

  test('every offending field is named in one answer', async () => {
    const body = provisionBody(['t3.edge.example.com'], {
      backends: [
        { address: '10.0.0.10', port: 80, protocol: 'http' },
        { address: '169.254.170.2', port: 80, protocol: 'http' },
      ],
      ...authz('localhost'),
    });
    const reply = await put(callStrict, 'iso-many', body);
    expect(reply.status).toBe(400);
    expect(reply.body.description).toMatch(/^parameters: invalid: backends\[1\]\.address: .*; auth\.ext_authz\.address: /);
  });

  test('locally a loopback backend is allowed and served; the fleet network of its regions is not', async () => {
    const ok = await put(call, 'iso-local', provisionBody(['t4.edge.example.com'], { backends: [{ address: '127.0.0.1', port: 9000, protocol: 'http' }] }));
    expect(ok.status).toBe(202);
    expect(await waitForOperation(call, 'iso-local', ok.body.operation)).toMatchObject({ body: { state: 'succeeded' } });
    // us-east-1's default CIDR (the platform config's) is 10.1.0.0/16.
    await expectRefusedAndNothingWritten(broker, call, 'iso-local-fleet', provisionBody(['t5.edge.example.com'], backend('10.1.2.3')), 'in the fleet network 10.1.0.0/16');
    expect(broker.settings.fleetCidrs).toContain('10.1.0.0/16');
  });

  test('an update that adds a forbidden target: 400, the instance keeps its parameters, no operation', async () => {
    const id = 'iso-update';
    const body = provisionBody(['t6.edge.example.com']);
    const created = await put(callStrict, id, body);
    expect(await waitForOperation(callStrict, id, created.body.operation)).toMatchObject({ body: { state: 'succeeded' } });
    const before = await scanTable(fixture.emulators.dynamodbEndpoint, strict.settings.tableName);
    const reply = await patch(callStrict, id, backend('127.0.0.1'));
    expect(reply.status).toBe(400);
    expect(reply.body.description).toContain('backends[0].address: "127.0.0.1" is a loopback address');
    const authzReply = await patch(callStrict, id, authz('2130706433'));
    expect(authzReply.body.description).toContain('auth.ext_authz.address: "2130706433" is 127.0.0.1 in another spelling');
    expect(await scanTable(fixture.emulators.dynamodbEndpoint, strict.settings.tableName)).toEqual(before);
    expect((await callStrict('GET', `/v2/service_instances/${id}`)).body.parameters).toEqual(body.parameters);
  });
});

describe('the worker checks again before it writes the route', () => {
  test('an operation accepted under a looser rule fails at its validate step, naming the field and the rule', async () => {
    // Accepted locally with loopback backends allowed, by an api whose worker is off ...
    const accepting = await fixture.start({ regions: ['us-east-1'], worker: { enabled: false } });
    const id = 'iso-worker';
    const accepted = await put(osbClient(accepting.url), id, provisionBody(['t10.edge.example.com'], { backends: [{ address: '127.0.0.1', port: 9000, protocol: 'http' }] }));
    expect(accepted.status).toBe(202);
    await accepting.stop();
    // ... then run by a worker of a platform restarted with EDGE_ALLOW_LOOPBACK_BACKENDS=false
    // (a start re-enqueues every operation in progress).
    const running = await fixture.start({ tableName: accepting.settings.tableName, regions: ['us-east-1'], allowLoopbackBackends: false });
    const done = await waitForOperation(osbClient(running.url), id, accepted.body.operation);
    expect(done.body.state).toBe('failed');
    expect(done.body.description).toContain('backends[0].address: "127.0.0.1" is a loopback address');
    expect(await running.store.getRoute(id)).toBeUndefined();
  });
});

describe("item 6: what Envoy would refuse is refused before it is written", () => {
  test.each([
    ['a pseudo-header added', { routes: [{ match: { prefix: '/' }, request_headers_to_add: { ':authority': 'other.example.org' } }] }, 'routes[0].request_headers_to_add[":authority"]: :authority is a pseudo-header'],
    ['host removed', { routes: [{ match: { prefix: '/' }, request_headers_to_remove: ['host'] }] }, 'routes[0].request_headers_to_remove[0]: host: Envoy refuses'],
    ['a substitution command in a value', { routes: [{ match: { prefix: '/' }, response_headers_to_add: { 'x-leak': '%ENVIRONMENT(AWS_SECRET_ACCESS_KEY)%' } }] }, "routes[0].response_headers_to_add.x-leak: must not contain '%'"],
    ['CR LF in a value', { routes: [{ match: { prefix: '/' }, request_headers_to_add: { 'x-a': 'a\r\nx-b: c' } }] }, 'must not contain NUL, CR or LF'],
    ['a regex RE2 refuses', { routes: [{ match: { safe_regex: '(?=x)' } }] }, 'routes[0].match.safe_regex: is not a valid RE2 regular expression: invalid perl operator: (?='],
    [
      'a regex over the program size',
      { routes: [{ match: { safe_regex: '^/user/(488/sms|h5/getJwt|captcha|version/getAIDrawTemplate|version/isMainLand|version/promotionTemplate|version/activityTemplate2).*' } }] },
      "routes[0].match.safe_regex: is too complex: its estimated RE2 program size is 106, over Envoy's default limit of 100",
    ],
    ['an allow list entry that is no address', { ip_allow_list: ['999.1.1.1/8'] }, 'ip_allow_list[0]: 999.1.1.1 is not an IP address'],
  ])('%s: 400 naming the field and the rule, nothing written', async (_what, parameters, fragment) => {
    await expectRefusedAndNothingWritten(broker, call, 'iso-envoy', provisionBody(['t7.edge.example.com'], parameters), fragment);
  });
});

describe('item 2: the upstream TLS opt-out is explicit and shows in the instance', () => {
  test('a backend with tls.verify: false is reported by GET in metadata.attributes; others are not', async () => {
    const id = 'iso-tls';
    const body = provisionBody(['t8.edge.example.com'], {
      backends: [
        { address: 'api.example.org', port: 443, protocol: 'https' },
        { address: 'legacy.example.org', port: 8443, protocol: 'https', tls: { verify: false } },
      ],
    });
    const created = await put(call, id, body);
    expect(await waitForOperation(call, id, created.body.operation)).toMatchObject({ body: { state: 'succeeded' } });
    const fetched = await call('GET', `/v2/service_instances/${id}`);
    expect(fetched.body.metadata).toEqual({ labels: { plan: 'standard' }, attributes: { 'edge.tls.unverified_backends': 'backends[1] (legacy.example.org:8443)' } });
    expect(fetched.body.parameters.backends[1].tls).toEqual({ verify: false });
    expect((await broker.store.getRoute(id))?.spec.backends[1].tls).toEqual({ verify: false });

    const verified = await patch(call, id, { backends: [{ address: 'api.example.org', port: 443, protocol: 'https' }] });
    expect(await waitForOperation(call, id, verified.body.operation)).toMatchObject({ body: { state: 'succeeded' } });
    expect((await call('GET', `/v2/service_instances/${id}`)).body.metadata).toEqual({ labels: { plan: 'standard' } });
  });
});
