import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Reader, Writer } from 'protobufjs';
import { admitStream, onStreamEnd } from './grpc-streams';
import { addHdsService } from './hds-server';
import { ControlPlane, NodeRecord, ProfileState, Session } from './control-plane';
import { RawNode, nodeFromProto } from './node-info';
import { ResourceKind, kindOfTypeUrl, messageType } from './protos';
import { SharedResponse, Snapshot, TypeSnapshot } from './snapshot';

/** Make-before-break: clusters and endpoints before the listeners and routes that use them. */
const PUSH_ORDER: readonly ResourceKind[] = ['clusters', 'endpoints', 'listeners', 'routes', 'virtualHosts'];
/** Types whose SotW responses must hold the complete state (the rest may carry only changes). */
const COMPLETE_STATE: ReadonlySet<ResourceKind> = new Set(['listeners', 'clusters']);
/**
 * Delta types whose first request with no names subscribes to everything: LDS/CDS (legacy
 * wildcard), and VHDS, which older Envoys start with no names (newer ones name the route
 * configuration, see `wantedVirtualHost`).
 */
const DELTA_WILDCARD: ReadonlySet<ResourceKind> = new Set(['listeners', 'clusters', 'virtualHosts']);

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

interface DiscoveryRequest {
  version_info?: string;
  node?: RawNode;
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
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
function decodeSotwRequest(buffer: Buffer): DiscoveryRequest {
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
        request.node = type.toObject(type.decode(reader.bytes()), { longs: Number, enums: String, defaults: false }) as RawNode;
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

interface DeltaDiscoveryRequest {
  node?: RawNode;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
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

const identity = (value: Buffer) => value;

function definition(requestType: string, method: string): grpc.ServiceDefinition {
  const type = messageType(requestType);
  const deserialize =
    method === 'StreamAggregatedResources'
      ? decodeSotwRequest
      : (buffer: Buffer) => type.toObject(type.decode(buffer), { longs: Number, enums: String, defaults: false, arrays: true });
  return {
    [method]: {
      path: `/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: identity,
      requestDeserialize: deserialize,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  } as unknown as grpc.ServiceDefinition;
}

type Stream<T> = grpc.ServerDuplexStream<T, Buffer>;

type Outcome = 'ack' | 'nack';

/** Records a node's reply to the response it was sent (ACK or NACK), in metrics, the node record and the log. */
function recordReply(cp: ControlPlane, record: NodeRecord, kind: ResourceKind, errorDetail: DiscoveryRequest['error_detail'], ackedVersion: string): Outcome {
  if (errorDetail) {
    cp.metrics.nacks++;
    record.lastNack = { kind, version: record.sent[kind] ?? '', message: errorDetail.message ?? '', at: new Date().toISOString() };
    cp.logger.log('warn', 'node rejected a response (NACK)', { node: record.node.id, type: kind, version: record.sent[kind], error: errorDetail.message });
    return 'nack';
  }
  cp.metrics.acks++;
  record.acked[kind] = ackedVersion;
  return 'ack';
}

/** Tells the control plane about a reply once the stream has pumped what comes next. */
function reportReply(cp: ControlPlane, record: NodeRecord, outcome: Outcome | undefined): void {
  if (outcome === 'ack') cp.acknowledged(record);
  if (outcome === 'nack') cp.nacked(record, record.lastNack?.message ?? '');
}

/**
 * The cluster set to serve: during a removal, the transitional set until the node holds
 * (and has answered for) the snapshot's listeners and routes.
 */
function clustersTarget(snapshot: Snapshot, types: ReadonlyMap<ResourceKind, { pending: boolean; sentTs?: TypeSnapshot }>): TypeSnapshot {
  if (!snapshot.transitionalClusters) return snapshot.types.clusters;
  const settled = (['listeners', 'routes', 'virtualHosts'] as const).every((k) => {
    const s = types.get(k);
    return !s || (!s.pending && s.sentTs?.version === snapshot.types[k].version);
  });
  return settled ? snapshot.types.clusters : snapshot.transitionalClusters;
}

interface SotwTypeState {
  sub: Subscription;
  /** Digest of the names the subscription was built from. */
  digest: string;
  sentTs?: TypeSnapshot;
  sentSub?: Subscription;
  /** What the node last acknowledged (partial responses are computed from it, never from a NACKed one). */
  ackedTs?: TypeSnapshot;
  ackedSub?: Subscription;
  nonce?: string;
  pending: boolean;
}

/** One state-of-the-world ADS stream. */
class SotwSession implements Session {
  readonly types = new Map<ResourceKind, SotwTypeState>();
  constructor(
    readonly record: NodeRecord,
    readonly profile: ProfileState,
    private readonly call: Stream<DiscoveryRequest>,
    private readonly cp: ControlPlane,
  ) {}

  handle(request: DiscoveryRequest): void {
    const kind = kindOfTypeUrl(request.type_url ?? '');
    if (!kind) return;
    let state = this.types.get(kind);
    const nonce = request.response_nonce ?? '';
    let outcome: Outcome | undefined;
    // The first request of a type on a stream is a fresh request whatever nonce it carries: after a
    // reconnection Envoy may still send the last nonce of the earlier stream, which means nothing
    // here (go-control-plane and java-control-plane do the same).
    if (nonce && state) {
      if (nonce !== state.nonce) {
        // A reply to a response that was superseded: ignore it (xDS protocol, "stale nonces").
        this.cp.metrics.staleNonces++;
        return;
      }
      state.pending = false;
      outcome = recordReply(this.cp, this.record, kind, request.error_detail, request.version_info ?? '');
      // The node holds what it acknowledged; after a NACK it still holds what it had before.
      if (outcome === 'ack') {
        state.ackedTs = state.sentTs;
        state.ackedSub = state.sentSub;
      }
    }
    const wildcardType = COMPLETE_STATE.has(kind) && (!state || state.sub.wildcard);
    if (!state) {
      state = { sub: subscriptionFor(request, wildcardType), digest: request.namesDigest, pending: false };
      this.types.set(kind, state);
      if (this.holdsCurrent(kind, state, request.version_info ?? '')) outcome = recordReply(this.cp, this.record, kind, undefined, request.version_info!);
    } else if (state.digest !== request.namesDigest) {
      state.sub = subscriptionFor(request, wildcardType);
      state.digest = request.namesDigest;
    }
    this.pump();
    reportReply(this.cp, this.record, outcome);
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

  onSnapshot(): void {
    this.pump();
  }

  /** Sends the next type that is behind, in make-before-break order, one response in flight at a time. */
  pump(): void {
    const snapshot = this.cp.servedSnapshot(this.record);
    if (!snapshot) return;
    for (const kind of PUSH_ORDER) {
      const state = this.types.get(kind);
      if (!state) continue;
      if (state.pending) return;
      const ts = kind === 'clusters' ? clustersTarget(snapshot, this.types) : snapshot.types[kind];
      if (state.sentTs?.version === ts.version && state.sentSub === state.sub) continue;
      this.send(kind, state, ts);
      return;
    }
  }

  private send(kind: ResourceKind, state: SotwTypeState, ts: TypeSnapshot): void {
    const sub = state.sub;
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
    state.nonce = response.nonce;
    state.pending = true;
    state.sentTs = ts;
    state.sentSub = sub;
    this.record.sent[kind] = ts.version;
    this.cp.metrics.pushes++;
    // One body for every stream sent the same response: no per-stream copy.
    this.call.write(response.body);
  }
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

interface DeltaTypeState {
  sub: DeltaSubscription;
  /**
   * What the node holds, shared with every node in the same state: the resources of `heldTs`
   * that `heldSub` wants, at their versions. `known` instead, name -> version, when the node
   * said what it holds itself (initial_resource_versions, after a reconnection).
   */
  heldTs?: TypeSnapshot;
  heldSub?: DeltaSubscription;
  known?: Map<string, string>;
  /** The type snapshot the node was last brought to (what clustersTarget reads). */
  sentTs?: TypeSnapshot;
  nonce?: string;
  pending: boolean;
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

/** One incremental (Delta) ADS stream. */
class DeltaSession implements Session {
  readonly types = new Map<ResourceKind, DeltaTypeState>();
  constructor(
    readonly record: NodeRecord,
    readonly profile: ProfileState,
    private readonly call: Stream<DeltaDiscoveryRequest>,
    private readonly cp: ControlPlane,
  ) {}

  handle(request: DeltaDiscoveryRequest): void {
    const kind = kindOfTypeUrl(request.type_url ?? '');
    if (!kind) return;
    let state = this.types.get(kind);
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    if (!state) {
      // Legacy wildcard: the first request for LDS/CDS (and VHDS) with no names.
      state = { sub: DELTA_WILDCARD.has(kind) && subscribe.length === 0 ? DELTA_ALL : DELTA_EMPTY, pending: false };
      this.types.set(kind, state);
      const initial = Object.entries(request.initial_resource_versions ?? {});
      if (initial.length > 0) state.known = new Map(initial);
    }
    const nonce = request.response_nonce ?? '';
    let outcome: Outcome | undefined;
    if (nonce) {
      if (nonce !== state.nonce) this.cp.metrics.staleNonces++;
      else {
        state.pending = false;
        outcome = recordReply(this.cp, this.record, kind, request.error_detail, this.record.sent[kind] ?? '');
      }
    }
    // Subscription changes count whatever the nonce: each Delta request carries only changes.
    state.sub = changeSubscription(state.sub, subscribe, unsubscribe);
    if (unsubscribe.length > 0 && state.known) for (const name of unsubscribe) state.known.delete(name);
    this.pump();
    reportReply(this.cp, this.record, outcome);
  }

  onSnapshot(): void {
    this.pump();
  }

  pump(): void {
    const snapshot = this.cp.servedSnapshot(this.record);
    if (!snapshot) return;
    for (const kind of PUSH_ORDER) {
      const state = this.types.get(kind);
      if (!state) continue;
      if (state.pending) return;
      const ts = kind === 'clusters' ? clustersTarget(snapshot, this.types) : snapshot.types[kind];
      if (state.heldTs === ts && state.heldSub === state.sub && !state.known) continue;
      const response = this.changeFor(kind, state, ts);
      state.heldTs = state.sentTs = ts;
      state.heldSub = state.sub;
      state.known = undefined;
      if (!response) continue;
      // Envoy clears the VHDS virtual hosts of a route configuration it is sent again: all are resent.
      if (kind === 'routes' && this.types.get('virtualHosts')) {
        const vh = this.types.get('virtualHosts')!;
        vh.heldTs = undefined;
        vh.known = undefined;
      }
      state.nonce = response.nonce;
      state.pending = true;
      this.record.sent[kind] = ts.version;
      this.cp.metrics.pushes++;
      this.call.write(response.body);
      return;
    }
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

const EMPTY_RESPONSE: SharedResponse = { body: Buffer.alloc(0), nonce: '' };

/** Opens a session for the first request of a stream, or refuses it. */
function openSession<T extends { node?: RawNode }>(cp: ControlPlane, call: Stream<T>, first: T, protocol: 'sotw' | 'delta'): { record: NodeRecord; profile: ProfileState } | undefined {
  const parsed = nodeFromProto(first.node, cp.region);
  const token = parsed.token;
  // A Delta node is served its virtual hosts over VHDS (Delta only), so it has a profile of its own.
  const node = protocol === 'delta' ? { ...parsed.node, deltaXds: true } : parsed.node;
  if (!admitStream(cp, call as unknown as grpc.ServerDuplexStream<unknown, Buffer>, token, 'discovery stream refused', { node: node.id, protocol })) return undefined;
  const profile = cp.profileFor(node);
  const record: NodeRecord = { node, protocol, connectedAt: new Date().toISOString(), profile: profile.key, acked: {}, sent: {} };
  cp.logger.log('info', 'node connected', { node: node.id, cluster: node.cluster, region: node.region, zone: node.zone, userAgent: node.userAgentName, protocol, profile: profile.key });
  return { record, profile };
}

function serveStream<T extends { node?: RawNode }>(cp: ControlPlane, call: Stream<T>, protocol: 'sotw' | 'delta'): void {
  let session: (Session & { handle(request: DiscoveryRequest & DeltaDiscoveryRequest): void }) | undefined;
  let refused = false;
  const close = () => {
    if (session) {
      cp.detach(session);
      cp.logger.log('info', 'node disconnected', { node: session.record.node.id, protocol });
      session = undefined;
    }
  };
  call.on('data', (request: T) => {
    if (refused) return;
    if (!session) {
      const opened = openSession(cp, call, request, protocol);
      if (!opened) {
        refused = true;
        return;
      }
      session =
        protocol === 'sotw'
          ? new SotwSession(opened.record, opened.profile, call as unknown as Stream<DiscoveryRequest>, cp)
          : (new DeltaSession(opened.record, opened.profile, call as unknown as Stream<DeltaDiscoveryRequest>, cp) as unknown as SotwSession);
      cp.attach(session, opened.profile);
    }
    session.handle(request as unknown as DiscoveryRequest & DeltaDiscoveryRequest);
  });
  onStreamEnd(call as unknown as grpc.ServerDuplexStream<unknown, Buffer>, close);
}

export interface XdsServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** Serves ADS (SotW and Delta) and HDS on plaintext HTTP/2; TLS to the proxies ends at the load balancer. */
export async function startXdsServer(cp: ControlPlane, port: number, host = '0.0.0.0'): Promise<XdsServer> {
  const server = new grpc.Server({
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    'grpc.max_concurrent_streams': 1000,
  });
  server.addService(definition('envoy.service.discovery.v3.DiscoveryRequest', 'StreamAggregatedResources'), {
    StreamAggregatedResources: (call: Stream<DiscoveryRequest>) => serveStream(cp, call, 'sotw'),
  });
  server.addService(definition('envoy.service.discovery.v3.DeltaDiscoveryRequest', 'DeltaAggregatedResources'), {
    DeltaAggregatedResources: (call: Stream<DeltaDiscoveryRequest>) => serveStream(cp, call, 'delta'),
  });
  // Canary health (HDS) on the same server and port, as Envoy's hds_config uses the same xds_cluster.
  addHdsService(server, cp);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, actual) => (err ? reject(err) : resolve(actual))),
  );
  return {
    port: bound,
    // Proxies reconnect (to another task) and resume from the versions they hold, so a
    // stop closes every stream and connection at once rather than waiting on idle sessions.
    stop: async () => {
      server.forceShutdown();
    },
  };
}
