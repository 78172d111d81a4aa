import { App, Validations } from 'aws-cdk-lib';
import { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildEdgeApp } from '../../lib/app';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, resolveConfig } from '../../lib/config';
import { SYNTH_COMMANDS } from '../../lib/pipeline/pipeline-stack';
import { synthEdgeApp, SynthResult } from '../support/synth';
import { Resources, ofType, only } from '../support/template';

// One synth for the file: three fleet regions in two waves from the config, cdk-nag and
// aws-cdk-lib's CloudFormation validation on (as `cdk synth` runs them).
const CONNECTION = 'arn:aws:codeconnections:us-east-1:123456789012:connection/6f1b2c3d-1111-2222-3333-444455556666';
let synth: SynthResult;
let assembly: CloudAssembly;

interface Action {
  Name: string;
  RunOrder: number;
  Region?: string;
  ActionTypeId: { Provider: string };
  Configuration: Record<string, string>;
}
interface PipelineStage {
  Name: string;
  Actions: Action[];
}
let resources: Resources;
let stages: PipelineStage[];

beforeAll(() => {
  // No Docker at synth: CDK runs `$CDK_DOCKER` for any Docker work, and this one cannot run.
  process.env.CDK_DOCKER = '/nonexistent/docker';
  synth = synthEdgeApp({
    config: {
      pipeline: { enabled: true, source: { connectionArn: CONNECTION, repository: 'corp/edge-platform', branch: 'release' }, waves: [['us-west-1'], ['us-east-1', 'ap-northeast-1']], bakeMinutes: 20 },
    },
    cfnValidation: true,
  });
  assembly = synth.app.synth();
  resources = synth.template('edge-pipeline').toJSON().Resources;
  const [, pipeline] = only(resources, 'AWS::CodePipeline::Pipeline');
  stages = pipeline.Properties.Stages as PipelineStage[];
  delete process.env.CDK_DOCKER;
});

const buildSpecOf = (action: Action): { phases: { install?: { commands?: string[] }; build: { commands: string[] } } } => {
  const projectRef = action.Configuration.ProjectName as unknown as { Ref: string };
  return JSON.parse(resources[projectRef.Ref].Properties.Source ? ((resources[projectRef.Ref].Properties.Source as { BuildSpec: string }).BuildSpec) : '{}');
};
const projectOf = (action: Action) => resources[(action.Configuration.ProjectName as unknown as { Ref: string }).Ref].Properties as { Environment: Record<string, unknown> };
const stackDeploys = (stage: PipelineStage) => stage.Actions.filter((a) => a.ActionTypeId.Provider === 'CloudFormation' && a.Name.endsWith('.Deploy')).map((a) => a.Configuration.StackName);

