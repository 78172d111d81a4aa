/**
 * OSB v2.17 conformance, over HTTP against the local broker (the Lambda handlers behind
 * a loopback server, dynalite + fauxqs). Error cases first, then the whole lifecycle.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../lib/model';
import { MAINTENANCE_INFO } from '../../lib/broker/runtime/catalog';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import {
  CDN,
  DOMAIN,
  LocalBroker,
  LocalEmulators,
  OsbCall,
  SERVICE_ID,
  STANDARD,
  osbClient,
  proveControl,
  provisionBody,
  startEmulators,
  startTestBroker,
  waitForOperation,
} from './support';

let emulators: LocalEmulators;
let live: LocalBroker;
/** Same handlers, no worker: operations stay in progress, for the in-progress rules. */
let paused: LocalBroker;
let call: OsbCall;
let callPaused: OsbCall;

const ASYNC = '?accepts_incomplete=true';
const instancePath = (id: string) => `/v2/service_instances/${id}`;
const deleteQuery = (plan = STANDARD) => `?accepts_incomplete=true&service_id=${SERVICE_ID}&plan_id=${plan}`;

beforeAll(async () => {
  emulators = await startEmulators();
  live = await startTestBroker(emulators);
  paused = await startTestBroker(emulators, { tableName: 'edge-broker-paused', worker: { enabled: false } });
  call = osbClient(live.url);
  callPaused = osbClient(paused.url);
});

afterAll(async () => {
  await live?.stop();
  await paused?.stop();
  await emulators?.stop();
});

function expectOsbError(reply: { status: number; body: { description?: unknown; error?: unknown }; text: string }, status: number, description?: RegExp, error?: string) {
  expect({ status: reply.status, text: reply.text }).toEqual({ status, text: expect.any(String) });
  expect(typeof reply.body.description).toBe('string');
  expect(reply.text).not.toMatch(/\bat .*\.ts:\d+/); // never a stack trace
  if (description) expect(reply.body.description).toMatch(description);
  if (error) expect(reply.body.error).toBe(error);
}

describe('authentication and headers', () => {
  test('no credentials or wrong credentials: 401 with a JSON body', async () => {
    expectOsbError(await call('GET', '/v2/catalog', { auth: null }), 401, /Basic authentication/, 'Unauthorized');
    const wrong = `Basic ${Buffer.from('broker:nope').toString('base64')}`;
    expectOsbError(await call('GET', '/v2/catalog', { auth: wrong }), 401);
    expectOsbError(await call('GET', '/v2/catalog', { auth: 'Bearer abc' }), 401);
  });

  test.each([
    ['missing', undefined],
    ['empty', ''],
    ['below 2.13', '2.12'],
    ['another major', '3.0'],
    ['not a version', 'latest'],
  ])('X-Broker-API-Version %s: 412', async (_what, version) => {
    expectOsbError(await call('GET', '/v2/catalog', { headers: { 'x-broker-api-version': version } }), 412, /X-Broker-API-Version/);
    expectOsbError(
      await call('PUT', `${instancePath('v-check')}${ASYNC}`, { headers: { 'x-broker-api-version': version }, body: provisionBody(['v.edge.example.com']) }),
      412,
    );
  });

  test('2.13 and 2.17 are accepted; the request identity is echoed', async () => {
    expect((await call('GET', '/v2/catalog', { headers: { 'x-broker-api-version': '2.13' } })).status).toBe(200);
    const reply = await call('GET', '/v2/catalog', { headers: { 'x-broker-api-request-identity': 'req-42' } });
    expect(reply.headers.get('x-broker-api-request-identity')).toBe('req-42');
    const error = await call('GET', '/v2/catalog', { headers: { 'x-broker-api-request-identity': 'req-43', 'x-broker-api-version': undefined } });
    expect(error.headers.get('x-broker-api-request-identity')).toBe('req-43');
  });

  test('malformed Originating-Identity: 400', async () => {
    const reply = await call('PUT', `${instancePath('oi-bad')}${ASYNC}`, {
      headers: { 'x-broker-api-originating-identity': 'cloudfoundry not-base64-json!' },
      body: provisionBody(['oi.edge.example.com']),
    });
    expectOsbError(reply, 400, /X-Broker-API-Originating-Identity/);
  });

  test('unknown endpoint 404 and wrong method 405, as JSON', async () => {
    expectOsbError(await call('GET', '/v2/nothing'), 404, /no such endpoint/);
    expectOsbError(await call('POST', '/v2/catalog', { body: {} }), 405, /not allowed/);
  });
});

