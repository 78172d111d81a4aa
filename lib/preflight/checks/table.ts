import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { couldNotCheck, isNamed } from '../aws-errors';
import { CheckDefinition } from '../types';

/** Whether stack `name` exists in `region` (and is not deleted). */
async function stackExists(name: string, region: string): Promise<boolean> {
  try {
    const stacks = (await new CloudFormationClient({ region }).send(new DescribeStacksCommand({ StackName: name }))).Stacks ?? [];
    return stacks.some((s) => s.StackStatus !== 'DELETE_COMPLETE');
  } catch (error) {
    // DescribeStacks answers ValidationError "Stack with id <name> does not exist".
    if (isNamed(error, 'ValidationError') && /does not exist/.test((error as Error).message)) return false;
    throw error;
  }
}

/**
 * The deployed table's replicas against the configured regions. CloudFormation adds or removes
 * one global-table replica per update and asks that nothing else change in that update
 * (AWS::DynamoDB::GlobalTable, Replicas); the table has its own stack for that. This check
 * refuses a config more than one replica away from the table, a change while a replica is not
 * ACTIVE, and a removal while that region's fleet still runs (its control plane reads the
 * replica).
 */
export const tableReplicasCheck: CheckDefinition = {
  id: 'table-replicas',
  scope: 'home-region',
  summary: 'The configured regions are at most one replica away from the deployed table (CloudFormation adds or removes one replica per update), every replica is ACTIVE, and a region is removed only after its fleet stack.',
  async run(ctx, region) {
    const { brokerTableName, platformName } = ctx.config;
    const configured = [...new Set([ctx.config.homeRegion, ...ctx.config.regions.map((r) => r.region)])].sort();
    let table;
    try {
      table = (await new DynamoDBClient({ region }).send(new DescribeTableCommand({ TableName: brokerTableName }))).Table;
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) {
        return { status: 'pass', detail: `no table ${brokerTableName} yet: the first deploy of ${platformName}-table creates it with all ${configured.length} replicas`, data: { deployed: [], configured } };
      }
      return { status: 'error', detail: couldNotCheck(error, region) };
    }
    const replicas = new Map<string, string>([[region, table?.TableStatus ?? 'UNKNOWN'], ...(table?.Replicas ?? []).map((r) => [r.RegionName ?? '?', r.ReplicaStatus ?? 'UNKNOWN'] as [string, string])]);
    const deployed = [...replicas.keys()].sort();
    const data = { deployed, configured, status: Object.fromEntries(replicas) };
    const busy = [...replicas].filter(([, status]) => status !== 'ACTIVE');
    const added = configured.filter((r) => !replicas.has(r));
    const removed = deployed.filter((r) => !configured.includes(r));
    if (added.length + removed.length > 1) {
      return {
        status: 'fail',
        detail: `the config is ${added.length + removed.length} replicas away from the table (adds ${added.join(', ') || 'none'}, removes ${removed.join(', ') || 'none'}); CloudFormation adds or removes one replica per update`,
        fix: `change one region per deploy: keep all but one of [${[...added, ...removed].join(', ')}] as deployed (${deployed.join(', ')}), deploy (docs/stacks.md "Adding or removing a region"), then the next`,
        data,
      };
    }
    if (busy.length && added.length + removed.length > 0) {
      return { status: 'fail', detail: `replica ${busy.map(([r, s]) => `${r} is ${s}`).join(', ')}: a replica change must wait until every replica is ACTIVE`, fix: `wait (aws dynamodb describe-table --region ${region} --table-name ${brokerTableName}) and run again`, data };
    }
    if (removed.length) {
      const fleet = `${platformName}-fleet-${removed[0]}`;
      try {
        if (await stackExists(fleet, removed[0])) {
          return { status: 'fail', detail: `the config drops ${removed[0]}, but ${fleet} still runs there and reads its replica`, fix: `destroy the region first, with ${removed[0]} still in the config: npx cdk destroy ${fleet}; then drop it from the config and deploy ${platformName}-broker and ${platformName}-table`, data };
        }
      } catch (error) {
        return { status: 'error', detail: couldNotCheck(error, removed[0]), data };
      }
      return { status: 'pass', detail: `this deploy removes the replica in ${removed[0]} (its fleet is gone); ${platformName}-table deploys first and changes nothing else`, data };
    }
    if (added.length) {
      return { status: 'pass', detail: `this deploy adds the replica in ${added[0]}; ${platformName}-table deploys first and changes nothing else`, data };
    }
    return { status: 'pass', detail: `replicas match the config (${deployed.join(', ')})${busy.length ? `; ${busy.map(([r, s]) => `${r} is ${s}`).join(', ')}` : ''}`, data };
  },
};
