import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeRegionsCommand,
  DescribeVpcEndpointServicesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { GetRoleCommand, IAMClient, NoSuchEntityException } from '@aws-sdk/client-iam';
import { GetHostedZoneCommand, Route53Client } from '@aws-sdk/client-route-53';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import { KNOWN_AVAILABILITY_ZONE_IDS } from '../../lib/config';
import { runPreflightCli } from '../../lib/preflight/main';
import { CHECKS } from '../../lib/preflight/run';
import { CommandRunner } from '../../lib/preflight/types';
import { ACCOUNT, REAL_CONFIG, noCredentials, regionOf } from './support';

const sts = mockClient(STSClient);
const iam = mockClient(IAMClient);
const route53 = mockClient(Route53Client);
const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const dynamodb = mockClient(DynamoDBClient);
const cloudformation = mockClient(CloudFormationClient);
const ALL = [sts, iam, route53, ec2, ssm, dynamodb, cloudformation];
const NS = ['ns-1.awsdns-01.org', 'ns-2.awsdns-02.com'];
const REGIONS = REAL_CONFIG.regions;

/** Zone names as this account sees them: a letter per ID, in reverse order (never the ID's own order). */
const zonesOf = (region: string) => KNOWN_AVAILABILITY_ZONE_IDS[region].map((id, i, all) => ({ ZoneId: id, ZoneName: `${region}${'abcdef'[all.length - 1 - i]}`, State: 'available', ZoneType: 'availability-zone' }));