describe('catalog', () => {
  test('one bindable, retrievable, plan-updateable service with standard and cdn plans and JSON schemas', async () => {
    const reply = await call('GET', '/v2/catalog');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/application\/json/);
    const [service] = reply.body.services;
    expect(reply.body.services).toHaveLength(1);
    expect(service).toMatchObject({
      id: SERVICE_ID,
      name: 'edge-load-balancer',
      bindable: true,
      instances_retrievable: true,
      bindings_retrievable: true,
      plan_updateable: true,
    });
    expect(service.plans.map((p: { name: string }) => p.name)).toEqual(['standard', 'cdn']);
    for (const plan of service.plans) {
      expect(plan.maintenance_info).toEqual(MAINTENANCE_INFO);
      const create = plan.schemas.service_instance.create.parameters;
      const update = plan.schemas.service_instance.update.parameters;
      expect(create.$schema).toBe('http://json-schema.org/draft-07/schema#');
      expect(update.$schema).toBe('http://json-schema.org/draft-07/schema#');
      expect(create.required).toEqual(['hostnames', 'backends']);
      expect(create.properties.backends.items.properties.protocol.enum).toEqual(['http', 'https', 'h2', 'grpc']);
      expect(create.properties.regions.items.enum).toEqual(live.settings.regions);
    }
  });
});

