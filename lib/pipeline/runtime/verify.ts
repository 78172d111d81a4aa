/**
 * The post-deploy check of a region, as the README's "Verify" step does it by hand: the stack
 * completed, every target of its load balancers is healthy, none of its alarms is in ALARM, and
 * `https://<region>.<domain>/` answers. Runs in a CodeBuild step of the pipeline; no CDK here.
 */
import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { alarmsInAlarm, firingLines } from './alarm-gate';

export interface VerifyClients {
  readonly cloudformation: Pick<CloudFormationClient, 'send'>;
  readonly elb: Pick<ElasticLoadBalancingV2Client, 'send'>;
  readonly cloudwatch: Pick<CloudWatchClient, 'send'>;
  /** GET a URL; resolves to the HTTP status. */
  readonly httpStatus: (url: string) => Promise<number>;
}

export interface VerifyTarget {
  readonly region: string;
  readonly stacks: readonly string[];
  readonly alarmPrefix: string;
  /** The region's own name, `<region>.<domain>`; unset for the home stage. */
  readonly regionUrl?: string;
}

const COMPLETE = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE']);

async function stackProblems(clients: VerifyClients, stackName: string): Promise<string[]> {
  const stack = (await clients.cloudformation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  if (!stack) return [`stack ${stackName} does not exist`];
  return COMPLETE.has(stack.StackStatus ?? '') ? [] : [`stack ${stackName} is ${stack.StackStatus}${stack.StackStatusReason ? ` (${stack.StackStatusReason})` : ''}`];
}

/** Target groups of the stack (ListStackResources: DescribeStackResources stops at 100 resources). */
async function targetGroups(clients: VerifyClients, stackName: string): Promise<string[]> {
  const groups: string[] = [];
  let NextToken: string | undefined;
  do {
    const page = await clients.cloudformation.send(new ListStackResourcesCommand({ StackName: stackName, NextToken }));
    for (const r of page.StackResourceSummaries ?? []) {
      if (r.ResourceType === 'AWS::ElasticLoadBalancingV2::TargetGroup' && r.PhysicalResourceId) groups.push(r.PhysicalResourceId);
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return groups;
}

async function targetProblems(clients: VerifyClients, targetGroupArn: string): Promise<string[]> {
  const targets = (await clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }))).TargetHealthDescriptions ?? [];
  const name = targetGroupArn.split(':').pop();
  if (!targets.length) return [`${name}: no targets registered`];
  const bad = targets.filter((t) => t.TargetHealth?.State !== 'healthy');
  return bad.length ? [`${name}: ${bad.map((t) => `${t.Target?.Id} ${t.TargetHealth?.State}${t.TargetHealth?.Reason ? ` (${t.TargetHealth.Reason})` : ''}`).join(', ')}`] : [];
}

/** Every problem found in the region; empty means healthy. */
export async function verifyRegion(target: VerifyTarget, clients: VerifyClients): Promise<string[]> {
  const problems: string[] = [];
  for (const stack of target.stacks) {
    const found = await stackProblems(clients, stack);
    problems.push(...found);
    if (found.length) continue;
    for (const group of await targetGroups(clients, stack)) problems.push(...(await targetProblems(clients, group)));
  }
  problems.push(...firingLines(await alarmsInAlarm(clients.cloudwatch, target.region, target.alarmPrefix)));
  if (target.regionUrl) {
    try {
      const status = await clients.httpStatus(target.regionUrl);
      // 404 until a service is provisioned; a 5xx or no answer means the edge does not serve.
      if (status >= 500) problems.push(`${target.regionUrl} answered ${status}`);
    } catch (error) {
      problems.push(`${target.regionUrl} did not answer: ${(error as Error).message}`);
    }
  }
  return problems.map((p) => `${target.region}: ${p}`);
}
