import {
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeRegionsCommand,
  DescribeVpcEndpointServicesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { amiCheck, bootstrapCheck, endpointServicesCheck, instanceTypeCheck, regionEnabledCheck, zonesCheck } from '../../lib/preflight/checks/region';
import { INTERFACE_ENDPOINT_SERVICES } from '../../lib/proxy-fleet/endpoint-services';
import { context, ec2Error, regionOf, throttled } from './support';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
beforeEach(() => {
  ec2.reset();
  ssm.reset();
});

/** eu-west-1 as one account sees it: three zones, named differently from their IDs' order. */
const EU_WEST_1_ZONES = [
  { ZoneId: 'euw1-az1', ZoneName: 'eu-west-1b', State: 'available', ZoneType: 'availability-zone' },
  { ZoneId: 'euw1-az2', ZoneName: 'eu-west-1c', State: 'available', ZoneType: 'availability-zone' },
  { ZoneId: 'euw1-az3', ZoneName: 'eu-west-1a', State: 'available', ZoneType: 'availability-zone' },
] as const;

describe('region-enabled (asked in the home region)', () => {
  test('pass: an enabled region; fail: an opt-in region the account has not enabled, with the command', async () => {
    ec2.on(DescribeRegionsCommand, { RegionNames: ['eu-west-1'] }).resolves({ Regions: [{ RegionName: 'eu-west-1', OptInStatus: 'opt-in-not-required' }] });
    ec2.on(DescribeRegionsCommand, { RegionNames: ['ap-east-1'] }).resolves({ Regions: [{ RegionName: 'ap-east-1', OptInStatus: 'not-opted-in' }] });
    const ctx = context();
    expect(await regionEnabledCheck.run(ctx, 'eu-west-1')).toMatchObject({ status: 'pass' });
    expect(await regionEnabledCheck.run(ctx, 'ap-east-1')).toMatchObject({ status: 'fail', fix: expect.stringContaining('aws account enable-region --region-name ap-east-1') });
    expect(ctx.disabledRegions).toEqual(new Set(['ap-east-1']));
    // Asked in the home region: a disabled region could not even answer.
    for (const call of ec2.commandCalls(DescribeRegionsCommand)) expect(call.args[0].input).toMatchObject({ AllRegions: true });
  });

  test('could not check: throttled', async () => {
    ec2.on(DescribeRegionsCommand).rejects(ec2Error('RequestLimitExceeded', 'Request limit exceeded.'));
    expect(await regionEnabledCheck.run(context(), 'eu-west-1')).toMatchObject({ status: 'error', detail: expect.stringContaining('AWS throttled the calls in us-east-1 (RequestLimitExceeded)') });
  });
});

describe('cdk-bootstrap', () => {
  test('pass: version 6 or later', async () => {
    ssm.on(GetParameterCommand, { Name: '/cdk-bootstrap/hnb659fds/version' }).resolves({ Parameter: { Value: '29' } });
    expect(await bootstrapCheck.run(context(), 'eu-west-1')).toMatchObject({ status: 'pass', detail: 'bootstrap version 29' });
  });

  test.each([
    ['not bootstrapped', () => ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: '', $metadata: {} })), 'is not CDK-bootstrapped'],
    ['bootstrapped too long ago', () => ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '4' } }), 'bootstrap version 4, the app needs 6 or later'],
  ])('fail: %s, with the bootstrap command', async (_name, arrange, message) => {
    arrange();
    const result = await bootstrapCheck.run(context(), 'eu-west-1');
    expect(result).toMatchObject({ status: 'fail', detail: expect.stringContaining(message) });
    expect(result.fix).toBe('npx cdk bootstrap aws://123456789012/eu-west-1');
  });

  test('could not check: a region that refuses the credentials (not enabled)', async () => {
    ssm.on(GetParameterCommand).rejects(Object.assign(new Error('The security token included in the request is invalid.'), { name: 'UnrecognizedClientException' }));
    expect(await bootstrapCheck.run(context(), 'eu-west-1')).toMatchObject({ status: 'error', detail: expect.stringContaining('the region is probably not enabled') });
  });
});

