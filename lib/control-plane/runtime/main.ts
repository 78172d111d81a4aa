import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DEFAULT_CANARY, canarySettingsFromEnv } from './canary';
import { DEFAULT_CANARY_HEALTH, canaryHealthSettingsFromEnv } from './canary-health';
import { publishControlPlaneMetrics } from './emf';
import { LogLevel, jsonLogger } from './logger';
import { S3SnapshotStore } from './persistence';
import { startControlPlaneRuntime } from './runtime';
import { fleetCidrsFromEnv } from './tenant-rules';
import { SecretVersions, readSecretVersions } from './secret-versions';

/** The container entry point (see CONTRACTS.md): env in, servers up, SIGTERM stops gracefully. */
function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  // An empty value is unset (as for the millisecond settings), not port 0 (any free port).
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name}: must be a port number, got ${raw}`);
  return value;
}

function optionalMs(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name}: must be a whole number of milliseconds, got ${raw}`);
  return value;
}

/**
 * The discovery token: EDGE_XDS_AUTH_TOKEN when set (a fixed token), else the secret's
 * AWSCURRENT and AWSPREVIOUS versions, re-read every EDGE_DISCOVERY_TOKEN_REFRESH_MS
 * (default 60 s) so that a rotation cuts no proxy off (discovery-token.ts).
 */
function discoveryToken(secrets: SecretsManagerClient): { authToken?: string; discoveryToken?: { read: () => Promise<SecretVersions>; refreshMs: number } } {
  if (process.env.EDGE_XDS_AUTH_TOKEN) return { authToken: process.env.EDGE_XDS_AUTH_TOKEN };
  const arn = required('EDGE_DISCOVERY_TOKEN_SECRET_ARN');
  return { discoveryToken: { read: () => readSecretVersions(secrets, arn), refreshMs: optionalMs('EDGE_DISCOVERY_TOKEN_REFRESH_MS', 60_000) } };
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function logLevel(): LogLevel {
  const raw = process.env.EDGE_LOG_LEVEL;
  if (raw === undefined || raw === '') return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new Error(`EDGE_LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}, got ${raw}`);
  return raw as LogLevel;
}

async function main(): Promise<void> {
  const logger = jsonLogger(logLevel());
  const region = required('EDGE_REGION');
  const bucket = process.env.EDGE_SNAPSHOT_BUCKET;
  const s3 = bucket ? new S3Client({ region }) : undefined;
  const secrets = new SecretsManagerClient({ region });
  const originSecretId = required('EDGE_CDN_ORIGIN_SECRET_ID');
  const running = await startControlPlaneRuntime({
    settings: {
      platformName: process.env.EDGE_PLATFORM_NAME ?? 'edge',
      region,
      domain: required('EDGE_DOMAIN'),
      httpsTrafficPort: port('EDGE_HTTPS_TRAFFIC_PORT', 8443),
      httpTrafficPort: port('EDGE_HTTP_TRAFFIC_PORT', 8080),
      accessLogPath: process.env.EDGE_ACCESS_LOG_PATH ?? '/dev/stdout',
    },
    ...discoveryToken(secrets),
    dynamodb: new DynamoDBClient({ region }),
    tableName: required('EDGE_TABLE_NAME'),
    xdsPort: port('EDGE_XDS_PORT', 18000),
    restPort: port('EDGE_CONTROL_PLANE_PORT', 18001),
    contextS3: s3 && bucket && process.env.EDGE_CONTEXT_S3_KEY ? { client: s3, bucket, key: process.env.EDGE_CONTEXT_S3_KEY } : undefined,
    contextFile: process.env.EDGE_CONTEXT_FILE,
    store: s3 && bucket ? new S3SnapshotStore(s3, bucket, `snapshots/${region}/last-good.json`) : undefined,
    logger,
    canary: canarySettingsFromEnv(process.env, DEFAULT_CANARY),
    canaryHealth: canaryHealthSettingsFromEnv(process.env, DEFAULT_CANARY_HEALTH),
    convergenceReportMs: optionalMs('EDGE_CONVERGENCE_REPORT_MS', 1000),
    convergenceHeartbeatMs: optionalMs('EDGE_CONVERGENCE_HEARTBEAT_MS', 10_000),
    tenantRules: { fleetCidrs: fleetCidrsFromEnv(process.env), allowLoopbackBackends: false },
    // The cdn origin secret's replica in this region, AWSCURRENT and AWSPREVIOUS (cdn-origin.ts).
    cdnOriginSecret: { read: () => readSecretVersions(secrets, originSecretId), refreshMs: optionalMs('EDGE_CDN_ORIGIN_SECRET_REFRESH_MS', 60_000) },
  });
  // CONTROL_PLANE_METRICS as EMF lines on stdout (the awslogs driver; CloudWatch Logs extracts them).
  const emf = publishControlPlaneMetrics(running.controlPlane, { platformName: process.env.EDGE_PLATFORM_NAME ?? 'edge' });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log('info', 'stopping', { signal });
    emf.stop();
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: Error) => {
  jsonLogger().log('error', 'failed to start', { error: err.message });
  process.exit(1);
});
