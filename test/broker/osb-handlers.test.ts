/**
 * The OSB handlers' rules (lib/broker/runtime/osb/*), called in-process: `handleOsbRequest`
 * with the real store on the DynamoDB emulator (started once for the file) and a queue that
 * records what it is asked to send. Expected answers come from the OSB spec 2.17 and
 * docs/broker.md's endpoint table, not from the handlers. Fast enough for the `osb`
 * mutation group (docs/testing.md); the HTTP conformance run with the worker is
 * test/broker/osb-conformance.test.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { PLANS, SERVICE_ID } from '../../lib/broker/runtime/catalog';
import { ApiContext } from '../../lib/broker/runtime/context';
import { OsbRequest } from '../../lib/broker/runtime/osb/http';
import { handleOsbRequest } from '../../lib/broker/runtime/osb/router';
import { BrokerSettings, DEFAULT_CUSTOM_DOMAINS } from '../../lib/broker/runtime/settings';
import { BrokerStore } from '../../lib/broker/runtime/store/store';
import { InstanceRecord, OperationRecord, OperationRef } from '../../lib/broker/runtime/store/types';
import { LocalEmulators, ensureBrokerTable, localClientConfig, startEmulators } from '../../lib/local/emulators';

const DOMAIN = 'edge.example.com';
const STANDARD = PLANS.standard.id;
const CDN = PLANS.cdn.id;
const TABLE = 'osb-handlers';
const RETRY_AFTER = 7;

const settings = {
  tableName: TABLE,
  queueUrl: 'local',
  platformName: 'edge',
  domain: DOMAIN,
  hostedZoneId: 'Z1',
  homeRegion: 'us-east-1',
  regions: ['us-east-1', 'eu-west-1'],
  convergence: { timeoutSeconds: 60, pollSeconds: 1 },
  customDomains: DEFAULT_CUSTOM_DOMAINS,
  fleetCidrs: ['10.1.0.0/16'],
  allowLoopbackBackends: false,
} as unknown as BrokerSettings;

let emulators: LocalEmulators;
let store: BrokerStore;
const sent: Array<{ ref: OperationRef; delaySeconds?: number }> = [];
let ctx: ApiContext;

beforeAll(async () => {
  emulators = await startEmulators();
  const client = new DynamoDBClient(localClientConfig(emulators.dynamodbEndpoint));
  await ensureBrokerTable(client, TABLE);
  store = new BrokerStore(client, TABLE);
  ctx = {
    settings,
    store,
    queue: { enqueue: async (ref, delaySeconds) => void sent.push({ ref, delaySeconds }) },
    logger: new Logger({ logLevel: 'SILENT' }),
    retryAfterSeconds: RETRY_AFTER,
  };
});
afterAll(async () => emulators?.stop());
beforeEach(() => {
  sent.length = 0;
});

let counter = 0;
const newId = () => `i-${++counter}-${Date.now().toString(36)}`;

interface Call {
  readonly body?: unknown;
  readonly raw?: string;
  readonly query?: Record<string, string | undefined>;
  readonly headers?: Record<string, string | undefined>;
  readonly context?: ApiContext;
}

async function call(method: string, path: string, options: Call = {}) {
  const request: OsbRequest = {
    method,
    path,
    query: options.query ?? {},
    headers: { 'x-broker-api-version': '2.17', ...(options.headers ?? {}) },
    body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    requestId: 'req-42',
  };
  const reply = await handleOsbRequest(options.context ?? ctx, request);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return reply as { status: number; headers: Record<string, string>; body: any };
}

const ASYNC = { accepts_incomplete: 'true' };
const DELETE_QUERY = { ...ASYNC, service_id: SERVICE_ID, plan_id: STANDARD };
const BACKENDS = [{ address: 'app.example.org', port: 8080, protocol: 'http' }];
const params = (hostnames: string[], extra: Record<string, unknown> = {}) => ({ hostnames, backends: BACKENDS, ...extra });
const provisionBody = (hostnames: string[], extra: Record<string, unknown> = {}) => ({
  service_id: SERVICE_ID,
  plan_id: STANDARD,
  organization_guid: 'org-1',
  space_guid: 'space-1',
  parameters: params(hostnames),
  ...extra,
});

async function provision(id: string, hostnames: string[], extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return call('PUT', `/v2/service_instances/${id}`, { query: ASYNC, body: provisionBody(hostnames, extra), headers });
}

/** What the worker does at the end of an operation: the operation, then the instance. */
async function finish(id: string, operationId: string, state: 'succeeded' | 'failed', instanceFields: Partial<InstanceRecord>, operationFields: Partial<OperationRecord> = {}) {
  await store.updateOperation(id, operationId, { state, ...operationFields });
  await store.finishInstanceOperation(id, operationId, instanceFields);
}

/** A provisioned instance: provisioned through the API, its operation finished. */
async function provisioned(hostnames: string[], extra: Record<string, unknown> = {}): Promise<{ id: string; operation: string }> {
  const id = newId();
  const reply = await provision(id, hostnames, extra);
  expect(reply.status).toBe(202);
  const operation = reply.body.operation as string;
  await finish(id, operation, 'succeeded', { state: 'provisioned' });
  return { id, operation };
}

const uniqueName = (label: string) => `${label}-${++counter}.${DOMAIN}`;

/** The operation's record has expired (DynamoDB TTL deleted it). */
async function expire(id: string, operationId: string): Promise<void> {
  await store.doc.send(new DeleteCommand({ TableName: TABLE, Key: { pk: `INSTANCE#${id}`, sk: `OPERATION#${operationId}` } }));
  expect(await store.getOperation(id, operationId)).toBeUndefined();
}

/**
 * The context with some of the store's methods replaced: a race the test stages inside the
 * call (another request's write between this one's read and write), or a store on which this
 * request always loses. Everything else is the real store.
 */
function storeWith(overrides: Partial<Record<keyof BrokerStore, unknown>>): ApiContext {
  return { ...ctx, store: Object.assign(Object.create(store) as BrokerStore, overrides) };
}

/** Written by a request that lost the write (docs/broker.md "Races on one instance"): failed, expiring after an hour. */
function expectSuperseded(operation: OperationRecord | undefined): void {
  expect(operation).toMatchObject({ state: 'failed', description: 'superseded by a concurrent request' });
  const left = operation!.expiresAt! - Date.now() / 1000;
  expect(left).toBeGreaterThan(3500);
  expect(left).toBeLessThanOrEqual(3600);
}

// ---- the router -------------------------------------------------------------------

