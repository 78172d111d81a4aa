/**
 * Simulated Envoy nodes on ADS (state of the world), light enough to run thousands in one
 * process: each node opens a StreamAggregatedResources stream, subscribes to CDS and LDS
 * (wildcard), then to EDS for the clusters and RDS for the route configurations it was
 * given, and ACKs (or, when told to, NACKs) every response, the way Envoy does with
 * `set_node_on_first_message_only`. Responses are read without decoding the resources:
 * a resource's name is field 1 of every xDS resource type, and "does the node hold
 * instance X" is answered by looking for X's resource name in the ACKed bytes. With
 * `hds: true` a node also opens an HDS stream on the same connection and really
 * health-checks what the control plane asks (see sim-hds.ts), as Envoy with `hds_config`.
 */
import * as grpc from '@grpc/grpc-js';
import { Reader } from 'protobufjs';
import { ResourceKind, TYPE_URLS, kindOfTypeUrl, messageType } from '../../../lib/control-plane/runtime/protos';
import { EDGE_HTTPS_ROUTES } from '../../../lib/control-plane/runtime/templates/common';
import { resourceBaseName } from '../../../lib/model';
import { SimHdsClient } from './sim-hds';

const ADS_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

/** What a node holds of one resource type: the last version it ACKed. */
export interface HeldType {
  readonly version: string;
  readonly names: readonly string[];
  /** Serialized resources (google.protobuf.Any values) of that version, as received. */
  readonly resources: readonly Buffer[];
  readonly at: number;
}

interface Response {
  readonly version: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: Buffer[];
  readonly names: string[];
}

/** Reads field 1 (the name) of a serialized xDS resource without decoding the rest. */
function resourceName(value: Uint8Array): string {
  const reader = Reader.create(value);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) return reader.string();
    reader.skipType(tag & 7);
  }
  return '';
}

/** Decodes a DiscoveryResponse envelope; each resource is an Any whose value is kept as bytes. */
function decodeResponse(buffer: Buffer): Response {
  const reader = Reader.create(buffer);
  let version = '';
  let typeUrl = '';
  let nonce = '';
  const resources: Buffer[] = [];
  const names: string[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    switch (tag >>> 3) {
      case 1:
        version = reader.string();
        break;
      case 2: {
        const any = Reader.create(reader.bytes());
        while (any.pos < any.len) {
          const anyTag = any.uint32();
          if (anyTag >>> 3 === 2) {
            const value = Buffer.from(any.bytes());
            resources.push(value);
            names.push(resourceName(value));
          } else any.skipType(anyTag & 7);
        }
        break;
      }
      case 4:
        typeUrl = reader.string();
        break;
      case 5:
        nonce = reader.string();
        break;
      default:
        reader.skipType(tag & 7);
    }
  }
  return { version, typeUrl, nonce, resources, names };
}

let requestType: ReturnType<typeof messageType> | undefined;
function encodeRequest(request: Record<string, unknown>): Buffer {
  requestType ??= messageType('envoy.service.discovery.v3.DiscoveryRequest');
  return Buffer.from(requestType.encode(requestType.fromObject(request)).finish());
}

export interface SimEnvoyOptions {
  readonly id: string;
  readonly token: string;
  readonly region: string;
  readonly zone?: string;
  /** Envoy's node.cluster: the fleet name. */
  readonly cluster?: string;
  /** Answer with a NACK (this error_detail message) instead of an ACK when it returns a string. */
  readonly reject?: (kind: ResourceKind, response: { names: readonly string[]; resources: readonly Buffer[] }) => string | undefined;
  /** Also open an HDS stream (canary health) and health-check what it is asked to. */
  readonly hds?: boolean;
}

/** One simulated Envoy on one ADS stream. */
export class SimEnvoy {
  readonly held = new Map<ResourceKind, HeldType>();
  readonly nacks: Array<{ kind: ResourceKind; message: string; at: number }> = [];
  /** Called after every ACK or NACK this node sends. */
  onChange?: (node: SimEnvoy) => void;
  error?: grpc.ServiceError;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly nonces = new Map<ResourceKind, string>();
  private readonly subscribed = new Map<ResourceKind, string>();
  private first = true;
  /** The node's HDS stream, with `hds: true`. */
  readonly hds?: SimHdsClient;

