import * as protobuf from 'protobufjs';
import { lookupMessage } from './protos';

/**
 * Strict reading of canonical proto3 JSON (snake_case field names, durations as "5s",
 * wrappers as plain values, Any as `{"@type": ..., ...}`) against Envoy's protos.
 *
 * protobufjs' own `fromObject`/`verify` are lenient (unknown fields are dropped, wrong
 * enum names become 0), so this walks the JSON against each Type's fields itself, turning
 * every unknown field, wrong type, undefined enum value and broken protoc-gen-validate
 * rule into a problem with the field's path, and builds the protobufjs object to encode.
 */
export interface FieldProblem {
  /** Dotted path from the resource root, e.g. `filter_chains[0].filters[0].typed_config.stat_prefix`. */
  readonly field: string;
  readonly message: string;
}

export class StrictJsonError extends Error {
  constructor(readonly problems: readonly FieldProblem[]) {
    super(problems.map((p) => `${p.field || '(root)'}: ${p.message}`).join('; '));
  }
}

type Json = unknown;
type Rules = Record<string, Record<string, unknown>>;
/** A protobufjs plain object ready for `Type.fromObject`. */
type PlainMessage = Record<string, unknown>;

const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-2147483648, 2147483647],
  sint32: [-2147483648, 2147483647],
  sfixed32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  fixed32: [0, 4294967295],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sint64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sfixed64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  fixed64: [0, Number.MAX_SAFE_INTEGER],
};

const fullName = (type: protobuf.ReflectionObject) => type.fullName.replace(/^\./, '');
const isObject = (value: Json): value is Record<string, Json> => typeof value === 'object' && value !== null && !Array.isArray(value);
const join = (path: string, name: string) => (path ? `${path}.${name}` : name);

/** The `(validate.rules)` of a field, e.g. `{ string: { min_len: 1 } }`. */
function rulesOf(field: protobuf.Field): Rules | undefined {
  const parsed = field.parsedOptions as Array<Record<string, unknown>> | null | undefined;
  if (!parsed) return undefined;
  for (const option of parsed) {
    if (option['(validate.rules)']) return option['(validate.rules)'] as Rules;
  }
  return undefined;
}

/** Parses a JSON Duration ("1.5s") into seconds and nanos. */
export function parseDuration(value: string): { seconds: number; nanos: number } | undefined {
  const match = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(value);
  if (!match) return undefined;
  const sign = match[1] ? -1 : 1;
  const nanos = match[3] ? Number(match[3].padEnd(9, '0')) : 0;
  return { seconds: sign * Number(match[2]), nanos: sign * nanos };
}

const durationSeconds = (d: { seconds: number; nanos: number }) => d.seconds + d.nanos / 1e9;

export interface StrictJsonOptions {
  /** Also report fields Envoy marks deprecated (default: accepted, as Envoy does with a warning). */
  readonly rejectDeprecated?: boolean;
}

class Walker {
  readonly problems: FieldProblem[] = [];
  constructor(private readonly options: StrictJsonOptions = {}) {}

  problem(field: string, message: string): undefined {
    this.problems.push({ field, message });
    return undefined;
  }

  message(type: protobuf.Type, json: Json, path: string): PlainMessage | undefined {
    const name = fullName(type);
    if (name === 'google.protobuf.Any') return this.any(json, path);
    if (name === 'google.protobuf.Duration') {
      if (typeof json !== 'string') return this.problem(path, 'must be a duration string like "5s"');
      const parsed = parseDuration(json);
      return parsed ?? this.problem(path, `"${json}" is not a duration like "5s"`);
    }
    if (name === 'google.protobuf.Struct') return this.struct(json, path);
    if (name === 'google.protobuf.Value') return this.structValue(json, path);
    if (WRAPPERS[name]) {
      const value = this.scalar(WRAPPERS[name], json, path);
      return value === undefined ? undefined : { value };
    }
    if (!isObject(json)) return this.problem(path, `must be an object (${name})`);
    const out: PlainMessage = {};
    const seenOneofs = new Map<string, string>();
    for (const [key, value] of Object.entries(json)) {
      const field = type.fields[key];
      const fieldPath = join(path, key);
      if (!field) {
        this.problem(fieldPath, `unknown field of ${name}`);
        continue;
      }
      if (value === null || value === undefined) continue;
      if (this.options.rejectDeprecated && field.options?.deprecated) this.problem(fieldPath, `deprecated field of ${name}`);
      if (field.partOf) {
        const other = seenOneofs.get(field.partOf.name);
        if (other) this.problem(fieldPath, `only one of oneof ${field.partOf.name} may be set (also ${other})`);
        seenOneofs.set(field.partOf.name, key);
      }
      const converted = this.field(field, value, fieldPath);
      if (converted !== undefined) out[key] = converted;
    }
    this.messageRules(type, json, path, seenOneofs);
    return out;
  }

