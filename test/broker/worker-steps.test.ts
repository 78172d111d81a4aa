/**
 * The worker's steps and their bookkeeping (lib/broker/runtime/worker/{worker,steps,step-kit}.ts),
 * driven in-process: operations accepted by the OSB handlers, then `workOnOperation` called
 * by the test, on the real store (DynamoDB emulator, started once for the file), the
 * LocalCloud, a queue and metrics that record what they are given. Each test has a fleet
 * region of its own, so the convergence reports one test writes are no other test's.
 * Expected values come from docs/broker.md ("The worker", "The convergence gate",
 * "Metrics"). Fast enough for the `worker` mutation group (docs/testing.md); the worker on
 * SQS with redelivery and restarts is test/broker/worker.test.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { PLANS, SERVICE_ID } from '../../lib/broker/runtime/catalog';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { CertificateRequest, DistributionRequest, DnsRecord } from '../../lib/broker/runtime/cloud/types';
import { BrokerMetrics } from '../../lib/broker/runtime/metrics';
import { handleOsbRequest } from '../../lib/broker/runtime/osb/router';
import { BrokerSettings, DEFAULT_CUSTOM_DOMAINS, OPERATION_TTL_SECONDS } from '../../lib/broker/runtime/settings';
import { BrokerStore, StepGuard } from '../../lib/broker/runtime/store/store';
import { OperationRecord, OperationRef } from '../../lib/broker/runtime/store/types';
import { DEFAULT_WORKER_OPTIONS, WorkerContext, workOnOperation } from '../../lib/broker/runtime/worker/worker';
import { CONVERGENCE_PARTITION, RejectedChange } from '../../lib/model';
import { LocalEmulators, ensureBrokerTable, localClientConfig, startEmulators } from '../../lib/local/emulators';

const DOMAIN = 'edge.example.com';
const STANDARD: string = PLANS.standard.id;
const CDN: string = PLANS.cdn.id;
const TABLE = 'worker-steps';
const ASYNC = { accepts_incomplete: 'true' };
const logger = new Logger({ logLevel: 'SILENT' });

let emulators: LocalEmulators;
let store: BrokerStore;
beforeAll(async () => {
  emulators = await startEmulators();
  const client = new DynamoDBClient(localClientConfig(emulators.dynamodbEndpoint));
  await ensureBrokerTable(client, TABLE);
  store = new BrokerStore(client, TABLE);
});
afterAll(async () => emulators?.stop());

let counter = 0;
const unique = (label: string) => `${label}-${++counter}`;
const nameOf = (label: string) => `${unique(label)}.${DOMAIN}`;

/** One test's world: its own regions, cloud, queue and metrics. */
function world(options: { regions?: number; cloud?: LocalCloud; emptyRegion?: 'pass' | 'wait'; store?: BrokerStore; maxAttempts?: number } = {}) {
  const regions = Array.from({ length: options.regions ?? 1 }, () => unique('r'));
  const settings = {
    tableName: TABLE,
    queueUrl: 'local',
    platformName: 'edge',
    domain: DOMAIN,
    hostedZoneId: 'Z1',
    homeRegion: 'us-east-1',
    regions,
    convergence: { fraction: 1, emptyRegion: options.emptyRegion ?? 'pass', timeoutSeconds: 60, pollSeconds: 2 },
    customDomains: DEFAULT_CUSTOM_DOMAINS,
    cdnOriginSecretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:origin',
    fleetCidrs: ['10.1.0.0/16'],
    allowLoopbackBackends: false,
  } as BrokerSettings;
  const sent: Array<{ ref: OperationRef; delaySeconds?: number }> = [];
  const counted: string[] = [];
  const metrics: BrokerMetrics = { count: (name) => void counted.push(name), gauge() {}, flush() {} };
  const queue = { enqueue: async (ref: OperationRef, delaySeconds?: number) => void sent.push({ ref, delaySeconds }) };
  const cloud = options.cloud ?? new LocalCloud();
  let stopping = false;
  const ctx: WorkerContext = {
    settings,
    store: options.store ?? store,
    queue,
    cloud,
    logger,
    options: { ...DEFAULT_WORKER_OPTIONS, maxAttempts: options.maxAttempts ?? 3, waitSeconds: 11, leaseSeconds: 60, backoffSeconds: (attempt) => attempt * 10 },
    stopping: () => stopping,
    metrics,
  };
  const api = { settings, store, queue, logger, retryAfterSeconds: 1 };

  async function osb(method: string, path: string, body?: unknown, query: Record<string, string> = ASYNC) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const reply = (await handleOsbRequest(api, { method, path, query, headers: { 'x-broker-api-version': '2.17' }, body: body === undefined ? undefined : JSON.stringify(body), requestId: 'r' })) as { status: number; body: any };
    return reply;
  }

  const w = {
    settings,
    regions,
    cloud,
    sent,
    counted,
    ctx,
    stop: () => (stopping = true),
    run: (ref: OperationRef, receiveCount = 1) => workOnOperation(ctx, ref, receiveCount),
    /** Runs the operation until it is no longer in progress (following its waits), at most 20 rounds. */
    async drive(ref: OperationRef): Promise<OperationRecord> {
      for (let round = 0; round < 20; round++) {
        await workOnOperation(ctx, ref, 1);
        const operation = (await store.getOperation(ref.instanceId, ref.operationId))!;
        if (operation.state !== 'in progress') return operation;
      }
      throw new Error(`operation ${ref.operationId} still in progress after 20 rounds`);
    },
    async provision(hostnames: string[], extra: Record<string, unknown> = {}, plan = STANDARD): Promise<OperationRef> {
      const instanceId = unique('i');
      const reply = await osb('PUT', `/v2/service_instances/${instanceId}`, {
        service_id: SERVICE_ID,
        plan_id: plan,
        organization_guid: 'o',
        space_guid: 's',
        parameters: { hostnames, backends: [{ address: 'app.example.org', port: 80, protocol: 'http' }], ...extra },
      });
      if (reply.status !== 202) throw new Error(`provision: ${reply.status} ${JSON.stringify(reply.body)}`);
      sent.length = 0;
      return { instanceId, operationId: reply.body.operation };
    },
    async provisioned(hostnames: string[], extra: Record<string, unknown> = {}, plan = STANDARD): Promise<OperationRef> {
      const ref = await w.provision(hostnames, extra, plan);
      expect((await w.drive(ref)).state).toBe('succeeded');
      counted.length = 0;
      sent.length = 0;
      return ref;
    },
    async update(instanceId: string, body: Record<string, unknown>): Promise<OperationRef> {
      const reply = await osb('PATCH', `/v2/service_instances/${instanceId}`, { service_id: SERVICE_ID, ...body });
      if (reply.status !== 202) throw new Error(`update: ${reply.status} ${JSON.stringify(reply.body)}`);
      sent.length = 0;
      return { instanceId, operationId: reply.body.operation };
    },
    async deprovision(instanceId: string): Promise<OperationRef> {
      const reply = await osb('DELETE', `/v2/service_instances/${instanceId}`, undefined, { ...ASYNC, service_id: SERVICE_ID, plan_id: STANDARD });
      if (reply.status !== 202) throw new Error(`deprovision: ${reply.status} ${JSON.stringify(reply.body)}`);
      sent.length = 0;
      return { instanceId, operationId: reply.body.operation };
    },
    /** A control plane task's report for one of this world's regions. */
    async report(region: string, fields: { connected: number; acked?: Array<[number, number]>; rejected?: Record<string, RejectedChange> }): Promise<void> {
      const taskId = unique('task');
      await store.doc.send(
        new PutCommand({
          TableName: TABLE,
          Item: {
            pk: CONVERGENCE_PARTITION,
            sk: `REGION#${region}#TASK#${taskId}`,
            kind: 'convergence',
            region,
            taskId,
            reportedAt: new Date().toISOString(),
            stableGeneration: 0,
            connectedNodes: fields.connected,
            ackedGenerations: fields.acked ?? [],
            rejected: fields.rejected ?? {},
          },
        }),
      );
    },
  };
  return w;
}

const operationOf = async (ref: OperationRef) => (await store.getOperation(ref.instanceId, ref.operationId))!;
const weekFromNow = (expiresAt: number | undefined) => {
  expect(expiresAt).toBeDefined();
  const left = expiresAt! - Date.now() / 1000;
  expect(left).toBeGreaterThan(OPERATION_TTL_SECONDS - 60);
  expect(left).toBeLessThanOrEqual(OPERATION_TTL_SECONDS);
};
const NO_PROXIES = 'no proxy is connected in any of them yet (proxies get it when they connect)';

class FailingCloud extends LocalCloud {
  failUpserts?: string;
  override async upsertRecords(records: readonly DnsRecord[]): Promise<void> {
    if (this.failUpserts) throw new Error(this.failUpserts);
    return super.upsertRecords(records);
  }
}

/** DNS writes are lost: the platform's validation records never resolve (as if Route 53 lost them), so ACM never validates. */
class LostRecordsCloud extends LocalCloud {
  override async upsertRecords(): Promise<void> {}
}

/** The real store with some methods replaced. */
const storeWith = (overrides: Partial<Record<keyof BrokerStore, unknown>>): BrokerStore => Object.assign(Object.create(store) as BrokerStore, overrides);

// ---- provision ----------------------------------------------------------------------

