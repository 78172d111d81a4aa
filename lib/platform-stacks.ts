import { AspectPriority, Aspects, Stack, Stage, Tags } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { BrokerStack } from './broker/broker-stack';
import { BrokerTableStack } from './broker/broker-table';
import { PlatformConfig, RegionConfig } from './config';
import { FleetStack } from './proxy-fleet/fleet-stack';
import { RetainExceptOnCreate } from './retain-except-on-create';

/**
 * The platform's stacks, built in any scope: the app (`cdk deploy` by hand) or a stage of the
 * delivery pipeline (lib/pipeline), with the same stack names, so both deploy the same stacks.
 */

/**
 * Stack names: `<platform>-table` and `<platform>-broker` in the home region,
 * `<platform>-fleet-<region>` per fleet region.
 */
export const stackNames = {
  table: (config: PlatformConfig) => `${config.platformName}-table`,
  broker: (config: PlatformConfig) => `${config.platformName}-broker`,
  fleet: (config: PlatformConfig, region: string) => `${config.platformName}-fleet-${region}`,
  pipeline: (config: PlatformConfig) => `${config.platformName}-pipeline`,
};

export function tagStack(stack: Stack, config: PlatformConfig, region: string): void {
  Tags.of(stack).add('platform', config.platformName);
  Tags.of(stack).add('region', region);
  for (const [key, value] of Object.entries(config.tags)) Tags.of(stack).add(key, value);
}

/** The home region's stacks, the table then the broker, in `scope` (the app, or a pipeline stage). */
export function addHomeStacks(scope: Construct, config: PlatformConfig): { table: BrokerTableStack; broker: BrokerStack } {
  const table = new BrokerTableStack(scope, stackNames.table(config), {
    stackName: stackNames.table(config),
    description: `${config.platformName} edge platform: the broker's global table (home region, a replica per fleet region)`,
    env: { account: config.account, region: config.homeRegion },
    config,
  });
  tagStack(table, config, config.homeRegion);

  const broker = new BrokerStack(scope, stackNames.broker(config), {
    stackName: stackNames.broker(config),
    description: `${config.platformName} edge platform: Open Service Broker (home region)`,
    env: { account: config.account, region: config.homeRegion },
    config,
  });
  tagStack(broker, config, config.homeRegion);
  broker.addStackDependency(table, 'the broker reads and writes the table');
  return { table, broker };
}

/** One region's fleet stack in `scope` (the app, or a pipeline stage). */
export function addFleetStack(scope: Construct, config: PlatformConfig, region: RegionConfig): FleetStack {
  const stack = new FleetStack(scope, stackNames.fleet(config, region.region), {
    stackName: stackNames.fleet(config, region.region),
    description: `${config.platformName} edge platform: network, control plane and proxy fleet in ${region.region}`,
    env: { account: config.account, region: region.region },
    crossRegionReferences: false,
    config,
    region,
  });
  tagStack(stack, config, region.region);
  return stack;
}

/** The aspects every stack of the platform gets, applied in a stage (aspects do not cross a stage's boundary). */
export function applyPlatformAspects(stage: Stage): void {
  Aspects.of(stage).add(new RetainExceptOnCreate(), { priority: AspectPriority.MUTATING });
}
