import { randomUUID } from 'node:crypto';
import { IncomingMessage, ServerResponse, createServer } from 'node:http';
import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DEFAULT_FLEET_REGIONS } from '../../../config';
import { defaultVpcCidr } from '../../../config/defaults';
import { ensureBrokerTable, localClientConfig } from '../../../local/emulators';
import { listen } from '../../../shared/listen';
import { BrokerCredentials } from '../auth';
import { LocalCloud } from '../cloud/local';
import { EdgeCloud } from '../cloud/types';
import { ApiContext } from '../context';
import { createApiHandler } from '../lambda/api';
import { allows, authorize } from '../lambda/authorizer';
import { BrokerMetrics, EmfBrokerMetrics, MetricsSink, NO_METRICS } from '../metrics';
import { OperationQueue, SqsOperationQueue } from '../queue';
import {
  BrokerSettings,
  CONVERGENCE_ENV,
  CUSTOM_DOMAIN_ENV,
  ConvergenceSettings,
  CustomDomainSettings,
  checkCustomDomainSettings,
  customDomainSettingsFromEnv,
  DEFAULT_CONVERGENCE,
  MAX_BODY_BYTES,
  WORKER_MAX_RECEIVE_COUNT,
  checkConvergenceSettings,
  convergenceSettingsFromEnv,
} from '../settings';
import { OperationRef } from '../store/types';
import { BrokerStore } from '../store/store';
import { settleMessage } from '../worker/messages';
import { SweepContext, SweepOptions, SweepResult, sweepOperations } from '../worker/sweep';
import { DEFAULT_WORKER_OPTIONS, WorkerContext, WorkerOptions } from '../worker/worker';

export interface LocalBrokerOptions {
  /** 0: any free port (tests). */
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly tableName: string;
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  /** With a data dir, the local cloud's actions persist in `<dataDir>/cloud-actions.jsonl`. */
  readonly dataDir?: string;
  readonly domain?: string;
  readonly regions?: readonly string[];
  readonly platformName?: string;
  /**
   * The fleet VPCs' CIDRs no target may be in (issue 13). Default: the platform config's
   * default CIDR of each region, so that locally every target is refused as in AWS.
   */
  readonly fleetCidrs?: readonly string[];
  /** Loopback backends allowed (default true: the local samples listen on loopback; `EDGE_ALLOW_LOOPBACK_BACKENDS`). */
  readonly allowLoopbackBackends?: boolean;
  /** Route 53 / ACM / CloudFront stand-in (default: a LocalCloud recorder). */
  readonly cloud?: EdgeCloud;
  /** Queue name (a DLQ `<name>-dlq` is created beside it). */
  readonly queueName?: string;
  readonly worker?: Partial<WorkerOptions> & {
    /** Long-poll wait of the worker loop, seconds (default 1). */
    readonly pollWaitSeconds?: number;
    /** Visibility timeout of the local queue, seconds (default 30). */
    readonly visibilityTimeoutSeconds?: number;
    /** false: no worker loop (tests drive the worker themselves). */
    readonly enabled?: boolean;
    /** Messages worked on at once (default 4), like a Lambda event source's concurrency. */
    readonly concurrency?: number;
    /** How long stop() waits for steps in flight before abandoning them (default 5000 ms). */
    readonly stopGraceMs?: number;
  };
  /**
   * The convergence gate. Unset fields come from `EDGE_CONVERGENCE_*` in the environment,
   * else the local defaults: every connected proxy, empty regions pass, 600 s timeout, and
   * a poll every 0.1 s (sub-second delays are timers in this process, not SQS delays).
   */
  readonly convergence?: Partial<ConvergenceSettings>;
  /**
   * Custom domains: how long an owner has to prove control, the listener certificate quota,
   * names per certificate. Unset fields come from `EDGE_CUSTOM_DOMAIN_TIMEOUT_SECONDS`,
   * `EDGE_LISTENER_CERTIFICATE_QUOTA`, `EDGE_CERTIFICATE_NAMES_QUOTA`, else AWS's defaults.
   */
  readonly customDomains?: Partial<CustomDomainSettings>;
  /** The cdn origin secret's id in the cloud's secret store (the LocalCloud answers any id). */
  readonly cdnOriginSecretArn?: string;
  /** Retry-After on last_operation (default 1 locally). */
  readonly retryAfterSeconds?: number;
  /** Powertools log level (default: POWERTOOLS_LOG_LEVEL or INFO). */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /**
   * Where the worker's and the sweeper's EMF lines go (one JSON document per line, as the
   * Lambdas write them to stdout). Default: none (metrics stay quiet locally).
   */
  readonly metrics?: MetricsSink;
  /**
   * The stuck-operation sweeper, run every `intervalSeconds` (default 30). Locally an
   * operation is silent after `staleAfterSeconds` (default 60: local waits are seconds,
   * the local queue's visibility timeout 30 s). `enabled: false`: only `sweep()` runs it.
   */
  readonly sweeper?: Partial<SweepOptions> & { readonly intervalSeconds?: number; readonly enabled?: boolean };
}