describe('a standard provision', () => {
  test('runs every step in one go: claim, route, DNS, gate; then the operation and the instance finish', async () => {
    const w = world();
    const name = nameOf('shop');
    const ref = await w.provision([name]);
    expect(await w.run(ref)).toEqual({ kind: 'ack' });

    const operation = await operationOf(ref);
    expect(operation).toMatchObject({
      state: 'succeeded',
      step: 'done',
      completedSteps: ['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge'],
      description: `provisioned: ${name} on the standard plan for 1 region; ${NO_PROXIES}`,
      attempts: 0,
      busyUntil: 0,
    });
    weekFromNow(operation.expiresAt);
    const route = (await store.getRoute(ref.instanceId))!;
    expect(route).toMatchObject({ instanceId: ref.instanceId, plan: 'standard', deleted: false, spec: { hostnames: [name], regions: w.regions } });
    expect(operation.routeGeneration).toBe(route.generation);
    expect(operation.edgeSummary).toBe(NO_PROXIES);
    const instance = (await store.getInstance(ref.instanceId))!;
    expect(instance).toMatchObject({ state: 'provisioned', resources: { dnsNames: [name], routeGeneration: route.generation } });
    expect(instance.currentOperationId).toBeUndefined();
    expect(instance.lastOutcome).toEqual({ operationId: ref.operationId, type: 'provision', state: 'succeeded', description: operation.description });
    expect(w.cloud.records.get(name)).toEqual({ name, type: 'CNAME', value: DOMAIN });
    expect(await store.hostnameOwner(name)).toBe(ref.instanceId);
    expect(w.counted).toEqual(['OperationsSucceeded']);
    expect(w.sent).toEqual([]);
  });

  test('the route targets the regions asked for; the description counts them', async () => {
    const w = world({ regions: 3 });
    const name = nameOf('two');
    const ref = await w.provision([name], { regions: [w.regions[2], w.regions[0]] });
    const operation = await w.drive(ref);
    expect(operation.description).toBe(`provisioned: ${name} on the standard plan for 2 regions; ${NO_PROXIES}`);
    expect((await store.getRoute(ref.instanceId))!.spec.regions).toEqual([w.regions[2], w.regions[0]]);
    const all = world({ regions: 2 });
    const both = await all.provision([nameOf('all'), nameOf('all')]);
    const done = await all.drive(both);
    expect(done.description).toMatch(/^provisioned: .*, .* on the standard plan for 2 regions; /);
    expect((await store.getRoute(both.instanceId))!.spec.regions).toEqual(all.regions);
  });

  test('a redelivered message that made progress hands over to a fresh one after its first step', async () => {
    const w = world();
    const ref = await w.provision([nameOf('handover')]);
    expect(await w.run(ref, 2)).toEqual({ kind: 'ack' });
    expect((await operationOf(ref)).completedSteps).toEqual(['validate']);
    expect(w.sent).toEqual([{ ref, delaySeconds: undefined }]);
  });

  test('a worker shutting down leaves the message for later, before any step', async () => {
    const w = world();
    const ref = await w.provision([nameOf('stop')]);
    w.stop();
    expect(await w.run(ref)).toEqual({ kind: 'retry', delaySeconds: 0 });
    expect(await operationOf(ref)).toMatchObject({ completedSteps: [], step: 'queued' });
  });

  test('a step another worker holds (its lease running) is left to it', async () => {
    const w = world();
    const ref = await w.provision([nameOf('lease')]);
    await store.setOperationLease(ref.instanceId, ref.operationId, Date.now() + 60_000);
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    expect(await operationOf(ref)).toMatchObject({ completedSteps: [], step: 'queued' });
    expect(w.sent).toEqual([]);
  });

  test('while a step runs, the operation shows it and holds a lease of leaseSeconds', async () => {
    const seen: Array<OperationRecord | undefined> = [];
    const cloud = new (class extends LocalCloud {
      override async upsertRecords(records: readonly DnsRecord[]): Promise<void> {
        seen.push(await store.getOperation(ref.instanceId, ref.operationId));
        return super.upsertRecords(records);
      }
    })();
    const w = world({ cloud });
    const ref = await w.provision([nameOf('lease2')]);
    const before = Date.now();
    await w.run(ref);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ step: 'dns-records', description: 'provision: writing DNS records', completedSteps: ['validate', 'claim-hostnames', 'write-route'] });
    expect(seen[0]!.busyUntil! - before).toBeGreaterThanOrEqual(60_000);
    expect(seen[0]!.busyUntil! - Date.now()).toBeLessThanOrEqual(60_000);
  });

  test('a name another instance holds fails the provision at once, naming the name, and frees its own claims', async () => {
    const w = world();
    const mine = nameOf('mine');
    const taken = nameOf('taken');
    const ref = await w.provision([mine, taken]);
    await store.claimHostname(taken, 'another-instance');
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    const operation = await operationOf(ref);
    expect(operation).toMatchObject({
      state: 'failed',
      description: `provision failed while claiming hostnames: hostnames[1]: ${taken} is already served by another instance. Completed steps: validate. Deprovision the instance to remove what was created.`,
    });
    weekFromNow(operation.expiresAt);
    expect(await store.getInstance(ref.instanceId)).toMatchObject({ state: 'failed', lastOutcome: { state: 'failed', type: 'provision', description: operation.description } });
    expect(await store.hostnameOwner(mine)).toBeUndefined();
    expect(await store.hostnameOwner(taken)).toBe('another-instance');
    expect(w.counted).toEqual(['OperationsFailed']);
  });

  test('invalid target parameters fail the provision at validate (no retry)', async () => {
    const w = world();
    const ref = await w.provision([nameOf('v')]);
    // Recorded before a rule changed: the worker checks again.
    await store.doc.send(
      new UpdateCommand({ TableName: TABLE, Key: { pk: `INSTANCE#${ref.instanceId}`, sk: `OPERATION#${ref.operationId}` }, UpdateExpression: 'SET #t.#p.backends = :b', ExpressionAttributeNames: { '#t': 'target', '#p': 'parameters' }, ExpressionAttributeValues: { ':b': [{ address: '10.1.2.3', port: 80, protocol: 'http' }] } }),
    );
    await w.run(ref);
    const description = (await operationOf(ref)).description;
    expect(description).toMatch(/^provision failed while validating parameters: Invalid parameters: backends\[0\]\.address: .*\. Deprovision the instance to remove what was created\.$/);
    // It failed at the first step: there are no completed steps to name.
    expect(description).not.toContain('Completed steps');
    const w2 = world();
    const ref2 = await w2.provision([nameOf('v2')]);
    await store.doc.send(
      new UpdateCommand({ TableName: TABLE, Key: { pk: `INSTANCE#${ref2.instanceId}`, sk: `OPERATION#${ref2.operationId}` }, UpdateExpression: 'SET #t.#p.hostnames = :h', ExpressionAttributeNames: { '#t': 'target', '#p': 'parameters' }, ExpressionAttributeValues: { ':h': [`a.b.${DOMAIN}`] } }),
    );
    await w2.run(ref2);
    expect((await operationOf(ref2)).description).toMatch(/^provision failed while validating parameters: hostnames\[0\]: a\.b\.edge\.example\.com /);
  });

  test('a failing step is retried with backoff, then fails for good on the last attempt (DLQ)', async () => {
    const cloud = new FailingCloud();
    cloud.failUpserts = 'Route 53 is down';
    const w = world({ cloud });
    const name = nameOf('retry');
    const ref = await w.provision([name]);
    expect(await w.run(ref, 1)).toEqual({ kind: 'retry', delaySeconds: 10 });
    let operation = await operationOf(ref);
    expect(operation).toMatchObject({
      state: 'in progress',
      attempts: 1,
      busyUntil: 0,
      description: 'provision: writing DNS records: attempt 1 of 3 failed (Route 53 is down); retrying in 10s',
      completedSteps: ['validate', 'claim-hostnames', 'write-route'],
    });
    expect(w.counted).toEqual(['StepRetries']);
    expect(await w.run(ref, 2)).toEqual({ kind: 'retry', delaySeconds: 20 });
    expect((await operationOf(ref)).description).toBe('provision: writing DNS records: attempt 2 of 3 failed (Route 53 is down); retrying in 20s');
    expect(await w.run(ref, 3)).toEqual({ kind: 'dead' });
    operation = await operationOf(ref);
    expect(operation).toMatchObject({
      state: 'failed',
      description: 'provision failed while writing DNS records: gave up after 3 attempts: Route 53 is down. Completed steps: validate, claim-hostnames, write-route. Deprovision the instance to remove what was created.',
    });
    expect(w.counted).toEqual(['StepRetries', 'StepRetries', 'OperationsFailed']);
    // The route was written (the edge may serve it): its names stay claimed until the deprovision.
    expect(await store.hostnameOwner(name)).toBe(ref.instanceId);
    expect(await store.getInstance(ref.instanceId)).toMatchObject({ state: 'failed' });
  });

  test('a provision that fails before its route is written releases its claims', async () => {
    const failing = storeWith({ writeRoute: async () => Promise.reject(new Error('table unreachable')) });
    const w = world({ store: failing, maxAttempts: 1 });
    const name = nameOf('norelease');
    const ref = await w.provision([name]);
    expect(await w.run(ref, 1)).toEqual({ kind: 'dead' });
    expect((await operationOf(ref)).description).toBe(
      'provision failed while publishing the route to the edge control planes: gave up after 1 attempts: table unreachable. Completed steps: validate, claim-hostnames. Deprovision the instance to remove what was created.',
    );
    expect(await store.hostnameOwner(name)).toBeUndefined();
  });

  test('a retried step shows its own description again (a step back from a wait: "the run of an operation" below)', async () => {
    const seen: string[] = [];
    const cloud = new (class extends FailingCloud {
      override async upsertRecords(records: readonly DnsRecord[]): Promise<void> {
        seen.push((await store.getOperation(ref.instanceId, ref.operationId))!.description);
        return super.upsertRecords(records);
      }
    })();
    cloud.failUpserts = 'down';
    const w = world({ cloud });
    const ref = await w.provision([nameOf('desc')]);
    await w.run(ref, 1);
    cloud.failUpserts = undefined;
    await w.run(ref, 2);
    expect(seen).toEqual(['provision: writing DNS records', 'provision: writing DNS records']);
  });
});

