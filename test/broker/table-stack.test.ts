import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolveConfig } from '../../lib/config';
import { BrokerTable } from '../../lib/broker/broker-table';
import { SynthResult, synthEdgeApp, TEST_REGIONS } from '../support/synth';
import { Resources, templateHelpers } from '../support/template';


let synth: SynthResult;
let resources: Resources;

beforeAll(() => {
  synth = synthEdgeApp({ nag: true });
  resources = synth.template('edge-table').toJSON().Resources;
});

const { only } = templateHelpers(() => resources);

describe('the broker table stack (<platform>-table, home region)', () => {
  test('holds the global table and nothing else (a replica change is the only change of its update)', () => {
    expect(Object.values(resources).map((r) => r.Type)).toEqual(['AWS::DynamoDB::GlobalTable']);
    expect(synth.edge.table.region).toBe(synth.config.homeRegion);
  });

  test('keys and the byGeneration index from lib/model/table.ts, TTL on expiresAt', () => {
    const [, table] = only('AWS::DynamoDB::GlobalTable');
    expect(table.Properties).toMatchObject({
      TableName: synth.config.brokerTableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byGeneration',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'generation', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
    });
  });

  test('RetainExceptOnCreate: kept once it exists, deleted by a failed first create\'s rollback so a retry is not blocked', () => {
    const [, table] = only('AWS::DynamoDB::GlobalTable');
    expect(table.DeletionPolicy).toBe('RetainExceptOnCreate');
    expect(table.UpdateReplacePolicy).toBe('Retain');
  });

  test('one replica per fleet region (and the home region), each with PITR; deletion protection off, or that rollback could not delete it', () => {
    const [, table] = only('AWS::DynamoDB::GlobalTable');
    const replicas = table.Properties.Replicas as { Region: string; PointInTimeRecoverySpecification: unknown; DeletionProtectionEnabled: boolean; Tags: unknown[] }[];
    expect(replicas.map((r) => r.Region).sort()).toEqual([...new Set([...TEST_REGIONS, 'us-east-1'])].sort());
    for (const replica of replicas) {
      expect(replica.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(replica.DeletionProtectionEnabled).toBe(false);
      expect(replica.Tags).toEqual(expect.arrayContaining([{ Key: 'component', Value: 'broker' }]));
    }
  });

  test('outputs the table name and the replica regions (what the preflight compares with the config)', () => {
    const outputs = synth.template('edge-table').toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.TableName.Value).toEqual({ Ref: only('AWS::DynamoDB::GlobalTable')[0] });
    expect(String(outputs.ReplicaRegions.Value).split(',').sort()).toEqual([...TEST_REGIONS].sort());
  });
});

test('a home region outside the fleet still holds the table; every fleet region gets a replica', () => {
  const app = new App();
  const stack = new Stack(app, 'Home', { env: { account: '123456789012', region: 'us-east-1' } });
  const config = resolveConfig({ regions: ['eu-west-1', 'ap-south-1'], account: '123456789012' });
  new BrokerTable(stack, 'Table', { config });
  const table = Object.values(Template.fromStack(stack).toJSON().Resources as Resources).find((r) => r.Type === 'AWS::DynamoDB::GlobalTable')!;
  const regions = (table.Properties.Replicas as { Region: string }[]).map((r) => r.Region).sort();
  expect(regions).toEqual(['ap-south-1', 'eu-west-1', 'us-east-1']);
});