  constructor(
    client: grpc.Client,
    readonly options: SimEnvoyOptions,
  ) {
    this.call = client.makeBidiStreamRequest(
      ADS_METHOD,
      (value: Buffer) => value,
      (value: Buffer) => value,
    );
    this.call.on('data', (buffer: Buffer) => this.receive(decodeResponse(buffer)));
    this.call.on('error', (err: grpc.ServiceError) => {
      this.error = err;
      this.onChange?.(this);
    });
    this.send('clusters', { resource_names: [] });
    this.send('listeners', { resource_names: [] });
    if (options.hds) this.hds = new SimHdsClient(client, { id: options.id, token: options.token, region: options.region, zone: options.zone, cluster: options.cluster });
  }

  /** Whether the node holds (has ACKed) a resource of this kind with this name. */
  holds(kind: ResourceKind, name: string): boolean {
    return this.held.get(kind)?.names.includes(name) ?? false;
  }

  /** Whether the ACKed resources of this kind mention `text` (e.g. a virtual host named after an instance). */
  mentions(kind: ResourceKind, text: string): boolean {
    const needle = Buffer.from(text);
    return this.held.get(kind)?.resources.some((r) => r.includes(needle)) ?? false;
  }

  /** Whether the node holds an instance's cluster and a route configuration that uses it. */
  servesInstance(instanceId: string): boolean {
    const name = resourceBaseName(instanceId);
    return this.holds('clusters', name) && this.mentions('routes', name);
  }

  close(): void {
    this.hds?.close();
    this.call.cancel();
  }

  private send(kind: ResourceKind, fields: Record<string, unknown>): void {
    const request: Record<string, unknown> = { type_url: TYPE_URLS[kind], ...fields };
    if (this.first) {
      request.node = {
        id: this.options.id,
        cluster: this.options.cluster ?? `edge-fleet-${this.options.region}`,
        locality: { region: this.options.region, zone: this.options.zone ?? `${this.options.region}a` },
        user_agent_name: 'envoy',
        user_agent_build_version: { version: { major_number: 1, minor_number: 31, patch: 0 } },
        metadata: { fields: { auth: { stringValue: this.options.token } } },
      };
      this.first = false;
    }
    this.call.write(encodeRequest(request));
  }

  /** Asks for other names of a type (EDS for the clusters, RDS for the listeners' route configurations). */
  private subscribe(kind: ResourceKind, names: string[]): void {
    const key = [...names].sort().join('\n');
    if (this.subscribed.get(kind) === key) return;
    this.subscribed.set(kind, key);
    this.send(kind, { resource_names: names, version_info: this.held.get(kind)?.version ?? '', response_nonce: this.nonces.get(kind) ?? '' });
  }

  private receive(response: Response): void {
    const kind = kindOfTypeUrl(response.typeUrl);
    if (!kind) return;
    this.nonces.set(kind, response.nonce);
    const rejection = this.options.reject?.(kind, response);
    if (rejection !== undefined) {
      this.nacks.push({ kind, message: rejection, at: performance.now() });
      this.send(kind, {
        version_info: this.held.get(kind)?.version ?? '',
        response_nonce: response.nonce,
        resource_names: this.namesFor(kind),
        error_detail: { code: grpc.status.INVALID_ARGUMENT, message: rejection },
      });
      this.onChange?.(this);
      return;
    }
    // Like Envoy: ask for what the new clusters/listeners need before ACKing them.
    if (kind === 'clusters') this.subscribe('endpoints', response.names.filter((n) => n !== ''));
    if (kind === 'listeners' && response.names.includes(EDGE_HTTPS_ROUTES)) this.subscribe('routes', [EDGE_HTTPS_ROUTES]);
    this.held.set(kind, { version: response.version, names: response.names, resources: response.resources, at: performance.now() });
    this.send(kind, { version_info: response.version, response_nonce: response.nonce, resource_names: this.namesFor(kind) });
    this.onChange?.(this);
  }

