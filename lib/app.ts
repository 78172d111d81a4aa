import { App, AspectPriority, Aspects } from 'aws-cdk-lib';
import { BrokerStack } from './broker/broker-stack';
import { BrokerTableStack } from './broker/broker-table';
import { PlatformConfig } from './config';
import { EdgePipelineStack } from './pipeline/pipeline-stack';
import { addFleetStack, addHomeStacks, stackNames, tagStack } from './platform-stacks';
import { FleetStack } from './proxy-fleet/fleet-stack';
import { RetainExceptOnCreate } from './retain-except-on-create';

export { stackNames } from './platform-stacks';

export interface EdgeApp {
  /** The broker's global table, alone in its stack (one replica change per deploy). */
  readonly table: BrokerTableStack;
  readonly broker: BrokerStack;
  /** One per fleet region, in config order. */
  readonly fleets: readonly FleetStack[];
  /** The delivery pipeline (home region), unless `pipeline.enabled` is false. */
  readonly pipeline?: EdgePipelineStack;
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
  const { table, broker } = addHomeStacks(app, config);
  const fleets = config.regions.map((region) => {
    const stack = addFleetStack(app, config, region);
    stack.addStackDependency(table, `the control plane reads the table's replica in ${region.region}`);
    stack.addStackDependency(broker, 'broker first: a first deploy ends with the whole platform up, fleets last');
    return stack;
  });
  Aspects.of(app).add(new RetainExceptOnCreate(), { priority: AspectPriority.MUTATING });

  // The pipeline deploys the same stacks (same names) from its own stages, wave by wave.
  const pipeline = config.pipeline.enabled
    ? new EdgePipelineStack(app, stackNames.pipeline(config), {
        stackName: stackNames.pipeline(config),
        description: `${config.platformName} edge platform: delivery pipeline (home region; broker, then the fleet regions in waves)`,
        env: { account: config.account, region: config.homeRegion },
        config,
      })
    : undefined;
  if (pipeline) tagStack(pipeline, config, config.homeRegion);
  return { table, broker, fleets, pipeline };
}

