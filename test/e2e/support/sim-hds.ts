/**
 * A simulated Envoy HDS client (envoy.service.health.v3.HealthDiscoveryService): opens
 * StreamHealthCheck with a HealthCheckRequest (node + capability HTTP/TCP), takes each
 * HealthCheckSpecifier as the whole set of clusters to check (as Envoy does), really checks
 * their endpoints -- a TCP connect, an HTTP GET or a gRPC health Check, per the
 * HealthCheck's kind, with its timeout and thresholds -- and reports EndpointHealthResponse
 * every `interval` of the specifier. As in Envoy, an endpoint starts unhealthy and its first
 * successful check makes it healthy at once.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { HDS_METHOD, loadHdsProtos } from '../../../lib/control-plane/runtime/hds-server';
import { messageType } from '../../../lib/control-plane/runtime/protos';

type Status = 'HEALTHY' | 'UNHEALTHY' | 'TIMEOUT';

interface Duration {
  seconds?: number;
  nanos?: number;
}

interface HealthCheckSpec {
  timeout?: Duration;
  interval?: Duration;
  no_traffic_interval?: Duration;
  unhealthy_threshold?: { value?: number };
  healthy_threshold?: { value?: number };
  http_health_check?: { path?: string; host?: string };
  tcp_health_check?: Record<string, unknown>;
  grpc_health_check?: { service_name?: string };
}

interface SpecifierJson {
  cluster_health_checks?: Array<{
    cluster_name?: string;
    health_checks?: HealthCheckSpec[];
    locality_endpoints?: Array<{ locality?: Record<string, unknown>; endpoints?: Array<{ address?: { socket_address?: { address?: string; port_value?: number } } }> }>;
  }>;
  interval?: Duration;
}

const ms = (d: Duration | undefined, fallback: number) => (d ? Number(d.seconds ?? 0) * 1000 + Math.round(Number(d.nanos ?? 0) / 1e6) : fallback);

/** One endpoint under active health checking. */
class EndpointChecker {
  status: Status = 'UNHEALTHY';
  checks = 0;
  private successes = 0;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    readonly cluster: string,
    readonly address: string,
    readonly port: number,
    private readonly spec: HealthCheckSpec,
  ) {
    this.timer = setTimeout(() => void this.run(), 0);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const timeoutMs = ms(this.spec.timeout, 1000);
    const outcome = await this.check(timeoutMs);
    if (this.stopped) return;
    this.checks++;
    if (outcome === 'ok') {
      this.failures = 0;
      this.successes++;
      // Envoy: the first successful check of a new host marks it healthy at once.
      if (this.status !== 'HEALTHY' && (this.checks === 1 || this.successes >= (this.spec.healthy_threshold?.value ?? 1))) this.status = 'HEALTHY';
    } else {
      this.successes = 0;
      this.failures++;
      if (this.status === 'HEALTHY' ? this.failures >= (this.spec.unhealthy_threshold?.value ?? 1) : true) this.status = outcome === 'timeout' ? 'TIMEOUT' : 'UNHEALTHY';
    }
    const interval = ms(this.spec.no_traffic_interval ?? this.spec.interval, 1000);
    this.timer = setTimeout(() => void this.run(), interval);
  }

  private check(timeoutMs: number): Promise<'ok' | 'failed' | 'timeout'> {
    if (this.spec.http_health_check) return this.http(timeoutMs);
    if (this.spec.grpc_health_check) return this.grpcCheck(timeoutMs);
    return this.tcp(timeoutMs);
  }

  private tcp(timeoutMs: number): Promise<'ok' | 'failed' | 'timeout'> {
    return new Promise((resolve) => {
      const socket = connect({ host: this.address, port: this.port });
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      function finish(outcome: 'ok' | 'failed' | 'timeout') {
        clearTimeout(timer);
        socket.destroy();
        resolve(outcome);
      }
      socket.once('connect', () => finish('ok'));
      socket.once('error', () => finish('failed'));
    });
  }

  private http(timeoutMs: number): Promise<'ok' | 'failed' | 'timeout'> {
    const check = this.spec.http_health_check!;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (outcome: 'ok' | 'failed' | 'timeout') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        resolve(outcome);
      };
      const req = httpRequest({ host: this.address, port: this.port, path: check.path ?? '/', method: 'GET', headers: { host: check.host || this.cluster, 'user-agent': 'Envoy/HC' } }, (res) => {
        res.resume();
        // Envoy's default expected status is 200 only.
        finish(res.statusCode === 200 ? 'ok' : 'failed');
      });
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      req.once('error', () => finish('failed'));
      req.end();
    });
  }

  private grpcCheck(timeoutMs: number): Promise<'ok' | 'failed' | 'timeout'> {
    const service = this.spec.grpc_health_check?.service_name ?? '';
    const client = new grpc.Client(`${this.address}:${this.port}`, grpc.credentials.createInsecure());
    // grpc.health.v1.HealthCheckRequest { string service = 1 }; the response's field 1 is the status (1 = SERVING).
    const body = service ? Buffer.concat([Buffer.from([10, Buffer.byteLength(service)]), Buffer.from(service)]) : Buffer.alloc(0);
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (value: Buffer) => value,
        (value: Buffer) => value,
        body,
        { deadline: Date.now() + timeoutMs },
        (err, response) => {
          client.close();
          if (err) resolve(err.code === grpc.status.DEADLINE_EXCEEDED ? 'timeout' : 'failed');
          else resolve(response && response.length >= 2 && response[0] === 8 && response[1] === 1 ? 'ok' : 'failed');
        },
      );
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

