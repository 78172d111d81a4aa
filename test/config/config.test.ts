import { ConfigError, DEFAULT_FLEET_REGIONS, azIdPrefix, loadConfig, placeholderProblems, resolveConfig, warnAboutPlaceholders } from '../../lib/config';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function problemsOf(input: unknown): string {
  try {
    resolveConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('platform config', () => {
  test('defaults: 13 fleet regions with explicit zones by AZ ID, home us-east-1, edge.example.com', () => {
    const config = resolveConfig();
    expect(config.regions.map((r) => r.region)).toEqual(DEFAULT_FLEET_REGIONS);
    expect(config.regions).toHaveLength(13);
    expect(config.homeRegion).toBe('us-east-1');
    expect(config.domain).toBe('edge.example.com');
    const zones = Object.fromEntries(config.regions.map((r) => [r.region, r.availabilityZoneIds]));
    // AZ IDs, never names: a name is mapped to a different zone per account (issue 11).
    for (const region of config.regions) {
      expect([region.region, region.availabilityZoneIds.every((id) => id.startsWith(`${azIdPrefix(region.region)}-az`))]).toEqual([region.region, true]);
    }
    expect(zones['us-east-1']).toEqual(['use1-az1', 'use1-az2', 'use1-az4']);
    expect(zones['us-west-1']).toEqual(['usw1-az1', 'usw1-az3']);
    expect(zones['ap-northeast-1']).not.toContain('apne1-az3');
    const cidrs = config.regions.map((r) => r.vpcCidr);
    expect(new Set(cidrs).size).toBe(13);
  });

  test('a region keeps its CIDR whatever the region list', () => {
    const all = resolveConfig();
    const three = resolveConfig({ regions: ['eu-west-1', 'us-east-1', 'ap-northeast-1'] });
    for (const region of three.regions) {
      expect(region.vpcCidr).toBe(all.regions.find((r) => r.region === region.region)?.vpcCidr);
    }
  });

  test('context overrides: a region list, an inline JSON config and a config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-config-'));
    const file = join(dir, 'edge.json');
    writeFileSync(file, JSON.stringify({ domain: 'edge.corp.example', fleet: { minSize: 3, desiredCapacity: 4 } }));
    const context: Record<string, unknown> = {
      'edge:configFile': file,
      'edge:config': '{"platformName":"edgy"}',
      'edge:regions': 'us-east-1, eu-west-1,ap-south-1',
    };
    const config = loadConfig((key) => context[key], {});
    expect(config.regions.map((r) => r.region)).toEqual(['us-east-1', 'eu-west-1', 'ap-south-1']);
    expect(config.domain).toBe('edge.corp.example');
    expect(config.platformName).toBe('edgy');
    expect(config.fleet.minSize).toBe(3);
    expect(config.regions[0].fleet.desiredCapacity).toBe(4);
    expect(config.brokerTableName).toBe('edgy-broker');
  });

  test.each([
    [{ regions: [] }, 'regions: must NOT have fewer than 1 items'],
    [{ regions: ['us-east-1', 'us-east-1'] }, 'regions[1]: us-east-1 is listed twice'],
    [{ regions: [{ region: 'me-south-1' }] }, 'regions[0].availabilityZoneIds: required for me-south-1'],
    [{ regions: [{ region: 'us-east-1', availabilityZoneIds: ['use1-az1', 'euw1-az2'] }] }, 'regions[0].availabilityZoneIds: "euw1-az2" is not an AZ ID of us-east-1 (its AZ IDs start with use1-az)'],
    [{ regions: [{ region: 'ap-southeast-2', availabilityZoneIds: ['apse2-az1', 'apse1-az2'] }] }, '"apse1-az2" is not an AZ ID of ap-southeast-2'],
    [{ regions: [{ region: 'us-east-1', availabilityZoneIds: ['use1-az1'] }] }, 'regions[0].availabilityZoneIds: must NOT have fewer than 2 items'],
    [{ regions: [{ region: 'us-east-1', availabilityZoneIds: ['us-east-1a', 'us-east-1b'] }] }, 'regions[0].availabilityZoneIds[0]: must match pattern'],
    [{ regions: [{ region: 'us-east-1', availabilityZones: ['us-east-1a', 'us-east-1b'] }] }, 'regions[0].availabilityZones: zone names (us-east-1a) differ per account; give the zones by AZ ID in regions[0].availabilityZoneIds'],
    [{ fleet: { healthCheckGraceSeconds: 30 } }, 'fleet.healthCheckGraceSeconds: must be >= 120'],
    [{ regions: [{ region: 'us-east-1', vpcCidr: '10.0.0.0/8' }] }, 'prefix must be between /16 and /22'],
    [{ regions: ['us-east-1', { region: 'us-east-2', vpcCidr: '10.1.128.0/17' }] }, 'overlaps regions[0]'],
    [{ regions: [5] }, 'regions[0]: must be a region name or an object'],
    [{ fleet: { minSize: 5, maxSize: 2 } }, 'fleet.minSize: 5 is more than fleet.maxSize (2)'],
    [{ fleet: { instanceType: 'c7i.large' } }, 'fleet.instanceType: "c7i.large" is not a Graviton'],
    [{ envoy: { readinessPort: 8080 } }, 'envoy.readinessPort: port 8080 is already used by envoy.httpTrafficPort'],
    [{ controlPlane: { xdsPort: 70000 } }, 'controlPlane.xdsPort: must be <= 65535'],
    [{ controlPlane: { minTasks: 1 } }, 'controlPlane.minTasks: must be >= 2'],
    [{ domain: 'Not A Domain' }, 'domain: must match'],
    [{ account: '12345' }, 'account: must match pattern'],
    [{ colour: 'blue' }, '(root): unknown field "colour"'],
  ])('bad config %j is refused with a message naming the field', (input, expected) => {
    expect(problemsOf(input)).toContain(expected);
  });

  test('a config file that is not JSON names the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-config-'));
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ "regions": [');
    expect(() => loadConfig((key) => (key === 'edge:configFile' ? file : undefined), {})).toThrow(/config file .*broken.json[\s\S]*not valid JSON/);
  });
});

