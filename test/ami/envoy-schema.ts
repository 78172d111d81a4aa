import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as protobuf from 'protobufjs';

/**
 * A strict check of Envoy JSON config against Envoy's own v3 protos (shipped by
 * @grpc/grpc-js-xds): unknown or deprecated fields, wrong types, bad enum names, two members
 * of one oneof and unresolvable Any types are problems, as Envoy would reject them.
 */
const FILES = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/resource_monitors/downstream_connections/v3/downstream_connections.proto',
];

let root: protobuf.Root | undefined;
function envoyRoot(): protobuf.Root {
  if (root) return root;
  const xds = dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const dirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(xds, 'deps', d));
  dirs.push(dirname(require.resolve('protobufjs/package.json')));
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => dirs.map((d) => join(d, target)).find((p) => existsSync(p)) ?? target;
  r.loadSync(FILES, { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
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

function checkScalar(type: string, value: Json): boolean {
  if (type === 'string' || type === 'bytes') return typeof value === 'string';
  if (type === 'bool') return typeof value === 'boolean';
  if (type === 'double' || type === 'float') return typeof value === 'number';
  return (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value));
}

function walk(type: protobuf.Type, json: Json, path: string, problems: string[]): void {
  const name = type.fullName.replace(/^\./, '');
  if (name === 'google.protobuf.Struct' || name === 'google.protobuf.Value') return;
  if (name === 'google.protobuf.Duration') {
    if (typeof json !== 'string' || !/^\d+(\.\d{1,9})?s$/.test(json)) problems.push(`${path}: "${String(json)}" is not a Duration`);
    return;
  }
  if (WRAPPERS[name]) {
    if (!checkScalar(WRAPPERS[name], json)) problems.push(`${path}: must be a ${WRAPPERS[name]} (${name})`);
    return;
  }
  if (!isObject(json)) {
    problems.push(`${path}: must be an object (${name})`);
    return;
  }
  if (name === 'google.protobuf.Any') {
    const url = json['@type'];
    const inner = typeof url === 'string' && url.startsWith('type.googleapis.com/') ? envoyRoot().lookup(url.slice('type.googleapis.com/'.length)) : null;
    if (!(inner instanceof protobuf.Type)) {
      problems.push(`${path}: unknown @type ${String(url)}`);
      return;
    }
    const rest = { ...json };
    delete rest['@type'];
    walk(inner, rest, path, problems);
    return;
  }
  const oneofsSet = new Map<string, string[]>();
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key] ?? Object.values(type.fields).find((f) => f.options?.json_name === key);
    const where = `${path}.${key}`;
    if (!field) {
      problems.push(`${where}: unknown field of ${name}`);
      continue;
    }
    if (field.options?.deprecated) problems.push(`${where}: deprecated`);
    if (field.partOf) oneofsSet.set(field.partOf.name, [...(oneofsSet.get(field.partOf.name) ?? []), key]);
    field.resolve();
    const check = (item: Json, at: string) => {
      if (field.resolvedType instanceof protobuf.Type) walk(field.resolvedType, item, at, problems);
      else if (field.resolvedType instanceof protobuf.Enum) {
        if (!(typeof item === 'string' && item in field.resolvedType.values) && typeof item !== 'number') problems.push(`${at}: "${String(item)}" is not a ${field.resolvedType.name}`);
      } else if (!checkScalar(field.type, item)) problems.push(`${at}: must be a ${field.type}`);
    };
    if (field instanceof protobuf.MapField) {
      if (!isObject(value)) problems.push(`${where}: must be a map`);
      else for (const [k, v] of Object.entries(value)) check(v, `${where}.${k}`);
    } else if (field.repeated) {
      if (!Array.isArray(value)) problems.push(`${where}: must be a list`);
      else value.forEach((item, i) => check(item, `${where}[${i}]`));
    } else check(value, where);
  }
  for (const [oneof, keys] of oneofsSet) if (keys.length > 1) problems.push(`${path}: ${keys.join(' and ')} are one oneof (${oneof})`);
}

/** Problems of `json` as an Envoy message of `typeName` (empty when Envoy would accept it). */
export function checkEnvoyJson(typeName: string, json: Json): string[] {
  const type = envoyRoot().lookupType(typeName);
  const problems: string[] = [];
  walk(type, json, '', problems);
  return problems;
}
