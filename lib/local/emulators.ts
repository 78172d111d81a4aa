import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Server } from 'node:http';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { GENERATION_INDEX, TABLE_KEYS } from '../model/table';
import { Listening, listen } from '../shared/listen';

/** The region and dummy credentials every local SDK client uses. */
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Options for an AWS SDK v3 client that talks to a local emulator. */
export function localClientConfig(endpoint: string) {
  return { endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 3 };
}

export interface LocalEmulators {
  /** DynamoDB API (dynalite). */
  readonly dynamodbEndpoint: string;
  /** SQS and S3 APIs (fauxqs). */
  readonly sqsEndpoint: string;
  readonly s3Endpoint: string;
  /**
   * Stops the DynamoDB emulator (fault tests): its port refuses connections and its
   * LevelDB store is closed. Needs a data dir (an in-memory store would be lost).
   */
  stopDynamodb(): Promise<void>;
  /** Starts the DynamoDB emulator again on the same port, reopening the same data dir. */
  startDynamodb(): Promise<void>;
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  /** Where DynamoDB state persists (LevelDB); unset: in memory. */
  readonly dataDir?: string;
  /** 0 (default): any free port. */
  readonly dynamodbPort?: number;
  readonly sqsPort?: number;
}

interface FauxqsServer {
  readonly address: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts dynalite (DynamoDB) and fauxqs (SQS, S3) on loopback. fauxqs keeps state in
 * memory only: the table is the source of truth and the queue only a wake-up, so after
 * a restart the local platform re-enqueues operations still in progress.
 */
export async function startEmulators(options: EmulatorOptions = {}): Promise<LocalEmulators> {
  const dynaliteOptions: Record<string, unknown> = { createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 };
  if (options.dataDir) {
    const path = join(options.dataDir, 'dynamodb');
    mkdirSync(path, { recursive: true });
    dynaliteOptions.path = path;
  }
  // dynalite ships no types; it returns a plain http.Server.
  const dynalite = (require('dynalite') as (opts: Record<string, unknown>) => Server)(dynaliteOptions);
  let dynaliteServer: Listening | undefined = await listen(dynalite, options.dynamodbPort ?? 0);
  const dynamodbPort = dynaliteServer.port;
  const dynamodbEndpoint = `http://127.0.0.1:${dynamodbPort}`;
  const stopDynalite = async () => {
    const running = dynaliteServer;
    dynaliteServer = undefined;
    await running?.stop();
  };

  let fauxqs: FauxqsServer;
  try {
    // fauxqs ships ESM only, hence the dynamic import.
    const { startFauxqs } = (await import('fauxqs')) as unknown as { startFauxqs(o: Record<string, unknown>): Promise<FauxqsServer> };
    fauxqs = await startFauxqs({ port: options.sqsPort ?? 0, host: '127.0.0.1', logger: false, defaultRegion: LOCAL_REGION });
  } catch (err) {
    await stopDynalite();
    throw err;
  }
  const sqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;
  return {
    dynamodbEndpoint,
    sqsEndpoint,
    s3Endpoint: sqsEndpoint,
    async stopDynamodb() {
      if (!options.dataDir) throw new Error('stopDynamodb: the emulators were started without a data dir; an in-memory DynamoDB would lose its state');
      // dynalite's close() waits for pending writes, then closes LevelDB; its next listen() reopens it.
      await stopDynalite();
    },
    async startDynamodb() {
      if (dynaliteServer) return;
      dynaliteServer = await listen(dynalite, dynamodbPort);
    },
    async stop() {
      await Promise.allSettled([fauxqs.stop(), stopDynalite()]);
    },
  };
}

/**
 * Creates the broker table with the layout of `lib/model/table.ts` (the same keys and
 * index as the CDK table), if it does not exist yet.
 */
export async function ensureBrokerTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: TABLE_KEYS.partitionKey, AttributeType: 'S' },
          { AttributeName: TABLE_KEYS.sortKey, AttributeType: 'S' },
          { AttributeName: GENERATION_INDEX.partitionKey, AttributeType: 'S' },
          { AttributeName: GENERATION_INDEX.sortKey, AttributeType: 'N' },
        ],
        KeySchema: [
          { AttributeName: TABLE_KEYS.partitionKey, KeyType: 'HASH' },
          { AttributeName: TABLE_KEYS.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: GENERATION_INDEX.name,
            KeySchema: [
              { AttributeName: GENERATION_INDEX.partitionKey, KeyType: 'HASH' },
              { AttributeName: GENERATION_INDEX.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  for (let i = 0; i < 100; i++) {
    const table = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (table.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`table ${tableName} did not become ACTIVE`);
}
