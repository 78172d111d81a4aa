import * as esbuild from 'esbuild';
import * as fs from 'fs';
import * as path from 'path';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { CONTROL_PLANE_CONTAINER, controlPlaneHost } from '../../lib/control-plane/control-plane-service';
import { IMAGE_BUILD_CONTEXT, IMAGE_DOCKERFILE } from '../../lib/control-plane/control-plane-image';
import { SynthResult, synthEdgeApp, TEST_REGIONS } from '../support/synth';
import { Resources, asArray, templateHelpers } from '../support/template';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Sid?: string };

const REGION = 'us-west-1'; // two usable zones only: the interesting case for "across zones"
const PREFIX = 'ControlPlane'; // logical ids of the construct's resources in the fleet stack

let synth: SynthResult;
let assembly: cxapi.CloudAssembly;
let fleet: Template;
let all: Resources;
let resources: Resources;

const { ofType, only, idOf } = templateHelpers(() => resources, PREFIX);
/** Logical id of the security group the fleet passes to allowProxies (its proxies). */
function proxySecurityGroupId(): string {
  const stack = synth.edge.fleets.find((f) => f.region === REGION)!;
  const sg = stack.fleet.proxySecurityGroup as ec2.SecurityGroup;
  return stack.resolve((sg.node.defaultChild as ec2.CfnSecurityGroup).logicalId) as string;
}

beforeAll(() => {
  // Synth must never need Docker: point the CDK at a docker binary that does not exist.
  process.env.CDK_DOCKER = '/nonexistent/docker';
  synth = synthEdgeApp();
  assembly = synth.app.synth();
  fleet = synth.template(`edge-fleet-${REGION}`);
  all = fleet.toJSON().Resources;
  resources = Object.fromEntries(Object.entries(all).filter(([id]) => id.startsWith(PREFIX)));
});

afterAll(() => {
  delete process.env.CDK_DOCKER;
});

test('snapshot of the ControlPlane resources in the fleet stack', () => {
  expect(resources).toMatchSnapshot();
});

describe('the construct contract', () => {
  test('endpoint host, ports and TLS as the fleet consumes them', () => {
    for (const stack of synth.edge.fleets) {
      const cp = stack.controlPlane;
      const region = stack.region;
      expect(cp.endpointHost).toBe(controlPlaneHost(synth.config, region));
      expect(cp.endpointHost).toBe(`xds.${region}.internal.${synth.config.domain}`);
      expect(cp.xdsPort).toBe(synth.config.controlPlane.xdsPort);
      expect(cp.restPort).toBe(synth.config.controlPlane.restPort);
      expect(cp.endpointTls).toBe(true);
    }
  });

  test('one control plane per fleet region', () => {
    for (const region of TEST_REGIONS) {
      const template = synth.template(`edge-fleet-${region}`);
      template.resourceCountIs('AWS::ECS::Service', 1);
    }
  });
});

