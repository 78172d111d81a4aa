import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { PlatformConfig, RegionConfig } from '../config';

export interface ControlPlaneProps {
  readonly config: PlatformConfig;
  readonly region: RegionConfig;
  readonly vpc: ec2.IVpc;
  /** The region's discovery token; nodes present it as `node.metadata.auth`. */
  readonly discoveryToken: secretsmanager.ISecret;
}

/** The region's Envoy management server. (Built out by the control plane issue.) */
export class ControlPlane extends Construct {
  /** DNS name the proxies dial for xDS. */
  readonly endpointHost: string;
  readonly xdsPort: number;
  readonly restPort: number;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    this.endpointHost = `xds.${props.region.region}.internal.${props.config.domain}`;
    this.xdsPort = props.config.controlPlane.xdsPort;
    this.restPort = props.config.controlPlane.restPort;
  }

  /** Lets `peer` (the proxies) reach the xDS port. */
  allowProxies(_peer: ec2.IConnectable): void {}
}
