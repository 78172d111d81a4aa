/**
 * The worker on dynalite + fauxqs with the real SDK clients: redelivery, a crash between
 * steps, two instances racing for one hostname, delete during provision, DLQ after
 * retries, a failed update, CloudFront waits, and state surviving a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { BrokerStore } from '../../lib/broker/runtime/store/store';
import { WorkerContext, workOnOperation } from '../../lib/broker/runtime/worker/worker';
import {
  CDN,
  DynamoDBClient,
  GatedCloud,
  LocalBroker,
  brokerFixture,
  SERVICE_ID,
  STANDARD,
  localClientConfig,
  osbClient,
  provisionBody,
  startEmulators,
  startTestBroker,
  testWorkerContext,
  waitFor,
  waitForOperation,
} from './support';

const fixture = brokerFixture('edge-worker');
const ASYNC = '?accepts_incomplete=true';

/** Each test gets its own table and queue. */
async function broker(overrides: Parameters<typeof startTestBroker>[1] = {}): Promise<LocalBroker> {
  return fixture.start(overrides);
}

function workerContext(b: LocalBroker, cloud = b.cloud): WorkerContext {
  return testWorkerContext(b, new SQSClient(localClientConfig(fixture.emulators.sqsEndpoint)), { cloud });
}

async function provision(b: LocalBroker, id: string, hostnames: string[], plan: string = STANDARD): Promise<string> {
  const reply = await osbClient(b.url)('PUT', `/v2/service_instances/${id}${ASYNC}`, { body: provisionBody(hostnames, {}, plan) });
  expect(reply.status).toBe(202);
  return reply.body.operation as string;
}

test('redelivery: the same message twice (at once, and after success) does no harm', async () => {
  const b = await broker({ worker: { enabled: false } });
  const operationId = await provision(b, 'redeliver', ['twice.edge.example.com']);
  const ctx = workerContext(b);
  const ref = { instanceId: 'redeliver', operationId };

  const settled = await Promise.all([workOnOperation(ctx, ref, 1), workOnOperation(ctx, ref, 1)]);
  expect(settled).toEqual([{ kind: 'ack' }, { kind: 'ack' }]);
  const operation = await b.store.getOperation('redeliver', operationId);
  expect(operation).toMatchObject({ state: 'succeeded' });
  expect(operation!.completedSteps).toEqual(['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge']);
  expect(await b.store.getInstance('redeliver')).toMatchObject({ state: 'provisioned' });

  const cloud = b.cloud as LocalCloud;
  const actions = cloud.actions.length;
  const generation = (await b.store.getRoute('redeliver'))!.generation;
  expect(await workOnOperation(ctx, ref, 2)).toEqual({ kind: 'ack' });
  expect(cloud.actions.length).toBe(actions);
  expect((await b.store.getRoute('redeliver'))!.generation).toBe(generation);
  expect(cloud.records.get('twice.edge.example.com')?.value).toBe('edge.example.com');
});

test('a provision that crashed between its operation and instance writes is closed without blaming the user', async () => {
  const b = await broker({ worker: { enabled: false } });
  const operationId = await provision(b, 'model', ['orphan.edge.example.com']);
  // The API writes the operation, then the instance: a crash in between leaves only the operation.
  const written = (await b.store.getOperation('model', operationId))!;
  await b.store.putOperation({ ...written, instanceId: 'orphan' });
  const ctx = workerContext(b);
  const actions = (b.cloud as LocalCloud).actions.length;

  expect(await workOnOperation(ctx, { instanceId: 'orphan', operationId }, 1)).toEqual({ kind: 'ack' });
  const closed = await b.store.getOperation('orphan', operationId);
  expect(closed).toMatchObject({ state: 'failed', description: 'provision interrupted before the instance was recorded (the request was never accepted); nothing was created' });
  expect(closed!.completedSteps).toEqual([]);
  expect((b.cloud as LocalCloud).actions.length).toBe(actions);
  expect(await b.store.getInstance('orphan')).toBeUndefined();
});