describe('routing and the rules every endpoint shares', () => {
  test('the catalog: 200, JSON, the request identity echoed; a trailing slash is the same path', async () => {
    const reply = await call('GET', '/v2/catalog/', { headers: { 'x-broker-api-request-identity': 'abc-123' } });
    expect(reply.status).toBe(200);
    expect(reply.headers).toEqual({ 'content-type': 'application/json', 'x-broker-api-request-identity': 'abc-123' });
    expect(reply.body.services.map((s: { id: string }) => s.id)).toEqual([SERVICE_ID]);
    const plain = await call('get', '/v2/catalog');
    expect(plain.status).toBe(200);
    expect(plain.headers).toEqual({ 'content-type': 'application/json' });
  });

  test('an unknown endpoint: 404 NotFound naming it', async () => {
    expect(await call('GET', '/v2/nothing')).toMatchObject({ status: 404, body: { error: 'NotFound', description: 'no such endpoint: GET /v2/nothing' } });
    expect((await call('GET', '///')).body.description).toBe('no such endpoint: GET /');
    expect((await call('GET', '/v2/catalog/extra')).status).toBe(404);
    expect((await call('GET', '/x/v2/catalog')).status).toBe(404);
    expect((await call('GET', '/v2/service_instances/a/b')).status).toBe(404);
  });

  test('a method the endpoint does not have: 405 naming the allowed ones', async () => {
    expect(await call('POST', '/v2/catalog')).toMatchObject({ status: 405, body: { error: 'MethodNotAllowed', description: 'POST is not allowed on /v2/catalog; allowed: GET' } });
    expect((await call('POST', '/v2/service_instances/x')).body.description).toBe('POST is not allowed on /v2/service_instances/x; allowed: PUT, PATCH, DELETE, GET');
    expect((await call('PUT', '/v2/service_instances/x/last_operation')).body.description).toBe('PUT is not allowed on /v2/service_instances/x/last_operation; allowed: GET');
    expect((await call('PATCH', '/v2/service_instances/x/service_bindings/b')).body.description).toBe(
      'PATCH is not allowed on /v2/service_instances/x/service_bindings/b; allowed: PUT, GET, DELETE',
    );
    expect((await call('DELETE', '/v2/service_instances/x/service_bindings/b/last_operation')).body.description).toBe(
      'DELETE is not allowed on /v2/service_instances/x/service_bindings/b/last_operation; allowed: GET',
    );
  });

  test('X-Broker-API-Version: required, 2.13 to 2.x (OSB: 412 Precondition Failed otherwise)', async () => {
    const version = (v: string | undefined) => call('GET', '/v2/catalog', { headers: { 'x-broker-api-version': v } });
    const missing = await version(undefined);
    expect(missing).toMatchObject({ status: 412, body: { error: 'PreconditionFailed' } });
    expect(missing.body.description).toMatch(/X-Broker-API-Version header is required/);
    expect((await version('  ')).status).toBe(412);
    for (const bad of ['2.12', '1.17', '3.17', '2.17.1', 'v2.17', '2.17x', '2', '.17']) {
      const reply = await version(bad);
      expect(reply.status).toBe(412);
      expect(reply.body.error).toBe('PreconditionFailed');
      expect(reply.body.description).toBe(`X-Broker-API-Version ${JSON.stringify(bad)} is not supported; send 2.13 or later (2.17 preferred).`);
    }
    for (const good of ['2.13', '2.17', ' 2.14 ', '2.99']) expect((await version(good)).status).toBe(200);
  });

  test('ids: a segment that is not valid URL encoding, or not 1-128 safe characters, is a 400 naming the id', async () => {
    expect(await call('GET', '/v2/service_instances/%E0%A4%A/last_operation')).toMatchObject({
      status: 400,
      body: { error: 'BadRequest', description: 'instance_id: is not a valid URL segment' },
    });
    expect((await call('GET', '/v2/service_instances/a%20b/last_operation')).body.description).toBe(
      "instance_id: must be 1-128 characters of letters, digits, '.', '_', '~' or '-'",
    );
    expect((await call('GET', `/v2/service_instances/${'a'.repeat(129)}/last_operation`)).status).toBe(400);
    expect((await call('GET', `/v2/service_instances/${'a'.repeat(128)}/last_operation`)).status).toBe(404);
    expect((await call('GET', '/v2/service_instances/x/service_bindings/b%2Fc')).body.description).toMatch(/^binding_id: must be/);
    expect((await call('GET', '/v2/service_instances/Ab.9_~-x/service_bindings/b')).status).toBe(404);
  });

  test('every endpoint names the id that is wrong', async () => {
    const bad = 'a%20b';
    const named = async (path: string) => (await call('GET', path)).body.description.split(':')[0];
    expect(await named(`/v2/service_instances/${bad}`)).toBe('instance_id');
    expect(await named(`/v2/service_instances/${bad}/last_operation`)).toBe('instance_id');
    expect(await named(`/v2/service_instances/${bad}/service_bindings/b`)).toBe('instance_id');
    expect(await named(`/v2/service_instances/i/service_bindings/${bad}`)).toBe('binding_id');
    expect(await named(`/v2/service_instances/${bad}/service_bindings/b/last_operation`)).toBe('instance_id');
    expect(await named(`/v2/service_instances/i/service_bindings/${bad}/last_operation`)).toBe('binding_id');
  });

  test('a fault of ours: 500 InternalError with the request id, no details', async () => {
    const broken = { ...ctx, store: { getInstance: async () => Promise.reject(new Error('secret detail')) } as unknown as BrokerStore };
    const reply = await call('GET', '/v2/service_instances/x', { context: broken });
    expect(reply).toEqual({
      status: 500,
      headers: { 'content-type': 'application/json' },
      body: { error: 'InternalError', description: 'The broker could not complete the request (request id req-42); retry later.' },
    });
  });
});

// ---- provision --------------------------------------------------------------------

