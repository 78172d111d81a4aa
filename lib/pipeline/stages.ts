import { Stage, StageProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { PlatformConfig, RegionConfig } from '../config';
import { addFleetStack, addHomeStacks, applyPlatformAspects } from '../platform-stacks';

/** The home region's stacks (table, then broker) as one pipeline stage: deployed before any fleet. */
export class HomeStage extends Stage {
  constructor(scope: Construct, id: string, props: StageProps & { readonly config: PlatformConfig }) {
    super(scope, id, props);
    addHomeStacks(this, props.config);
    applyPlatformAspects(this);
  }
}

/** One region's fleet stack as a pipeline stage; a wave deploys several of them at once. */
export class FleetStage extends Stage {
  constructor(scope: Construct, id: string, props: StageProps & { readonly config: PlatformConfig; readonly region: RegionConfig }) {
    super(scope, id, props);
    addFleetStack(this, props.config, props.region);
    applyPlatformAspects(this);
  }
}
