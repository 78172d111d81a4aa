/**
 * The convergence gate on dynalite + fauxqs: the tests write the reports a regional
 * control plane task writes (pk CONVERGENCE) and watch the operation over the OSB API.
 * An operation succeeds only once the edge holds its generation; a rejection or a
 * timeout fails it and withdraws the change; empty regions pass or wait by the rule;
 * stale reports count for nothing; other instances go on.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ConvergenceReport, RejectedChange, convergenceKey } from '../../lib/model';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { startLocalBroker } from '../../lib/broker/runtime/local/local-broker';
import { ConvergenceSettings, DEFAULT_CONVERGENCE, convergenceSettingsFromEnv, settingsFromEnv } from '../../lib/broker/runtime/settings';
import { judgeConvergence } from '../../lib/broker/runtime/worker/gate';
import {
  LocalBroker,
  brokerFixture,
  OsbCall,
  Reply,
  CDN,
  SERVICE_ID,
  STANDARD,
  osbClient,
  provisionBody,
  sleep,
  startTestBroker,
  testBrokerOptions,
  waitFor,
  waitForOperation,
} from './support';

const fixture = brokerFixture('edge-gate');
const ASYNC = '?accepts_incomplete=true';
/** A node "holding" this generation holds every change the tests make. */
const EVERYTHING = 1_000_000;

async function broker(convergence: Partial<ConvergenceSettings> = {}): Promise<{ b: LocalBroker; call: OsbCall }> {
  const b = await fixture.start({ convergence: { pollSeconds: 0.05, ...convergence } });
  return { b, call: osbClient(b.url) };
}

interface ReportFields {
  readonly connected: number;
  readonly acked?: readonly (readonly [number, number])[];
  readonly rejected?: Record<string, RejectedChange>;
  readonly ageSeconds?: number;
}

/** Writes one control plane task's report, as the control plane does. */
async function report(b: LocalBroker, region: string, taskId: string, fields: ReportFields): Promise<void> {
  const item: ConvergenceReport = {
    region,
    taskId,
    reportedAt: new Date(Date.now() - (fields.ageSeconds ?? 0) * 1000).toISOString(),
    stableGeneration: Math.max(0, ...(fields.acked ?? []).map(([g]) => g)),
    connectedNodes: fields.connected,
    ackedGenerations: fields.acked ?? [],
    rejected: fields.rejected ?? {},
  };
  await b.store.doc.send(new PutCommand({ TableName: b.store.tableName, Item: { ...convergenceKey(region, taskId), kind: 'convergence', ...item } }));
}

async function provision(call: OsbCall, id: string, hostnames: string[], extra: Record<string, unknown> = {}, plan: string = STANDARD): Promise<string> {
  const reply = await call('PUT', `/v2/service_instances/${id}${ASYNC}`, { body: provisionBody(hostnames, extra, plan) });
  expect(reply.status).toBe(202);
  return reply.body.operation as string;
}

async function lastOperation(call: OsbCall, id: string, operationId: string): Promise<Reply> {
  return call('GET', `/v2/service_instances/${id}/last_operation?operation=${operationId}`);
}

/** Polls last_operation until its description matches. */
async function waitForDescription(call: OsbCall, id: string, operationId: string, pattern: RegExp): Promise<Reply> {
  return waitFor(`the description of ${id} to match ${pattern}`, async () => {
    const reply = await lastOperation(call, id, operationId);
    return pattern.test(reply.body?.description ?? '') ? reply : undefined;
  });
}

async function routeGeneration(b: LocalBroker, id: string): Promise<number> {
  return waitFor(`the route of ${id}`, async () => (await b.store.getRoute(id))?.generation);
}

// ---- the gate over the OSB API -------------------------------------------------------

