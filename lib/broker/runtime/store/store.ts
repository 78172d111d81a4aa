import { randomBytes } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  QueryCommandInput,
  UpdateCommand,
  paginateQuery,
  paginateScan,
} from '@aws-sdk/lib-dynamodb';
import {
  CONVERGENCE_PARTITION,
  ConvergenceReport,
  PIN_PARTITION,
  RegionPin,
  RouteDocument,
  coveringWildcards,
  isWildcard,
  keys,
  pinFromItem,
  registrableDomain,
  reversedName,
  routeItem,
  wildcardBase,
} from '../../../model';
import { BindingRecord, InstanceRecord, InstanceResources, OperationRecord } from './types';

/** Time-ordered, unique operation ids: the newest operation of an instance sorts last. */
export function newOperationId(now = Date.now()): string {
  return `op-${now.toString(36).padStart(9, '0')}-${randomBytes(4).toString('hex')}`;
}

export function isConditionFailure(err: unknown): boolean {
  return err instanceof ConditionalCheckFailedException || (err as { name?: string })?.name === 'ConditionalCheckFailedException';
}

const nowIso = () => new Date().toISOString();

/**
 * Guards a write on the operation's step progress: it applies only while exactly
 * `completedCount` steps are completed and, with `freeAt` (epoch ms), no worker's lease on
 * a step runs past `freeAt`. This is how a duplicated message never runs a step twice.
 */
export interface StepGuard {
  readonly completedCount: number;
  readonly freeAt?: number;
}

/**
 * Why a name cannot be claimed: another instance holds it (`taken`), holds a wildcard that
 * covers it (`covered`, by that wildcard), or holds a name this wildcard would cover
 * (`covers`, that name). It never says who the other instance is.
 */
export type HostnameConflict =
  | { readonly kind: 'taken' }
  | { readonly kind: 'covered'; readonly by: string }
  | { readonly kind: 'covers'; readonly name: string };

/** Whether a claim was won, and if not why (`ownedBy`: the holder of a taken name, for logs and tests only). */
export type ClaimResult = { readonly claimed: true } | { readonly claimed: false; readonly conflict: HostnameConflict; readonly ownedBy?: string };

const claimIndexKey = (name: string, instanceId: string) => keys.claimIndex(registrableDomain(name), reversedName(name), instanceId);

/**
 * The broker's table (layout in lib/model/table.ts) through the DocumentClient. Every
 * write that could race is conditional; nothing here reads-then-writes.
 */
