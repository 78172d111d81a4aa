import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { localClientConfig } from '../../local/emulators';
import { CanarySettings, LOCAL_CANARY, canarySettingsFromEnv, checkCanarySettings } from './canary';
import { CanaryHealthSettings, LOCAL_CANARY_HEALTH, canaryHealthSettingsFromEnv, checkCanaryHealthSettings } from './canary-health';
import { Logger, jsonLogger } from './logger';
import { FileSnapshotStore } from './persistence';
import { fileOriginSecret } from './cdn-origin';
import { RunningControlPlane, startControlPlaneRuntime } from './runtime';
import { TemplateRegistry } from './templates';

export interface LocalControlPlaneOptions {
  /** 0: any free port. */
  readonly xdsPort: number;
  readonly restPort: number;
  readonly region: string;
  readonly tableName: string;
  readonly dynamodbEndpoint: string;
  /** fauxqs' S3 endpoint, for an optional context document in S3. */
  readonly s3Endpoint?: string;
  readonly contextS3?: { readonly bucket: string; readonly key: string };
  readonly contextFile?: string;
  readonly authToken: string;
  /** Where the last good snapshot persists (EDGE_DATA_DIR); unset: not persisted. */
  readonly dataDir?: string;
  readonly domain: string;
  readonly platformName?: string;
  readonly httpsTrafficPort?: number;
  readonly httpTrafficPort?: number;
  /** Listen address (default 127.0.0.1). */
  readonly host?: string;
  readonly routesRefreshMs?: number;
  readonly documentRefreshMs?: number;
  readonly settleMs?: number;
  readonly fullResyncMs?: number;
  readonly persistDebounceMs?: number;
  readonly rateLimitService?: { readonly address: string; readonly port: number };
  /** Least time between two convergence report writes when it changes (default 200 ms locally; 0: no report). */
  readonly convergenceReportMs?: number;
  /** Report heartbeat (default 10 s). */
  readonly convergenceHeartbeatMs?: number;
  /** This task's id in its report key (default: host name + random suffix). */
  readonly taskId?: string;
  /**
   * Canary rollout (default: EDGE_CANARY_FRACTION / EDGE_CANARY_SOAK_MS from the
   * environment, else 5% (at least one node) and a 1 s soak; fraction 0: off).
   */
  readonly canary?: Partial<CanarySettings>;
  /**
   * Canary health over HDS (default: EDGE_CANARY_HEALTH / EDGE_CANARY_HEALTH_TIMEOUT_MS from
   * the environment, else `hds` and 5 s).
   */
  readonly canaryHealth?: Partial<CanaryHealthSettings>;
  readonly registry?: TemplateRegistry;
  readonly logger?: Logger;
  /**
   * A JSON file `{"current": "...", "previous": "..."}` with the cdn origin header values
   * (default: EDGE_CDN_ORIGIN_SECRET_FILE; unset: cdn hosts refuse every request).
   */
  readonly cdnOriginSecretFile?: string;
  /** How often the origin secret file is re-read (default 60 s). */
  readonly cdnOriginSecretRefreshMs?: number;
  /** The fleet VPCs' CIDRs no tenant target may reach (default: none). */
  readonly fleetCidrs?: readonly string[];
  /** Loopback backends allowed (default true: the local samples listen on loopback; `EDGE_ALLOW_LOOPBACK_BACKENDS`). */
  readonly allowLoopbackBackends?: boolean;
}

export interface LocalControlPlane {
  readonly xdsPort: number;
  /** The key of this task's convergence report (undefined when reports are off). */
  readonly taskId?: string;
  readonly restPort: number;
  readonly running: RunningControlPlane;
  stop(): Promise<void>;
}

/** The control plane on loopback, reading the local DynamoDB (dynalite) through the real SDK client. */
export async function startLocalControlPlane(options: LocalControlPlaneOptions): Promise<LocalControlPlane> {
  const dynamodb = new DynamoDBClient(localClientConfig(options.dynamodbEndpoint));
  const canary = checkCanarySettings({ ...canarySettingsFromEnv(process.env, LOCAL_CANARY), ...options.canary }, (key) => `canary.${key}`);
  const canaryHealth = checkCanaryHealthSettings({ ...canaryHealthSettingsFromEnv(process.env, LOCAL_CANARY_HEALTH), ...options.canaryHealth }, (key) => `canaryHealth.${key}`);
  const cdnOriginFile = options.cdnOriginSecretFile ?? (process.env.EDGE_CDN_ORIGIN_SECRET_FILE || undefined);
  const s3 = options.s3Endpoint ? new S3Client({ ...localClientConfig(options.s3Endpoint), forcePathStyle: true }) : undefined;
  const running = await startControlPlaneRuntime({
    settings: {
      platformName: options.platformName ?? 'edge',
      region: options.region,
      domain: options.domain,
      httpsTrafficPort: options.httpsTrafficPort ?? 8443,
      httpTrafficPort: options.httpTrafficPort ?? 8080,
      accessLogPath: '/dev/stdout',
      rateLimitService: options.rateLimitService,
    },
    authToken: options.authToken,
    dynamodb,
    tableName: options.tableName,
    xdsPort: options.xdsPort,
    restPort: options.restPort,
    host: options.host ?? '127.0.0.1',
    contextS3: s3 && options.contextS3 ? { client: s3, ...options.contextS3 } : undefined,
    contextFile: options.contextFile,
    store: options.dataDir ? new FileSnapshotStore(options.dataDir) : undefined,
    registry: options.registry,
    logger: options.logger ?? jsonLogger((process.env.EDGE_LOG_LEVEL as 'info' | undefined) ?? 'info'),
    routesRefreshMs: options.routesRefreshMs ?? 500,
    documentRefreshMs: options.documentRefreshMs,
    settleMs: options.settleMs ?? 3000,
    fullResyncMs: options.fullResyncMs,
    persistDebounceMs: options.persistDebounceMs,
    convergenceReportMs: options.convergenceReportMs ?? 200,
    convergenceHeartbeatMs: options.convergenceHeartbeatMs,
    taskId: options.taskId,
    canary,
    canaryHealth,
    cdnOriginSecret: cdnOriginFile ? { read: fileOriginSecret(cdnOriginFile), refreshMs: options.cdnOriginSecretRefreshMs } : undefined,
    tenantRules: { fleetCidrs: options.fleetCidrs ?? [], allowLoopbackBackends: options.allowLoopbackBackends ?? true },
  });
  return {
    xdsPort: running.xdsPort,
    restPort: running.restPort,
    taskId: running.reporter?.taskId,
    running,
    async stop() {
      await running.stop();
      dynamodb.destroy();
      s3?.destroy();
    },
  };
}