  /** Message-level rules: `(validate.required)` oneofs and `message.required` fields. */
  messageRules(type: protobuf.Type, json: Record<string, Json>, path: string, seenOneofs: Map<string, string>): void {
    for (const oneof of type.oneofsArray) {
      const required = (oneof.options as Record<string, unknown> | undefined)?.['(validate.required)'];
      if (required === true && !seenOneofs.has(oneof.name)) this.problem(join(path, oneof.name), `one of ${oneof.oneof.join(', ')} is required`);
    }
    for (const field of type.fieldsArray) {
      const rules = rulesOf(field);
      const present = json[field.name] !== undefined && json[field.name] !== null;
      // Rules on oneof members only apply when that member is set.
      if (present || field.partOf) continue;
      if ((rules?.message as Record<string, unknown> | undefined)?.required === true) this.problem(join(path, field.name), 'is required');
      else if ((rules?.duration as Record<string, unknown> | undefined)?.required === true) this.problem(join(path, field.name), 'is required');
      else if ((rules?.any as Record<string, unknown> | undefined)?.required === true) this.problem(join(path, field.name), 'is required');
      else if (field.repeated && typeof (rules?.repeated as Record<string, unknown> | undefined)?.min_items === 'number' && Number((rules!.repeated as Record<string, unknown>).min_items) > 0)
        this.problem(join(path, field.name), `must have at least ${String((rules!.repeated as Record<string, unknown>).min_items)} item(s)`);
      else if (typeof (rules?.string as Record<string, unknown> | undefined)?.min_len === 'number' && Number((rules!.string as Record<string, unknown>).min_len) > 0)
        this.problem(join(path, field.name), `must be at least ${String((rules!.string as Record<string, unknown>).min_len)} character(s)`);
    }
  }

  field(field: protobuf.Field, value: Json, path: string): unknown {
    const rules = rulesOf(field);
    if (field.map) {
      if (!isObject(value)) return this.problem(path, 'must be an object (map)');
      // A MapField's type/resolvedType describe its values.
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        const converted = this.single(field, item, `${path}.${key}`, undefined);
        if (converted !== undefined) out[key] = converted;
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return this.problem(path, 'must be an array');
      const repeated = rules?.repeated as Record<string, unknown> | undefined;
      if (repeated) {
        if (typeof repeated.min_items === 'number' && value.length < Number(repeated.min_items)) this.problem(path, `must have at least ${String(repeated.min_items)} item(s)`);
        if (typeof repeated.max_items === 'number' && value.length > Number(repeated.max_items)) this.problem(path, `must have at most ${String(repeated.max_items)} item(s)`);
      }
      const itemRules = repeated?.items as Rules | undefined;
      return value.map((item, index) => this.single(field, item, `${path}[${index}]`, itemRules));
    }
    return this.single(field, value, path, rules);
  }

