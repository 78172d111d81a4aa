import { createHash } from 'node:crypto';
import { Reader, Writer } from 'protobufjs';
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
  initial_resource_versions?: Record<string, string>;
  /** How many names resource_names_subscribe and resource_names_unsubscribe hold. */
  subscribeCount: number;
  unsubscribeCount: number;
  /**
   * A digest of the bytes of both lists ('' when both are empty): equal digests, equal changes.
   * Every Envoy of a fleet subscribes to the same thousands of EDS names; the names are decoded
   * only for a change not seen before.
   */
  changeDigest: string;
  subscribe(): string[];
  unsubscribe(): string[];
}

const strings = (buffer: Buffer, slices: ReadonlyArray<readonly [number, number]>) => () => slices.map(([start, end]) => Reader.create(buffer.subarray(start, end)).string());

/**
 * Decodes a DeltaDiscoveryRequest by hand (field numbers of envoy.service.discovery.v3.DeltaDiscoveryRequest:
 * node 1, type_url 2, resource_names_subscribe 3, resource_names_unsubscribe 4,
 * initial_resource_versions 5, response_nonce 6, error_detail 7). The two name lists are only
 * fingerprinted; resource locators (8, 9: xdstp:// names) are not served and are skipped.
 */
export function decodeDeltaRequest(buffer: Buffer): DeltaDiscoveryRequest {
  const reader = Reader.create(buffer);
  const subscribe: Array<[number, number]> = [];
  const unsubscribe: Array<[number, number]> = [];
  /** The byte ranges of fields 3 and 4, tags included, adjacent ones merged (a repeated field is one run). */
  const spans: Array<[number, number]> = [];
  const request: DeltaDiscoveryRequest = { subscribeCount: 0, unsubscribeCount: 0, changeDigest: '', subscribe: () => [], unsubscribe: () => [] };
  while (reader.pos < reader.len) {
    const at = reader.pos;
    const tag = reader.uint32();
    const field = tag >>> 3;
    if ((field === 3 || field === 4) && (tag & 7) === 2) {
      const start = reader.pos;
      reader.skipType(2);
      (field === 3 ? subscribe : unsubscribe).push([start, reader.pos]);
      const last = spans[spans.length - 1];
      if (last && last[1] === at) last[1] = reader.pos;
      else spans.push([at, reader.pos]);
      continue;
    }
    switch (field) {
      case 1: {
        const type = messageType('envoy.config.core.v3.Node');
        request.node = type.toObject(type.decode(reader.bytes()), { longs: Number, enums: String, defaults: false }) as StreamRequest['node'];
        break;
      }
      case 2:
        request.type_url = reader.string();
        break;
      case 5: {
        // map<string, string>: entries of key 1, value 2.
        const end = reader.uint32() + reader.pos;
        let key = '';
        let value = '';
        while (reader.pos < end) {
          const t = reader.uint32();
          if (t >>> 3 === 1) key = reader.string();
          else if (t >>> 3 === 2) value = reader.string();
          else reader.skipType(t & 7);
        }
        (request.initial_resource_versions ??= {})[key] = value;
        break;
      }
      case 6:
        request.response_nonce = reader.string();
        break;
      case 7: {
        const type = messageType('google.rpc.Status');
        request.error_detail = type.toObject(type.decode(reader.bytes()), { defaults: false }) as { code?: number; message?: string };
        break;
      }
      default:
        reader.skipType(tag & 7);
    }
  }
  if (spans.length > 0) {
    const hash = createHash('sha1');
    for (const [start, end] of spans) hash.update(buffer.subarray(start, end));
    request.subscribeCount = subscribe.length;
    request.unsubscribeCount = unsubscribe.length;
    request.changeDigest = `${subscribe.length}:${unsubscribe.length}:${hash.digest('base64')}`;
    request.subscribe = strings(buffer, subscribe);
    request.unsubscribe = strings(buffer, unsubscribe);
  }
  return request;
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

/** The subscription after a request's changes (memoised per subscription and change). */
function changeSubscription(sub: DeltaSubscription, request: DeltaDiscoveryRequest): DeltaSubscription {
  if (request.changeDigest === '') return sub;
  let next = sub.next.get(request.changeDigest);
  if (!next) {
    const names = new Set(sub.names);
    let wildcard = sub.wildcard;
    for (const name of request.subscribe()) if (name === '*') wildcard = true;
    else names.add(name);
    for (const name of request.unsubscribe()) if (name === '*') wildcard = false;
    else names.delete(name);
    next = { id: ++deltaSubscriptionIds, wildcard, names, next: new Map() };
    if (sub.next.size > 1000) sub.next.clear();
    sub.next.set(request.changeDigest, next);
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
    if (!state) {
      // Legacy wildcard: the first request for LDS/CDS (and VHDS) with no names.
      // Every field set here, so that the state keeps them in the object itself (no property array).
      const sub = DELTA_WILDCARD.has(kind) && request.subscribeCount === 0 ? DELTA_ALL : DELTA_EMPTY;
      state = { sub, pending: false, nonce: undefined, sentTs: undefined, heldTs: undefined, heldSub: undefined, known: undefined };
      this.types.set(kind, state);
      const initial = Object.entries(request.initial_resource_versions ?? {});
      if (initial.length > 0) state.known = new Map(initial);
    }
    const outcome = this.reply(kind, state, request, this.record.sent[kind] ?? '');
    // Subscription changes count whatever the nonce: each Delta request carries only changes.
    state.sub = changeSubscription(state.sub, request);
    if (request.unsubscribeCount > 0 && state.known) for (const name of request.unsubscribe()) state.known.delete(name);
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
