import { CfnOutput, RemovalPolicy, Stack, StackProps, Tags } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { GENERATION_INDEX, TABLE_KEYS, TTL_ATTRIBUTE } from '../model/table';

export interface BrokerTableProps {
  readonly config: PlatformConfig;
}

/** The fleet regions other than the home region: each holds a replica of the table. */
export function replicaRegions(config: Pick<PlatformConfig, 'regions' | 'homeRegion'>): string[] {
  return config.regions.map((r) => r.region).filter((region) => region !== config.homeRegion);
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
      // RetainExceptOnCreate (and Retain on replacement): once the table exists CloudFormation
      // never deletes it (stack deletion, removal from the template, replacement), but the
      // rollback of the create that made it does, so a retry after a failed first deploy is not
      // blocked by "edge-broker already exists". Deletion protection stays off on purpose: a
      // protected table refuses DeleteTable, so that rollback would fail and leave the table
      // behind after all (DynamoDB DeleteTable, "ResourceInUseException" while protected).
      deletionProtection: false,
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      replicas: replicaRegions(config).map((region) => ({ region })),
    });
  }
}

export interface BrokerTableStackProps extends StackProps {
  readonly config: PlatformConfig;
}

/**
 * The table in its own stack, in the home region. CloudFormation adds or removes one
 * global-table replica per update and asks that the update change nothing else
 * (AWS::DynamoDB::GlobalTable, `Replicas`): alone in its stack, a region change is exactly
 * that update, deployed before the fleet stack that reads the new replica (docs/stacks.md,
 * "Adding or removing a region"). `npm run preflight` refuses a config more than one replica
 * away from the deployed table.
 */
export class BrokerTableStack extends Stack {
  readonly table: BrokerTable;

  constructor(scope: Construct, id: string, props: BrokerTableStackProps) {
    super(scope, id, props);
    this.table = new BrokerTable(this, 'Table', { config: props.config });
    Tags.of(this).add('component', 'broker');
    new CfnOutput(this, 'TableName', { value: this.table.table.tableName });
    new CfnOutput(this, 'ReplicaRegions', { value: [props.config.homeRegion, ...replicaRegions(props.config)].join(','), description: 'Regions with a replica (the home region holds the table itself)' });
  }
}

/** The table as another stack of the home region sees it: by its configured name, no export. */
export interface BrokerTableRef {
  readonly table: dynamodb.ITableV2;
}

export function importBrokerTable(scope: Construct, id: string, config: PlatformConfig): BrokerTableRef {
  return {
    table: dynamodb.TableV2.fromTableName(scope, id, config.brokerTableName),
  };
}