/** An account where a deploy would go through: every stub answers as AWS would for a ready account. */
function healthyAccount(): void {
  sts.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:role/deployer` });
  iam.on(GetRoleCommand).resolves({});
  route53.on(GetHostedZoneCommand).resolves({
    HostedZone: { Id: REAL_CONFIG.hostedZoneId, Name: `${REAL_CONFIG.domain}.`, CallerReference: 'x', Config: { PrivateZone: false } },
    DelegationSet: { NameServers: NS },
  });
  ec2.on(DescribeRegionsCommand).callsFake(async (input: { RegionNames: string[] }) => ({ Regions: input.RegionNames.map((r) => ({ RegionName: r, OptInStatus: 'opt-in-not-required' })) }));
  ec2.on(DescribeAvailabilityZonesCommand).callsFake(async (_input, getClient) => ({ AvailabilityZones: zonesOf(await regionOf(getClient)) }));
  ec2.on(DescribeInstanceTypeOfferingsCommand).callsFake(async (input: { Filters: Array<{ Name: string; Values: string[] }> }) => ({
    InstanceTypeOfferings: input.Filters.find((f) => f.Name === 'location')!.Values.map((Location) => ({ InstanceType: 'c7g.large', Location })),
  }));
  ec2.on(DescribeVpcEndpointServicesCommand).callsFake(async (input: { ServiceNames: string[] }, getClient) => {
    const region = await regionOf(getClient);
    return { ServiceDetails: input.ServiceNames.map((ServiceName) => ({ ServiceName, AvailabilityZones: zonesOf(region).map((z) => z.ZoneName) })) };
  });
  ssm.on(GetParameterCommand, { Name: '/cdk-bootstrap/hnb659fds/version' }).resolves({ Parameter: { Value: '29' } });
  ssm.on(GetParameterCommand, { Name: '/edge/ami/envoy/latest' }).resolves({ Parameter: { Value: 'ami-0123456789abcdef0' } });
  ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-0123456789abcdef0', State: 'available', Architecture: 'arm64' }] });
  dynamodb.on(DescribeTableCommand).resolves({ Table: { TableStatus: 'ACTIVE', Replicas: REGIONS.filter((r) => r !== 'us-east-1').map((RegionName) => ({ RegionName, ReplicaStatus: 'ACTIVE' })) } });
}

const dockerOk: CommandRunner = async (_command, args) => ({ code: 0, stdout: args[0] === 'buildx' ? 'default running linux/amd64, linux/arm64' : '28.1.1\n', stderr: '' });

interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
async function cli(args: string[], config: Record<string, unknown> = REAL_CONFIG, runCommand: CommandRunner = dockerOk): Promise<CliRun> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-preflight-'));
  const file = join(dir, 'edge.json');
  writeFileSync(file, JSON.stringify(config));
  let stdout = '';
  let stderr = '';
  const code = await runPreflightCli(['--config', file, ...args], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    cwd: dir,
    runCommand,
    resolveNs: async () => NS,
  });
  return { code, stdout, stderr };
}
const json = (run: CliRun) => JSON.parse(run.stdout) as { ok: boolean; exitCode: number; results: Array<{ check: string; scope: string; status: string; detail: string; fix?: string; data?: Record<string, unknown> }> };

beforeEach(() => {
  for (const mock of ALL) mock.reset();
});

describe('npm run preflight', () => {
  test('--help documents every check, its scope and the exit codes', async () => {
    let stdout = '';
    const code = await runPreflightCli(['--help'], { stdout: (t) => (stdout += t), stderr: () => undefined, env: {}, cwd: tmpdir() });
    expect(code).toBe(0);
    for (const check of CHECKS) expect(stdout).toContain(`${check.id}`);
    for (const check of CHECKS) expect(stdout).toContain(check.summary);
    expect(stdout).toContain('Exit status: 0 a deploy would go through; 1 a check failed; 2 nothing failed but a check could not run.');
    expect(stdout).toContain('could not check", never as passed');
  });

  test('a ready account: every check passes, exit 0, a region x check table, progress on stderr', async () => {
    healthyAccount();
    const run = await cli([]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^preflight: account 123456789012, home region us-east-1, 2 fleet region\(s\), platform edge/);
    // Columns line up (each at least as wide as FAIL), one row per region; - where a check does not apply.
    expect(run.stdout).toContain(
      [
        '  region     region-enabled  cdk-bootstrap  zones  instance-type  endpoint-services  ami   table-replicas',
        '  us-east-1  ok              ok             ok     ok             ok                 ok    ok',
        '  eu-west-1  ok              ok             ok     ok             ok                 ok    -',
      ].join('\n'),
    );
    expect(run.stdout).not.toContain('Problems');
    expect(run.stdout.trim().split('\n').pop()).toBe('preflight: 18 passed, 0 failed, 0 could not check: a deploy would go through');
    const progress = run.stderr.trim().split('\n');
    expect(progress).toHaveLength(18);
    expect(progress[progress.length - 1]).toMatch(/^preflight: \[18\/18\]/);
  });

  test('--json: the results with their data (each AZ ID\'s zone name in this account, the replicas)', async () => {
    healthyAccount();
    const report = json(await cli(['--json', '--quiet']));
    expect(report).toMatchObject({ ok: true, exitCode: 0 });
    const zones = report.results.find((r) => r.check === 'zones' && r.scope === 'us-east-1')!;
    expect(zones.data).toEqual({ zones: { 'use1-az1': 'us-east-1c', 'use1-az2': 'us-east-1b', 'use1-az4': 'us-east-1a' } });
    expect(report.results.find((r) => r.check === 'table-replicas')!.data).toMatchObject({ deployed: ['eu-west-1', 'us-east-1'], configured: ['eu-west-1', 'us-east-1'] });
  });

  // Each failure mode of issue 11, caught before any resource would be created.
  test.each([
    ['wrong account (credentials)', () => sts.on(GetCallerIdentityCommand).resolves({ Account: '210987654321', Arn: 'arn:aws:iam::210987654321:user/x' }), 'credentials', 'account', {}],
    ['a placeholder domain (item 9)', () => undefined, 'placeholders', 'account', { domain: 'edge.example.com' }],
    ['a missing service-linked role (item 2)', () => iam.on(GetRoleCommand, { RoleName: 'AWSServiceRoleForECS' }).rejects(new NoSuchEntityException({ message: 'x', $metadata: {} })), 'service-linked-roles', 'account', {}],
    ['an undelegated zone', () => route53.on(GetHostedZoneCommand).resolves({ HostedZone: { Id: 'Z', Name: `${REAL_CONFIG.domain}.`, CallerReference: 'x', Config: { PrivateZone: false } }, DelegationSet: { NameServers: ['ns-other.example.org'] } }), 'hosted-zone', 'account', {}],
    ['a region not enabled', () => ec2.on(DescribeRegionsCommand, { RegionNames: ['eu-west-1'] }).resolves({ Regions: [{ RegionName: 'eu-west-1', OptInStatus: 'not-opted-in' }] }), 'region-enabled', 'eu-west-1', {}],
    ['a region not bootstrapped', () => ssm.on(GetParameterCommand, { Name: '/cdk-bootstrap/hnb659fds/version' }).rejects(new ParameterNotFound({ message: '', $metadata: {} })), 'cdk-bootstrap', 'us-east-1', {}],
    ['a zone ID the account lacks (item 4)', () => undefined, 'zones', 'eu-west-1', { regions: ['us-east-1', { region: 'eu-west-1', availabilityZoneIds: ['euw1-az1', 'euw1-az7'] }] }],
    ['no AMI parameter (item 3)', () => ssm.on(GetParameterCommand, { Name: '/edge/ami/envoy/latest' }).rejects(new ParameterNotFound({ message: '', $metadata: {} })), 'ami', 'us-east-1', {}],
    ['two replicas at once (item 10)', () => undefined, 'table-replicas', 'us-east-1', { regions: ['us-east-1', 'eu-west-1', 'eu-west-2', 'ap-south-1'] }],
  ])('fail, exit 1: %s', async (_name, breakIt, check, scope, config: Record<string, unknown>) => {
    healthyAccount();
    breakIt();
    const run = await cli(['--quiet'], { ...REAL_CONFIG, ...config });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`✗ ${check} \\[${scope}\\]: `));
    expect(run.stdout).toMatch(/\n {6}fix: /);
    expect(run.stdout).toContain('a deploy would not go through');
  });

  test('fail, exit 1: a deploy host that cannot build linux/arm64 (item 11)', async () => {
    healthyAccount();
    const run = await cli(['--quiet'], REAL_CONFIG, async (_c, args) => ({ code: 0, stdout: args[0] === 'buildx' ? 'default running linux/amd64' : '28\n', stderr: '' }));
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('✗ docker [deploy host]: no buildx builder of docker lists linux/arm64');
  });

  test('no credentials: every AWS check says it could not check, none calls AWS again, none passes; exit 2', async () => {
    sts.on(GetCallerIdentityCommand).rejects(noCredentials());
    const report = json(await cli(['--json', '--quiet']));
    expect(report.exitCode).toBe(2);
    const aws = report.results.filter((r) => !['placeholders', 'docker'].includes(r.check));
    expect(aws.map((r) => r.status)).toEqual(aws.map(() => 'error'));
    expect(aws[0].detail).toMatch(/^could not check: no AWS credentials/);
    expect(aws.slice(1).every((r) => r.detail === 'could not check: no usable AWS credentials (see the credentials check)')).toBe(true);
    for (const mock of ALL.slice(1)) expect(mock.calls()).toHaveLength(0);
  });

  test('a region not enabled: its checks could not run (said so), the other regions are still checked', async () => {
    healthyAccount();
    ec2.on(DescribeRegionsCommand, { RegionNames: ['eu-west-1'] }).resolves({ Regions: [{ RegionName: 'eu-west-1', OptInStatus: 'not-opted-in' }] });
    const report = json(await cli(['--json', '--quiet']));
    const euWest1 = report.results.filter((r) => r.scope === 'eu-west-1' && r.check !== 'region-enabled');
    expect(euWest1.map((r) => [r.check, r.status])).toEqual(euWest1.map((r) => [r.check, 'error']));
    expect(euWest1[0].detail).toBe('could not check: eu-west-1 is not enabled for the account (see region-enabled)');
    expect(report.results.filter((r) => r.scope === 'us-east-1').every((r) => r.status === 'pass')).toBe(true);
  });

  test('throttling that outlasts the SDK\'s retries is "could not check" (exit 2), never passed', async () => {
    healthyAccount();
    ec2.on(DescribeAvailabilityZonesCommand).rejects(Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded' }));
    const run = await cli(['--quiet']);
    expect(run.code).toBe(2);
    // The endpoint services check needs the zone map: it says it could not run as well.
    expect(run.stdout).toContain('? endpoint-services [us-east-1]: could not check: needs every configured zone to exist');
    expect(run.stdout).toContain('? zones [us-east-1]: could not check: AWS throttled the calls in us-east-1 (RequestLimitExceeded)');
  });

  test('bad input: an unknown flag (64) and a config that breaks a rule (1), each named', async () => {
    expect(await cli(['--regoins', 'x'])).toMatchObject({ code: 64, stderr: expect.stringContaining("Unknown option '--regoins'") });
    const bad = await cli([], { ...REAL_CONFIG, regions: [{ region: 'us-east-1', availabilityZones: ['us-east-1a', 'us-east-1b'] }] });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('regions[0].availabilityZones: zone names (us-east-1a) differ per account');
  });
});