describe('PUT /v2/service_instances/:id (provision)', () => {
  test('accepted: 202 with an operation, the instance and operation recorded, the worker woken', async () => {
    const id = newId();
    const identity = `cloudfoundry ${Buffer.from(JSON.stringify({ user_id: 'u-1' })).toString('base64')}`;
    const reply = await provision(id, ['shop.example.org'], {}, { 'x-broker-api-originating-identity': identity, 'x-broker-api-request-identity': 'r-1' });
    expect(reply.status).toBe(202);
    expect(Object.keys(reply.body)).toEqual(['operation']);
    const operationId = reply.body.operation as string;
    expect(sent).toEqual([{ ref: { instanceId: id, operationId }, delaySeconds: undefined }]);
    expect(await store.getInstance(id)).toMatchObject({
      instanceId: id,
      serviceId: SERVICE_ID,
      planId: STANDARD,
      plan: 'standard',
      organizationGuid: 'org-1',
      spaceGuid: 'space-1',
      parameters: params(['shop.example.org']),
      maintenanceInfoVersion: '1.0.0',
      state: 'provisioning',
      currentOperationId: operationId,
      lastOperationId: operationId,
      resources: {},
    });
    expect(await store.getOperation(id, operationId)).toMatchObject({
      type: 'provision',
      state: 'in progress',
      step: 'queued',
      completedSteps: [],
      description: 'provision: queued',
      attempts: 0,
      target: { planId: STANDARD, plan: 'standard', parameters: params(['shop.example.org']) },
      originatingIdentity: { platform: 'cloudfoundry', value: { user_id: 'u-1' } },
      requestIdentity: 'r-1',
    });
  });

  test('organization and space may come from context (OSB 2.17), which is kept', async () => {
    const id = newId();
    const context = { platform: 'cloudfoundry', organization_guid: 'org-c', space_guid: 'space-c' };
    const reply = await call('PUT', `/v2/service_instances/${id}`, {
      query: ASYNC,
      body: { service_id: SERVICE_ID, plan_id: STANDARD, context, parameters: params(['ctx.example.org']) },
    });
    expect(reply.status).toBe(202);
    expect(await store.getInstance(id)).toMatchObject({ organizationGuid: 'org-c', spaceGuid: 'space-c', context });
    // The top level wins over context; null is "not given".
    const id2 = newId();
    expect((await provision(id2, ['ctx2.example.org'], { context, space_guid: null })).status).toBe(202);
    expect(await store.getInstance(id2)).toMatchObject({ organizationGuid: 'org-1', spaceGuid: 'space-c' });
    // A null context or maintenance_info is one not given.
    const id3 = newId();
    expect((await provision(id3, ['ctx3.example.org'], { context: null, maintenance_info: null })).status).toBe(202);
  });

  const refused: Array<[string, Call, number, string | RegExp]> = [
    ['without accepts_incomplete', { body: provisionBody(['a.example.org']) }, 422, 'This service plan requires client support for asynchronous service operations: add accepts_incomplete=true.'],
    ['accepts_incomplete=false', { query: { accepts_incomplete: 'false' }, body: provisionBody(['a.example.org']) }, 422, /accepts_incomplete=true/],
    ['no body', { query: ASYNC }, 400, 'request body: a JSON object is required'],
    ['a blank body', { query: ASYNC, raw: ' \n' }, 400, 'request body: a JSON object is required'],
    ['malformed JSON', { query: ASYNC, raw: '{"service_id":' }, 400, /^request body: malformed JSON \(.+\)$/],
    ['a JSON array', { query: ASYNC, raw: '[]' }, 400, 'request body: must be a JSON object'],
    ['a body over 64 KiB', { query: ASYNC, raw: JSON.stringify({ pad: 'x'.repeat(64 * 1024) }) }, 413, 'request body: larger than 65536 bytes'],
    ['no service_id', { query: ASYNC, body: { ...provisionBody(['a.example.org']), service_id: undefined } }, 400, 'service_id: is required'],
    ['an unknown service', { query: ASYNC, body: { ...provisionBody(['a.example.org']), service_id: 'other' } }, 400, `service_id: unknown service "other" (this broker offers ${SERVICE_ID})`],
    ['no plan_id', { query: ASYNC, body: { ...provisionBody(['a.example.org']), plan_id: undefined } }, 400, 'plan_id: is required'],
    ['a blank plan_id', { query: ASYNC, body: { ...provisionBody(['a.example.org']), plan_id: ' ' } }, 400, 'plan_id: must be a non-empty string'],
    ['a plan_id that is not a string', { query: ASYNC, body: { ...provisionBody(['a.example.org']), plan_id: 5 } }, 400, 'plan_id: must be a non-empty string'],
    ['an unknown plan', { query: ASYNC, body: { ...provisionBody(['a.example.org']), plan_id: 'gold' } }, 400, `plan_id: unknown plan "gold" (plans: ${STANDARD} (standard), ${CDN} (cdn))`],
    ['context not an object', { query: ASYNC, body: { ...provisionBody(['a.example.org']), context: 'cf' } }, 400, 'context: must be an object'],
    ['no organization', { query: ASYNC, body: { ...provisionBody(['a.example.org']), organization_guid: undefined } }, 400, 'organization_guid: is required (in the body or in context)'],
    ['a blank organization in context', { query: ASYNC, body: { ...provisionBody(['a.example.org']), organization_guid: undefined, context: { organization_guid: ' ' } } }, 400, 'organization_guid: is required (in the body or in context)'],
    ['no space', { query: ASYNC, body: { ...provisionBody(['a.example.org']), space_guid: undefined, context: { space_guid: 7 } } }, 400, 'space_guid: is required (in the body or in context)'],
    ['maintenance_info.version not a string', { query: ASYNC, body: { ...provisionBody(['a.example.org']), maintenance_info: { version: 1 } } }, 400, 'maintenance_info.version: must be a non-empty string'],
    ['maintenance_info.version empty', { query: ASYNC, body: { ...provisionBody(['a.example.org']), maintenance_info: { version: '' } } }, 400, 'maintenance_info.version: must be a non-empty string'],
    ['another maintenance version', { query: ASYNC, body: { ...provisionBody(['a.example.org']), maintenance_info: { version: '0.9.0' } } }, 422, 'maintenance_info.version: "0.9.0" does not match the catalog\'s 1.0.0; fetch the catalog again'],
    ['parameters not an object', { query: ASYNC, body: { ...provisionBody(['a.example.org']), parameters: ['a'] } }, 400, 'parameters: must be an object'],
    ['no parameters', { query: ASYNC, body: { ...provisionBody(['a.example.org']), parameters: undefined } }, 400, 'parameters: invalid: hostnames: is required; backends: is required'],
    ['a backend the edge may not reach', { query: ASYNC, body: { ...provisionBody(['a.example.org']), parameters: { hostnames: ['a.example.org'], backends: [{ address: '10.1.2.3', port: 80, protocol: 'http' }] } } }, 400, /^parameters: invalid: backends\[0\]\.address: .*10\.1\.0\.0\/16/],
    ['a name two labels under the platform domain', { query: ASYNC, body: provisionBody([`api.shop.${DOMAIN}`]) }, 400, /^parameters: invalid: hostnames\[0\]: api\.shop\.edge\.example\.com .*one label/],
    ['two names two labels under the platform domain: every problem, each after "; "', { query: ASYNC, body: provisionBody([`api.shop.${DOMAIN}`, `www.blog.${DOMAIN}`]) }, 400, /^parameters: invalid: hostnames\[0\]: api\.shop\.edge\.example\.com .*one label.*, or a domain of your own; hostnames\[1\]: www\.blog\.edge\.example\.com .*one label.*, or a domain of your own$/],
    ['a custom name on the cdn plan', { query: ASYNC, body: { ...provisionBody(['shop.example.org']), plan_id: CDN } }, 400, /^parameters: invalid: hostnames\[0\]: must be under edge\.example\.com on the cdn plan/],
    ['a malformed originating identity', { query: ASYNC, body: provisionBody(['a.example.org']), headers: { 'x-broker-api-originating-identity': 'cloudfoundry' } }, 400, 'X-Broker-API-Originating-Identity: must be "<platform> <base64-encoded JSON>"'],
    ['an originating identity that is not base64 JSON', { query: ASYNC, body: provisionBody(['a.example.org']), headers: { 'x-broker-api-originating-identity': `cf ${Buffer.from('user').toString('base64')}` } }, 400, 'X-Broker-API-Originating-Identity: the value after the platform must be base64-encoded JSON object'],
    ['an originating identity that is a JSON array', { query: ASYNC, body: provisionBody(['a.example.org']), headers: { 'x-broker-api-originating-identity': `cf ${Buffer.from('[1]').toString('base64')}` } }, 400, /must be base64-encoded JSON object/],
    ['an originating identity with a space before the platform only', { query: ASYNC, body: provisionBody(['a.example.org']), headers: { 'x-broker-api-originating-identity': `cf x ${Buffer.from('{}').toString('base64')}` } }, 400, /must be "<platform> <base64-encoded JSON>"/],
  ];

  test.each(refused)('refused: %s', async (_name, options, status, description) => {
    const id = newId();
    const reply = await call('PUT', `/v2/service_instances/${id}`, options);
    expect(reply.status).toBe(status);
    if (typeof description === 'string') expect(reply.body.description).toBe(description);
    else expect(reply.body.description).toMatch(description);
    expect(reply.body.error).toBe({ 400: 'BadRequest', 413: 'PayloadTooLarge', 422: status === 422 && /maintenance/.test(String(description)) ? 'MaintenanceInfoConflict' : 'AsyncRequired' }[status]);
    // Nothing written, nothing sent.
    expect(await store.getInstance(id)).toBeUndefined();
    expect(sent).toEqual([]);
  });

  test('the catalog\'s maintenance version, an empty originating identity and a body of exactly 64 KiB are fine', async () => {
    const id = newId();
    const body = provisionBody([uniqueName('mv')], { maintenance_info: { version: '1.0.0' } });
    const text = JSON.stringify(body);
    const padded = `${text.slice(0, -1)},"pad":"${'x'.repeat(64 * 1024 - text.length - 9)}"}`;
    expect(Buffer.byteLength(padded)).toBe(64 * 1024);
    const reply = await call('PUT', `/v2/service_instances/${id}`, { query: ASYNC, raw: padded, headers: { 'x-broker-api-originating-identity': ' ' } });
    expect(reply.status).toBe(202);
    expect((await store.getOperation(id, reply.body.operation))?.originatingIdentity).toBeUndefined();
  });

  test('an originating identity with more than one space (or a tab) before the value is read, not refused', async () => {
    // OSB "Originating Identity" writes `Platform value`; the MUST binds the platform. Refusing a
    // request over its whitespace would fail a user's action for nothing, so any run of it is read.
    const value = Buffer.from(JSON.stringify({ user_id: 'u-2' })).toString('base64');
    for (const header of [`kubernetes  ${value}`, `kubernetes\t${value}`]) {
      const id = newId();
      const reply = await provision(id, [uniqueName('oi')], {}, { 'x-broker-api-originating-identity': header });
      expect(reply.status).toBe(202);
      expect((await store.getOperation(id, reply.body.operation as string))?.originatingIdentity).toEqual({ platform: 'kubernetes', value: { user_id: 'u-2' } });
    }
  });

  test('the same request again while it runs: 202 with the same operation, and the worker woken again', async () => {
    const id = newId();
    const first = await provision(id, ['again.example.org']);
    sent.length = 0;
    const second = await provision(id, ['again.example.org']);
    expect(second).toMatchObject({ status: 202, body: { operation: first.body.operation } });
    expect(sent).toEqual([{ ref: { instanceId: id, operationId: first.body.operation }, delaySeconds: undefined }]);
  });

  test('two identical requests at once: one operation', async () => {
    const id = newId();
    const [a, b] = await Promise.all([provision(id, ['race.example.org']), provision(id, ['race.example.org'])]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.body.operation).toBe(b.body.operation);
    expect((await store.getInstance(id))?.currentOperationId).toBe(a.body.operation);
  });

  test('the same request once provisioned: 200 {}, nothing sent', async () => {
    const name = uniqueName('done');
    const { id } = await provisioned([name]);
    sent.length = 0;
    expect(await provision(id, [name])).toMatchObject({ status: 200, body: {} });
    expect(sent).toEqual([]);
  });

  test('the same id with other attributes: 409 naming each difference', async () => {
    const { id } = await provisioned([uniqueName('diff')]);
    const reply = await call('PUT', `/v2/service_instances/${id}`, {
      query: ASYNC,
      body: { ...provisionBody([uniqueName('other')]), plan_id: CDN, organization_guid: 'org-2', space_guid: 'space-2' },
    });
    expect(reply).toMatchObject({ status: 409, body: { error: 'Conflict', description: `instance ${id} already exists with a different plan_id, organization_guid, space_guid, parameters` } });
    const one = await provision(id, [uniqueName('other')]);
    expect(one.body.description).toBe(`instance ${id} already exists with a different parameters`);
  });

  test('a provision that failed: 409 telling to deprovision first', async () => {
    const id = newId();
    const name = uniqueName('failed');
    const reply = await provision(id, [name]);
    await finish(id, reply.body.operation, 'failed', { state: 'failed' });
    expect(await provision(id, [name])).toMatchObject({ status: 409, body: { error: 'Conflict', description: `instance ${id} exists but its provisioning failed; deprovision it, then provision again` } });
  });

  test('while it is being deprovisioned: 422 ConcurrencyError', async () => {
    const name = uniqueName('going');
    const { id } = await provisioned([name]);
    expect((await call('DELETE', `/v2/service_instances/${id}`, { query: DELETE_QUERY })).status).toBe(202);
    expect(await provision(id, [name])).toMatchObject({ status: 422, body: { error: 'ConcurrencyError', description: `instance ${id} is being deprovisioned` } });
  });

  test('a name another instance holds: 409 naming it', async () => {
    const name = uniqueName('held');
    await store.claimHostname(name, 'someone-else');
    const id = newId();
    expect(await provision(id, [name])).toMatchObject({ status: 409, body: { error: 'Conflict', description: `parameters: hostnames[0]: ${name} is already served by another instance` } });
    expect(await store.getInstance(id)).toBeUndefined();
  });

  test('another request creates the instance between our read and our write: answered as for that one, ours failed', async () => {
    const id = newId();
    const name = uniqueName('won');
    let winner: string | undefined;
    const ours: string[] = [];
    const racing = storeWith({
      putOperation: async (operation: OperationRecord) => {
        ours.push(operation.operationId);
        return store.putOperation(operation);
      },
      createInstance: async (instance: InstanceRecord) => {
        winner ??= (await provision(id, [name])).body.operation;
        return store.createInstance(instance);
      },
    });
    const reply = await call('PUT', `/v2/service_instances/${id}`, { query: ASYNC, body: provisionBody([name]), context: racing });
    expect(reply).toMatchObject({ status: 202, body: { operation: winner } });
    expect(ours).toHaveLength(1);
    expectSuperseded(await store.getOperation(id, ours[0]));
    expect((await store.getInstance(id))?.currentOperationId).toBe(winner);
    // The winner's own message, and the wake-up of a repeated request; never the loser's operation.
    expect(sent.map((s) => s.ref)).toEqual([
      { instanceId: id, operationId: winner },
      { instanceId: id, operationId: winner },
    ]);
  });

  test('losing all three tries: 422 ConcurrencyError, each operation written failed, nothing sent', async () => {
    const id = newId();
    const name = uniqueName('lost');
    await provision(id, [name]);
    sent.length = 0;
    const ours: string[] = [];
    // Every read misses the instance that every write then finds.
    const blind = storeWith({
      getInstance: async () => undefined,
      putOperation: async (operation: OperationRecord) => {
        ours.push(operation.operationId);
        return store.putOperation(operation);
      },
    });
    const reply = await call('PUT', `/v2/service_instances/${id}`, { query: ASYNC, body: provisionBody([name]), context: blind });
    expect(reply).toMatchObject({ status: 422, body: { error: 'ConcurrencyError', description: `instance ${id} is being changed by another request; retry` } });
    expect(ours).toHaveLength(3);
    for (const operationId of ours) expectSuperseded(await store.getOperation(id, operationId));
    expect(sent).toEqual([]);
  });

  test('an id whose deprovision finished can be provisioned again', async () => {
    const id = newId();
    const name = uniqueName('again');
    const first = await provision(id, [name]);
    await finish(id, first.body.operation, 'succeeded', { state: 'deleted' });
    const second = await provision(id, [name]);
    expect(second.status).toBe(202);
    expect(second.body.operation).not.toBe(first.body.operation);
  });
});

