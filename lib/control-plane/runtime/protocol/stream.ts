import * as grpc from '@grpc/grpc-js';
import { admitStream, onStreamEnd } from '../grpc-streams';
import { ControlPlane, NodeRecord, ProfileState, Session } from '../control-plane';
import { RawNode, nodeFromProto } from '../node-info';
import { internNode } from './node-intern';
import { ResourceKind, kindOfTypeUrl } from '../protos';
import { SharedResponse, Snapshot, TypeSnapshot } from '../snapshot';

/**
 * The stream skeleton shared by the state-of-the-world and the Delta ADS sessions: the first
 * message (auth, node identification, profile), nonces and ACK/NACK, the make-before-break
 * send queue (one response in flight), and the end of the stream. What a session sends, and
 * how it reads its requests, is its own (sotw-session.ts, delta-session.ts). The core is
 * reached only through the ControlPlane members listed in docs/control-plane.md ("Protocols").
 */

/** Make-before-break: clusters and endpoints before the listeners and routes that use them. */
export const PUSH_ORDER: readonly ResourceKind[] = ['clusters', 'endpoints', 'listeners', 'routes', 'virtualHosts'];

/** What both request shapes carry and the skeleton reads. */
export interface StreamRequest {
  node?: RawNode;
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

/** Per stream and type: the response in flight. */
export interface TypeState {
  /** Nonce of the last response sent (a reply carrying another one is stale). */
  nonce?: string;
  /** A response is in flight: nothing more of any type is sent until it is answered. */
  pending: boolean;
  /** The type snapshot the node was last brought to (what clustersTarget reads). */
  sentTs?: TypeSnapshot;
}

export type Outcome = 'ack' | 'nack';

/** Records a node's reply to the response it was sent (ACK or NACK), in metrics, the node record and the log. */
export function recordReply(cp: ControlPlane, record: NodeRecord, kind: ResourceKind, errorDetail: StreamRequest['error_detail'], ackedVersion: string): Outcome {
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

/**
 * The cluster set to serve: during a removal, the transitional set until the node holds
 * (and has answered for) the snapshot's listeners and routes.
 */
export function clustersTarget(snapshot: Snapshot, types: ReadonlyMap<ResourceKind, TypeState>): TypeSnapshot {
  if (!snapshot.transitionalClusters) return snapshot.types.clusters;
  const settled = (['listeners', 'routes', 'virtualHosts'] as const).every((k) => {
    const s = types.get(k);
    return !s || (!s.pending && s.sentTs?.version === snapshot.types[k].version);
  });
  return settled ? snapshot.types.clusters : snapshot.transitionalClusters;
}

export type Call<R> = grpc.ServerDuplexStream<R, Buffer>;

/** One ADS stream of a node: what SotW and Delta share. */
export abstract class StreamSession<S extends TypeState, R extends StreamRequest> implements Session {
  readonly types = new Map<ResourceKind, S>();
  constructor(
    readonly record: NodeRecord,
    readonly profile: ProfileState,
    private readonly call: Call<R>,
    protected readonly cp: ControlPlane,
  ) {}

  /** One request of the stream (the first one included). */
  abstract handle(request: R): void;

  /**
   * What the node must be sent of `kind` to hold `ts`, recording what it will then hold;
   * undefined when it holds it already.
   */
  protected abstract responseFor(kind: ResourceKind, state: S, ts: TypeSnapshot): SharedResponse | undefined;

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
      const response = this.responseFor(kind, state, ts);
      if (!response) continue;
      state.nonce = response.nonce;
      state.pending = true;
      state.sentTs = ts;
      this.record.sent[kind] = ts.version;
      this.cp.metrics.pushes++;
      // One body for every stream sent the same response: no per-stream copy.
      this.call.write(response.body);
      return;
    }
  }

  /**
   * The nonce of a request: none (a request that answers nothing), stale (it answers a
   * response that was superseded: xDS protocol, "stale nonces"), or the node's reply to the
   * response in flight (ACK, or NACK when it carries error_detail).
   */
  protected reply(kind: ResourceKind, state: S, request: R, ackedVersion: string): Outcome | 'stale' | undefined {
    const nonce = request.response_nonce ?? '';
    if (!nonce) return undefined;
    if (nonce !== state.nonce) {
      this.cp.metrics.staleNonces++;
      return 'stale';
    }
    state.pending = false;
    return recordReply(this.cp, this.record, kind, request.error_detail, ackedVersion);
  }

  /** Pumps what comes next, then tells the control plane about the reply (so a promotion sees this stream's state). */
  protected settle(outcome: Outcome | undefined): void {
    this.pump();
    if (outcome === 'ack') this.cp.acknowledged(this.record);
    if (outcome === 'nack') this.cp.nacked(this.record, this.record.lastNack?.message ?? '');
  }

  /** The kind of a request's type URL (undefined: a type this server does not serve, ignored). */
  protected kindOf(request: R): ResourceKind | undefined {
    return kindOfTypeUrl(request.type_url ?? '');
  }
}

export type SessionFactory<R extends StreamRequest> = (record: NodeRecord, profile: ProfileState, call: Call<R>, cp: ControlPlane) => StreamSession<TypeState, R>;

/** Opens a session for the first request of a stream, or refuses it. */
function openSession<R extends StreamRequest>(cp: ControlPlane, call: Call<R>, first: R, protocol: 'sotw' | 'delta'): { record: NodeRecord; profile: ProfileState } | undefined {
  const parsed = nodeFromProto(first.node, cp.region);
  const token = parsed.token;
  // A Delta node is served its virtual hosts over VHDS (Delta only), so it has a profile of its own.
  const node = internNode(protocol === 'delta' ? { ...parsed.node, deltaXds: true } : parsed.node);
  if (!admitStream(cp, call as unknown as Call<unknown>, token, 'discovery stream refused', { node: node.id, protocol })) return undefined;
  const profile = cp.profileFor(node);
  const record: NodeRecord = { node, protocol, connectedAt: new Date().toISOString(), profile: profile.key, acked: {}, sent: {} };
  cp.logger.log('info', 'node connected', { node: node.id, cluster: node.cluster, region: node.region, zone: node.zone, userAgent: node.userAgentName, protocol, profile: profile.key });
  return { record, profile };
}

/**
 * Serves one ADS stream: the first request opens the session (or refuses the stream), every
 * request goes to it, and the end of the stream detaches it.
 */
export function serveStream<R extends StreamRequest>(cp: ControlPlane, call: Call<R>, protocol: 'sotw' | 'delta', create: SessionFactory<R>): void {
  let session: StreamSession<TypeState, R> | undefined;
  let refused = false;
  const close = () => {
    if (session) {
      cp.detach(session);
      cp.logger.log('info', 'node disconnected', { node: session.record.node.id, protocol });
      session = undefined;
    }
  };
  call.on('data', (request: R) => {
    if (refused) return;
    if (!session) {
      const opened = openSession(cp, call, request, protocol);
      if (!opened) {
        refused = true;
        return;
      }
      session = create(opened.record, opened.profile, call, cp);
      cp.attach(session, opened.profile);
    }
    session.handle(request);
  });
  onStreamEnd(call as unknown as Call<unknown>, close);
}

const identity = (value: Buffer) => value;

/** A bidirectional ADS method with pre-encoded responses and its own request decoder. */
export function adsMethod<R>(method: string, decode: (buffer: Buffer) => R): grpc.ServiceDefinition {
  return {
    [method]: {
      path: `/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: identity,
      requestDeserialize: decode,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  } as unknown as grpc.ServiceDefinition;
}
