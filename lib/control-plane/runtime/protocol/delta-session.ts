import { createHash } from 'node:crypto';
import { Writer } from 'protobufjs';
import { ResourceKind, messageType } from '../protos';
import { SharedResponse, TypeSnapshot } from '../snapshot';
import { StreamRequest, StreamSession, TypeState } from './stream';

/**
 * Delta types whose first request with no names subscribes to everything: LDS/CDS (legacy
 * wildcard), and VHDS, which older Envoys start with no names (newer ones name the route
 * configuration, see `wantedVirtualHost`).
 */
const DELTA_WILDCARD: ReadonlySet<ResourceKind> = new Set(['listeners', 'clusters', 'virtualHosts']);

export interface DeltaDiscoveryRequest extends StreamRequest {
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
}

const deltaRequestType = () => messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');

/** Decodes a DeltaDiscoveryRequest (small: a Delta request carries only changes). */
export function decodeDeltaRequest(buffer: Buffer): DeltaDiscoveryRequest {
  const type = deltaRequestType();
  return type.toObject(type.decode(buffer), { longs: Number, enums: String, defaults: false, arrays: true }) as DeltaDiscoveryRequest;
}

/**
 * Whether a Delta stream subscribed to a VHDS virtual host: by its own name, or by the name of
 * its route configuration (Envoy's VHDS subscription starts with the route configuration's
 * name; resources are named `<route configuration name>/<host entry>`, to be matched from the
 * right since a route configuration name may hold slashes).
 */
function wantedVirtualHost(names: ReadonlySet<string>, name: string): boolean {
  const slash = name.lastIndexOf('/');
  return slash > 0 && names.has(name.slice(0, slash));
}

/**
 * A Delta subscription, interned: nodes that send the same requests share one object. A
 * change (names subscribed and unsubscribed) is memoised per subscription, so thousands of
 * nodes asking for the same ten thousand names build the set once.
 */
interface DeltaSubscription {
  readonly id: number;
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
  readonly next: Map<string, DeltaSubscription>;
}

const DELTA_EMPTY: DeltaSubscription = { id: 0, wildcard: false, names: new Set(), next: new Map() };
const DELTA_ALL: DeltaSubscription = { id: -1, wildcard: true, names: new Set(), next: new Map() };
let deltaSubscriptionIds = 0;

function changeSubscription(sub: DeltaSubscription, subscribe: readonly string[], unsubscribe: readonly string[]): DeltaSubscription {
  if (subscribe.length === 0 && unsubscribe.length === 0) return sub;
  const key = createHash('sha1').update(subscribe.join('\n')).update('\u0000').update(unsubscribe.join('\n')).digest('base64');
  let next = sub.next.get(key);
  if (!next) {
    const names = new Set(sub.names);
    let wildcard = sub.wildcard;
    for (const name of subscribe) if (name === '*') wildcard = true;
    else names.add(name);
    for (const name of unsubscribe) if (name === '*') wildcard = false;
    else names.delete(name);
    next = { id: ++deltaSubscriptionIds, wildcard, names, next: new Map() };
    if (sub.next.size > 1000) sub.next.clear();
    sub.next.set(key, next);
  }
  return next;
}

function wants(kind: ResourceKind, sub: DeltaSubscription, name: string): boolean {
  return sub.wildcard || sub.names.has(name) || (kind === 'virtualHosts' && wantedVirtualHost(sub.names, name));
}

interface DeltaTypeState extends TypeState {
  sub: DeltaSubscription;
  /**
   * What the node holds, shared with every node in the same state: the resources of `heldTs`
   * that `heldSub` wants, at their versions. `known` instead, name -> version, when the node
   * said what it holds itself (initial_resource_versions, after a reconnection).
   */
  heldTs?: TypeSnapshot;
  heldSub?: DeltaSubscription;
  known?: Map<string, string>;
}

let deltaResponseSeq = 0;

/** Encodes a DeltaDiscoveryResponse, nonce included (shared by every stream that is sent the same change). */
function encodeDeltaResponse(ts: TypeSnapshot, updates: readonly Uint8Array[], removed: readonly string[]): SharedResponse {
  const nonce = `d${(++deltaResponseSeq).toString(36)}`;
  const writer = Writer.create().uint32(10).string(ts.version);
  for (const entry of updates) writer.uint32(18).bytes(entry);
  writer.uint32(34).string(ts.typeUrl);
  writer.uint32(42).string(nonce);
  for (const name of removed) writer.uint32(50).string(name);
  return { body: Buffer.from(writer.finish()), nonce };
}

