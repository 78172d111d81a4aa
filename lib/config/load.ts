import { readFileSync } from 'node:fs';
import { DEFAULTS, defaultVpcCidr } from './defaults';
import { PipelineInput, resolvePipeline } from './pipeline';
import { KNOWN_AVAILABILITY_ZONE_IDS, azIdPrefix } from './regions';
import { AlarmsConfig, FleetSize, PlatformConfig, RegionConfig } from './types';
import { ConfigError, checkInputSchema, cidrsOverlap, parseCidr } from './validate';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Objects merge field by field; arrays and scalars replace. */
export function deepMerge(base: Json, override: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined) continue;
    out[key] = isObject(value) && isObject(out[key]) ? deepMerge(out[key] as Json, value) : value;
  }
  return out;
}

interface RegionObjectInput {
  region: string;
  availabilityZoneIds?: string[];
  vpcCidr?: string;
  fleet?: Partial<FleetSize>;
}
type RegionInput = string | RegionObjectInput;

/**
 * Turns a config document (any subset of the fields) into the validated platform config.
 * Throws a ConfigError listing every field that breaks a rule.
 */
export function resolveConfig(input: unknown = {}, source = 'platform config'): PlatformConfig {
  if (!isObject(input)) throw new ConfigError(['(root): must be a JSON object'], source);
  checkInputSchema(input, source);
  const merged = deepMerge(DEFAULTS as unknown as Json, input) as Omit<typeof DEFAULTS, 'regions'> & {
    account?: string;
    amiParameterName?: string;
    brokerTableName?: string;
    regions: readonly RegionInput[];
    pipeline?: PipelineInput;
  };
  const problems: string[] = [];
  const fleetDefaults: FleetSize = {
    minSize: merged.fleet.minSize,
    maxSize: merged.fleet.maxSize,
    desiredCapacity: merged.fleet.desiredCapacity,
  };

  const regions: RegionConfig[] = merged.regions.map((entry, i) => {
    const given: RegionObjectInput = typeof entry === 'string' ? { region: entry } : entry;
    const field = `regions[${i}]`;
    const availabilityZoneIds = given.availabilityZoneIds ?? KNOWN_AVAILABILITY_ZONE_IDS[given.region];
    if (!availabilityZoneIds) {
      problems.push(`${field}.availabilityZoneIds: required for ${given.region}, which has no known default zones (aws ec2 describe-availability-zones --region ${given.region} lists each zone's ZoneId)`);
    }
    const prefix = azIdPrefix(given.region);
    for (const zoneId of availabilityZoneIds ?? []) {
      if (prefix && !zoneId.startsWith(`${prefix}-az`)) {
        problems.push(`${field}.availabilityZoneIds: "${zoneId}" is not an AZ ID of ${given.region} (its AZ IDs start with ${prefix}-az)`);
      }
    }
    const vpcCidr = given.vpcCidr ?? defaultVpcCidr(given.region);
    if (!vpcCidr) problems.push(`${field}.vpcCidr: required for ${given.region}, which has no default CIDR`);
    return {
      region: given.region,
      availabilityZoneIds: availabilityZoneIds ?? [],
      vpcCidr: vpcCidr ?? '',
      fleet: { ...fleetDefaults, ...given.fleet },
    };
  });

  const seen = new Set<string>();
  regions.forEach((r, i) => {
    if (seen.has(r.region)) problems.push(`regions[${i}]: ${r.region} is listed twice`);
    seen.add(r.region);
    if (r.vpcCidr) {
      const parsed = parseCidr(r.vpcCidr);
      if (!parsed) problems.push(`regions[${i}].vpcCidr: "${r.vpcCidr}" is not a valid network address/prefix`);
      else if (parsed.prefix < 16 || parsed.prefix > 22) {
        problems.push(`regions[${i}].vpcCidr: prefix must be between /16 and /22, got /${parsed.prefix}`);
      }
      regions.slice(0, i).forEach((other, j) => {
        if (other.vpcCidr && cidrsOverlap(other.vpcCidr, r.vpcCidr)) {
          problems.push(`regions[${i}].vpcCidr: ${r.vpcCidr} overlaps regions[${j}] (${other.region}, ${other.vpcCidr})`);
        }
      });
    }
    const given = merged.regions[i];
    if (typeof given === 'object' && given.fleet) checkSizes(r.fleet, `regions[${i}].fleet`, problems);
  });
  checkSizes(merged.fleet, 'fleet', problems);

  if (!merged.fleet.instanceType.match(/^[a-z]+[0-9]+[a-z]*g[a-z]*\./)) {
    problems.push(`fleet.instanceType: "${merged.fleet.instanceType}" is not a Graviton (ARM64) type; the Envoy AMI is ARM64`);
  }
  const ports = Object.entries({ ...merged.envoy });
  ports.forEach(([name, value], i) => {
    const clash = ports.slice(0, i).find(([, other]) => other === value);
    if (clash) problems.push(`envoy.${name}: port ${value} is already used by envoy.${clash[0]}`);
  });
  if (merged.controlPlane.xdsPort === merged.controlPlane.restPort) {
    problems.push(`controlPlane.restPort: must differ from controlPlane.xdsPort (${merged.controlPlane.xdsPort})`);
  }
  if (merged.controlPlane.minTasks > merged.controlPlane.maxTasks) {
    problems.push(`controlPlane.minTasks: ${merged.controlPlane.minTasks} is more than controlPlane.maxTasks (${merged.controlPlane.maxTasks})`);
  }
  checkAlarmTopics(merged.alarms, merged.homeRegion, regions, merged.account, problems);
  const pipeline = resolvePipeline(merged.pipeline, regions, problems);
  if (problems.length) throw new ConfigError(problems, source);

  const name = merged.platformName;
  return {
    platformName: name,
    account: merged.account,
    homeRegion: merged.homeRegion,
    domain: merged.domain,
    hostedZoneId: merged.hostedZoneId,
    regions,
    fleet: merged.fleet,
    envoy: merged.envoy,
    controlPlane: merged.controlPlane,
    amiParameterName: merged.amiParameterName ?? `/${name}/ami/envoy/latest`,
    brokerTableName: merged.brokerTableName ?? `${name}-broker`,
    logRetentionDays: merged.logRetentionDays,
    tags: merged.tags,
    alarms: merged.alarms,
    pipeline,
  };
}

