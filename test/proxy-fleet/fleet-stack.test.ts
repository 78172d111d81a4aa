import { Duration } from 'aws-cdk-lib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { synthEdgeApp, SynthResult } from '../support/synth';
import { INTERFACE_ENDPOINTS } from '../../lib/proxy-fleet/network';
import { EDGE_TLS_POLICY, ROOT_DEVICE_NAME } from '../../lib/proxy-fleet/proxy-fleet';
import { bootstrapEnv } from '../../lib/proxy-fleet/user-data';
import { PROXY_ACCESS_LOG_PATH } from '../../lib/proxy-fleet/proxy-log-groups';
import { RegionConfig } from '../../lib/config';
import { edgeListenerParameterName } from '../../lib/model/fleet-contract';
import {
  asArray,
  CfnResource,
  CfnTemplate,
  only,
  renderJoin,
  ofType,
  statementsOfRole,
  tagsOf,
} from '../support/template';

// Three regions with different zone layouts (3 zones, 2 zones, no "b"); us-west-1 has its own size.
const REGIONS = ['us-east-1', { region: 'us-west-1', fleet: { minSize: 1, maxSize: 6, desiredCapacity: 2 } }, 'ap-northeast-1'];
const SNAPSHOT_REGION = 'us-west-1';

let synth: SynthResult;
/** Per region: the fleet's own resources (the control plane construct is tested by its own suite). */
const templates: Record<string, CfnTemplate> = {};
/** Per region: the whole stack, for properties that must hold for every resource. */
const fullTemplates: Record<string, CfnTemplate> = {};
let missingContext: unknown;

beforeAll(() => {
  synth = synthEdgeApp({ config: { regions: REGIONS } });
  for (const stack of synth.edge.fleets) {
    fullTemplates[stack.region] = synth.template(stack.stackName).toJSON() as CfnTemplate;
    templates[stack.region] = fleetOwnResources(fullTemplates[stack.region]);
  }
  missingContext = synth.app.synth().manifest.missing;
});

const regionConfig = (region: string): RegionConfig => synth.config.regions.find((r) => r.region === region)!;
/** Region names for describe.each (collected before beforeAll runs). */
const eachRegion = () => REGIONS.map((r) => [typeof r === 'string' ? r : r.region] as const);