describe('edge-pipeline', () => {
  test('stages in order: source, synth, self-mutation, assets, the home region, then the waves from the config', () => {
    expect(stages.map((s) => s.Name)).toEqual(['Source', 'Build', 'UpdatePipeline', 'Assets', 'Home', 'Fleet-us-west-1', 'Wave2']);
    expect(stackDeploys(stages[4])).toEqual(['edge-table', 'edge-broker']);
    expect(stackDeploys(stages[5])).toEqual(['edge-fleet-us-west-1']);
    expect(stackDeploys(stages[6]).sort()).toEqual(['edge-fleet-ap-northeast-1', 'edge-fleet-us-east-1']);
    // Each fleet stack deploys in its own region.
    for (const action of stages[6].Actions.filter((a) => a.Name.endsWith('.Deploy'))) {
      expect(action.Region ?? 'us-east-1').toBe(action.Configuration.StackName.replace('edge-fleet-', ''));
    }
  });

  test('the source is the configured connection, repository and branch, triggered on push', () => {
    const [source] = stages[0].Actions;
    expect(source.ActionTypeId.Provider).toBe('CodeStarSourceConnection');
    expect(source.Configuration).toMatchObject({ ConnectionArn: CONNECTION, FullRepositoryId: 'corp/edge-platform', BranchName: 'release' });
  });

  test('synth runs npm ci, npm test and cdk synth on a Graviton build host with Node.js 22', () => {
    const [synthAction] = stages[1].Actions;
    const spec = buildSpecOf(synthAction);
    expect(spec.phases.build.commands).toEqual(['npm ci --no-audit --no-fund', 'npm test -- --ci', 'npx cdk synth -q']);
    expect(SYNTH_COMMANDS).toEqual(spec.phases.build.commands);
    expect(JSON.stringify(spec)).toContain('"nodejs":22');
    expect(projectOf(synthAction).Environment).toMatchObject({ Type: 'ARM_CONTAINER', Image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0' });
  });

  test('self-mutating', () => {
    const spec = buildSpecOf(stages[2].Actions[0]);
    expect(spec.phases.build.commands.join(' ')).toMatch(/cdk -a \. deploy edge-pipeline/);
  });

  test('the control plane image is built on an ARM build host, privileged (no deploy host needs Docker); file assets without Docker', () => {
    const docker = stages[3].Actions.filter((a) => /AssetImage/.test(a.Name));
    expect(docker).toHaveLength(1);
    expect(projectOf(docker[0]).Environment).toMatchObject({ Type: 'ARM_CONTAINER', PrivilegedMode: true });
    const files = stages[3].Actions.filter((a) => !/AssetImage/.test(a.Name));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(projectOf(file).Environment.PrivilegedMode).toBeFalsy();
  });

  test('each region is verified after its deploy; then its wave bakes for the configured minutes and fails on any of its alarms', () => {
    const commands = (stage: PipelineStage) => stage.Actions.filter((a) => a.ActionTypeId.Provider === 'CodeBuild').map((a) => [a.Name, a.RunOrder, buildSpecOf(a).phases.build.commands.join(' ')] as const);
    const wave2 = commands(stages[6]);
    const deployOrder = Math.max(...stages[6].Actions.filter((a) => a.Name.endsWith('.Deploy')).map((a) => a.RunOrder));
    const verifies = wave2.filter(([name]) => name.includes('Verify'));
    expect(verifies.map(([, , c]) => c).sort()).toEqual([
      'npx tsx lib/pipeline/runtime/main.ts verify --region ap-northeast-1 --stacks edge-fleet-ap-northeast-1 --alarm-prefix edge- --url https://ap-northeast-1.edge.example.com/',
      'npx tsx lib/pipeline/runtime/main.ts verify --region us-east-1 --stacks edge-fleet-us-east-1 --alarm-prefix edge- --url https://us-east-1.edge.example.com/',
    ]);
    for (const [, order] of verifies) expect(order).toBeGreaterThan(deployOrder);
    const bake = wave2.find(([name]) => name.startsWith('Bake'))!;
    expect(bake[2]).toBe('npx tsx lib/pipeline/runtime/main.ts bake --regions us-east-1,ap-northeast-1 --minutes 20 --alarm-prefix edge-');
    expect(bake[1]).toBeGreaterThan(verifies[0][1]);

    const canary = commands(stages[5]);
    expect(canary.map(([name]) => name)).toEqual(['Verify-us-west-1', 'Bake-Wave1-canary']);
    expect(canary[1][2]).toBe('npx tsx lib/pipeline/runtime/main.ts bake --regions us-west-1 --minutes 20 --alarm-prefix edge-');

    const home = commands(stages[4]);
    expect(home.map(([name, order]) => [name, order])).toEqual([
      ['Verify-us-east-1', 5],
      ['Bake-Home', 6],
    ]);
    expect(home[0][2]).toBe('npx tsx lib/pipeline/runtime/main.ts verify --region us-east-1 --stacks edge-table,edge-broker --alarm-prefix edge-broker-');
  });

  test('the gate steps may read alarms and the stacks they verify, nothing more', () => {
    const policies = ofType(resources, 'AWS::IAM::Policy').filter(([id]) => /Verifyuswest1/.test(id));
    expect(policies).toHaveLength(1);
    const statements = (policies[0][1].Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement;
    const actions = statements.flatMap((s) => [s.Action].flat()).filter((a) => !/^(logs|codebuild|s3):/.test(a));
    expect(actions.sort()).toEqual(['cloudformation:DescribeStacks', 'cloudformation:ListStackResources', 'cloudwatch:DescribeAlarmHistory', 'cloudwatch:DescribeAlarms', 'elasticloadbalancing:DescribeTargetHealth']);
    expect(JSON.stringify(statements)).toContain(':cloudformation:us-west-1:');
    expect(JSON.stringify(statements)).toContain(':stack/edge-fleet-us-west-1/*');
  });

  test('cross-region artifacts go through each region’s CDK bootstrap bucket: no support stacks, no account needed at synth', () => {
    const [, pipeline] = only(resources, 'AWS::CodePipeline::Pipeline');
    const stores = pipeline.Properties.ArtifactStores as { Region: string; ArtifactStore: { Location: unknown } }[];
    expect(stores.map((s) => s.Region).sort()).toEqual(['ap-northeast-1', 'us-east-1', 'us-west-1']);
    expect(JSON.stringify(stores.find((s) => s.Region === 'us-west-1')!.ArtifactStore.Location)).toBe(JSON.stringify({ 'Fn::Join': ['', ['cdk-hnb659fds-assets-', { Ref: 'AWS::AccountId' }, '-us-west-1']] }));
    expect(assembly.stacks.map((s) => s.stackName).filter((n) => n.includes('support'))).toEqual([]);
  });

  test('the stages deploy the stacks `cdk deploy` would: same names, same resources by type, the same aspects (deletion policies)', () => {
    const nested = assembly.nestedAssemblies.map((n) => n.nestedAssembly);
    const staged = new Map(nested.flatMap((a) => a.stacks.map((s) => [s.stackName, s.template] as const)));
    expect([...staged.keys()].sort()).toEqual(['edge-broker', 'edge-fleet-ap-northeast-1', 'edge-fleet-us-east-1', 'edge-fleet-us-west-1', 'edge-table']);
    type Template = { Resources: Record<string, { Type: string; DeletionPolicy?: string; UpdateReplacePolicy?: string }> };
    const shape = (t: Template) => Object.values(t.Resources).map((r) => `${r.Type} ${r.DeletionPolicy ?? ''} ${r.UpdateReplacePolicy ?? ''}`).sort();
    for (const [name, template] of staged) {
      expect([name, shape(template as Template)]).toEqual([name, shape(assembly.getStackByName(name).template as Template)]);
    }
    // Logical ids CDK derives from a construct path (security group rules between two groups,
    // Lambda permissions) differ in a stage: docs/pipeline.md says to pick one way per account.
    const fleet = staged.get('edge-fleet-us-west-1') as Template;
    const top = assembly.getStackByName('edge-fleet-us-west-1').template as Template;
    const onlyStaged = Object.keys(fleet.Resources).filter((id) => !(id in top.Resources));
    expect(onlyStaged.every((id) => fleet.Resources[id].Type === 'AWS::EC2::SecurityGroupIngress' || fleet.Resources[id].Type === 'AWS::EC2::SecurityGroupEgress')).toBe(true);
  });
});

describe('pipeline on and off', () => {
  test('the repository config (cdk.json) has the pipeline on: `npx cdk synth` includes edge-pipeline', () => {
    const context = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context as Record<string, unknown>;
    expect(loadConfig((key) => context[key], {}).pipeline.enabled).toBe(true);
    expect(synth.edge.pipeline?.stackName).toBe('edge-pipeline');
    expect(synth.edge.pipeline?.waves).toEqual([
      { name: 'Home', regions: ['us-east-1'] },
      { name: 'Wave1-canary', regions: ['us-west-1'] },
      { name: 'Wave2', regions: ['us-east-1', 'ap-northeast-1'] },
    ]);
  });

  test('with no account in the config (the repository default), it synthesizes cdk-nag clean: no support stacks need one', () => {
    const app = new App({ context: { ...require('../../cdk.json').context, 'aws:cdk:bundling-stacks': [] } });
    const edge = buildEdgeApp(app, resolveConfig({ regions: ['us-east-1', 'eu-west-1'], alarms: { emails: ['oncall@corp.example'] } }));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    process.env.CDK_VALIDATION = 'false';
    try {
      expect(app.synth().stacks.map((s) => s.stackName)).toContain('edge-pipeline');
    } finally {
      delete process.env.CDK_VALIDATION;
    }
    expect(edge.pipeline?.account).toMatch(/^\$\{Token/);
  });

  test('"enabled": false leaves it out', () => {
    const off = synthEdgeApp({ config: { pipeline: { enabled: false } }, nag: false });
    expect(off.edge.pipeline).toBeUndefined();
    expect(off.app.synth().stacks.map((s) => s.stackName)).not.toContain('edge-pipeline');
  });

  test('a bad wave config stops synth with the field named', () => {
    expect(() => synthEdgeApp({ config: { pipeline: { enabled: true, waves: [['us-east-1', 'us-west-1'], ['us-west-1', 'ap-northeast-1']] } }, nag: false })).toThrow(ConfigError);
    expect(() => synthEdgeApp({ config: { pipeline: { enabled: true, waves: [['us-east-1', 'us-west-1'], ['us-west-1', 'ap-northeast-1']] } }, nag: false })).toThrow(
      'pipeline.waves[1][0]: us-west-1 is already in pipeline.waves[0][1]',
    );
  });
});