test('a provision succeeds only once every connected proxy holds its generation, with progress in last_operation', async () => {
  const { b, call } = await broker();
  await report(b, 'eu-west-1', 'task-a', { connected: 2, acked: [[0, 2]] });
  await report(b, 'eu-west-1', 'task-b', { connected: 2, acked: [[0, 2]] });
  const operationId = await provision(call, 'gated', ['gated.edge.example.com']);

  const waiting = await waitForDescription(call, 'gated', operationId, /accepted by 0 of 4 proxies/);
  expect(waiting.body.state).toBe('in progress');
  expect(waiting.body.description).toBe(
    'provision: waiting for the edge: accepted by 0 of 4 proxies in 3 regions; no proxies connected in us-east-1, ap-southeast-2; waiting on eu-west-1 (0 of 4)',
  );
  expect(waiting.headers.get('retry-after')).toBe('1');
  const generation = await routeGeneration(b, 'gated');

  await report(b, 'eu-west-1', 'task-a', { connected: 2, acked: [[generation, 2]] });
  await report(b, 'eu-west-1', 'task-b', { connected: 2, acked: [[generation - 1, 1], [generation + 3, 1]] });
  const partly = await waitForDescription(call, 'gated', operationId, /accepted by 3 of 4 proxies/);
  expect(partly.body.state).toBe('in progress');
  expect(partly.body.description).toMatch(/waiting on eu-west-1 \(3 of 4\)$/);

  await report(b, 'eu-west-1', 'task-b', { connected: 2, acked: [[generation + 3, 2]] });
  const done = await waitForOperation(call, 'gated', operationId);
  expect(done.body.state).toBe('succeeded');
  expect(done.body.description).toBe(
    'provisioned: gated.edge.example.com on the standard plan for 3 regions; accepted by 4 of 4 proxies in eu-west-1; no proxies connected yet in us-east-1, ap-southeast-2 (they get it when they connect)',
  );
  const operation = await b.store.getOperation('gated', operationId);
  expect(operation).toMatchObject({ routeGeneration: generation, completedSteps: ['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge'] });
  expect(await b.store.getRoute('gated')).toMatchObject({ generation, deleted: false });
});

test('fraction 0.5: half of the connected proxies (rounded up) are enough', async () => {
  const { b, call } = await broker({ fraction: 0.5 });
  await report(b, 'eu-west-1', 'task-a', { connected: 5, acked: [[0, 5]] });
  const operationId = await provision(call, 'half', ['half.edge.example.com'], { regions: ['eu-west-1'] });
  const generation = await routeGeneration(b, 'half');

  await report(b, 'eu-west-1', 'task-a', { connected: 5, acked: [[generation, 2], [0, 3]] });
  await waitForDescription(call, 'half', operationId, /accepted by 2 of 5 proxies in 1 region; 50% needed per region; waiting on eu-west-1 \(2 of 5\)/);
  await sleep(300); // several polls: 2 of 5 is not enough (ceil(2.5) = 3)
  expect((await lastOperation(call, 'half', operationId)).body.state).toBe('in progress');

  await report(b, 'eu-west-1', 'task-a', { connected: 5, acked: [[generation, 3], [0, 2]] });
  const done = await waitForOperation(call, 'half', operationId);
  expect(done.body).toMatchObject({ state: 'succeeded', description: expect.stringContaining('accepted by 3 of 5 proxies in 1 region; 50% needed per region') });
});

test('empty regions: "pass" counts them as converged, "wait" waits for proxies to connect', async () => {
  const passing = await broker({ emptyRegion: 'pass' });
  const passed = await waitForOperation(passing.call, 'lonely', await provision(passing.call, 'lonely', ['lonely.edge.example.com']));
  expect(passed.body).toMatchObject({
    state: 'succeeded',
    description: 'provisioned: lonely.edge.example.com on the standard plan for 3 regions; no proxy is connected in any of them yet (proxies get it when they connect)',
  });

  const { b, call } = await broker({ emptyRegion: 'wait' });
  const operationId = await provision(call, 'patient', ['patient.edge.example.com'], { regions: ['ap-southeast-2'] });
  await waitForDescription(call, 'patient', operationId, /^provision: waiting for the edge: waiting on ap-southeast-2 \(no proxies connected yet\)$/);
  const generation = await routeGeneration(b, 'patient');
  await sleep(200);
  expect((await lastOperation(call, 'patient', operationId)).body.state).toBe('in progress');

  await report(b, 'ap-southeast-2', 'task-a', { connected: 1, acked: [[generation, 1]] });
  expect((await waitForOperation(call, 'patient', operationId)).body.state).toBe('succeeded');
});