describe('ECS', () => {
  test('cluster with enhanced Container Insights', () => {
    const [, cluster] = only('AWS::ECS::Cluster');
    expect(cluster.Properties.ClusterSettings).toEqual([{ Name: 'containerInsights', Value: 'enhanced' }]);
  });

  test('service: at least 2 tasks on Fargate in private subnets of different zones, safe rolling deploys', () => {
    const [, service] = only('AWS::ECS::Service');
    const minTasks = synth.config.controlPlane.minTasks;
    expect(minTasks).toBeGreaterThanOrEqual(2);
    expect(service.Properties).toMatchObject({
      LaunchType: 'FARGATE',
      DesiredCount: minTasks,
      DeploymentConfiguration: { MinimumHealthyPercent: 100, MaximumPercent: 200, DeploymentCircuitBreaker: { Enable: true, Rollback: true } },
      AvailabilityZoneRebalancing: 'ENABLED',
    });
    const network = (service.Properties.NetworkConfiguration as { AwsvpcConfiguration: { AssignPublicIp: string; Subnets: { Ref: string }[] } })
      .AwsvpcConfiguration;
    expect(network.AssignPublicIp).toBe('DISABLED');
    const subnets = network.Subnets.map((s) => all[s.Ref]);
    for (const subnet of subnets) {
      expect(subnet.Type).toBe('AWS::EC2::Subnet');
      expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false);
      const tags = subnet.Properties.Tags as { Key: string; Value: string }[];
      expect(tags).toEqual(expect.arrayContaining([{ Key: 'aws-cdk:subnet-type', Value: 'Private' }]));
    }
    const zones = new Set(subnets.map((s) => s.Properties.AvailabilityZoneId));
    expect(zones.size).toBeGreaterThanOrEqual(2);
    expect(zones.size).toBe(synth.config.regions.find((r) => r.region === REGION)!.availabilityZoneIds.length);
  });

  test('target tracking on CPU and memory between min and max tasks', () => {
    const [targetId, target] = only('AWS::ApplicationAutoScaling::ScalableTarget');
    expect(target.Properties).toMatchObject({
      MinCapacity: synth.config.controlPlane.minTasks,
      MaxCapacity: synth.config.controlPlane.maxTasks,
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    const metrics = ofType('AWS::ApplicationAutoScaling::ScalingPolicy').map(([, p]) => {
      expect(p.Properties.PolicyType).toBe('TargetTrackingScaling');
      expect(p.Properties.ScalingTargetId).toEqual({ Ref: targetId });
      return (p.Properties.TargetTrackingScalingPolicyConfiguration as { PredefinedMetricSpecification: { PredefinedMetricType: string } })
        .PredefinedMetricSpecification.PredefinedMetricType;
    });
    expect(metrics.sort()).toEqual(['ECSServiceAverageCPUUtilization', 'ECSServiceAverageMemoryUtilization']);
  });

  test('task: ARM64 Linux, size from config, non-root, read-only root, awslogs with retention, health check on /healthz', () => {
    const [, task] = only('AWS::ECS::TaskDefinition');
    expect(task.Properties).toMatchObject({
      RequiresCompatibilities: ['FARGATE'],
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      Cpu: String(synth.config.controlPlane.cpu),
      Memory: String(synth.config.controlPlane.memoryMiB),
    });
    const [container] = task.Properties.ContainerDefinitions as Record<string, unknown>[];
    expect(container).toMatchObject({
      Name: CONTROL_PLANE_CONTAINER,
      User: 'node',
      ReadonlyRootFilesystem: true,
      PortMappings: [
        { ContainerPort: synth.config.controlPlane.xdsPort, Protocol: 'tcp' },
        { ContainerPort: synth.config.controlPlane.restPort, Protocol: 'tcp' },
      ].map((p) => expect.objectContaining(p)),
      LogConfiguration: { LogDriver: 'awslogs' },
    });
    const logGroupRef = (container.LogConfiguration as { Options: Record<string, { Ref: string }> }).Options['awslogs-group'].Ref;
    expect(resources[logGroupRef].Properties.RetentionInDays).toBeGreaterThanOrEqual(synth.config.logRetentionDays);
    const command = (container.HealthCheck as { Command: string[] }).Command;
    expect(command.slice(0, 2)).toEqual(['CMD', 'node']);
    expect(command.join(' ')).toContain(`http://127.0.0.1:${synth.config.controlPlane.restPort}/healthz`);
  });

  test('environment per CONTRACTS.md; the discovery token by ARN, never its value', () => {
    const [, task] = only('AWS::ECS::TaskDefinition');
    const [container] = task.Properties.ContainerDefinitions as Record<string, unknown>[];
    const env = Object.fromEntries((container.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
    expect(env).toMatchObject({
      EDGE_REGION: REGION,
      EDGE_TABLE_NAME: synth.config.brokerTableName,
      EDGE_XDS_PORT: '18000',
      EDGE_CONTROL_PLANE_PORT: '18001',
      EDGE_SNAPSHOT_BUCKET: { Ref: idOf('SnapshotBucket', 'AWS::S3::Bucket') },
      EDGE_DISCOVERY_TOKEN_SECRET_ARN: { Ref: Object.keys(all).find((id) => id.startsWith('DiscoveryToken') && all[id].Type === 'AWS::SecretsManager::Secret') },
      EDGE_DOMAIN: synth.config.domain,
      EDGE_PLATFORM_NAME: synth.config.platformName,
      EDGE_HTTPS_TRAFFIC_PORT: String(synth.config.envoy.httpsTrafficPort),
      EDGE_HTTP_TRAFFIC_PORT: String(synth.config.envoy.httpTrafficPort),
      // Every fleet VPC, not only this region's: the tenant rules refuse targets in any of them.
      EDGE_FLEET_CIDRS: synth.config.regions.map((r) => r.vpcCidr).join(','),
    });
    expect(String(env.EDGE_FLEET_CIDRS).split(',')).toHaveLength(synth.config.regions.length);
    expect(env.EDGE_XDS_AUTH_TOKEN).toBeUndefined(); // local only
    expect(container.Secrets).toBeUndefined();
    expect(JSON.stringify(env)).not.toMatch(/resolve:secretsmanager|SecretString/);
  });
});

describe('task role: its replica, its bucket, its token', () => {
  function taskRoleStatements(): Statement[] {
    const roleId = idOf('TaskRole', 'AWS::IAM::Role');
    return ofType('AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  }

  test('reads only the table replica in this region (and its byGeneration index), by ARN', () => {
    const dynamo = taskRoleStatements().filter((s) => asArray(s.Action).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toHaveLength(2);
    const tableArn = `arn:aws:dynamodb:${REGION}:123456789012:table/${synth.config.brokerTableName}`;
    const reads = dynamo.find((s) => asArray(s.Action).includes('dynamodb:Query'));
    expect(reads?.Resource).toEqual([tableArn, `${tableArn}/index/byGeneration`]);
    expect(asArray(reads?.Action ?? []).sort()).toEqual(['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan']);
  });

  test('writes only its convergence reports: Put/Delete on the replica, leading key CONVERGENCE', () => {
    const tableArn = `arn:aws:dynamodb:${REGION}:123456789012:table/${synth.config.brokerTableName}`;
    const writes = taskRoleStatements().filter((s) => asArray(s.Action).some((a) => a === 'dynamodb:PutItem'));
    expect(writes).toHaveLength(1);
    expect(asArray(writes[0].Action).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:PutItem']);
    expect(writes[0].Resource).toEqual(tableArn);
    expect((writes[0] as unknown as { Condition: unknown }).Condition).toEqual({
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['CONVERGENCE'] },
    });
  });

  test('reads and writes only its own snapshot bucket', () => {
    const bucketId = idOf('SnapshotBucket', 'AWS::S3::Bucket');
    const s3 = taskRoleStatements().filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:')));
    for (const statement of s3) expect(JSON.stringify(statement.Resource)).toContain(`"${bucketId}"`);
    expect(s3.flatMap((s) => asArray(s.Action)).sort()).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject']);
  });

  test('reads the discovery token secret and the cdn origin secret and nothing else; no wildcard actions', () => {
    const statements = taskRoleStatements();
    const secret = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('secretsmanager:')));
    expect(secret).toHaveLength(2);
    const token = secret.find((s) => s.Sid === 'ReadDiscoveryTokenStages') as Statement & { Condition?: unknown };
    expect(JSON.stringify(token.Resource)).toMatch(/"DiscoveryToken[0-9A-F]+"/);
    // Only the two stages the runtime accepts (issue 13: rotation), by VersionStage; no DescribeSecret.
    expect(token.Action).toBe('secretsmanager:GetSecretValue');
    expect(token.Condition).toEqual({ StringEquals: { 'secretsmanager:VersionStage': ['AWSCURRENT', 'AWSPREVIOUS'] } });
    const services = new Set(statements.flatMap((s) => asArray(s.Action)).map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['dynamodb', 's3', 'secretsmanager']);
    for (const action of statements.flatMap((s) => asArray(s.Action))) expect(action).not.toMatch(/\*/);
  });
});

describe('the cdn origin secret (issue 12: the edge refuses cdn names without the origin header)', () => {
  test('the replica in this region by its fixed name: GetSecretValue of AWSCURRENT and AWSPREVIOUS only', () => {
    const roleId = idOf('TaskRole', 'AWS::IAM::Role');
    const statements = ofType('AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Array<Statement & { Condition?: unknown }> }).Statement);
    const origin = statements.find((s) => s.Sid === 'ReadCdnOriginSecretStages');
    expect(origin).toMatchObject({ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue' });
    // The broker stack's secret name, with the 6 characters Secrets Manager appends; this region's replica.
    expect(JSON.stringify(origin!.Resource)).toContain(`:secretsmanager:${REGION}:`);
    expect(JSON.stringify(origin!.Resource)).toContain(`:secret:${synth.config.platformName}/cdn-origin-secret-??????`);
    expect(origin!.Condition).toEqual({ StringEquals: { 'secretsmanager:VersionStage': ['AWSCURRENT', 'AWSPREVIOUS'] } });
    const [, task] = only('AWS::ECS::TaskDefinition');
    const [container] = task.Properties.ContainerDefinitions as Record<string, unknown>[];
    const env = Object.fromEntries((container.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
    expect(env.EDGE_CDN_ORIGIN_SECRET_ID).toBe(`${synth.config.platformName}/cdn-origin-secret`);
    // The same name the broker stack gives the secret (a replica keeps the primary's name).
    const broker = synth.template(`${synth.config.platformName}-broker`).toJSON().Resources as Resources;
    const secret = Object.entries(broker).find(([id, r]) => id.startsWith('CdnOriginSecret') && r.Type === 'AWS::SecretsManager::Secret');
    expect(secret?.[1].Properties.Name).toBe(env.EDGE_CDN_ORIGIN_SECRET_ID);
  });
});

describe('snapshot bucket', () => {
  test('encrypted, versioned, private, SSL-only, access-logged, with a lifecycle', () => {
    const bucketId = idOf('SnapshotBucket', 'AWS::S3::Bucket');
    const bucket = resources[bucketId];
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    // Server access logs to a log bucket of the stack (the fleet's, when it passes one).
    const logTarget = (bucket.Properties.LoggingConfiguration as { DestinationBucketName: { Ref: string } }).DestinationBucketName.Ref;
    expect(all[logTarget].Type).toBe('AWS::S3::Bucket');
    expect(logTarget).not.toBe(bucketId);
    const rules = (bucket.Properties.LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    expect(rules[0]).toMatchObject({ Status: 'Enabled', NoncurrentVersionExpiration: expect.anything() });
    const policy = ofType('AWS::S3::BucketPolicy').find(([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucketId }))!;
    expect(JSON.stringify(policy[1].Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
  });
});

describe('private load balancer', () => {
  test('internal NLB in the private subnets, behind its own security group', () => {
    const [, nlb] = only('AWS::ElasticLoadBalancingV2::LoadBalancer');
    expect(nlb.Properties).toMatchObject({ Type: 'network', Scheme: 'internal' });
    const [, service] = only('AWS::ECS::Service');
    const serviceSubnets = (service.Properties.NetworkConfiguration as { AwsvpcConfiguration: { Subnets: unknown[] } }).AwsvpcConfiguration.Subnets;
    expect(nlb.Properties.Subnets).toEqual(serviceSubnets);
    expect(nlb.Properties.SecurityGroups).toEqual([{ 'Fn::GetAtt': [idOf('LoadBalancerSecurityGroup', 'AWS::EC2::SecurityGroup'), 'GroupId'] }]);
  });

  test('TLS listeners with the ACM certificate: xDS with ALPN h2 (gRPC), REST', () => {
    const listeners = Object.fromEntries(ofType('AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => [l.Properties.Port, l.Properties]));
    const certificate = [{ CertificateArn: { Ref: idOf('Certificate', 'AWS::CertificateManager::Certificate') } }];
    expect(listeners[18000]).toMatchObject({ Protocol: 'TLS', Certificates: certificate, AlpnPolicy: ['HTTP2Preferred'] });
    expect(listeners[18001]).toMatchObject({ Protocol: 'TLS', Certificates: certificate });
    for (const listener of Object.values(listeners) as Record<string, unknown>[]) expect(listener.SslPolicy).toMatch(/^ELBSecurityPolicy-TLS13-1-2/);
  });

  test('target groups: the tasks by IP, health checked over HTTP on /healthz at the REST port', () => {
    const groups = ofType('AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(groups.map(([, g]) => g.Properties.Port).sort()).toEqual([18000, 18001]);
    for (const [, group] of groups) {
      expect(group.Properties).toMatchObject({
        TargetType: 'ip',
        Protocol: 'TCP',
        HealthCheckProtocol: 'HTTP',
        HealthCheckPath: '/healthz',
        HealthCheckPort: '18001',
      });
    }
  });

  test('certificate for the endpoint name, DNS-validated in the platform zone', () => {
    const [, certificate] = only('AWS::CertificateManager::Certificate');
    expect(certificate.Properties).toMatchObject({
      DomainName: controlPlaneHost(synth.config, REGION),
      ValidationMethod: 'DNS',
      DomainValidationOptions: [{ DomainName: controlPlaneHost(synth.config, REGION), HostedZoneId: synth.config.hostedZoneId }],
    });
  });

  test('the endpoint name is an alias to the internal NLB in the platform zone', () => {
    const [, record] = only('AWS::Route53::RecordSet');
    expect(record.Properties).toMatchObject({
      Name: `${controlPlaneHost(synth.config, REGION)}.`,
      Type: 'A',
      HostedZoneId: synth.config.hostedZoneId,
    });
    expect(JSON.stringify(record.Properties.AliasTarget)).toContain(idOf('LoadBalancer', 'AWS::ElasticLoadBalancingV2::LoadBalancer'));
  });

  test('security groups: tasks accept only the NLB, the NLB accepts only the proxies, on the two ports', () => {
    const nlbSg = idOf('LoadBalancerSecurityGroup', 'AWS::EC2::SecurityGroup');
    const taskSg = idOf('ServiceSecurityGroup', 'AWS::EC2::SecurityGroup');
    const ingress = Object.values(all).filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress');
    const into = (sg: string) => ingress.filter((r) => JSON.stringify(r.Properties.GroupId) === JSON.stringify({ 'Fn::GetAtt': [sg, 'GroupId'] }));
    for (const [sg, from] of [
      [taskSg, { 'Fn::GetAtt': [nlbSg, 'GroupId'] }],
      [nlbSg, { 'Fn::GetAtt': [proxySecurityGroupId(), 'GroupId'] }],
    ] as const) {
      const rules = into(sg);
      expect(rules.map((r) => r.Properties.FromPort).sort()).toEqual([18000, 18001]);
      for (const rule of rules) {
        expect(rule.Properties.SourceSecurityGroupId).toEqual(from);
        expect(rule.Properties.CidrIp).toBeUndefined();
      }
    }
    for (const [, sg] of ofType('AWS::EC2::SecurityGroup')) expect(sg.Properties.SecurityGroupIngress).toBeUndefined();
  });

  test('the NLB security group is locked outbound: only to the tasks, on the two ports (asserted here, not left to the snapshot)', () => {
    const nlbSg = idOf('LoadBalancerSecurityGroup', 'AWS::EC2::SecurityGroup');
    const taskSg = idOf('ServiceSecurityGroup', 'AWS::EC2::SecurityGroup');
    // No inline egress: neither the default "allow all outbound" nor any CIDR.
    expect(all[nlbSg].Properties.SecurityGroupEgress).toBeUndefined();
    const egress = Object.values(all)
      .filter((r) => r.Type === 'AWS::EC2::SecurityGroupEgress' && JSON.stringify(r.Properties.GroupId) === JSON.stringify({ 'Fn::GetAtt': [nlbSg, 'GroupId'] }))
      .map((r) => r.Properties)
      .sort((a, b) => (a.FromPort as number) - (b.FromPort as number));
    expect(egress).toEqual([18000, 18001].map((port) => ({
      Description: 'from the control plane NLB',
      DestinationSecurityGroupId: { 'Fn::GetAtt': [taskSg, 'GroupId'] },
      FromPort: port,
      ToPort: port,
      GroupId: { 'Fn::GetAtt': [nlbSg, 'GroupId'] },
      IpProtocol: 'tcp',
    })));
  });
});

describe('image', () => {
  function imageAsset() {
    const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, `edge-fleet-${REGION}.assets.json`), 'utf8'));
    const images = Object.values(manifest.dockerImages) as { source: { directory: string; dockerFile: string; platform: string } }[];
    expect(images).toHaveLength(1);
    return images[0];
  }

  test('built from lib/control-plane/Dockerfile with the repo root as context, for linux/arm64 (at deploy, not synth)', () => {
    const image = imageAsset();
    expect(image.source.dockerFile).toBe(IMAGE_DOCKERFILE);
    expect(image.source.platform).toBe('linux/arm64');
    expect(fs.existsSync(path.join(IMAGE_BUILD_CONTEXT, IMAGE_DOCKERFILE))).toBe(true);
    expect(fs.existsSync(path.join(IMAGE_BUILD_CONTEXT, 'package-lock.json'))).toBe(true);
    // synth completed with CDK_DOCKER pointing nowhere: no Docker was needed.
    expect(process.env.CDK_DOCKER).toBe('/nonexistent/docker');
  });

  test('the staged build context holds only what the image needs', () => {
    const root = path.join(assembly.directory, imageAsset().source.directory);
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else files.push(path.relative(root, full));
      }
    };
    walk(root);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json', IMAGE_DOCKERFILE, 'lib/model/table.ts']));
    const outside = files.filter(
      (f) => !['package.json', 'package-lock.json', 'tsconfig.json'].includes(f) && !/^lib\/(model|config|shared|control-plane\/runtime)\//.test(f) && f !== IMAGE_DOCKERFILE,
    );
    expect(outside).toEqual([]);
  });

  test('all fleet regions share one image asset (same hash)', () => {
    const hashes = TEST_REGIONS.map((region) => {
      const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, `edge-fleet-${region}.assets.json`), 'utf8'));
      return Object.keys(manifest.dockerImages);
    });
    expect(new Set(hashes.flat()).size).toBe(1);
  });

  test('Dockerfile: multi-stage node:22-slim, npm ci, esbuild, non-root, health check, xDS and REST ports', () => {
    const dockerfile = fs.readFileSync(path.join(IMAGE_BUILD_CONTEXT, IMAGE_DOCKERFILE), 'utf8');
    const from = dockerfile.match(/^FROM .*/gm) ?? [];
    expect(from.length).toBeGreaterThanOrEqual(2);
    for (const line of from) expect(line).toMatch(/^FROM node:22-slim\b/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/esbuild/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\/healthz/ms);
    expect(dockerfile).toMatch(/^EXPOSE 18000 18001$/m);
    expect(dockerfile).toMatch(/^CMD \["node", .*"lib\/control-plane\/runtime\/main\.js"\]$/m);
  });
});

describe('what the image runs', () => {
  const MAIN = 'lib/control-plane/runtime/main.ts';

  test('main.ts only imports files in the build context and production dependencies (never the CDK)', async () => {
    expect(fs.existsSync(path.join(IMAGE_BUILD_CONTEXT, MAIN))).toBe(true);
    const result = await esbuild.build({
      absWorkingDir: IMAGE_BUILD_CONTEXT,
      entryPoints: [MAIN],
      bundle: true,
      platform: 'node',
      packages: 'external',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = result.metafile.inputs;
    const localFiles = Object.keys(inputs);
    expect(localFiles.filter((file) => !/^lib\/(model|config|shared|control-plane\/runtime)\//.test(file))).toEqual([]);
    const packageJson = JSON.parse(fs.readFileSync(path.join(IMAGE_BUILD_CONTEXT, 'package.json'), 'utf8'));
    const production = new Set(Object.keys(packageJson.dependencies));
    const packages = new Set(
      Object.values(inputs)
        .flatMap((input) => input.imports)
        .filter((imported) => imported.external && !imported.path.startsWith('node:') && !imported.path.startsWith('.')) // '.': type-only, erased
        .map((imported) => imported.path.split('/').slice(0, imported.path.startsWith('@') ? 2 : 1).join('/')),
    );
    const builtins = new Set(require('module').builtinModules as string[]);
    const missing = [...packages].filter((name) => !builtins.has(name) && !production.has(name));
    expect(missing).toEqual([]); // a devDependency here would crash the container (npm ci --omit=dev)
    for (const cdk of ['aws-cdk-lib', 'constructs', 'cdk-nag']) expect(packages.has(cdk)).toBe(false); // dropped from the image
  });
});

test('every taggable ControlPlane resource carries component=control-plane', () => {
  for (const [id, resource] of Object.entries(resources)) {
    const tags = resource.Properties?.Tags;
    if (!Array.isArray(tags)) continue;
    expect({ id, tags }).toEqual({ id, tags: expect.arrayContaining([{ Key: 'component', Value: 'control-plane' }]) });
  }
});