test('a crash between steps: a new worker resumes after the last completed step', async () => {
  const cloud = new GatedCloud();
  cloud.hold();
  const tableName = `edge-worker-crash`;
  const first = await broker({ tableName, cloud, worker: { stopGraceMs: 100 } });
  const operationId = await provision(first, 'crash', ['crash.edge.example.com']);
  await cloud.entered; // the worker is inside the dns-records step
  const before = await first.store.getOperation('crash', operationId);
  expect(before).toMatchObject({ state: 'in progress', step: 'dns-records', completedSteps: ['validate', 'claim-hostnames', 'write-route'] });
  const generation = (await first.store.getRoute('crash'))!.generation;
  await first.stop(); // the in-flight step never finishes: as if the process died

  const second = await broker({ tableName });
  expect(second.resumed).toBe(1);
  const done = await waitForOperation(osbClient(second.url), 'crash', operationId);
  expect(done.body).toMatchObject({ state: 'succeeded' });
  // write-route was not repeated: the generation is the one written before the crash
  expect((await second.store.getRoute('crash'))!.generation).toBe(generation);
  expect((second.cloud as LocalCloud).records.get('crash.edge.example.com')).toBeDefined();
});

test('a hostname claimed and released by others on every try: the claim gives up after three tries, with a retryable error', async () => {
  const b = await broker({ worker: { enabled: false } });
  expect(await b.store.claimHostname('flapping.edge.example.com', 'someone-else')).toEqual({ claimed: true });
  // Every read after a refused write finds the name free again, as if released in between.
  class FlappingStore extends BrokerStore {
    reads = 0;
    override async hostnameOwner(): Promise<string | undefined> {
      this.reads++;
      return undefined;
    }
  }
  const store = new FlappingStore(new DynamoDBClient(localClientConfig(fixture.emulators.dynamodbEndpoint)), b.store.tableName);
  await expect(store.claimHostname('flapping.edge.example.com', 'me')).rejects.toThrow('hostname flapping.edge.example.com: claimed and released by others while claiming it; try again');
  expect(store.reads).toBe(3);
});

test('two instances racing for one hostname: exactly one wins, the other fails with a reason', async () => {
  const b = await broker({ worker: { enabled: false } });
  const [a, c] = await Promise.all([provision(b, 'racer-a', ['contested.edge.example.com']), provision(b, 'racer-b', ['contested.edge.example.com'])]);
  const ctx = workerContext(b);
  await Promise.all([workOnOperation(ctx, { instanceId: 'racer-a', operationId: a }, 1), workOnOperation(ctx, { instanceId: 'racer-b', operationId: c }, 1)]);
  const states = [await b.store.getOperation('racer-a', a), await b.store.getOperation('racer-b', c)];
  expect(states.map((s) => s!.state).sort()).toEqual(['failed', 'succeeded']);
  const winner = states[0]!.state === 'succeeded' ? 'racer-a' : 'racer-b';
  const loser = states.find((s) => s!.state === 'failed')!;
  expect(loser.description).toMatch(/hostnames\[0\]: contested\.edge\.example\.com is already served by another instance/);
  expect(await b.store.hostnameOwner('contested.edge.example.com')).toBe(winner);
  const polled = await osbClient(b.url)('GET', `/v2/service_instances/${loser.instanceId}/last_operation`);
  expect(polled.body).toMatchObject({ state: 'failed' });

  // and the claim itself, many at once
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => b.store.claimHostname('hot.edge.example.com', `claimer-${i}`)));
  expect(results.filter((r) => r.claimed)).toHaveLength(1);
});