describe('provision: bad requests change nothing', () => {
  const id = 'bad-provision';
  const put = (body: unknown, query = ASYNC) => call('PUT', `${instancePath(id)}${query}`, { body });

  test('without accepts_incomplete=true: 422 AsyncRequired', async () => {
    expectOsbError(await put(provisionBody(['a.edge.example.com']), ''), 422, /asynchronous/, 'AsyncRequired');
    expectOsbError(await put(provisionBody(['a.edge.example.com']), '?accepts_incomplete=false'), 422, undefined, 'AsyncRequired');
  });

  test('malformed JSON, not an object, empty body: 400', async () => {
    expectOsbError(await call('PUT', `${instancePath(id)}${ASYNC}`, { rawBody: '{"service_id": ' }), 400, /malformed JSON/);
    expectOsbError(await call('PUT', `${instancePath(id)}${ASYNC}`, { rawBody: '[1,2]' }), 400, /must be a JSON object/);
    expectOsbError(await call('PUT', `${instancePath(id)}${ASYNC}`, { rawBody: '' }), 400, /JSON object is required/);
  });

  test.each([
    ['service_id missing', { service_id: undefined }, /^service_id: is required/],
    ['service_id unknown', { service_id: 'nope' }, /^service_id: unknown service/],
    ['service_id not a string', { service_id: 7 }, /^service_id: must be a non-empty string/],
    ['plan_id missing', { plan_id: undefined }, /^plan_id: is required/],
    ['plan_id unknown', { plan_id: 'gold' }, /^plan_id: unknown plan/],
    ['organization_guid missing', { organization_guid: undefined }, /^organization_guid: is required/],
    ['space_guid missing', { space_guid: undefined }, /^space_guid: is required/],
    ['parameters not an object', { parameters: [1] }, /^parameters: must be an object/],
    ['no parameters', { parameters: undefined }, /hostnames: is required.*backends: is required/],
  ])('%s: 400 naming the field', async (_what, change, description) => {
    expectOsbError(await put({ ...provisionBody(['a.edge.example.com']), ...change }), 400, description);
  });

  test.each([
    ['a port of 70000', { backends: [{ address: '10.0.0.1', port: 70000, protocol: 'http' }] }, 'backends[0].port: must be <= 65535'],
    ['an unknown protocol', { backends: [{ address: '10.0.0.1', port: 80, protocol: 'ftp' }] }, 'backends[0].protocol: must be one of http, https, h2, grpc'],
    ['a bad hostname', { hostnames: ['Not A Host'] }, 'hostnames[0]: "Not A Host" contains a space or a control character'],
    ['an unknown region', { regions: ['mars-1'] }, 'regions[0]: must be one of'],
    ['an unknown parameter', { colour: 'blue' }, 'colour: is not a known parameter'],
    ['a reserved name', { hostnames: [DOMAIN] }, `hostnames[0]: ${DOMAIN} is reserved`],
    ['a region name', { hostnames: [`eu-west-1.${DOMAIN}`] }, 'is reserved for the platform'],
    ['a control plane endpoint', { hostnames: ['ok.edge.example.com', `xds.eu-west-1.internal.${DOMAIN}`] }, `hostnames[1]: xds.eu-west-1.internal.${DOMAIN} is reserved`],
    ['the internal zone', { hostnames: [`internal.${DOMAIN}`] }, `hostnames[0]: internal.${DOMAIN} is reserved`],
    ['a wildcard over the internal zone', { hostnames: [`*.internal.${DOMAIN}`] }, 'hostnames[0]: *.internal.edge.example.com is reserved'],
  ])('parameters with %s: 400 naming the field and the rule', async (_what, parameters, fragment) => {
    const body = provisionBody(['a.edge.example.com']);
    const reply = await put({ ...body, parameters: { ...body.parameters, ...parameters } });
    expectOsbError(reply, 400);
    expect(reply.body.description).toContain(fragment);
  });

  test('cdn plan with a name outside the platform domain: 400', async () => {
    const reply = await put(provisionBody(['shop.example.org'], {}, CDN));
    expectOsbError(reply, 400, /hostnames\[0\]: must be under edge\.example\.com on the cdn plan/);
  });

  test('maintenance_info that does not match the catalog: 422 MaintenanceInfoConflict', async () => {
    expectOsbError(await put({ ...provisionBody(['a.edge.example.com']), maintenance_info: { version: '0.9.0' } }), 422, /maintenance_info/, 'MaintenanceInfoConflict');
  });

  test('a body over the limit: 413', async () => {
    const reply = await call('PUT', `${instancePath(id)}${ASYNC}`, { rawBody: JSON.stringify({ pad: 'x'.repeat(70 * 1024) }) });
    expectOsbError(reply, 413, /larger than/);
  });

  test('an id with unsafe characters: 400', async () => {
    expectOsbError(await call('PUT', `/v2/service_instances/${encodeURIComponent('a b#c')}${ASYNC}`, { body: provisionBody(['a.edge.example.com']) }), 400, /instance_id/);
  });

  test('after all of these, nothing exists', async () => {
    expectOsbError(await call('GET', instancePath(id)), 404);
    expectOsbError(await call('GET', `${instancePath(id)}/last_operation`), 404);
    expect(await live.store.hostnameOwner('a.edge.example.com')).toBeUndefined();
  });
});

