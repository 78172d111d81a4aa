import { App, AspectPriority, Aspects, Stack, Tags } from 'aws-cdk-lib';
import { BrokerStack } from './broker/broker-stack';
import { BrokerTableStack } from './broker/broker-table';
import { PlatformConfig } from './config';
import { FleetStack } from './proxy-fleet/fleet-stack';
import { RetainExceptOnCreate } from './retain-except-on-create';

export interface EdgeApp {
  /** The broker's global table, alone in its stack (one replica change per deploy). */
  readonly table: BrokerTableStack;
  readonly broker: BrokerStack;
  /** One per fleet region, in config order. */
  readonly fleets: readonly FleetStack[];
}

/**
 * Stack names: `<platform>-table` and `<platform>-broker` in the home region,
 * `<platform>-fleet-<region>` per fleet region.
 */
export const stackNames = {
  table: (config: PlatformConfig) => `${config.platformName}-table`,
  broker: (config: PlatformConfig) => `${config.platformName}-broker`,
  fleet: (config: PlatformConfig, region: string) => `${config.platformName}-fleet-${region}`,
};

function tagStack(stack: Stack, config: PlatformConfig, region: string): void {
  Tags.of(stack).add('platform', config.platformName);
  Tags.of(stack).add('region', region);
  for (const [key, value] of Object.entries(config.tags)) Tags.of(stack).add(key, value);
}

/**
 * Creates every stack of the platform in `app` from a validated config.
 *
 * Deploy order (stack dependencies, so `cdk deploy --all` and `cdk deploy <one stack>` follow
 * it): the table first, then the broker (it reads and writes the table), then the fleets
 * (each control plane reads its region's replica, which the table stack creates). Dependencies
 * order deployments only; no stack references another's resources, so none is locked by an
 * export and each region still runs on its own.
 */
export function buildEdgeApp(app: App, config: PlatformConfig): EdgeApp {
  const table = new BrokerTableStack(app, stackNames.table(config), {
    stackName: stackNames.table(config),
    description: `${config.platformName} edge platform: the broker's global table (home region, a replica per fleet region)`,
    env: { account: config.account, region: config.homeRegion },
    config,
  });
  tagStack(table, config, config.homeRegion);

  const broker = new BrokerStack(app, stackNames.broker(config), {
    stackName: stackNames.broker(config),
    description: `${config.platformName} edge platform: Open Service Broker (home region)`,
    env: { account: config.account, region: config.homeRegion },
    config,
  });
  tagStack(broker, config, config.homeRegion);
  broker.addStackDependency(table, 'the broker reads and writes the table');

  const fleets = config.regions.map((region) => {
    const stack = new FleetStack(app, stackNames.fleet(config, region.region), {
      stackName: stackNames.fleet(config, region.region),
      description: `${config.platformName} edge platform: network, control plane and proxy fleet in ${region.region}`,
      env: { account: config.account, region: region.region },
      crossRegionReferences: false,
      config,
      region,
    });
    tagStack(stack, config, region.region);
    stack.addStackDependency(table, `the control plane reads the table's replica in ${region.region}`);
    stack.addStackDependency(broker, 'broker first: a first deploy ends with the whole platform up, fleets last');
    return stack;
  });

  Aspects.of(app).add(new RetainExceptOnCreate(), { priority: AspectPriority.MUTATING });
  return { table, broker, fleets };
}
