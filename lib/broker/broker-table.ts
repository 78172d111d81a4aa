import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { GENERATION_INDEX, TABLE_KEYS, TTL_ATTRIBUTE } from '../model/table';

export interface BrokerTableProps {
  readonly config: PlatformConfig;
}

/**
 * The broker's single DynamoDB global table (instances, operations, bindings, hostname
 * claims, routes and the route generation counter; layout in lib/model/table.ts), with a
 * replica in every fleet region so each regional control plane reads locally.
 */
export class BrokerTable extends Construct {
  readonly table: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: BrokerTableProps) {
    super(scope, id);
    const { config } = props;
    const replicaRegions = config.regions.map((r) => r.region).filter((region) => region !== config.homeRegion);

    this.table = new dynamodb.TableV2(this, 'Table', {
      tableName: config.brokerTableName,
      partitionKey: { name: TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      globalSecondaryIndexes: [
        {
          indexName: GENERATION_INDEX.name,
          partitionKey: { name: GENERATION_INDEX.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: GENERATION_INDEX.sortKey, type: dynamodb.AttributeType.NUMBER },
          projectionType: dynamodb.ProjectionType.ALL,
        },
      ],
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The AWS managed key (aws/dynamodb) exists in every region, so each replica is
      // encrypted without a customer key per replica region, its use is still logged in
      // CloudTrail, and the control plane's task role reads its replica with no KMS grant.
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      replicas: replicaRegions.map((region) => ({ region })),
    });
  }
}
