import { CfnResource, Stack, Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { RegionConfig } from '../config';
import { INTERFACE_ENDPOINT_SERVICES } from './endpoint-services';

export interface EdgeNetworkProps {
  readonly region: RegionConfig;
  /** Where VPC flow logs go (prefix `vpc-flow-logs/`). */
  readonly flowLogBucket: s3.IBucket;
}

/** Interface endpoints the proxies and the control plane's ECS tasks call, so only traffic needs the internet. */
export const INTERFACE_ENDPOINTS: Readonly<Record<string, ec2.InterfaceVpcEndpointAwsService>> = Object.fromEntries(
  Object.entries(INTERFACE_ENDPOINT_SERVICES).map(([id, suffix]) => [id, new ec2.InterfaceVpcEndpointAwsService(suffix)]),
);

/**
 * The region's VPC, shared by the proxy fleet and the control plane:
 * - PUBLIC subnets (one per configured zone) for the internet-facing NLB and the NAT gateways;
 * - PRIVATE_WITH_EGRESS subnets for proxies and ECS tasks, one NAT gateway per zone so a zone
 *   outage never cuts another zone's egress to backends;
 * - gateway endpoints (S3, DynamoDB) and interface endpoints (INTERFACE_ENDPOINTS) behind one
 *   security group that admits HTTPS from inside the VPC only;
 * - flow logs (all traffic) to the region's log bucket.
 * Zones come from the config by AZ ID, never from a lookup: every subnet carries its zone as
 * `AvailabilityZoneId` (the same physical zone in every account) instead of a zone name, which
 * the older regions map per account (AWS, "AZ IDs"; CloudFormation `AWS::EC2::Subnet`
 * `AvailabilityZoneId`). CDK's VPC is handed the IDs as its zone list (they only need to be
 * distinct strings to it) and each subnet's property is swapped.
 */
export class EdgeNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  readonly endpointSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: EdgeNetworkProps) {
    super(scope, id);
    const zones = [...props.region.availabilityZoneIds];
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.region.vpcCidr),
      availabilityZones: zones,
      natGateways: zones.length,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, mapPublicIpOnLaunch: false },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      ],
      // Lambda-backed custom resource that strips the default security group's rules: nothing
      // may fall back on the default group's allow-all-from-itself.
      restrictDefaultSecurityGroup: true,
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toS3(props.flowLogBucket, 'vpc-flow-logs/'),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });

    for (const subnet of [...this.vpc.publicSubnets, ...this.vpc.privateSubnets]) {
      const cfnSubnet = subnet.node.defaultChild as ec2.CfnSubnet;
      cfnSubnet.availabilityZone = undefined;
      cfnSubnet.availabilityZoneId = subnet.availabilityZone;
    }

    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    this.vpc.addGatewayEndpoint('DynamoDb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });

    this.endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'Interface VPC endpoints: HTTPS from inside the VPC only',
      allowAllOutbound: false,
    });
    this.endpointSecurityGroup.addIngressRule(ec2.Peer.ipv4(props.region.vpcCidr), ec2.Port.tcp(443), 'HTTPS from the VPC');
    for (const [name, service] of Object.entries(INTERFACE_ENDPOINTS)) {
      this.vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [this.endpointSecurityGroup],
        open: false,
      });
    }
    Tags.of(this).add('component', 'network');
  }
}

/**
 * The restrict-default-security-group custom resource's provider (role and Lambda function) is a
 * stack-level singleton made of raw CfnResources, which the Tags aspect cannot reach: give it the
 * same tags as everything else explicitly.
 */
export function tagDefaultSecurityGroupProvider(stack: Stack, tags: Readonly<Record<string, string>>): void {
  const provider = stack.node.tryFindChild('Custom::VpcRestrictDefaultSGCustomResourceProvider');
  if (!provider) return;
  const list = Object.entries(tags)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([Key, Value]) => ({ Key, Value }));
  for (const child of provider.node.children) {
    if (CfnResource.isCfnResource(child)) child.addPropertyOverride('Tags', list);
  }
}