// ---- update -----------------------------------------------------------------------

describe('PATCH /v2/service_instances/:id (update)', () => {
  const patch = (id: string, body: Record<string, unknown>, query: Record<string, string> = ASYNC) => call('PATCH', `/v2/service_instances/${id}`, { query, body: { service_id: SERVICE_ID, ...body } });

  test('a change: 202, the operation carries the merged target and the previous configuration', async () => {
    const name = uniqueName('upd');
    const { id } = await provisioned([name], { parameters: params([name], { rate_limit: { requests_per_unit: 5, unit: 'second' }, access_log: { enabled: true } }) });
    sent.length = 0;
    const reply = await patch(id, { parameters: { access_log: { enabled: false }, rate_limit: null } }, { ...ASYNC });
    expect(reply.status).toBe(202);
    const operationId = reply.body.operation;
    expect(sent).toEqual([{ ref: { instanceId: id, operationId }, delaySeconds: undefined }]);
    const operation = await store.getOperation(id, operationId);
    expect(operation).toMatchObject({
      type: 'update',
      state: 'in progress',
      description: 'update: queued',
      target: { planId: STANDARD, plan: 'standard', parameters: params([name], { access_log: { enabled: false } }) },
      previous: { planId: STANDARD, plan: 'standard', parameters: params([name], { rate_limit: { requests_per_unit: 5, unit: 'second' }, access_log: { enabled: true } }) },
    });
    expect(operation?.target?.parameters.rate_limit).toBeUndefined();
    expect(await store.getInstance(id)).toMatchObject({ currentOperationId: operationId, lastOperationId: operationId });
  });

  test('a plan change alone is a change', async () => {
    const name = uniqueName('plan');
    const { id } = await provisioned([name]);
    const reply = await patch(id, { plan_id: CDN });
    expect(reply.status).toBe(202);
    expect((await store.getOperation(id, reply.body.operation))?.target).toMatchObject({ planId: CDN, plan: 'cdn' });
  });

  test('nothing changes: 200 {}, nothing written or sent', async () => {
    const name = uniqueName('same');
    const { id, operation } = await provisioned([name]);
    sent.length = 0;
    expect(await patch(id, { plan_id: STANDARD, parameters: { hostnames: [name] } })).toEqual({ status: 200, headers: { 'content-type': 'application/json' }, body: {} });
    expect(await patch(id, {})).toMatchObject({ status: 200 });
    expect(sent).toEqual([]);
    expect((await store.getInstance(id))?.lastOperationId).toBe(operation);
  });

  test('refusals', async () => {
    const name = uniqueName('ref');
    const { id } = await provisioned([name]);
    sent.length = 0;
    expect(await patch(id, { parameters: {} }, {})).toMatchObject({ status: 422, body: { error: 'AsyncRequired' } });
    expect(await call('PATCH', `/v2/service_instances/${id}`, { query: ASYNC, body: { plan_id: STANDARD } })).toMatchObject({ status: 400, body: { description: 'service_id: is required' } });
    expect(await patch(id, { plan_id: 'gold' })).toMatchObject({ status: 400, body: { description: expect.stringMatching(/^plan_id: unknown plan "gold"/) } });
    expect(await patch(id, { maintenance_info: { version: '2.0.0' } })).toMatchObject({ status: 422, body: { error: 'MaintenanceInfoConflict' } });
    expect(await patch(id, { parameters: 'x' })).toMatchObject({ status: 400, body: { description: 'parameters: must be an object' } });
    expect(await patch(id, { parameters: { rate_limit: { unit: 'second' } } })).toMatchObject({
      status: 400,
      body: { error: 'BadRequest', description: 'parameters: invalid: rate_limit.requests_per_unit: is required' },
    });
    // null may remove an optional setting only: the merge must still be a whole configuration.
    expect(await patch(id, { parameters: { backends: null } })).toMatchObject({ status: 400, body: { description: 'parameters: invalid: backends: is required' } });
    // The merged parameters pass the provision's rules (hostnames included).
    expect(await patch(id, { parameters: { hostnames: [`a.b.${DOMAIN}`] } })).toMatchObject({ status: 400, body: { description: expect.stringMatching(/^parameters: invalid: hostnames\[0\]: a\.b\.edge\.example\.com /) } });
    expect(await patch(newId(), {})).toMatchObject({ status: 404, body: { error: 'NotFound', description: expect.stringMatching(/does not exist$/) } });
    // A malformed request is a 400 whatever the instance: the plan is checked before the instance is read.
    expect(await patch(newId(), { plan_id: 'gold' })).toMatchObject({ status: 400, body: { description: expect.stringMatching(/^plan_id: unknown plan "gold"/) } });
    expect(sent).toEqual([]);
  });

  test('while another operation runs: 422 ConcurrencyError naming it', async () => {
    const name = uniqueName('busy');
    const { id } = await provisioned([name]);
    const first = await patch(id, { parameters: { access_log: { enabled: true } } });
    expect(first.status).toBe(202);
    expect(await patch(id, { parameters: { access_log: { enabled: false } } })).toMatchObject({
      status: 422,
      body: { error: 'ConcurrencyError', description: `instance ${id} has an operation in progress (${first.body.operation}); retry when it has finished` },
    });
    // Also while the provision itself runs.
    const id2 = newId();
    await provision(id2, [uniqueName('busy2')]);
    expect((await patch(id2, {})).body.error).toBe('ConcurrencyError');
  });

  test('an instance whose provision failed: 422 InstanceNotUsable', async () => {
    const id = newId();
    const reply = await provision(id, [uniqueName('nu')]);
    await finish(id, reply.body.operation, 'failed', { state: 'failed' });
    expect(await patch(id, {})).toMatchObject({ status: 422, body: { error: 'InstanceNotUsable', description: `instance ${id} failed to provision and cannot be updated; deprovision it` } });
    await finish(id, reply.body.operation, 'failed', { state: 'deleted' });
  });

  test('a deleted instance: 404', async () => {
    const id = newId();
    const reply = await provision(id, [uniqueName('del')]);
    await finish(id, reply.body.operation, 'succeeded', { state: 'deleted' });
    expect((await patch(id, {})).status).toBe(404);
  });

  test('cdn: the hostnames cannot change in place (422 NotUpdatable); on a move to standard they can', async () => {
    const name = uniqueName('cdn');
    const { id } = await provisioned([name], { plan_id: CDN });
    const reply = await patch(id, { parameters: { hostnames: [name, uniqueName('cdn2')] } });
    expect(reply).toMatchObject({ status: 422, body: { error: 'NotUpdatable' } });
    expect(reply.body.description).toMatch(/^parameters\.hostnames: cannot change in place on the cdn plan/);
    // The same names in another order are no change.
    const two = [uniqueName('cdn3'), uniqueName('cdn4')];
    const { id: id2 } = await provisioned(two, { plan_id: CDN });
    expect(await patch(id2, { parameters: { hostnames: [two[1], two[0]] } })).toMatchObject({ status: 202 });
    // Either side may be out of order: names stored unsorted, asked for sorted.
    const stored = [uniqueName('cdn6'), uniqueName('cdn5')];
    const { id: id3 } = await provisioned(stored, { plan_id: CDN });
    expect((await store.getInstance(id3))?.parameters.hostnames).toEqual(stored);
    expect(await patch(id3, { parameters: { hostnames: [stored[1], stored[0]] } })).toMatchObject({ status: 202 });
    expect((await patch(id, { plan_id: STANDARD, parameters: { hostnames: [uniqueName('std')] } })).status).toBe(202);
  });

  test('a move from standard to cdn may change the hostnames: only a cdn instance\'s names are bound to it', async () => {
    const { id } = await provisioned([uniqueName('tocdn')]);
    const other = uniqueName('tocdn2');
    const reply = await patch(id, { plan_id: CDN, parameters: { hostnames: [other] } });
    expect(reply.status).toBe(202);
    expect((await store.getOperation(id, reply.body.operation))?.target).toMatchObject({ planId: CDN, plan: 'cdn', parameters: { hostnames: [other] } });
  });

  test('another request takes the instance between our read and our write: 422 ConcurrencyError, ours failed, not sent', async () => {
    const { id, operation: provisionOp } = await provisioned([uniqueName('urace')]);
    let other: string | undefined;
    const racing = storeWith({
      startOperation: async (...args: Parameters<BrokerStore['startOperation']>) => {
        other = (await patch(id, { parameters: { access_log: { enabled: true } } })).body.operation;
        return store.startOperation(...args);
      },
    });
    sent.length = 0;
    const reply = await call('PATCH', `/v2/service_instances/${id}`, { query: ASYNC, body: { service_id: SERVICE_ID, parameters: { access_log: { enabled: false } } }, context: racing });
    expect(reply).toMatchObject({ status: 422, body: { error: 'ConcurrencyError', description: `instance ${id} is being changed by another request; retry` } });
    const ours = (await store.operationsOf(id)).filter((o) => ![provisionOp, other].includes(o.operationId));
    expect(ours).toHaveLength(1);
    expectSuperseded(ours[0]);
    expect(await store.getInstance(id)).toMatchObject({ currentOperationId: other, lastOperationId: other });
    expect(sent.map((s) => s.ref.operationId)).toEqual([other]);
  });

  test('a name another instance holds: 409; the names it already has are its own', async () => {
    const name = uniqueName('mine');
    const { id } = await provisioned([name]);
    await store.claimHostname(name, id);
    const taken = uniqueName('theirs');
    await store.claimHostname(taken, 'someone-else');
    expect(await patch(id, { parameters: { hostnames: [name, taken] } })).toMatchObject({
      status: 409,
      body: { description: `parameters: hostnames[1]: ${taken} is already served by another instance` },
    });
    expect((await patch(id, { parameters: { hostnames: [name, uniqueName('free')] } })).status).toBe(202);
  });
});