describe('while an operation is in progress (no worker)', () => {
  const id = 'in-progress';
  const body = provisionBody(['slow.edge.example.com']);
  let operation: string;

  test('PUT: 202 with an operation; identical PUT: 202 with the same operation', async () => {
    const identity = Buffer.from(JSON.stringify({ user_id: 'alice' })).toString('base64');
    const first = await callPaused('PUT', `${instancePath(id)}${ASYNC}`, { body, headers: { 'x-broker-api-originating-identity': `cloudfoundry ${identity}` } });
    expect(first.status).toBe(202);
    operation = first.body.operation;
    expect(operation).toMatch(/^op-/);
    const again = await callPaused('PUT', `${instancePath(id)}${ASYNC}`, { body });
    expect(again).toMatchObject({ status: 202, body: { operation } });
    const recorded = await paused.store.getOperation(id, operation);
    expect(recorded?.originatingIdentity).toEqual({ platform: 'cloudfoundry', value: { user_id: 'alice' } });
  });

  test('same id with other attributes: 409', async () => {
    expectOsbError(await callPaused('PUT', `${instancePath(id)}${ASYNC}`, { body: { ...body, space_guid: 'other' } }), 409, /space_guid/);
    expectOsbError(await callPaused('PUT', `${instancePath(id)}${ASYNC}`, { body: { ...body, plan_id: CDN } }), 409, /plan_id/);
  });

  test('last_operation: in progress, a readable description and Retry-After', async () => {
    const reply = await callPaused('GET', `${instancePath(id)}/last_operation?operation=${operation}`);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ state: 'in progress', description: 'provision: queued' });
    expect(reply.headers.get('retry-after')).toBe('1');
  });

  test('GET instance: 404 while provisioning', async () => {
    expectOsbError(await callPaused('GET', instancePath(id)), 404, /still being provisioned/);
  });

  test('PATCH and bind: 422 ConcurrencyError / not yet', async () => {
    expectOsbError(await callPaused('PATCH', `${instancePath(id)}${ASYNC}`, { body: { service_id: SERVICE_ID, parameters: { access_log: { enabled: true } } } }), 422, /in progress/, 'ConcurrencyError');
    expectOsbError(await callPaused('PUT', `${instancePath(id)}/service_bindings/b1`, { body: { service_id: SERVICE_ID, plan_id: STANDARD } }), 422, /being provisioned/, 'ConcurrencyError');
  });

  test('DELETE during provisioning: 202 with a new operation; the provision is cancelled; a repeated DELETE answers the same operation', async () => {
    const reply = await callPaused('DELETE', `${instancePath(id)}${deleteQuery()}`);
    expect(reply.status).toBe(202);
    expect(reply.body.operation).not.toBe(operation);
    const cancelled = await callPaused('GET', `${instancePath(id)}/last_operation?operation=${operation}`);
    expect(cancelled.body).toMatchObject({ state: 'failed', description: expect.stringMatching(/cancelled/) });
    const again = await callPaused('DELETE', `${instancePath(id)}${deleteQuery()}`);
    expect(again).toMatchObject({ status: 202, body: { operation: reply.body.operation } });
    const put = await callPaused('PUT', `${instancePath(id)}${ASYNC}`, { body });
    expectOsbError(put, 422, /being deprovisioned/, 'ConcurrencyError');
  });
});