const EMPTY_RESPONSE: SharedResponse = { body: Buffer.alloc(0), nonce: '' };

/** One incremental (Delta) ADS stream (`DeltaAggregatedResources`). */
export class DeltaSession extends StreamSession<DeltaTypeState, DeltaDiscoveryRequest> {
  handle(request: DeltaDiscoveryRequest): void {
    const kind = this.kindOf(request);
    if (!kind) return;
    let state = this.types.get(kind);
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    if (!state) {
      // Legacy wildcard: the first request for LDS/CDS (and VHDS) with no names.
      // Every field set here, so that the state keeps them in the object itself (no property array).
      const sub = DELTA_WILDCARD.has(kind) && subscribe.length === 0 ? DELTA_ALL : DELTA_EMPTY;
      state = { sub, pending: false, nonce: undefined, sentTs: undefined, heldTs: undefined, heldSub: undefined, known: undefined };
      this.types.set(kind, state);
      const initial = Object.entries(request.initial_resource_versions ?? {});
      if (initial.length > 0) state.known = new Map(initial);
    }
    const outcome = this.reply(kind, state, request, this.record.sent[kind] ?? '');
    // Subscription changes count whatever the nonce: each Delta request carries only changes.
    state.sub = changeSubscription(state.sub, subscribe, unsubscribe);
    if (unsubscribe.length > 0 && state.known) for (const name of unsubscribe) state.known.delete(name);
    this.settle(outcome === 'stale' ? undefined : outcome);
  }

  protected responseFor(kind: ResourceKind, state: DeltaTypeState, ts: TypeSnapshot): SharedResponse | undefined {
    if (state.heldTs === ts && state.heldSub === state.sub && !state.known) return undefined;
    const response = this.changeFor(kind, state, ts);
    state.heldTs = state.sentTs = ts;
    state.heldSub = state.sub;
    state.known = undefined;
    if (!response) return undefined;
    // Envoy clears the VHDS virtual hosts of a route configuration it is sent again: all are resent.
    const vh = kind === 'routes' ? this.types.get('virtualHosts') : undefined;
    if (vh) {
      vh.heldTs = undefined;
      vh.known = undefined;
    }
    return response;
  }

  /** What the node must be sent to hold `ts` for its subscription (undefined: nothing). */
  private changeFor(kind: ResourceKind, state: DeltaTypeState, ts: TypeSnapshot): SharedResponse | undefined {
    const sub = state.sub;
    const wanted = (name: string) => wants(kind, sub, name);
    const held = state.heldTs;
    // The common case, shared by every node of the profile: one snapshot behind, same subscription.
    if (held && !state.known && state.heldSub === sub && ts.previous?.version === held.version) {
      const key = `delta|${held.version}|${sub.id}`;
      let response = ts.cache.get(key);
      if (!response) {
        const updates = [...ts.previous.changed].filter(wanted).map((n) => ts.resources.get(n)!.deltaEntry);
        const removed = ts.previous.removed.filter(wanted);
        response = updates.length + removed.length > 0 ? encodeDeltaResponse(ts, updates, removed) : EMPTY_RESPONSE;
        ts.cache.set(key, response);
      }
      return response === EMPTY_RESPONSE ? undefined : response;
    }
    // A node that holds nothing yet (a new node): one full response per subscription, shared.
    if (!held && !state.known) {
      const key = `delta-full|${sub.id}`;
      let response = ts.cache.get(key);
      if (!response) {
        const updates = [...ts.resources.values()].filter((r) => wanted(r.name)).map((r) => r.deltaEntry);
        response = updates.length > 0 ? encodeDeltaResponse(ts, updates, []) : EMPTY_RESPONSE;
        ts.cache.set(key, response);
      }
      return response === EMPTY_RESPONSE ? undefined : response;
    }
    const version = (name: string): string | undefined => {
      if (state.known) return state.known.get(name);
      if (!held || !state.heldSub || !wants(kind, state.heldSub, name)) return undefined;
      return held.resources.get(name)?.version;
    };
    const updates: Uint8Array[] = [];
    for (const [name, res] of ts.resources) if (wanted(name) && version(name) !== res.version) updates.push(res.deltaEntry);
    const removed: string[] = [];
    const holds = state.known ? [...state.known.keys()] : held && state.heldSub ? [...held.resources.keys()].filter((n) => wants(kind, state.heldSub!, n)) : [];
    for (const name of holds) if (!ts.resources.has(name) && wanted(name)) removed.push(name);
    if (updates.length === 0 && removed.length === 0) return undefined;
    return encodeDeltaResponse(ts, updates, removed);
  }
}
