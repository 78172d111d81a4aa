import Ajv, { ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { fieldPath } from '../model/field-path';
import { PLATFORM_CONFIG_INPUT_SCHEMA } from './input-schema';

/** A config value broke a rule; the message names the field and the rule. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[], source: string) {
    super(`Invalid ${source}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const validateInput = ajv.compile(PLATFORM_CONFIG_INPUT_SCHEMA);

function describe(error: ErrorObject): string {
  const field = fieldPath(error.instancePath) || '(root)';
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = (error.params as { additionalProperty: string }).additionalProperty;
      if (name === 'availabilityZones' && /^regions\[\d+\]$/.test(field)) {
        return `${field}.availabilityZones: zone names (us-east-1a) differ per account; give the zones by AZ ID in ${field}.availabilityZoneIds (use1-az1; aws ec2 describe-availability-zones shows each zone's ZoneId)`;
      }
      return `${field}: unknown field "${name}"`;
    }
    case 'enum':
      return `${field}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    default:
      return `${field}: ${error.message ?? error.keyword}`;
  }
}

/** Checks a config document against the input schema; throws a ConfigError naming every bad field. */
export function checkInputSchema(input: unknown, source: string): void {
  if (validateInput(input)) return;
  const errors = validateInput.errors ?? [];
  const isRegionBranchError = (error: ErrorObject) =>
    /^\/regions\/\d+$/.test(error.instancePath) && (error.keyword === 'type' || error.keyword === 'oneOf');
  // An entry with a more precise error (an unknown field of a region object) needs no generic line.
  const precise = new Set(errors.filter((e) => !isRegionBranchError(e)).map((e) => e.instancePath));
  const messages = errors
    .filter((error) => !(isRegionBranchError(error) && precise.has(error.instancePath)))
    .map((error) =>
      // A region entry that is neither a name nor an object fails both oneOf branches: say it once.
      isRegionBranchError(error) ? `${fieldPath(error.instancePath)}: must be a region name or an object with a "region" field` : describe(error),
    );
  throw new ConfigError([...new Set(messages)], source);
}

export function parseCidr(cidr: string): { base: number; prefix: number } | undefined {
  const [address, prefixText] = cidr.split('/');
  const octets = address.split('.').map(Number);
  const prefix = Number(prefixText);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return undefined;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  const base = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((base & mask) >>> 0 !== base) return undefined;
  return { base, prefix };
}

export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (!x || !y) return false;
  const prefix = Math.min(x.prefix, y.prefix);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (x.base & mask) >>> 0 === (y.base & mask) >>> 0;
}