describe('operations the worker closes without running steps', () => {
  test('an unknown operation: the message is dropped', async () => {
    const w = world();
    expect(await w.run({ instanceId: unique('none'), operationId: 'op-x' })).toEqual({ kind: 'ack' });
    expect(w.counted).toEqual([]);
  });

  test('a finished operation whose instance still names it: the instance is finished now', async () => {
    const w = world();
    const ref = await w.provision([nameOf('crash')]);
    await store.updateOperation(ref.instanceId, ref.operationId, { state: 'succeeded', description: 'provisioned: crash' });
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    const instance = (await store.getInstance(ref.instanceId))!;
    expect(instance.state).toBe('provisioned');
    expect(instance.currentOperationId).toBeUndefined();
    expect(instance.lastOutcome).toMatchObject({ state: 'succeeded', description: 'provisioned: crash' });
    // Finished and no longer current: nothing to do.
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    expect(w.counted).toEqual([]);
  });

  test('a provision whose instance was never written: closed, blaming nobody', async () => {
    const w = world();
    const ref = await w.provision([nameOf('orphan')]);
    const operation = await operationOf(ref);
    const orphan = { ...operation, instanceId: unique('orphan') };
    await store.putOperation(orphan);
    expect(await w.run({ instanceId: orphan.instanceId, operationId: orphan.operationId })).toEqual({ kind: 'ack' });
    const closed = (await store.getOperation(orphan.instanceId, orphan.operationId))!;
    expect(closed).toMatchObject({ state: 'failed', description: 'provision interrupted before the instance was recorded (the request was never accepted); nothing was created' });
    weekFromNow(closed.expiresAt);
    expect(w.counted).toEqual(['OperationsFailed']);
    expect(w.cloud.actions).toEqual([]);
  });

  test('an operation with steps done whose instance is gone: failed, "the instance no longer exists"', async () => {
    const w = world();
    const name = nameOf('gone');
    const ref = await w.provision([name]);
    await w.run(ref, 2); // validate, then hand over
    const operation = await operationOf(ref);
    const lost = { ...operation, instanceId: unique('lost') };
    await store.putOperation(lost);
    expect(await w.run({ instanceId: lost.instanceId, operationId: lost.operationId })).toEqual({ kind: 'ack' });
    expect((await store.getOperation(lost.instanceId, lost.operationId))!.description).toBe(
      'the instance no longer exists. Completed steps: validate. Deprovision the instance to remove what was created.',
    );
  });

  test('an operation its instance no longer names (superseded): cancelled before its next step', async () => {
    const w = world();
    const ref = await w.provision([nameOf('super')]);
    await store.doc.send(new UpdateCommand({ TableName: TABLE, Key: { pk: `INSTANCE#${ref.instanceId}`, sk: 'INSTANCE' }, UpdateExpression: 'SET currentOperationId = :o', ExpressionAttributeValues: { ':o': 'op-other' } }));
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    const operation = await operationOf(ref);
    expect(operation).toMatchObject({ state: 'failed', description: 'provision cancelled before validating parameters', completedSteps: [] });
    weekFromNow(operation.expiresAt);
    expect(w.counted).toEqual(['OperationsFailed']);
  });
});

// ---- the gate -----------------------------------------------------------------------

describe('the convergence gate', () => {
  test('waits for the proxies (re-enqueued at the poll interval, progress shown), then succeeds with their count', async () => {
    const w = world({ regions: 2 });
    const name = nameOf('gate');
    const ref = await w.provision([name]);
    await w.report(w.regions[0], { connected: 2 });
    const before = Date.now();
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    const generation = (await store.getRoute(ref.instanceId))!.generation;
    let operation = await operationOf(ref);
    expect(operation).toMatchObject({
      state: 'in progress',
      step: 'converge',
      attempts: 0,
      busyUntil: 0,
      description: `provision: waiting for the edge: accepted by 0 of 2 proxies in 2 regions; no proxies connected in ${w.regions[1]}; waiting on ${w.regions[0]} (0 of 2)`,
    });
    expect(operation.convergeStartedAt).toBeGreaterThanOrEqual(before);
    expect(w.sent).toEqual([{ ref, delaySeconds: 2 }]);
    const started = operation.convergeStartedAt;

    // Still waiting: the start of the wait is kept.
    await w.report(w.regions[0], { connected: 1, acked: [[generation, 1]] });
    await w.run(ref);
    operation = await operationOf(ref);
    expect(operation.description).toBe(`provision: waiting for the edge: accepted by 1 of 3 proxies in 2 regions; no proxies connected in ${w.regions[1]}; waiting on ${w.regions[0]} (1 of 3)`);
    expect(operation.convergeStartedAt).toBe(started);

    await w.report(w.regions[0], { connected: 0, acked: [[generation + 5, 2]] });
    await w.run(ref);
    operation = await operationOf(ref);
    expect(operation.state).toBe('succeeded');
    expect(operation.description).toBe(
      `provisioned: ${name} on the standard plan for 2 regions; accepted by 3 of 3 proxies in ${w.regions[0]}; no proxies connected yet in ${w.regions[1]} (they get it when they connect)`,
    );
  });

  test('a rejection withdraws the provision: route tombstoned, records deleted, names released; the operation fails with the reason', async () => {
    const w = world();
    const name = nameOf('nack');
    const ref = await w.provision([name]);
    await w.report(w.regions[0], { connected: 3 });
    await w.run(ref);
    const generation = (await store.getRoute(ref.instanceId))!.generation;
    await w.report(w.regions[0], { connected: 0, rejected: { [ref.instanceId]: { generation, source: 'nack', reason: 'unknown field', nodes: 3 } as RejectedChange } });
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    const route = (await store.getRoute(ref.instanceId))!;
    expect(route.deleted).toBe(true);
    expect(route.generation).toBeGreaterThan(generation);
    const operation = await operationOf(ref);
    expect(operation).toMatchObject({
      state: 'failed',
      completedSteps: ['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge', 'withdraw-route', 'withdraw-dns', 'withdraw-hostnames'],
      withdrawal: { cause: 'rejected' },
      withdrawnGeneration: route.generation,
      description: `provision failed: rejected by the edge in ${w.regions[0]}: unknown field (NACKed by 3 proxies, generation ${generation}). The change was withdrawn: the route is removed from the edge (generation ${route.generation}), its DNS records are deleted and its hostnames released. Deprovision the instance, then provision it again once the cause is fixed.`,
    });
    weekFromNow(operation.expiresAt);
    expect(w.cloud.records.has(name)).toBe(false);
    expect(await store.hostnameOwner(name)).toBeUndefined();
    expect(await store.getInstance(ref.instanceId)).toMatchObject({ state: 'failed', resources: { routeGeneration: route.generation } });
    expect(w.counted).toEqual(['OperationsFailed', 'ChangesRejectedByProxies']);
  });

  test('no convergence within the timeout withdraws the change (cause: timeout), not counted as a rejection', async () => {
    const w = world();
    const name = nameOf('slow');
    const ref = await w.provision([name], {}, CDN);
    await w.report(w.regions[0], { connected: 2 });
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ state: 'in progress', step: 'converge' });
    await store.updateOperation(ref.instanceId, ref.operationId, { convergeStartedAt: Date.now() - 61_000 });
    w.counted.length = 0;
    await w.run(ref);
    const operation = await operationOf(ref);
    expect(operation.withdrawal?.cause).toBe('timeout');
    expect(operation.description).toMatch(
      new RegExp(`^provision failed: the edge did not take the change within 60 s: accepted by 0 of 2 proxies in 1 region; waiting on ${w.regions[0]} \\(0 of 2\\)\\. The change was withdrawn: .* Deprovision the instance to remove its CloudFront distribution and certificate\\.$`),
    );
    expect(w.counted).toEqual(['OperationsFailed']);
  });

  test('a wait just inside the timeout goes on waiting', async () => {
    const w = world();
    const ref = await w.provision([nameOf('inside')]);
    await w.report(w.regions[0], { connected: 2 });
    await w.run(ref);
    await store.updateOperation(ref.instanceId, ref.operationId, { convergeStartedAt: Date.now() - 50_000 });
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ state: 'in progress', step: 'converge' });
  });

  test('the timeout is the time allowed: a wait of exactly the timeout goes on, a millisecond more withdraws', async () => {
    const w = world();
    const ref = await w.provision([nameOf('edge60')]);
    await w.report(w.regions[0], { connected: 2 });
    await w.run(ref);
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
    try {
      await store.updateOperation(ref.instanceId, ref.operationId, { convergeStartedAt: now - 60_000 });
      await w.run(ref);
      expect(await operationOf(ref)).toMatchObject({ state: 'in progress', step: 'converge' });
      await store.updateOperation(ref.instanceId, ref.operationId, { convergeStartedAt: now - 60_001 });
      await w.run(ref);
      expect((await operationOf(ref)).withdrawal?.cause).toBe('timeout');
    } finally {
      clock.mockRestore();
    }
  });

  test('a tombstoned route that is gone by the withdrawal is left as it is', async () => {
    const w = world();
    const name = nameOf('tomb');
    const ref = await w.provision([name]);
    await w.report(w.regions[0], { connected: 1 });
    await w.run(ref);
    const route = (await store.getRoute(ref.instanceId))!;
    // Someone tombstoned it meanwhile (a deprovision's tombstone-route).
    const tombstone = await store.writeRoute({ instanceId: ref.instanceId, plan: route.plan, deleted: true, spec: route.spec });
    await w.report(w.regions[0], { connected: 0, rejected: { [ref.instanceId]: { generation: route.generation, source: 'validation', reason: 'bad', nodes: 0 } as RejectedChange } });
    await w.run(ref);
    const operation = await operationOf(ref);
    expect(operation.withdrawnGeneration).toBe(tombstone);
    expect((await store.getRoute(ref.instanceId))!.generation).toBe(tombstone);
    expect(operation.description).toMatch(/\(the control plane refused to render it, generation \d+\)/);
  });
});

// ---- update -------------------------------------------------------------------------

