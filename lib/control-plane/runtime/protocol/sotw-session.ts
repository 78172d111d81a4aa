import { createHash } from 'node:crypto';
import { Reader, Writer } from 'protobufjs';
import { ResourceKind, messageType } from '../protos';
import { SharedResponse, TypeSnapshot } from '../snapshot';
import { Outcome, StreamRequest, StreamSession, TypeState, clustersTarget, recordReply } from './stream';

/** Types whose SotW responses must hold the complete state (the rest may carry only changes). */
const COMPLETE_STATE: ReadonlySet<ResourceKind> = new Set(['listeners', 'clusters']);

export interface DiscoveryRequest extends StreamRequest {
  version_info?: string;
  /** A digest of the resource_names bytes ('' when none): equal digests, equal names. */
  namesDigest: string;
  /** Decodes resource_names (only when the digest is new to the stream). */
  names(): string[];
}

/**
 * Decodes a DiscoveryRequest by hand: SotW requests repeat every subscribed name on every
 * ACK (thousands of names per Envoy), so the names are only fingerprinted here and
 * decoded when the fingerprint changes.
 */
export function decodeSotwRequest(buffer: Buffer): DiscoveryRequest {
  const reader = Reader.create(buffer);
  const request: DiscoveryRequest = { namesDigest: '', names: () => [] };
  const slices: Array<[number, number]> = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    switch (tag >>> 3) {
      case 1:
        request.version_info = reader.string();
        break;
      case 2: {
        const type = messageType('envoy.config.core.v3.Node');
        request.node = type.toObject(type.decode(reader.bytes()), { longs: Number, enums: String, defaults: false }) as StreamRequest['node'];
        break;
      }
      case 3: {
        const start = reader.pos;
        reader.skipType(tag & 7);
        slices.push([start, reader.pos]);
        break;
      }
      case 4:
        request.type_url = reader.string();
        break;
      case 5:
        request.response_nonce = reader.string();
        break;
      case 6: {
        const type = messageType('google.rpc.Status');
        request.error_detail = type.toObject(type.decode(reader.bytes()), { defaults: false }) as { code?: number; message?: string };
        break;
      }
      default:
        reader.skipType(tag & 7);
    }
  }
  if (slices.length > 0) {
    const hash = createHash('sha1');
    for (const [start, end] of slices) hash.update(buffer.subarray(start, end));
    request.namesDigest = `${slices.length}:${hash.digest('base64')}`;
    request.names = () =>
      slices.map(([start, end]) => {
        const r = Reader.create(buffer.subarray(start, end));
        return r.string();
      });
  }
  return request;
}

/** A set of subscribed names, interned so that the thousands of nodes asking for the same names share one object. */
export interface Subscription {
  readonly id: number;
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
}

const WILDCARD: Subscription = { id: 0, wildcard: true, names: new Set() };
const interned = new Map<string, Subscription>();
let subscriptionIds = 0;

/**
 * `legacyWildcard`: an empty list means "everything" only for LDS/CDS, and only while the
 * stream has not named resources for the type before (xDS protocol, wildcard subscriptions).
 */
function internSubscription(names: readonly string[], legacyWildcard: boolean): Subscription {
  if (names.includes('*') || (legacyWildcard && names.length === 0)) return WILDCARD;
  const sorted = [...new Set(names)].sort();
  const key = sorted.join('\n');
  let sub = interned.get(key);
  if (!sub) {
    if (interned.size > 50_000) interned.clear();
    sub = { id: ++subscriptionIds, wildcard: false, names: new Set(sorted) };
    interned.set(key, sub);
  }
  return sub;
}

const byDigest = new Map<string, Subscription>();

/** The interned subscription of a request, decoding its names only for a digest not seen before. */
function subscriptionFor(request: DiscoveryRequest, legacyWildcard: boolean): Subscription {
  if (request.namesDigest === '') return internSubscription([], legacyWildcard);
  let sub = byDigest.get(request.namesDigest);
  if (!sub) {
    if (byDigest.size > 50_000) byDigest.clear();
    sub = internSubscription(request.names(), false);
    byDigest.set(request.namesDigest, sub);
  }
  return sub;
}

let responseSeq = 0;

/**
 * Encodes a whole DiscoveryResponse, nonce included, shared by every stream it is sent on. The
 * nonce only has to tell a stream's responses apart (xDS protocol: it pairs a request with the
 * response it answers); two streams sent the same bytes may share it, and a stream sent the same
 * body twice is sent the same resources at the same version, so either reply answers both.
 */