export class BrokerStore {
  readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  /**
   * Sends a conditional write: true if it was applied, false if its condition failed
   * (any other error is thrown).
   */
  private async conditionalWrite(command: PutCommand | UpdateCommand | DeleteCommand): Promise<boolean> {
    try {
      // send() is overloaded per command class; a union argument matches none of the overloads.
      await this.doc.send(command as UpdateCommand);
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  // ---- instances -------------------------------------------------------------------

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.instance(instanceId), ConsistentRead: true }));
    return out.Item ? (strip(out.Item) as unknown as InstanceRecord) : undefined;
  }

  /** Creates an instance unless one exists (a tombstone of a deleted one may be replaced). */
  async createInstance(instance: InstanceRecord): Promise<boolean> {
    return this.conditionalWrite(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.instance(instance.instanceId), kind: 'instance', ...instance },
        ConditionExpression: 'attribute_not_exists(pk) OR #state = :deleted',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':deleted': 'deleted' },
      }),
    );
  }

  /**
   * Makes `operationId` the instance's current operation, if the instance is still in
   * the state the caller saw: `expectedCurrent` undefined means "no operation running".
   */
  async startOperation(instanceId: string, operationId: string, expectedCurrent: string | undefined, allowedStates: readonly string[]): Promise<boolean> {
    const values: Record<string, unknown> = { ':op': operationId, ':now': nowIso() };
    const stateChecks = allowedStates.map((s, i) => {
      values[`:s${i}`] = s;
      return `#state = :s${i}`;
    });
    let condition = `attribute_exists(pk) AND (${stateChecks.join(' OR ')})`;
    if (expectedCurrent) {
      values[':expected'] = expectedCurrent;
      condition += ' AND currentOperationId = :expected';
    } else {
      condition += ' AND attribute_not_exists(currentOperationId)';
    }
    return this.conditionalWrite(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.instance(instanceId),
        UpdateExpression: 'SET currentOperationId = :op, lastOperationId = :op, updatedAt = :now',
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: values,
      }),
    );
  }

  /**
   * Ends the instance's current operation `operationId` and sets the given fields, only
   * if that operation is still the current one (a superseded operation changes nothing).
   */
  async finishInstanceOperation(instanceId: string, operationId: string, fields: Partial<InstanceRecord>): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':op': operationId, ':now': nowIso() };
    const sets = ['updatedAt = :now', ...setClauses(fields, names, values)];
    return this.conditionalWrite(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.instance(instanceId),
        UpdateExpression: `SET ${sets.join(', ')} REMOVE currentOperationId`,
        ConditionExpression: 'currentOperationId = :op',
        ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /** Records cloud resources on the instance the moment they exist (undefined removes). */
  async setResources(instanceId: string, resources: Partial<Record<keyof InstanceResources, unknown>>): Promise<void> {
    const names: Record<string, string> = { '#r': 'resources' };
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    for (const [key, value] of Object.entries(resources)) {
      names[`#${key}`] = key;
      if (value === undefined) removes.push(`#r.#${key}`);
      else {
        values[`:${key}`] = value;
        sets.push(`#r.#${key} = :${key}`);
      }
    }
    if (!sets.length && !removes.length) return;
    const expression = [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : ''].join(' ').trim();
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.instance(instanceId),
        UpdateExpression: expression,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: Object.keys(values).length ? values : undefined,
      }),
    );
  }

  // ---- operations ------------------------------------------------------------------

  async putOperation(operation: OperationRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.operation(operation.instanceId, operation.operationId), kind: 'operation', ...operation },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /** An operation, or undefined if unknown or past its TTL (DynamoDB deletes lazily). */
  async getOperation(instanceId: string, operationId: string): Promise<OperationRecord | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.operation(instanceId, operationId), ConsistentRead: true }));
    return live(out.Item);
  }

  async latestOperation(instanceId: string): Promise<OperationRecord | undefined> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :op)',
        ExpressionAttributeValues: { ':pk': keys.instance(instanceId).pk, ':op': 'OPERATION#' },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    return live(out.Items?.[0]);
  }

  /**
   * Updates an operation still in progress; returns false if it has finished meanwhile
   * (a redelivered message never rewrites a finished operation).
   */
  async updateOperation(instanceId: string, operationId: string, fields: Partial<OperationRecord>, guard?: StepGuard): Promise<boolean> {
    const names: Record<string, string> = { '#state': 'state' };
    const values: Record<string, unknown> = { ':running': 'in progress', ':now': nowIso() };
    const { updatedAt: _ignored, ...rest } = fields;
    const sets = ['updatedAt = :now', ...setClauses(rest, names, values)];
    let condition = '#state = :running';
    if (guard) {
      values[':completed'] = guard.completedCount;
      condition += ' AND size(completedSteps) = :completed';
      if (guard.freeAt !== undefined) {
        values[':free'] = guard.freeAt;
        condition += ' AND (attribute_not_exists(busyUntil) OR busyUntil <= :free)';
      }
    }
    return this.conditionalWrite(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.operation(instanceId, operationId),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /**
   * Marks a worker inside a step (until `busyUntil`, epoch ms; 0 clears it) of the operation, whatever the operation's
   * state: a deprovision that cancelled it waits for the step to end before cleaning up.
   */
  async setOperationLease(instanceId: string, operationId: string, busyUntil: number): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.operation(instanceId, operationId),
        UpdateExpression: 'SET busyUntil = :b',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':b': busyUntil },
      }),
    );
  }

  /**
   * Records that the sweeper re-enqueued an operation it found silent, only if the
   * operation is still in progress and unchanged since the sweeper read it (`updatedAt`):
   * of two sweeps, or a sweep racing the worker, at most one sends the message.
   */
  async markSwept(operation: Pick<OperationRecord, 'instanceId' | 'operationId' | 'updatedAt' | 'lastSweptAt'>, at = Date.now()): Promise<boolean> {
    const values: Record<string, unknown> = { ':running': 'in progress', ':seen': operation.updatedAt, ':now': new Date(at).toISOString(), ':zero': 0, ':one': 1 };
    let condition = '#state = :running AND updatedAt = :seen AND ';
    if (operation.lastSweptAt) {
      values[':swept'] = operation.lastSweptAt;
      condition += 'lastSweptAt = :swept';
    } else condition += 'attribute_not_exists(lastSweptAt)';
    return this.conditionalWrite(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.operation(operation.instanceId, operation.operationId),
        UpdateExpression: 'SET lastSweptAt = :now, sweeps = if_not_exists(sweeps, :zero) + :one',
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: values,
      }),
    );
  }

  /**
   * Operations still in progress (the local broker re-enqueues them on start; the sweeper
   * looks for lost messages). A paginated Scan: operations live under their instance's
   * partition and no index lists them by state (see docs/broker.md, "Sweeper").
   */
  async operationsInProgress(): Promise<OperationRecord[]> {
    const found: OperationRecord[] = [];
    const pages = paginateScan(
      { client: this.doc },
      {
        TableName: this.tableName,
        FilterExpression: 'kind = :op AND #state = :running',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':op': 'operation', ':running': 'in progress' },
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) found.push(strip(item) as unknown as OperationRecord);
    return found;
  }

  /**
   * Instances with a CloudFront distribution (the cdn origin secret's rotation updates them):
   * a paginated Scan, run once per rotation (every 30 days).
   */
  async instancesWithDistributions(): Promise<InstanceRecord[]> {
    const found: InstanceRecord[] = [];
    const pages = paginateScan(
      { client: this.doc },
      {
        TableName: this.tableName,
        FilterExpression: 'kind = :instance AND attribute_exists(#r.#d)',
        ExpressionAttributeNames: { '#r': 'resources', '#d': 'distributionId' },
        ExpressionAttributeValues: { ':instance': 'instance' },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) found.push(strip(item) as unknown as InstanceRecord);
    return found;
  }

  /** Every operation of an instance still on record (finished ones expire), oldest first. */
  async operationsOf(instanceId: string): Promise<OperationRecord[]> {
    return (await this.queryAll(keys.instance(instanceId).pk, 'OPERATION#')).map((item) => strip(item) as unknown as OperationRecord);
  }

  /**
   * Every item of partition `pk` (with a sort key starting with `skPrefix`), all pages (one
   * Query stops at 1 MB). Strongly consistent for an instance's own items.
   */
  private async queryAll(pk: string, skPrefix?: string, consistent = true): Promise<Record<string, unknown>[]> {
    const input: QueryCommandInput = skPrefix
      ? { TableName: this.tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)', ExpressionAttributeValues: { ':pk': pk, ':prefix': skPrefix }, ConsistentRead: consistent }
      : { TableName: this.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ConsistentRead: consistent };
    const items: Record<string, unknown>[] = [];
    for await (const page of paginateQuery({ client: this.doc }, input)) items.push(...(page.Items ?? []));
    return items;
  }

  // ---- hostname claims -------------------------------------------------------------

  /**
   * Claims a hostname for an instance: exactly one instance wins a name (one conditional
   * write), and a wildcard and the names it covers never belong to two instances.
   *
   * The second rule spans items, and DynamoDB (dynalite here) gives no transaction across
   * them, so each side writes first and looks second: the claimant writes its index item
   * and its claim, then reads (strongly consistent) the wildcards that would cover its name
   * and, for a wildcard, the claims below it. Of two instances racing for a wildcard and a
   * name under it, the later reader always sees the earlier writer, so at least one of them
   * finds the other and gives its claim back (both may, then both retry): never both win.
   */
  async claimHostname(hostname: string, instanceId: string, attemptsLeft = 3): Promise<ClaimResult> {
    const name = hostname.toLowerCase();
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { ...claimIndexKey(name, instanceId), kind: 'claim-index', hostname: name, instanceId } }));
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...keys.hostname(name), kind: 'claim', hostname: name, instanceId, claimedAt: nowIso() },
          ConditionExpression: 'attribute_not_exists(pk) OR instanceId = :me',
          ExpressionAttributeValues: { ':me': instanceId },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const owner = await this.hostnameOwner(name);
      // Released between our write and this read: try again (a name flapping between owners
      // that long is an error the worker retries, not a loop).
      if (!owner) {
        if (attemptsLeft <= 1) throw new Error(`hostname ${name}: claimed and released by others while claiming it; try again`);
        return this.claimHostname(name, instanceId, attemptsLeft - 1);
      }
      await this.deleteClaimIndex(name, instanceId);
      return { claimed: false, conflict: { kind: 'taken' }, ownedBy: owner };
    }
    const conflict = await this.coverageConflict(name, instanceId);
    if (conflict) {
      await this.releaseHostname(name, instanceId);
      return { claimed: false, conflict };
    }
    return { claimed: true };
  }

  async hostnameOwner(hostname: string): Promise<string | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.hostname(hostname), ConsistentRead: true }));
    return out.Item?.instanceId as string | undefined;
  }

  /**
   * Why `instanceId` may not hold `hostname` now, or undefined: another instance holds the
   * name, a wildcard covering it, or (for a wildcard) a name it would cover. Read-only: the
   * API's fast answer and the worker's check while an owner proves control; the claim decides.
   */
  async hostnameConflict(hostname: string, instanceId: string): Promise<HostnameConflict | undefined> {
    const name = hostname.toLowerCase();
    const owner = await this.hostnameOwner(name);
    if (owner && owner !== instanceId) return { kind: 'taken' };
    return this.coverageConflict(name, instanceId);
  }

  /** A wildcard another instance holds over `name`, or (for a wildcard) a name below it another instance holds. */
  private async coverageConflict(name: string, instanceId: string): Promise<HostnameConflict | undefined> {
    for (const wildcard of coveringWildcards(name)) {
      const owner = await this.hostnameOwner(wildcard);
      if (owner && owner !== instanceId) return { kind: 'covered', by: wildcard };
    }
    if (!isWildcard(name)) return undefined;
    const base = wildcardBase(name);
    const below = await this.queryAll(claimIndexKey(base, '').pk, `${reversedName(base)}.`);
    for (const item of below) {
      if (item.instanceId === instanceId) continue;
      const other = String(item.hostname);
      // An index item counts only with its claim: it may be a claim in the making, or one that lost.
      const owner = await this.hostnameOwner(other);
      if (owner && owner !== instanceId) return { kind: 'covers', name: other };
    }
    return undefined;
  }

  /** Releases a claim only if this instance holds it (and its index item). */
  async releaseHostname(hostname: string, instanceId: string): Promise<void> {
    const name = hostname.toLowerCase();
    await this.conditionalWrite(
      new DeleteCommand({
        TableName: this.tableName,
        Key: keys.hostname(name),
        ConditionExpression: 'instanceId = :me',
        ExpressionAttributeValues: { ':me': instanceId },
      }),
    );
    await this.deleteClaimIndex(name, instanceId);
  }

  private async deleteClaimIndex(name: string, instanceId: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: claimIndexKey(name, instanceId) }));
  }

  /**
   * The instance's token for proving control of its own domains (the TXT challenge), made
   * once and kept for the instance's life: a repeated step, or a later update, asks the team
   * for the same record. A re-provisioned id gets a new one (the instance item is replaced).
   */
  async ownershipToken(instanceId: string): Promise<string> {
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.instance(instanceId),
        UpdateExpression: 'SET ownershipToken = if_not_exists(ownershipToken, :t)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':t': randomBytes(16).toString('hex') },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return String(out.Attributes?.ownershipToken);
  }

  // ---- routes ----------------------------------------------------------------------

  /** Advances the generation counter and writes the route (or its tombstone) with it. */
  async writeRoute(route: Omit<RouteDocument, 'generation' | 'updatedAt'>): Promise<number> {
    const counter = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.routeCounter(),
        UpdateExpression: 'ADD #v :one',
        ExpressionAttributeNames: { '#v': 'value' },
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const generation = Number(counter.Attributes?.value);
    // A condition failure means a newer write already landed: ours is stale by construction, nothing to do.
    await this.conditionalWrite(
      new PutCommand({
        TableName: this.tableName,
        Item: routeItem({ ...route, generation, updatedAt: nowIso() }),
        ConditionExpression: 'attribute_not_exists(pk) OR generation < :g',
        ExpressionAttributeValues: { ':g': generation },
      }),
    );
    return generation;
  }

  async getRoute(instanceId: string): Promise<RouteDocument | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.route(instanceId), ConsistentRead: true }));
    return out.Item ? (strip(out.Item) as unknown as RouteDocument) : undefined;
  }

  // ---- convergence reports ---------------------------------------------------------

  /**
   * Every control plane task's latest report (one small item per task in every region;
   * readers drop stale ones). Written by the control planes in their regions and
   * replicated here by the global table.
   */
  async convergenceReports(): Promise<ConvergenceReport[]> {
    return (await this.queryAll(CONVERGENCE_PARTITION, undefined, false)).map((item) => {
      const report = strip(item) as unknown as ConvergenceReport;
      // Tolerate a writer that leaves out empty lists and maps.
      return { ...report, ackedGenerations: report.ackedGenerations ?? [], rejected: report.rejected ?? {} };
    });
  }

  /** Every region pin (`npm run ops -- pin`). */
  async regionPins(): Promise<RegionPin[]> {
    return (await this.queryAll(PIN_PARTITION, undefined, false)).map(pinFromItem);
  }

  /** Writes a region's pin unless the region is already pinned; false if it was. */
  async putRegionPin(pin: RegionPin): Promise<boolean> {
    return this.conditionalWrite(new PutCommand({ TableName: this.tableName, Item: { ...keys.pin(pin.region), kind: 'pin', ...pin }, ConditionExpression: 'attribute_not_exists(pk)' }));
  }

  /** Removes a region's pin; the pin it removed, or undefined if there was none. */
  async deleteRegionPin(region: string): Promise<RegionPin | undefined> {
    const out = await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: keys.pin(region), ReturnValues: 'ALL_OLD' }));
    return out.Attributes ? { ...pinFromItem(out.Attributes), region } : undefined;
  }

  /**
   * Makes `operationId` the instance's last operation, only while no operation is under way
   * (an operator's record of what they did); false if one started meanwhile.
   */
  async recordLastOperation(instanceId: string, operationId: string): Promise<boolean> {
    return this.conditionalWrite(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.instance(instanceId),
        UpdateExpression: 'SET lastOperationId = :op, updatedAt = :now',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(currentOperationId)',
        ExpressionAttributeValues: { ':op': operationId, ':now': nowIso() },
      }),
    );
  }

  // ---- bindings --------------------------------------------------------------------

  async getBinding(instanceId: string, bindingId: string): Promise<BindingRecord | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.binding(instanceId, bindingId), ConsistentRead: true }));
    return out.Item ? (strip(out.Item) as unknown as BindingRecord) : undefined;
  }

  async createBinding(binding: BindingRecord): Promise<boolean> {
    return this.conditionalWrite(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.binding(binding.instanceId, binding.bindingId), kind: 'binding', ...binding },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async deleteBinding(instanceId: string, bindingId: string): Promise<boolean> {
    const out = await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: keys.binding(instanceId, bindingId), ReturnValues: 'ALL_OLD' }));
    return Boolean(out.Attributes);
  }

  async deleteBindings(instanceId: string): Promise<void> {
    for (const item of await this.queryAll(keys.instance(instanceId).pk, 'BINDING#')) {
      await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: item.pk, sk: item.sk } }));
    }
  }
}

/** `#key = :key` clauses for every defined field, adding the names and values they use. */
function setClauses(fields: object, names: Record<string, string>, values: Record<string, unknown>): string[] {
  const sets: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    names[`#${key}`] = key;
    values[`:${key}`] = value;
    sets.push(`#${key} = :${key}`);
  }
  return sets;
}

function strip(item: Record<string, unknown>): Record<string, unknown> {
  const { pk: _pk, sk: _sk, kind: _kind, gsi1pk: _g, ...rest } = item;
  return rest;
}

function live(item: Record<string, unknown> | undefined): OperationRecord | undefined {
  if (!item) return undefined;
  const expiresAt = item.expiresAt as number | undefined;
  if (expiresAt !== undefined && expiresAt * 1000 <= Date.now()) return undefined;
  return strip(item) as unknown as OperationRecord;
}