describe('an update', () => {
  test('adds and drops names: the new one claimed and written, the old one released and deleted, after the gate', async () => {
    const w = world();
    const old = nameOf('old');
    const kept = nameOf('kept');
    const added = nameOf('added');
    const { instanceId } = await w.provisioned([old, kept]);
    const ref = await w.update(instanceId, { parameters: { hostnames: [kept, added] } });
    const operation = await w.drive(ref);
    expect(operation).toMatchObject({
      state: 'succeeded',
      completedSteps: ['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge', 'release-old-hostnames', 'remove-cdn'],
      description: `updated: ${kept}, ${added} on the standard plan for 1 region; ${NO_PROXIES}`,
    });
    expect(w.cloud.records.has(old)).toBe(false);
    expect(w.cloud.records.get(added)?.value).toBe(DOMAIN);
    expect(w.cloud.records.get(kept)?.value).toBe(DOMAIN);
    expect(await store.hostnameOwner(old)).toBeUndefined();
    expect(await store.hostnameOwner(added)).toBe(instanceId);
    const instance = (await store.getInstance(instanceId))!;
    expect(instance.parameters.hostnames).toEqual([kept, added]);
    expect([...(instance.resources.dnsNames ?? [])].sort()).toEqual([added, kept].sort());
    expect(w.counted).toEqual(['OperationsSucceeded']);
  });

  test('rejected: the previous configuration comes back as a new generation, added names undone, the instance usable', async () => {
    const w = world();
    const kept = nameOf('k');
    const added = nameOf('a');
    const { instanceId } = await w.provisioned([kept]);
    const first = (await store.getRoute(instanceId))!.generation;
    const ref = await w.update(instanceId, { parameters: { hostnames: [kept, added] } });
    await w.report(w.regions[0], { connected: 1 });
    await w.run(ref);
    const generation = (await store.getRoute(instanceId))!.generation;
    expect(generation).toBeGreaterThan(first);
    await w.report(w.regions[0], { connected: 0, rejected: { [instanceId]: { generation, source: 'canary-health', reason: '5xx', nodes: 1 } as RejectedChange } });
    await w.run(ref);
    const route = (await store.getRoute(instanceId))!;
    expect(route).toMatchObject({ deleted: false, spec: { hostnames: [kept], regions: w.regions } });
    expect(route.generation).toBeGreaterThan(generation);
    const operation = await operationOf(ref);
    expect(operation).toMatchObject({
      state: 'failed',
      instanceUsable: true,
      updateRepeatable: true,
      description: `update failed: rejected by the edge in ${w.regions[0]}: 5xx (the canary's health dropped on 1 proxy, generation ${generation}). The change was withdrawn: the edge returns to the previous configuration (generation ${route.generation}), and the instance keeps its previous parameters. The update can be repeated once the cause is fixed.`,
    });
    expect(w.cloud.records.has(added)).toBe(false);
    expect(w.cloud.records.get(kept)?.value).toBe(DOMAIN);
    expect(await store.hostnameOwner(added)).toBeUndefined();
    expect(await store.hostnameOwner(kept)).toBe(instanceId);
    const instance = (await store.getInstance(instanceId))!;
    expect(instance).toMatchObject({ state: 'provisioned', parameters: { hostnames: [kept] }, lastOutcome: { type: 'update', state: 'failed', instanceUsable: true, updateRepeatable: true } });
    expect(w.counted).toEqual(['OperationsFailed', 'ChangesRejectedByProxies']);
  });

  test('that drops a region waits there too (its proxies must stop serving the old route)', async () => {
    const w = world({ regions: 2 });
    const name = nameOf('drop');
    const { instanceId } = await w.provisioned([name]);
    const ref = await w.update(instanceId, { parameters: { regions: [w.regions[0]] } });
    await w.report(w.regions[1], { connected: 1 });
    await w.run(ref);
    expect((await operationOf(ref)).description).toBe(`update: waiting for the edge: accepted by 0 of 1 proxy in 2 regions; no proxies connected in ${w.regions[0]}; waiting on ${w.regions[1]} (0 of 1)`);
  });

  test('failing before its route is written: its added names are released, the old ones kept', async () => {
    const w = world();
    const kept = nameOf('k2');
    const added = nameOf('a2');
    const taken = nameOf('t2');
    const { instanceId } = await w.provisioned([kept]);
    const ref = await w.update(instanceId, { parameters: { hostnames: [kept, added, taken] } });
    await store.claimHostname(taken, 'someone-else');
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({
      state: 'failed',
      instanceUsable: true,
      updateRepeatable: true,
      description: `update failed while claiming hostnames: hostnames[2]: ${taken} is already served by another instance. Completed steps: validate. The instance keeps serving its previous configuration. The update can be repeated.`,
    });
    expect(await store.hostnameOwner(added)).toBeUndefined();
    expect(await store.hostnameOwner(kept)).toBe(instanceId);
    expect(await store.getInstance(instanceId)).toMatchObject({ state: 'provisioned', parameters: { hostnames: [kept] } });
  });

  test('failing after its route is written says the edge already serves it', async () => {
    const cloud = new FailingCloud();
    const w = world({ cloud, maxAttempts: 1 });
    const kept = nameOf('k3');
    const added = nameOf('a3');
    const { instanceId } = await w.provisioned([kept]);
    const ref = await w.update(instanceId, { parameters: { hostnames: [kept, added] } });
    cloud.failUpserts = 'throttled';
    expect(await w.run(ref, 1)).toEqual({ kind: 'dead' });
    expect((await operationOf(ref)).description).toBe(
      'update failed while writing DNS records: gave up after 1 attempts: throttled. Completed steps: validate, claim-hostnames, write-route. The edge already serves the new route; the instance keeps its previous parameters on record. The update can be repeated.',
    );
    expect(await store.hostnameOwner(added)).toBe(instanceId);
  });
});

// ---- cdn ----------------------------------------------------------------------------

describe('the cdn plan', () => {
  test('certificate, distribution (waiting while it deploys), then DNS at the distribution', async () => {
    const w = world({ cloud: new LocalCloud({ deployPolls: 2 }) });
    const name = nameOf('cdn');
    const ref = await w.provision([name], {}, CDN);
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    let operation = await operationOf(ref);
    expect(operation).toMatchObject({
      state: 'in progress',
      step: 'distribution',
      completedSteps: ['validate', 'claim-hostnames', 'write-route', 'certificate'],
      description: 'provision: creating the CloudFront distribution: waiting for CloudFront to deploy the distribution',
    });
    expect(w.sent).toEqual([{ ref, delaySeconds: 11 }]);
    const instance = (await store.getInstance(ref.instanceId))!;
    const { certificateArn, distributionId, distributionDomain, originSecretVersion } = instance.resources;
    expect(certificateArn).toMatch(/^arn:aws:acm:us-east-1:/);
    expect(distributionDomain).toMatch(/\.cloudfront\.net$/);
    expect(originSecretVersion).toBe('v1');
    const created = w.cloud.actions.find((a) => a.action === 'cloudfront:CreateDistribution')!;
    expect(created).toMatchObject({ id: distributionId, aliases: [name], origin: DOMAIN, certificateArn, originHeader: 'x-cdn-origin-verify' });
    // The CloudFront certificate is tagged purpose=cdn (docs/broker.md, RequestTaggedCertificates), not an edge listener's.
    expect(w.cloud.actions.find((a) => a.action === 'acm:RequestCertificate')).toMatchObject({ arn: certificateArn, hostnames: [name], purpose: 'cdn' });
    // (the header name of the fleet contract, lib/model/fleet-contract.ts, that the edge checks)
    // The certificate's validation records are the platform's to write (and to remove later).
    const validation = (await w.cloud.describeCertificate(certificateArn!))!.validationRecords.map((r) => r.name);
    expect(validation.length).toBeGreaterThan(0);
    for (const v of validation) expect(w.cloud.records.has(v)).toBe(true);

    operation = await w.drive(ref);
    expect(operation.state).toBe('succeeded');
    expect(operation.completedSteps).toEqual(['validate', 'claim-hostnames', 'write-route', 'certificate', 'distribution', 'dns-records', 'converge']);
    expect(operation.description).toBe(`provisioned: ${name} on the cdn plan for 1 region; ${NO_PROXIES}`);
    expect(w.cloud.records.get(name)).toEqual({ name, type: 'CNAME', value: distributionDomain });
    expect([...(await store.getInstance(ref.instanceId))!.resources.dnsNames!].sort()).toEqual([...validation, name].sort());
  });

  test('ACM: the step waits while the certificate is pending, and fails the provision once ACM gives up', async () => {
    let now = Date.now();
    const cloud = new LostRecordsCloud({ now: () => now });
    const w = world({ cloud });
    const name = nameOf('acm');
    const ref = await w.provision([name], {}, CDN);
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({
      state: 'in progress',
      step: 'certificate',
      description: 'provision: issuing the CloudFront certificate (ACM, DNS validation): waiting for ACM to validate the certificate',
    });
    expect(w.sent).toEqual([{ ref, delaySeconds: 11 }]);
    // ACM stops validating after 72 hours: FAILED.
    now += 73 * 3600 * 1000;
    await w.run(ref);
    expect((await operationOf(ref)).description).toBe(
      `provision failed while issuing the CloudFront certificate (ACM, DNS validation): ACM could not issue the certificate for ${name}. Completed steps: validate, claim-hostnames, write-route. Deprovision the instance to remove what was created.`,
    );
  });

  test('a recorded distribution that disappeared loses its record, and the retry creates a new one', async () => {
    const w = world({ cloud: new LocalCloud({ deployPolls: 1 }) });
    const ref = await w.provision([nameOf('lost')], {}, CDN);
    await w.run(ref);
    const { distributionId } = (await store.getInstance(ref.instanceId))!.resources;
    w.cloud.distributions.delete(distributionId!);
    expect(await w.run(ref, 1)).toEqual({ kind: 'retry', delaySeconds: 10 });
    expect((await operationOf(ref)).description).toBe(`provision: creating the CloudFront distribution: attempt 1 of 3 failed (distribution ${distributionId} disappeared; creating a new one); retrying in 10s`);
    const resources = (await store.getInstance(ref.instanceId))!.resources;
    expect(resources.distributionId).toBeUndefined();
    expect(resources.distributionDomain).toBeUndefined();
    expect(resources.originSecretVersion).toBeUndefined();
    expect((await w.drive(ref)).state).toBe('succeeded');
  });

  test('a move to standard points DNS back at the edge, then removes the distribution, the certificate and its records', async () => {
    const w = world();
    const name = nameOf('tostd');
    const { instanceId } = await w.provisioned([name], {}, CDN);
    const { certificateArn, distributionId } = (await store.getInstance(instanceId))!.resources;
    const validation = (await w.cloud.describeCertificate(certificateArn!))!.validationRecords.map((r) => r.name);
    const ref = await w.update(instanceId, { plan_id: STANDARD });
    const operation = await w.drive(ref);
    expect(operation.completedSteps).toEqual(['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge', 'release-old-hostnames', 'remove-cdn']);
    expect(operation.description).toBe(`updated: ${name} on the standard plan for 1 region; ${NO_PROXIES}`);
    expect(w.cloud.records.get(name)?.value).toBe(DOMAIN);
    expect(w.cloud.distributions.has(distributionId!)).toBe(false);
    expect(w.cloud.certificates.has(certificateArn!)).toBe(false);
    for (const v of validation) expect(w.cloud.records.has(v)).toBe(false);
    const resources = (await store.getInstance(instanceId))!.resources;
    expect(resources).toMatchObject({ dnsNames: [name] });
    expect(resources.distributionId).toBeUndefined();
    expect(resources.certificateArn).toBeUndefined();
    expect(resources.distributionDomain).toBeUndefined();
  });

  test('a withdrawn move to cdn points the kept names back at the edge', async () => {
    const w = world();
    const name = nameOf('back');
    const { instanceId } = await w.provisioned([name]);
    const ref = await w.update(instanceId, { plan_id: CDN });
    await w.report(w.regions[0], { connected: 1 });
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ state: 'in progress', step: 'converge' });
    expect(w.cloud.records.get(name)?.value).toMatch(/cloudfront\.net$/);
    const generation = (await store.getRoute(instanceId))!.generation;
    await w.report(w.regions[0], { connected: 0, rejected: { [instanceId]: { generation, source: 'nack', reason: 'r', nodes: 1 } as RejectedChange } });
    await w.run(ref);
    expect((await operationOf(ref)).state).toBe('failed');
    expect(w.cloud.records.get(name)?.value).toBe(DOMAIN);
    expect((await store.getRoute(instanceId))!.plan).toBe('standard');
  });

  test('a withdrawn move back to standard points the names at the still-existing distribution', async () => {
    const w = world();
    const name = nameOf('toback');
    const { instanceId } = await w.provisioned([name], {}, CDN);
    const { distributionDomain } = (await store.getInstance(instanceId))!.resources;
    const ref = await w.update(instanceId, { plan_id: STANDARD });
    await w.report(w.regions[0], { connected: 1 });
    await w.run(ref);
    expect(w.cloud.records.get(name)?.value).toBe(DOMAIN);
    const generation = (await store.getRoute(instanceId))!.generation;
    await w.report(w.regions[0], { connected: 0, rejected: { [instanceId]: { generation, source: 'nack', reason: 'r', nodes: 1 } as RejectedChange } });
    await w.run(ref);
    expect(w.cloud.records.get(name)?.value).toBe(distributionDomain);
    expect((await store.getRoute(instanceId))!.plan).toBe('cdn');
  });
});

