/**
 * What the broker runtime needs to know about the platform, read once per process from
 * the environment the broker stack sets (see CONTRACTS.md), or given directly locally.
 */
export interface BrokerSettings {
  readonly tableName: string;
  readonly queueUrl: string;
  readonly platformName: string;
  /** The platform domain: `<domain>` is the edge's global name, `<region>.<domain>` each fleet's. */
  readonly domain: string;
  /** Public hosted zone of the platform domain (Route 53). */
  readonly hostedZoneId: string;
  readonly homeRegion: string;
  /** Fleet regions a service may name; `regions` defaults to all of them. */
  readonly regions: readonly string[];
}

/** SQS redrive limit of the broker queue: the stack sets `maxReceiveCount` to this. */
export const WORKER_MAX_RECEIVE_COUNT = 5;
/** How long a finished operation stays pollable (DynamoDB TTL on `expiresAt`). */
export const OPERATION_TTL_SECONDS = 7 * 24 * 3600;
/** Largest request body the API reads (OSB bodies are small; parameters are capped well below). */
export const MAX_BODY_BYTES = 64 * 1024;

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): BrokerSettings {
  return {
    tableName: required(env, 'EDGE_TABLE_NAME'),
    queueUrl: required(env, 'EDGE_QUEUE_URL'),
    platformName: env.EDGE_PLATFORM_NAME?.trim() || 'edge',
    domain: required(env, 'EDGE_DOMAIN').toLowerCase(),
    hostedZoneId: env.EDGE_HOSTED_ZONE_ID?.trim() ?? '',
    homeRegion: env.EDGE_HOME_REGION?.trim() || 'us-east-1',
    regions: required(env, 'EDGE_REGIONS')
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean),
  };
}