test('delete during provision halts it and removes whatever it created', async () => {
  const cloud = new GatedCloud();
  cloud.hold();
  const b = await broker({ cloud });
  const call = osbClient(b.url);
  const provisionId = await provision(b, 'doomed', ['doomed.edge.example.com']);
  await cloud.entered; // route written, DNS record being written

  const reply = await call('DELETE', `/v2/service_instances/doomed?accepts_incomplete=true&service_id=${SERVICE_ID}&plan_id=${STANDARD}`);
  expect(reply.status).toBe(202);
  // the deprovision waits for the provision to leave its step
  await waitFor('the deprovision to wait', async () => (await b.store.getOperation('doomed', reply.body.operation))?.description.includes('halting'));
  cloud.open();

  const done = await waitForOperation(call, 'doomed', reply.body.operation);
  expect(done.body).toMatchObject({ state: 'succeeded' });
  expect(await b.store.getOperation('doomed', provisionId)).toMatchObject({ state: 'failed', description: expect.stringMatching(/cancelled/) });
  expect(cloud.records.size).toBe(0); // the record written after the cancel is gone too
  expect(await b.store.getRoute('doomed')).toMatchObject({ deleted: true });
  expect(await b.store.hostnameOwner('doomed.edge.example.com')).toBeUndefined();
  expect(await call('GET', '/v2/service_instances/doomed/last_operation')).toMatchObject({ status: 200, body: { state: 'succeeded' } });
});

test('a step that keeps failing: retried, then the operation fails with the reason and the message lands in the DLQ', async () => {
  const cloud = new GatedCloud();
  cloud.failUpserts = true;
  const b = await broker({ cloud, worker: { maxAttempts: 3 } });
  const operationId = await provision(b, 'unlucky', ['unlucky.edge.example.com']);
  const done = await waitForOperation(osbClient(b.url), 'unlucky', operationId);
  expect(done.body.state).toBe('failed');
  expect(done.body.description).toMatch(/provision failed while writing DNS records: gave up after 3 attempts: Route 53 is unavailable \(injected\)/);
  expect(done.body.description).toMatch(/Deprovision the instance/);

  const sqs = new SQSClient(localClientConfig(fixture.emulators.sqsEndpoint));
  const dead = await waitFor('the message in the DLQ', async () => {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: b.dlqUrl, WaitTimeSeconds: 1 }));
    return out.Messages?.[0];
  });
  expect(JSON.parse(dead.Body!)).toEqual({ instanceId: 'unlucky', operationId });
  await sqs.send(new DeleteMessageCommand({ QueueUrl: b.dlqUrl, ReceiptHandle: dead.ReceiptHandle }));
  sqs.destroy();

  // the failed instance can still be deprovisioned (orphan mitigation)
  cloud.failUpserts = false;
  const call = osbClient(b.url);
  const reply = await call('DELETE', `/v2/service_instances/unlucky?accepts_incomplete=true&service_id=${SERVICE_ID}&plan_id=${STANDARD}`);
  expect((await waitForOperation(call, 'unlucky', reply.body.operation)).body.state).toBe('succeeded');
  expect(await b.store.getRoute('unlucky')).toMatchObject({ deleted: true });
});

test('a failed update reports instance_usable and update_repeatable, keeps the parameters, and can be repeated', async () => {
  const cloud = new GatedCloud();
  const b = await broker({ cloud, worker: { maxAttempts: 2 } });
  const call = osbClient(b.url);
  await waitForOperation(call, 'upd', await provision(b, 'upd', ['upd.edge.example.com']));
  const before = (await call('GET', '/v2/service_instances/upd')).body.parameters;

  cloud.failUpserts = true;
  const patch = { service_id: SERVICE_ID, parameters: { hostnames: ['upd.edge.example.com', 'upd2.edge.example.com'] } };
  const failed = await call('PATCH', `/v2/service_instances/upd${ASYNC}`, { body: patch });
  const result = await waitForOperation(call, 'upd', failed.body.operation);
  expect(result.body).toMatchObject({ state: 'failed', instance_usable: true, update_repeatable: true });
  expect(result.body.description).toMatch(/update failed while writing DNS records/);
  expect((await call('GET', '/v2/service_instances/upd')).body.parameters).toEqual(before);

  cloud.failUpserts = false;
  const again = await call('PATCH', `/v2/service_instances/upd${ASYNC}`, { body: patch });
  expect((await waitForOperation(call, 'upd', again.body.operation)).body.state).toBe('succeeded');
  expect((await call('GET', '/v2/service_instances/upd')).body.parameters.hostnames).toEqual(patch.parameters.hostnames);
});

