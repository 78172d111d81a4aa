import { readFile, stat } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GENERATION_INDEX, ROUTE_INDEX_PARTITION, RegionPin, RouteDocument, keys, pinFromItem } from '../../model';
import { ContextSource, PlatformSettings, normaliseStaticRoute, parseContextDocument } from './context';

export interface DynamoRouteSourceOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly intervalMs: number;
  /** Generations first seen within this window are re-read on the next polls (out-of-order commits, index lag). */
  readonly settleMs?: number;
  /** A full re-read of every route this often. */
  readonly fullResyncMs?: number;
  readonly now?: () => number;
  /**
   * The region this control plane serves: its operator pin (`keys.pin(region)`) is read
   * before every poll. Unset: pins are not looked at.
   */
  readonly region?: string;
}

/**
 * The broker's routes, read incrementally from the `byGeneration` index: each poll asks
 * for generations above a settled cursor (the highest generation seen at least `settleMs`
 * ago), so a route committed late with a lower generation is still picked up; a full
 * re-read runs every `fullResyncMs`. Tombstones are kept (they win over older writes and
 * remove the route from what is served).
 *
 * Pinning: while the region's PIN item exists, a poll reads only the pin and changes
 * nothing, so the control plane keeps serving (and persisting) the context it had, and a
 * task that starts pinned never loads: it serves its persisted last good snapshot. The pin
 * is read before the routes on every poll, so once a task sees it no later generation gets
 * in. After an unpin the next poll is a full resync.
 */
export class DynamoRouteSource implements ContextSource {
  readonly name = 'dynamodb';
  readonly intervalMs: number;
  loaded = false;
  private readonly doc: DynamoDBDocumentClient;
  private readonly byInstance = new Map<string, RouteDocument>();
  /** [time first seen, highest generation known at that time] */
  private readonly seen: Array<[number, number]> = [];
  private maxGeneration = 0;
  private settled = 0;
  private lastFullAt = 0;
  private readonly now: () => number;
  private pin?: RegionPin;

  constructor(private readonly options: DynamoRouteSourceOptions) {
    this.intervalMs = options.intervalMs;
    this.doc = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.now = options.now ?? Date.now;
  }

  routes(): readonly RouteDocument[] {
    return [...this.byInstance.values()];
  }

  settings(): Partial<PlatformSettings> {
    return {};
  }

  generation(): number {
    return this.maxGeneration;
  }

  /** The operator pin this source obeys right now (as of its last poll). */
  pinned(): RegionPin | undefined {
    return this.pin;
  }

  /** Reads the region's pin; true while the region is pinned. */
  private async checkPin(): Promise<boolean> {
    const region = this.options.region;
    if (!region) return false;
    const out = await this.doc.send(new GetCommand({ TableName: this.options.tableName, Key: keys.pin(region) }));
    const wasPinned = this.pin !== undefined;
    this.pin = out.Item ? { ...pinFromItem(out.Item), region } : undefined;
    // Resume with a full re-read: what changed while pinned is picked up whatever its generation.
    if (wasPinned && !this.pin) this.lastFullAt = 0;
    return this.pin !== undefined;
  }

  /** The cursor below which every generation is considered settled. */
  private settledCursor(): number {
    const cutoff = this.now() - (this.options.settleMs ?? 5000);
    while (this.seen.length > 0 && this.seen[0][0] <= cutoff) this.settled = this.seen.shift()![1];
    return this.settled;
  }