export interface LocalBroker {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly cloud: EdgeCloud;
  readonly settings: BrokerSettings;
  readonly store: BrokerStore;
  /** Operations re-enqueued at start (in progress when the last run stopped). */
  readonly resumed: number;
  /** One sweep now (the periodic sweeper runs the same), its metrics flushed. */
  sweep(now?: number): Promise<SweepResult>;
  stop(): Promise<void>;
}

/** Local sweeper defaults: every 30 s; silent after 60 s; 3 re-enqueues per operation. */
export const LOCAL_SWEEP_DEFAULTS = { intervalSeconds: 30, staleAfterSeconds: 60, maxSweeps: 3 } as const;

/**
 * The broker on loopback: an HTTP server that turns each request into the API Gateway
 * event the Lambda gets and answers with the same handler (after the same basic-auth
 * decision the Lambda authorizer makes), plus a worker loop that consumes the local SQS
 * queue through the same worker code. fauxqs keeps no state across restarts, so the
 * operations still in progress in the table are re-enqueued on start.
 */
export async function startLocalBroker(options: LocalBrokerOptions): Promise<LocalBroker> {
  const convergence = checkConvergenceSettings(
    { ...convergenceSettingsFromEnv(process.env, LOCAL_CONVERGENCE_DEFAULTS), ...definedFields(options.convergence ?? {}) },
    (key) => `startLocalBroker option convergence.${key} (environment ${CONVERGENCE_ENV[key]})`,
  );
  const customDomains = checkCustomDomainSettings(
    { ...customDomainSettingsFromEnv(process.env), ...definedFields(options.customDomains ?? {}) },
    (key) => `startLocalBroker option customDomains.${key} (environment ${CUSTOM_DOMAIN_ENV[key]})`,
  );
  const regions = options.regions?.length ? [...options.regions] : [...DEFAULT_FLEET_REGIONS];
  const logLevel = (options.logLevel ?? process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO') as LocalBrokerOptions['logLevel'];
  const logger = new Logger({ serviceName: 'edge-broker', logLevel });
  const dynamodb = new DynamoDBClient(localClientConfig(options.dynamodbEndpoint));
  await ensureBrokerTable(dynamodb, options.tableName);
  const sqs = new SQSClient(localClientConfig(options.sqsEndpoint));
  const workerOptions: WorkerOptions = {
    maxAttempts: options.worker?.maxAttempts ?? WORKER_MAX_RECEIVE_COUNT,
    waitSeconds: options.worker?.waitSeconds ?? 1,
    leaseSeconds: options.worker?.leaseSeconds ?? 60,
    backoffSeconds: options.worker?.backoffSeconds ?? ((attempt) => Math.min(5, attempt)),
  };
  const { queueUrl, dlqUrl } = await ensureQueues(sqs, options.queueName ?? `${options.tableName}-operations`, workerOptions.maxAttempts, options.worker?.visibilityTimeoutSeconds ?? 30);

  const settings: BrokerSettings = {
    tableName: options.tableName,
    queueUrl,
    platformName: options.platformName ?? 'edge',
    domain: (options.domain ?? 'edge.example.com').toLowerCase(),
    hostedZoneId: 'ZLOCAL',
    homeRegion: 'us-east-1',
    regions,
    convergence,
    customDomains,
    cdnOriginSecretArn: options.cdnOriginSecretArn ?? 'local:cdn-origin-secret',
    fleetCidrs: options.fleetCidrs ? [...options.fleetCidrs] : regions.map(defaultVpcCidr).filter((cidr): cidr is string => cidr !== undefined),
    allowLoopbackBackends: options.allowLoopbackBackends ?? true,
  };
  const store = new BrokerStore(dynamodb, options.tableName);
  const queue = new LocalOperationQueue(new SqsOperationQueue(sqs, queueUrl), logger);
  const cloud = options.cloud ?? new LocalCloud({ actionsFile: options.dataDir ? join(options.dataDir, 'cloud-actions.jsonl') : undefined });
  const apiContext: ApiContext = { settings, store, queue, logger, retryAfterSeconds: options.retryAfterSeconds ?? 1 };
  let stopping = false;
  const metricsFor = (component: 'worker' | 'sweeper'): BrokerMetrics => (options.metrics ? new EmfBrokerMetrics(settings.platformName, component, options.metrics) : NO_METRICS);
  const workerContext: WorkerContext = { ...apiContext, cloud, options: { ...DEFAULT_WORKER_OPTIONS, ...workerOptions }, stopping: () => stopping, metrics: metricsFor('worker') };
  const sweepContext: SweepContext = { store, queue, convergence, customDomains, logger, metrics: metricsFor('sweeper') };
  const sweepOptions: SweepOptions = {
    staleAfterSeconds: options.sweeper?.staleAfterSeconds ?? LOCAL_SWEEP_DEFAULTS.staleAfterSeconds,
    maxSweeps: options.sweeper?.maxSweeps ?? LOCAL_SWEEP_DEFAULTS.maxSweeps,
  };
  const sweep = async (now?: number): Promise<SweepResult> => {
    try {
      return await sweepOperations(sweepContext, sweepOptions, now);
    } finally {
      sweepContext.metrics?.flush();
    }
  };
  const credentials: BrokerCredentials = { username: options.user, password: options.password };
  const api = createApiHandler(() => apiContext);

  const server = createServer((req, res) => {
    serve(req, res, api, credentials).catch((err: unknown) => {
      logger.error('local server fault', { error: err as Error });
      if (!res.headersSent) send(res, 500, { 'content-type': 'application/json' }, { error: 'InternalError', description: 'local broker fault' });
    });
  });
  // Requests Node's HTTP parser refuses before any handler runs (a head over its size limit,
  // a malformed request line) still get an OSB error body, as every other answer does.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
    const body = JSON.stringify({ error: 'BadRequest', description: status === 431 ? 'the request head (request line and headers) is larger than the broker accepts' : `the request is not valid HTTP (${err.code ?? 'parse error'})` });
    socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  const listening = await listen(server, options.port);
  const port = listening.port;

  const inFlight = await store.operationsInProgress();
  for (const operation of inFlight) {
    // No worker of the last run is alive: a lease it left would only make the step wait for it to expire.
    if (operation.busyUntil) await store.setOperationLease(operation.instanceId, operation.operationId, 0);
    await queue.enqueue({ instanceId: operation.instanceId, operationId: operation.operationId });
  }
  if (inFlight.length) logger.info('re-enqueued operations in progress', { count: inFlight.length });

  const loop =
    options.worker?.enabled === false ? undefined : startWorkerLoop(sqs, queueUrl, workerContext, options.worker?.pollWaitSeconds ?? 1, options.worker?.concurrency ?? 4, options.worker?.stopGraceMs ?? 5000);
  const sweepIntervalSeconds = options.sweeper?.intervalSeconds ?? LOCAL_SWEEP_DEFAULTS.intervalSeconds;
  if (!(sweepIntervalSeconds > 0)) throw new Error(`startLocalBroker option sweeper.intervalSeconds: must be a number of seconds greater than 0 (got ${sweepIntervalSeconds})`);
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweepTimer =
    options.sweeper?.enabled === false
      ? undefined
      : setInterval(() => {
          sweeping = sweep().catch((err: unknown) => logger.error('local sweep failed', { error: err as Error }));
        }, sweepIntervalSeconds * 1000);
  sweepTimer?.unref();

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    queueUrl,
    dlqUrl,
    cloud,
    settings,
    store,
    resumed: inFlight.length,
    sweep,
    async stop() {
      stopping = true;
      clearInterval(sweepTimer);
      await sweeping;
      await loop?.stop();
      // Wake-ups still pending are dropped: a restart re-enqueues every operation in progress.
      queue.stop();
      await listening.stop();
      sqs.destroy();
      dynamodb.destroy();
    },
  };
}

