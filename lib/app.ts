import { App, Stack, Tags } from 'aws-cdk-lib';
import { BrokerStack } from './broker/broker-stack';
import { PlatformConfig } from './config';
import { FleetStack } from './proxy-fleet/fleet-stack';

export interface EdgeApp {
  readonly broker: BrokerStack;
  /** One per fleet region, in config order. */
  readonly fleets: readonly FleetStack[];
}

/** Stack names: `<platform>-broker` in the home region, `<platform>-fleet-<region>` per fleet region. */
export const stackNames = {
  broker: (config: PlatformConfig) => `${config.platformName}-broker`,
  fleet: (config: PlatformConfig, region: string) => `${config.platformName}-fleet-${region}`,
};

function tagStack(stack: Stack, config: PlatformConfig, region: string): void {
  Tags.of(stack).add('platform', config.platformName);
  Tags.of(stack).add('region', region);
  for (const [key, value] of Object.entries(config.tags)) Tags.of(stack).add(key, value);
}

/** Creates every stack of the platform in `app` from a validated config. */
export function buildEdgeApp(app: App, config: PlatformConfig): EdgeApp {
  const broker = new BrokerStack(app, stackNames.broker(config), {
    stackName: stackNames.broker(config),
    description: `${config.platformName} edge platform: Open Service Broker (home region)`,
    env: { account: config.account, region: config.homeRegion },
    config,
  });
  tagStack(broker, config, config.homeRegion);

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
    return stack;
  });
  return { broker, fleets };
}
