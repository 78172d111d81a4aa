import { sleep, waitFor } from '../support/wait';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LocalEmulators, localClientConfig, startEmulators } from '../../lib/local/emulators';
import { PLANS, SERVICE_ID } from '../../lib/broker/runtime/catalog';
import { LocalBroker, LocalBrokerOptions, startLocalBroker } from '../../lib/broker/runtime/local/local-broker';
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import { LocalCloud, validationRecord } from '../../lib/broker/runtime/cloud/local';
import { challengeRecord } from '../../lib/broker/runtime/custom-domains';
import { DnsRecord, EdgeCloud } from '../../lib/broker/runtime/cloud/types';
import { SqsOperationQueue } from '../../lib/broker/runtime/queue';
import { DEFAULT_WORKER_OPTIONS, WorkerContext } from '../../lib/broker/runtime/worker/worker';

export const USER = 'broker';
export const PASSWORD = 'test-password';
export const DOMAIN = 'edge.example.com';
export const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2'];
export const STANDARD = PLANS.standard.id;
export const CDN = PLANS.cdn.id;
export { SERVICE_ID };

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  // Test code reads arbitrary JSON fields.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
  readonly text: string;
}

export interface CallOptions {
  readonly body?: unknown;
  /** Sent verbatim (for malformed JSON). */
  readonly rawBody?: string;
  readonly headers?: Record<string, string | undefined>;
  readonly auth?: string | null;
}

export interface ClientOptions {
  readonly user?: string;
  readonly password?: string;
  /** Every call fails after this long (a hang is a failure); default: no limit. */
  readonly timeoutMs?: number;
}

/** A small OSB client over fetch: basic auth and X-Broker-API-Version 2.17 unless told otherwise. */
export function osbClient(baseUrl: string, client: ClientOptions = {}) {
  const basic = `Basic ${Buffer.from(`${client.user ?? USER}:${client.password ?? PASSWORD}`).toString('base64')}`;
  return async function call(method: string, path: string, options: CallOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-broker-api-version': '2.17' };
    if (options.auth !== null) headers.authorization = options.auth ?? basic;
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (value === undefined) delete headers[name];
      else headers[name] = value;
    }
    const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body, signal: client.timeoutMs ? AbortSignal.timeout(client.timeoutMs) : undefined });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  };
}

export type OsbCall = ReturnType<typeof osbClient>;

export function provisionBody(hostnames: string[], extra: Record<string, unknown> = {}, plan: string = STANDARD) {
  return {
    service_id: SERVICE_ID,
    plan_id: plan,
    organization_guid: 'org-1',
    space_guid: 'space-1',
    parameters: { hostnames, backends: [{ address: '10.0.0.10', port: 8080, protocol: 'http' }], ...extra },
  };
}

/** Polls last_operation until the operation is no longer in progress. */
export async function waitForOperation(call: OsbCall, instanceId: string, operation?: string, timeoutMs = 15000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  const query = operation ? `?operation=${encodeURIComponent(operation)}` : '';
  for (;;) {
    const reply = await call('GET', `/v2/service_instances/${instanceId}/last_operation${query}`);
    if (reply.status !== 200 || reply.body?.state !== 'in progress') return reply;
    if (Date.now() > deadline) throw new Error(`operation of ${instanceId} still in progress: ${reply.text}`);
    await sleep(25);
  }
}

export { sleep, waitFor };

/** Fast local settings for tests: no waits, no backoff. */
export function testBrokerOptions(emulators: LocalEmulators, overrides: Partial<LocalBrokerOptions> = {}): LocalBrokerOptions {
  return {
    port: 0,
    user: USER,
    password: PASSWORD,
    tableName: 'edge-broker',
    dynamodbEndpoint: emulators.dynamodbEndpoint,
    sqsEndpoint: emulators.sqsEndpoint,
    domain: DOMAIN,
    regions: REGIONS,
    logLevel: 'SILENT',
    retryAfterSeconds: 1,
    ...overrides,
    worker: { pollWaitSeconds: 1, waitSeconds: 0, backoffSeconds: () => 0, leaseSeconds: 5, ...(overrides.worker ?? {}) },
  };
}