test('cdn: the worker waits for CloudFront by re-enqueueing, then succeeds', async () => {
  // CloudFront reports the new distribution InProgress for three polls, then Deployed.
  const cloud = new LocalCloud({ deployPolls: 3 });
  const b = await broker({ cloud, worker: { enabled: false } });
  const operationId = await provision(b, 'cdn-1', ['cdn.edge.example.com'], CDN);
  const ref = { instanceId: 'cdn-1', operationId };
  // The worker is driven by hand, one delivery at a time: each delivery either finishes the
  // operation or re-enqueues it (recorded here), and says what it waits for.
  const base = workerContext(b, cloud);
  const enqueued: Array<{ ref: unknown; delaySeconds?: number }> = [];
  const ctx: WorkerContext = { ...base, queue: { enqueue: async (r, delaySeconds) => void enqueued.push({ ref: r, delaySeconds }) } as WorkerContext['queue'] };
  const descriptions: string[] = [];
  for (let delivery = 1; delivery <= 20; delivery++) {
    const before = enqueued.length;
    expect(await workOnOperation(ctx, ref, 1)).toEqual({ kind: 'ack' });
    const operation = (await b.store.getOperation('cdn-1', operationId))!;
    if (operation.state !== 'in progress') break;
    descriptions.push(operation.description);
    // Not finished: this delivery must have put the message back, or nothing would run it again.
    expect(enqueued.length).toBe(before + 1);
  }
  expect(await b.store.getOperation('cdn-1', operationId)).toMatchObject({ state: 'succeeded' });
  const waitingForCloudFront = 'provision: creating the CloudFront distribution: waiting for CloudFront to deploy the distribution';
  // One wait per InProgress answer, each a re-enqueue of the same operation with the poll delay.
  expect(descriptions.filter((d) => d === waitingForCloudFront)).toHaveLength(3);
  expect(enqueued.length).toBe(descriptions.length);
  for (const e of enqueued) expect(e).toEqual({ ref, delaySeconds: base.options.waitSeconds });
  const [distribution] = [...cloud.distributions.values()];
  expect(cloud.records.get('cdn.edge.example.com')?.value).toBe(distribution.domainName);
  expect([...cloud.certificates.values()][0].status).toBe('ISSUED');
  expect(cloud.actions.map((a) => a.action)).toEqual(['acm:RequestCertificate', 'route53:UPSERT', 'acm:Issued', 'cloudfront:CreateDistribution', 'route53:UPSERT']);
});

test('with a data dir, instances and recorded cloud state survive a restart', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edge-broker-'));
  try {
    const firstEmulators = await startEmulators({ dataDir });
    const first = await startTestBroker(firstEmulators, { dataDir });
    const call1 = osbClient(first.url);
    await waitForOperation(call1, 'kept', await provision(first, 'kept', ['kept.edge.example.com']));
    await first.stop();
    await firstEmulators.stop();

    const secondEmulators = await startEmulators({ dataDir });
    const second = await startTestBroker(secondEmulators, { dataDir });
    try {
      const reply = await osbClient(second.url)('GET', '/v2/service_instances/kept');
      expect(reply).toMatchObject({ status: 200, body: { plan_id: STANDARD } });
      expect((second.cloud as LocalCloud).records.get('kept.edge.example.com')?.value).toBe('edge.example.com');
    } finally {
      await second.stop();
      await secondEmulators.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