describe('zones (AZ IDs in this account)', () => {
  test('pass: every configured ID is an available zone; the detail and data give each ID\'s name here', async () => {
    ec2.on(DescribeAvailabilityZonesCommand).resolves({ AvailabilityZones: [...EU_WEST_1_ZONES] });
    const ctx = context();
    const result = await zonesCheck.run(ctx, 'eu-west-1');
    expect(result).toMatchObject({ status: 'pass', detail: 'euw1-az1=eu-west-1b, euw1-az2=eu-west-1c, euw1-az3=eu-west-1a' });
    expect(result.data).toEqual({ zones: { 'euw1-az1': 'eu-west-1b', 'euw1-az2': 'eu-west-1c', 'euw1-az3': 'eu-west-1a' } });
    expect(ctx.zoneNames.get('eu-west-1')).toEqual(new Map([['euw1-az1', 'eu-west-1b'], ['euw1-az2', 'eu-west-1c'], ['euw1-az3', 'eu-west-1a']]));
    expect(ec2.commandCalls(DescribeAvailabilityZonesCommand)[0].args[0].input.Filters).toEqual([{ Name: 'zone-type', Values: ['availability-zone'] }]);
  });

  test('fail: an ID the account lacks names the ID, the region and the IDs it has', async () => {
    ec2.on(DescribeAvailabilityZonesCommand).resolves({ AvailabilityZones: [...EU_WEST_1_ZONES] });
    const ctx = context({ regions: ['us-east-1', { region: 'eu-west-1', availabilityZoneIds: ['euw1-az1', 'euw1-az4'] }] });
    const result = await zonesCheck.run(ctx, 'eu-west-1');
    expect(result.status).toBe('fail');
    expect(result.detail).toBe('euw1-az4 is not a zone of eu-west-1 in this account; it has: euw1-az1 (eu-west-1b), euw1-az2 (eu-west-1c), euw1-az3 (eu-west-1a)');
    expect(result.fix).toContain('regions[1].availabilityZoneIds');
  });

  test('fail: a zone that is impaired or unavailable', async () => {
    ec2.on(DescribeAvailabilityZonesCommand).resolves({ AvailabilityZones: [EU_WEST_1_ZONES[0], { ...EU_WEST_1_ZONES[1], State: 'impaired' }, EU_WEST_1_ZONES[2]] });
    expect(await zonesCheck.run(context(), 'eu-west-1')).toMatchObject({ status: 'fail', detail: expect.stringContaining('euw1-az2 is impaired') });
  });
});

describe('instance-type', () => {
  test('pass: c7g.large offered in every configured zone, read across pages', async () => {
    ec2
      .on(DescribeInstanceTypeOfferingsCommand)
      .resolvesOnce({ InstanceTypeOfferings: [{ InstanceType: 'c7g.large', LocationType: 'availability-zone-id', Location: 'euw1-az1' }], NextToken: 'p2' })
      .resolvesOnce({ InstanceTypeOfferings: [{ InstanceType: 'c7g.large', Location: 'euw1-az2' }, { InstanceType: 'c7g.large', Location: 'euw1-az3' }] });
    expect(await instanceTypeCheck.run(context(), 'eu-west-1')).toMatchObject({ status: 'pass' });
    const calls = ec2.commandCalls(DescribeInstanceTypeOfferingsCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.NextToken)).toEqual([undefined, 'p2']);
    expect(calls[0]).toMatchObject({ LocationType: 'availability-zone-id', Filters: [{ Name: 'instance-type', Values: ['c7g.large'] }, { Name: 'location', Values: ['euw1-az1', 'euw1-az2', 'euw1-az3'] }] });
  });

  test('fail: a zone without the type', async () => {
    ec2.on(DescribeInstanceTypeOfferingsCommand).resolves({ InstanceTypeOfferings: [{ InstanceType: 'c7g.large', Location: 'euw1-az1' }] });
    expect(await instanceTypeCheck.run(context(), 'eu-west-1')).toMatchObject({ status: 'fail', detail: 'c7g.large is not offered in euw1-az2, euw1-az3' });
  });
});