function encodeSotwResponse(ts: TypeSnapshot, names: Iterable<string>): SharedResponse {
  const nonce = (++responseSeq).toString(36);
  const writer = Writer.create().uint32(10).string(ts.version);
  for (const name of names) {
    const res = ts.resources.get(name);
    if (res) writer.uint32(18).bytes(res.any);
  }
  writer.uint32(34).string(ts.typeUrl);
  writer.uint32(42).string(nonce);
  return { body: Buffer.from(writer.finish()), nonce };
}

interface SotwTypeState extends TypeState {
  sub: Subscription;
  /** Digest of the names the subscription was built from. */
  digest: string;
  sentSub?: Subscription;
  /** What the node last acknowledged (partial responses are computed from it, never from a NACKed one). */
  ackedTs?: TypeSnapshot;
  ackedSub?: Subscription;
}

/** One state-of-the-world ADS stream (`StreamAggregatedResources`). */
export class SotwSession extends StreamSession<SotwTypeState, DiscoveryRequest> {
  handle(request: DiscoveryRequest): void {
    const kind = this.kindOf(request);
    if (!kind) return;
    let state = this.types.get(kind);
    // The first request of a type on a stream is a fresh request whatever nonce it carries: after a
    // reconnection Envoy may still send the last nonce of the earlier stream, which means nothing
    // here (go-control-plane and java-control-plane do the same).
    let outcome: Outcome | 'stale' | undefined = state ? this.reply(kind, state, request, request.version_info ?? '') : undefined;
    // A reply to a response that was superseded is ignored whole (SotW requests repeat the whole subscription).
    if (outcome === 'stale') return;
    // The node holds what it acknowledged; after a NACK it still holds what it had before.
    if (outcome === 'ack' && state) {
      state.ackedTs = state.sentTs;
      state.ackedSub = state.sentSub;
    }
    const wildcardType = COMPLETE_STATE.has(kind) && (!state || state.sub.wildcard);
    if (!state) {
      // Every field set here, so that the state keeps them in the object itself (no property array).
      const sub = subscriptionFor(request, wildcardType);
      state = { sub, digest: request.namesDigest, pending: false, nonce: undefined, sentTs: undefined, sentSub: undefined, ackedTs: undefined, ackedSub: undefined };
      this.types.set(kind, state);
      if (this.holdsCurrent(kind, state, request.version_info ?? '')) outcome = recordReply(this.cp, this.record, kind, undefined, request.version_info!);
    } else if (state.digest !== request.namesDigest) {
      state.sub = subscriptionFor(request, wildcardType);
      state.digest = request.namesDigest;
    }
    this.settle(outcome);
  }

  /**
   * A new stream's first request of a type that names the version the node is to be served
   * holds it already: nothing is resent (xDS protocol: the server sends the resources "that
   * have changed since the last resource type instance version that the client indicated", and
   * "should only send updates ... when the resources ... have changed").
   */
  private holdsCurrent(kind: ResourceKind, state: SotwTypeState, version: string): boolean {
    const snapshot = version ? this.cp.servedSnapshot(this.record) : undefined;
    if (!snapshot) return false;
    const ts = kind === 'clusters' ? clustersTarget(snapshot, this.types) : snapshot.types[kind];
    if (ts.version !== version) return false;
    state.sentTs = state.ackedTs = ts;
    state.sentSub = state.ackedSub = state.sub;
    this.record.sent[kind] = ts.version;
    return true;
  }

  protected responseFor(kind: ResourceKind, state: SotwTypeState, ts: TypeSnapshot): SharedResponse | undefined {
    const sub = state.sub;
    if (state.sentTs?.version === ts.version && state.sentSub === sub) return undefined;
    const base = state.ackedTs;
    const incremental = !COMPLETE_STATE.has(kind) && state.ackedSub === sub && base !== undefined && ts.previous?.version === base.version;
    const key = `${incremental ? 'diff' : 'full'}|${sub.id}`;
    let response = ts.cache.get(key);
    if (!response) {
      let names: Iterable<string>;
      if (incremental) names = [...ts.previous!.changed].filter((n) => sub.wildcard || sub.names.has(n));
      else names = sub.wildcard ? [...ts.resources.keys()].sort() : [...sub.names];
      response = encodeSotwResponse(ts, names);
      ts.cache.set(key, response);
    }
    state.sentSub = sub;
    return response;
  }
}