/** In AWS: every healthy proxy, empty regions pass, 10 minutes; locally the gate polls every 0.1 s. */
export const LOCAL_CONVERGENCE_DEFAULTS: ConvergenceSettings = { ...DEFAULT_CONVERGENCE, pollSeconds: 0.1 };

function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The local queue with the short waits SQS cannot express (DelaySeconds is whole
 * seconds): a wake-up under a second away is a timer in this process that sends the
 * message when it fires. Longer ones are SQS delays, as in AWS.
 */
class LocalOperationQueue implements OperationQueue {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly sqs: OperationQueue,
    private readonly logger: Logger,
  ) {}

  async enqueue(ref: OperationRef, delaySeconds = 0): Promise<void> {
    if (delaySeconds <= 0 || delaySeconds >= 1) return this.sqs.enqueue(ref, delaySeconds);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.sqs.enqueue(ref).catch((err: unknown) => this.logger.error('local delayed enqueue failed', { operationId: ref.operationId, error: err as Error }));
    }, delaySeconds * 1000);
    this.timers.add(timer);
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

async function ensureQueues(sqs: SQSClient, name: string, maxReceiveCount: number, visibilityTimeout: number) {
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqUrl = dlq.QueueUrl!;
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
  const main = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(visibilityTimeout),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: String(maxReceiveCount) }),
      },
    }),
  );
  return { queueUrl: main.QueueUrl!, dlqUrl };
}