// ---- deprovision ------------------------------------------------------------------

describe('DELETE /v2/service_instances/:id (deprovision)', () => {
  const remove = (id: string, query: Record<string, string | undefined> = DELETE_QUERY, headers: Record<string, string> = {}, context?: ApiContext) =>
    call('DELETE', `/v2/service_instances/${id}`, { query, headers, context });

  test('the query names the service and plan, both known; accepts_incomplete is required', async () => {
    const id = newId();
    expect(await remove(id, { ...DELETE_QUERY, service_id: undefined })).toMatchObject({ status: 400, body: { description: 'service_id: is required (query parameter)' } });
    expect(await remove(id, { ...DELETE_QUERY, plan_id: undefined })).toMatchObject({ status: 400, body: { description: 'plan_id: is required (query parameter)' } });
    expect(await remove(id, { ...DELETE_QUERY, service_id: 'x' })).toMatchObject({ status: 400, body: { description: expect.stringMatching(/^service_id: unknown service "x"/) } });
    expect(await remove(id, { ...DELETE_QUERY, plan_id: 'x' })).toMatchObject({ status: 400, body: { description: expect.stringMatching(/^plan_id: unknown plan "x"/) } });
    expect(await remove(id, { ...DELETE_QUERY, accepts_incomplete: undefined })).toMatchObject({ status: 422, body: { error: 'AsyncRequired' } });
  });

  test('an unknown instance: 410 {}', async () => {
    expect(await remove(newId())).toMatchObject({ status: 410, body: {} });
  });

  test('a provisioned instance: 202, the operation records what to clean up', async () => {
    const name = uniqueName('bye');
    const { id } = await provisioned([name]);
    sent.length = 0;
    const identity = `k8s ${Buffer.from('{"user":"a"}').toString('base64')}`;
    const reply = await remove(id, DELETE_QUERY, { 'x-broker-api-originating-identity': identity });
    expect(reply.status).toBe(202);
    const operationId = reply.body.operation;
    expect(sent).toEqual([{ ref: { instanceId: id, operationId }, delaySeconds: undefined }]);
    const operation = await store.getOperation(id, operationId);
    expect(operation).toMatchObject({
      type: 'deprovision',
      state: 'in progress',
      description: 'deprovision: queued',
      hostnames: [name],
      previous: { planId: STANDARD, plan: 'standard', parameters: params([name]) },
      originatingIdentity: { platform: 'k8s', value: { user: 'a' } },
    });
    expect(operation?.cancelledOperationId).toBeUndefined();
    expect((await store.getInstance(id))?.currentOperationId).toBe(operationId);
  });

  test('during a provision: the provision is cancelled, and the deprovision covers its names', async () => {
    const id = newId();
    const name = uniqueName('half');
    const provisionOp = (await provision(id, [name])).body.operation;
    const reply = await remove(id);
    expect(reply.status).toBe(202);
    const operation = await store.getOperation(id, reply.body.operation);
    expect(operation).toMatchObject({ cancelledOperationId: provisionOp, hostnames: [name] });
    const cancelled = await store.getOperation(id, provisionOp);
    expect(cancelled).toMatchObject({ state: 'failed', description: `provision cancelled: the instance is being deprovisioned (${reply.body.operation})` });
    // Kept for a week (OSB platforms poll last_operation for days), as every finished operation.
    expect(cancelled!.expiresAt! - Date.now() / 1000).toBeGreaterThan(6.9 * 24 * 3600);
    expect(cancelled!.expiresAt! - Date.now() / 1000).toBeLessThan(7.1 * 24 * 3600);
  });

  test('during an update: the names of both configurations are cleaned up', async () => {
    const old = uniqueName('old');
    const added = uniqueName('added');
    const { id } = await provisioned([old]);
    const upd = await call('PATCH', `/v2/service_instances/${id}`, { query: ASYNC, body: { service_id: SERVICE_ID, parameters: { hostnames: [old, added] } } });
    expect(upd.status).toBe(202);
    const reply = await remove(id);
    expect((await store.getOperation(id, reply.body.operation))?.hostnames).toEqual([old, added]);
    expect((await store.getOperation(id, upd.body.operation))?.description).toBe(`update cancelled: the instance is being deprovisioned (${reply.body.operation})`);
  });

  test('again while it runs: 202 with the same operation, the worker woken again', async () => {
    const { id } = await provisioned([uniqueName('twice')]);
    const first = await remove(id);
    sent.length = 0;
    expect(await remove(id)).toMatchObject({ status: 202, body: { operation: first.body.operation } });
    expect(sent).toEqual([{ ref: { instanceId: id, operationId: first.body.operation }, delaySeconds: undefined }]);
  });

  test('another request starts an update between our read and our write: the deprovision reads again and cancels it', async () => {
    const { id } = await provisioned([uniqueName('drace')]);
    let other: string | undefined;
    const racing = storeWith({
      startOperation: async (...args: Parameters<BrokerStore['startOperation']>) => {
        other ??= (await call('PATCH', `/v2/service_instances/${id}`, { query: ASYNC, body: { service_id: SERVICE_ID, parameters: { access_log: { enabled: true } } } })).body.operation;
        return store.startOperation(...args);
      },
    });
    sent.length = 0;
    const reply = await call('DELETE', `/v2/service_instances/${id}`, { query: DELETE_QUERY, context: racing });
    expect(reply.status).toBe(202);
    const deprovisions = (await store.operationsOf(id)).filter((o) => o.type === 'deprovision');
    expect(deprovisions).toHaveLength(2);
    expectSuperseded(deprovisions.find((o) => o.operationId !== reply.body.operation));
    expect(await store.getOperation(id, reply.body.operation)).toMatchObject({ state: 'in progress', cancelledOperationId: other });
    expect(await store.getOperation(id, other!)).toMatchObject({ state: 'failed' });
    expect(sent.map((s) => s.ref.operationId)).toEqual([other, reply.body.operation]);
  });

  test('losing all three tries: 422 ConcurrencyError, each operation written failed, nothing sent', async () => {
    const { id, operation } = await provisioned([uniqueName('dlost')]);
    const losing = storeWith({ startOperation: async () => false });
    sent.length = 0;
    expect(await remove(id, DELETE_QUERY, {}, losing)).toMatchObject({
      status: 422,
      body: { error: 'ConcurrencyError', description: `instance ${id} is being changed by another request; retry` },
    });
    const deprovisions = (await store.operationsOf(id)).filter((o) => o.type === 'deprovision');
    expect(deprovisions).toHaveLength(3);
    for (const lost of deprovisions) expectSuperseded(lost);
    expect(sent).toEqual([]);
    expect(await store.getInstance(id)).toMatchObject({ state: 'provisioned', lastOperationId: operation });
  });

  test('a failed instance can be deprovisioned; a deleted one is 410', async () => {
    const id = newId();
    const op = (await provision(id, [uniqueName('f')])).body.operation;
    await finish(id, op, 'failed', { state: 'failed' });
    const reply = await remove(id);
    expect(reply.status).toBe(202);
    await finish(id, reply.body.operation, 'succeeded', { state: 'deleted' });
    expect(await remove(id)).toMatchObject({ status: 410, body: {} });
  });
});

