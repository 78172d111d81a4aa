/**
 * Routes in the broker table for tests and benchmarks, written one way: the item is
 * `routeItem` (lib/model/table.ts, the shape the broker's store writes), and a change goes
 * through the broker's own `BrokerStore.writeRoute` (advance the generation counter, then a
 * put conditional on a lower stored generation). Seeding at chosen generations (a bulk
 * load, a generation committed late) uses `reserveGenerations` and `putRoutes`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BrokerStore } from '../../lib/broker/runtime/store/store';
import { RouteDocument, keys, routeItem } from '../../lib/model';

/** DynamoDB's BatchWriteItem takes at most 25 items a call. */
const BATCH = 25;

/** Writes route changes as the broker's worker does; returns each change's generation. */
export function routeWriter(client: DynamoDBClient, tableName: string): (route: Omit<RouteDocument, 'generation' | 'updatedAt'>) => Promise<number> {
  const store = new BrokerStore(client, tableName);
  return (route) => store.writeRoute(route);
}

/** Advances the generation counter by `count`; returns the first of the generations reserved. */
export async function reserveGenerations(doc: DynamoDBDocumentClient, tableName: string, count: number): Promise<number> {
  const out = await doc.send(
    new UpdateCommand({
      TableName: tableName,
      Key: keys.routeCounter(),
      UpdateExpression: 'ADD #v :n',
      ExpressionAttributeNames: { '#v': 'value' },
      ExpressionAttributeValues: { ':n': count },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return Number(out.Attributes!.value) - count + 1;
}

/** Puts each route as given (its generation included), unconditionally: seeding, or a write committed late. */
export async function putRoutes(doc: DynamoDBDocumentClient, tableName: string, routes: readonly RouteDocument[]): Promise<void> {
  if (routes.length === 1) {
    await doc.send(new PutCommand({ TableName: tableName, Item: routeItem(routes[0]) }));
    return;
  }
  for (let i = 0; i < routes.length; i += BATCH) {
    const items = routes.slice(i, i + BATCH).map((route) => ({ PutRequest: { Item: routeItem(route) } }));
    const out = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: items } }));
    const left = out.UnprocessedItems?.[tableName]?.length ?? 0;
    if (left) throw new Error(`putRoutes: DynamoDB left ${left} of ${items.length} routes unwritten (routes ${i} to ${i + items.length - 1})`);
  }
}