describe('lifecycle', () => {
  const id = 'life-1';
  const hostnames = ['shop.edge.example.com', 'api.shop.example.org'];
  const body = provisionBody(hostnames, { health_check: { path: '/healthz' } });

  async function provisioned(instanceId: string, b: unknown): Promise<void> {
    const put = await call('PUT', `${instancePath(instanceId)}${ASYNC}`, { body: b });
    expect(put.status).toBe(202);
    expect(await waitForOperation(call, instanceId, put.body.operation)).toMatchObject({ status: 200, body: { state: 'succeeded' } });
  }

  test('provision: 202, then succeeded with a description; the route, claims and DNS exist', async () => {
    const put = await call('PUT', `${instancePath(id)}${ASYNC}`, { body });
    expect(put.status).toBe(202);
    await proveControl(live, id, ['api.shop.example.org']);
    const done = await waitForOperation(call, id, put.body.operation);
    expect(done.body).toEqual({ state: 'succeeded', description: expect.stringContaining('provisioned: shop.edge.example.com, api.shop.example.org') });
    expect(done.headers.get('retry-after')).toBeNull();

    const route = await live.store.getRoute(id);
    expect(route).toMatchObject({ instanceId: id, plan: 'standard', deleted: false, spec: { hostnames, regions: live.settings.regions } });
    expect(route!.generation).toBeGreaterThan(0);
    expect(await live.store.hostnameOwner('shop.edge.example.com')).toBe(id);
    expect(await live.store.hostnameOwner('api.shop.example.org')).toBe(id);
    const cloud = live.cloud as LocalCloud;
    // Only names under the platform domain get records; the team points the others itself.
    expect(cloud.records.get('shop.edge.example.com')).toEqual({ name: 'shop.edge.example.com', type: 'CNAME', value: DOMAIN });
    expect(cloud.records.has('api.shop.example.org')).toBe(false);
  });

  test('identical PUT after success: 200; other attributes: 409', async () => {
    expect(await call('PUT', `${instancePath(id)}${ASYNC}`, { body })).toMatchObject({ status: 200, body: {} });
    expectOsbError(await call('PUT', `${instancePath(id)}${ASYNC}`, { body: { ...body, parameters: { ...body.parameters, regions: ['eu-west-1'] } } }), 409, /parameters/);
  });

  test('another instance may not take a claimed hostname: 409 naming it', async () => {
    const reply = await call('PUT', `${instancePath('life-thief')}${ASYNC}`, { body: provisionBody(['other.edge.example.com', 'shop.edge.example.com']) });
    expectOsbError(reply, 409, /hostnames\[1\]: shop\.edge\.example\.com is already served by another instance/);
    expectOsbError(await call('GET', `${instancePath('life-thief')}/last_operation`), 404);
  });

  test('GET instance: service_id, plan_id, parameters, maintenance_info', async () => {
    const reply = await call('GET', instancePath(id));
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ service_id: SERVICE_ID, plan_id: STANDARD, parameters: body.parameters, maintenance_info: { version: MAINTENANCE_INFO.version } });
  });

  test('PATCH errors: 422 without accepts_incomplete, 400 for bad input, 422 for maintenance_info; nothing changes', async () => {
    const patch = (b: unknown, query = ASYNC) => call('PATCH', `${instancePath(id)}${query}`, { body: b });
    expectOsbError(await patch({ service_id: SERVICE_ID, parameters: {} }, ''), 422, undefined, 'AsyncRequired');
    expectOsbError(await patch({ parameters: {} }), 400, /^service_id: is required/);
    expectOsbError(await patch({ service_id: SERVICE_ID, plan_id: 'gold' }), 400, /^plan_id: unknown plan/);
    expectOsbError(await patch({ service_id: SERVICE_ID, parameters: { backends: [{ address: '10.0.0.1', port: 70000, protocol: 'http' }] } }), 400, /backends\[0\]\.port: must be <= 65535/);
    expectOsbError(await patch({ service_id: SERVICE_ID, parameters: { hostnames: null } }), 400, /hostnames: is required/);
    expectOsbError(await patch({ service_id: SERVICE_ID, maintenance_info: { version: '2.0.0' } }), 422, undefined, 'MaintenanceInfoConflict');
    expectOsbError(await call('PATCH', `${instancePath('nobody')}${ASYNC}`, { body: { service_id: SERVICE_ID } }), 404);
    expect((await call('GET', instancePath(id))).body.parameters).toEqual(body.parameters);
  });

  test('PATCH with nothing new: 200', async () => {
    expect(await call('PATCH', `${instancePath(id)}${ASYNC}`, { body: { service_id: SERVICE_ID, parameters: { health_check: { path: '/healthz' } } } })).toMatchObject({ status: 200 });
  });

  test('PATCH parameters: 202, succeeded; given parameters replace, the others stay', async () => {
    const reply = await call('PATCH', `${instancePath(id)}${ASYNC}`, {
      body: { service_id: SERVICE_ID, parameters: { hostnames: ['shop.edge.example.com', 'www-shop.edge.example.com'], rate_limit: { requests_per_unit: 100, unit: 'second' } } },
    });
    expect(reply.status).toBe(202);
    expect(await waitForOperation(call, id, reply.body.operation)).toMatchObject({ body: { state: 'succeeded', description: expect.stringMatching(/^updated:/) } });
    const fetched = await call('GET', instancePath(id));
    expect(fetched.body.parameters).toEqual({ ...body.parameters, hostnames: ['shop.edge.example.com', 'www-shop.edge.example.com'], rate_limit: { requests_per_unit: 100, unit: 'second' } });
    // the dropped name is released and may be provisioned by another instance
    expect(await live.store.hostnameOwner('api.shop.example.org')).toBeUndefined();
    expect((live.cloud as LocalCloud).records.has('www-shop.edge.example.com')).toBe(true);
    expect((await live.store.getRoute(id))!.spec.rate_limit).toEqual({ requests_per_unit: 100, unit: 'second' });
  });

  test('plan change standard -> cdn: certificate and distribution, DNS to CloudFront', async () => {
    const reply = await call('PATCH', `${instancePath(id)}${ASYNC}`, { body: { service_id: SERVICE_ID, plan_id: CDN } });
    expect(reply.status).toBe(202);
    expect(await waitForOperation(call, id, reply.body.operation)).toMatchObject({ body: { state: 'succeeded' } });
    const cloud = live.cloud as LocalCloud;
    expect(cloud.distributions.size).toBe(1);
    const [distribution] = [...cloud.distributions.values()];
    expect(cloud.records.get('shop.edge.example.com')?.value).toBe(distribution.domainName);
    expect((await call('GET', instancePath(id))).body.plan_id).toBe(CDN);
  });

  test('cdn hostnames cannot change in place: 422 with the reason', async () => {
    const reply = await call('PATCH', `${instancePath(id)}${ASYNC}`, { body: { service_id: SERVICE_ID, parameters: { hostnames: ['shop.edge.example.com'] } } });
    expectOsbError(reply, 422, /cannot change in place on the cdn plan/);
  });

  test('plan change cdn -> standard: DNS back to the edge, CloudFront resources removed', async () => {
    const reply = await call('PATCH', `${instancePath(id)}${ASYNC}`, { body: { service_id: SERVICE_ID, plan_id: STANDARD } });
    expect(await waitForOperation(call, id, reply.body.operation)).toMatchObject({ body: { state: 'succeeded' } });
    const cloud = live.cloud as LocalCloud;
    expect(cloud.distributions.size).toBe(0);
    expect(cloud.certificates.size).toBe(0);
    expect(cloud.records.get('shop.edge.example.com')?.value).toBe(DOMAIN);
    expect([...cloud.records.keys()].filter((n) => n.startsWith('_'))).toEqual([]);
  });

  test('bindings: errors, 201 with credentials, 200 identical, 409 different, GET, last_operation, unbind, 410', async () => {
    const bindingPath = `${instancePath(id)}/service_bindings/bind-1`;
    expectOsbError(await call('PUT', bindingPath, { body: { plan_id: STANDARD } }), 400, /^service_id: is required/);
    expectOsbError(await call('PUT', bindingPath, { body: { service_id: SERVICE_ID } }), 400, /^plan_id: is required/);
    expectOsbError(await call('PUT', bindingPath, { rawBody: '{' }), 400, /malformed JSON/);
    expectOsbError(await call('PUT', bindingPath, { body: { service_id: SERVICE_ID, plan_id: STANDARD, parameters: { x: 1 } } }), 400, /parameters\.x/);
    expectOsbError(await call('PUT', `${instancePath('nobody')}/service_bindings/bind-1`, { body: { service_id: SERVICE_ID, plan_id: STANDARD } }), 404);
    expectOsbError(await call('GET', bindingPath), 404);

    const bindBody = { service_id: SERVICE_ID, plan_id: STANDARD, app_guid: 'app-1' };
    const created = await call('PUT', bindingPath, { body: bindBody });
    expect(created.status).toBe(201);
    expect(created.body.credentials).toMatchObject({
      hostnames: ['shop.edge.example.com', 'www-shop.edge.example.com'],
      endpoint: 'https://shop.edge.example.com',
      edge_domain: DOMAIN,
    });
    expect(created.body.endpoints).toEqual([
      { host: 'shop.edge.example.com', ports: ['443'], protocol: 'tcp' },
      { host: 'www-shop.edge.example.com', ports: ['443'], protocol: 'tcp' },
    ]);
    expect(await call('PUT', bindingPath, { body: bindBody })).toMatchObject({ status: 200, body: { credentials: created.body.credentials } });
    expectOsbError(await call('PUT', bindingPath, { body: { ...bindBody, app_guid: 'app-2' } }), 409);
    expect(await call('GET', bindingPath)).toMatchObject({ status: 200, body: { credentials: created.body.credentials } });
    expect(await call('GET', `${bindingPath}/last_operation`)).toMatchObject({ status: 200, body: { state: 'succeeded' } });

    expectOsbError(await call('DELETE', `${bindingPath}?plan_id=${STANDARD}`), 400, /^service_id: is required/);
    expectOsbError(await call('DELETE', `${bindingPath}?service_id=${SERVICE_ID}`), 400, /^plan_id: is required/);
    expect(await call('DELETE', `${bindingPath}?service_id=${SERVICE_ID}&plan_id=${STANDARD}`)).toMatchObject({ status: 200, body: {} });
    expect(await call('DELETE', `${bindingPath}?service_id=${SERVICE_ID}&plan_id=${STANDARD}`)).toMatchObject({ status: 410, body: {} });
    expect((await call('GET', `${bindingPath}/last_operation`)).status).toBe(410);
    expectOsbError(await call('GET', bindingPath), 404);
  });

  test('DELETE errors: 400 without service_id or plan_id, 422 without accepts_incomplete', async () => {
    expectOsbError(await call('DELETE', `${instancePath(id)}?accepts_incomplete=true&plan_id=${STANDARD}`), 400, /^service_id: is required/);
    expectOsbError(await call('DELETE', `${instancePath(id)}?accepts_incomplete=true&service_id=${SERVICE_ID}`), 400, /^plan_id: is required/);
    expectOsbError(await call('DELETE', `${instancePath(id)}?service_id=${SERVICE_ID}&plan_id=${STANDARD}`), 422, undefined, 'AsyncRequired');
    expect((await call('GET', instancePath(id))).status).toBe(200);
  });

  test('deprovision: 202, succeeded, everything removed; then 410 and GET 404', async () => {
    const reply = await call('DELETE', `${instancePath(id)}${deleteQuery()}`);
    expect(reply.status).toBe(202);
    expect(await waitForOperation(call, id, reply.body.operation)).toMatchObject({ status: 200, body: { state: 'succeeded', description: expect.stringMatching(/^deprovisioned/) } });
    // kept while the operation lives, with or without the operation id
    expect(await call('GET', `${instancePath(id)}/last_operation`)).toMatchObject({ status: 200, body: { state: 'succeeded' } });
    expect(await call('DELETE', `${instancePath(id)}${deleteQuery()}`)).toMatchObject({ status: 410, body: {} });
    expectOsbError(await call('GET', instancePath(id)), 404);

    const route = await live.store.getRoute(id);
    expect(route).toMatchObject({ deleted: true });
    expect(await live.store.hostnameOwner('shop.edge.example.com')).toBeUndefined();
    expect((live.cloud as LocalCloud).records.size).toBe(0);

    // once the operation has expired (TTL deletes lazily), last_operation is 410
    await live.store.doc.send(
      new UpdateCommand({
        TableName: live.settings.tableName,
        Key: keys.operation(id, reply.body.operation),
        UpdateExpression: 'SET expiresAt = :past',
        ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 1 },
      }),
    );
    expect(await call('GET', `${instancePath(id)}/last_operation`)).toMatchObject({ status: 410, body: {} });
  });

  test('unknown instance: DELETE 410, last_operation 404, GET 404', async () => {
    expect(await call('DELETE', `${instancePath('never')}${deleteQuery()}`)).toMatchObject({ status: 410, body: {} });
    expectOsbError(await call('GET', `${instancePath('never')}/last_operation`), 404);
    expectOsbError(await call('GET', instancePath('never')), 404);
  });

  test('a released hostname can be provisioned again, also under a deleted id', async () => {
    await provisioned('life-2', provisionBody(['shop.edge.example.com']));
    await provisioned(id, provisionBody(['again.edge.example.com']));
  });

  test('context supplies organization_guid and space_guid', async () => {
    const { organization_guid: _o, space_guid: _s, ...rest } = provisionBody(['ctx.edge.example.com']);
    const context = { platform: 'cloudfoundry', organization_guid: 'org-9', space_guid: 'space-9' };
    await provisioned('life-ctx', { ...rest, context });
    // Stored with the instance...
    expect(await live.store.getInstance('life-ctx')).toMatchObject({ organizationGuid: 'org-9', spaceGuid: 'space-9' });
    // ...and used: the same request again is the same instance (200), another space is a conflict (409).
    expect((await call('PUT', `${instancePath('life-ctx')}${ASYNC}`, { body: { ...rest, context } })).status).toBe(200);
    expectOsbError(await call('PUT', `${instancePath('life-ctx')}${ASYNC}`, { body: { ...rest, context: { ...context, space_guid: 'space-10' } } }), 409, /different space_guid/);
    expectOsbError(await call('PUT', `${instancePath('life-ctx')}${ASYNC}`, { body: { ...rest, context: { ...context, organization_guid: 'org-10' } } }), 409, /different organization_guid/);
  });
});

