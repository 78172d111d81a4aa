import { NodeInfo } from './templates';

/** The node message as protobufjs `toObject` gives it (snake_case, Struct metadata). */
export interface RawNode {
  id?: string;
  cluster?: string;
  locality?: { region?: string; zone?: string };
  user_agent_name?: string;
  user_agent_build_version?: { version?: { major_number?: number; minor_number?: number; patch?: number } };
  metadata?: { fields?: Record<string, RawValue> };
}

/** google.protobuf.Value as decoded (protobufjs' built-in struct.proto uses camelCase names). */
interface RawValue {
  stringValue?: string;
  numberValue?: number;
  boolValue?: boolean;
  structValue?: { fields?: Record<string, RawValue> };
  listValue?: { values?: RawValue[] };
}

function plainValue(value: RawValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.numberValue !== undefined) return value.numberValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.structValue) return plainStruct(value.structValue.fields ?? {});
  if (value.listValue) return (value.listValue.values ?? []).map(plainValue);
  return null;
}

function plainStruct(fields: Record<string, RawValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) out[key] = plainValue(value);
  return out;
}

/** Splits a node into what templates may see and the token it presented (which never goes further). */
export function nodeFromProto(raw: RawNode | undefined, defaultRegion: string): { node: NodeInfo; token: unknown } {
  const metadata = plainStruct(raw?.metadata?.fields ?? {});
  return nodeFromPlain(
    {
      id: raw?.id,
      cluster: raw?.cluster,
      locality: raw?.locality,
      user_agent_name: raw?.user_agent_name,
      version: raw?.user_agent_build_version?.version,
      metadata,
    },
    defaultRegion,
  );
}

/** The same from a REST DiscoveryRequest's JSON node (snake_case or lowerCamelCase). */
export function nodeFromJson(raw: Record<string, unknown> | undefined, defaultRegion: string): { node: NodeInfo; token: unknown } {
  const pick = (obj: Record<string, unknown> | undefined, snake: string, camel: string) => obj?.[snake] ?? obj?.[camel];
  const build = pick(raw, 'user_agent_build_version', 'userAgentBuildVersion') as Record<string, unknown> | undefined;
  const version = build?.version as Record<string, unknown> | undefined;
  return nodeFromPlain(
    {
      id: raw?.id as string | undefined,
      cluster: raw?.cluster as string | undefined,
      locality: raw?.locality as { region?: string; zone?: string } | undefined,
      user_agent_name: pick(raw, 'user_agent_name', 'userAgentName') as string | undefined,
      version: version
        ? { major_number: Number(pick(version, 'major_number', 'majorNumber') ?? 0), minor_number: Number(pick(version, 'minor_number', 'minorNumber') ?? 0), patch: Number(version.patch ?? 0) }
        : undefined,
      metadata: (raw?.metadata as Record<string, unknown> | undefined) ?? {},
    },
    defaultRegion,
  );
}

function nodeFromPlain(
  raw: {
    id?: string;
    cluster?: string;
    locality?: { region?: string; zone?: string };
    user_agent_name?: string;
    version?: { major_number?: number; minor_number?: number; patch?: number };
    metadata: Record<string, unknown>;
  },
  defaultRegion: string,
): { node: NodeInfo; token: unknown } {
  const { auth: token, ...metadata } = raw.metadata;
  const version = raw.version && (raw.version.major_number || raw.version.minor_number) ? { major: raw.version.major_number ?? 0, minor: raw.version.minor_number ?? 0, patch: raw.version.patch ?? 0 } : undefined;
  return {
    token,
    node: {
      id: raw.id || 'unknown',
      cluster: raw.cluster ?? '',
      region: raw.locality?.region || defaultRegion,
      zone: raw.locality?.zone ?? '',
      userAgentName: raw.user_agent_name || 'unknown',
      version,
      metadata,
    },
  };
}
