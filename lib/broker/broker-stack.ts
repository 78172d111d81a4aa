import { Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';

export interface BrokerStackProps extends StackProps {
  readonly config: PlatformConfig;
}

/** The Open Service Broker in the home region. (Built out by the broker issue.) */
export class BrokerStack extends Stack {
  constructor(scope: Construct, id: string, props: BrokerStackProps) {
    super(scope, id, props);
  }
}
