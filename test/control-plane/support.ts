import * as grpc from '@grpc/grpc-js';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { waitFor } from '../support/wait';
export { freePort, waitFor } from '../support/wait';
import { RouteDocument, ServiceParameters } from '../../lib/model';
import { routeWriter } from '../support/routes';
import { FIXTURE_REGION } from '../support/fixtures';
import { LocalEmulators, ensureBrokerTable, localClientConfig, startEmulators } from '../../lib/local/emulators';
import { messageType, TYPE_URLS, ResourceKind } from '../../lib/control-plane/runtime/protos';
import { LocalControlPlane, LocalControlPlaneOptions, startLocalControlPlane } from '../../lib/control-plane/runtime/local';
import { silentLogger } from '../../lib/control-plane/runtime/logger';

export const REGION = FIXTURE_REGION;
export const TOKEN = 'test-discovery-token';
export const TABLE = 'edge-broker';

/**
 * Starts a local control plane on OS-assigned ports for the test region, table, token and
 * domain, logging nothing; `options` add to or override these.
 */
export function startTestControlPlane(dynamodbEndpoint: string, options: Partial<LocalControlPlaneOptions> = {}): Promise<LocalControlPlane> {
  return startLocalControlPlane({
    xdsPort: 0,
    restPort: 0,
    region: REGION,
    tableName: TABLE,
    dynamodbEndpoint,
    authToken: TOKEN,
    domain: 'edge.example.com',
    logger: silentLogger,
    ...options,
  });
}

/** Points @grpc/grpc-js-xds (process-wide, once per test file) at a control plane and registers the xds: resolver. */
export function registerXdsClient(xdsPort: number, node: { id: string; locality: Record<string, string> }): void {
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: node.id, cluster: 'test-clients', locality: node.locality, metadata: { auth: TOKEN } },
  });
  require('@grpc/grpc-js-xds').register(); // registers the xds: resolver
}

export interface TestTable {
  readonly emulators: LocalEmulators;
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  stop(): Promise<void>;
}

export async function startTable(): Promise<TestTable> {
  const emulators = await startEmulators();
  const client = new DynamoDBClient(localClientConfig(emulators.dynamodbEndpoint));
  await ensureBrokerTable(client, TABLE);
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    emulators,
    client,
    doc,
    async stop() {
      client.destroy();
      await emulators.stop();
    },
  };
}

const writers = new WeakMap<DynamoDBClient, ReturnType<typeof routeWriter>>();

/**
 * Writes a route as the broker's worker does (test/support/routes.ts: the store's writeRoute),
 * plan standard, served in the test region unless `spec` says otherwise; returns its generation.
 */
export async function writeRoute(table: Pick<TestTable, 'client'>, instanceId: string, spec: Partial<ServiceParameters> & { regions?: string[] }, deleted = false): Promise<number> {
  let write = writers.get(table.client);
  if (!write) writers.set(table.client, (write = routeWriter(table.client, TABLE)));
  return write({ instanceId, plan: 'standard', deleted, spec: { regions: [REGION], ...spec } as RouteDocument['spec'] });
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const parse = (b: Buffer) => JSON.parse(b.toString()) as unknown;

/** A tiny gRPC service (`test.Echo/Who`, JSON bodies) that answers with its own name. */
export const ECHO_SERVICE = {
  Who: { path: '/test.Echo/Who', requestStream: false, responseStream: false, requestSerialize: json, requestDeserialize: parse, responseSerialize: json, responseDeserialize: parse },
} as unknown as grpc.ServiceDefinition;

export async function startEchoBackend(name: string): Promise<{ port: number; stop(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    Who: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { name }),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    port,
    stop: async () => {
      server.forceShutdown();
    },
  };
}

export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');

export function callWho(client: grpc.Client, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    (client as unknown as { Who(req: unknown, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { name: string }) => void): void }).Who(
      {},
      { deadline: Date.now() + timeoutMs },
      (err, res) => (err ? reject(err) : resolve(res.name)),
    );
  });
}

/** Waits until an RPC through `client` fails (the service left the xDS config), and returns its error. */
export function waitForRpcFailure(client: grpc.Client, what: string, timeoutMs = 15_000): Promise<grpc.ServiceError> {
  return waitFor(
    what,
    async () => {
      try {
        await callWho(client, 1000);
        return undefined;
      } catch (e) {
        return e as grpc.ServiceError;
      }
    },
    timeoutMs,
  );
}

/** A decoded discovery response, with its resources decoded and named. */
export interface Response {
  readonly version_info: string;
  readonly system_version_info?: string;
  readonly nonce: string;
  readonly type_url: string;
  readonly resources: Array<{ name: string; version?: string; value: Record<string, unknown> }>;
  readonly removed_resources?: string[];
}

function decodeResource(typeUrl: string, value: Uint8Array): Record<string, unknown> {
  const type = messageType(typeUrl);
  return type.toObject(type.decode(value), { longs: Number, enums: String, defaults: false }) as Record<string, unknown>;
}

function nameOf(resource: Record<string, unknown>): string {
  return (resource.name ?? resource.cluster_name) as string;
}

export const TYPE = TYPE_URLS;
export type { ResourceKind };

/** A raw ADS client (SotW or Delta) for protocol tests. */
export class RawAdsClient {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<unknown, Response>;
  readonly responses: Response[] = [];
  private waiters: Array<() => void> = [];
  status?: grpc.StatusObject;
  error?: grpc.ServiceError;

