import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { tableReplicasCheck } from '../../lib/preflight/checks/table';
import { context, regionOf } from './support';

const dynamodb = mockClient(DynamoDBClient);
const cloudformation = mockClient(CloudFormationClient);
beforeEach(() => {
  dynamodb.reset();
  cloudformation.reset();
});

/** The deployed table in the home region, with a replica in each of `replicas` (status ACTIVE unless given). */
function deployed(replicas: Record<string, string>) {
  dynamodb.on(DescribeTableCommand, { TableName: 'edge-broker' }).resolves({
    Table: { TableName: 'edge-broker', TableStatus: 'ACTIVE', Replicas: Object.entries(replicas).map(([RegionName, ReplicaStatus]) => ({ RegionName, ReplicaStatus: ReplicaStatus as 'ACTIVE' })) },
  });
}
const regions = (...list: string[]) => context({ regions: list });
const stackMissing = () => Object.assign(new Error('Stack with id edge-fleet-eu-west-2 does not exist'), { name: 'ValidationError' });

describe('table-replicas: one replica per update, enforced before the deploy', () => {
  test('pass: no table yet (the first deploy creates it with every replica at once)', async () => {
    dynamodb.on(DescribeTableCommand).rejects(new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: {} }));
    expect(await tableReplicasCheck.run(regions('us-east-1', 'eu-west-1', 'eu-west-2'), 'us-east-1')).toMatchObject({ status: 'pass', detail: expect.stringContaining('with all 3 replicas') });
  });

  test('pass: the replicas match the config', async () => {
    deployed({ 'eu-west-1': 'ACTIVE' });
    expect(await tableReplicasCheck.run(regions('us-east-1', 'eu-west-1'), 'us-east-1')).toMatchObject({ status: 'pass', detail: 'replicas match the config (eu-west-1, us-east-1)' });
  });

  test('pass with the procedure: one region added, to deploy on its own first', async () => {
    deployed({ 'eu-west-1': 'ACTIVE' });
    expect(await tableReplicasCheck.run(regions('us-east-1', 'eu-west-1', 'eu-west-2'), 'us-east-1')).toMatchObject({
      status: 'pass',
      detail: 'this deploy adds the replica in eu-west-2; edge-table deploys first and changes nothing else',
    });
  });

  test('fail: two regions at once (CloudFormation adds or removes one replica per update)', async () => {
    deployed({ 'eu-west-1': 'ACTIVE' });
    const result = await tableReplicasCheck.run(regions('us-east-1', 'eu-west-1', 'eu-west-2', 'ap-south-1'), 'us-east-1');
    expect(result).toMatchObject({ status: 'fail', detail: expect.stringContaining('the config is 2 replicas away from the table (adds ap-south-1, eu-west-2, removes none)') });
    expect(result.fix).toContain('change one region per deploy');
  });

  test('fail: a swap (one added, one removed) is two replica changes', async () => {
    deployed({ 'eu-west-1': 'ACTIVE' });
    expect((await tableReplicasCheck.run(regions('us-east-1', 'eu-west-2'), 'us-east-1')).status).toBe('fail');
  });

  test('fail: a change while a replica is still being created', async () => {
    deployed({ 'eu-west-1': 'CREATING' });
    expect(await tableReplicasCheck.run(regions('us-east-1', 'eu-west-1', 'eu-west-2'), 'us-east-1')).toMatchObject({ status: 'fail', detail: expect.stringContaining('eu-west-1 is CREATING') });
  });

  test('fail: removing a region whose fleet stack still runs there (its control plane reads the replica)', async () => {
    deployed({ 'eu-west-1': 'ACTIVE', 'eu-west-2': 'ACTIVE' });
    let askedIn = '';
    cloudformation.on(DescribeStacksCommand, { StackName: 'edge-fleet-eu-west-2' }).callsFake(async (_input, getClient) => {
      askedIn = await regionOf(getClient);
      return { Stacks: [{ StackName: 'edge-fleet-eu-west-2', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date() }] };
    });
    const result = await tableReplicasCheck.run(regions('us-east-1', 'eu-west-1'), 'us-east-1');
    expect(result).toMatchObject({ status: 'fail', detail: 'the config drops eu-west-2, but edge-fleet-eu-west-2 still runs there and reads its replica' });
    expect(result.fix).toContain('npx cdk destroy edge-fleet-eu-west-2');
    expect(askedIn).toBe('eu-west-2');
  });

  test('pass with the procedure: removing a region whose fleet is gone', async () => {
    deployed({ 'eu-west-1': 'ACTIVE', 'eu-west-2': 'ACTIVE' });
    cloudformation.on(DescribeStacksCommand).rejects(stackMissing());
    expect(await tableReplicasCheck.run(regions('us-east-1', 'eu-west-1'), 'us-east-1')).toMatchObject({ status: 'pass', detail: expect.stringContaining('this deploy removes the replica in eu-west-2') });
  });

  test('could not check: not allowed to describe the table', async () => {
    dynamodb.on(DescribeTableCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    expect(await tableReplicasCheck.run(regions('us-east-1'), 'us-east-1')).toMatchObject({ status: 'error' });
  });
});
