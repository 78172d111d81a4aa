import { createServer } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LocalBroker, LocalBrokerOptions, startLocalBroker } from '../broker/runtime/local/local-broker';
import { LocalControlPlane, LocalControlPlaneOptions, startLocalControlPlane } from '../control-plane/runtime/local';
import { silentLogger } from '../control-plane/runtime/logger';
import { PlatformConfig, loadConfig } from '../config';
import { LocalEmulators, ensureBrokerTable, localClientConfig, startEmulators } from './emulators';
import { LocalSettings } from './settings';

/** One step of the start-up, reported as it finishes. */
export interface ProgressEvent {
  readonly step: 'config' | 'ports' | 'emulators' | 'table' | 'broker' | 'control-plane' | 'stop';
  /** A line a person reads ("broker listening on http://127.0.0.1:8080"). */
  readonly message: string;
  /** How long the step took. */
  readonly ms: number;
}

export interface PlatformOptions {
  readonly onProgress?: (event: ProgressEvent) => void;
  /**
   * The platform config; its domain is used. Default: `loadConfig()` with the process
   * environment and `settings.domain` as EDGE_DOMAIN.
   */
  readonly config?: PlatformConfig;
  /** No component logs (tests, the demo, benchmarks). */
  readonly quiet?: boolean;
  /** Overrides of the broker's options (tests: worker timings, a LocalCloud that deploys slowly). */
  readonly broker?: Partial<LocalBrokerOptions>;
  /** Overrides of the control plane's options (tests: refresh intervals, a logger). */
  readonly controlPlane?: Partial<LocalControlPlaneOptions>;
}

export interface LocalPlatform {
  /** OSB API: `http://127.0.0.1:<EDGE_BROKER_PORT>`. */
  readonly brokerUrl: string;
  /** gRPC ADS: `127.0.0.1:<EDGE_XDS_PORT>`. */
  readonly xdsAddress: string;
  /** REST discovery, /status, /healthz: `http://127.0.0.1:<EDGE_CONTROL_PLANE_PORT>`. */
  readonly controlPlaneUrl: string;
  /** The region the local control plane serves (the config's home region). */
  readonly region: string;
  readonly domain: string;
  readonly settings: LocalSettings;
  readonly config: PlatformConfig;
  readonly emulators: LocalEmulators;
  readonly broker: LocalBroker;
  readonly controlPlane: LocalControlPlane;
  /** Operations in progress at the last stop that the broker picked up again. */
  readonly resumedOperations: number;
  /** Stops the broker (worker first), the control plane and the emulators; safe to call twice. */
  stop(): Promise<void>;
}

/** A start-up failure a person can act on; `variable` names the setting at fault, if one is. */
export class PlatformError extends Error {
  constructor(
    message: string,
    readonly variable?: string,
  ) {
    super(message);
  }
}

const HOST = '127.0.0.1';

/** The one line `npm start` prints on stdout when everything listens. */
export function readyLine(platform: Pick<LocalPlatform, 'brokerUrl' | 'xdsAddress' | 'controlPlaneUrl'>): string {
  return `edge platform ready: broker ${platform.brokerUrl} xds grpc://${platform.xdsAddress} control-plane ${platform.controlPlaneUrl}`;
}

/** Fails with an error naming the variable when a fixed port is taken (port 0 is always free). */
async function checkPortFree(variable: string, port: number): Promise<void> {
  if (port === 0) return;
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new PlatformError(`${variable}: port ${port} on ${HOST} is already in use; stop what uses it or set ${variable} to a free port`, variable));
      else if (err.code === 'EACCES') reject(new PlatformError(`${variable}: not allowed to listen on port ${port} on ${HOST}; choose a port above 1023`, variable));
      else reject(new PlatformError(`${variable}: cannot listen on ${HOST}:${port}: ${err.message}`, variable));
    });
    server.listen(port, HOST, () => server.close(() => resolve()));
  });
}

/** Turns a listen failure of a component into an error naming the variable of its port. */
function listenError(err: unknown, variable: string, port: number): Error {
  const error = err as NodeJS.ErrnoException;
  const text = String(error?.message ?? err);
  if (error?.code === 'EADDRINUSE' || /EADDRINUSE|address already in use|No address added/i.test(text)) {
    return new PlatformError(`${variable}: port ${port} on ${HOST} is already in use; stop what uses it or set ${variable} to a free port`, variable);
  }
  return error instanceof Error ? error : new Error(text);
}

/**
 * Starts the whole platform on loopback: dynalite + fauxqs, the broker table, the broker
 * (OSB API and the worker consuming the local queue) and the control plane (ADS gRPC and
 * REST) of the config's home region, all on one local DynamoDB. On a failure it stops what
 * it started and throws (a PlatformError naming the variable when a setting is at fault).
 */