// ---- deprovision --------------------------------------------------------------------

describe('a deprovision', () => {
  test('removes records, route and claims, then the instance and its bindings', async () => {
    const w = world();
    const name = nameOf('bye');
    const { instanceId } = await w.provisioned([name]);
    await store.createBinding({ instanceId, bindingId: 'b1', serviceId: SERVICE_ID, planId: STANDARD, credentials: {}, createdAt: new Date().toISOString() });
    const before = (await store.getRoute(instanceId))!.generation;
    const ref = await w.deprovision(instanceId);
    const operation = await w.drive(ref);
    expect(operation).toMatchObject({
      state: 'succeeded',
      completedSteps: ['delete-dns-records', 'remove-cdn', 'tombstone-route', 'release-hostnames', 'converge'],
      description: 'deprovisioned: the DNS records, the route and the hostname claims are removed',
    });
    const route = (await store.getRoute(instanceId))!;
    expect(route.deleted).toBe(true);
    expect(route.generation).toBeGreaterThan(before);
    expect(operation.routeGeneration).toBe(route.generation);
    expect(w.cloud.records.has(name)).toBe(false);
    expect(await store.hostnameOwner(name)).toBeUndefined();
    expect(await store.getInstance(instanceId)).toMatchObject({ state: 'deleted' });
    expect(await store.getBinding(instanceId, 'b1')).toBeUndefined();
    expect(w.counted).toEqual(['OperationsSucceeded']);
  });

  test('on cdn: the distribution and its certificate go too (and the description says so)', async () => {
    const w = world();
    const name = nameOf('cdnbye');
    const { instanceId } = await w.provisioned([name], {}, CDN);
    const { certificateArn } = (await store.getInstance(instanceId))!.resources;
    const validation = (await w.cloud.describeCertificate(certificateArn!))!.validationRecords.map((r) => r.name);
    const ref = await w.deprovision(instanceId);
    const operation = await w.drive(ref);
    expect(operation.description).toBe('deprovisioned: the DNS records, the CloudFront distribution and its certificate, the route and the hostname claims are removed');
    expect(w.cloud.distributions.size).toBe(0);
    expect(w.cloud.certificates.size).toBe(0);
    expect([...w.cloud.records.keys()].filter((n) => n === name || validation.includes(n))).toEqual([]);
  });

  test('a distribution still disabling: the step waits for CloudFront, the validation records stay with the certificate', async () => {
    const w = world({ cloud: new LocalCloud({ deployPolls: 1 }) });
    const name = nameOf('dis');
    const { instanceId } = await w.provisioned([name], {}, CDN);
    const { certificateArn } = (await store.getInstance(instanceId))!.resources;
    const validation = (await w.cloud.describeCertificate(certificateArn!))!.validationRecords.map((r) => r.name);
    const ref = await w.deprovision(instanceId);
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ step: 'remove-cdn', description: 'deprovision: removing the CloudFront distribution and certificate: waiting for CloudFront to disable the distribution' });
    // delete-dns-records removed the name's record; the certificate's validation records go with it, in remove-cdn.
    expect(w.cloud.records.has(name)).toBe(false);
    expect(validation.length).toBeGreaterThan(0);
    for (const v of validation) expect(w.cloud.records.has(v)).toBe(true);
    // The LocalCloud's distribution deploys its change as it is polled.
    const { distributionId } = (await store.getInstance(instanceId))!.resources;
    await w.cloud.getDistribution(distributionId!);
    expect((await w.drive(ref)).state).toBe('succeeded');
  });

  test('a name another instance claimed since keeps its record (it is theirs)', async () => {
    const w = world();
    const name = nameOf('reuse');
    const ref = await w.provision([name]);
    await w.run(ref);
    // Its claim lost meanwhile (a failed provision releases it) and taken by another instance.
    await store.releaseHostname(name, ref.instanceId);
    await store.claimHostname(name, 'new-owner');
    w.cloud.records.set(name, { name, type: 'CNAME', value: 'theirs' });
    const dep = await w.deprovision(ref.instanceId);
    await w.drive(dep);
    expect(w.cloud.records.get(name)?.value).toBe('theirs');
    expect(await store.hostnameOwner(name)).toBe('new-owner');
  });

  test('after cancelling a provision mid-step, it waits until that step has ended, then cleans up what it made', async () => {
    const w = world();
    const name = nameOf('halt');
    const ref = await w.provision([name]);
    await w.run(ref, 2); // validate done
    await store.setOperationLease(ref.instanceId, ref.operationId, Date.now() + 60_000);
    const dep = await w.deprovision(ref.instanceId);
    expect(await w.run(dep)).toEqual({ kind: 'ack' });
    expect(await operationOf(dep)).toMatchObject({ step: 'halt-cancelled', description: 'deprovision: halting the cancelled operation: waiting for the cancelled provision to finish its current step' });
    expect(w.sent).toEqual([{ ref: dep, delaySeconds: 11 }]);
    await store.setOperationLease(ref.instanceId, ref.operationId, 0);
    const operation = await w.drive(dep);
    expect(operation.completedSteps).toEqual(['halt-cancelled', 'delete-dns-records', 'remove-cdn', 'tombstone-route', 'release-hostnames', 'converge']);
    // The cancelled provision's own message finds it cancelled and does nothing.
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    expect(await operationOf(ref)).toMatchObject({ state: 'failed', completedSteps: ['validate'] });
  });

  test('a cancelled step whose lease ends now has run out: the deprovision goes on', async () => {
    const w = world();
    const ref = await w.provision([nameOf('leaseend')]);
    await w.run(ref, 2); // validate done
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
    try {
      await store.setOperationLease(ref.instanceId, ref.operationId, now);
      const dep = await w.deprovision(ref.instanceId);
      await w.run(dep);
      expect((await operationOf(dep)).completedSteps[0]).toBe('halt-cancelled');
    } finally {
      clock.mockRestore();
    }
  });

  test('the gate: a deprovision waits for its tombstone; past the timeout it fails, to be repeated', async () => {
    const w = world();
    const { instanceId } = await w.provisioned([nameOf('dg')]);
    const ref = await w.deprovision(instanceId);
    await w.report(w.regions[0], { connected: 2 });
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ step: 'converge', state: 'in progress' });
    // A rejection never holds up a removal.
    const generation = (await store.getRoute(instanceId))!.generation;
    await w.report(w.regions[0], { connected: 0, rejected: { [instanceId]: { generation, source: 'nack', reason: 'x', nodes: 2 } as RejectedChange } });
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ step: 'converge', state: 'in progress' });
    await store.updateOperation(ref.instanceId, ref.operationId, { convergeStartedAt: Date.now() - 61_000 });
    await w.run(ref);
    const operation = await operationOf(ref);
    expect(operation).toMatchObject({ state: 'failed', instanceUsable: false });
    expect(operation.description).toBe(
      `deprovision failed while waiting for the edge: the edge did not take the change within 60 s: accepted by 0 of 2 proxies in 1 region; waiting on ${w.regions[0]} (0 of 2). Completed steps: delete-dns-records, remove-cdn, tombstone-route, release-hostnames. Repeat the deprovision to finish the cleanup.`,
    );
    expect(await store.getInstance(instanceId)).toMatchObject({ state: 'provisioned', lastOutcome: { type: 'deprovision', state: 'failed', instanceUsable: false } });
  });

  test('of an instance whose provision failed before its route: nothing to wait for', async () => {
    const w = world();
    const taken = nameOf('tk');
    const ref = await w.provision([taken]);
    await store.claimHostname(taken, 'other');
    await w.run(ref);
    const dep = await w.deprovision(ref.instanceId);
    await w.report(w.regions[0], { connected: 2 });
    const operation = await w.drive(dep);
    expect(operation.state).toBe('succeeded');
    expect(await store.getRoute(ref.instanceId)).toBeUndefined();
  });
});

