/**
 * Fault: a worker message delivered twice (SQS is at-least-once): after the operation
 * finished, straight into the queue; twice at once, both copies worked on together; and
 * a copy arriving while the first waits for a slow CloudFront distribution. No step may
 * be applied twice: the LocalCloud's action log, the route generation counter (advanced
 * once per change) and the operation record say so.
 */
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { LocalBroker, LocalBrokerOptions } from '../../lib/broker/runtime/local/local-broker';
import { operationMessage } from '../../lib/broker/runtime/queue';
import { settleMessage } from '../../lib/broker/runtime/worker/messages';
import { localClientConfig } from '../../lib/local/emulators';
import { brokerFixture, testWorkerContext } from '../broker/support';
import { CDN_PLAN, Item, Osb, PASSWORD, osb, provisionBody, queueDepth, repeatedActions, scanTable, settle, sleep, waitFor } from './support/harness';

describe('fault: a worker message delivered twice', () => {
  const fixture = brokerFixture('faults-dup');
  let sqs: SQSClient;

  beforeAll(() => {
    sqs = new SQSClient(localClientConfig(fixture.emulators.sqsEndpoint));
  });
  afterAll(() => sqs?.destroy());

  /** A broker on a table of its own, recording into its own LocalCloud. */
  async function start(cloud: LocalCloud, worker: LocalBrokerOptions['worker'] = {}): Promise<{ broker: LocalBroker; call: Osb; table: string }> {
    const broker = await fixture.start({ password: PASSWORD, regions: ['us-east-1'], cloud, worker });
    return { broker, call: osb(broker.url), table: broker.settings.tableName };
  }

  const send = (queueUrl: string, instanceId: string, operationId: string) => sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: operationMessage({ instanceId, operationId }) }));
  const drained = (broker: LocalBroker) => waitFor('the queue to drain', async () => (await queueDepth(fixture.emulators.sqsEndpoint, broker.queueUrl)) === 0, 15_000);
  const routeCounter = (items: Item[]) => items.find((i) => i.pk === 'COUNTER')?.value;
  const operationItem = (items: Item[], operationId: string) => items.find((i) => i.sk === `OPERATION#${operationId}`);

  it('after the operation finished: the copy changes nothing', async () => {
    const cloud = new LocalCloud();
    const { broker, call, table } = await start(cloud);
    const reply = await call('PUT', '/v2/service_instances/dup-after?accepts_incomplete=true', provisionBody(['dup-after.edge.example.com']));
    expect(reply.status).toBe(202);
    expect((await settle(call, 'dup-after', reply.body.operation)).body.state).toBe('succeeded');
    await drained(broker);
    const before = await scanTable(fixture.emulators.dynamodbEndpoint, table);
    const actionsBefore = cloud.actions.length;

    await send(broker.queueUrl, 'dup-after', reply.body.operation);
    await send(broker.queueUrl, 'dup-after', reply.body.operation);
    await sleep(300);
    await drained(broker);

    expect(await scanTable(fixture.emulators.dynamodbEndpoint, table)).toEqual(before);
    expect(cloud.actions.length).toBe(actionsBefore);
    expect(routeCounter(before)).toBe(1);
  });

  it('two copies worked on at the same time: every step applied once', async () => {
    const cloud = new LocalCloud();
    // No worker loop: the test is the worker, and works on both copies at once.
    const { broker, call, table } = await start(cloud, { enabled: false });
    const reply = await call('PUT', '/v2/service_instances/dup-concurrent?accepts_incomplete=true', provisionBody(['dup-concurrent.edge.example.com']));
    expect(reply.status).toBe(202);
    const ref = { instanceId: 'dup-concurrent', operationId: reply.body.operation as string };
    const ctx = testWorkerContext(broker, sqs, { cloud });
    const body = operationMessage(ref);
    const settlements = await Promise.all([settleMessage(ctx, body, 1), settleMessage(ctx, body, 1)]);
    expect(settlements.every((s) => s.kind === 'ack' || s.kind === 'retry')).toBe(true);
    // A copy told to retry is delivered again: work on it as SQS would.
    for (const s of settlements) if (s.kind === 'retry') await settleMessage(ctx, body, 2);

    expect((await settle(call, ref.instanceId, ref.operationId)).body.state).toBe('succeeded');
    const items = await scanTable(fixture.emulators.dynamodbEndpoint, table);
    expect(routeCounter(items)).toBe(1);
    expect(items.filter((i) => i.pk.startsWith('ROUTE#')).map((r) => r.generation)).toEqual([1]);
    expect(operationItem(items, ref.operationId)).toMatchObject({ state: 'succeeded', routeGeneration: 1, completedSteps: ['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge'] });
    expect(cloud.actions.map((a) => a.action)).toEqual(['route53:UPSERT']);
  });

  it('a copy arriving while the first waits for CloudFront: no step applied twice', async () => {
    const cloud = new LocalCloud({ deployPolls: 20 });
    const { broker, call, table } = await start(cloud, { waitSeconds: 0.1, concurrency: 4 });
    const reply = await call('PUT', '/v2/service_instances/dup-waiting?accepts_incomplete=true', provisionBody(['dup-waiting.edge.example.com'], {}, CDN_PLAN));
    expect(reply.status).toBe(202);
    await waitFor('the provision to wait for CloudFront', async () => /CloudFront to deploy/.test((await call('GET', '/v2/service_instances/dup-waiting/last_operation')).body?.description ?? ''));
    await send(broker.queueUrl, 'dup-waiting', reply.body.operation);
    await send(broker.queueUrl, 'dup-waiting', reply.body.operation);

    expect((await settle(call, 'dup-waiting', reply.body.operation)).body.state).toBe('succeeded');
    await drained(broker);
    const items = await scanTable(fixture.emulators.dynamodbEndpoint, table);
    expect(routeCounter(items)).toBe(1);
    expect(operationItem(items, reply.body.operation)).toMatchObject({
      state: 'succeeded',
      completedSteps: ['validate', 'claim-hostnames', 'write-route', 'certificate', 'distribution', 'dns-records', 'converge'],
    });
    expect(repeatedActions(cloud.actions)).toEqual([]);
    expect(cloud.actions.filter((a) => a.action === 'cloudfront:CreateDistribution')).toHaveLength(1);
  });
});