describe('endpoint-services', () => {
  const services = Object.values(INTERFACE_ENDPOINT_SERVICES).map((s) => `com.amazonaws.eu-west-1.${s}`);
  const ready = () => {
    const ctx = context();
    ctx.zoneNames.set('eu-west-1', new Map([['euw1-az1', 'eu-west-1b'], ['euw1-az2', 'eu-west-1c'], ['euw1-az3', 'eu-west-1a']]));
    return ctx;
  };

  test('pass: every service in every configured zone (by the zone\'s name in this account), across pages', async () => {
    const detail = (name: string) => ({ ServiceName: name, AvailabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] });
    ec2.on(DescribeVpcEndpointServicesCommand).resolvesOnce({ ServiceDetails: services.slice(0, 4).map(detail), NextToken: 'n' }).resolvesOnce({ ServiceDetails: services.slice(4).map(detail) });
    expect(await endpointServicesCheck.run(ready(), 'eu-west-1')).toMatchObject({ status: 'pass', detail: '8 services in every configured zone' });
    expect(ec2.commandCalls(DescribeVpcEndpointServicesCommand)[0].args[0].input.ServiceNames).toEqual(services);
  });

  test('fail: a service missing in a configured zone names the service and the zone', async () => {
    ec2.on(DescribeVpcEndpointServicesCommand).resolves({
      ServiceDetails: services.map((name) => ({ ServiceName: name, AvailabilityZones: name.endsWith('.ecr.dkr') ? ['eu-west-1a', 'eu-west-1b'] : ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] })),
    });
    expect(await endpointServicesCheck.run(ready(), 'eu-west-1')).toMatchObject({ status: 'fail', detail: 'com.amazonaws.eu-west-1.ecr.dkr is not offered in euw1-az2 (eu-west-1c)' });
  });

  test('could not check without the zone map (the zones check failed)', async () => {
    expect(await endpointServicesCheck.run(context(), 'eu-west-1')).toMatchObject({ status: 'error', detail: expect.stringContaining('see the zones check') });
    expect(ec2.calls()).toHaveLength(0);
  });
});

describe('ami (the parameter the fleet stacks resolve at deploy)', () => {
  test('pass: the parameter names an available arm64 image in this region', async () => {
    ssm.on(GetParameterCommand, { Name: '/edge/ami/envoy/latest' }).callsFake(async (_input, getClient) => ({ Parameter: { Value: (await regionOf(getClient)) === 'eu-west-1' ? 'ami-0123456789abcdef0' : 'ami-x' } }));
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-0123456789abcdef0'] }).resolves({ Images: [{ ImageId: 'ami-0123456789abcdef0', Name: 'edge-envoy-1.39.0-20261204', State: 'available', Architecture: 'arm64' }] });
    expect(await amiCheck.run(context(), 'eu-west-1')).toMatchObject({ status: 'pass', detail: 'ami-0123456789abcdef0 (edge-envoy-1.39.0-20261204), available, arm64' });
  });

  test.each([
    ['no parameter (never baked)', () => ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: '', $metadata: {} })), 'no SSM parameter /edge/ami/envoy/latest in eu-west-1'],
    ['an image that is gone', () => (ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-0123456789abcdef0' } }), ec2.on(DescribeImagesCommand).rejects(ec2Error('InvalidAMIID.NotFound'))), 'names ami-0123456789abcdef0, which does not exist in eu-west-1'],
    ['an x86_64 image', () => (ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-0123456789abcdef0' } }), ec2.on(DescribeImagesCommand).resolves({ Images: [{ State: 'available', Architecture: 'x86_64' }] })), 'is x86_64; the fleet runs Graviton (arm64)'],
    ['a copy still pending', () => (ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-0123456789abcdef0' } }), ec2.on(DescribeImagesCommand).resolves({ Images: [{ State: 'pending', Architecture: 'arm64' }] })), 'ami-0123456789abcdef0 is pending'],
    ['a parameter holding no AMI id', () => ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'latest' } }), 'holds "latest", not an AMI id'],
  ])('fail: %s', async (_name, arrange, message) => {
    arrange();
    const result = await amiCheck.run(context(), 'eu-west-1');
    expect(result).toMatchObject({ status: 'fail', detail: expect.stringContaining(message) });
    expect(result.fix).toBeDefined();
  });

  test('could not check: throttled', async () => {
    ssm.on(GetParameterCommand).rejects(throttled());
    expect(await amiCheck.run(context(), 'eu-west-1')).toMatchObject({ status: 'error' });
  });
});