  single(field: protobuf.Field, value: Json, path: string, rules: Rules | undefined): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) {
      if (typeof value === 'string') {
        if (!(value in resolved.values)) return this.problem(path, `"${value}" is not a value of enum ${fullName(resolved)}`);
        return value;
      }
      if (typeof value === 'number' && Number.isInteger(value)) {
        const defined = Object.values(resolved.values).includes(value);
        if (!defined && (rules?.enum as Record<string, unknown> | undefined)?.defined_only) return this.problem(path, `${value} is not a defined value of enum ${fullName(resolved)}`);
        return value;
      }
      return this.problem(path, `must be an enum name of ${fullName(resolved)}`);
    }
    if (resolved instanceof protobuf.Type) {
      const converted = this.message(resolved, value, path);
      if (converted !== undefined && rules) this.checkRules(resolved, value, path, rules);
      return converted;
    }
    const converted = this.scalar(field.type, value, path);
    if (converted !== undefined && rules) this.checkScalarRules(value, path, rules);
    return converted;
  }

  scalar(kind: string, value: Json, path: string): unknown {
    switch (kind) {
      case 'string':
        return typeof value === 'string' ? value : this.problem(path, 'must be a string');
      case 'bool':
        return typeof value === 'boolean' ? value : this.problem(path, 'must be a boolean');
      case 'double':
      case 'float':
        return typeof value === 'number' && Number.isFinite(value) ? value : this.problem(path, 'must be a number');
      case 'bytes':
        if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return this.problem(path, 'must be base64 bytes');
        return Buffer.from(value, 'base64');
      default: {
        const range = INT_RANGES[kind];
        if (!range) return this.problem(path, `unsupported scalar type ${kind}`);
        const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
        if (typeof number !== 'number' || !Number.isInteger(number)) return this.problem(path, `must be an integer (${kind})`);
        if (number < range[0] || number > range[1]) return this.problem(path, `${number} is out of range for ${kind}`);
        return number;
      }
    }
  }

  /** protoc-gen-validate rules on scalar values (also applied to wrapper messages). */
  checkScalarRules(value: Json, path: string, rules: Rules): void {
    const stringRules = rules.string;
    if (stringRules && typeof value === 'string') {
      const length = [...value].length;
      if (typeof stringRules.min_len === 'number' && length < Number(stringRules.min_len)) this.problem(path, `must be at least ${String(stringRules.min_len)} character(s) (validate.rules string.min_len)`);
      if (typeof stringRules.max_len === 'number' && length > Number(stringRules.max_len)) this.problem(path, `must be at most ${String(stringRules.max_len)} character(s) (validate.rules string.max_len)`);
      const bytes = Buffer.byteLength(value);
      if (typeof stringRules.min_bytes === 'number' && bytes < Number(stringRules.min_bytes)) this.problem(path, `must be at least ${String(stringRules.min_bytes)} byte(s) (validate.rules string.min_bytes)`);
      if (typeof stringRules.max_bytes === 'number' && bytes > Number(stringRules.max_bytes)) this.problem(path, `must be at most ${String(stringRules.max_bytes)} byte(s) (validate.rules string.max_bytes)`);
      if (typeof stringRules.prefix === 'string' && !value.startsWith(stringRules.prefix)) this.problem(path, `must start with "${stringRules.prefix}" (validate.rules string.prefix)`);
      if (typeof stringRules.pattern === 'string' && !new RegExp(stringRules.pattern, 'u').test(value)) this.problem(path, `must match ${stringRules.pattern} (validate.rules string.pattern)`);
      if (stringRules.well_known_regex === 'HTTP_HEADER_NAME' && stringRules.strict !== false && !/^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/.test(value))
        this.problem(path, 'must be a valid HTTP header name (validate.rules string.well_known_regex)');
      if (stringRules.well_known_regex === 'HTTP_HEADER_VALUE' && stringRules.strict !== false && /[\0\r\n]/.test(value))
        this.problem(path, 'must be a valid HTTP header value (validate.rules string.well_known_regex)');
    }
    for (const kind of ['uint32', 'uint64', 'int32', 'int64', 'double', 'float', 'sint32', 'fixed32']) {
      const numberRules = rules[kind];
      if (!numberRules) continue;
      const number = Number(value);
      const bound = (name: string) => (numberRules[name] === undefined ? undefined : Number(numberRules[name]));
      const gt = bound('gt');
      const gte = bound('gte');
      const lt = bound('lt');
      const lte = bound('lte');
      if (gt !== undefined && !(number > gt)) this.problem(path, `must be > ${gt} (validate.rules ${kind}.gt)`);
      if (gte !== undefined && !(number >= gte)) this.problem(path, `must be >= ${gte} (validate.rules ${kind}.gte)`);
      if (lt !== undefined && !(number < lt)) this.problem(path, `must be < ${lt} (validate.rules ${kind}.lt)`);
      if (lte !== undefined && !(number <= lte)) this.problem(path, `must be <= ${lte} (validate.rules ${kind}.lte)`);
      const allowed = numberRules.in as unknown[] | undefined;
      if (Array.isArray(allowed) && !allowed.map(Number).includes(number)) this.problem(path, `must be one of ${allowed.join(', ')} (validate.rules ${kind}.in)`);
    }
  }

  /** Rules on message-typed fields: wrappers carry scalar rules, durations their bounds. */
  checkRules(type: protobuf.Type, value: Json, path: string, rules: Rules): void {
    const name = fullName(type);
    if (WRAPPERS[name]) {
      this.checkScalarRules(value, path, rules);
      return;
    }
    if (name === 'google.protobuf.Duration' && rules.duration && typeof value === 'string') {
      const parsed = parseDuration(value);
      if (!parsed) return;
      const seconds = durationSeconds(parsed);
      const bound = (key: string) => {
        const raw = rules.duration[key] as { seconds?: number | string; nanos?: number } | undefined;
        return raw === undefined ? undefined : Number(raw.seconds ?? 0) + Number(raw.nanos ?? 0) / 1e9;
      };
      const gt = bound('gt');
      const gte = bound('gte');
      const lt = bound('lt');
      const lte = bound('lte');
      if (gt !== undefined && !(seconds > gt)) this.problem(path, `must be longer than ${gt}s (validate.rules duration.gt)`);
      if (gte !== undefined && !(seconds >= gte)) this.problem(path, `must be at least ${gte}s (validate.rules duration.gte)`);
      if (lt !== undefined && !(seconds < lt)) this.problem(path, `must be shorter than ${lt}s (validate.rules duration.lt)`);
      if (lte !== undefined && !(seconds <= lte)) this.problem(path, `must be at most ${lte}s (validate.rules duration.lte)`);
    }
  }

  any(json: Json, path: string): PlainMessage | undefined {
    if (!isObject(json)) return this.problem(path, 'must be an object (google.protobuf.Any)');
    const typeUrl = json['@type'];
    if (typeof typeUrl !== 'string') return this.problem(join(path, '@type'), 'is required in an Any');
    const type = lookupMessage(typeUrl);
    if (!type) return this.problem(join(path, '@type'), `unknown type ${typeUrl}`);
    const body: Record<string, Json> = {};
    const wellKnown = fullName(type) === 'google.protobuf.Duration' || WRAPPERS[fullName(type)] !== undefined || fullName(type) === 'google.protobuf.Struct';
    for (const [key, value] of Object.entries(json)) if (key !== '@type') body[key] = value;
    const converted = this.message(type, wellKnown ? json.value : body, path);
    if (converted === undefined) return undefined;
    return { type_url: typeUrl, value: type.encode(type.fromObject(converted)).finish() };
  }

  struct(json: Json, path: string): PlainMessage | undefined {
    if (!isObject(json)) return this.problem(path, 'must be an object (google.protobuf.Struct)');
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(json)) fields[key] = this.structValue(value, `${path}.${key}`);
    return { fields };
  }

  /** google.protobuf.Value (protobufjs' built-in struct.proto uses camelCase field names). */
  structValue(json: Json, path: string): PlainMessage | undefined {
    if (json === null) return { nullValue: 'NULL_VALUE' };
    if (typeof json === 'string') return { stringValue: json };
    if (typeof json === 'number') return { numberValue: json };
    if (typeof json === 'boolean') return { boolValue: json };
    if (Array.isArray(json)) return { listValue: { values: json.map((item, i) => this.structValue(item, `${path}[${i}]`)) } };
    if (isObject(json)) return { structValue: this.struct(json, path) };
    return this.problem(path, 'must be a JSON value');
  }
}

/**
 * Checks `json` strictly against `typeName` and returns the protobufjs plain object, or
 * throws StrictJsonError listing every problem with its field path.
 */
export function strictFromJson(typeName: string, json: unknown, options?: StrictJsonOptions): PlainMessage {
  const type = lookupMessage(typeName);
  if (!type) throw new StrictJsonError([{ field: '', message: `unknown type ${typeName}` }]);
  const walker = new Walker(options);
  const out = walker.message(type, json, '');
  if (walker.problems.length > 0 || !out) throw new StrictJsonError(walker.problems);
  return out;
}

/** Strictly checks and encodes canonical JSON into protobuf bytes. */
export function encodeStrict(typeName: string, json: unknown): Uint8Array {
  const type = lookupMessage(typeName)!;
  const plain = strictFromJson(typeName, json);
  return type.encode(type.fromObject(plain)).finish();
}