export async function startLocalPlatform(settings: LocalSettings, options: PlatformOptions = {}): Promise<LocalPlatform> {
  const progress = options.onProgress ?? (() => undefined);
  const timed = async <T>(step: ProgressEvent['step'], run: () => Promise<T>, describe: (value: T) => string): Promise<T> => {
    const started = performance.now();
    const value = await run();
    progress({ step, message: describe(value), ms: Math.round(performance.now() - started) });
    return value;
  };

  const config = await timed(
    'config',
    async () => options.config ?? loadConfig(() => undefined, { ...process.env, EDGE_DOMAIN: settings.domain }),
    (c) => `config: platform ${c.platformName}, domain ${c.domain}, home region ${c.homeRegion}, ${c.regions.length} fleet regions`,
  );
  const region = config.homeRegion;
  await timed(
    'ports',
    async () => {
      await checkPortFree('EDGE_BROKER_PORT', settings.brokerPort);
      await checkPortFree('EDGE_XDS_PORT', settings.xdsPort);
      await checkPortFree('EDGE_CONTROL_PLANE_PORT', settings.controlPlanePort);
      await checkPortFree('EDGE_DYNAMODB_PORT', settings.dynamodbPort);
      await checkPortFree('EDGE_SQS_PORT', settings.sqsPort);
    },
    () => `ports: ${[settings.brokerPort, settings.xdsPort, settings.controlPlanePort, settings.dynamodbPort, settings.sqsPort].map((p) => (p === 0 ? 'any' : p)).join(', ')} free on ${HOST}`,
  );

  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch {
        // Stopping is best effort: one component failing to stop must not keep the others running.
      }
    }
  };
  try {
    const emulators = await timed(
      'emulators',
      () => startEmulators({ dataDir: settings.dataDir, dynamodbPort: settings.dynamodbPort, sqsPort: settings.sqsPort }),
      (e) => `emulators: DynamoDB (dynalite) ${e.dynamodbEndpoint}, SQS+S3 (fauxqs) ${e.sqsEndpoint}, state ${settings.dataDir ? `in ${settings.dataDir}` : 'in memory'}`,
    );
    stops.push(() => emulators.stop());

    await timed(
      'table',
      async () => {
        const client = new DynamoDBClient(localClientConfig(emulators.dynamodbEndpoint));
        try {
          await ensureBrokerTable(client, config.brokerTableName);
        } finally {
          client.destroy();
        }
      },
      () => `table: ${config.brokerTableName} ready`,
    );

    const broker = await timed(
      'broker',
      async () => {
        try {
          return await startLocalBroker({
            port: settings.brokerPort,
            user: settings.brokerUser,
            password: settings.brokerPassword,
            tableName: config.brokerTableName,
            dynamodbEndpoint: emulators.dynamodbEndpoint,
            sqsEndpoint: emulators.sqsEndpoint,
            dataDir: settings.dataDir,
            domain: config.domain,
            regions: config.regions.map((r) => r.region),
            platformName: config.platformName,
            fleetCidrs: config.regions.map((r) => r.vpcCidr),
            allowLoopbackBackends: settings.allowLoopbackBackends ?? true,
            logLevel: options.quiet ? 'SILENT' : undefined,
            ...options.broker,
          });
        } catch (err) {
          throw listenError(err, 'EDGE_BROKER_PORT', settings.brokerPort);
        }
      },
      (b) => `broker: OSB API on ${b.url} (basic auth user ${settings.brokerUser}), worker consuming the local queue${b.resumed ? `, ${b.resumed} operation(s) in progress resumed` : ''}`,
    );
    stops.push(() => broker.stop());

    const controlPlane = await timed(
      'control-plane',
      async () => {
        try {
          return await startLocalControlPlane({
            xdsPort: settings.xdsPort,
            restPort: settings.controlPlanePort,
            region,
            tableName: config.brokerTableName,
            dynamodbEndpoint: emulators.dynamodbEndpoint,
            s3Endpoint: emulators.s3Endpoint,
            authToken: settings.xdsAuthToken,
            dataDir: settings.dataDir,
            domain: config.domain,
            platformName: config.platformName,
            httpsTrafficPort: config.envoy.httpsTrafficPort,
            httpTrafficPort: config.envoy.httpTrafficPort,
            host: HOST,
            logger: options.quiet ? silentLogger : undefined,
            fleetCidrs: config.regions.map((r) => r.vpcCidr),
            allowLoopbackBackends: settings.allowLoopbackBackends ?? true,
            ...options.controlPlane,
          });
        } catch (err) {
          const text = String((err as Error)?.message ?? err);
          // The xDS server binds first; a REST listen failure carries Node's EADDRINUSE code.
          const restFailed = (err as NodeJS.ErrnoException)?.code === 'EADDRINUSE' || text.includes(`:${settings.controlPlanePort}`);
          throw restFailed ? listenError(err, 'EDGE_CONTROL_PLANE_PORT', settings.controlPlanePort) : listenError(err, 'EDGE_XDS_PORT', settings.xdsPort);
        }
      },
      (cp) => `control plane: region ${region}, ADS gRPC on ${HOST}:${cp.xdsPort}, REST on http://${HOST}:${cp.restPort}`,
    );
    stops.push(() => controlPlane.stop());

    let stopping: Promise<void> | undefined;
    return {
      brokerUrl: broker.url,
      xdsAddress: `${HOST}:${controlPlane.xdsPort}`,
      controlPlaneUrl: `http://${HOST}:${controlPlane.restPort}`,
      region,
      domain: config.domain,
      settings,
      config,
      emulators,
      broker,
      controlPlane,
      resumedOperations: broker.resumed,
      stop() {
        // Broker first (no new work, the worker finishes its step), then the control plane, then the data.
        stopping ??= timed('stop', async () => {
          const order = stops.splice(0);
          const [stopEmulators, stopBroker, stopControlPlane] = order;
          for (const stop of [stopBroker, stopControlPlane, stopEmulators]) {
            try {
              await stop?.();
            } catch {
              // Best effort, as above.
            }
          }
        }, () => 'stopped: broker, control plane, emulators');
        return stopping;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