// ---- the run of an operation: defaults, optional context, writes another worker won ----

/** The real store where another worker's identical write lands just before each of this worker's writes of `state`. */
const racedTo = (state: OperationRecord['state']): BrokerStore =>
  storeWith({
    async updateOperation(instanceId: string, operationId: string, fields: Partial<OperationRecord>, guard?: StepGuard) {
      if (fields.state === state) await store.updateOperation(instanceId, operationId, fields, guard);
      return store.updateOperation(instanceId, operationId, fields, guard);
    },
  });

describe('the run of an operation', () => {
  test('defaults in AWS (docs/broker.md "The worker"): polls every 30 s, a 120 s lease, the DLQ on the 5th delivery, backoff 5, 10, 20, 40 s', () => {
    expect(DEFAULT_WORKER_OPTIONS).toMatchObject({ waitSeconds: 30, leaseSeconds: 120, maxAttempts: 5 });
    expect([1, 2, 3, 4].map((attempt) => DEFAULT_WORKER_OPTIONS.backoffSeconds(attempt))).toEqual([5, 10, 20, 40]);
  });

  test('a context with no stopping check and no metrics runs the operation', async () => {
    const w = world();
    const ref = await w.provision([nameOf('bare')]);
    expect(await workOnOperation({ ...w.ctx, stopping: undefined, metrics: undefined }, ref, 1)).toEqual({ kind: 'ack' });
    expect((await operationOf(ref)).state).toBe('succeeded');
  });

  test('its log lines carry the operationId and the instanceId (docs/broker.md "The worker")', async () => {
    const children: unknown[] = [];
    const recording = {
      createChild(options: unknown) {
        children.push(options);
        return logger;
      },
    } as unknown as Logger;
    const w = world();
    const ref = await w.provision([nameOf('logs')]);
    await workOnOperation({ ...w.ctx, logger: recording }, ref, 1);
    expect(children).toEqual([{ persistentKeys: { operationId: ref.operationId, instanceId: ref.instanceId } }]);
  });

  test('a cdn provision with nothing to wait for runs in one delivery: each step sees what the one before recorded', async () => {
    const w = world();
    const name = nameOf('onego');
    const ref = await w.provision([name], {}, CDN);
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    expect(await operationOf(ref)).toMatchObject({ state: 'succeeded', completedSteps: ['validate', 'claim-hostnames', 'write-route', 'certificate', 'distribution', 'dns-records', 'converge'] });
    expect(w.cloud.records.get(name)?.value).toBe((await store.getInstance(ref.instanceId))!.resources.distributionDomain);
    expect(w.counted).toEqual(['OperationsSucceeded']);
    expect(w.sent).toEqual([]);
  });

  test('a step back from a wait shows the progress it reported while it runs again', async () => {
    const seen: string[] = [];
    const watching = storeWith({
      async convergenceReports() {
        seen.push((await store.getOperation(ref.instanceId, ref.operationId))!.description);
        return store.convergenceReports();
      },
    });
    const w = world({ store: watching });
    const ref = await w.provision([nameOf('progress')]);
    await w.report(w.regions[0], { connected: 2 });
    await w.run(ref);
    await w.run(ref);
    expect(seen).toEqual(['provision: waiting for the edge', `provision: waiting for the edge: accepted by 0 of 2 proxies in 1 region; waiting on ${w.regions[0]} (0 of 2)`]);
  });

  test('a step that throws something other than an Error: its words are the retry reason', async () => {
    const failing = storeWith({ writeRoute: async () => Promise.reject('table unreachable') });
    const w = world({ store: failing });
    const ref = await w.provision([nameOf('notanerror')]);
    expect(await w.run(ref, 1)).toEqual({ kind: 'retry', delaySeconds: 10 });
    expect((await operationOf(ref)).description).toBe('provision: publishing the route to the edge control planes: attempt 1 of 3 failed (table unreachable); retrying in 10s');
  });

  test('a step that ends waiting after a deprovision cancelled its operation leaves the step and sends nothing', async () => {
    let dep: OperationRef | undefined;
    const cloud = new (class extends LocalCloud {
      override async getDistribution(id: string) {
        dep ??= await w.deprovision(ref.instanceId);
        return super.getDistribution(id);
      }
    })({ deployPolls: 2 });
    const w = world({ cloud });
    const ref = await w.provision([nameOf('cwait')], {}, CDN);
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    expect(dep).toBeDefined();
    expect(await operationOf(ref)).toMatchObject({ state: 'failed', step: 'distribution', busyUntil: 0 });
    expect(w.sent).toEqual([]);
  });

  test('a step that completes after a deprovision cancelled its operation leaves the step and goes no further', async () => {
    let dep: OperationRef | undefined;
    const cloud = new (class extends LocalCloud {
      override async upsertRecords(records: readonly DnsRecord[]): Promise<void> {
        dep ??= await w.deprovision(ref.instanceId);
        return super.upsertRecords(records);
      }
    })();
    const w = world({ cloud });
    const ref = await w.provision([nameOf('cdone')]);
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    expect(dep).toBeDefined();
    expect(await operationOf(ref)).toMatchObject({ state: 'failed', completedSteps: ['validate', 'claim-hostnames', 'write-route'], busyUntil: 0 });
    expect(w.sent).toEqual([]);
    expect(w.counted).toEqual([]);
  });

  test('an operation whose steps are all recorded as done succeeds at once; with no gate summary the description ends at the regions', async () => {
    const w = world();
    const name = nameOf('alldone');
    const ref = await w.provision([name]);
    await store.updateOperation(ref.instanceId, ref.operationId, { completedSteps: ['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge'] });
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    expect(await operationOf(ref)).toMatchObject({ state: 'succeeded', description: `provisioned: ${name} on the standard plan for 1 region` });
    expect(w.cloud.actions).toEqual([]);
  });

  test('an operation recorded before the gate (its generation on the instance only) still waits for the edge', async () => {
    const w = world();
    const ref = await w.provision([nameOf('legacy')]);
    await w.report(w.regions[0], { connected: 2 });
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ state: 'in progress', step: 'converge' });
    await store.doc.send(new UpdateCommand({ TableName: TABLE, Key: { pk: `INSTANCE#${ref.instanceId}`, sk: `OPERATION#${ref.operationId}` }, UpdateExpression: 'REMOVE routeGeneration' }));
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ state: 'in progress', step: 'converge', description: `provision: waiting for the edge: accepted by 0 of 2 proxies in 1 region; waiting on ${w.regions[0]} (0 of 2)` });
  });
});

describe('the metrics count only writes that were applied (docs/broker.md "Metrics")', () => {
  test('a success another worker recorded first counts nothing here', async () => {
    const w = world({ store: racedTo('succeeded') });
    const ref = await w.provision([nameOf('rs')]);
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    expect((await operationOf(ref)).state).toBe('succeeded');
    expect(w.counted).toEqual([]);
  });

  test('a failure another worker recorded first counts nothing here', async () => {
    const w = world({ store: racedTo('failed') });
    const taken = nameOf('rf');
    const ref = await w.provision([taken]);
    await store.claimHostname(taken, 'another-instance');
    await w.run(ref);
    expect((await operationOf(ref)).state).toBe('failed');
    expect(w.counted).toEqual([]);
  });

  test('a withdrawal another worker recorded first counts neither the failure nor the rejection', async () => {
    const w = world({ store: racedTo('failed') });
    const ref = await w.provision([nameOf('rw')]);
    await w.report(w.regions[0], { connected: 1 });
    await w.run(ref);
    const generation = (await store.getRoute(ref.instanceId))!.generation;
    await w.report(w.regions[0], { connected: 0, rejected: { [ref.instanceId]: { generation, source: 'nack', reason: 'r', nodes: 1 } as RejectedChange } });
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ state: 'failed', withdrawal: { cause: 'rejected' } });
    expect(w.counted).toEqual([]);
  });

  test('a cancellation or an orphan closed by another worker first counts nothing here', async () => {
    const w = world({ store: racedTo('failed') });
    const ref = await w.provision([nameOf('rc')]);
    await store.doc.send(new UpdateCommand({ TableName: TABLE, Key: { pk: `INSTANCE#${ref.instanceId}`, sk: 'INSTANCE' }, UpdateExpression: 'SET currentOperationId = :o', ExpressionAttributeValues: { ':o': 'op-other' } }));
    await w.run(ref);
    expect((await operationOf(ref)).state).toBe('failed');
    const orphan = { ...(await operationOf(await w.provision([nameOf('ro')]))), instanceId: unique('orphan') };
    await store.putOperation(orphan);
    await w.run({ instanceId: orphan.instanceId, operationId: orphan.operationId });
    expect((await store.getOperation(orphan.instanceId, orphan.operationId))!.state).toBe('failed');
    expect(w.counted).toEqual([]);
  });
});

