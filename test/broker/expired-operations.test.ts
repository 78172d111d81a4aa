/**
 * `last_operation` after the operation's record expired (the table's TTL removes it): the answer
 * must still be how the operation ended. OSB 2.17 "Polling Last Operation for Service Instances":
 * a deprovision's "succeeded" tells the platform the instance is gone, so a failed deprovision
 * answered "succeeded" makes the platform forget an instance whose records still exist.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../lib/model';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { GatedCloud, LocalBroker, SERVICE_ID, STANDARD, brokerFixture, osbClient, provisionBody, waitForOperation } from './support';

const fixture = brokerFixture('edge-expired-ops');
const ASYNC = '?accepts_incomplete=true';
const DEPROVISION = `${ASYNC}&service_id=${SERVICE_ID}&plan_id=${STANDARD}`;

/** Route 53 refuses deletes while `failDeletes` is set. */
class FailingDeletesCloud extends LocalCloud {
  failDeletes = false;
  override async deleteRecords(names: readonly string[]): Promise<void> {
    if (this.failDeletes) throw new Error('Route 53 is unavailable (injected)');
    return super.deleteRecords(names);
  }
}

/** What DynamoDB's TTL does: the operation's record is past its expiry (the store then reads it as gone). */
async function expire(broker: LocalBroker, instanceId: string, operationId: string): Promise<void> {
  await broker.store.doc.send(
    new UpdateCommand({
      TableName: broker.settings.tableName,
      Key: keys.operation(instanceId, operationId),
      UpdateExpression: 'SET expiresAt = :past',
      ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 1 },
    }),
  );
  expect(await broker.store.getOperation(instanceId, operationId)).toBeUndefined();
}

test('a failed deprovision reads failed (instance_usable false) after its record expired, with or without its id', async () => {
  const cloud = new FailingDeletesCloud();
  const b = await fixture.start({ cloud, worker: { maxAttempts: 2 } });
  const call = osbClient(b.url);
  const created = await call('PUT', `/v2/service_instances/stays${ASYNC}`, { body: provisionBody(['stays.edge.example.com']) });
  expect((await waitForOperation(call, 'stays', created.body.operation)).body.state).toBe('succeeded');

  cloud.failDeletes = true;
  const deleting = await call('DELETE', `/v2/service_instances/stays${DEPROVISION}`);
  expect(deleting.status).toBe(202);
  const failed = await waitForOperation(call, 'stays', deleting.body.operation);
  expect(failed.body).toMatchObject({ state: 'failed', instance_usable: false });

  await expire(b, 'stays', deleting.body.operation);
  for (const path of ['last_operation', `last_operation?operation=${deleting.body.operation}`]) {
    const reply = await call('GET', `/v2/service_instances/stays/${path}`);
    expect({ path, status: reply.status, body: reply.body }).toEqual({ path, status: 200, body: failed.body });
  }
  expect(cloud.records.has('stays.edge.example.com')).toBe(true);
});

test('a failed update reads failed (usable, repeatable) after its record expired; a later success reads succeeded', async () => {
  const cloud = new GatedCloud();
  const b = await fixture.start({ cloud, worker: { maxAttempts: 2 } });
  const call = osbClient(b.url);
  const created = await call('PUT', `/v2/service_instances/upd-exp${ASYNC}`, { body: provisionBody(['upd-exp.edge.example.com']) });
  expect((await waitForOperation(call, 'upd-exp', created.body.operation)).body.state).toBe('succeeded');

  cloud.failUpserts = true;
  const patch = { service_id: SERVICE_ID, parameters: { hostnames: ['upd-exp.edge.example.com', 'upd-exp2.edge.example.com'] } };
  const updating = await call('PATCH', `/v2/service_instances/upd-exp${ASYNC}`, { body: patch });
  const failed = await waitForOperation(call, 'upd-exp', updating.body.operation);
  expect(failed.body).toMatchObject({ state: 'failed', instance_usable: true, update_repeatable: true });
  await expire(b, 'upd-exp', updating.body.operation);
  expect((await call('GET', '/v2/service_instances/upd-exp/last_operation')).body).toEqual(failed.body);

  cloud.failUpserts = false;
  const again = await call('PATCH', `/v2/service_instances/upd-exp${ASYNC}`, { body: patch });
  const succeeded = await waitForOperation(call, 'upd-exp', again.body.operation);
  expect(succeeded.body.state).toBe('succeeded');
  await expire(b, 'upd-exp', again.body.operation);
  expect((await call('GET', '/v2/service_instances/upd-exp/last_operation')).body).toEqual({ state: 'succeeded', description: succeeded.body.description });
  // the earlier, failed update's id is no longer the last operation: unknown (expired) is a 400
  expect((await call('GET', `/v2/service_instances/upd-exp/last_operation?operation=${updating.body.operation}`)).status).toBe(400);
});

test('a deprovision reads succeeded only once the instance is gone (the operation and the instance are two writes)', async () => {
  // The worker marks the operation succeeded, then the instance deleted. Between the two (or after
  // a crash between them, repaired on redelivery) the operation is not over: a "succeeded" then
  // would let the platform GET an instance that still answers 200 (OSB: succeeded means gone).
  const b = await fixture.start({});
  const call = osbClient(b.url);
  const created = await call('PUT', `/v2/service_instances/half${ASYNC}`, { body: provisionBody(['half.edge.example.com']) });
  expect((await waitForOperation(call, 'half', created.body.operation)).body.state).toBe('succeeded');
  const held = await fixture.start({ tableName: b.settings.tableName, queueName: 'edge-expired-ops-held', worker: { enabled: false }, sweeper: { enabled: false } });
  const callHeld = osbClient(held.url);
  const deleting = await callHeld('DELETE', `/v2/service_instances/half${DEPROVISION}`);
  expect(deleting.status).toBe(202);
  // The first of the worker's two writes, and no second.
  expect(await held.store.updateOperation('half', deleting.body.operation, { state: 'succeeded', description: 'deprovisioned', step: 'done' })).toBe(true);
  for (const path of ['last_operation', `last_operation?operation=${deleting.body.operation}`]) {
    const reply = await callHeld('GET', `/v2/service_instances/half/${path}`);
    expect({ path, status: reply.status, state: reply.body.state }).toEqual({ path, status: 200, state: 'in progress' });
  }
});
