/**
 * Fault: the worker dies. Between two steps (at every step boundary of a provision), and
 * inside a step (a cloud call that never returns; the worker is abandoned like a crashed
 * Lambda and the queue's copy is lost with the process, as `kill -9` of `npm start` loses
 * the in-memory SQS emulator). A new worker must finish the operation, each step once;
 * after a restart, without waiting out the dead worker's lease on its step.
 */
import { PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { DnsRecord } from '../../lib/broker/runtime/cloud/types';
import { LocalBroker, LocalBrokerOptions } from '../../lib/broker/runtime/local/local-broker';
import { operationMessage } from '../../lib/broker/runtime/queue';
import { settleMessage } from '../../lib/broker/runtime/worker/messages';
import { WorkerContext } from '../../lib/broker/runtime/worker/worker';
import { localClientConfig } from '../../lib/local/emulators';
import { brokerFixture, testWorkerContext } from '../broker/support';
import { DOMAIN, Osb, PASSWORD, osb, provisionBody, scanTable, settle } from './support/harness';

const PROVISION_STEPS = ['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge'];

/** A LocalCloud whose first DNS write never returns: the worker is stuck inside that step. */
class HangingCloud extends LocalCloud {
  hung = false;
  override upsertRecords(records: readonly DnsRecord[]): Promise<void> {
    if (!this.hung) {
      this.hung = true;
      return new Promise<void>(() => undefined);
    }
    return super.upsertRecords(records);
  }
}

describe('fault: the worker killed', () => {
  const fixture = brokerFixture('faults-killed');
  let sqs: SQSClient;
  let tables = 0;

  beforeAll(() => {
    sqs = new SQSClient(localClientConfig(fixture.emulators.sqsEndpoint));
  });
  afterAll(() => sqs?.destroy());

  // The local broker's own 60 s lease: a restart must not wait it out.
  const start = async (tableName: string, cloud: LocalCloud, worker: LocalBrokerOptions['worker']): Promise<{ broker: LocalBroker; call: Osb }> => {
    const broker = await fixture.start({ tableName, password: PASSWORD, regions: ['us-east-1'], cloud, worker: { leaseSeconds: 60, ...worker } });
    return { broker, call: osb(broker.url) };
  };

  const workerContext = (broker: LocalBroker, cloud: LocalCloud, stopping?: () => boolean): WorkerContext => testWorkerContext(broker, sqs, { cloud, stopping });

  it.each([1, 2, 3, 4])('between steps (after %i completed): a new worker finishes, each step once', async (completed) => {
    const table = `faults-wk-${++tables}`;
    const cloud = new LocalCloud();
    const { broker, call } = await start(table, cloud, { enabled: false });
    const instanceId = `between-${completed}`;
    const reply = await call('PUT', `/v2/service_instances/${instanceId}?accepts_incomplete=true`, provisionBody([`${instanceId}.${DOMAIN}`]));
    expect(reply.status).toBe(202);
    const body = operationMessage({ instanceId, operationId: reply.body.operation });

    // The first worker goes down after `completed` steps (it is asked before each step).
    let asked = 0;
    const first = await settleMessage(workerContext(broker, cloud, () => ++asked > completed), body, 1);
    expect(first.kind).toBe('retry');
    const midway = await broker.store.getOperation(instanceId, reply.body.operation);
    expect(midway?.completedSteps).toEqual(PROVISION_STEPS.slice(0, completed));

    // The message comes back to a new worker.
    expect((await settleMessage(workerContext(broker, cloud), body, 2)).kind).toBe('ack');
    for (let receive = 3; (await broker.store.getOperation(instanceId, reply.body.operation))?.state === 'in progress' && receive < 10; receive++) {
      // It handed over to a fresh message after progress: deliver that one too.
      await settleMessage(workerContext(broker, cloud), body, 1);
    }
    expect((await settle(call, instanceId, reply.body.operation)).body.state).toBe('succeeded');
    const items = await scanTable(fixture.emulators.dynamodbEndpoint, table);
    expect(items.find((i) => i.pk === 'COUNTER')?.value).toBe(1);
    expect(items.find((i) => i.sk === `OPERATION#${reply.body.operation}`)?.completedSteps).toEqual(PROVISION_STEPS);
    expect(cloud.actions.map((a) => a.action)).toEqual(['route53:UPSERT']);
  });

  it('inside a step, its queue copy lost: a restart resumes the operation at once and it completes, each step once', async () => {
    const table = `faults-wk-${++tables}`;
    // A long lease: the dead worker's claim on the step must not hold the operation up for it.
    const worker = { leaseSeconds: 60, visibilityTimeoutSeconds: 60, stopGraceMs: 100 };
    const hanging = new HangingCloud();
    const first = await start(table, hanging, worker);
    const instanceId = 'inside-step';
    const reply = await first.call('PUT', `/v2/service_instances/${instanceId}?accepts_incomplete=true`, provisionBody([`${instanceId}.${DOMAIN}`]));
    expect(reply.status).toBe(202);
    const deadline = Date.now() + 10_000;
    while (!hanging.hung && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(hanging.hung).toBe(true);
    expect((await first.broker.store.getOperation(instanceId, reply.body.operation))?.step).toBe('dns-records');

    // The worker dies inside the step: abandoned, and the copy of its message goes with the process.
    await first.broker.stop();
    await sqs.send(new PurgeQueueCommand({ QueueUrl: first.broker.queueUrl }));

    // The restart re-enqueues the operation; its new worker must not give up on it, nor
    // wait out the dead worker's lease (no worker of the last run is alive).
    const cloud = new LocalCloud();
    const second = await start(table, cloud, worker);
    expect(second.broker.resumed).toBe(1);
    const resumedAt = Date.now();
    expect((await settle(second.call, instanceId, reply.body.operation, 15_000)).body.state).toBe('succeeded');
    expect(Date.now() - resumedAt).toBeLessThan(10_000);
    const items = await scanTable(fixture.emulators.dynamodbEndpoint, table);
    expect(items.find((i) => i.pk === 'COUNTER')?.value).toBe(1);
    expect(cloud.actions.map((a) => a.action)).toEqual(['route53:UPSERT']);
  });
});