describe('more operations the worker closes without running steps', () => {
  test('an update with no step done whose instance is gone fails as such (it is no interrupted provision)', async () => {
    const w = world();
    const { instanceId } = await w.provisioned([nameOf('ugone')]);
    const ref = await w.update(instanceId, { parameters: { hostnames: [nameOf('ugone2')] } });
    const lost = { ...(await operationOf(ref)), instanceId: unique('lost') };
    await store.putOperation(lost);
    expect(await w.run({ instanceId: lost.instanceId, operationId: lost.operationId })).toEqual({ kind: 'ack' });
    const closed = (await store.getOperation(lost.instanceId, lost.operationId))!;
    expect(closed.state).toBe('failed');
    expect(closed.description).toMatch(/^the instance no longer exists\. /);
  });

  test('a finished operation whose instance is gone: the message is dropped', async () => {
    const w = world();
    const ref = await w.provision([nameOf('fgone')]);
    const finished = { ...(await operationOf(ref)), instanceId: unique('gone'), state: 'succeeded' as const };
    await store.putOperation(finished);
    expect(await w.run({ instanceId: finished.instanceId, operationId: finished.operationId })).toEqual({ kind: 'ack' });
    expect(w.counted).toEqual([]);
  });

  test('a finished deprovision delivered again changes nothing, not even a binding made since', async () => {
    const w = world();
    const { instanceId } = await w.provisioned([nameOf('again')]);
    const ref = await w.deprovision(instanceId);
    expect((await w.drive(ref)).state).toBe('succeeded');
    await store.createBinding({ instanceId, bindingId: 'b2', serviceId: SERVICE_ID, planId: STANDARD, credentials: {}, createdAt: new Date().toISOString() });
    w.counted.length = 0;
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    expect(await store.getBinding(instanceId, 'b2')).toBeDefined();
    expect(w.counted).toEqual([]);
  });
});

describe('more of the steps', () => {
  const setTarget = (ref: OperationRef, expression: string, values?: Record<string, unknown>) =>
    store.doc.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: { pk: `INSTANCE#${ref.instanceId}`, sk: `OPERATION#${ref.operationId}` },
        UpdateExpression: expression,
        ExpressionAttributeNames: expression.includes('#p') ? { '#t': 'target', '#p': 'parameters' } : { '#t': 'target' },
        ExpressionAttributeValues: values,
      }),
    );

  test('validate checks the target as a whole configuration: a missing backends list fails it', async () => {
    const w = world();
    const ref = await w.provision([nameOf('nob')]);
    await setTarget(ref, 'REMOVE #t.#p.backends');
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ state: 'failed' });
    expect((await operationOf(ref)).description).toMatch(/^provision failed while validating parameters: Invalid parameters: backends: /);
  });

  test('validate names every hostname problem', async () => {
    const w = world();
    const ref = await w.provision([nameOf('two')]);
    await setTarget(ref, 'SET #t.#p.hostnames = :h', { ':h': [`a.b.${DOMAIN}`, `c.d.${DOMAIN}`] });
    await w.run(ref);
    expect((await operationOf(ref)).description).toMatch(/^provision failed while validating parameters: hostnames\[0\]: a\.b\.edge\.example\.com .*; hostnames\[1\]: c\.d\.edge\.example\.com /);
  });

  test('an operation with no target configuration fails at once, naming the operation', async () => {
    const w = world();
    const ref = await w.provision([nameOf('notarget')]);
    await setTarget(ref, 'REMOVE #t');
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    const operation = await operationOf(ref);
    expect(operation.state).toBe('failed');
    expect(operation.description).toMatch(/^provision failed while validating parameters: /);
    expect(operation.description).toContain(ref.operationId);
  });

  test('ACM not yet showing the validation records: the certificate step waits for them', async () => {
    let hidden = true;
    const cloud = new (class extends LocalCloud {
      override async describeCertificate(arn: string) {
        const state = await super.describeCertificate(arn);
        return state && hidden ? { ...state, validationRecords: [] } : state;
      }
    })();
    const w = world({ cloud });
    const ref = await w.provision([nameOf('norecords')], {}, CDN);
    expect(await w.run(ref)).toEqual({ kind: 'ack' });
    expect(await operationOf(ref)).toMatchObject({ state: 'in progress', step: 'certificate', description: 'provision: issuing the CloudFront certificate (ACM, DNS validation): waiting for ACM to publish the DNS validation records' });
    expect(w.sent).toEqual([{ ref, delaySeconds: 11 }]);
    expect(w.cloud.actions.filter((a) => a.action === 'route53:UPSERT')).toEqual([]);
    hidden = false;
    expect((await w.drive(ref)).state).toBe('succeeded');
  });

  test('a recorded certificate that disappeared loses its record, and the retry requests a new one', async () => {
    const cloud = new LostRecordsCloud();
    const w = world({ cloud });
    const ref = await w.provision([nameOf('lostcert')], {}, CDN);
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ step: 'certificate', state: 'in progress' });
    const { certificateArn } = (await store.getInstance(ref.instanceId))!.resources;
    w.cloud.certificates.delete(certificateArn!);
    expect(await w.run(ref, 1)).toEqual({ kind: 'retry', delaySeconds: 10 });
    expect((await operationOf(ref)).description).toContain(certificateArn!);
    expect((await store.getInstance(ref.instanceId))!.resources.certificateArn).toBeUndefined();
    await w.run(ref, 2);
    expect(w.cloud.actions.filter((a) => a.action === 'acm:RequestCertificate')).toHaveLength(2);
    expect((await store.getInstance(ref.instanceId))!.resources.certificateArn).toBe(certificateArn);
  });

  test('a step back from a wait uses what it recorded: one certificate, one distribution, no validation records written again once issued', async () => {
    const calls: string[] = [];
    let dropUpserts = true;
    const cloud = new (class extends LocalCloud {
      override async requestCertificate(request: CertificateRequest) {
        calls.push('request certificate');
        return super.requestCertificate(request);
      }
      override async createDistribution(request: DistributionRequest) {
        calls.push('create distribution');
        return super.createDistribution(request);
      }
      override async upsertRecords(records: readonly DnsRecord[]): Promise<void> {
        calls.push('upsert');
        if (!dropUpserts) return super.upsertRecords(records);
      }
    })({ deployPolls: 1 });
    const w = world({ cloud });
    const ref = await w.provision([nameOf('once')], {}, CDN);
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ step: 'certificate', state: 'in progress' });
    // The validation records resolve meanwhile (written, seen late): ACM issues the certificate.
    const { certificateArn } = (await store.getInstance(ref.instanceId))!.resources;
    for (const record of (await w.cloud.describeCertificate(certificateArn!))!.validationRecords) w.cloud.records.set(record.name, record);
    dropUpserts = false;
    await w.run(ref);
    expect(await operationOf(ref)).toMatchObject({ step: 'distribution', state: 'in progress' });
    expect((await w.drive(ref)).state).toBe('succeeded');
    expect(calls).toEqual(['request certificate', 'upsert', 'create distribution', 'upsert']);
  });

  test('with no origin secret configured the distribution is created without the origin header', async () => {
    const w = world();
    (w.settings as { cdnOriginSecretArn?: string }).cdnOriginSecretArn = undefined;
    const ref = await w.provision([nameOf('nosecret')], {}, CDN);
    expect((await w.drive(ref)).state).toBe('succeeded');
    const created = w.cloud.actions.find((a) => a.action === 'cloudfront:CreateDistribution')!;
    expect(created.originHeader).toBeUndefined();
    expect(w.cloud.secrets.size).toBe(0);
    expect((await store.getInstance(ref.instanceId))!.resources.originSecretVersion).toBeUndefined();
  });

  test('a move to cdn: certificate and distribution before DNS, and no remove-cdn', async () => {
    const w = world();
    const name = nameOf('tocdn');
    const { instanceId } = await w.provisioned([name]);
    const operation = await w.drive(await w.update(instanceId, { plan_id: CDN }));
    expect(operation.completedSteps).toEqual(['validate', 'claim-hostnames', 'write-route', 'certificate', 'distribution', 'dns-records', 'converge', 'release-old-hostnames']);
    expect(operation.description).toBe(`updated: ${name} on the cdn plan for 1 region; ${NO_PROXIES}`);
  });

  test('a withdrawn provision whose route is gone by then says so without a generation', async () => {
    const w = world({ store: storeWith({ getRoute: async () => undefined }) });
    const ref = await w.provision([nameOf('noroute')]);
    await w.report(w.regions[0], { connected: 1 });
    await w.run(ref);
    const generation = (await store.getRoute(ref.instanceId))!.generation;
    await w.report(w.regions[0], { connected: 0, rejected: { [ref.instanceId]: { generation, source: 'nack', reason: 'r', nodes: 1 } as RejectedChange } });
    await w.run(ref);
    const operation = await operationOf(ref);
    expect(operation.state).toBe('failed');
    expect(operation.withdrawnGeneration).toBeUndefined();
    expect(operation.description).toContain('The change was withdrawn: the route is removed from the edge, its DNS records are deleted and its hostnames released.');
    expect((await store.getRoute(ref.instanceId))!).toMatchObject({ deleted: false, generation });
  });

  test('a certificate already deleted: the deprovision still finishes (every delete tolerates a resource already gone)', async () => {
    const w = world();
    const { instanceId } = await w.provisioned([nameOf('nocert')], {}, CDN);
    const { certificateArn } = (await store.getInstance(instanceId))!.resources;
    const validation = (await w.cloud.describeCertificate(certificateArn!))!.validationRecords.map((r) => r.name);
    w.cloud.certificates.delete(certificateArn!);
    expect((await w.drive(await w.deprovision(instanceId))).state).toBe('succeeded');
    expect((await store.getInstance(instanceId))!.resources.certificateArn).toBeUndefined();
    // Its validation records (names nobody claims) are removed all the same.
    expect(validation.length).toBeGreaterThan(0);
    for (const v of validation) expect(w.cloud.records.has(v)).toBe(false);
  });

  test('a deprovision that cancelled an update also releases the names the update added', async () => {
    const w = world();
    const kept = nameOf('ck');
    const added = nameOf('ca');
    const { instanceId } = await w.provisioned([kept]);
    const update = await w.update(instanceId, { parameters: { hostnames: [kept, added] } });
    await w.report(w.regions[0], { connected: 1 });
    await w.run(update);
    expect(await store.hostnameOwner(added)).toBe(instanceId);
    expect(w.cloud.records.has(added)).toBe(true);
    const dep = await w.deprovision(instanceId);
    await w.run(dep);
    expect(await operationOf(dep)).toMatchObject({ step: 'converge', completedSteps: ['halt-cancelled', 'delete-dns-records', 'remove-cdn', 'tombstone-route', 'release-hostnames'] });
    expect(await store.hostnameOwner(added)).toBeUndefined();
    expect(await store.hostnameOwner(kept)).toBeUndefined();
    expect(w.cloud.records.has(added)).toBe(false);
  });

  test('a deprovision repeated after the gate timed out waits again for the tombstone it finds', async () => {
    const w = world();
    const { instanceId } = await w.provisioned([nameOf('rep')]);
    const first = await w.deprovision(instanceId);
    await w.report(w.regions[0], { connected: 2 });
    await w.run(first);
    await store.updateOperation(first.instanceId, first.operationId, { convergeStartedAt: Date.now() - 61_000 });
    await w.run(first);
    expect((await operationOf(first)).state).toBe('failed');
    const tombstone = (await store.getRoute(instanceId))!;
    expect(tombstone.deleted).toBe(true);
    const again = await w.deprovision(instanceId);
    await w.run(again);
    expect(await operationOf(again)).toMatchObject({ state: 'in progress', step: 'converge', routeGeneration: tombstone.generation });
    // Every step is idempotent: the route already tombstoned keeps its generation.
    expect((await store.getRoute(instanceId))!.generation).toBe(tombstone.generation);
  });
});

