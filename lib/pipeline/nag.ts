import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';
// cdk-nag's own rendering of a resource for its finding ids (AwsSolutions-IAM5[Resource::...]).
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';

interface Statement {
  readonly Effect?: string;
  readonly Action?: string | string[];
  readonly Resource?: unknown;
}

const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** Wildcard actions CDK's bucket and log grants use (grantRead, grantReadWrite). */
const GRANT_ACTIONS = /^(s3:(GetObject|GetBucket|List|Abort|DeleteObject|PutObject)\*|kms:(ReEncrypt|GenerateDataKey)\*)$/;

/** Actions that take no resource-level permission (Service Authorization Reference), so `*` is their only resource. */
const NO_RESOURCE_LEVEL = new Set([
  'cloudwatch:DescribeAlarms',
  'cloudwatch:DescribeAlarmHistory',
  'elasticloadbalancing:DescribeTargetHealth',
  'ecr:GetAuthorizationToken',
  'cloudformation:DescribeStacks',
]);

/** The statements on `*` that CDK Pipelines itself writes, exactly these actions, and why. */
const PIPELINES_STAR_GRANTS: Readonly<Record<string, string>> = {
  'cloudformation:DescribeStacks,s3:ListBucket': "CDK Pipelines' self-mutation: the CDK CLI reads the bootstrap stack and bucket of the regions it deploys to",
  'codebuild:BatchGetBuilds,codebuild:StartBuild,codebuild:StopBuild': "CDK Pipelines' asset publishing role, shared by its asset projects",
};

/** Why a wildcard resource is there, or undefined when it is none of the kinds we accept. */
function resourceReason(resource: string, actions: readonly string[]): string | undefined {
  if (resource === '*') {
    const known = PIPELINES_STAR_GRANTS[[...actions].sort().join(',')];
    if (known) return known;
    const scoped = actions.filter((a) => !NO_RESOURCE_LEVEL.has(a));
    return scoped.length ? undefined : `${actions.join(', ')} take no resource-level permission`;
  }
  if (/:log-group:\/aws\/codebuild\/[^:]*:\*$/.test(resource)) return "the log streams of the pipeline's CodeBuild projects";
  if (/:log-group:\/aws\/codebuild\/\*$/.test(resource)) return "the log groups of CDK Pipelines' asset projects (one role shared by all of them)";
  if (/:report-group\/.*\*$/.test(resource)) return "the report groups of the pipeline's CodeBuild projects (CDK's default grant)";
  if (/ArtifactsBucket[A-Za-z0-9]*\.Arn>\/\*$/.test(resource) || /^arn:[^:]*:s3:::cdk-[a-z0-9]+-assets-[^/]+\/\*$/.test(resource)) return 'the objects of the pipeline artifact buckets (one per region: the CDK bootstrap bucket)';
  if (/^arn:[^:]*:iam::(\d{12}|<AWS::AccountId>):role\/\*$/.test(resource)) return 'assuming the CDK bootstrap roles of each region (the policy conditions it on the bootstrap role tag)';
  if (/:cloudformation:[a-z0-9-]+:.+:stack\/[^/*]+\/\*$/.test(resource)) return 'one named stack (the part after its name is the stack id)';
  return undefined;
}

/**
 * Acknowledges AwsSolutions-IAM5 on every IAM policy under `scope` for the wildcards CDK
 * Pipelines' grants and the pipeline's read-only checks need, each with its reason. Any other
 * wildcard stays a finding, so synth fails on it.
 */
export function acknowledgePipelineWildcards(scope: IConstruct): void {
  for (const node of scope.node.findAll()) {
    if (!(node instanceof iam.CfnPolicy)) continue;
    const document = Stack.of(node).resolve(node.policyDocument) as { Statement?: Statement[] };
    const acks = new Map<string, string>();
    for (const statement of document.Statement ?? []) {
      if (statement.Effect !== 'Allow') continue;
      const actions = list(statement.Action);
      for (const action of actions.filter((a) => a.includes('*'))) {
        if (GRANT_ACTIONS.test(action)) acks.set(`Action::${action}`, `${action}: CDK's grant on the pipeline artifact bucket (read, or read and write) or its key`);
      }
      for (const resource of list(statement.Resource).map((r) => flattenCfnReference(r as never))) {
        if (!resource.includes('*')) continue;
        const reason = resourceReason(resource, actions);
        if (reason) acks.set(`Resource::${resource}`, reason);
      }
    }
    if (acks.size) Validations.of(node).acknowledge(...[...acks].map(([finding, reason]) => ({ id: `AwsSolutions-IAM5[${finding}]`, reason })));
  }
}
