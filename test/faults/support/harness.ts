/**
 * What the fault tests share: a throw-away EDGE_DATA_DIR, `npm start` as a real child
 * process (killed with SIGKILL), a full scan of the broker table, the LocalCloud's action
 * log as written to disk, and small OSB helpers.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CloudAction } from '../../../lib/broker/runtime/cloud/local';
import { PLANS, SERVICE_ID } from '../../../lib/broker/runtime/catalog';
import { localClientConfig } from '../../../lib/local/emulators';
import { sleep } from '../../support/wait';
import { Reply, osbClient } from '../../broker/support';

export { sleep, waitFor, freePort } from '../../support/wait';

export const ROOT = join(__dirname, '..', '..', '..');
export const TABLE = 'edge-broker';
export const USER = 'broker';
export const PASSWORD = 'faults-password';
export const TOKEN = 'faults-discovery-token';
export const DOMAIN = 'edge.example.com';
export { SERVICE_ID };
export const STANDARD_PLAN = PLANS.standard.id;
export const CDN_PLAN = PLANS.cdn.id;

/** A fresh data dir under the OS temp dir; `remove()` deletes it. */
export function tempDataDir(name: string): { readonly path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `edge-faults-${name}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

// ---- OSB ----------------------------------------------------------------------------

export type { Reply } from '../../broker/support';
export { provisionBody } from '../../broker/support';

export const basicAuth = (user = USER, password = PASSWORD) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** An OSB client (basic auth, X-Broker-API-Version 2.17); every call is bounded by `timeoutMs`. */
export function osb(baseUrl: string, timeoutMs = 10_000) {
  const call = osbClient(baseUrl, { user: USER, password: PASSWORD, timeoutMs });
  return (method: string, path: string, body?: unknown): Promise<Reply> => call(method, path, { body });
}

export type Osb = ReturnType<typeof osb>;

/** Polls last_operation (of one operation, if given) until it is no longer in progress. */
export async function settle(call: Osb, instanceId: string, operation?: string, timeoutMs = 20_000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  const query = operation ? `?operation=${encodeURIComponent(operation)}` : '';
  for (;;) {
    let reply: Reply | undefined;
    try {
      reply = await call('GET', `/v2/service_instances/${instanceId}/last_operation${query}`);
    } catch {
      // A broker restarting: ask again.
    }
    if (reply && reply.status < 500 && reply.body?.state !== 'in progress') return reply;
    if (Date.now() > deadline) throw new Error(`operation ${operation ?? ''} of ${instanceId} not finished after ${timeoutMs} ms: ${reply?.text}`);
    await sleep(50);
  }
}

// ---- state on disk and in the emulators -----------------------------------------------

export type Item = Record<string, unknown> & { pk: string; sk: string };

/** Every item of the table, sorted by key (volatile fields kept: a test compares what it needs). */
export async function scanTable(dynamodbEndpoint: string, tableName = TABLE): Promise<Item[]> {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(localClientConfig(dynamodbEndpoint)));
  try {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }));
      items.push(...((out.Items ?? []) as Item[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return items.sort((a, b) => `${a.pk}\u0000${a.sk}`.localeCompare(`${b.pk}\u0000${b.sk}`));
  } finally {
    client.destroy();
  }
}

/** The LocalCloud's actions as written to `<dataDir>/cloud-actions.jsonl` (what a restart replays). */
export function readActions(dataDir: string): CloudAction[] {
  const file = join(dataDir, 'cloud-actions.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as CloudAction);
}

/** Actions that repeat an earlier one exactly (same action, same details, time aside). */
export function repeatedActions(actions: readonly CloudAction[]): CloudAction[] {
  const seen = new Set<string>();
  const repeated: CloudAction[] = [];
  for (const { at: _at, ...rest } of actions) {
    const key = JSON.stringify(rest);
    if (seen.has(key)) repeated.push(rest as CloudAction);
    seen.add(key);
  }
  return repeated;
}

/** Actions of `after` that repeat one of `before` exactly (time aside): work done twice. */
export function rerunActions(before: readonly CloudAction[], after: readonly CloudAction[]): CloudAction[] {
  const key = ({ at: _at, ...rest }: CloudAction) => JSON.stringify(rest);
  const earlier = new Set(before.map(key));
  return after.filter((action) => earlier.has(key(action)));
}

/** Messages in a queue, visible, in flight and delayed. */
export async function queueDepth(sqsEndpoint: string, queueUrl: string): Promise<number> {
  const sqs = new SQSClient(localClientConfig(sqsEndpoint));
  try {
    const out = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    const a = out.Attributes ?? {};
    return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(a.ApproximateNumberOfMessagesDelayed ?? 0);
  } finally {
    sqs.destroy();
  }
}

// ---- `npm start` as a child process ---------------------------------------------------

export interface ReadyEndpoints {
  readonly brokerUrl: string;
  readonly xdsAddress: string;
  readonly controlPlaneUrl: string;
}

/** Parses `edge platform ready: broker <url> xds grpc://<address> control-plane <url>`. */
export function parseReadyLine(line: string): ReadyEndpoints {
  const match = /^edge platform ready: broker (\S+) xds grpc:\/\/(\S+) control-plane (\S+)$/.exec(line.trim());
  if (!match) throw new Error(`not a ready line: ${JSON.stringify(line)}`);
  return { brokerUrl: match[1], xdsAddress: match[2], controlPlaneUrl: match[3] };
}

/**
 * `lib/local/start.ts` (what `npm start` runs) in ONE node process (`node --import tsx`),
 * so that SIGKILL hits exactly the process holding the platform: no wrapper to relay it.
 */
export class PlatformProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /** Starts it with ports 0 (the ready line says which it got) and waits for the ready line. */
  static async start(env: Record<string, string>, timeoutMs = 60_000): Promise<{ process: PlatformProcess; endpoints: ReadyEndpoints }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'lib/local/start.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        EDGE_BROKER_PORT: '0',
        EDGE_XDS_PORT: '0',
        EDGE_CONTROL_PLANE_PORT: '0',
        EDGE_DYNAMODB_PORT: '0',
        EDGE_SQS_PORT: '0',
        EDGE_BROKER_USER: USER,
        EDGE_BROKER_PASSWORD: PASSWORD,
        EDGE_XDS_AUTH_TOKEN: TOKEN,
        POWERTOOLS_LOG_LEVEL: 'WARN',
        EDGE_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run = new PlatformProcess(child);
    const deadline = Date.now() + timeoutMs;
    while (!run.stdout.includes('\n')) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`npm start exited before it was ready:\n${run.stderr}`);
      if (Date.now() > deadline) {
        run.kill9();
        throw new Error(`npm start not ready after ${timeoutMs} ms:\n${run.stderr}`);
      }
      await sleep(25);
    }
    return { process: run, endpoints: parseReadyLine(run.stdout.split('\n')[0]) };
  }

  /** `kill -9`: no handler runs, nothing is flushed or closed. Resolves once it is gone. */
  async kill9(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