test('"wait" past the timeout: the provision fails naming the lagging region, and the change is withdrawn', async () => {
  const { b, call } = await broker({ emptyRegion: 'wait', timeoutSeconds: 1 });
  await report(b, 'eu-west-1', 'task-a', { connected: 3, acked: [[EVERYTHING, 3]] });
  const operationId = await provision(call, 'late', ['late.edge.example.com'], { regions: ['eu-west-1', 'ap-southeast-2'] });
  const generation = await routeGeneration(b, 'late');
  const started = Date.now();
  const done = await waitForOperation(call, 'late', operationId);
  expect(Date.now() - started).toBeGreaterThanOrEqual(700);
  expect(done.body.state).toBe('failed');
  expect(done.body.description).toMatch(
    /^provision failed: the edge did not take the change within 1 s: accepted by 3 of 3 proxies in 2 regions; waiting on ap-southeast-2 \(no proxies connected yet\)\. The change was withdrawn: the route is removed from the edge \(generation \d+\)/,
  );
  const route = await b.store.getRoute('late');
  expect(route).toMatchObject({ deleted: true });
  expect(route!.generation).toBeGreaterThan(generation);
  expect(await b.store.hostnameOwner('late.edge.example.com')).toBeUndefined();
  expect((b.cloud as LocalCloud).records.has('late.edge.example.com')).toBe(false);
  expect(await b.store.getInstance('late')).toMatchObject({ state: 'failed' });
});

test('stale reports (older than the report TTL) count for nothing', async () => {
  const { b, call } = await broker({ emptyRegion: 'wait' });
  const operationId = await provision(call, 'fresh', ['fresh.edge.example.com'], { regions: ['eu-west-1'] });
  await routeGeneration(b, 'fresh');
  // a dead task's last word: everything held, and a rejection of this very change
  await report(b, 'eu-west-1', 'task-dead', {
    connected: 9,
    acked: [[EVERYTHING, 9]],
    ageSeconds: 60,
    rejected: { fresh: { generation: EVERYTHING, source: 'nack', reason: 'an old NACK', nodes: 9 } },
  });
  await waitForDescription(call, 'fresh', operationId, /waiting on eu-west-1 \(no proxies connected yet\)/);
  await sleep(200);
  expect((await lastOperation(call, 'fresh', operationId)).body.state).toBe('in progress');

  await report(b, 'eu-west-1', 'task-live', { connected: 2, acked: [[EVERYTHING, 2]] });
  const done = await waitForOperation(call, 'fresh', operationId);
  expect(done.body).toMatchObject({ state: 'succeeded', description: expect.stringContaining('accepted by 2 of 2 proxies in 1 region') });
});