  constructor(port: number, readonly delta = false) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const requestType = messageType(delta ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest');
    const responseType = messageType(delta ? 'envoy.service.discovery.v3.DeltaDiscoveryResponse' : 'envoy.service.discovery.v3.DiscoveryResponse');
    this.call = this.client.makeBidiStreamRequest(
      `/envoy.service.discovery.v3.AggregatedDiscoveryService/${delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources'}`,
      (value: unknown) => Buffer.from(requestType.encode(requestType.fromObject(value as Record<string, unknown>)).finish()),
      (buffer: Buffer) => {
        const message = responseType.toObject(responseType.decode(buffer), { longs: Number, enums: String, defaults: true, bytes: Array }) as Record<string, unknown>;
        const typeUrl = message.type_url as string;
        if (delta) {
          const entries = message.resources as Array<{ name: string; version: string; resource: { type_url: string; value: number[] } }>;
          return {
            version_info: message.system_version_info as string,
            nonce: message.nonce as string,
            type_url: typeUrl,
            removed_resources: message.removed_resources as string[],
            resources: entries.map((e) => ({ name: e.name, version: e.version, value: decodeResource(typeUrl, Uint8Array.from(e.resource.value)) })),
          } as Response;
        }
        const anys = message.resources as Array<{ type_url: string; value: number[] }>;
        const resources = anys.map((a) => {
          const value = decodeResource(a.type_url, Uint8Array.from(a.value));
          return { name: nameOf(value), value };
        });
        return { version_info: message.version_info as string, nonce: message.nonce as string, type_url: typeUrl, resources } as Response;
      },
    );
    this.call.on('data', (response: Response) => {
      this.responses.push(response);
      for (const listener of this.listeners) listener(response);
      for (const w of this.waiters.splice(0)) w();
    });
    this.call.on('status', (status: grpc.StatusObject) => {
      this.status = status;
      for (const w of this.waiters.splice(0)) w();
    });
    this.call.on('error', (err: grpc.ServiceError) => {
      this.error = err;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  private readonly listeners: Array<(response: Response) => void> = [];

  /** Calls `listener` with every response as it arrives. */
  onResponse(listener: (response: Response) => void): void {
    this.listeners.push(listener);
  }

  send(request: Record<string, unknown>): void {
    this.call.write(request);
  }

  /** Waits for the next response (after `count` responses seen) matching a type. */
  async next(typeUrl?: string, timeoutMs = 5000): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    let seen = this.consumed;
    for (;;) {
      for (; seen < this.responses.length; seen++) {
        const response = this.responses[seen];
        if (!typeUrl || response.type_url === typeUrl) {
          this.consumed = seen + 1;
          return response;
        }
      }
      if (this.error) throw this.error;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no response${typeUrl ? ` of ${typeUrl}` : ''} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Asserts that no response arrives for a while. */
  async nothingFor(ms: number): Promise<void> {
    const before = this.responses.length;
    await new Promise((r) => setTimeout(r, ms));
    if (this.responses.length !== before) throw new Error(`unexpected response: ${JSON.stringify(this.responses.slice(before).map((r) => [r.type_url, r.nonce]))}`);
  }

  consumed = 0;

  async closed(timeoutMs = 5000): Promise<grpc.ServiceError> {
    const deadline = Date.now() + timeoutMs;
    while (!this.error && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!this.error) throw new Error('stream was not closed');
    return this.error;
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

export function envoyNode(id: string, extra: Record<string, unknown> = {}, token: string | null = TOKEN): Record<string, unknown> {
  return {
    id,
    cluster: `edge-fleet-${REGION}`,
    locality: { region: REGION, zone: `${REGION}a` },
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: 1, minor_number: 31, patch: 0 } },
    metadata: token === null ? { fields: {} } : { fields: { auth: { stringValue: token } } },
    ...extra,
  };
}

/**
 * A simulated Envoy on SotW ADS: subscribes LDS and CDS (wildcard) and answers every response
 * at once, with an ACK, or a NACK when `nack` returns an error_detail for it. `hold()` stops
 * answering (a slow node) until `release()`.
 */
export class SimEnvoy {
  readonly client: RawAdsClient;
  /** Latest response of each type, and whether it was ACKed. */
  readonly latest = new Map<string, { response: Response; acked: boolean }>();
  private readonly acked = new Map<string, string>();
  private held: Response[] | undefined;
  /** NACKs this node has sent (counted here, so tests need not read the server's counter). */
  nacksSent = 0;

  constructor(
    port: number,
    readonly id: string,
    private readonly nack: (response: Response) => string | undefined = () => undefined,
  ) {
    this.client = new RawAdsClient(port);
    this.client.onResponse((response) => (this.held ? this.held.push(response) : this.answer(response)));
    this.client.send({ type_url: TYPE.clusters, resource_names: [], node: envoyNode(id) });
    this.client.send({ type_url: TYPE.listeners, resource_names: [] });
  }

  private answer(response: Response): void {
    const error = this.nack(response);
    if (!error) this.acked.set(response.type_url, response.version_info);
    else this.nacksSent++;
    this.latest.set(response.type_url, { response, acked: !error });
    this.client.send({
      type_url: response.type_url,
      resource_names: [],
      version_info: this.acked.get(response.type_url) ?? '',
      response_nonce: response.nonce,
      ...(error ? { error_detail: { code: 3, message: error } } : {}),
    });
  }

  /** Names of the clusters the node holds (its last ACKed CDS response). */
  clusters(): string[] {
    const latest = this.latest.get(TYPE.clusters);
    return latest?.acked ? latest.response.resources.map((r) => r.name).sort() : [];
  }

  /** Every cluster name the node was ever sent. */
  everSent(): Set<string> {
    return new Set(this.client.responses.filter((r) => r.type_url === TYPE.clusters).flatMap((r) => r.resources.map((x) => x.name)));
  }

  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const response of held) this.answer(response);
  }

  close(): void {
    this.client.close();
  }
}