// ---- HTTP -> API Gateway event ------------------------------------------------------

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  api: ReturnType<typeof createApiHandler>,
  credentials: BrokerCredentials,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  const requestId = randomUUID();

  const authorizerEvent = {
    type: 'REQUEST',
    methodArn: `arn:aws:execute-api:us-east-1:000000000000:local/local/${req.method}${url.pathname}`,
    resource: url.pathname,
    path: url.pathname,
    httpMethod: req.method ?? 'GET',
    headers,
    requestContext: { requestId },
  } as unknown as APIGatewayRequestAuthorizerEvent; // only the fields the authorizer reads
  if (!allows(authorize(authorizerEvent, credentials))) {
    send(res, 401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="edge broker"' }, { error: 'Unauthorized', description: 'Basic authentication with the broker credentials is required.' });
    req.resume();
    return;
  }

  const body = await readBody(req);
  if (body === 'too-large') {
    send(res, 413, { 'content-type': 'application/json' }, { error: 'PayloadTooLarge', description: `request body: larger than ${MAX_BODY_BYTES} bytes` });
    return;
  }
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = value;
  const event = {
    httpMethod: req.method ?? 'GET',
    path: url.pathname,
    resource: url.pathname,
    headers,
    multiValueHeaders: {},
    queryStringParameters: Object.keys(query).length ? query : null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: body.length ? body : null,
    isBase64Encoded: false,
    requestContext: { requestId },
  } as unknown as APIGatewayProxyEvent; // the fields the API handler reads, as API Gateway sends them
  const result = await api(event);
  send(res, result.statusCode, (result.headers ?? {}) as Record<string, string>, undefined, result.body);
}

function readBody(req: IncomingMessage): Promise<string | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown, raw?: string): void {
  const text = raw ?? JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// ---- worker loop --------------------------------------------------------------------

function startWorkerLoop(sqs: SQSClient, queueUrl: string, ctx: WorkerContext, pollWaitSeconds: number, concurrency: number, stopGraceMs: number) {
  let running = true;
  const inFlight = new Set<Promise<void>>();

  const handle = async (message: Message) => {
    const receiveCount = Number(message.Attributes?.ApproximateReceiveCount) || 1;
    const settlement = await settleMessage(ctx, message.Body ?? '', receiveCount).finally(() => ctx.metrics?.flush());
    if (settlement.kind === 'ack') {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    } else {
      // Like the Lambda: visible again after the backoff; past maxReceiveCount the queue's
      // redrive policy moves it to the DLQ.
      const visibility = settlement.kind === 'retry' ? Math.round(settlement.delaySeconds) : 0;
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: visibility }));
    }
  };

  const done = (async () => {
    while (running) {
      try {
        while (inFlight.size >= concurrency && running) await Promise.race(inFlight);
        if (!running) break;
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: concurrency - inFlight.size,
            WaitTimeSeconds: pollWaitSeconds,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
        );
        if (!running) {
          // Received while stopping (the long poll was already waiting): hand it back at once.
          for (const message of out.Messages ?? []) {
            await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }));
          }
          break;
        }
        for (const message of out.Messages ?? []) {
          const work: Promise<void> = handle(message)
            .catch((err: unknown) => ctx.logger.error('local worker fault', { error: err as Error }))
            .finally(() => inFlight.delete(work));
          inFlight.add(work);
        }
      } catch (err) {
        if (!running) break;
        ctx.logger.error('local worker receive failed', { error: err as Error });
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();

  return {
    async stop() {
      running = false;
      // The current long poll ends within pollWaitSeconds (not aborted: an aborted request
      // would leave the emulator delivering a message to nobody).
      await done;
      // In-flight work stops after its current step; a step still running after a few
      // seconds is abandoned like a crashed Lambda (its message comes back, the step reruns).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => (timer = setTimeout(r, stopGraceMs)))]);
      clearTimeout(timer);
    },
  };
}