test('a rejected provision fails with the error_detail, is withdrawn (tombstone, DNS, claim), and other instances go on', async () => {
  const { b, call } = await broker();
  await report(b, 'eu-west-1', 'task-a', { connected: 3, acked: [[0, 3]] });
  const badId = await provision(call, 'bad', ['bad.edge.example.com'], { regions: ['eu-west-1'] });
  const goodId = await provision(call, 'good', ['good.edge.example.com'], { regions: ['eu-west-1'] });
  const badGeneration = await routeGeneration(b, 'bad');
  const goodGeneration = await routeGeneration(b, 'good');
  await waitForDescription(call, 'bad', badId, /accepted by 0 of 3/);
  await waitForDescription(call, 'good', goodId, /accepted by 0 of 3/);
  expect((b.cloud as LocalCloud).records.has('bad.edge.example.com')).toBe(true);

  const detail = 'Proto constraint validation failed (ClusterValidationError.LoadAssignment): port 0 out of range';
  await report(b, 'eu-west-1', 'task-a', {
    connected: 3,
    acked: [[Math.max(badGeneration, goodGeneration), 3]],
    rejected: { bad: { generation: badGeneration, source: 'nack', reason: detail, nodes: 3 } },
  });
  const failed = await waitForOperation(call, 'bad', badId);
  expect(failed.body.state).toBe('failed');
  expect(failed.body.description).toContain(`provision failed: rejected by the edge in eu-west-1: ${detail} (NACKed by 3 proxies, generation ${badGeneration}). The change was withdrawn`);
  const good = await waitForOperation(call, 'good', goodId);
  expect(good.body.state).toBe('succeeded');

  const route = await b.store.getRoute('bad');
  expect(route).toMatchObject({ deleted: true });
  expect(route!.generation).toBeGreaterThan(badGeneration);
  expect(await b.store.getOperation('bad', badId)).toMatchObject({ withdrawal: { cause: 'rejected' }, withdrawnGeneration: route!.generation });
  expect(await b.store.hostnameOwner('bad.edge.example.com')).toBeUndefined();
  expect((b.cloud as LocalCloud).records.has('bad.edge.example.com')).toBe(false);
  expect(await b.store.getRoute('good')).toMatchObject({ deleted: false, generation: goodGeneration });
  expect(await b.store.hostnameOwner('good.edge.example.com')).toBe('good');

  // the released name is free for another instance
  await report(b, 'eu-west-1', 'task-a', { connected: 3, acked: [[EVERYTHING, 3]] });
  const again = await provision(call, 'bad-fixed', ['bad.edge.example.com'], { regions: ['eu-west-1'] });
  expect((await waitForOperation(call, 'bad-fixed', again)).body.state).toBe('succeeded');
  expect(await b.store.hostnameOwner('bad.edge.example.com')).toBe('bad-fixed');

  // deprovisioning the failed instance leaves the new owner's record and claim alone
  const gone = await call('DELETE', `/v2/service_instances/bad?accepts_incomplete=true&service_id=${SERVICE_ID}&plan_id=${STANDARD}`);
  expect((await waitForOperation(call, 'bad', gone.body.operation)).body.state).toBe('succeeded');
  expect((b.cloud as LocalCloud).records.get('bad.edge.example.com')?.value).toBe('edge.example.com');
  expect(await b.store.hostnameOwner('bad.edge.example.com')).toBe('bad-fixed');
});