describe('alarms config', () => {
  const arn = (region: string, account = '123456789012', name = 'oncall') => `arn:aws:sns:${region}:${account}:${name}`;

  test('defaults: no emails, no imported topics, documented thresholds', () => {
    const { alarms } = resolveConfig();
    expect(alarms.emails).toEqual([]);
    expect(alarms.topicArns).toEqual({});
    expect(alarms.thresholds).toMatchObject({ sourceStalenessSeconds: 300, connectedNodesRatio: 0.8, proxy5xxPercent: 5 });
  });

  test('emails, a topic per region and one threshold override merge over the defaults', () => {
    const { alarms } = resolveConfig({
      account: '123456789012',
      regions: ['us-east-1', 'eu-west-1'],
      alarms: { emails: ['oncall@example.com'], topicArns: { 'eu-west-1': arn('eu-west-1') }, thresholds: { proxy5xxPercent: 2.5 } },
    });
    expect(alarms.emails).toEqual(['oncall@example.com']);
    expect(alarms.topicArns).toEqual({ 'eu-west-1': arn('eu-west-1') });
    expect(alarms.thresholds.proxy5xxPercent).toBe(2.5);
    expect(alarms.thresholds.sourceStalenessSeconds).toBe(300);
  });

  test.each([
    [{ alarms: { topicArns: { 'eu-west-1': arn('eu-central-1') } } }, 'alarms.topicArns.eu-west-1: the topic is in eu-central-1, not in eu-west-1'],
    [{ account: '123456789012', alarms: { topicArns: { 'eu-west-1': arn('eu-west-1', '210987654321') } } }, 'alarms.topicArns.eu-west-1: the topic is in account 210987654321, not in the platform account 123456789012'],
    [{ regions: ['eu-west-1'], alarms: { topicArns: { 'ap-south-1': arn('ap-south-1') } } }, 'alarms.topicArns.ap-south-1: ap-south-1 is neither the home region nor a fleet region'],
    [{ alarms: { topicArns: { 'eu-west-1': 'arn:aws:sqs:eu-west-1:123456789012:queue' } } }, 'alarms.topicArns.eu-west-1: must match pattern'],
    [{ alarms: { emails: ['not-an-address'] } }, 'alarms.emails[0]: must match format "email"'],
    [{ alarms: { thresholds: { connectedNodesRatio: 1.5 } } }, 'alarms.thresholds.connectedNodesRatio: must be <= 1'],
    [{ alarms: { thresholds: { capacityShortfallMinutes: 1 } } }, 'alarms.thresholds.capacityShortfallMinutes: must be >= 5'],
    [{ alarms: { pager: 'x' } }, 'alarms: unknown field "pager"'],
  ])('bad alarms config %j is refused with a message naming the field', (input, expected) => {
    expect(problemsOf(input)).toContain(expected);
  });
});