export interface SimHdsOptions {
  readonly id: string;
  readonly token: string;
  readonly region: string;
  readonly zone?: string;
  readonly cluster?: string;
}

/** One node's HDS stream, on the node's connection to the control plane (as Envoy shares its xds_cluster). */
export class SimHdsClient {
  /** Every specifier received, decoded. */
  readonly specifiers: SpecifierJson[] = [];
  /** Every report sent. */
  readonly reports: Array<{ at: number; clusters: Record<string, Record<string, Status>> }> = [];
  error?: grpc.ServiceError;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private checkers: Array<{ cluster: string; locality?: Record<string, unknown>; checker: EndpointChecker }> = [];
  private reportTimer?: NodeJS.Timeout;
  private intervalMs = 0;
  private closed = false;

  constructor(
    client: grpc.Client,
    readonly options: SimHdsOptions,
  ) {
    loadHdsProtos();
    const requestType = messageType('envoy.service.health.v3.HealthCheckRequestOrEndpointHealthResponse');
    const specifierType = messageType('envoy.service.health.v3.HealthCheckSpecifier');
    this.encode = (value) => Buffer.from(requestType.encode(requestType.fromObject(value)).finish());
    this.call = client.makeBidiStreamRequest(
      HDS_METHOD,
      (value: Buffer) => value,
      (value: Buffer) => value,
    );
    this.call.on('data', (buffer: Buffer) => this.apply(specifierType.toObject(specifierType.decode(buffer), { longs: Number, enums: String, defaults: false }) as SpecifierJson));
    this.call.on('error', (err: grpc.ServiceError) => {
      this.error = err;
      this.stopChecks();
    });
    this.call.write(
      this.encode({
        health_check_request: {
          node: {
            id: options.id,
            cluster: options.cluster ?? `edge-fleet-${options.region}`,
            locality: { region: options.region, zone: options.zone ?? `${options.region}a` },
            user_agent_name: 'envoy',
            user_agent_build_version: { version: { major_number: 1, minor_number: 31, patch: 0 } },
            metadata: { fields: options.token ? { auth: { stringValue: options.token } } : {} },
          },
          capability: { health_check_protocols: ['HTTP', 'TCP'] },
        },
      }),
    );
  }

  private readonly encode: (value: Record<string, unknown>) => Buffer;

  /** The clusters the node is checking now. */
  clusters(): string[] {
    return [...new Set(this.checkers.map((c) => c.cluster))].sort();
  }

  /** An endpoint's current status (undefined when not checked). */
  status(cluster: string, address: string, port: number): Status | undefined {
    return this.checkers.find((c) => c.cluster === cluster && c.checker.address === address && c.checker.port === port)?.checker.status;
  }

  /** A specifier replaces the set of clusters under check; the interval sets the report period. */
  private apply(specifier: SpecifierJson): void {
    this.specifiers.push(specifier);
    this.stopChecks();
    for (const cluster of specifier.cluster_health_checks ?? []) {
      const name = cluster.cluster_name ?? '';
      const spec = cluster.health_checks?.[0] ?? {};
      for (const locality of cluster.locality_endpoints ?? [])
        for (const endpoint of locality.endpoints ?? []) {
          const socket = endpoint.address?.socket_address;
          this.checkers.push({ cluster: name, locality: locality.locality, checker: new EndpointChecker(name, socket?.address ?? '', socket?.port_value ?? 0, spec) });
        }
    }
    const interval = ms(specifier.interval, 1000);
    if (interval !== this.intervalMs || !this.reportTimer) {
      this.intervalMs = interval;
      clearInterval(this.reportTimer);
      this.reportTimer = setInterval(() => this.report(), interval);
    }
  }

  private report(): void {
    if (this.closed) return;
    const byCluster = new Map<string, typeof this.checkers>();
    for (const c of this.checkers) byCluster.set(c.cluster, [...(byCluster.get(c.cluster) ?? []), c]);
    const clusters: Record<string, Record<string, Status>> = {};
    const cluster_endpoints_health = [...byCluster].map(([name, checkers]) => {
      clusters[name] = Object.fromEntries(checkers.map((c) => [`${c.checker.address}:${c.checker.port}`, c.checker.status]));
      return {
        cluster_name: name,
        locality_endpoints_health: [
          {
            locality: checkers[0].locality,
            endpoints_health: checkers.map((c) => ({ endpoint: { address: { socket_address: { address: c.checker.address, port_value: c.checker.port } } }, health_status: c.checker.status })),
          },
        ],
      };
    });
    this.reports.push({ at: Date.now(), clusters });
    this.call.write(this.encode({ endpoint_health_response: { cluster_endpoints_health } }));
  }

  private stopChecks(): void {
    for (const c of this.checkers) c.checker.stop();
    this.checkers = [];
  }

  close(): void {
    this.closed = true;
    this.stopChecks();
    clearInterval(this.reportTimer);
    this.call.cancel();
  }
}