describe('issue 13 item 7: GET during an update, last_operation of an expired deprovision', () => {
  const id = 'osb-get-during-update';
  const body = provisionBody(['during.edge.example.com']);
  let held: LocalBroker;
  let callHeld: OsbCall;

  beforeAll(async () => {
    // The live broker's table with no worker of its own: an update it accepts stays in progress.
    held = await startTestBroker(emulators, { tableName: live.settings.tableName, queueName: 'edge-broker-held-ops', worker: { enabled: false } });
    callHeld = osbClient(held.url);
  });
  afterAll(async () => held?.stop());

  test('GET while an update is in progress: 422 ConcurrencyError (OSB 2.17 "Fetching a Service Instance"), not the old parameters', async () => {
    const created = await call('PUT', `${instancePath(id)}${ASYNC}`, { body });
    expect(await waitForOperation(call, id, created.body.operation)).toMatchObject({ body: { state: 'succeeded' } });
    const updating = await callHeld('PATCH', `${instancePath(id)}${ASYNC}`, { body: { service_id: SERVICE_ID, parameters: { access_log: { enabled: true } } } });
    expect(updating.status).toBe(202);
    expectOsbError(await call('GET', instancePath(id)), 422, /is being updated/, 'ConcurrencyError');
    expectOsbError(await callHeld('GET', instancePath(id)), 422, undefined, 'ConcurrencyError');
    expect((await call('GET', `${instancePath(id)}/last_operation`)).body).toMatchObject({ state: 'in progress' });
  });

  test('the deprovision that cancels the update, then expires: last_operation 410 with or without its id', async () => {
    const reply = await call('DELETE', `${instancePath(id)}${deleteQuery()}`);
    expect(reply.status).toBe(202);
    expect(await waitForOperation(call, id, reply.body.operation)).toMatchObject({ body: { state: 'succeeded' } });
    expectOsbError(await call('GET', instancePath(id)), 404);
    await live.store.doc.send(
      new UpdateCommand({
        TableName: live.settings.tableName,
        Key: keys.operation(id, reply.body.operation),
        UpdateExpression: 'SET expiresAt = :past',
        ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 1 },
      }),
    );
    expect(await call('GET', `${instancePath(id)}/last_operation`)).toMatchObject({ status: 410, body: {} });
    expect(await call('GET', `${instancePath(id)}/last_operation?operation=${reply.body.operation}`)).toMatchObject({ status: 410, body: {} });
  });
});
