/**
 * Layout of the broker's single DynamoDB table (a global table with a replica in every
 * fleet region). Every item has a string partition key `pk` and sort key `sk`.
 *
 * | item            | pk                   | sk                 |
 * | --------------- | -------------------- | ------------------ |
 * | instance        | INSTANCE#<id>        | INSTANCE           |
 * | operation       | INSTANCE#<id>        | OPERATION#<opId>   |
 * | binding         | INSTANCE#<id>        | BINDING#<bindId>   |
 * | hostname claim  | HOSTNAME#<fqdn>      | CLAIM              |
 * | claim index     | HOSTNAMES#<eTLD+1>   | <reversed fqdn>#<instanceId> |
 * | route           | ROUTE#<id>           | ROUTE              |
 * | route counter   | COUNTER              | ROUTE_GENERATION   |
 * | region pin      | PIN                  | REGION#<region>    |
 *
 * Routes carry `gsi1pk = "ROUTE"` and a numeric `generation`; the `byGeneration` index
 * (partition `gsi1pk`, sort `generation`) answers "which routes changed since N".
 *
 * Generation rule: a route write first advances the counter atomically
 * (`UpdateItem ADD value 1`, returning the new value N), then puts the route with
 * generation N, conditional on the stored route having a lower generation (so a
 * late, older write never overwrites a newer one). Generations are unique but may
 * commit out of order, and the index and cross-region replication are eventually
 * consistent, so readers re-read a settle window of recent generations and resync in
 * full now and then. (No transactions: the local emulator, dynalite, has none.)
 *
 * Claim index: every claim (and every claim being made) also has an index item in the
 * partition of its registrable domain, sorted by the reversed name (`org.example.api`), so
 * "which names are claimed below example.org" is one Query (`begins_with(sk, 'org.example.')`):
 * how a wildcard finds the names it would cover. The claim item decides who holds a name;
 * an index item without its claim (a claim in the making, or one that lost) counts for nothing.
 *
 * Finished operations carry `expiresAt` (epoch seconds, DynamoDB TTL). TTL deletes
 * lazily, so readers treat an item past `expiresAt` as gone.
 */
import type { RouteDocument } from './route';

export const TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk' } as const;
export const GENERATION_INDEX = { name: 'byGeneration', partitionKey: 'gsi1pk', sortKey: 'generation' } as const;
/** Attribute holding the epoch-seconds expiry of finished operations (DynamoDB TTL). */
export const TTL_ATTRIBUTE = 'expiresAt';

export const ROUTE_INDEX_PARTITION = 'ROUTE';

export const keys = {
  instance: (instanceId: string) => ({ pk: `INSTANCE#${instanceId}`, sk: 'INSTANCE' }),
  operation: (instanceId: string, operationId: string) => ({ pk: `INSTANCE#${instanceId}`, sk: `OPERATION#${operationId}` }),
  binding: (instanceId: string, bindingId: string) => ({ pk: `INSTANCE#${instanceId}`, sk: `BINDING#${bindingId}` }),
  hostname: (fqdn: string) => ({ pk: `HOSTNAME#${fqdn.toLowerCase()}`, sk: 'CLAIM' }),
  /** Index item of a claim: partition per registrable domain, sort key the reversed name and the claimant. */
  claimIndex: (registrableDomain: string, reversedName: string, instanceId: string) => ({ pk: `HOSTNAMES#${registrableDomain}`, sk: `${reversedName}#${instanceId}` }),
  route: (instanceId: string) => ({ pk: `ROUTE#${instanceId}`, sk: 'ROUTE' }),
  routeCounter: () => ({ pk: 'COUNTER', sk: 'ROUTE_GENERATION' }),
  /** An operator's pin of a region's control planes to their last good config (lib/model/convergence.ts RegionPin). */
  pin: (region: string) => ({ pk: 'PIN', sk: `REGION#${region}` }),
} as const;

/**
 * The table item of a route document: its key, the generation index's partition, the
 * document. The one shape of a route item: the broker's store writes it, and tests and
 * benchmarks seed routes with it (test/support/routes.ts).
 */
export function routeItem(route: RouteDocument): Record<string, unknown> {
  return { ...keys.route(route.instanceId), gsi1pk: ROUTE_INDEX_PARTITION, ...route };
}
