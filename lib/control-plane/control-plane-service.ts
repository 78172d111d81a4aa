import { ArnFormat, Duration, RemovalPolicy, Stack, Tags, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { PlatformConfig, RegionConfig } from '../config';
import { CONVERGENCE_PARTITION } from '../model/convergence';
import { cdnOriginSecretName } from '../model/fleet-contract';
import { GENERATION_INDEX } from '../model/table';
import { PROXY_ACCESS_LOG_PATH } from '../proxy-fleet/proxy-log-groups';
import { controlPlaneImage } from './control-plane-image';
import { logRetention } from './log-retention';

export interface ControlPlaneProps {
  readonly config: PlatformConfig;
  readonly region: RegionConfig;
  readonly vpc: ec2.IVpc;
  /** The region's discovery token; nodes present it as `node.metadata.auth`. */
  readonly discoveryToken: secretsmanager.ISecret;
  /**
   * Where the snapshot bucket's server access logs and the NLB's access logs go (prefix
   * `control-plane/`). Default: a log bucket of the control plane's own.
   */
  readonly accessLogsBucket?: s3.IBucket;
}

/** The container's name in the task definition. */
export const CONTROL_PLANE_CONTAINER = 'control-plane';
/** The label under the region in the endpoint name: `xds.<region>.internal.<domain>`. */
export function controlPlaneHost(config: PlatformConfig, region: string): string {
  return `xds.${region}.internal.${config.domain}`;
}

/** DynamoDB actions of the control plane on its region's replica: read routes, nothing else. */
export const REPLICA_READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:DescribeTable'];
/** The only writes: the task's own convergence report (lib/model/convergence.ts). */
export const CONVERGENCE_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:DeleteItem'];
/**
 * The secret versions the control plane reads (runtime/secret-versions.ts): AWSCURRENT and
 * AWSPREVIOUS, always asked for by `VersionStage` (the IAM condition key
 * `secretsmanager:VersionStage` of GetSecretValue; a request without it does not match).
 */
export const READ_SECRET_STAGES = ['AWSCURRENT', 'AWSPREVIOUS'];

/**
 * The region's Envoy management server: an ECS Fargate service (ARM64, at least two tasks
 * across zones, rolling deploys with circuit breaker, CPU/memory target tracking) behind an
 * internal NLB that terminates TLS for the proxies (ACM certificate, ALPN h2 for gRPC) and
 * forwards h2c/HTTP to the tasks. Reads only its region's table replica and writes only its
 * own snapshot bucket. See docs/stacks.md.
 */
export class ControlPlane extends Construct {
  /** DNS name the proxies dial for xDS: an alias to the internal NLB (private addresses). */
  readonly endpointHost: string;
  readonly xdsPort: number;
  readonly restPort: number;
  /** The NLB terminates TLS on both ports: proxies must speak TLS (SNI = endpointHost). */
  readonly endpointTls: boolean;
  readonly cluster: ecs.Cluster;
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  /** The internal NLB's target groups (tasks' `/healthz`), for alarms and dashboards. */
  readonly xdsTargetGroup: elbv2.NetworkTargetGroup;
  readonly restTargetGroup: elbv2.NetworkTargetGroup;
  readonly snapshotBucket: s3.Bucket;
  readonly taskRole: iam.Role;
  private readonly loadBalancerSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    const { config, region, vpc } = props;
    const cp = config.controlPlane;
    this.endpointHost = controlPlaneHost(config, region.region);
    this.xdsPort = cp.xdsPort;
    this.restPort = cp.restPort;
    this.endpointTls = true;
    const privateSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

    const accessLogs = props.accessLogsBucket ?? this.createAccessLogsBucket(config);
    this.snapshotBucket = this.createSnapshotBucket(config, accessLogs);

    // --- Task role: the replica in this region, the snapshot bucket, the token. ---
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `${config.platformName} control plane in ${region.region}: read the broker table replica, own snapshot bucket`,
    });
    const tableArn = Stack.of(this).formatArn({ service: 'dynamodb', region: region.region, resource: 'table', resourceName: config.brokerTableName });
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadRoutesFromRegionalReplica',
        actions: REPLICA_READ_ACTIONS,
        resources: [tableArn, `${tableArn}/index/${GENERATION_INDEX.name}`],
      }),
    );
    // Issue 6: each task reports its proxies' convergence for the broker's gate; it may
    // write only the items of the CONVERGENCE partition, nothing the broker owns.
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteConvergenceReports',
        actions: CONVERGENCE_WRITE_ACTIONS,
        resources: [tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [CONVERGENCE_PARTITION] } },
      }),
    );
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ListSnapshots', actions: ['s3:ListBucket'], resources: [this.snapshotBucket.bucketArn] }),
    );
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadWriteSnapshots',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.snapshotBucket.arnForObjects('*')],
      }),
    );
    // The runtime reads the token by ARN (EDGE_DISCOVERY_TOKEN_SECRET_ARN) rather than as an ECS
    // secret env var, so the value never sits in the task's environment. It accepts the current
    // and the previous version and re-reads both (runtime/discovery-token.ts), so it may read
    // those two stages and no other version
    // (docs/runbooks/procedure-rotate-discovery-token.md).
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadDiscoveryTokenStages',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [props.discoveryToken.secretArn],
        conditions: { StringEquals: { 'secretsmanager:VersionStage': READ_SECRET_STAGES } },
      }),
    );
    // The cdn origin secret's replica in this region, by its fixed name (the broker stack
    // creates it; a replica's ARN is the primary's with this region): the two stages only.
    const originSecretName = cdnOriginSecretName(config.platformName);
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadCdnOriginSecretStages',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [Stack.of(this).formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${originSecretName}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
        conditions: { StringEquals: { 'secretsmanager:VersionStage': READ_SECRET_STAGES } },
      }),
    );
    Validations.of(this.taskRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.snapshotBucket.node.defaultChild as s3.CfnBucket)}.Arn>/*]`,
      reason: 'Snapshot objects are keyed by the runtime (last good xDS snapshot per node group); the grant is Get/Put on objects of this one bucket.',
    });

    // --- ECS: cluster, task, service. ---
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENHANCED,
    });

    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logRetention(config.logRetentionDays) });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: cp.cpu,
      memoryLimitMiB: cp.memoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.ARM64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      taskRole: this.taskRole,
    });
    const healthUrl = `http://127.0.0.1:${cp.restPort}/healthz`;
    this.taskDefinition.addContainer(CONTROL_PLANE_CONTAINER, {
      image: controlPlaneImage(),
      essential: true,
      readonlyRootFilesystem: true,
      user: 'node',
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'control-plane', mode: ecs.AwsLogDriverMode.NON_BLOCKING }),
      environment: {
        EDGE_REGION: region.region,
        EDGE_TABLE_NAME: config.brokerTableName,
        EDGE_XDS_PORT: String(cp.xdsPort),
        EDGE_CONTROL_PLANE_PORT: String(cp.restPort),
        EDGE_SNAPSHOT_BUCKET: this.snapshotBucket.bucketName,
        EDGE_DISCOVERY_TOKEN_SECRET_ARN: props.discoveryToken.secretArn,
        EDGE_DOMAIN: config.domain,
        EDGE_PLATFORM_NAME: config.platformName,
        EDGE_HTTPS_TRAFFIC_PORT: String(config.envoy.httpsTrafficPort),
        EDGE_HTTP_TRAFFIC_PORT: String(config.envoy.httpTrafficPort),
        // The file the proxies' CloudWatch agent ships (stdout, the runtime's default, is not).
        EDGE_ACCESS_LOG_PATH: PROXY_ACCESS_LOG_PATH,
        // The tenant rules on every render (runtime/tenant-rules.ts): no target in any fleet VPC.
        EDGE_FLEET_CIDRS: config.regions.map((r) => r.vpcCidr).join(','),
        // The cdn origin secret's replica in this region, read by name (runtime/cdn-origin.ts).
        EDGE_CDN_ORIGIN_SECRET_ID: originSecretName,
        AWS_REGION: region.region,
      },
      portMappings: [
        { name: 'xds', containerPort: cp.xdsPort, protocol: ecs.Protocol.TCP },
        { name: 'rest', containerPort: cp.restPort, protocol: ecs.Protocol.TCP },
      ],
      healthCheck: {
        command: ['CMD', 'node', '-e', `fetch('${healthUrl}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
      stopTimeout: Duration.seconds(30),
    });
    // The root filesystem is read-only; /tmp is a task-local scratch volume.
    this.taskDefinition.addVolume({ name: 'tmp' });
    this.taskDefinition.defaultContainer?.addMountPoints({ containerPath: '/tmp', sourceVolume: 'tmp', readOnly: false });
    Validations.of(this.taskDefinition).acknowledge(
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'The environment holds only names, ports, the region and ARNs (docs/stacks.md); the discovery token stays in Secrets Manager and the task reads it by ARN with its role.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Execution role: ecr:GetAuthorizationToken (to pull the image asset) supports no resource-level permissions; the pull itself is scoped to the asset repository.',
      },
    );

    const serviceSecurityGroup = new ec2.SecurityGroup(this, 'ServiceSecurityGroup', {
      vpc,
      description: 'Control plane tasks: xDS and REST from the control plane NLB only',
      allowAllOutbound: true, // DynamoDB, S3, Secrets Manager, ECR and logs via VPC endpoints and NAT
    });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: cp.minTasks,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      vpcSubnets: privateSubnets,
      securityGroups: [serviceSecurityGroup],
      assignPublicIp: false,
      platformVersion: ecs.FargatePlatformVersion.LATEST,
      availabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing.ENABLED,
      healthCheckGracePeriod: Duration.seconds(60),
    });
    const scaling = this.service.autoScaleTaskCount({ minCapacity: cp.minTasks, maxCapacity: cp.maxTasks });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: 60,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });
    scaling.scaleOnMemoryUtilization('Memory', {
      targetUtilizationPercent: 70,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });

    // --- Internal NLB: TLS for the proxies, h2c/HTTP to the tasks. ---
    this.loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc,
      description: 'Control plane NLB: xDS and REST from the proxies only (allowProxies)',
      allowAllOutbound: false,
    });
    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: false,
      vpcSubnets: privateSubnets,
      securityGroups: [this.loadBalancerSecurityGroup],
      crossZoneEnabled: true,
    });
    this.loadBalancer.logAccessLogs(accessLogs, 'control-plane/nlb');
    for (const port of [cp.xdsPort, cp.restPort]) {
      serviceSecurityGroup.connections.allowFrom(this.loadBalancerSecurityGroup, ec2.Port.tcp(port), 'from the control plane NLB');
    }

    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', { hostedZoneId: config.hostedZoneId, zoneName: config.domain });
    const certificate = new acm.Certificate(this, 'Certificate', {
      domainName: this.endpointHost,
      validation: acm.CertificateValidation.fromDns(zone),
    });
    const listenerCertificates = [elbv2.ListenerCertificate.fromCertificateManager(certificate)];
    const healthCheck: elbv2.HealthCheck = {
      protocol: elbv2.Protocol.HTTP,
      port: String(cp.restPort),
      path: '/healthz',
      interval: Duration.seconds(10),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 2,
    };
    const target = (port: number) =>
      this.service.loadBalancerTarget({ containerName: CONTROL_PLANE_CONTAINER, containerPort: port, protocol: ecs.Protocol.TCP });

    // One TLS listener per port, forwarding the decrypted bytes over TCP to the tasks.
    const tlsPort = (id: string, port: number, alpnPolicy?: elbv2.AlpnPolicy) =>
      this.loadBalancer
        .addListener(id, { port, protocol: elbv2.Protocol.TLS, certificates: listenerCertificates, sslPolicy: elbv2.SslPolicy.TLS13_12_RES_PQ, alpnPolicy })
        .addTargets(id, { port, protocol: elbv2.Protocol.TCP, targets: [target(port)], healthCheck, deregistrationDelay: Duration.seconds(30) });
    // gRPC: ALPN negotiates h2 with the proxy, and the tasks get h2c.
    this.xdsTargetGroup = tlsPort('Xds', cp.xdsPort, elbv2.AlpnPolicy.HTTP2_PREFERRED);
    this.restTargetGroup = tlsPort('Rest', cp.restPort);

    // The name resolves (publicly) to the NLB's private addresses; only the VPC can reach them.
    new route53.ARecord(this, 'Endpoint', {
      zone,
      recordName: this.endpointHost,
      target: route53.RecordTarget.fromAlias(new route53Targets.LoadBalancerTarget(this.loadBalancer)),
    });

    Tags.of(this).add('component', 'control-plane');
  }

  /** Lets `peer` (the proxies) reach the xDS and REST ports of the control plane NLB. */
  allowProxies(peer: ec2.IConnectable): void {
    for (const port of [this.xdsPort, this.restPort]) {
      this.loadBalancerSecurityGroup.connections.allowFrom(peer, ec2.Port.tcp(port), 'proxies to the control plane');
    }
  }

  /** The last good xDS snapshot, so a restarted control plane serves before its sources answer. */
  private createSnapshotBucket(config: PlatformConfig, accessLogs: s3.IBucket): s3.Bucket {
    return new s3.Bucket(this, 'SnapshotBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'control-plane/snapshot-bucket/',
      lifecycleRules: [
        {
          id: 'old-snapshots',
          noncurrentVersionExpiration: Duration.days(config.logRetentionDays),
          noncurrentVersionsToRetain: 10,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      // Kept with the stack (a versioned bucket with objects cannot be deleted by CloudFormation anyway).
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  private createAccessLogsBucket(config: PlatformConfig): s3.Bucket {
    const bucket = new s3.Bucket(this, 'AccessLogsBucket', {
      // NLB access log delivery supports SSE-S3 only.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(config.logRetentionDays), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the access log sink (snapshot bucket server access logs, NLB access logs); logging it into itself would loop, and only AWS log delivery writes to it.',
    });
    return bucket;
  }
}