/** A statement of the broker worker's role (its Sid), from the broker stack of the same synth. */
function workerStatement(sid: string): Record<string, unknown> {
  const broker = synth.template(synth.edge.broker.stackName).toJSON() as CfnTemplate;
  const found = ofType(broker, 'AWS::IAM::Policy')
    .flatMap(([, p]) => (p.Properties?.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement)
    .filter((st) => st.Sid === sid);
  if (found.length !== 1) throw new Error(`expected one broker statement ${sid}, found ${found.length}`);
  return found[0];
}

/** The proxies' instance role (logical id and resource). */
function instanceRole(template: CfnTemplate): [string, CfnResource] {
  return ofType(template, 'AWS::IAM::Role').find(([id]) => id.startsWith('FleetInstanceRole'))!;
}

/** Leaves out the resources of the control plane and monitoring constructs (owned and tested by their own suites). */
function fleetOwnResources(template: CfnTemplate): CfnTemplate {
  const resources = Object.fromEntries(Object.entries(template.Resources).filter(([id]) => !id.startsWith('ControlPlane') && !id.startsWith('Monitoring')));
  return { ...template, Resources: resources };
}

describe('fleet stack', () => {
  test('snapshot of one fleet stack (control plane resources excluded)', () => {
    expect(templates[SNAPSHOT_REGION]).toMatchSnapshot();
  });

  test('one fleet stack per configured region, named <platform>-fleet-<region>, in that region', () => {
    expect(synth.edge.fleets.map((s) => [s.stackName, s.region])).toEqual(
      synth.config.regions.map((r) => [`edge-fleet-${r.region}`, r.region]),
    );
  });

  test('synth needs no lookup: no missing context, AZs straight from the config', () => {
    expect(missingContext).toBeUndefined();
    for (const stack of synth.edge.fleets) expect(stack.availabilityZones).toEqual(regionConfig(stack.region).availabilityZoneIds);
  });
});

describe.each(eachRegion())('network in %s', (region) => {
  const t = () => templates[region];

  test('VPC with the configured CIDR, public + private subnets in exactly the configured zones, by AZ ID', () => {
    const [, vpc] = only(t(), 'AWS::EC2::VPC');
    expect(vpc.Properties?.CidrBlock).toBe(regionConfig(region).vpcCidr);
    const subnets = ofType(t(), 'AWS::EC2::Subnet').map(([, s]) => s.Properties!);
    const zoneIds = regionConfig(region).availabilityZoneIds;
    expect(zoneIds.every((id) => /^[a-z]+\d+-az\d+$/.test(id))).toBe(true);
    const publicZones = subnets.filter((s) => s.MapPublicIpOnLaunch === false && JSON.stringify(s.Tags).includes('"Public"'));
    const privateZones = subnets.filter((s) => JSON.stringify(s.Tags).includes('"Private"'));
    // AZ IDs name the same zone in every account; zone names are mapped per account (issue 11).
    expect(publicZones.map((s) => s.AvailabilityZoneId).sort()).toEqual([...zoneIds].sort());
    expect(privateZones.map((s) => s.AvailabilityZoneId).sort()).toEqual([...zoneIds].sort());
    for (const subnet of subnets) expect(subnet.AvailabilityZone).toBeUndefined();
    expect(subnets).toHaveLength(zoneIds.length * 2);
  });

  test('one NAT gateway per zone (a zone outage never cuts another zone\'s egress)', () => {
    expect(ofType(t(), 'AWS::EC2::NatGateway')).toHaveLength(regionConfig(region).availabilityZoneIds.length);
  });

  test('VPC flow logs of all traffic go to the log bucket', () => {
    const [, flowLog] = only(t(), 'AWS::EC2::FlowLog');
    expect(flowLog.Properties).toMatchObject({ TrafficType: 'ALL', LogDestinationType: 's3', ResourceType: 'VPC' });
    const [bucketId] = only(t(), 'AWS::S3::Bucket');
    expect(renderJoin(flowLog.Properties!.LogDestination)).toBe(`\${${bucketId}.Arn}/vpc-flow-logs/`);
  });

  test('gateway endpoints for S3 and DynamoDB, interface endpoints for every AWS API the proxies and tasks call', () => {
    const endpoints = ofType(t(), 'AWS::EC2::VPCEndpoint').map(([, e]) => e.Properties!);
    const service = (e: Record<string, unknown>) => renderJoin(e.ServiceName).replace(/^com\.amazonaws\.\$\{AWS::Region\}\.|^com\.amazonaws\.[a-z0-9-]+\./, '');
    const gateways = endpoints.filter((e) => e.VpcEndpointType === 'Gateway').map(service).sort();
    const interfaces = endpoints.filter((e) => e.VpcEndpointType === 'Interface');
    expect(gateways).toEqual(['dynamodb', 's3']);
    expect(interfaces.map(service).sort()).toEqual(
      ['ec2messages', 'ecr.api', 'ecr.dkr', 'logs', 'monitoring', 'secretsmanager', 'ssm', 'ssmmessages'].sort(),
    );
    expect(interfaces).toHaveLength(Object.keys(INTERFACE_ENDPOINTS).length);
    for (const e of interfaces) {
      expect(e.PrivateDnsEnabled).toBe(true);
      expect(asArray(e.SubnetIds)).toHaveLength(regionConfig(region).availabilityZoneIds.length);
      expect(JSON.stringify(e.SubnetIds)).toContain('privateSubnet');
    }
  });

  test('interface endpoints admit only HTTPS from inside the VPC', () => {
    const [, sg] = ofType(t(), 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('NetworkEndpointSecurityGroup'))!;
    expect(sg.Properties!.SecurityGroupIngress).toEqual([
      expect.objectContaining({ CidrIp: regionConfig(region).vpcCidr, FromPort: 443, ToPort: 443, IpProtocol: 'tcp' }),
    ]);
  });
});

describe.each(eachRegion())('proxies in %s', (region) => {
  const t = () => templates[region];
  const launchData = () => only(t(), 'AWS::EC2::LaunchTemplate')[1].Properties!.LaunchTemplateData as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- CloudFormation JSON

  test('IMDSv2 required, hop limit 1', () => {
    expect(launchData().MetadataOptions).toEqual({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
  });

  test('encrypted gp3 root volume of the configured size', () => {
    expect(launchData().BlockDeviceMappings).toEqual([
      { DeviceName: ROOT_DEVICE_NAME, Ebs: { DeleteOnTermination: true, Encrypted: true, VolumeSize: synth.config.fleet.rootVolumeGiB, VolumeType: 'gp3' } },
    ]);
  });

  test('Graviton instance type from config, detailed monitoring, no key pair, no public IP', () => {
    const data = launchData();
    expect(data.InstanceType).toBe(synth.config.fleet.instanceType);
    expect(data.Monitoring).toEqual({ Enabled: true });
    expect(data.KeyName).toBeUndefined();
    expect(data.NetworkInterfaces[0].AssociatePublicIpAddress).toBe(false);
  });

  test('AMI id is resolved at deploy time from the SSM parameter the bake publishes', () => {
    const imageRef = launchData().ImageId.Ref as string;
    expect(t().Parameters![imageRef]).toEqual({
      Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
      Default: synth.config.amiParameterName,
    });
  });

  test('user data writes the boot contract and starts Envoy, with the secret ARN only', () => {
    const userData = renderJoin(launchData().UserData['Fn::Base64']);
    const [secretId] = only(t(), 'AWS::SecretsManager::Secret');
    const envFile = userData.split("<<'EDGE_BOOTSTRAP_ENV'\n")[1].split('\nEDGE_BOOTSTRAP_ENV\n')[0];
    const env = Object.fromEntries(envFile.split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2)));
    const stub = { ports: synth.config.envoy, rollout: {}, termination: {} };
    expect(Object.keys(env)).toEqual(bootstrapEnv(stub as never).map(([k]) => k));
    expect(env).toMatchObject({
      EDGE_PLATFORM: 'edge',
      EDGE_REGION: region,
      EDGE_NODE_CLUSTER: `edge-fleet-${region}`,
      EDGE_CONTROL_PLANE_PORT: String(synth.config.controlPlane.xdsPort),
      EDGE_DISCOVERY_TOKEN_SECRET_ARN: `\${${secretId}}`,
      EDGE_HTTPS_TRAFFIC_PORT: '8443',
      EDGE_HTTP_TRAFFIC_PORT: '8080',
      EDGE_READINESS_PORT: '8081',
      EDGE_METRICS_PORT: '9901',
      EDGE_VPC_CIDR: regionConfig(region).vpcCidr,
    });
    const stack = synth.edge.fleets.find((f) => f.region === region)!;
    expect(env.EDGE_CONTROL_PLANE_HOST).toBe(renderJoin(stack.resolve(stack.controlPlane.endpointHost)));
    expect(env.EDGE_CONTROL_PLANE_PORT).toBe(String(stack.controlPlane.xdsPort));
    expect(env.EDGE_CONTROL_PLANE_TLS).toBe(String(stack.controlPlane.endpointTls));
    // The health-gated rollout and the drain: what the proxy signals and which hook it completes.
    const [asgId, asg] = only(t(), 'AWS::AutoScaling::AutoScalingGroup');
    const [, hook] = only(t(), 'AWS::AutoScaling::LifecycleHook');
    expect(env).toMatchObject({
      EDGE_CFN_STACK: '${AWS::StackName}',
      EDGE_CFN_RESOURCE: asgId,
      EDGE_READY_TIMEOUT_SECONDS: String(synth.config.fleet.healthCheckGraceSeconds - 60),
      EDGE_ASG_NAME: asg.Properties!.AutoScalingGroupName,
      EDGE_LIFECYCLE_HOOK: hook.Properties!.LifecycleHookName,
      EDGE_DRAIN_SECONDS: String(synth.config.fleet.drainSeconds),
    });
    expect(userData).toMatch(
      /systemctl enable --now edge-lifecycle\.service\nsystemctl start --no-block edge-ready-signal\.service\nsystemctl restart edge-bootstrap\.service\nsystemctl enable --now envoy\.service$/,
    );
  });

  test('no secret anywhere: generated secret, no secret parameters, no dynamic secret references', () => {
    const [, secret] = only(t(), 'AWS::SecretsManager::Secret');
    expect(secret.Properties!.SecretString).toBeUndefined();
    expect(secret.Properties!.GenerateSecretString).toMatchObject({ PasswordLength: 48, ExcludePunctuation: true });
    for (const [name, parameter] of Object.entries(fullTemplates[region].Parameters ?? {})) {
      expect([name, parameter.Type]).toEqual([name, expect.stringMatching(/^AWS::SSM::Parameter::Value</)]);
      expect(parameter.NoEcho).toBeUndefined();
    }
    const text = JSON.stringify(fullTemplates[region]);
    expect(text).not.toMatch(/resolve:secretsmanager|resolve:ssm-secure|"SecretString"/);
  });

  test('Auto Scaling group: sizes from the region config, ELB health checks with grace, private subnets', () => {
    const [, asg] = only(t(), 'AWS::AutoScaling::AutoScalingGroup');
    const size = regionConfig(region).fleet;
    expect(asg.Properties).toMatchObject({
      MinSize: String(size.minSize),
      MaxSize: String(size.maxSize),
      DesiredCapacity: String(size.desiredCapacity),
      HealthCheckType: 'ELB',
      HealthCheckGracePeriod: synth.config.fleet.healthCheckGraceSeconds,
    });
    expect(JSON.stringify(asg.Properties!.VPCZoneIdentifier)).toContain('privateSubnet');
    expect(asArray(asg.Properties!.VPCZoneIdentifier)).toHaveLength(regionConfig(region).availabilityZoneIds.length);
  });

  test('health-gated: the group is created only once every proxy signalled ready, and waits for the whole control plane', () => {
    const [asgId, asg] = only(t(), 'AWS::AutoScaling::AutoScalingGroup');
    const size = regionConfig(region).fleet;
    const timeout = Duration.seconds(synth.config.fleet.healthCheckGraceSeconds + 300).toIsoString();
    expect(asg.CreationPolicy).toEqual({ ResourceSignal: { Count: size.desiredCapacity, Timeout: timeout }, AutoScalingCreationPolicy: { MinSuccessfulInstancesPercent: 100 } });
    // On a first deploy a proxy can only get ready once the control plane serves xDS.
    const dependsOn = asArray(fullTemplates[region].Resources[asgId].DependsOn as string[]);
    const service = ofType(fullTemplates[region], 'AWS::ECS::Service')[0][0];
    const endpoint = ofType(fullTemplates[region], 'AWS::Route53::RecordSet').find(([id]) => id.startsWith('ControlPlaneEndpoint'))![0];
    expect(dependsOn).toEqual(expect.arrayContaining([service, endpoint]));
  });

  test('rolling updates wait for each new proxy\'s signal (a bad image stops and rolls back), one at a time, desired kept in service', () => {
    const [, asg] = only(t(), 'AWS::AutoScaling::AutoScalingGroup');
    const size = regionConfig(region).fleet;
    const rolling = asg.UpdatePolicy!.AutoScalingRollingUpdate as Record<string, unknown>;
    expect(rolling).toMatchObject({
      MaxBatchSize: 1,
      MinInstancesInService: size.desiredCapacity,
      WaitOnResourceSignals: true,
      PauseTime: Duration.seconds(synth.config.fleet.healthCheckGraceSeconds + 300).toIsoString(),
      MinSuccessfulInstancesPercent: 100,
    });
    // At most one hour: CloudFormation's limit for PauseTime with signals.
    expect(synth.config.fleet.healthCheckGraceSeconds + 300).toBeLessThanOrEqual(3600);
    expect(rolling.SuspendProcesses).toEqual(expect.arrayContaining(['HealthCheck', 'ReplaceUnhealthy', 'AZRebalance', 'AlarmNotification', 'ScheduledActions']));
  });

  test('rolling replacement on launch template change keeps desired capacity in service', () => {
    const [, asg] = only(t(), 'AWS::AutoScaling::AutoScalingGroup');
    const size = regionConfig(region).fleet;
    const rolling = asg.UpdatePolicy!.AutoScalingRollingUpdate as Record<string, unknown>;
    expect(rolling).toMatchObject({ MaxBatchSize: 1, MinInstancesInService: size.desiredCapacity });
    expect(rolling.MinInstancesInService as number).toBeLessThan(size.maxSize);
    expect(rolling.SuspendProcesses).toEqual(expect.arrayContaining(['AlarmNotification', 'ReplaceUnhealthy', 'AZRebalance']));
    // The group follows the fleet's one launch template at its latest version, so a change
    // of the template (a new AMI, new user data) is what the rolling update rolls out.
    const [launchTemplateId] = only(t(), 'AWS::EC2::LaunchTemplate');
    expect(asg.Properties!.LaunchTemplate).toEqual({ LaunchTemplateId: { Ref: launchTemplateId }, Version: { 'Fn::GetAtt': [launchTemplateId, 'LatestVersionNumber'] } });
  });

  test('draining: deregistration delay = fleet.drainSeconds with connection termination, and a termination lifecycle hook', () => {
    for (const [, tg] of ofType(t(), 'AWS::ElasticLoadBalancingV2::TargetGroup')) {
      expect(tg.Properties!.TargetGroupAttributes).toEqual(
        expect.arrayContaining([
          { Key: 'deregistration_delay.timeout_seconds', Value: String(synth.config.fleet.drainSeconds) },
          { Key: 'deregistration_delay.connection_termination.enabled', Value: 'true' },
        ]),
      );
    }
    const [, hook] = only(t(), 'AWS::AutoScaling::LifecycleHook');
    const [asgId] = only(t(), 'AWS::AutoScaling::AutoScalingGroup');
    // The proxy completes the hook itself once drained (edge-lifecycle); the timeout covers the
    // drain, the log flush and a margin, and only applies to a proxy that cannot.
    expect(hook.Properties).toMatchObject({
      AutoScalingGroupName: { Ref: asgId },
      LifecycleHookName: 'drain',
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      DefaultResult: 'CONTINUE',
      HeartbeatTimeout: synth.config.fleet.drainSeconds + 120,
    });
  });

  test('scaling: target tracking on average CPU at fleet.targetCpuPercent', () => {
    const [, policy] = only(t(), 'AWS::AutoScaling::ScalingPolicy');
    expect(policy.Properties).toMatchObject({
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: {
        PredefinedMetricSpecification: { PredefinedMetricType: 'ASGAverageCPUUtilization' },
        TargetValue: synth.config.fleet.targetCpuPercent,
      },
    });
  });

  test('notifications: every scaling event to a KMS-encrypted, SSL-only SNS topic', () => {
    const [, asg] = only(t(), 'AWS::AutoScaling::AutoScalingGroup');
    const [topicId, topic] = only(t(), 'AWS::SNS::Topic');
    const [keyId, key] = only(t(), 'AWS::KMS::Key');
    expect(asg.Properties!.NotificationConfigurations).toEqual([
      expect.objectContaining({ TopicARN: { Ref: topicId }, NotificationTypes: expect.arrayContaining(['autoscaling:EC2_INSTANCE_LAUNCH_ERROR', 'autoscaling:EC2_INSTANCE_TERMINATE']) }),
    ]);
    expect(topic.Properties!.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(key.Properties!.EnableKeyRotation).toBe(true);
    const keyPolicy = JSON.stringify(key.Properties!.KeyPolicy);
    expect(keyPolicy).toContain('cloudwatch.amazonaws.com');
    // KMS refuses a key policy whose principal does not exist, and AWSServiceRoleForAutoScaling
    // does not exist in a fresh account: the role is matched by a condition, never a principal.
    const statements = (key.Properties!.KeyPolicy as { Statement: Array<Record<string, unknown>> }).Statement;
    const autoScaling = statements.find((st) => st.Sid === 'AutoScalingNotifications')!;
    expect(autoScaling.Principal).toEqual({ AWS: '*' });
    expect(renderJoin((autoScaling.Condition as { ArnEquals: Record<string, unknown> }).ArnEquals['aws:PrincipalArn'])).toBe(
      'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling',
    );
    for (const statement of statements) expect(JSON.stringify(statement.Principal)).not.toContain('aws-service-role');
    const [, topicPolicy] = only(t(), 'AWS::SNS::TopicPolicy');
    expect((topicPolicy.Properties!.PolicyDocument as { Statement: unknown[] }).Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  test('instance profile: the proxies\' own role, assumed by EC2 only', () => {
    const [roleId, role] = instanceRole(t());
    expect(role.Properties!.AssumeRolePolicyDocument).toEqual({
      Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' } }],
      Version: '2012-10-17',
    });
    const [, profile] = only(t(), 'AWS::IAM::InstanceProfile');
    expect(profile.Properties!.Roles).toEqual([{ Ref: roleId }]);
  });
});

/**
 * Issue 13 item 3: the proxy's instance role grants only what the image uses, statement by
 * statement. AmazonSSMManagedInstanceCore allowed ssm:GetParameter* on every parameter and
 * CloudWatchAgentServerPolicy let the agent write (and create) any log group; each test below
 * fails on that role.
 */
describe.each(eachRegion())('proxy instance role in %s: least privilege', (region) => {
  const t = () => templates[region];
  const statements = () => statementsOfRole(t(), instanceRole(t())[0]);
  const statement = (sid: string) => {
    const found = statements().filter((s) => s.Sid === sid);
    expect([sid, found.length]).toEqual([sid, 1]);
    return found[0];
  };
  const actionsOf = (s: Record<string, unknown>) => asArray(s.Action as string | string[]).sort();
  const resourcesOf = (s: Record<string, unknown>) => asArray(s.Resource as unknown).map((r) => renderJoin(r)).sort();
  const pillar = () =>
    parseYaml(readFileSync(join(__dirname, '../../ami/salt/pillar/observability.sls'), 'utf8')) as {
      observability: { log_group_prefix: string; metrics_namespace: string; log_files: { name: string }[] };
    };

  test('no AWS managed policy: every permission is one of the statements below', () => {
    expect(instanceRole(t())[1].Properties!.ManagedPolicyArns).toBeUndefined();
  });

  test('exactly these statements, and every one allows (no deny to reason about)', () => {
    // The group adds its own SignalResource statement (it has `signals`), without a Sid.
    const label = (s: Record<string, unknown>) => (s.Sid as string | undefined) ?? `(group) ${actionsOf(s).join(',')}`;
    expect(statements().map(label).sort()).toEqual(
      ['(group) cloudformation:SignalResource', 'CompleteTerminationHook', 'DescribeInstanceForAgentDimensions', 'PublishProxyMetrics', 'ReadDiscoveryToken', 'SessionManager', 'ShipLogsToProxyGroups'].sort(),
    );
    for (const s of statements()) expect([s.Sid, s.Effect]).toEqual([s.Sid, 'Allow']);
  });

  test('no SSM parameter is readable: no ssm:GetParameter*, no ssm wildcard (the proxy reads none)', () => {
    expect(instanceRole(t())[1].Properties!.ManagedPolicyArns).toBeUndefined();
    const ssm = statements().flatMap(actionsOf).filter((a) => a.startsWith('ssm:') || a === '*');
    expect(ssm).toEqual(['ssm:UpdateInstanceInformation']);
  });

  test('Session Manager: exactly the SSM agent\'s documented minimum (instead of SSH)', () => {
    // AWS Systems Manager User Guide, "Create a custom IAM role for Session Manager": these five
    // actions on "*" (no resource types); session logs to S3/KMS are not configured, so neither is granted.
    const s = statement('SessionManager');
    expect(actionsOf(s)).toEqual(
      ['ssm:UpdateInstanceInformation', 'ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'].sort(),
    );
    expect(s.Resource).toBe('*');
    // No other messaging channel anywhere in the role (ec2messages is Run Command's, not used).
    const messaging = (a: string) => a.startsWith('ec2messages:') || a.startsWith('ssmmessages:');
    expect(statements().flatMap(actionsOf).filter(messaging).sort()).toEqual(actionsOf(s).filter(messaging));
  });

  test('logs: streams and events only in the proxy\'s own log groups, which the stack creates (no CreateLogGroup)', () => {
    const s = statement('ShipLogsToProxyGroups');
    expect(actionsOf(s)).toEqual(['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents']);
    const { log_group_prefix: prefix, log_files: files } = pillar().observability;
    const groups = [...files.map((f) => f.name), 'envoy-stats'].map((name) => `${prefix}/${name}`);
    const arn = (group: string) => `arn:\${AWS::Partition}:logs:${region}:\${AWS::AccountId}:log-group:${group}`;
    expect(resourcesOf(s)).toEqual(groups.flatMap((g) => [arn(g), `${arn(g)}:*`]).sort());
    expect(statements().flatMap(actionsOf).filter((a) => a.startsWith('logs:')).sort()).toEqual(actionsOf(s));
  });

  test('metrics: PutMetricData only in the proxies\' namespace', () => {
    const s = statement('PublishProxyMetrics');
    expect(actionsOf(s)).toEqual(['cloudwatch:PutMetricData']);
    // PutMetricData has no resource type; the namespace condition key limits it (CloudWatch User
    // Guide, "Using condition keys to limit access to CloudWatch namespaces").
    expect(s.Resource).toBe('*');
    expect(s.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': pillar().observability.metrics_namespace } });
  });

  test('the CloudWatch agent\'s instance dimensions: read-only EC2 describes, in this region only', () => {
    const s = statement('DescribeInstanceForAgentDimensions');
    expect(actionsOf(s)).toEqual(['ec2:DescribeTags', 'ec2:DescribeVolumes']);
    expect(s.Resource).toBe('*');
    expect(s.Condition).toEqual({ StringEquals: { 'aws:RequestedRegion': region } });
  });

  test('the discovery token: read the one secret of this region', () => {
    const s = statement('ReadDiscoveryToken');
    const [secretId] = only(t(), 'AWS::SecretsManager::Secret');
    expect(actionsOf(s)).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    expect(s.Resource).toEqual({ Ref: secretId });
  });

  test('the readiness signal to this stack, and the completion of its own termination hook', () => {
    const [, asg] = only(t(), 'AWS::AutoScaling::AutoScalingGroup');
    const signal = statements().filter((st) => actionsOf(st).includes('cloudformation:SignalResource'));
    expect(signal.map((st) => ({ Action: st.Action, Resource: st.Resource }))).toEqual([{ Action: 'cloudformation:SignalResource', Resource: { Ref: 'AWS::StackId' } }]);
    expect(resourcesOf(statement('CompleteTerminationHook'))).toEqual([
      `arn:\${AWS::Partition}:autoscaling:\${AWS::Region}:\${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/${asg.Properties!.AutoScalingGroupName}`,
    ]);
    expect(actionsOf(statement('CompleteTerminationHook'))).toEqual(['autoscaling:CompleteLifecycleAction']);
  });
});

describe.each(eachRegion())('load balancer and security groups in %s', (region) => {
  const t = () => templates[region];
  const sgId = (prefix: string) => ofType(t(), 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith(prefix))![0];

  test('internet-facing, cross-zone NLB in the public subnets, access logs to the log bucket', () => {
    const [, nlb] = only(t(), 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    const [bucketId] = only(t(), 'AWS::S3::Bucket');
    expect(nlb.Properties).toMatchObject({ Type: 'network', Scheme: 'internet-facing' });
    expect(nlb.Properties!.LoadBalancerAttributes).toEqual(
      expect.arrayContaining([
        { Key: 'load_balancing.cross_zone.enabled', Value: 'true' },
        { Key: 'access_logs.s3.enabled', Value: 'true' },
        { Key: 'access_logs.s3.bucket', Value: { Ref: bucketId } },
      ]),
    );
    expect(asArray(nlb.Properties!.Subnets)).toHaveLength(regionConfig(region).availabilityZoneIds.length);
    expect(JSON.stringify(nlb.Properties!.Subnets)).toContain('publicSubnet');
    expect(nlb.Properties!.SecurityGroups).toEqual([{ 'Fn::GetAtt': [sgId('FleetLoadBalancerSecurityGroup'), 'GroupId'] }]);
  });

  test('TLS :443 with the region certificate and a modern policy, TCP :80; both to the proxies with proxy protocol v2', () => {
    const listeners = Object.fromEntries(ofType(t(), 'AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => [l.Properties!.Port, l.Properties!]));
    const targetGroups = Object.fromEntries(ofType(t(), 'AWS::ElasticLoadBalancingV2::TargetGroup'));
    const [certId] = only(t(), 'AWS::CertificateManager::Certificate');
    expect(Object.keys(listeners).sort()).toEqual(['443', '80']);
    expect(listeners[443]).toMatchObject({ Protocol: 'TLS', SslPolicy: EDGE_TLS_POLICY, AlpnPolicy: ['HTTP2Preferred'], Certificates: [{ CertificateArn: { Ref: certId } }] });
    expect(listeners[80]).toMatchObject({ Protocol: 'TCP' });
    const targetOf = (l: Record<string, unknown>) => targetGroups[((l.DefaultActions as Array<{ TargetGroupArn: { Ref: string } }>)[0]).TargetGroupArn.Ref];
    expect(targetOf(listeners[443]).Properties!.Port).toBe(synth.config.envoy.httpsTrafficPort);
    expect(targetOf(listeners[80]).Properties!.Port).toBe(synth.config.envoy.httpTrafficPort);
    for (const tg of [targetOf(listeners[443]), targetOf(listeners[80])]) {
      expect(tg.Properties).toMatchObject({
        Protocol: 'TCP',
        TargetType: 'instance',
        HealthCheckProtocol: 'HTTP',
        HealthCheckPath: '/ready',
        HealthCheckPort: String(synth.config.envoy.readinessPort),
        Matcher: { HttpCode: '200' },
      });
      expect(tg.Properties!.TargetGroupAttributes).toEqual(
        expect.arrayContaining([
          { Key: 'proxy_protocol_v2.enabled', Value: 'true' },
          { Key: 'preserve_client_ip.enabled', Value: 'false' },
        ]),
      );
    }
    const [, asg] = only(t(), 'AWS::AutoScaling::AutoScalingGroup');
    expect(asg.Properties!.TargetGroupARNs).toHaveLength(2);
  });

  test('the edge TLS listener is published where the broker\'s worker reads it (SSM, by exact name)', () => {
    const [listenerId] = ofType(t(), 'AWS::ElasticLoadBalancingV2::Listener').find(([, l]) => l.Properties!.Port === 443)!;
    const parameters = ofType(t(), 'AWS::SSM::Parameter').map(([, p]) => p.Properties!);
    expect(parameters).toEqual([
      expect.objectContaining({ Name: edgeListenerParameterName(synth.config.platformName, region), Type: 'String', Value: { Ref: listenerId } }),
    ]);
    // The worker may read exactly this parameter in this region.
    const worker = workerStatement('EdgeListenerParameters');
    expect(asArray(worker.Resource as string[])).toContain(`arn:aws:ssm:${region}:123456789012:parameter${edgeListenerParameterName(synth.config.platformName, region)}`);
  });

  test('the edge TLS listener carries every tag the worker\'s certificate statement is conditioned on', () => {
    const [, listener] = ofType(t(), 'AWS::ElasticLoadBalancingV2::Listener').find(([, l]) => l.Properties!.Port === 443)!;
    const worker = workerStatement('EdgeListenerCertificates');
    const conditions = (worker.Condition as { StringEquals: Record<string, unknown> }).StringEquals;
    const required = Object.entries(conditions).filter(([key]) => key.startsWith('aws:ResourceTag/'));
    expect(required.map(([key]) => key).sort()).toEqual(['aws:ResourceTag/component', 'aws:ResourceTag/platform']);
    const tags = tagsOf(listener)!;
    for (const [key, value] of required) expect([key, tags[key.slice('aws:ResourceTag/'.length)]]).toEqual([key, value]);
    expect(asArray(conditions['aws:RequestedRegion'] as string[])).toContain(region);
    // An NLB listener's ARN is arn:aws:elasticloadbalancing:<region>:<account>:listener/net/...: the statement's resource pattern.
    expect(worker.Resource).toBe('arn:aws:elasticloadbalancing:*:123456789012:listener/net/*');
    expect(only(t(), 'AWS::ElasticLoadBalancingV2::LoadBalancer')[1].Properties!.Type).toBe('network');
  });

  test('only ports 80 and 443 are open to the world, and no SSH anywhere', () => {
    const worldRules: Array<Record<string, unknown>> = [];
    const allIngress: Array<Record<string, unknown>> = [];
    for (const [, r] of Object.entries(fullTemplates[region].Resources)) {
      const rules: Array<Record<string, unknown>> =
        r.Type === 'AWS::EC2::SecurityGroup' ? asArray(r.Properties!.SecurityGroupIngress as Array<Record<string, unknown>>) : r.Type === 'AWS::EC2::SecurityGroupIngress' ? [r.Properties!] : [];
      allIngress.push(...rules);
      worldRules.push(...rules.filter((rule) => rule.CidrIp === '0.0.0.0/0' || rule.CidrIpv6 === '::/0'));
    }
    expect(worldRules.map((r) => [r.FromPort, r.ToPort]).sort()).toEqual([[443, 443], [80, 80]]);
    for (const rule of allIngress) {
      const from = rule.FromPort as number | undefined;
      const to = rule.ToPort as number | undefined;
      const coversSsh = rule.IpProtocol === '-1' || (from !== undefined && to !== undefined && from <= 22 && to >= 22);
      expect([rule, coversSsh]).toEqual([rule, false]);
    }
  });

  test('proxies accept only the NLB (traffic and readiness ports); the NLB may reach only the proxies', () => {
    const proxySg = sgId('FleetProxySecurityGroup');
    const nlbSg = sgId('FleetLoadBalancerSecurityGroup');
    const [, proxyGroup] = ofType(t(), 'AWS::EC2::SecurityGroup').find(([id]) => id === proxySg)!;
    expect(proxyGroup.Properties!.SecurityGroupIngress).toBeUndefined();
    const intoProxies = ofType(t(), 'AWS::EC2::SecurityGroupIngress')
      .filter(([id, r]) => !id.startsWith('ControlPlane') && JSON.stringify(r.Properties!.GroupId).includes(proxySg))
      .map(([, r]) => r.Properties!);
    const { httpsTrafficPort, httpTrafficPort, readinessPort } = synth.config.envoy;
    expect(intoProxies.map((r) => r.FromPort).sort()).toEqual([httpTrafficPort, readinessPort, httpsTrafficPort].sort());
    for (const rule of intoProxies) {
      expect(rule.SourceSecurityGroupId).toEqual({ 'Fn::GetAtt': [nlbSg, 'GroupId'] });
      expect(rule.FromPort).toBe(rule.ToPort);
    }
    const fromNlb = ofType(t(), 'AWS::EC2::SecurityGroupEgress')
      .filter(([, r]) => JSON.stringify(r.Properties!.GroupId).includes(nlbSg))
      .map(([, r]) => r.Properties!);
    expect(fromNlb).toHaveLength(3);
    for (const rule of fromNlb) expect(rule.DestinationSecurityGroupId).toEqual({ 'Fn::GetAtt': [proxySg, 'GroupId'] });
  });

  test('log bucket: SSE-S3, SSL only, no public access, expires after logRetentionDays', () => {
    const [bucketId, bucket] = only(t(), 'AWS::S3::Bucket');
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    const rules = (bucket.Properties!.LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }).Rules;
    expect(rules).toContainEqual(expect.objectContaining({ Status: 'Enabled', ExpirationInDays: synth.config.logRetentionDays }));
    const [, policy] = ofType(t(), 'AWS::S3::BucketPolicy').find(([, p]) => JSON.stringify(p.Properties!.Bucket).includes(bucketId))!;
    expect((policy.Properties!.PolicyDocument as { Statement: unknown[] }).Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });
});

describe.each(eachRegion())('DNS in %s', (region) => {
  const t = () => templates[region];
  const domain = () => synth.config.domain;

  test('ACM certificate for <region>.<domain>, <domain> and *.<domain> (tenant names, one label deep), DNS-validated in the imported zone', () => {
    const [, cert] = only(t(), 'AWS::CertificateManager::Certificate');
    // Tenant names under the platform domain are CNAMEs to <domain>: without *.<domain> every
    // HTTPS client got a name mismatch (issue 12 item 1). The broker refuses deeper names.
    expect(cert.Properties).toMatchObject({
      DomainName: `${region}.${domain()}`,
      SubjectAlternativeNames: [domain(), `*.${domain()}`],
      ValidationMethod: 'DNS',
    });
    // ACM gives `*.<domain>` the same validation CNAME as `<domain>` (ACM User Guide, "DNS
    // validation"), so the record CloudFormation writes for `<domain>` validates both; a second
    // option for the wildcard would ask Route 53 to create the same record twice, which it refuses.
    expect(cert.Properties!.DomainValidationOptions).toEqual([
      { DomainName: `${region}.${domain()}`, HostedZoneId: synth.config.hostedZoneId },
      { DomainName: domain(), HostedZoneId: synth.config.hostedZoneId },
    ]);
  });

  test('regional alias record <region>.<domain> → the NLB', () => {
    const records = ofType(t(), 'AWS::Route53::RecordSet').map(([, r]) => r.Properties!);
    const regional = records.find((r) => r.Name === `${region}.${domain()}.`)!;
    expect(regional).toMatchObject({ Type: 'A', HostedZoneId: synth.config.hostedZoneId, AliasTarget: { EvaluateTargetHealth: true } });
    expect(regional.SetIdentifier).toBeUndefined();
  });

  test('latency alias record for <domain>: set identifier = region, evaluate target health, Route 53 health check', () => {
    const records = ofType(t(), 'AWS::Route53::RecordSet').map(([, r]) => r.Properties!);
    const latency = records.find((r) => r.Name === `${domain()}.`)!;
    const [healthCheckId, healthCheck] = only(t(), 'AWS::Route53::HealthCheck');
    expect(latency).toMatchObject({
      Type: 'A',
      Region: region,
      SetIdentifier: region,
      HealthCheckId: { Ref: healthCheckId },
      AliasTarget: { EvaluateTargetHealth: true },
    });
    const [nlbId] = only(t(), 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    expect(renderJoin((latency.AliasTarget as Record<string, unknown>).DNSName)).toBe(`dualstack.\${${nlbId}.DNSName}`);
    const [alarmId, alarm] = only(t(), 'AWS::CloudWatch::Alarm');
    expect(healthCheck.Properties!.HealthCheckConfig).toMatchObject({
      Type: 'CLOUDWATCH_METRIC',
      AlarmIdentifier: { Name: { Ref: alarmId }, Region: region },
    });
    const httpsTarget = ofType(t(), 'AWS::ElasticLoadBalancingV2::TargetGroup').find(([, tg]) => tg.Properties!.Port === synth.config.envoy.httpsTrafficPort)![0];
    expect(alarm.Properties).toMatchObject({
      MetricName: 'HealthyHostCount',
      Namespace: 'AWS/NetworkELB',
      Statistic: 'Minimum',
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
    });
    expect(JSON.stringify(alarm.Properties!.Dimensions)).toContain(httpsTarget);
  });
});

describe.each(eachRegion())('control plane wiring in %s', (region) => {
  test('the control plane runs in the fleet VPC, uses the one discovery token, and admits the proxies', () => {
    const full = fullTemplates[region];
    const [secretId] = only(full, 'AWS::SecretsManager::Secret');
    const [vpcId] = only(full, 'AWS::EC2::VPC');
    const proxySg = ofType(full, 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('FleetProxySecurityGroup'))![0];
    const controlPlane = Object.entries(full.Resources).filter(([id]) => id.startsWith('ControlPlane'));
    const text = JSON.stringify(controlPlane);
    expect(text).toContain(`{"Ref":"${secretId}"}`);
    expect(text).toContain(`{"Ref":"${vpcId}"}`);
    const fromProxies = controlPlane.filter(
      ([, r]) => r.Type === 'AWS::EC2::SecurityGroupIngress' && JSON.stringify(r.Properties?.SourceSecurityGroupId) === JSON.stringify({ 'Fn::GetAtt': [proxySg, 'GroupId'] }),
    );
    expect(fromProxies.map(([, r]) => r.Properties!.FromPort)).toContain(synth.config.controlPlane.xdsPort);
  });
});

describe('tags', () => {
  test.each(eachRegion())('every tagged resource in %s carries platform, region and its component', (region) => {
    const untagged: string[] = [];
    const taggable = ['AWS::EC2::VPC', 'AWS::EC2::Subnet', 'AWS::EC2::SecurityGroup', 'AWS::EC2::LaunchTemplate', 'AWS::AutoScaling::AutoScalingGroup',
      'AWS::ElasticLoadBalancingV2::LoadBalancer', 'AWS::ElasticLoadBalancingV2::Listener', 'AWS::ElasticLoadBalancingV2::TargetGroup', 'AWS::SecretsManager::Secret', 'AWS::S3::Bucket', 'AWS::SSM::Parameter',
      'AWS::SNS::Topic', 'AWS::KMS::Key', 'AWS::CertificateManager::Certificate', 'AWS::Route53::HealthCheck', 'AWS::IAM::Role', 'AWS::EC2::NatGateway', 'AWS::Lambda::Function', 'AWS::CloudWatch::Alarm'];
    for (const [id, resource] of Object.entries(fullTemplates[region].Resources) as Array<[string, CfnResource]>) {
      const tags = tagsOf(resource);
      if (!tags) {
        if (taggable.includes(resource.Type) && !id.startsWith('ControlPlane')) untagged.push(`${id} (${resource.Type})`);
        continue;
      }
      expect([id, tags.platform, tags.region]).toEqual([id, 'edge', region]);
      if (!id.startsWith('ControlPlane')) expect([id, tags.component]).toEqual([id, expect.stringMatching(/^(network|proxy-fleet|monitoring)$/)]);
    }
    expect(untagged).toEqual([]);
    const [, asg] = only(templates[region], 'AWS::AutoScaling::AutoScalingGroup');
    for (const tag of asg.Properties!.Tags as Array<{ PropagateAtLaunch: boolean }>) expect(tag.PropagateAtLaunch).toBe(true);
  });
});

describe('bad fleet config', () => {
  test('a desired capacity that leaves no room for a rolling update fails with a message naming the region and rule', () => {
    expect(() => synthEdgeApp({ config: { regions: ['us-west-1'], fleet: { minSize: 2, maxSize: 4, desiredCapacity: 4 } }, nag: false })).toThrow(
      /us-west-1: desiredCapacity \(4\) must be less than maxSize \(4\)/,
    );
  });
});

describe('proxy log groups', () => {
  test('every group the AMI\'s CloudWatch agent ships to exists with the platform\'s retention', () => {
    const pillar = parseYaml(readFileSync(join(__dirname, '../../ami/salt/pillar/observability.sls'), 'utf8')) as {
      observability: { log_group_prefix: string; log_files: { name: string }[] };
    };
    const expected = [...pillar.observability.log_files.map((f) => f.name), 'envoy-stats']
      .map((name) => `${pillar.observability.log_group_prefix}/${name}`)
      .sort();
    for (const region of REGIONS.map((r) => (typeof r === 'string' ? r : r.region))) {
      const groups = ofType(fullTemplates[region], 'AWS::Logs::LogGroup')
        .map(([, r]) => r.Properties ?? {})
        .filter((p) => String(p.LogGroupName).startsWith(pillar.observability.log_group_prefix));
      expect(groups.map((p) => p.LogGroupName).sort()).toEqual(expected);
      for (const group of groups) expect(group.RetentionInDays).toBeGreaterThanOrEqual(synth.config.logRetentionDays);
    }
  });

  test('Envoy writes its access log where the AMI ships envoy-access from (the 5xx alarm reads it)', () => {
    const pillar = parseYaml(readFileSync(join(__dirname, '../../ami/salt/pillar/observability.sls'), 'utf8')) as {
      observability: { log_files: { name: string; path: string }[] };
    };
    const shipped = pillar.observability.log_files.find((f) => f.name === 'envoy-access')?.path;
    expect(shipped).toBe(PROXY_ACCESS_LOG_PATH);
    for (const region of REGIONS.map((r) => (typeof r === 'string' ? r : r.region))) {
      type Container = { Environment?: { Name: string; Value: string }[] };
      const containers = ofType(fullTemplates[region], 'AWS::ECS::TaskDefinition').flatMap(([, r]) => (r.Properties?.ContainerDefinitions ?? []) as Container[]);
      const environment = containers.flatMap((c) => c.Environment ?? []);
      expect(environment).toContainEqual({ Name: 'EDGE_ACCESS_LOG_PATH', Value: PROXY_ACCESS_LOG_PATH });
    }
  });
});