describe('what the steps show and touch (issue 17)', () => {
  /** The LocalCloud, noting every name a step asks Route 53 to delete (whether or not it has a record). */
  class DeletionsCloud extends LocalCloud {
    readonly deleted: string[] = [];
    override async deleteRecords(names: readonly string[]): Promise<void> {
      this.deleted.push(...names);
      return super.deleteRecords(names);
    }
  }

  test('while each step runs, last_operation describes it (docs/broker.md "The worker", "The steps say")', async () => {
    const shown: string[] = [];
    const w = world({
      store: storeWith({
        async updateOperation(instanceId: string, operationId: string, fields: Partial<OperationRecord>, guard?: StepGuard) {
          // A step's claim: the write that names the step and takes its lease.
          if (guard?.freeAt !== undefined) shown.push(fields.description!);
          return store.updateOperation(instanceId, operationId, fields, guard);
        },
      }),
    });
    const [old, kept, added] = [nameOf('sh-old'), nameOf('sh-kept'), nameOf('sh-added')];
    const { instanceId } = await w.provisioned([old, kept]);
    const steps = async (run: () => Promise<unknown>) => {
      shown.length = 0;
      await run();
      return [...shown];
    };
    // An update that succeeds, then one the edge rejects (withdrawn), then the deprovision.
    expect(await steps(async () => w.drive(await w.update(instanceId, { parameters: { hostnames: [kept] } })))).toEqual([
      'update: validating parameters',
      'update: claiming hostnames',
      'update: publishing the route to the edge control planes',
      'update: writing DNS records',
      'update: waiting for the edge',
      'update: releasing hostnames no longer served',
      'update: removing the CloudFront distribution and certificate (plan changed to standard)',
    ]);
    const ref = await w.update(instanceId, { parameters: { hostnames: [kept, added] } });
    await w.report(w.regions[0], { connected: 1 });
    await w.run(ref);
    const generation = (await store.getRoute(instanceId))!.generation;
    await w.report(w.regions[0], { connected: 0, rejected: { [instanceId]: { generation, source: 'nack', reason: 'r', nodes: 1 } as RejectedChange } });
    expect(await steps(async () => w.drive(ref))).toEqual([
      // Back from its wait, the gate goes on showing the progress it reported.
      expect.stringMatching(/^update: waiting for the edge: accepted by 0 of 1 proxy/),
      'update: withdrawing the change from the edge',
      'update: restoring DNS records',
      'update: releasing the hostnames of the withdrawn change',
    ]);
    // (Its gate then waits on the proxy reported above: one delivery shows every step.)
    expect(await steps(async () => w.run(await w.deprovision(instanceId)))).toEqual([
      'deprovision: deleting DNS records',
      'deprovision: removing the CloudFront distribution and certificate',
      'deprovision: withdrawing the route from the edge control planes',
      'deprovision: releasing hostnames',
      'deprovision: waiting for the edge',
    ]);
  });

  test('ACM giving up on a certificate for two names: the failure names both', async () => {
    let now = Date.now();
    const cloud = new LostRecordsCloud({ now: () => now });
    const w = world({ cloud });
    const [a, b] = [nameOf('acm2a'), nameOf('acm2b')];
    const ref = await w.provision([a, b], {}, CDN);
    await w.run(ref);
    now += 73 * 3600 * 1000;
    await w.run(ref);
    expect((await operationOf(ref)).description).toContain(`: ACM could not issue the certificate for ${a}, ${b}. `);
  });

  test('a withdrawn move to cdn that added a name: the added name keeps no record, the kept one points at the edge again', async () => {
    const w = world();
    const kept = nameOf('mv-kept');
    const added = nameOf('mv-added');
    const { instanceId } = await w.provisioned([kept]);
    const ref = await w.update(instanceId, { plan_id: CDN, parameters: { hostnames: [kept, added] } });
    await w.report(w.regions[0], { connected: 1 });
    await w.run(ref);
    expect(w.cloud.records.get(added)?.value).toMatch(/cloudfront\.net$/);
    const generation = (await store.getRoute(instanceId))!.generation;
    await w.report(w.regions[0], { connected: 0, rejected: { [instanceId]: { generation, source: 'nack', reason: 'r', nodes: 1 } as RejectedChange } });
    await w.run(ref);
    expect((await operationOf(ref)).state).toBe('failed');
    expect(w.cloud.records.get(kept)?.value).toBe(DOMAIN);
    expect(w.cloud.records.has(added)).toBe(false);
    expect(await store.hostnameOwner(added)).toBeUndefined();
  });

  test('a deprovision of an instance that wrote no record: its name, claimed by another since, is not touched, and no record name is kept', async () => {
    const cloud = new DeletionsCloud();
    const w = world({ cloud });
    const taken = nameOf('nr');
    const ref = await w.provision([taken]);
    await store.claimHostname(taken, 'other');
    await w.run(ref);
    expect((await operationOf(ref)).state).toBe('failed');
    expect((await w.drive(await w.deprovision(ref.instanceId))).state).toBe('succeeded');
    expect(cloud.deleted).toEqual([]);
    expect((await store.getInstance(ref.instanceId))!.resources.dnsNames ?? []).toEqual([]);
  });

  test('a cdn deprovision whose certificate is already gone deletes only records of its own names', async () => {
    const cloud = new DeletionsCloud();
    const w = world({ cloud });
    const name = nameOf('gonecert');
    const { instanceId } = await w.provisioned([name], {}, CDN);
    const { certificateArn } = (await store.getInstance(instanceId))!.resources;
    const validation = (await w.cloud.describeCertificate(certificateArn!))!.validationRecords.map((r) => r.name);
    w.cloud.certificates.delete(certificateArn!);
    cloud.deleted.length = 0;
    expect((await w.drive(await w.deprovision(instanceId))).state).toBe('succeeded');
    expect([...new Set(cloud.deleted)].sort()).toEqual([name, ...validation].sort());
  });

  test('a deprovision stopped at the gate leaves the instance recording the tombstone as its route generation', async () => {
    const w = world();
    const { instanceId } = await w.provisioned([nameOf('tg')]);
    const before = (await store.getInstance(instanceId))!.resources.routeGeneration;
    const ref = await w.deprovision(instanceId);
    await w.report(w.regions[0], { connected: 2 });
    await w.run(ref);
    const tombstone = (await store.getRoute(instanceId))!;
    expect(tombstone.deleted).toBe(true);
    expect(tombstone.generation).toBeGreaterThan(before!);
    await store.updateOperation(ref.instanceId, ref.operationId, { convergeStartedAt: Date.now() - 61_000 });
    await w.run(ref);
    expect((await operationOf(ref)).state).toBe('failed');
    expect((await store.getInstance(instanceId))!.resources.routeGeneration).toBe(tombstone.generation);
  });
});

describe('the LocalCloud the steps run against', () => {
  // ACM's CertificateArn and CloudFront's Id are required: a step that lost its ARN or id must
  // fail here as it would in AWS, not read "not found" and carry on.
  it('refuses a call without the certificate ARN or distribution id, as ACM and CloudFront do', async () => {
    const cloud = new LocalCloud();
    const validation = { name: 'ValidationException' };
    await expect(cloud.describeCertificate('')).rejects.toMatchObject(validation);
    await expect(cloud.deleteCertificate(undefined as unknown as string)).rejects.toMatchObject(validation);
    await expect(cloud.getDistribution('')).rejects.toMatchObject(validation);
    await expect(cloud.disableDistribution('')).rejects.toMatchObject(validation);
    await expect(cloud.deleteDistribution('')).rejects.toMatchObject(validation);
    // A well-formed ARN or id that names nothing is still "not found", not an error.
    await expect(cloud.describeCertificate('arn:aws:acm:us-east-1:123456789012:certificate/none')).resolves.toBeUndefined();
    await expect(cloud.getDistribution('ENONE')).resolves.toBeUndefined();
  });
});