export async function startTestBroker(emulators: LocalEmulators, overrides: Partial<LocalBrokerOptions> = {}): Promise<LocalBroker> {
  return startLocalBroker(testBrokerOptions(emulators, overrides));
}

export { startEmulators, localClientConfig, DynamoDBClient };

/**
 * A LocalCloud whose Route 53 writes can be made to fail (`failUpserts`) or to wait until
 * `open()` after `hold()` (`entered` resolves once a write waits); it counts writes per name.
 */
export class GatedCloud extends LocalCloud {
  failUpserts = false;
  readonly upserts = new Map<string, number>();
  entered?: Promise<void>;
  private gate?: Promise<void>;
  private release?: () => void;
  private enter?: () => void;

  hold(): void {
    this.gate = new Promise((resolve) => (this.release = resolve));
    this.entered = new Promise((resolve) => (this.enter = resolve));
  }

  open(): void {
    this.release?.();
    this.gate = undefined;
  }

  override async upsertRecords(records: readonly DnsRecord[]): Promise<void> {
    if (this.failUpserts) throw new Error('Route 53 is unavailable (injected)');
    for (const r of records) this.upserts.set(r.name, (this.upserts.get(r.name) ?? 0) + 1);
    if (this.gate) {
      this.enter?.();
      await this.gate;
    }
    return super.upsertRecords(records);
  }
}

/** A worker of `broker` that a test drives itself (no waits, no backoff; a short lease unless told). */
export function testWorkerContext(broker: LocalBroker, sqs: SQSClient, extra: { cloud?: EdgeCloud; stopping?: () => boolean; leaseSeconds?: number } = {}): WorkerContext {
  return {
    settings: broker.settings,
    store: broker.store,
    queue: new SqsOperationQueue(sqs, broker.queueUrl),
    cloud: extra.cloud ?? broker.cloud,
    logger: new Logger({ logLevel: 'SILENT' }),
    options: { ...DEFAULT_WORKER_OPTIONS, waitSeconds: 0, leaseSeconds: extra.leaseSeconds ?? 5, backoffSeconds: () => 0 },
    stopping: extra.stopping,
  };
}
export type { LocalEmulators, LocalBroker };

/**
 * The emulators one test file shares (started in beforeAll) and the brokers its tests
 * start, each on its own table `<tablePrefix>-<n>`; all stopped in afterAll.
 */
export function brokerFixture(tablePrefix: string) {
  let emulators: LocalEmulators | undefined;
  const brokers: LocalBroker[] = [];
  let tableCounter = 0;
  beforeAll(async () => {
    emulators = await startEmulators();
  });
  afterAll(async () => {
    for (const broker of brokers) await broker.stop().catch(() => undefined);
    await emulators?.stop();
  });
  const fixture = {
    get emulators(): LocalEmulators {
      if (!emulators) throw new Error('emulators are started in beforeAll');
      return emulators;
    },
    /** Stops this broker after the file's tests. */
    track(broker: LocalBroker): LocalBroker {
      brokers.push(broker);
      return broker;
    },
    /** A broker on a table of its own. */
    async start(overrides: Partial<LocalBrokerOptions> = {}): Promise<LocalBroker> {
      return fixture.track(await startTestBroker(fixture.emulators, { tableName: `${tablePrefix}-${++tableCounter}`, ...overrides }));
    },
  };
  return fixture;
}

/**
 * The team of `instanceId` proves control of its own domains, as a tenant would: once the
 * operation has made the instance's token, it creates the TXT challenge and ACM's
 * validation CNAME of each name in its own zone (the LocalCloud's public DNS).
 */
export async function proveControl(broker: LocalBroker, instanceId: string, names: readonly string[], cloud = broker.cloud as LocalCloud): Promise<void> {
  const token = await waitFor(`the ownership token of ${instanceId}`, async () => (await broker.store.getInstance(instanceId))?.ownershipToken);
  for (const name of names) {
    cloud.publish(challengeRecord(broker.settings.platformName, name, token));
    cloud.publish(validationRecord(name));
  }
}