// ---- fetch ------------------------------------------------------------------------

describe('GET /v2/service_instances/:id', () => {
  const fetchInstance = (id: string) => call('GET', `/v2/service_instances/${id}`);

  test('a provisioned instance: its service, plan, parameters, maintenance version and metadata', async () => {
    const name = uniqueName('get');
    const { id } = await provisioned([name]);
    expect(await fetchInstance(id)).toEqual({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: { service_id: SERVICE_ID, plan_id: STANDARD, parameters: params([name]), maintenance_info: { version: '1.0.0' }, metadata: { labels: { plan: 'standard' } } },
    });
  });

  test('backends whose certificate is not checked are reported, one a line', async () => {
    const name = uniqueName('tls');
    const backends = [
      { address: 'a.example.org', port: 443, protocol: 'https', tls: { verify: false } },
      { address: 'b.example.org', port: 8443, protocol: 'https', tls: { verify: false } },
    ];
    const { id } = await provisioned([name], { plan_id: CDN, parameters: { hostnames: [name], backends } });
    const reply = await fetchInstance(id);
    expect(reply.body.metadata).toEqual({
      labels: { plan: 'cdn' },
      attributes: { 'edge.tls.unverified_backends': 'backends[0] (a.example.org:443)\nbackends[1] (b.example.org:8443)' },
    });
  });

  test('unknown, provisioning, failed, deleted: 404; being updated: 422 ConcurrencyError (OSB 2.17)', async () => {
    const unknown = newId();
    expect(await fetchInstance(unknown)).toMatchObject({ status: 404, body: { error: 'NotFound', description: `instance ${unknown} does not exist` } });
    const id = newId();
    const op = (await provision(id, [uniqueName('p')])).body.operation;
    expect(await fetchInstance(id)).toMatchObject({ status: 404, body: { description: `instance ${id} is still being provisioned` } });
    await finish(id, op, 'failed', { state: 'failed' });
    expect(await fetchInstance(id)).toMatchObject({ status: 404, body: { description: `instance ${id} failed to provision` } });

    const name = uniqueName('u');
    const { id: updated } = await provisioned([name]);
    const upd = await call('PATCH', `/v2/service_instances/${updated}`, { query: ASYNC, body: { service_id: SERVICE_ID, parameters: { access_log: { enabled: true } } } });
    expect(await fetchInstance(updated)).toMatchObject({
      status: 422,
      body: { error: 'ConcurrencyError', description: `instance ${updated} is being updated (operation ${upd.body.operation}); fetch it when the update has finished` },
    });
    // Being deprovisioned: still there (200) until the deprovision ends.
    await finish(updated, upd.body.operation, 'succeeded', { state: 'provisioned' });
    expect((await call('DELETE', `/v2/service_instances/${updated}`, { query: DELETE_QUERY })).status).toBe(202);
    expect((await fetchInstance(updated)).status).toBe(200);
    const deleted = newId();
    const dop = (await provision(deleted, [uniqueName('d')])).body.operation;
    await finish(deleted, dop, 'succeeded', { state: 'deleted' });
    expect((await fetchInstance(deleted)).status).toBe(404);
  });

  test('an update ended but not yet written to the instance ("finishing"): still 422, as last_operation says it is in progress', async () => {
    for (const state of ['succeeded', 'failed'] as const) {
      const { id } = await provisioned([uniqueName(`fin-${state}`)]);
      const upd = (await call('PATCH', `/v2/service_instances/${id}`, { query: ASYNC, body: { service_id: SERVICE_ID, parameters: { access_log: { enabled: true } } } })).body.operation;
      await store.updateOperation(id, upd, { state });
      expect(await fetchInstance(id)).toMatchObject({ status: 422, body: { error: 'ConcurrencyError' } });
      await store.finishInstanceOperation(id, upd, {});
      expect((await fetchInstance(id)).status).toBe(200);
    }
  });
});

// ---- last_operation ---------------------------------------------------------------

