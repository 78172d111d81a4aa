import { App, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { acknowledgePipelineWildcards } from '../../lib/pipeline/nag';

/** A stack with one role whose policy holds `statements`, acknowledged as the pipeline's are, then synthesized with cdk-nag. */
function nagErrors(statements: iam.PolicyStatement[]): string[] {
  const app = new App();
  const stack = new Stack(app, 'S', { env: { account: '123456789012', region: 'us-east-1' } });
  const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com') });
  for (const statement of statements) role.addToPrincipalPolicy(statement);
  acknowledgePipelineWildcards(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  try {
    app.synth();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

describe('the pipeline acknowledges only the wildcards it can justify', () => {
  test('read-only calls that take no resource-level permission, CodeBuild logs, one named stack: acknowledged', () => {
    expect(
      nagErrors([
        new iam.PolicyStatement({ actions: ['cloudwatch:DescribeAlarms', 'cloudwatch:DescribeAlarmHistory'], resources: ['*'] }),
        new iam.PolicyStatement({ actions: ['logs:PutLogEvents'], resources: ['arn:aws:logs:us-east-1:123456789012:log-group:/aws/codebuild/project:*'] }),
        new iam.PolicyStatement({ actions: ['cloudformation:DescribeStacks'], resources: ['arn:aws:cloudformation:eu-west-1:123456789012:stack/edge-fleet-eu-west-1/*'] }),
      ]),
    ).toEqual([]);
  });

  test('anything else on `*`, or a service-wide action, stays a finding', () => {
    expect(nagErrors([new iam.PolicyStatement({ actions: ['ssm:PutParameter'], resources: ['*'] })])).toEqual([expect.stringContaining("'AwsSolutions::AwsSolutions-IAM5[Resource::*]'")]);
    expect(nagErrors([new iam.PolicyStatement({ actions: ['s3:*'], resources: ['arn:aws:s3:::some-bucket'] })])).toEqual([expect.stringContaining("'AwsSolutions::AwsSolutions-IAM5[Action::s3:*]'")]);
    expect(nagErrors([new iam.PolicyStatement({ actions: ['cloudformation:DescribeStacks'], resources: ['arn:aws:cloudformation:eu-west-1:123456789012:stack/*'] })])).toEqual([
      expect.stringContaining("'AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:cloudformation:eu-west-1:123456789012:stack/*]'"),
    ]);
  });
});
