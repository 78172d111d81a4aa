import { Aws, CfnOutput, CfnResource, Duration, Lazy, Stack, Tags, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { PlatformConfig, RegionConfig } from '../config';
import { edgeListenerParameterName } from '../model/fleet-contract';
import { METRIC_NAMESPACES } from '../model/metrics';
import { PROXY_LOG_GROUP_PREFIX, PROXY_LOG_GROUPS } from './proxy-log-groups';
import { proxyUserData } from './user-data';

/** The termination lifecycle hook the proxies complete themselves once drained. */
export const TERMINATION_HOOK_NAME = 'drain';
/** Seconds the hook waits beyond the drain for the log flush and the completion call. */
export const TERMINATION_HOOK_MARGIN_SECONDS = 120;
/** Seconds CloudFormation waits for a signal beyond the proxy's own readiness deadline. */
export const SIGNAL_MARGIN_SECONDS = 300;
/** Seconds of the grace a proxy's clock misses (launch and boot before its signal script starts). */
export const READY_CLOCK_MARGIN_SECONDS = 60;

/** The proxies' Auto Scaling group name (one group per region and platform). */
export function proxyGroupName(config: PlatformConfig): string {
  return `${config.platformName}-proxies`;
}

/** Root device of the Envoy AMI (Amazon Linux 2023 / Debian style naming). */
export const ROOT_DEVICE_NAME = '/dev/xvda';

/** TLS 1.3 and 1.2 with forward-secret AEAD ciphers only, plus hybrid post-quantum key exchange. */
export const EDGE_TLS_POLICY = elbv2.SslPolicy.TLS13_12_RES_PQ;

export interface ControlPlaneEndpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

export interface ProxyFleetProps {
  readonly config: PlatformConfig;
  readonly region: RegionConfig;
  readonly vpc: ec2.IVpc;
  /** Envoy `node.cluster`: the fleet name. */
  readonly nodeCluster: string;
  readonly certificate: acm.ICertificate;
  readonly accessLogBucket: s3.IBucket;
  readonly discoveryToken: secretsmanager.ISecret;
  readonly controlPlane: ControlPlaneEndpoint;
}

/**
 * The region's Envoy proxies: an Auto Scaling group across the private subnets behind an
 * internet-facing, cross-zone Network Load Balancer.
 *
 * - NLB :443 TLS (ACM certificate) → proxies :httpsTrafficPort, NLB :80 TCP → :httpTrafficPort,
 *   both with proxy protocol v2 carrying the client address (client IP preservation off).
 * - Health check: HTTP GET /ready on the readiness port (200 once Envoy initialised from xDS),
 *   through proxy protocol v2 like the traffic (the readiness listener accepts both).
 * - Health-gated: a proxy counts as launched only when it signals CloudFormation, which it does
 *   once `/ready` answers 200 through proxy protocol on its readiness port, the path the NLB
 *   checks (ami: edge-ready-signal). First create waits for every proxy; a rolling update
 *   replaces one proxy at a time, never below desired, and a proxy that does not get ready
 *   (bad image, bad bootstrap, no xDS) fails the update, which CloudFormation rolls back.
 * - Draining: deregistration delay = fleet.drainSeconds (connections then closed), then the
 *   termination lifecycle hook holds the instance until it drained Envoy and flushed its logs
 *   and completed the hook itself (ami: edge-lifecycle); the timeout is only the fallback.
 */
export class ProxyFleet extends Construct {
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly loadBalancerSecurityGroup: ec2.SecurityGroup;
  readonly proxySecurityGroup: ec2.SecurityGroup;
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly role: iam.Role;
  readonly httpsTargetGroup: elbv2.NetworkTargetGroup;
  readonly httpTargetGroup: elbv2.NetworkTargetGroup;
  /** The edge TLS (443) listener: its default certificate is the region's, teams' own domains join its certificate list. */
  readonly httpsListener: elbv2.NetworkListener;
  /** Where the broker's worker finds `httpsListener` (lib/model/fleet-contract.ts). */
  readonly httpsListenerParameter: ssm.StringParameter;
  readonly notifications: sns.Topic;

  constructor(scope: Construct, id: string, props: ProxyFleetProps) {
    super(scope, id);
    const { config, region } = props;
    const { fleet, envoy } = config;
    const size = region.fleet;
    if (size.desiredCapacity >= size.maxSize) {
      // CloudFormation's rolling update needs room above desired to add a proxy before removing one.
      throw new Error(
        `fleet size of ${region.region}: desiredCapacity (${size.desiredCapacity}) must be less than maxSize (${size.maxSize}) ` +
          'so a rolling update can start a new proxy before it stops an old one',
      );
    }

    this.notifications = this.notificationTopic(config, region.region);

    // Security groups: the world reaches the NLB on 80/443 only; proxies accept only the NLB.
    this.loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description: 'Edge NLB: HTTP and HTTPS from the internet',
      allowAllOutbound: false,
    });
    this.loadBalancerSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS from the internet');
    this.loadBalancerSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP from the internet (redirected to HTTPS)');
    Validations.of(this.loadBalancerSecurityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'The internet-facing edge load balancer must accept HTTP (80) and HTTPS (443) from any client; no other port is open.',
    });

    this.proxySecurityGroup = new ec2.SecurityGroup(this, 'ProxySecurityGroup', {
      vpc: props.vpc,
      description: 'Envoy proxies: traffic and readiness ports from the edge NLB only; no SSH',
      // Backends live anywhere (other VPCs, on premises, the internet) on any port.
      allowAllOutbound: true,
    });
    for (const [port, what] of [
      [envoy.httpsTrafficPort, 'decrypted HTTPS traffic'],
      [envoy.httpTrafficPort, 'HTTP traffic'],
      [envoy.readinessPort, 'readiness health check'],
    ] as const) {
      this.proxySecurityGroup.connections.allowFrom(this.loadBalancerSecurityGroup, ec2.Port.tcp(port), `Edge NLB: ${what}`);
    }

    const readyTimeoutSeconds = fleet.healthCheckGraceSeconds;
    // CloudFormation's wait for a proxy's signal: its own readiness deadline plus the launch and
    // boot before the proxy's clock starts (at most PT1H, the rolling update's PauseTime limit).
    const signalTimeout = Duration.seconds(readyTimeoutSeconds + SIGNAL_MARGIN_SECONDS);

    this.role = this.instanceRole(region.region, props);
    const autoScalingGroupName = proxyGroupName(config);
    // The proxy completes its own termination hook once drained: this one group only.
    const groupArn = `arn:${Aws.PARTITION}:autoscaling:${Aws.REGION}:${Aws.ACCOUNT_ID}:autoScalingGroup:*:autoScalingGroupName/${autoScalingGroupName}`;
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'CompleteTerminationHook', actions: ['autoscaling:CompleteLifecycleAction'], resources: [groupArn] }),
    );
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/${autoScalingGroupName}]`,
      reason: 'An Auto Scaling group ARN holds a UUID generated at creation; the group is named exactly, so the wildcard matches only this group.',
    });
    // (The readiness signal's cloudformation:SignalResource on this stack is granted by the group
    // itself, because it has `signals`.)

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new ec2.InstanceType(fleet.instanceType),
      // A CloudFormation parameter of type AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>:
      // resolved at deploy time in the stack's region, no lookup at synth.
      machineImage: ec2.MachineImage.fromSsmParameter(config.amiParameterName, { os: ec2.OperatingSystemType.LINUX }),
      userData: proxyUserData({
        platformName: config.platformName,
        region: region.region,
        nodeCluster: props.nodeCluster,
        controlPlaneHost: props.controlPlane.host,
        controlPlanePort: props.controlPlane.port,
        controlPlaneTls: props.controlPlane.tls,
        discoveryTokenSecretArn: props.discoveryToken.secretArn,
        vpcCidr: region.vpcCidr,
        ports: envoy,
        rollout: {
          stackName: Aws.STACK_NAME,
          // A plain string at deploy time (the logical id), not a reference: no dependency cycle.
          resource: Lazy.string({ produce: () => Stack.of(this).getLogicalId(this.autoScalingGroup.node.defaultChild as CfnResource) }),
          readyTimeoutSeconds: readyTimeoutSeconds - READY_CLOCK_MARGIN_SECONDS,
        },
        termination: {
          autoScalingGroupName,
          lifecycleHookName: TERMINATION_HOOK_NAME,
          drainSeconds: fleet.drainSeconds,
        },
      }),
      role: this.role,
      securityGroup: this.proxySecurityGroup,
      requireImdsv2: true,
      // Envoy runs on the host, not in containers: one hop is enough and keeps IMDS out of reach
      // of anything a hop further away.
      httpPutResponseHopLimit: 1,
      detailedMonitoring: true,
      associatePublicIpAddress: false,
      blockDevices: [
        {
          deviceName: ROOT_DEVICE_NAME,
          volume: ec2.BlockDeviceVolume.ebs(fleet.rootVolumeGiB, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    const grace = Duration.seconds(fleet.healthCheckGraceSeconds);
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Proxies', {
      // Named, so the instance role can be scoped to it and a proxy knows its group.
      autoScalingGroupName,
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      launchTemplate: this.launchTemplate,
      minCapacity: size.minSize,
      maxCapacity: size.maxSize,
      desiredCapacity: size.desiredCapacity,
      healthChecks: autoscaling.HealthChecks.withAdditionalChecks({
        additionalTypes: [autoscaling.AdditionalHealthCheckType.ELB],
        gracePeriod: grace,
      }),
      defaultInstanceWarmup: grace,
      cooldown: Duration.seconds(120),
      groupMetrics: [autoscaling.GroupMetrics.all()],
      // Health-gated: on create, CloudFormation waits for a success signal from every proxy.
      signals: autoscaling.Signals.waitForAll({ timeout: signalTimeout, minSuccessPercentage: 100 }),
      // One proxy at a time, never fewer than the desired count in service: CloudFormation starts
      // the replacement first, waits for its signal (WaitOnResourceSignals, PauseTime = the
      // signal timeout), then retires an old one. A failure signal or no signal in time fails the
      // update, and the rollback replaces the new proxies with the previous launch template's,
      // again keeping desired in service. Health checks, replacement of unhealthy instances, AZ
      // rebalancing, alarm actions and scheduled actions are suspended meanwhile (the CDK
      // default), as AWS recommends with signals.
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        minInstancesInService: size.desiredCapacity,
        waitOnResourceSignals: true,
        pauseTime: signalTimeout,
        minSuccessPercentage: 100,
      }),
      notifications: [{ topic: this.notifications, scalingEvents: autoscaling.ScalingEvents.ALL }],
    });
    Validations.of(this.autoScalingGroup).acknowledge({
      id: 'Annotation::@aws-cdk/aws-autoscaling:desiredCapacitySet',
      reason:
        'The configured desired count is the region\'s baseline. A deploy that changes the group resets it to that baseline (never below it: the rolling update keeps desired in service) and CPU target tracking scales out again within minutes.',
    });
    this.autoScalingGroup.scaleOnCpuUtilization('CpuTarget', {
      targetUtilizationPercent: fleet.targetCpuPercent,
    });
    // Auto Scaling deregisters a terminating proxy from the NLB and lets the deregistration delay
    // run before the hook puts it in Terminating:Wait (AWS, "How lifecycle hooks work in Auto
    // Scaling groups"). The proxy's edge-lifecycle sees its target lifecycle state turn
    // Terminated in instance metadata, fails its readiness, waits for Envoy's connections to end
    // (at most drainSeconds), flushes its logs and completes the hook (CONTINUE). The timeout
    // only covers a proxy that cannot: its drain, the log flush and a margin.
    this.autoScalingGroup.addLifecycleHook('DrainOnTerminate', {
      lifecycleHookName: TERMINATION_HOOK_NAME,
      lifecycleTransition: autoscaling.LifecycleTransition.INSTANCE_TERMINATING,
      heartbeatTimeout: Duration.seconds(fleet.drainSeconds + TERMINATION_HOOK_MARGIN_SECONDS),
      defaultResult: autoscaling.DefaultResult.CONTINUE,
    });

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      crossZoneEnabled: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroups: [this.loadBalancerSecurityGroup],
    });
    this.loadBalancer.logAccessLogs(props.accessLogBucket, 'nlb');

    this.httpsTargetGroup = this.targetGroup('HttpsTargets', envoy.httpsTrafficPort, props);
    this.httpTargetGroup = this.targetGroup('HttpTargets', envoy.httpTrafficPort, props);
    this.httpsListener = this.loadBalancer.addListener('Https', {
      port: 443,
      protocol: elbv2.Protocol.TLS,
      certificates: [elbv2.ListenerCertificate.fromCertificateManager(props.certificate)],
      sslPolicy: EDGE_TLS_POLICY,
      // Clients that offer h2 get it (gRPC and HTTP/2 at the edge); Envoy's listener detects
      // the protocol (codec AUTO) behind the NLB's TLS termination.
      alpnPolicy: elbv2.AlpnPolicy.HTTP2_PREFERRED,
      defaultTargetGroups: [this.httpsTargetGroup],
    });
    this.loadBalancer.addListener('Http', {
      port: 80,
      protocol: elbv2.Protocol.TCP,
      defaultTargetGroups: [this.httpTargetGroup],
    });
    // The listener's ARN, where the broker's worker looks for it to attach the certificates of
    // teams' own domains (AddListenerCertificates): by SNI, the listener presents the certificate
    // of its list that matches the name the client asked for, and its default certificate (the
    // region's, above) when none matches or the client sent no SNI (ELB User Guide for NLB,
    // "Server certificates": default certificate, certificate list). The worker's IAM is scoped
    // to listeners tagged `platform` and `component=proxy-fleet` (Tags below, asserted in
    // test/proxy-fleet), and to this parameter's exact name.
    this.httpsListenerParameter = new ssm.StringParameter(this, 'HttpsListenerArn', {
      parameterName: edgeListenerParameterName(config.platformName, region.region),
      stringValue: this.httpsListener.listenerArn,
      description: `ARN of the ${region.region} edge NLB TLS (443) listener; the broker's worker adds teams' certificates to it`,
      tier: ssm.ParameterTier.STANDARD,
    });

    Tags.of(this).add('component', 'proxy-fleet');
  }

  /**
   * The proxies' instance role: only what the image does, statement by statement (issue 13 item
   * 3; each asserted in test/proxy-fleet). No AWS managed policy: AmazonSSMManagedInstanceCore
   * allowed `ssm:GetParameter*` on every parameter (the proxy reads none) and
   * CloudWatchAgentServerPolicy let the agent write to, and create, any log group.
   */
  private instanceRole(region: string, props: ProxyFleetProps): iam.Role {
    const role = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `Envoy proxies of ${props.nodeCluster}`,
    });
    // Session Manager (operators' only way in: no SSH). AWS's documented minimum for it ("Create
    // a custom IAM role for Session Manager", AWS Systems Manager User Guide): the agent's
    // registration and heartbeat, and its control and data channels. None of these actions has a
    // resource type. Session logs to S3 or KMS-encrypted sessions are not configured, so their
    // s3:GetEncryptionConfiguration and kms:Decrypt are not granted. Run Command, State Manager,
    // Inventory and Patch Manager are not used (security updates come from dnf-automatic and new
    // images), so ec2messages and the ssm document/association actions are left out.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SessionManager',
        actions: ['ssm:UpdateInstanceInformation', 'ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'],
        resources: ['*'],
      }),
    );
    // The CloudWatch agent ships to the proxy's own log groups, which the fleet stack creates with
    // the platform's retention (ProxyLogGroups): streams and events there, nothing else, and no
    // CreateLogGroup (a group the agent created would keep logs forever).
    const logGroupArn = (name: string) => `arn:${Aws.PARTITION}:logs:${region}:${Aws.ACCOUNT_ID}:log-group:${PROXY_LOG_GROUP_PREFIX}/${name}`;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ShipLogsToProxyGroups',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: PROXY_LOG_GROUPS.flatMap((name) => [logGroupArn(name), `${logGroupArn(name)}:*`]),
      }),
    );
    // Host metrics: PutMetricData has no resource type; the namespace condition key keeps it to
    // the proxies' namespace (CloudWatch User Guide, "Using condition keys to limit access to
    // CloudWatch namespaces"). Envoy's own metrics reach CloudWatch as EMF log events.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishProxyMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACES.proxy } },
      }),
    );
    // The agent's EC2 tagger reads the instance's tags for the AutoScalingGroupName dimension
    // (and its volumes): read-only describes with no resource type, in this region only.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DescribeInstanceForAgentDimensions',
        actions: ['ec2:DescribeTags', 'ec2:DescribeVolumes'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:RequestedRegion': region } },
      }),
    );
    // The discovery token: read at boot and re-read by the token refresh timer (docs/ami.md).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadDiscoveryToken',
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        resources: [props.discoveryToken.secretArn],
      }),
    );
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Actions with no resource type: the SSM agent\'s Session Manager minimum (ssm:UpdateInstanceInformation, ssmmessages channels), cloudwatch:PutMetricData (limited by the cloudwatch:namespace condition to the proxies\' namespace) and the read-only ec2:DescribeTags/DescribeVolumes (this region only).',
      },
      ...PROXY_LOG_GROUPS.map((name) => ({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:${region}:<AWS::AccountId>:log-group:${PROXY_LOG_GROUP_PREFIX}/${name}:*]`,
        reason: 'The log streams of one of the proxy\'s own log groups (one stream per instance id, named at boot).',
      })),
    );
    return role;
  }

  private targetGroup(id: string, port: number, props: ProxyFleetProps): elbv2.NetworkTargetGroup {
    return new elbv2.NetworkTargetGroup(this, id, {
      vpc: props.vpc,
      port,
      protocol: elbv2.Protocol.TCP,
      targetType: elbv2.TargetType.INSTANCE,
      proxyProtocolV2: true,
      preserveClientIp: false,
      deregistrationDelay: Duration.seconds(props.config.fleet.drainSeconds),
      connectionTermination: true,
      healthCheck: {
        protocol: elbv2.Protocol.HTTP,
        port: String(props.config.envoy.readinessPort),
        path: '/ready',
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
      targets: [this.autoScalingGroup],
    });
  }

  /**
   * KMS-encrypted, SSL-only topic for scaling events and the region health alarm. Named (found by
   * name), its ARN a stack output, and `alarms.emails` subscribed, like the region's alarm topic.
   */
  private notificationTopic(config: PlatformConfig, region: string): sns.Topic {
    const key = new kms.Key(this, 'NotificationsKey', {
      description: 'Encrypts the proxy fleet notification topic',
      enableKeyRotation: true,
    });
    // Publishers of an encrypted topic need the key: Auto Scaling notifications are sent by its
    // service-linked role, CloudWatch alarm actions by the CloudWatch service. The role is named
    // in a condition, not as the principal: KMS refuses a key policy whose principal does not
    // exist yet ("invalid principals"), and AWSServiceRoleForAutoScaling exists only once an Auto
    // Scaling group was ever created in the account, so a fresh account's first deploy failed
    // here (issue 11). The group itself creates the role; the condition matches it from then on.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AutoScalingNotifications',
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
        conditions: {
          ArnEquals: {
            'aws:PrincipalArn': `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`,
          },
        },
      }),
    );
    key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:GenerateDataKey*', 'kms:Decrypt');
    const topic = new sns.Topic(this, 'Notifications', {
      topicName: `${config.platformName}-fleet-notifications-${region}`,
      displayName: 'Edge proxy fleet notifications',
      masterKey: key,
      enforceSSL: true,
    });
    topic.grantPublish(new iam.ServicePrincipal('cloudwatch.amazonaws.com'));
    for (const email of config.alarms.emails) topic.addSubscription(new subscriptions.EmailSubscription(email));
    new CfnOutput(Stack.of(this), 'FleetNotificationTopicArn', {
      value: topic.topicArn,
      description: `Scaling events and the health check alarm of the ${region} proxies: subscribe here for them (docs/monitoring.md)`,
    });
    return topic;
  }
}
