import { Aws, Duration, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as pipelines from 'aws-cdk-lib/pipelines';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { stackNames } from '../platform-stacks';
import { acknowledgePipelineWildcards } from './nag';
import { FleetStage, HomeStage } from './stages';

export interface EdgePipelineStackProps extends StackProps {
  readonly config: PlatformConfig;
}

/** The CDK CLI the pipeline installs for self-mutation and asset publishing: the repository's pin. */
export const PIPELINE_CDK_CLI_VERSION: string = require('../../package.json').devDependencies['aws-cdk'];

/** The default bootstrap qualifier of `cdk bootstrap` (the preflight checks every region is bootstrapped). */
const BOOTSTRAP_QUALIFIER = 'hnb659fds';

/**
 * Every CodeBuild project of the pipeline runs on Graviton (the control plane image is
 * linux/arm64, so it builds natively, and no deploy host needs Docker) with Node.js 22.
 */
export const ARM_BUILD_IMAGE = codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0;

/** The commands of the synth step; the pull-request workflow runs the same (test/pipeline). */
export const SYNTH_COMMANDS = ['npm ci --no-audit --no-fund', 'npm test -- --ci', 'npx cdk synth -q'];

const GATE = 'npx tsx lib/pipeline/runtime/main.ts';
const GATE_INSTALL = 'npm ci --no-audit --no-fund --ignore-scripts';

/**
 * `<platform>-pipeline` (home region): CDK Pipelines, self-mutating, from the configured
 * CodeConnections source. Synth (npm ci, npm test, cdk synth) → the home stage (table, broker),
 * verified → the fleet regions in the configured waves (the first is the canary): each region
 * verified after its deploy (lib/pipeline/runtime/verify.ts), then the wave bakes and fails on
 * any of its regions' alarms (lib/pipeline/runtime/alarm-gate.ts), which stops the pipeline.
 */
export class EdgePipelineStack extends Stack {
  readonly pipeline: pipelines.CodePipeline;
  /** Wave names in order, each with its regions (`Home` first). */
  readonly waves: readonly { readonly name: string; readonly regions: readonly string[] }[];

  constructor(scope: Construct, id: string, props: EdgePipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    const { pipeline: settings } = config;
    const source = pipelines.CodePipelineSource.connection(settings.source.repository, settings.source.branch, {
      connectionArn: settings.source.connectionArn,
      triggerOnPush: true,
    });
    const buildSpec = codebuild.BuildSpec.fromObject({ phases: { install: { 'runtime-versions': { nodejs: 22 } } } });
    const fleetRegions = config.regions.map((r) => r.region).filter((r) => r !== this.region);

    this.pipeline = new pipelines.CodePipeline(this, 'Pipeline', {
      pipelineName: stackNames.pipeline(config),
      selfMutation: true,
      crossAccountKeys: false,
      cliVersion: PIPELINE_CDK_CLI_VERSION,
      // Cross-region actions need an artifact bucket in each region: the region's CDK bootstrap
      // bucket, which exists wherever the platform deploys, instead of a support stack per region
      // (which would also need a concrete account at synth).
      crossRegionReplicationBuckets: Object.fromEntries(
        fleetRegions.map((region) => [
          region,
          s3.Bucket.fromBucketAttributes(this, `Artifacts-${region}`, { bucketName: `cdk-${BOOTSTRAP_QUALIFIER}-assets-${Aws.ACCOUNT_ID}-${region}`, region }),
        ]),
      ),
      codeBuildDefaults: {
        buildEnvironment: { buildImage: ARM_BUILD_IMAGE, computeType: codebuild.ComputeType.SMALL },
        partialBuildSpec: buildSpec,
      },
      // The control plane image (a Docker asset) is built here, on Graviton, in privileged mode.
      // (CDK Pipelines runs the Docker asset's project privileged; file assets need no Docker.)
      assetPublishingCodeBuildDefaults: { buildEnvironment: { buildImage: ARM_BUILD_IMAGE, computeType: codebuild.ComputeType.LARGE } },
      synth: new pipelines.CodeBuildStep('Synth', {
        input: source,
        commands: SYNTH_COMMANDS,
        env: { CDK_DISABLE_VERSION_CHECK: 'true' },
        buildEnvironment: { buildImage: ARM_BUILD_IMAGE, computeType: codebuild.ComputeType.LARGE },
        timeout: Duration.minutes(60),
        primaryOutputDirectory: 'cdk.out',
      }),
    });

    const account = Aws.ACCOUNT_ID;
    const prefix = `${config.platformName}-`;
    const readAlarms = new iam.PolicyStatement({
      // Read-only; DescribeAlarms by prefix and DescribeAlarmHistory of all alarms name no alarm.
      actions: ['cloudwatch:DescribeAlarms', 'cloudwatch:DescribeAlarmHistory'],
      resources: ['*'],
    });
    const verifyStep = (region: string, stacks: readonly string[], alarmPrefix: string, url?: string) =>
      new pipelines.CodeBuildStep(`Verify-${region}`, {
        input: source,
        installCommands: [GATE_INSTALL],
        commands: [`${GATE} verify --region ${region} --stacks ${stacks.join(',')} --alarm-prefix ${alarmPrefix}${url ? ` --url ${url}` : ''}`],
        timeout: Duration.minutes(20),
        rolePolicyStatements: [
          readAlarms,
          new iam.PolicyStatement({
            actions: ['cloudformation:DescribeStacks', 'cloudformation:ListStackResources'],
            resources: stacks.map((s) => `arn:${Aws.PARTITION}:cloudformation:${region}:${account}:stack/${s}/*`),
          }),
          // DescribeTargetHealth takes no resource-level permission.
          new iam.PolicyStatement({ actions: ['elasticloadbalancing:DescribeTargetHealth'], resources: ['*'] }),
        ],
      });
    const bakeStep = (name: string, regions: readonly string[], alarmPrefix: string, minutes: number) =>
      new pipelines.CodeBuildStep(`Bake-${name}`, {
        input: source,
        installCommands: [GATE_INSTALL],
        commands: [`${GATE} bake --regions ${regions.join(',')} --minutes ${minutes} --alarm-prefix ${alarmPrefix}`],
        timeout: Duration.minutes(minutes + 30),
        rolePolicyStatements: [readAlarms],
      });

    const waves: { name: string; regions: string[] }[] = [];
    // 1. The home region: table and broker, verified; their alarms bake like a wave's.
    const home = new HomeStage(this, 'Home', { config });
    const verifyHome = verifyStep(config.homeRegion, [stackNames.table(config), stackNames.broker(config)], `${prefix}broker-`);
    const bakeHome = bakeStep('Home', [config.homeRegion], `${prefix}broker-`, settings.bakeMinutes);
    bakeHome.addStepDependency(verifyHome);
    this.pipeline.addStage(home, { post: [verifyHome, bakeHome] });
    waves.push({ name: 'Home', regions: [config.homeRegion] });

    // 2. The fleet regions, wave by wave; the first wave is the canary.
    const byName = new Map(config.regions.map((r) => [r.region, r]));
    settings.waves.forEach((regions, i) => {
      const name = i === 0 ? 'Wave1-canary' : `Wave${i + 1}`;
      const wave = this.pipeline.addWave(name);
      for (const region of regions) {
        const stage = new FleetStage(this, `Fleet-${region}`, { config, region: byName.get(region)! });
        wave.addStage(stage, { post: [verifyStep(region, [stackNames.fleet(config, region)], prefix, `https://${region}.${config.domain}/`)] });
      }
      wave.addPost(bakeStep(name, regions, prefix, settings.bakeMinutes));
      waves.push({ name, regions: [...regions] });
    });
    this.waves = waves;

    // Build the pipeline now, so that the acknowledgements below reach the resources it generates.
    this.pipeline.buildPipeline();
    acknowledgePipelineWildcards(this.pipeline);
    Validations.of(this.pipeline).acknowledge(
      {
        id: 'AwsSolutions-CB4',
        reason:
          'The build projects produce no CodeBuild artifacts of their own: their inputs and outputs are CodePipeline artifacts in the pipeline artifact buckets (encrypted at rest, TLS only); CodeBuild uses the AWS managed key for anything else. A customer key would have to be granted to every project role and adds no control here.',
      },
      {
        id: 'AwsSolutions-S1',
        reason: 'The artifact bucket holds build inputs and outputs only, written and read by the pipeline roles; CloudTrail records the API access. A log bucket for it would itself need one.',
      },
    );
  }
}
