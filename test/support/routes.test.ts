/**
 * The one way tests and benchmarks write routes (test/support/routes.ts), against the table
 * layout lib/model/table.ts documents: item `ROUTE#<id>` / `ROUTE` with `gsi1pk = "ROUTE"`,
 * found by generation through the `byGeneration` index; a change advances the counter first.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LocalEmulators, ensureBrokerTable, localClientConfig, startEmulators } from '../../lib/local/emulators';
import { RouteDocument } from '../../lib/model';
import { putRoutes, reserveGenerations, routeWriter } from './routes';

const TABLE = 'support-routes';
let emulators: LocalEmulators;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  emulators = await startEmulators();
  client = new DynamoDBClient(localClientConfig(emulators.dynamodbEndpoint));
  await ensureBrokerTable(client, TABLE);
  doc = DynamoDBDocumentClient.from(client);
});
afterAll(async () => {
  client?.destroy();
  await emulators?.stop();
});

const spec = (host: string) => ({ hostnames: [host], backends: [{ address: '10.0.0.1', port: 80, protocol: 'http' as const }], regions: ['us-east-1'] });
const route = (id: string, generation: number, deleted = false): RouteDocument => ({ instanceId: id, plan: 'standard', generation, deleted, spec: spec(`${id}.edge.example.com`), updatedAt: '2026-12-05T00:00:00.000Z' });

async function changedSince(generation: number): Promise<Array<[string, number]>> {
  const out = await doc.send(
    new QueryCommand({ TableName: TABLE, IndexName: 'byGeneration', KeyConditionExpression: 'gsi1pk = :p AND generation > :g', ExpressionAttributeValues: { ':p': 'ROUTE', ':g': generation } }),
  );
  return (out.Items ?? []).map((i) => [i.instanceId as string, i.generation as number]);
}

test('seeding: generations reserved in one step, routes put as given (more than one batch of 25)', async () => {
  const first = await reserveGenerations(doc, TABLE, 30);
  const second = await reserveGenerations(doc, TABLE, 1);
  expect(second).toBe(first + 30);
  await putRoutes(doc, TABLE, Array.from({ length: 30 }, (_, i) => route(`seed-${i}`, first + i)));
  const item = (await doc.send(new GetCommand({ TableName: TABLE, Key: { pk: 'ROUTE#seed-7', sk: 'ROUTE' } }))).Item;
  expect(item).toEqual({ pk: 'ROUTE#seed-7', sk: 'ROUTE', gsi1pk: 'ROUTE', ...route('seed-7', first + 7) });
  const seen = await changedSince(first - 1);
  expect(seen).toHaveLength(30);
  expect(seen[29]).toEqual(['seed-29', first + 29]);
});

test('a change as the broker writes it: the next generation, and never over a newer route', async () => {
  const write = routeWriter(client, TABLE);
  const before = await reserveGenerations(doc, TABLE, 1);
  const generation = await write({ instanceId: 'live', plan: 'standard', deleted: false, spec: spec('live.edge.example.com') });
  expect(generation).toBe(before + 1);
  expect(await changedSince(before)).toEqual([['live', generation]]);
  // A newer route committed first (here: put at a far generation) is not overwritten by an older write.
  await putRoutes(doc, TABLE, [route('live', generation + 1000)]);
  await write({ instanceId: 'live', plan: 'standard', deleted: true, spec: spec('live.edge.example.com') });
  const item = (await doc.send(new GetCommand({ TableName: TABLE, Key: { pk: 'ROUTE#live', sk: 'ROUTE' } }))).Item;
  expect(item).toMatchObject({ generation: generation + 1000, deleted: false });
});
