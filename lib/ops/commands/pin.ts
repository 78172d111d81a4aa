import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { PIN_PARTITION, RegionPin, keys } from '../../model';
import { OpsError } from '../errors';
import { Target } from '../target';

/** Every region pin in the table. */
export async function readPins(target: Target): Promise<RegionPin[]> {
  const pins: RegionPin[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await target.store.doc.send(
      new QueryCommand({ TableName: target.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': PIN_PARTITION }, ExclusiveStartKey: start }),
    );
    for (const item of out.Items ?? []) pins.push({ region: String(item.region), reason: String(item.reason), since: String(item.since), by: item.by as string | undefined });
    start = out.LastEvaluatedKey;
  } while (start);
  return pins;
}

export interface PinResult {
  readonly pin: RegionPin;
  /** False when the region was already pinned (the existing pin is kept, reason and all). */
  readonly created: boolean;
}

/**
 * Pins a region: its control planes keep serving their last good snapshot and take no new
 * route generation until `unpin`. The item is written once (a second pin keeps the first
 * one's reason and time, and says so).
 */
export async function pinRegion(target: Target, region: string, reason: string, by: string | undefined): Promise<PinResult> {
  const pin: RegionPin = { region, reason, since: new Date().toISOString(), by };
  try {
    await target.store.doc.send(
      new PutCommand({ TableName: target.tableName, Item: { ...keys.pin(region), kind: 'pin', ...pin }, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
    return { pin, created: true };
  } catch (err) {
    if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
    const existing = (await readPins(target)).find((p) => p.region === region);
    if (!existing) throw new OpsError('conflict', `region ${region}: the pin changed while it was being written; run the command again`);
    return { pin: existing, created: false };
  }
}

/** Removes a region's pin: its control planes resume with a full re-read of the routes. */
export async function unpinRegion(target: Target, region: string): Promise<RegionPin | undefined> {
  const out = await target.store.doc.send(new DeleteCommand({ TableName: target.tableName, Key: keys.pin(region), ReturnValues: 'ALL_OLD' }));
  if (!out.Attributes) return undefined;
  const a = out.Attributes;
  return { region, reason: String(a.reason), since: String(a.since), by: a.by as string | undefined };
}