describe('AZ ID prefixes', () => {
  test.each([
    ['us-east-1', 'use1'],
    ['ap-southeast-2', 'apse2'],
    ['ap-northeast-1', 'apne1'],
    ['ca-central-1', 'cac1'],
    ['sa-east-1', 'sae1'],
    ['eu-north-1', 'eun1'],
    ['us-gov-west-1', 'usgw1'],
    ['il-central-1', 'ilc1'],
  ])('%s zones are %s-az<n>', (region, prefix) => {
    expect(azIdPrefix(region)).toBe(prefix);
  });
  test('a region name of another shape has no known prefix (the preflight still checks the IDs)', () => {
    expect(azIdPrefix('xx-upward-1')).toBeUndefined();
  });
});

describe('placeholders', () => {
  test('the defaults are placeholders: each names its field and the fix', () => {
    const problems = placeholderProblems(resolveConfig());
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^domain: "edge\.example\.com" is a reserved example name .* Set "domain" to a name you own/);
    expect(problems[1]).toMatch(/^hostedZoneId: "Z0EXAMPLE0EDGE0ZONE" is a placeholder\. Set it to the id of the public hosted zone/);
  });

  test.each(['edge.example.org', 'edge.corp.example', 'edge.test', 'EDGE.EXAMPLE.NET.'])('%s is a reserved name', (domain) => {
    expect(placeholderProblems({ domain, hostedZoneId: 'Z0123456789ABCDEFGHIJ' })).toEqual([expect.stringMatching(/^domain: /)]);
  });

  test('a real-looking domain and zone id pass (the preflight checks they exist and are delegated)', () => {
    expect(placeholderProblems({ domain: 'edge.corp-example.com', hostedZoneId: 'Z0123456789ABCDEFGHIJ' })).toEqual([]);
  });

  test("an alarm recipient at a reserved example domain is a placeholder (cdk.json's example recipient fails the preflight)", () => {
    const config = { domain: 'edge.corp-example.com', hostedZoneId: 'Z0123456789ABCDEFGHIJ' };
    expect(placeholderProblems({ ...config, alarms: { emails: ['oncall@corp-example.com', 'edge-oncall@example.com'] } })).toEqual([
      expect.stringMatching(/^alarms\.emails\[1\]: "edge-oncall@example\.com" is at a reserved example domain and reaches nobody\./),
    ]);
    expect(placeholderProblems({ ...config, alarms: { emails: ['oncall@corp-example.com'] } })).toEqual([]);
  });

  test("a fresh clone's cdk.json synthesizes with an example recipient, which is a placeholder", () => {
    const cdkJson = JSON.parse(readFileSync(join(__dirname, '../../cdk.json'), 'utf8')) as { context: Record<string, unknown> };
    const config = loadConfig((key) => cdkJson.context[key]);
    expect(config.alarms.emails.length).toBeGreaterThan(0);
    expect(placeholderProblems(config).filter((p) => p.startsWith('alarms.emails'))).toHaveLength(config.alarms.emails.length);
  });

  test('synth warns once per placeholder and still goes on', () => {
    const lines: string[] = [];
    expect(warnAboutPlaceholders(resolveConfig(), (line) => lines.push(line))).toBe(2);
    expect(lines.every((line) => line.startsWith('[edge] warning: the platform config is not deployable yet: '))).toBe(true);
    expect(warnAboutPlaceholders({ domain: 'edge.corp-example.com', hostedZoneId: 'Z0123456789ABCDEFGHIJ' }, (line) => lines.push(line))).toBe(0);
  });
});