describe('GET /v2/service_instances/:id/last_operation', () => {
  const last = (id: string, operation?: string) => call('GET', `/v2/service_instances/${id}/last_operation`, { query: operation === undefined ? {} : { operation } });

  test('in progress: the step in words, with Retry-After', async () => {
    const id = newId();
    const op = (await provision(id, [uniqueName('lo')])).body.operation;
    const reply = await last(id, op);
    expect(reply).toEqual({ status: 200, headers: { 'content-type': 'application/json', 'retry-after': '7' }, body: { state: 'in progress', description: 'provision: queued' } });
    // An empty operation= names no operation: the last one answers.
    expect((await last(id, '')).body).toEqual({ state: 'in progress', description: 'provision: queued' });
    expect((await last(id)).body.state).toBe('in progress');
  });

  test('finished, but the instance still names it as current: in progress ("finishing") until the instance is written', async () => {
    const id = newId();
    const op = (await provision(id, [uniqueName('fin')])).body.operation;
    await store.updateOperation(id, op, { state: 'succeeded', description: 'provisioned: all good' });
    expect(await last(id, op)).toMatchObject({ status: 200, headers: { 'retry-after': '7' }, body: { state: 'in progress', description: 'provision: finishing' } });
    await store.finishInstanceOperation(id, op, { state: 'provisioned' });
    const done = await last(id, op);
    expect(done).toEqual({ status: 200, headers: { 'content-type': 'application/json' }, body: { state: 'succeeded', description: 'provisioned: all good' } });
  });

  const failedUpdate = async (fields: Partial<OperationRecord>) => {
    const { id } = await provisioned([uniqueName('fu')]);
    const upd = (await call('PATCH', `/v2/service_instances/${id}`, { query: ASYNC, body: { service_id: SERVICE_ID, parameters: { access_log: { enabled: true } } } })).body.operation;
    await finish(id, upd, 'failed', {}, { description: 'update failed: x', ...fields });
    return (await last(id, upd)).body;
  };

  test('a failed update says the instance is usable and the update repeatable, unless told otherwise', async () => {
    expect(await failedUpdate({})).toEqual({ state: 'failed', description: 'update failed: x', instance_usable: true, update_repeatable: true });
    expect(await failedUpdate({ instanceUsable: false, updateRepeatable: false })).toEqual({ state: 'failed', description: 'update failed: x', instance_usable: false, update_repeatable: false });
  });

  test('a failed deprovision: the instance is not usable unless told; a failed provision adds nothing', async () => {
    for (const [fields, usable] of [[{}, false], [{ instanceUsable: true }, true]] as const) {
      const { id } = await provisioned([uniqueName('fd')]);
      const dep = (await call('DELETE', `/v2/service_instances/${id}`, { query: DELETE_QUERY })).body.operation;
      await finish(id, dep, 'failed', {}, { description: 'deprovision failed: y', ...fields });
      expect((await last(id, dep)).body).toEqual({ state: 'failed', description: 'deprovision failed: y', instance_usable: usable });
    }

    const id2 = newId();
    const op = (await provision(id2, [uniqueName('fp')])).body.operation;
    await finish(id2, op, 'failed', { state: 'failed' }, { description: 'provision failed: z' });
    expect((await last(id2, op)).body).toEqual({ state: 'failed', description: 'provision failed: z' });
    // A succeeded update adds nothing either.
    const { id: id3 } = await provisioned([uniqueName('su')]);
    const upd = (await call('PATCH', `/v2/service_instances/${id3}`, { query: ASYNC, body: { service_id: SERVICE_ID, parameters: { access_log: { enabled: true } } } })).body.operation;
    await finish(id3, upd, 'succeeded', { state: 'provisioned' }, { description: 'updated' });
    expect((await last(id3, upd)).body).toEqual({ state: 'succeeded', description: 'updated' });
  });

  test('a deprovision in progress says nothing of the instance being usable (OSB: instance_usable is for a failed update or deprovision)', async () => {
    const { id } = await provisioned([uniqueName('dip')]);
    const dep = (await call('DELETE', `/v2/service_instances/${id}`, { query: DELETE_QUERY })).body.operation;
    expect((await last(id, dep)).body).toEqual({ state: 'in progress', description: 'deprovision: queued' });
  });

  test('an unknown instance: 404; an odd operation id: 400', async () => {
    const unknown = newId();
    expect(await last(unknown)).toMatchObject({ status: 404, body: { error: 'NotFound', description: `instance ${unknown} does not exist` } });
    const id = newId();
    await provision(id, [uniqueName('odd')]);
    expect(await last(id, 'a b')).toMatchObject({ status: 400, body: { description: expect.stringMatching(/^operation: must be 1-128 characters/) } });
  });

  test('after a finished deprovision: succeeded while the operation is kept, then 410', async () => {
    const { id } = await provisioned([uniqueName('gone')]);
    const dep = (await call('DELETE', `/v2/service_instances/${id}`, { query: DELETE_QUERY })).body.operation;
    await finish(id, dep, 'succeeded', { state: 'deleted' }, { description: 'deprovisioned: all removed' });
    expect(await last(id, dep)).toEqual({ status: 200, headers: { 'content-type': 'application/json' }, body: { state: 'succeeded', description: 'deprovisioned: all removed' } });
    expect((await last(id)).body).toEqual({ state: 'succeeded', description: 'deprovisioned: all removed' });
    // Another operation of the deleted instance answers as itself.
    const first = (await store.operationsOf(id)).find((o) => o.type === 'provision')!;
    expect((await last(id, first.operationId)).body).toEqual({ state: 'succeeded', description: first.description });
    // The operation's record expired: gone.
    expect(await last(id, 'expired-op')).toMatchObject({ status: 410, body: {} });
  });

  test('a deleted instance whose deprovision failed earlier is answered by the record, not "succeeded"', async () => {
    const { id } = await provisioned([uniqueName('dd')]);
    const dep = (await call('DELETE', `/v2/service_instances/${id}`, { query: DELETE_QUERY })).body.operation;
    await finish(id, dep, 'failed', { state: 'deleted' }, { description: 'deprovision failed: q' });
    expect((await last(id, dep)).body).toEqual({ state: 'failed', description: 'deprovision failed: q', instance_usable: false });
  });

  test("the operation's record expired: the instance's last outcome answers; another id is a 400", async () => {
    const { id, operation } = await provisioned([uniqueName('exp')]);
    const upd = (await call('PATCH', `/v2/service_instances/${id}`, { query: ASYNC, body: { service_id: SERVICE_ID, parameters: { access_log: { enabled: true } } } })).body.operation;
    const outcome = { operationId: upd, type: 'update' as const, state: 'failed' as const, description: 'update failed: w', instanceUsable: true, updateRepeatable: false };
    await finish(id, upd, 'failed', { lastOutcome: outcome });
    await expire(id, upd);
    expect((await last(id, upd)).body).toEqual({ state: 'failed', description: 'update failed: w', instance_usable: true, update_repeatable: false });
    expect((await last(id)).body).toEqual({ state: 'failed', description: 'update failed: w', instance_usable: true, update_repeatable: false });
    expect(await last(id, 'other-op')).toMatchObject({ status: 400, body: { error: 'BadRequest', description: `operation: other-op is not an operation of instance ${id} (or has expired)` } });
    // An id that is not the outcome's, when the outcome's operation still exists: that operation answers.
    expect((await last(id, operation)).body.state).toBe('succeeded');
  });

  test('no record and no outcome (instances from before outcomes were kept): the state says how it ended', async () => {
    const id = newId();
    const op = (await provision(id, [uniqueName('legacy')])).body.operation;
    await finish(id, op, 'failed', { state: 'failed' });
    await expire(id, op);
    expect((await last(id)).body).toEqual({ state: 'failed', description: 'provisioning failed' });
    expect(await last(id, op)).toMatchObject({ status: 400 });

    const { id: ok, operation } = await provisioned([uniqueName('legacy2')]);
    await expire(ok, operation);
    expect(await last(ok)).toEqual({ status: 200, headers: { 'content-type': 'application/json' }, body: { state: 'succeeded', description: 'instance is provisioned' } });
  });
});

// ---- bindings ---------------------------------------------------------------------