test('a rejected update fails usable and repeatable, and the previous route comes back as a newer generation', async () => {
  const { b, call } = await broker();
  await report(b, 'eu-west-1', 'task-a', { connected: 2, acked: [[0, 2]] });
  const provisionId = await provision(call, 'shop', ['shop.edge.example.com'], { regions: ['eu-west-1'] });
  const first = await routeGeneration(b, 'shop');
  await report(b, 'eu-west-1', 'task-a', { connected: 2, acked: [[first, 2]] });
  expect((await waitForOperation(call, 'shop', provisionId)).body.state).toBe('succeeded');
  const before = await b.store.getRoute('shop');
  const parameters = (await call('GET', '/v2/service_instances/shop')).body.parameters;

  const patch = {
    service_id: SERVICE_ID,
    parameters: { hostnames: ['shop.edge.example.com', 'new-shop.edge.example.com'], backends: [{ address: '10.0.0.99', port: 9090, protocol: 'h2' }] },
  };
  const reply = await call('PATCH', `/v2/service_instances/shop${ASYNC}`, { body: patch });
  expect(reply.status).toBe(202);
  const second = await waitFor('the updated route', async () => {
    const g = (await b.store.getRoute('shop'))?.generation;
    return g !== undefined && g > first ? g : undefined;
  });
  await waitForDescription(call, 'shop', reply.body.operation, /update: waiting for the edge: accepted by 0 of 2 proxies/);
  expect((b.cloud as LocalCloud).records.has('new-shop.edge.example.com')).toBe(true);

  await report(b, 'eu-west-1', 'task-a', {
    connected: 2,
    acked: [[first, 2]],
    rejected: { shop: { generation: second, source: 'validation', reason: 'backends[0]: h2 upstream 10.0.0.99:9090 failed validation', nodes: 0 } },
  });
  const failed = await waitForOperation(call, 'shop', reply.body.operation);
  expect(failed.body).toMatchObject({ state: 'failed', instance_usable: true, update_repeatable: true });
  expect(failed.body.description).toMatch(
    /^update failed: rejected by the edge in eu-west-1: backends\[0\]: h2 upstream 10\.0\.0\.99:9090 failed validation \(the control plane refused to render it, generation \d+\)\. The change was withdrawn: the edge returns to the previous configuration \(generation \d+\)/,
  );

  const restored = await b.store.getRoute('shop');
  expect(restored!.generation).toBeGreaterThan(second);
  expect(restored).toMatchObject({ deleted: false, plan: 'standard', spec: before!.spec });
  expect((await call('GET', '/v2/service_instances/shop')).body.parameters).toEqual(parameters);
  expect(await b.store.hostnameOwner('new-shop.edge.example.com')).toBeUndefined();
  expect(await b.store.hostnameOwner('shop.edge.example.com')).toBe('shop');
  expect((b.cloud as LocalCloud).records.has('new-shop.edge.example.com')).toBe(false);
  expect((b.cloud as LocalCloud).records.get('shop.edge.example.com')?.value).toBe('edge.example.com');

  // the instance is still usable: a corrected update goes through
  await report(b, 'eu-west-1', 'task-a', { connected: 2, acked: [[EVERYTHING, 2]] });
  const fixed = await call('PATCH', `/v2/service_instances/shop${ASYNC}`, { body: { service_id: SERVICE_ID, parameters: { backends: [{ address: '10.0.0.99', port: 9090, protocol: 'http' }] } } });
  expect((await waitForOperation(call, 'shop', fixed.body.operation)).body.state).toBe('succeeded');
});