  /** Every route with a generation above `from`, all pages. */
  private async readRoutes(from: number): Promise<RouteDocument[]> {
    const items: RouteDocument[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page: QueryCommandOutput = await this.doc.send(
        new QueryCommand({
          TableName: this.options.tableName,
          IndexName: GENERATION_INDEX.name,
          KeyConditionExpression: '#p = :p AND #g > :g',
          ExpressionAttributeNames: { '#p': GENERATION_INDEX.partitionKey, '#g': GENERATION_INDEX.sortKey },
          ExpressionAttributeValues: { ':p': ROUTE_INDEX_PARTITION, ':g': from },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) items.push(item as unknown as RouteDocument);
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  async refresh(): Promise<boolean> {
    // While pinned only the pin is read. Otherwise the pin and the routes are read side by
    // side (one round trip per poll, as without pins) and the routes dropped if a pin appeared.
    if (this.pin && (await this.checkPin())) return false;
    const full = !this.loaded || this.lastFullAt === 0 || this.now() - this.lastFullAt >= (this.options.fullResyncMs ?? 300_000);
    const from = full ? -1 : this.settledCursor();
    const [pinned, items] = await Promise.all([this.pin ? false : this.checkPin(), this.readRoutes(from)]);
    if (pinned) return false;

    let changed = false;
    if (full) {
      const fresh = new Map<string, RouteDocument>();
      for (const item of items) {
        const prior = fresh.get(item.instanceId);
        if (!prior || prior.generation < item.generation) fresh.set(item.instanceId, item);
      }
      if (fresh.size !== this.byInstance.size) changed = true;
      for (const [id, item] of fresh) if (this.byInstance.get(id)?.generation !== item.generation) changed = true;
      this.byInstance.clear();
      for (const [id, item] of fresh) this.byInstance.set(id, item);
      this.lastFullAt = this.now();
    } else {
      for (const item of items) {
        const prior = this.byInstance.get(item.instanceId);
        if (prior && prior.generation >= item.generation) continue;
        this.byInstance.set(item.instanceId, item);
        changed = true;
      }
    }
    for (const item of items) this.maxGeneration = Math.max(this.maxGeneration, Number(item.generation));
    this.seen.push([this.now(), this.maxGeneration]);
    this.loaded = true;
    return changed || full;
  }
}

interface DocumentSourceState {
  routes: RouteDocument[];
  settings: Partial<PlatformSettings>;
}

abstract class DocumentSource implements ContextSource {
  loaded = false;
  protected state: DocumentSourceState = { routes: [], settings: {} };
  constructor(
    readonly name: string,
    readonly intervalMs: number,
    private readonly region: string,
  ) {}
  routes(): readonly RouteDocument[] {
    return this.state.routes;
  }
  settings(): Partial<PlatformSettings> {
    return this.state.settings;
  }
  protected apply(text: string, origin: string): boolean {
    const doc = parseContextDocument(text, origin);
    const next = { routes: (doc.routes ?? []).map((r) => normaliseStaticRoute(r, this.region)), settings: doc.settings ?? {} };
    const changed = JSON.stringify(next) !== JSON.stringify(this.state);
    this.state = next;
    this.loaded = true;
    return changed;
  }
  abstract refresh(): Promise<boolean>;
}

/** S3 answers a conditional GET of an unchanged object with 304 Not Modified (an error to the SDK). */
function isNotModified(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotModified' || e.$metadata?.httpStatusCode === 304;
}

/** A JSON context document in S3 (`{settings, routes}`), re-read when its ETag changes. */
export class S3DocumentSource extends DocumentSource {
  private etag?: string;
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    intervalMs: number,
    region: string,
  ) {
    super('s3', intervalMs, region);
  }
  async refresh(): Promise<boolean> {
    let out;
    try {
      // Conditional: an unchanged document costs a 304, not a download, on every poll.
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key, IfNoneMatch: this.loaded ? this.etag : undefined }));
    } catch (err) {
      if (this.loaded && isNotModified(err)) return false;
      throw err;
    }
    if (this.loaded && out.ETag && out.ETag === this.etag) {
      await out.Body?.transformToString();
      return false;
    }
    const text = (await out.Body?.transformToString()) ?? '';
    const changed = this.apply(text, `s3://${this.bucket}/${this.key}`);
    this.etag = out.ETag;
    return changed;
  }
}

/** A JSON context document on the local disk (`{settings, routes}`), re-read when it changes. */
export class FileDocumentSource extends DocumentSource {
  private mtime = -1;
  constructor(
    private readonly path: string,
    intervalMs: number,
    region: string,
  ) {
    super('file', intervalMs, region);
  }
  async refresh(): Promise<boolean> {
    const info = await stat(this.path);
    if (this.loaded && info.mtimeMs === this.mtime) return false;
    const changed = this.apply(await readFile(this.path, 'utf8'), this.path);
    this.mtime = info.mtimeMs;
    return changed;
  }
}