describe('bindings (synchronous)', () => {
  const bindPath = (id: string, binding: string) => `/v2/service_instances/${id}/service_bindings/${binding}`;
  const bindBody = (extra: Record<string, unknown> = {}) => ({ service_id: SERVICE_ID, plan_id: STANDARD, ...extra });
  const bind = (id: string, binding: string, extra: Record<string, unknown> = {}) => call('PUT', bindPath(id, binding), { body: bindBody(extra) });

  test('a new binding: 201 with what the app needs to reach the instance, and OSB endpoints', async () => {
    const name = uniqueName('app');
    const hostnamesAsked = [`*.w${counter}.example.org`, name, `shop${counter}.example.org`];
    const { id } = await provisioned(hostnamesAsked, { parameters: params(hostnamesAsked, { regions: ['eu-west-1'] }) });
    const instance = (await store.getInstance(id))!;
    const hostnames = instance.parameters.hostnames;
    const reply = await bind(id, 'b-1', { app_guid: 'app-1', bind_resource: { app_guid: 'app-1' }, context: { platform: 'cf' } });
    expect(reply.status).toBe(201);
    expect(reply.body).toEqual({
      credentials: {
        hostnames,
        endpoint: `https://${name}`,
        endpoints: hostnames.map((h) => `https://${h}`),
        edge_domain: DOMAIN,
        plan: 'standard',
        regions: ['eu-west-1'],
        cname_target: DOMAIN,
        dns_managed_by_platform: [name],
      },
      endpoints: hostnames.map((host) => ({ host, ports: ['443'], protocol: 'tcp' })),
    });
    expect(await store.getBinding(id, 'b-1')).toMatchObject({ appGuid: 'app-1', bindResource: { app_guid: 'app-1' }, context: { platform: 'cf' }, parameters: {}, serviceId: SERVICE_ID, planId: STANDARD });
  });

  test('only wildcards: the endpoint is www under the first; every region: "all"', async () => {
    const w = `w${++counter}.example.org`;
    const { id } = await provisioned([], { parameters: params([`*.${w}`]) });
    const reply = await bind(id, 'b-w');
    expect(reply.body.credentials).toMatchObject({ endpoint: `https://www.${w}`, regions: 'all', dns_managed_by_platform: [] });
  });

  test('cdn: the CNAME target is the distribution once it exists, the platform domain before', async () => {
    const name = uniqueName('cdnb');
    const { id } = await provisioned([name], { plan_id: CDN });
    expect((await bind(id, 'before')).body.credentials).toMatchObject({ plan: 'cdn', cname_target: DOMAIN });
    await store.setResources(id, { distributionDomain: 'd111.cloudfront.net' });
    expect((await bind(id, 'after')).body.credentials.cname_target).toBe('d111.cloudfront.net');
    // A standard instance ignores a recorded distribution (a move to standard in progress).
    const { id: std } = await provisioned([uniqueName('stdb')]);
    await store.setResources(std, { distributionDomain: 'd222.cloudfront.net' });
    expect((await bind(std, 'b')).body.credentials.cname_target).toBe(DOMAIN);
  });

  test('the same binding again: 200 with the same credentials; with other attributes: 409', async () => {
    const { id } = await provisioned([uniqueName('rep')]);
    const first = await bind(id, 'b-r', { app_guid: 'app-1', bind_resource: { app_guid: 'app-1' } });
    const again = await bind(id, 'b-r', { app_guid: 'app-1', bind_resource: { app_guid: 'app-1' } });
    expect(again).toMatchObject({ status: 200, body: first.body });
    for (const other of [{ app_guid: 'app-2', bind_resource: { app_guid: 'app-1' } }, { app_guid: 'app-1', bind_resource: { app_guid: 'app-2' } }, { app_guid: 'app-1', bind_resource: { app_guid: 'app-1' }, plan_id: CDN }, { bind_resource: { app_guid: 'app-1' } }]) {
      expect(await bind(id, 'b-r', other)).toMatchObject({ status: 409, body: { error: 'Conflict', description: 'binding b-r already exists with different attributes' } });
    }
  });

  test('two identical binds at once: both get the credentials', async () => {
    const { id } = await provisioned([uniqueName('rb')]);
    const [a, b] = await Promise.all([bind(id, 'race'), bind(id, 'race')]);
    // One creates it (201); the other finds it, identical (200), or created it in the race it lost.
    expect([a.status, b.status]).toContain(201);
    for (const status of [a.status, b.status]) expect([200, 201]).toContain(status);
    expect(a.body.credentials).toEqual(b.body.credentials);
  });

  test('a bind that loses the race to create it answers as for the binding that won: 200 if identical, 409 if not', async () => {
    const { id } = await provisioned([uniqueName('brace')]);
    for (const [winnerAppGuid, status] of [['app-1', 200], ['app-2', 409]] as const) {
      const binding = `race-${status}`;
      let winner: { status: number; body: { credentials: unknown } } | undefined;
      const racing = storeWith({
        createBinding: async (...args: Parameters<BrokerStore['createBinding']>) => {
          winner = await bind(id, binding, { app_guid: winnerAppGuid });
          return store.createBinding(...args);
        },
      });
      const reply = await call('PUT', bindPath(id, binding), { body: bindBody({ app_guid: 'app-1' }), context: racing });
      expect(winner?.status).toBe(201);
      expect(reply.status).toBe(status);
      if (status === 200) expect(reply.body.credentials).toEqual(winner?.body.credentials);
      expect(await store.getBinding(id, binding)).toMatchObject({ appGuid: winnerAppGuid });
    }
  });

  test('refusals', async () => {
    const { id } = await provisioned([uniqueName('bref')]);
    expect(await call('PUT', bindPath(id, 'x'), { raw: '' })).toMatchObject({ status: 400, body: { description: 'request body: a JSON object is required' } });
    expect(await bind(id, 'x', { service_id: undefined })).toMatchObject({ status: 400, body: { description: 'service_id: is required' } });
    expect(await bind(id, 'x', { plan_id: undefined })).toMatchObject({ status: 400, body: { description: 'plan_id: is required' } });
    expect(await bind(id, 'x', { plan_id: 'gold' })).toMatchObject({ status: 400, body: { description: expect.stringMatching(/^plan_id: unknown plan/) } });
    expect(await bind(id, 'x', { app_guid: 5 })).toMatchObject({ status: 400, body: { description: 'app_guid: must be a non-empty string' } });
    expect(await bind(id, 'x', { bind_resource: 'r' })).toMatchObject({ status: 400, body: { description: 'bind_resource: must be an object' } });
    expect(await bind(id, 'x', { context: 'c' })).toMatchObject({ status: 400, body: { description: 'context: must be an object' } });
    expect(await bind(id, 'x', { parameters: 'p' })).toMatchObject({ status: 400, body: { description: 'parameters: must be an object' } });
    expect(await bind(id, 'x', { parameters: { ttl: 5, role: 'a' } })).toMatchObject({ status: 400, body: { description: 'parameters.ttl: is not a known parameter (bindings take no parameters)' } });
    expect(await store.getBinding(id, 'x')).toBeUndefined();
    const unknown = newId();
    expect(await bind(unknown, 'x')).toMatchObject({ status: 404, body: { description: `instance ${unknown} does not exist` } });
  });

  test('an instance that is provisioning, failed, being deprovisioned or deleted cannot be bound', async () => {
    const id = newId();
    const op = (await provision(id, [uniqueName('np')])).body.operation;
    expect(await bind(id, 'x')).toMatchObject({ status: 422, body: { error: 'ConcurrencyError', description: `instance ${id} is still being provisioned` } });
    await finish(id, op, 'failed', { state: 'failed' });
    expect(await bind(id, 'x')).toMatchObject({ status: 422, body: { error: 'InstanceNotUsable', description: `instance ${id} failed to provision and cannot be bound` } });

    const { id: going } = await provisioned([uniqueName('going')]);
    const dep = (await call('DELETE', `/v2/service_instances/${going}`, { query: DELETE_QUERY })).body.operation;
    expect(await bind(going, 'x')).toMatchObject({ status: 422, body: { error: 'ConcurrencyError', description: `instance ${going} is being deprovisioned` } });
    await finish(going, dep, 'succeeded', { state: 'deleted' });
    expect((await bind(going, 'x')).status).toBe(404);

    // Being updated: bindable (the binding is a view of the instance).
    const { id: upd } = await provisioned([uniqueName('upd')]);
    await call('PATCH', `/v2/service_instances/${upd}`, { query: ASYNC, body: { service_id: SERVICE_ID, parameters: { access_log: { enabled: true } } } });
    expect((await bind(upd, 'x')).status).toBe(201);
  });

  test('fetching a binding recorded without parameters answers parameters {} (OSB: the binding\'s configuration parameters)', async () => {
    const { id } = await provisioned([uniqueName('fnp')]);
    const created = await bind(id, 'b-np');
    const stored = (await store.getBinding(id, 'b-np'))!;
    await store.deleteBinding(id, 'b-np');
    expect(await store.createBinding({ ...stored, parameters: undefined })).toBe(true);
    expect(await call('GET', bindPath(id, 'b-np'))).toEqual({ status: 200, headers: expect.anything(), body: { credentials: created.body.credentials, endpoints: created.body.endpoints, parameters: {} } });
  });

  test('fetch, unbind, and the binding last_operation', async () => {
    const { id } = await provisioned([uniqueName('fb')]);
    const created = await bind(id, 'b-f');
    expect(await call('GET', bindPath(id, 'b-f'))).toMatchObject({ status: 200, body: { credentials: created.body.credentials, endpoints: created.body.endpoints, parameters: {} } });
    expect(await call('GET', `${bindPath(id, 'b-f')}/last_operation`)).toMatchObject({ status: 200, body: { state: 'succeeded', description: 'bindings are created synchronously' } });
    expect(await call('DELETE', bindPath(id, 'b-f'), { query: { service_id: SERVICE_ID } })).toMatchObject({ status: 400, body: { description: 'plan_id: is required (query parameter)' } });
    expect(await call('DELETE', bindPath(id, 'b-f'), { query: { service_id: SERVICE_ID, plan_id: STANDARD } })).toMatchObject({ status: 200, body: {} });
    expect(await store.getBinding(id, 'b-f')).toBeUndefined();
    expect(await call('DELETE', bindPath(id, 'b-f'), { query: { service_id: SERVICE_ID, plan_id: STANDARD } })).toMatchObject({ status: 410, body: {} });
    expect(await call('GET', bindPath(id, 'b-f'))).toMatchObject({ status: 404, body: { error: 'NotFound', description: `binding b-f of instance ${id} does not exist` } });
    expect(await call('GET', `${bindPath(id, 'b-f')}/last_operation`)).toMatchObject({ status: 410, body: {} });
    const unknown = newId();
    expect(await call('GET', `${bindPath(unknown, 'b')}/last_operation`)).toMatchObject({ status: 404, body: { description: `instance ${unknown} does not exist` } });
  });
});
