/**
 * The stuck-operation sweeper and the worker's step claim, on dynalite + fauxqs with the
 * real SDK clients: an operation whose queue message was lost is re-enqueued and then
 * completes; an operation past its deadline is counted as stuck; a duplicated message runs
 * no step twice; the Lambda entry sweeps and flushes its metrics to stdout.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { BROKER_METRICS } from '../../lib/model';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { sweepOptionsFromEnv } from '../../lib/broker/runtime/lambda/sweeper';
import { DEFAULT_CONVERGENCE, DEFAULT_CUSTOM_DOMAINS } from '../../lib/broker/runtime/settings';
import { OperationRecord } from '../../lib/broker/runtime/store/types';
import { operationDeadline } from '../../lib/broker/runtime/worker/sweep';
import { WorkerContext, workOnOperation } from '../../lib/broker/runtime/worker/worker';
import { ensureBrokerTable } from '../../lib/local/emulators';
import { GatedCloud, LocalBroker, brokerFixture, localClientConfig, testWorkerContext, osbClient, provisionBody, waitForOperation } from './support';

const fixture = brokerFixture('edge-sweeper');
const ASYNC = '?accepts_incomplete=true';
const MINUTE = 60_000;

async function provision(b: LocalBroker, id: string, hostnames: string[]): Promise<string> {
  const reply = await osbClient(b.url)('PUT', `/v2/service_instances/${id}${ASYNC}`, { body: provisionBody(hostnames, { regions: ['us-east-1'] }) });
  expect(reply.status).toBe(202);
  return reply.body.operation as string;
}

/** Receives and deletes every message on a queue; returns their bodies. */
async function drain(queueUrl: string): Promise<string[]> {
  const sqs = new SQSClient(localClientConfig(fixture.emulators.sqsEndpoint));
  const bodies: string[] = [];
  try {
    for (;;) {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (!out.Messages?.length) return bodies;
      for (const m of out.Messages) {
        bodies.push(m.Body!);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
  } finally {
    sqs.destroy();
  }
}

function workerContext(b: LocalBroker): { ctx: WorkerContext; sqs: SQSClient } {
  const sqs = new SQSClient(localClientConfig(fixture.emulators.sqsEndpoint));
  return { sqs, ctx: testWorkerContext(b, sqs, { leaseSeconds: 30 }) };
}

test('an operation whose message was lost is re-enqueued by the sweeper, then completes (periodic local sweep)', async () => {
  const tableName = 'edge-sweeper-lost';
  // B works on the table with a fast sweeper; A accepts requests on the same table but sends
  // its messages to a queue nobody reads: from B's side, the message of A's operation is lost.
  const lines: string[] = [];
  const b = await fixture.start({ tableName, queueName: 'sweeper-lost-b', metrics: (line) => lines.push(line), sweeper: { intervalSeconds: 0.2, staleAfterSeconds: 1 } });
  const a = await fixture.start({ tableName, queueName: 'sweeper-lost-a', worker: { enabled: false }, sweeper: { enabled: false } });
  const operationId = await provision(a, 'lost', ['lost.edge.example.com']);

  // A deadline, not a speed check: generous, as the shared CI machine can be loaded.
  const done = await waitForOperation(osbClient(b.url), 'lost', operationId, 60_000);
  expect(done.body.state).toBe('succeeded');
  const operation = await b.store.getOperation('lost', operationId);
  expect(operation).toMatchObject({ sweeps: 1 });
  expect(operation!.lastSweptAt).toEqual(expect.any(String));
  expect((b.cloud as LocalCloud).records.get('lost.edge.example.com')).toBeDefined();
  // The sweeper's EMF: one re-enqueue in all, nothing stuck.
  const docs = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((d) => d.service === 'edge-broker-sweeper');
  expect(docs.length).toBeGreaterThan(0);
  expect(docs.reduce((n, d) => n + (d[BROKER_METRICS.operationsReenqueued] as number), 0)).toBe(1);
  expect(docs.every((d) => d[BROKER_METRICS.operationsStuck] === 0)).toBe(true);
});

test('sweep(): only silent operations outside a step are re-enqueued, once per silence, at most maxSweeps times; the queue message then completes the operation', async () => {
  const b = await fixture.start({ worker: { enabled: false }, sweeper: { enabled: false, maxSweeps: 2 } });
  const operationId = await provision(b, 'silent', ['silent.edge.example.com']);
  // The API's message is lost.
  expect(await drain(b.queueUrl)).toHaveLength(1);
  const now = Date.now();

  // Not silent long enough yet (local: 60 s).
  expect((await b.sweep(now + 30_000)).reenqueued).toEqual([]);
  // Two sweeps at once: exactly one sends.
  const [first, second] = await Promise.all([b.sweep(now + 2 * MINUTE), b.sweep(now + 2 * MINUTE)]);
  expect([...first.reenqueued, ...second.reenqueued]).toEqual([operationId]);
  expect((await drain(b.queueUrl)).map((body) => JSON.parse(body))).toEqual([{ instanceId: 'silent', operationId }]);
  // The sweep counts as activity: the next re-enqueue waits for another silence.
  expect((await b.sweep(now + 2 * MINUTE + 10_000)).reenqueued).toEqual([]);

  // A worker inside a step (its lease runs) is not silent, however old the last write.
  await b.store.setOperationLease('silent', operationId, now + 10 * MINUTE);
  expect((await b.sweep(now + 5 * MINUTE)).reenqueued).toEqual([]);
  await b.store.setOperationLease('silent', operationId, 0);
  expect((await b.sweep(now + 5 * MINUTE)).reenqueued).toEqual([operationId]);
  // maxSweeps (2) reached: left to the stuck alarm.
  expect((await b.sweep(now + 60 * MINUTE)).reenqueued).toEqual([]);

  // The re-enqueued message completes the operation.
  const [body] = await drain(b.queueUrl);
  const { ctx, sqs } = workerContext(b);
  expect(await workOnOperation(ctx, JSON.parse(body), 1)).toEqual({ kind: 'ack' });
  sqs.destroy();
  expect(await b.store.getOperation('silent', operationId)).toMatchObject({ state: 'succeeded', sweeps: 2 });
  expect((await b.sweep(now + 60 * MINUTE)).inProgress).toBe(0);
});

// The deadlines as docs/broker.md states them ("Sweeper"): written out here, never imported
// from the module under test, so a changed allowance fails these tests.
const HOUR_MS = 60 * MINUTE;
/** EDGE_CONVERGENCE_TIMEOUT_SECONDS' default: 600 s. */
const CONVERGENCE_TIMEOUT_MS = 10 * MINUTE;
/** A standard-plan provision or update: + 30 min. */
const STANDARD_ALLOWANCE_MS = 30 * MINUTE;
/** A cdn-plan one, any deprovision, and a wait for custom domains' owners: + 2 h. */
const CDN_ALLOWANCE_MS = 2 * HOUR_MS;

test('an operation past its deadline is counted as stuck (OperationsStuck gauge)', async () => {
  const lines: string[] = [];
  const b = await fixture.start({ worker: { enabled: false }, sweeper: { enabled: false }, metrics: (line) => lines.push(line) });
  const operationId = await provision(b, 'stuck', ['stuck.edge.example.com']);
  const operation = (await b.store.getOperation('stuck', operationId))!;
  const deadline = operationDeadline(operation, b.settings.convergence);
  expect(b.settings.convergence.timeoutSeconds * 1000).toBe(CONVERGENCE_TIMEOUT_MS);
  expect(deadline).toBe(Date.parse(operation.createdAt) + CONVERGENCE_TIMEOUT_MS + STANDARD_ALLOWANCE_MS);

  const before = await b.sweep(deadline - 1000);
  expect(before.stuck).toEqual([]);
  const after = await b.sweep(deadline + 1000);
  expect(after.stuck).toEqual([operationId]);

  const docs = lines.map((l) => JSON.parse(l) as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> } } & Record<string, unknown>);
  expect(docs).toHaveLength(2);
  for (const doc of docs) {
    expect(doc._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Edge/Broker', Dimensions: [['service']] });
    expect(doc.service).toBe('edge-broker-sweeper');
  }
  // A gauge, not a counter: the stuck count at each sweep (0, then 1).
  expect(docs.map((d) => d[BROKER_METRICS.operationsStuck])).toEqual([0, 1]);
});

test('the deadline: convergence timeout plus 30 min, or plus 2 h for cdn changes and deprovisions', () => {
  const base = { operationId: 'op', instanceId: 'i', state: 'in progress', completedSteps: [], description: '', attempts: 0, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' } as const;
  const created = Date.parse(base.createdAt);
  const timeout = CONVERGENCE_TIMEOUT_MS;
  const standard = { ...base, type: 'provision', target: { planId: 'p', plan: 'standard', parameters: { hostnames: ['a'] } } } as unknown as OperationRecord;
  const cdn = { ...base, type: 'update', target: { planId: 'p', plan: 'cdn', parameters: { hostnames: ['a'] } } } as unknown as OperationRecord;
  const deprovision = { ...base, type: 'deprovision' } as OperationRecord;
  expect(operationDeadline(standard, DEFAULT_CONVERGENCE)).toBe(created + timeout + STANDARD_ALLOWANCE_MS);
  expect(operationDeadline(cdn, DEFAULT_CONVERGENCE)).toBe(created + timeout + CDN_ALLOWANCE_MS);
  expect(operationDeadline(deprovision, DEFAULT_CONVERGENCE)).toBe(created + timeout + CDN_ALLOWANCE_MS);
  // The same, in wall-clock terms: 40 min and 2 h 10 min after the operation was created.
  expect(operationDeadline(standard, DEFAULT_CONVERGENCE) - created).toBe(40 * MINUTE);
  expect(operationDeadline(cdn, DEFAULT_CONVERGENCE) - created).toBe(130 * MINUTE);
});

test('an operation waiting for the owners of its custom domains is not stuck before their limit has passed', () => {
  const created = Date.parse('2026-01-01T00:00:00.000Z');
  const waiting = {
    operationId: 'op', instanceId: 'i', state: 'in progress', completedSteps: [], description: '', attempts: 0, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
    type: 'provision', target: { planId: 'p', plan: 'standard', parameters: { hostnames: ['shop.example.org'] } }, ownershipStartedAt: created + 60_000,
  } as unknown as OperationRecord;
  const limits = { ...DEFAULT_CUSTOM_DOMAINS, ownershipTimeoutSeconds: 72 * 3600 };
  const deadline = operationDeadline(waiting, DEFAULT_CONVERGENCE, limits);
  expect(deadline).toBeGreaterThan(created + 72 * 3600 * 1000);
  expect(deadline).toBe(created + CONVERGENCE_TIMEOUT_MS + STANDARD_ALLOWANCE_MS + 72 * HOUR_MS + CDN_ALLOWANCE_MS);
});

test('a duplicated message applies no step twice: the copy that finds the step claimed drops itself', async () => {
  const cloud = new GatedCloud();
  const b = await fixture.start({ cloud, worker: { enabled: false }, sweeper: { enabled: false } });
  const operationId = await provision(b, 'dup', ['dup.edge.example.com']);
  const ref = { instanceId: 'dup', operationId };
  const { ctx, sqs } = workerContext(b);

  cloud.hold();
  const first = workOnOperation(ctx, ref, 1);
  await cloud.entered; // the first delivery is inside dns-records
  const generation = (await b.store.getRoute('dup'))!.generation;
  // The duplicate (the same message delivered again, or a sweeper re-enqueue) arrives now.
  expect(await workOnOperation(ctx, ref, 1)).toEqual({ kind: 'ack' });
  expect(await workOnOperation(ctx, ref, 2)).toEqual({ kind: 'ack' });
  expect(cloud.upserts.get('dup.edge.example.com')).toBe(1);
  cloud.open();
  expect(await first).toEqual({ kind: 'ack' });

  const operation = await b.store.getOperation('dup', operationId);
  expect(operation).toMatchObject({ state: 'succeeded' });
  expect(operation!.completedSteps).toEqual(['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge']);
  expect(cloud.upserts.get('dup.edge.example.com')).toBe(1);
  // write-route ran once: the route holds the only generation written.
  expect((await b.store.getRoute('dup'))!.generation).toBe(generation);
  // After success a late duplicate changes nothing.
  expect(await workOnOperation(ctx, ref, 1)).toEqual({ kind: 'ack' });
  expect(cloud.upserts.get('dup.edge.example.com')).toBe(1);
  sqs.destroy();
});

describe('the sweeper Lambda entry', () => {
  const saved = { ...process.env };
  afterAll(() => {
    process.env = saved;
  });

  test('reads its options from the environment, naming a bad value', () => {
    expect(sweepOptionsFromEnv({})).toEqual({ staleAfterSeconds: 900, maxSweeps: 3 });
    expect(sweepOptionsFromEnv({ EDGE_SWEEP_STALE_SECONDS: '1200', EDGE_SWEEP_MAX_REENQUEUES: '0' })).toEqual({ staleAfterSeconds: 1200, maxSweeps: 0 });
    expect(() => sweepOptionsFromEnv({ EDGE_SWEEP_STALE_SECONDS: '0' })).toThrow(/EDGE_SWEEP_STALE_SECONDS: must be a whole number of at least 1/);
    expect(() => sweepOptionsFromEnv({ EDGE_SWEEP_MAX_REENQUEUES: 'x' })).toThrow(/EDGE_SWEEP_MAX_REENQUEUES/);
  });

  test('sweeps the table, re-enqueues the silent operation and writes one EMF line to stdout', async () => {
    const { dynamodbEndpoint, sqsEndpoint } = fixture.emulators;
    const tableName = 'edge-sweeper-lambda';
    await ensureBrokerTable(new DynamoDBClient(localClientConfig(dynamodbEndpoint)), tableName);
    const sqs = new SQSClient(localClientConfig(sqsEndpoint));
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'edge-sweeper-lambda-ops' }))).QueueUrl!;
    sqs.destroy();
    // An operation on the table whose message is lost: accepted by a broker on another queue.
    const a = await fixture.start({ tableName, queueName: 'edge-sweeper-lambda-lost', worker: { enabled: false }, sweeper: { enabled: false } });
    const operationId = await provision(a, 'via-lambda', ['via-lambda.edge.example.com']);

    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    Object.assign(process.env, {
      EDGE_TABLE_NAME: tableName,
      EDGE_QUEUE_URL: queueUrl,
      EDGE_DOMAIN: 'edge.example.com',
      EDGE_REGIONS: 'us-east-1',
      EDGE_PLATFORM_NAME: 'acme',
      EDGE_SWEEP_STALE_SECONDS: '1',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
      AWS_ENDPOINT_URL_SQS: sqsEndpoint,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    const { handler } = await import('../../lib/broker/runtime/lambda/sweeper');
    await new Promise((r) => setTimeout(r, 1100));

    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    let result: Awaited<ReturnType<typeof handler>>;
    try {
      result = await handler();
    } finally {
      spy.mockRestore();
    }
    expect(result).toEqual({ inProgress: 1, stuck: 0, reenqueued: 1 });
    const emf = written.filter((w) => w.includes('"_aws"')).map((w) => JSON.parse(w));
    expect(emf).toHaveLength(1);
    expect(emf[0]._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Edge/Broker', Dimensions: [['service']] });
    expect(emf[0]).toMatchObject({ service: 'acme-broker-sweeper', [BROKER_METRICS.operationsReenqueued]: 1, [BROKER_METRICS.operationsStuck]: 0 });
    expect((await drain(queueUrl)).map((body) => JSON.parse(body))).toEqual([{ instanceId: 'via-lambda', operationId }]);
  });
});
