import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { ContextSource, PlatformSettings } from './context';
import { ControlPlane } from './control-plane';
import { CanarySettings } from './canary';
import { CanaryHealthSettings } from './canary-health';
import { ConvergenceReporter, DEFAULT_REPORTER_TIMINGS, resolveTaskId } from './convergence-reporter';
import { Logger } from './logger';
import { SnapshotStore } from './persistence';
import { RestServer, startRestServer } from './rest-server';
import { DynamoRouteSource, FileDocumentSource, S3DocumentSource } from './sources';
import { TemplateRegistry } from './templates';
import { TenantRulePolicy } from './tenant-rules';
import { CdnOriginSource, OriginSecretReader } from './cdn-origin';
import { DiscoveryTokens } from './discovery-token';
import { SecretVersions } from './secret-versions';
import { XdsServer, startXdsServer } from './xds-server';

export interface RuntimeOptions {
  readonly settings: PlatformSettings;
  /** A discovery token that never changes (local, EDGE_XDS_AUTH_TOKEN); else `discoveryToken`. */
  readonly authToken?: string;
  /** The discovery token secret: its current and previous versions, re-read every refreshMs (default 60 s). */
  readonly discoveryToken?: { readonly read: () => Promise<SecretVersions>; readonly refreshMs?: number };
  readonly dynamodb: DynamoDBClient;
  readonly tableName: string;
  readonly xdsPort: number;
  readonly restPort: number;
  readonly host?: string;
  /** Context document in S3 (`{settings, routes}`), optional. */
  readonly contextS3?: { readonly client: S3Client; readonly bucket: string; readonly key: string };
  /** Context document on disk, optional. */
  readonly contextFile?: string;
  readonly store?: SnapshotStore;
  readonly registry?: TemplateRegistry;
  readonly logger: Logger;
  readonly routesRefreshMs?: number;
  readonly documentRefreshMs?: number;
  readonly settleMs?: number;
  readonly fullResyncMs?: number;
  readonly persistDebounceMs?: number;
  /**
   * Least time between two writes of this task's convergence report when it changes
   * (default 1000 ms; 0: no report at all).
   */
  readonly convergenceReportMs?: number;
  /** A report write at least this often even when nothing changed (default 10 s). */
  readonly convergenceHeartbeatMs?: number;
  /** This task's id in its report key (default: resolveTaskId(), the ECS task id in AWS). */
  readonly taskId?: string;
  /** Canary rollout of new snapshots (default: none, every node at once). */
  readonly canary?: CanarySettings;
  /** Canary health over HDS (default: off). */
  readonly canaryHealth?: CanaryHealthSettings;
  /** The cdn origin secret's reader and how often it is re-read (default 60 s); unset: cdn hosts refuse every request. */
  readonly cdnOriginSecret?: { readonly read: OriginSecretReader; readonly refreshMs?: number };
  /** The tenant rules' fleet CIDRs and loopback waiver (tenant-rules.ts). */
  readonly tenantRules?: Pick<TenantRulePolicy, 'fleetCidrs' | 'allowLoopbackBackends'>;
}

export interface RunningControlPlane {
  readonly controlPlane: ControlPlane;
  /** This task's convergence reporter (undefined when reports are off). */
  readonly reporter?: ConvergenceReporter;
  readonly xdsPort: number;
  readonly restPort: number;
  stop(): Promise<void>;
}

/** Wires sources, the core and both servers; shared by main.ts (AWS) and local.ts. */
export async function startControlPlaneRuntime(options: RuntimeOptions): Promise<RunningControlPlane> {
  const sources: ContextSource[] = [
    new DynamoRouteSource({
      client: options.dynamodb,
      tableName: options.tableName,
      intervalMs: options.routesRefreshMs ?? 1000,
      settleMs: options.settleMs,
      fullResyncMs: options.fullResyncMs,
      region: options.settings.region,
    }),
  ];
  const documentMs = options.documentRefreshMs ?? 30_000;
  if (options.contextS3) sources.push(new S3DocumentSource(options.contextS3.client, options.contextS3.bucket, options.contextS3.key, documentMs, options.settings.region));
  if (options.contextFile) sources.push(new FileDocumentSource(options.contextFile, documentMs, options.settings.region));
  const cdnOrigin = options.cdnOriginSecret ? new CdnOriginSource(options.cdnOriginSecret.read, options.cdnOriginSecret.refreshMs ?? 60_000) : undefined;
  if (cdnOrigin) sources.push(cdnOrigin);
  // The first read must succeed: without a token no node could be admitted.
  const discoveryTokens = options.discoveryToken
    ? new DiscoveryTokens(await options.discoveryToken.read(), { read: options.discoveryToken.read, refreshMs: options.discoveryToken.refreshMs, logger: options.logger })
    : undefined;
  const controlPlane = new ControlPlane({
    region: options.settings.region,
    authToken: options.authToken,
    discoveryTokens,
    settings: options.settings,
    sources,
    store: options.store,
    registry: options.registry,
    logger: options.logger,
    persistDebounceMs: options.persistDebounceMs,
    canary: options.canary,
    canaryHealth: options.canaryHealth,
    tenantRules: options.tenantRules,
    cdnOrigin,
  });
  await controlPlane.start();
  let xds: XdsServer | undefined;
  let rest: RestServer | undefined;
  try {
    xds = await startXdsServer(controlPlane, options.xdsPort, options.host);
    rest = await startRestServer(controlPlane, options.restPort, options.host);
  } catch (err) {
    await xds?.stop();
    await controlPlane.stop();
    throw err;
  }
  const debounceMs = options.convergenceReportMs ?? DEFAULT_REPORTER_TIMINGS.debounceMs;
  const reporter =
    debounceMs > 0
      ? new ConvergenceReporter(controlPlane, options.dynamodb, options.tableName, options.taskId ?? (await resolveTaskId()), {
          debounceMs,
          heartbeatMs: options.convergenceHeartbeatMs ?? DEFAULT_REPORTER_TIMINGS.heartbeatMs,
        })
      : undefined;
  reporter?.start();
  discoveryTokens?.start();
  options.logger.log('info', 'control plane listening', { xdsPort: xds.port, restPort: rest.port, region: options.settings.region });
  const running = { xds, rest };
  return {
    controlPlane,
    reporter,
    xdsPort: xds.port,
    restPort: rest.port,
    async stop() {
      await reporter?.stop();
      discoveryTokens?.stop();
      // The core first: streams closing at shutdown are not canary health drops.
      await controlPlane.stop();
      await Promise.allSettled([running.xds.stop(), running.rest.stop()]);
    },
  };
}