  private namesFor(kind: ResourceKind): string[] {
    const key = this.subscribed.get(kind);
    return key ? key.split('\n') : [];
  }
}

export interface FleetOptions {
  readonly xdsAddress: string;
  readonly token: string;
  readonly region: string;
  readonly nodes: number;
  /** Streams per HTTP/2 connection (the server allows 1,000 concurrent streams per connection). */
  readonly nodesPerConnection?: number;
  readonly idPrefix?: string;
  readonly onProgress?: (connected: number, total: number) => void;
  /** Longest wait for every node to hold an initial config. */
  readonly connectTimeoutMs?: number;
  /** Every node also speaks HDS (canary health). */
  readonly hds?: boolean;
}

/** Many simulated Envoy nodes, spread over several HTTP/2 connections. */
export class SimFleet {
  readonly nodes: SimEnvoy[] = [];
  private readonly clients: grpc.Client[] = [];
  private watchers = new Set<(node: SimEnvoy) => void>();

  private constructor() {}

  /** Connects the nodes and waits until each holds its first clusters and listeners. */
  static async connect(options: FleetOptions): Promise<SimFleet> {
    const fleet = new SimFleet();
    const perConnection = options.nodesPerConnection ?? 250;
    const ready = new Set<SimEnvoy>();
    let reportedAt = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${ready.size} of ${options.nodes} simulated nodes got their first config within ${options.connectTimeoutMs ?? 60_000} ms`)),
          options.connectTimeoutMs ?? 60_000,
        );
        const check = (node: SimEnvoy) => {
          if (node.error) {
            clearTimeout(timer);
            reject(new Error(`simulated node ${node.options.id}: ${node.error.message}`));
            return;
          }
          if (!ready.has(node) && node.held.has('clusters') && node.held.has('listeners')) {
            ready.add(node);
            const now = performance.now();
            if (ready.size === options.nodes || now - reportedAt > 500) {
              reportedAt = now;
              options.onProgress?.(ready.size, options.nodes);
            }
            if (ready.size === options.nodes) {
              clearTimeout(timer);
              resolve();
            }
          }
        };
        fleet.watchers.add(check);
        for (let i = 0; i < options.nodes; i++) {
          if (i % perConnection === 0) {
            // A local subchannel pool gives each client its own connection.
            fleet.clients.push(new grpc.Client(options.xdsAddress, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': 64 * 1024 * 1024 }));
          }
          const node = new SimEnvoy(fleet.clients[fleet.clients.length - 1], {
            id: `${options.idPrefix ?? 'sim-envoy'}-${i}`,
            token: options.token,
            region: options.region,
            hds: options.hds,
          });
          node.onChange = (n) => {
            for (const watcher of fleet.watchers) watcher(n);
          };
          fleet.nodes.push(node);
        }
      });
    } catch (err) {
      fleet.close();
      throw err;
    } finally {
      fleet.watchers.clear();
    }
    return fleet;
  }

  /**
   * Resolves when every node satisfies `predicate` (checked now and after each of its
   * ACKs/NACKs), with the time (performance.now()) the last one got there.
   */
  waitForAll(what: string, predicate: (node: SimEnvoy) => boolean, timeoutMs = 30_000): Promise<{ lastAt: number }> {
    return new Promise((resolve, reject) => {
      const pending = new Set(this.nodes.filter((n) => !predicate(n)));
      let lastAt = performance.now();
      if (pending.size === 0) return resolve({ lastAt });
      const watcher = (node: SimEnvoy) => {
        if (pending.has(node) && predicate(node)) {
          pending.delete(node);
          lastAt = performance.now();
          if (pending.size === 0) {
            clearTimeout(timer);
            this.watchers.delete(watcher);
            resolve({ lastAt });
          }
        }
      };
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${pending.size} of ${this.nodes.length} nodes not there`));
      }, timeoutMs);
      this.watchers.add(watcher);
    });
  }

  close(): void {
    for (const node of this.nodes) node.close();
    for (const client of this.clients) client.close();
  }
}
