import { Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { PlatformConfig, RegionConfig } from '../config';

export interface FleetStackProps extends StackProps {
  readonly config: PlatformConfig;
  readonly region: RegionConfig;
}

/** One region of the edge: its network, control plane and proxy fleet. (Built out by the foundation issue.) */
export class FleetStack extends Stack {
  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, props);
  }
}