/** Each imported alarm topic belongs to a region of the platform, and its ARN says so. */
function checkAlarmTopics(alarms: AlarmsConfig, homeRegion: string, regions: readonly RegionConfig[], account: string | undefined, problems: string[]): void {
  const platformRegions = new Set([homeRegion, ...regions.map((r) => r.region)]);
  for (const [region, arn] of Object.entries(alarms.topicArns)) {
    const field = `alarms.topicArns.${region}`;
    if (!platformRegions.has(region)) {
      problems.push(`${field}: ${region} is neither the home region nor a fleet region of the platform`);
      continue;
    }
    const [, , , arnRegion, arnAccount] = arn.split(':');
    if (arnRegion !== region) problems.push(`${field}: the topic is in ${arnRegion}, not in ${region} (CloudWatch alarms publish only to a topic of their own region)`);
    if (account && arnAccount !== account) problems.push(`${field}: the topic is in account ${arnAccount}, not in the platform account ${account}`);
  }
}

function checkSizes(size: FleetSize, field: string, problems: string[]): void {
  if (size.minSize > size.maxSize) problems.push(`${field}.minSize: ${size.minSize} is more than ${field}.maxSize (${size.maxSize})`);
  if (size.desiredCapacity < size.minSize || size.desiredCapacity > size.maxSize) {
    problems.push(`${field}.desiredCapacity: ${size.desiredCapacity} must be between minSize (${size.minSize}) and maxSize (${size.maxSize})`);
  }
}

/** Reads a JSON config file; a missing file or bad JSON is a ConfigError naming the file. */
export function readConfigFile(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read config file: ${(err as Error).message}`], `config file ${path}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isObject(parsed)) throw new Error('the top level must be a JSON object');
    return parsed;
  } catch (err) {
    throw new ConfigError([`not valid JSON: ${(err as Error).message}`], `config file ${path}`);
  }
}

/**
 * The config of a CDK app or of the local platform. Layers, later wins:
 * defaults ← config file (`edge:configFile` context or `EDGE_CONFIG_FILE`) ←
 * `edge:config` context (object or JSON string) ← `edge:regions` context (comma list) ←
 * `EDGE_DOMAIN` (the local platform's domain setting).
 */
export function loadConfig(
  getContext: (key: string) => unknown = () => undefined,
  env: NodeJS.ProcessEnv = process.env,
): PlatformConfig {
  let input: Json = {};
  const file = (getContext('edge:configFile') as string | undefined) || env.EDGE_CONFIG_FILE;
  if (file) input = deepMerge(input, readConfigFile(file));

  const inline = getContext('edge:config');
  if (inline !== undefined && inline !== '') {
    let value: unknown = inline;
    if (typeof inline === 'string') {
      try {
        value = JSON.parse(inline);
      } catch (err) {
        throw new ConfigError([`edge:config: not valid JSON: ${(err as Error).message}`], 'context edge:config');
      }
    }
    if (!isObject(value)) throw new ConfigError(['edge:config: must be a JSON object'], 'context edge:config');
    input = deepMerge(input, value);
  }

  const regions = getContext('edge:regions');
  if (regions !== undefined && regions !== '') {
    const list = Array.isArray(regions) ? regions : String(regions).split(',').map((r) => r.trim()).filter(Boolean);
    input = { ...input, regions: list };
  }
  if (env.EDGE_DOMAIN) input = { ...input, domain: env.EDGE_DOMAIN };
  return resolveConfig(input, file ? `platform config (${file})` : 'platform config');
}