test('a rejected move to the cdn plan points DNS back at the edge and restores the standard route', async () => {
  const { b, call } = await broker();
  const cloud = b.cloud as LocalCloud;
  await report(b, 'eu-west-1', 'task-a', { connected: 2, acked: [[EVERYTHING, 2]] });
  const provisionId = await provision(call, 'moving', ['moving.edge.example.com'], { regions: ['eu-west-1'] });
  expect((await waitForOperation(call, 'moving', provisionId)).body.state).toBe('succeeded');
  const first = (await b.store.getRoute('moving'))!;

  await report(b, 'eu-west-1', 'task-a', { connected: 2, acked: [[first.generation, 2]] });
  const toCdn = await call('PATCH', `/v2/service_instances/moving${ASYNC}`, { body: { service_id: SERVICE_ID, plan_id: CDN } });
  expect(toCdn.status).toBe(202);
  await waitForDescription(call, 'moving', toCdn.body.operation, /update: waiting for the edge/);
  const distribution = [...cloud.distributions.values()][0];
  expect(cloud.records.get('moving.edge.example.com')?.value).toBe(distribution.domainName);
  const second = (await b.store.getRoute('moving'))!.generation;
  await report(b, 'eu-west-1', 'task-a', {
    connected: 2,
    acked: [[first.generation, 2]],
    rejected: { moving: { generation: second, source: 'canary-health', reason: 'canaries stopped answering /ready', nodes: 1 } },
  });
  const failed = await waitForOperation(call, 'moving', toCdn.body.operation);
  expect(failed.body).toMatchObject({ state: 'failed', instance_usable: true, update_repeatable: true });
  expect(failed.body.description).toMatch(/rejected by the edge in eu-west-1: canaries stopped answering \/ready \(the canary's health dropped on 1 proxy/);
  expect(cloud.records.get('moving.edge.example.com')?.value).toBe('edge.example.com');
  expect(await b.store.getRoute('moving')).toMatchObject({ plan: 'standard', spec: first.spec, deleted: false });
  expect((await call('GET', '/v2/service_instances/moving')).body.plan_id).toBe(STANDARD);
});

test('an update that drops a region also waits for that region to drop the route', async () => {
  const { b, call } = await broker();
  await report(b, 'eu-west-1', 'task-a', { connected: 1, acked: [[EVERYTHING, 1]] });
  await report(b, 'ap-southeast-2', 'task-a', { connected: 1, acked: [[EVERYTHING, 1]] });
  const provisionId = await provision(call, 'shrink', ['shrink.edge.example.com'], { regions: ['eu-west-1', 'ap-southeast-2'] });
  expect((await waitForOperation(call, 'shrink', provisionId)).body.state).toBe('succeeded');
  const first = (await b.store.getRoute('shrink'))!.generation;

  await report(b, 'eu-west-1', 'task-a', { connected: 1, acked: [[EVERYTHING, 1]] });
  await report(b, 'ap-southeast-2', 'task-a', { connected: 1, acked: [[first, 1]] });
  const reply = await call('PATCH', `/v2/service_instances/shrink${ASYNC}`, { body: { service_id: SERVICE_ID, parameters: { regions: ['eu-west-1'] } } });
  expect(reply.status).toBe(202);
  await waitForDescription(call, 'shrink', reply.body.operation, /accepted by 1 of 2 proxies in 2 regions; waiting on ap-southeast-2 \(0 of 1\)/);
  await report(b, 'ap-southeast-2', 'task-a', { connected: 1, acked: [[EVERYTHING, 1]] });
  expect((await waitForOperation(call, 'shrink', reply.body.operation)).body.state).toBe('succeeded');
});

test('a deprovision waits until the edge holds the tombstone', async () => {
  const { b, call } = await broker();
  await report(b, 'eu-west-1', 'task-a', { connected: 2, acked: [[0, 2]] });
  const provisionId = await provision(call, 'gone', ['gone.edge.example.com'], { regions: ['eu-west-1'] });
  const generation = await routeGeneration(b, 'gone');
  await report(b, 'eu-west-1', 'task-a', { connected: 2, acked: [[generation, 2]] });
  expect((await waitForOperation(call, 'gone', provisionId)).body.state).toBe('succeeded');

  const reply = await call('DELETE', `/v2/service_instances/gone?accepts_incomplete=true&service_id=${SERVICE_ID}&plan_id=${STANDARD}`);
  expect(reply.status).toBe(202);
  await waitForDescription(call, 'gone', reply.body.operation, /deprovision: waiting for the edge: accepted by 0 of 2 proxies in 1 region/);
  const tombstone = await b.store.getRoute('gone');
  expect(tombstone).toMatchObject({ deleted: true });
  // a rejection never holds up a removal
  await report(b, 'eu-west-1', 'task-a', {
    connected: 2,
    acked: [[tombstone!.generation, 2]],
    rejected: { gone: { generation: tombstone!.generation, source: 'nack', reason: 'ignored', nodes: 1 } },
  });
  expect((await waitForOperation(call, 'gone', reply.body.operation)).body).toMatchObject({
    state: 'succeeded',
    description: 'deprovisioned: the DNS records, the route and the hostname claims are removed',
  });
  expect((await call('GET', '/v2/service_instances/gone/last_operation')).status).toBe(200);
});

test('a cdn deprovision says its CloudFront distribution and certificate are removed (and a standard one does not)', async () => {
  const { call } = await broker({ emptyRegion: 'pass' });
  const provisionId = await provision(call, 'fronted', ['fronted.edge.example.com'], { regions: ['eu-west-1'] }, CDN);
  expect((await waitForOperation(call, 'fronted', provisionId)).body).toMatchObject({
    state: 'succeeded',
    description: 'provisioned: fronted.edge.example.com on the cdn plan for 1 region; no proxy is connected in any of them yet (proxies get it when they connect)',
  });
  const reply = await call('DELETE', `/v2/service_instances/fronted?accepts_incomplete=true&service_id=${SERVICE_ID}&plan_id=${CDN}`);
  expect((await waitForOperation(call, 'fronted', reply.body.operation)).body).toMatchObject({
    state: 'succeeded',
    description: 'deprovisioned: the DNS records, the CloudFront distribution and its certificate, the route and the hostname claims are removed',
  });
});

test('a broker restarted while the gate waits resumes the wait, and the timeout still counts from the first look', async () => {
  const tableName = `edge-gate-restart`;
  const first = await startTestBroker(fixture.emulators, { tableName, convergence: { pollSeconds: 0.05, emptyRegion: 'wait', timeoutSeconds: 30 } });
  fixture.track(first);
  const call1 = osbClient(first.url);
  const operationId = await provision(call1, 'resumed', ['resumed.edge.example.com'], { regions: ['eu-west-1'] });
  await waitForDescription(call1, 'resumed', operationId, /waiting on eu-west-1/);
  const startedAt = (await first.store.getOperation('resumed', operationId))!.convergeStartedAt;
  expect(startedAt).toBeGreaterThan(0);
  await first.stop();

  const second = await startTestBroker(fixture.emulators, { tableName, convergence: { pollSeconds: 0.05, emptyRegion: 'wait', timeoutSeconds: 30 } });
  fixture.track(second);
  expect(second.resumed).toBe(1);
  const call2 = osbClient(second.url);
  await sleep(200);
  expect((await lastOperation(call2, 'resumed', operationId)).body).toMatchObject({ state: 'in progress', description: expect.stringMatching(/waiting on eu-west-1/) });
  expect((await second.store.getOperation('resumed', operationId))!.convergeStartedAt).toBe(startedAt);

  await report(second, 'eu-west-1', 'task-a', { connected: 1, acked: [[EVERYTHING, 1]] });
  expect((await waitForOperation(call2, 'resumed', operationId)).body.state).toBe('succeeded');
});

// ---- the gate as a function, and its settings ---------------------------------------

describe('judgeConvergence', () => {
  const regions = Array.from({ length: 13 }, (_, i) => `region-${i + 1}`);
  const now = new Date('2026-11-22T04:00:00Z');
  const fleet = (acceptedIn: (i: number) => number): ConvergenceReport[] =>
    regions.map((region, i) => ({
      region,
      taskId: 't1',
      reportedAt: now.toISOString(),
      stableGeneration: 7,
      connectedNodes: i < 12 ? 154 : 152,
      ackedGenerations: [
        [7, acceptedIn(i)],
        [6, (i < 12 ? 154 : 152) - acceptedIn(i)],
      ],
      rejected: {},
    }));
  const question = { instanceId: 'x', generation: 7, regions, rejectable: true };

  test('counts proxies across regions with thousands separators, and counts many lagging regions', () => {
    // 12 x 154 + 152 = 2,000 connected; 1,412 hold generation 7
    const verdict = judgeConvergence(question, fleet((i) => (i < 12 ? 110 : 92)), DEFAULT_CONVERGENCE, now);
    expect(verdict).toEqual({ kind: 'waiting', progress: 'accepted by 1,412 of 2,000 proxies in 13 regions; 13 regions lagging' });
  });

  test('names a few lagging regions, and converges when every region holds it', () => {
    expect(judgeConvergence(question, fleet((i) => (i === 4 ? 150 : i < 12 ? 154 : 152)), DEFAULT_CONVERGENCE, now)).toEqual({
      kind: 'waiting',
      progress: 'accepted by 1,996 of 2,000 proxies in 13 regions; waiting on region-5 (150 of 154)',
    });
    expect(judgeConvergence(question, fleet((i) => (i < 12 ? 154 : 152)), DEFAULT_CONVERGENCE, now)).toEqual({
      kind: 'converged',
      summary: 'accepted by 2,000 of 2,000 proxies in 13 regions',
    });
  });

  test('fraction 0.1 of 30 needs 3 (no floating-point round-up to 4)', () => {
    const reports: ConvergenceReport[] = [{ region: 'r', taskId: 't', reportedAt: now.toISOString(), stableGeneration: 7, connectedNodes: 30, ackedGenerations: [[7, 3]], rejected: {} }];
    expect(judgeConvergence({ ...question, regions: ['r'] }, reports, { ...DEFAULT_CONVERGENCE, fraction: 0.1 }, now).kind).toBe('converged');
  });

  test('a rejection of an older generation is not this change', () => {
    const reports: ConvergenceReport[] = [
      { region: 'r', taskId: 't', reportedAt: now.toISOString(), stableGeneration: 7, connectedNodes: 1, ackedGenerations: [[7, 1]], rejected: { x: { generation: 6, source: 'nack', reason: 'old', nodes: 1 } } },
    ];
    expect(judgeConvergence({ ...question, regions: ['r'] }, reports, DEFAULT_CONVERGENCE, now).kind).toBe('converged');
    expect(judgeConvergence({ ...question, regions: ['r'], generation: 6 }, reports, DEFAULT_CONVERGENCE, now).kind).toBe('rejected');
  });
});

describe('convergence settings', () => {
  test('defaults: every proxy, empty regions pass, 600 s, a poll every 2 s', () => {
    expect(convergenceSettingsFromEnv({})).toEqual({ fraction: 1, emptyRegion: 'pass', timeoutSeconds: 600, pollSeconds: 2 });
    const env = { EDGE_TABLE_NAME: 't', EDGE_QUEUE_URL: 'q', EDGE_DOMAIN: 'edge.example.com', EDGE_REGIONS: 'eu-west-1' };
    expect(settingsFromEnv(env).convergence).toEqual(DEFAULT_CONVERGENCE);
    expect(
      settingsFromEnv({ ...env, EDGE_CONVERGENCE_FRACTION: '0.9', EDGE_CONVERGENCE_EMPTY_REGION: 'WAIT', EDGE_CONVERGENCE_TIMEOUT_SECONDS: '120', EDGE_CONVERGENCE_POLL_SECONDS: '5' }).convergence,
    ).toEqual({ fraction: 0.9, emptyRegion: 'wait', timeoutSeconds: 120, pollSeconds: 5 });
  });

  test.each([
    ['EDGE_CONVERGENCE_FRACTION', '0', /EDGE_CONVERGENCE_FRACTION: must be a number greater than 0 and at most 1/],
    ['EDGE_CONVERGENCE_FRACTION', '1.5', /EDGE_CONVERGENCE_FRACTION: must be a number greater than 0 and at most 1/],
    ['EDGE_CONVERGENCE_FRACTION', 'half', /EDGE_CONVERGENCE_FRACTION: must be a number \(got "half"\)/],
    ['EDGE_CONVERGENCE_EMPTY_REGION', 'skip', /EDGE_CONVERGENCE_EMPTY_REGION: must be "pass" or "wait" \(got "skip"\)/],
    ['EDGE_CONVERGENCE_TIMEOUT_SECONDS', '0', /EDGE_CONVERGENCE_TIMEOUT_SECONDS: must be a number of seconds greater than 0/],
    ['EDGE_CONVERGENCE_TIMEOUT_SECONDS', '-5', /EDGE_CONVERGENCE_TIMEOUT_SECONDS: must be a number \(got "-5"\)/],
    ['EDGE_CONVERGENCE_POLL_SECONDS', '1000', /EDGE_CONVERGENCE_POLL_SECONDS: must be a number of seconds greater than 0 and at most 900/],
  ])('%s=%s: a clear error naming the variable', (name, value, error) => {
    expect(() => convergenceSettingsFromEnv({ [name]: value })).toThrow(error);
  });

  test('startLocalBroker refuses a bad option, naming it', async () => {
    await expect(startLocalBroker(testBrokerOptions(fixture.emulators, { tableName: 'edge-gate-bad', convergence: { fraction: 2 } }))).rejects.toThrow(
      /startLocalBroker option convergence\.fraction \(environment EDGE_CONVERGENCE_FRACTION\): must be a number greater than 0 and at most 1/,
    );
  });
});
