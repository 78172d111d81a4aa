import { isIP } from 'node:net';
import { Logger } from './logger';
import { Snapshot } from './snapshot';

/**
 * Canary health over Envoy's Health Discovery Service (HDS): during a rollout each canary
 * proxy that keeps an HDS stream open is told to health-check the endpoints of the
 * candidate's changed clusters, and reports their health back. The candidate is promoted
 * only once every such canary sees at least one healthy endpoint in every changed cluster;
 * otherwise, at the health deadline, the rollout is halted and the change rejected.
 *
 * - `off`: no health gate (ACKs and the soak only).
 * - `hds`: canaries with an HDS stream are health-gated; canaries without one keep the
 *   ACK + soak behaviour (proxies from an AMI without `hds_config`).
 * - `required`: every canary must report health over HDS; a canary that does not is a
 *   health drop at the deadline.
 */
export type CanaryHealthMode = 'off' | 'hds' | 'required';
export const CANARY_HEALTH_MODES: readonly CanaryHealthMode[] = ['off', 'hds', 'required'];

export interface CanaryHealthSettings {
  readonly mode: CanaryHealthMode;
  /** From the start of a rollout, how long the canaries have to show every changed cluster healthy. */
  readonly timeoutMs: number;
}

export const CANARY_HEALTH_ENV: Readonly<Record<keyof CanaryHealthSettings, string>> = {
  mode: 'EDGE_CANARY_HEALTH',
  timeoutMs: 'EDGE_CANARY_HEALTH_TIMEOUT_MS',
};

/** In AWS: health-gate the canaries that speak HDS, 60 s to prove a changed cluster healthy. */
export const DEFAULT_CANARY_HEALTH: CanaryHealthSettings = { mode: 'hds', timeoutMs: 60_000 };
/** Locally: the same, with 5 s. */
export const LOCAL_CANARY_HEALTH: CanaryHealthSettings = { mode: 'hds', timeoutMs: 5_000 };

/** Checks canary health settings; `name` says what to call a field in the error. */
export function checkCanaryHealthSettings(settings: CanaryHealthSettings, name: (key: keyof CanaryHealthSettings) => string = (k) => CANARY_HEALTH_ENV[k]): CanaryHealthSettings {
  if (!CANARY_HEALTH_MODES.includes(settings.mode)) {
    throw new Error(`${name('mode')}: must be one of ${CANARY_HEALTH_MODES.join(', ')} (got ${JSON.stringify(settings.mode)})`);
  }
  const { timeoutMs } = settings;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 3_600_000) {
    throw new Error(`${name('timeoutMs')}: must be a whole number of milliseconds from 100 to 3600000 (got ${JSON.stringify(timeoutMs)})`);
  }
  return settings;
}

/** Reads EDGE_CANARY_HEALTH / EDGE_CANARY_HEALTH_TIMEOUT_MS over `defaults`; a bad value throws naming the variable. */
export function canaryHealthSettingsFromEnv(env: NodeJS.ProcessEnv, defaults: CanaryHealthSettings): CanaryHealthSettings {
  const rawMode = env[CANARY_HEALTH_ENV.mode];
  const rawTimeout = env[CANARY_HEALTH_ENV.timeoutMs];
  const mode = rawMode === undefined || rawMode.trim() === '' ? defaults.mode : (rawMode.trim() as CanaryHealthMode);
  let timeoutMs = defaults.timeoutMs;
  if (rawTimeout !== undefined && rawTimeout.trim() !== '') {
    timeoutMs = Number(rawTimeout);
    if (!Number.isFinite(timeoutMs)) throw new Error(`${CANARY_HEALTH_ENV.timeoutMs}: must be a number (got ${JSON.stringify(rawTimeout)})`);
  }
  return checkCanaryHealthSettings({ mode, timeoutMs });
}

/** How often canaries report over HDS (the specifier's interval): a tenth of the timeout, 200 ms to 5 s. */
export function reportIntervalMs(settings: CanaryHealthSettings): number {
  return Math.min(5000, Math.max(200, Math.round(settings.timeoutMs / 10)));
}

const duration = (ms: number) => `${ms / 1000}s`;

/** An endpoint of a changed cluster, grouped by locality as the cluster has it. */
export interface HealthEndpoint {
  readonly address: string;
  readonly port: number;
}

/** A changed cluster of a candidate snapshot, as canaries are asked to health-check it. */
export interface HealthTarget {
  readonly cluster: string;
  readonly instanceIds: readonly string[];
  readonly localities: ReadonlyArray<{ readonly locality?: Record<string, unknown>; readonly endpoints: readonly HealthEndpoint[] }>;
  /** Canonical JSON of envoy.config.core.v3.HealthCheck. */
  readonly healthChecks: readonly Record<string, unknown>[];
  /** The cluster's upstream TLS, so that checks speak TLS too. */
  readonly transportSocket?: Record<string, unknown>;
}

interface ClusterJson {
  name?: string;
  type?: string;
  load_assignment?: AssignmentJson;
  health_checks?: Record<string, unknown>[];
  transport_socket?: Record<string, unknown>;
}

interface AssignmentJson {
  endpoints?: Array<{ locality?: Record<string, unknown>; lb_endpoints?: Array<{ endpoint?: { address?: { socket_address?: { address?: string; port_value?: number } } } }> }>;
}

function localities(assignment: AssignmentJson | undefined): Array<{ locality?: Record<string, unknown>; endpoints: HealthEndpoint[]; unresolved: number }> {
  return (assignment?.endpoints ?? []).map((group) => {
    const all = (group.lb_endpoints ?? []).map((e) => e.endpoint?.address?.socket_address).filter((s) => s?.address !== undefined);
    // HDS clusters take endpoint addresses as IPs (Envoy does not resolve DNS names for them).
    const endpoints = all.filter((s) => isIP(s!.address!) !== 0).map((s) => ({ address: s!.address!, port: s!.port_value ?? 0 }));
    return { locality: group.locality, endpoints, unresolved: all.length - endpoints.length };
  });
}

/**
 * The health checks canaries run for a cluster: its own (with `no_traffic_interval` set to
 * their interval, since an HDS cluster never has traffic and would otherwise be checked
 * once a minute), at most a quarter of the timeout apart; a TCP connect check when it has none.
 */
function checksFor(cluster: ClusterJson, settings: CanaryHealthSettings): Record<string, unknown>[] {
  const ceilingMs = Math.max(100, Math.floor(settings.timeoutMs / 4));
  const ms = (value: unknown, fallback: number) => (typeof value === 'string' && /^\d+(\.\d+)?s$/.test(value) ? Math.round(Number(value.slice(0, -1)) * 1000) : fallback);
  const own = cluster.health_checks ?? [];
  if (own.length === 0) {
    const interval = Math.min(ceilingMs, reportIntervalMs(settings));
    return [{ timeout: duration(Math.min(interval, 2000)), interval: duration(interval), no_traffic_interval: duration(interval), unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }];
  }
  return own.map((check) => {
    const interval = Math.min(ceilingMs, ms(check.interval, ceilingMs));
    return { ...check, interval: duration(interval), no_traffic_interval: duration(interval), timeout: duration(Math.min(ms(check.timeout, interval), interval)) };
  });
}

/**
 * The clusters of `candidate` that differ from `stable` (the cluster or its endpoints), with
 * the endpoints a canary can check. A cluster whose endpoints are all DNS names is left out
 * (HDS checks IPs only); one with no endpoints at all is kept, with none, and fails outright.
 */
export function healthTargets(candidate: Snapshot, stable: Snapshot | undefined, settings: CanaryHealthSettings): HealthTarget[] {
  const out: HealthTarget[] = [];
  for (const [name, resource] of candidate.types.clusters.resources) {
    const eds = candidate.types.endpoints.resources.get(name);
    const changed = stable?.types.clusters.resources.get(name)?.version !== resource.version || stable?.types.endpoints.resources.get(name)?.version !== eds?.version;
    if (!changed) continue;
    const cluster = resource.json as ClusterJson;
    const groups = localities(cluster.type === 'EDS' ? (eds?.json as AssignmentJson | undefined) : cluster.load_assignment);
    const checkable = groups.filter((g) => g.endpoints.length > 0);
    if (checkable.length === 0 && groups.some((g) => g.unresolved > 0)) continue;
    out.push({
      cluster: name,
      instanceIds: resource.instanceIds,
      localities: checkable.map((g) => ({ locality: g.locality, endpoints: g.endpoints })),
      healthChecks: checksFor(cluster, settings),
      transportSocket: cluster.transport_socket,
    });
  }
  return out;
}

/** Canonical JSON of the HealthCheckSpecifier that asks a canary to check `targets`. */
export function healthCheckSpecifier(targets: readonly HealthTarget[], settings: CanaryHealthSettings): Record<string, unknown> {
  return {
    cluster_health_checks: targets
      .filter((t) => t.localities.length > 0)
      .map((t) => ({
        cluster_name: t.cluster,
        health_checks: t.healthChecks,
        locality_endpoints: t.localities.map((l) => ({
          ...(l.locality ? { locality: l.locality } : {}),
          endpoints: l.endpoints.map((e) => ({ address: { socket_address: { address: e.address, port_value: e.port } } })),
        })),
        ...(t.transportSocket ? { transport_socket_matches: [{ name: 'upstream-tls', match: {}, transport_socket: t.transportSocket }] } : {}),
      })),
    interval: duration(reportIntervalMs(settings)),
  };
}

/** An EndpointHealthResponse as decoded (protobufjs toObject, enums as names). */
export interface EndpointHealthReport {
  cluster_endpoints_health?: Array<{
    cluster_name?: string;
    locality_endpoints_health?: Array<{ endpoints_health?: Array<{ endpoint?: { address?: { socket_address?: { address?: string; port_value?: number } } }; health_status?: string }> }>;
  }>;
}

/** One open HDS stream of a node. */
export interface HdsPeer {
  readonly nodeId: string;
  /** Sends a HealthCheckSpecifier (canonical JSON); false when it could not be sent. */
  send(specifier: Record<string, unknown>): boolean;
}

/** Endpoint key -> last reported status, by cluster. */
type ClusterHealth = Map<string, Map<string, string>>;

const SERVING = new Set(['HEALTHY', 'DEGRADED']);
const endpointKey = (address: string | undefined, port: number | undefined) => `${address ?? '?'}:${port ?? 0}`;

export interface RolloutHealthOptions {
  readonly canaries: readonly string[];
  readonly targets: readonly HealthTarget[];
  /** At the deadline (or at once for a cluster without endpoints): why, and the instances to blame. */
  onUnhealthy(reason: string, instanceIds: ReadonlySet<string>): void;
}

/** The health gate of one rollout. */
export class RolloutHealth {
  private readonly reports = new Map<string, ClusterHealth>();
  /** Canaries asked over HDS (those with a stream at the start, or that opened one since). */
  private readonly asked = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private waiter?: () => void;
  private done = false;
  readonly startedAt = Date.now();

  /** The canaries (a canary that leaves is replaced). */
  private readonly canaries: string[];

  constructor(
    private readonly gate: CanaryHealth,
    private readonly options: RolloutHealthOptions,
  ) {
    this.canaries = [...options.canaries];
    const empty = options.targets.filter((t) => t.localities.length === 0);
    if (empty.length > 0) {
      const reason = `canary health: ${empty.map((t) => `${describeTarget(t)} has no endpoints at all`).join('; ')}`;
      this.timer = setTimeout(() => this.fail(reason, empty), 0);
      return;
    }
    for (const id of options.canaries) this.ask(id);
    this.timer = setTimeout(() => {
      if (!this.healthy()) this.fail(this.reason(), this.unhealthyTargets().map(([t]) => t));
    }, gate.settings.timeoutMs);
  }

  /** Sends the specifier to a canary with an open HDS stream. */
  ask(nodeId: string): void {
    if (this.done || !this.canaries.includes(nodeId)) return;
    const peer = this.gate.peer(nodeId);
    if (peer && peer.send(healthCheckSpecifier(this.options.targets, this.gate.settings))) this.asked.add(nodeId);
  }

  /** The canaries whose health counts: every canary when HDS is required, else those asked over HDS. */
  private gated(): string[] {
    return this.gate.settings.mode === 'required' ? [...this.canaries] : this.canaries.filter((id) => this.asked.has(id));
  }

  /** Records a canary's report; promotes a rollout waiting on health once it is healthy. */
  reported(nodeId: string, report: EndpointHealthReport): void {
    if (this.done || !this.canaries.includes(nodeId)) return;
    this.asked.add(nodeId);
    const clusters: ClusterHealth = new Map();
    for (const cluster of report.cluster_endpoints_health ?? []) {
      const endpoints = new Map<string, string>();
      for (const locality of cluster.locality_endpoints_health ?? [])
        for (const e of locality.endpoints_health ?? []) endpoints.set(endpointKey(e.endpoint?.address?.socket_address?.address, e.endpoint?.address?.socket_address?.port_value), e.health_status ?? 'UNKNOWN');
      clusters.set(cluster.cluster_name ?? '', endpoints);
    }
    this.reports.set(nodeId, clusters);
    if (this.waiter && this.healthy()) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter();
    }
  }

  /** Per unhealthy target, the gated canaries that do not see a serving endpoint. */
  private unhealthyTargets(): Array<[HealthTarget, string[]]> {
    const gated = this.gated();
    const out: Array<[HealthTarget, string[]]> = [];
    for (const target of this.options.targets) {
      const failing = gated.filter((id) => ![...(this.reports.get(id)?.get(target.cluster)?.values() ?? [])].some((s) => SERVING.has(s)));
      if (failing.length > 0) out.push([target, failing]);
    }
    return out;
  }

  /** Whether every gated canary sees a serving endpoint in every changed cluster (true with none gated). */
  healthy(): boolean {
    return this.unhealthyTargets().length === 0;
  }

  /** Calls `then` once healthy (at once when already); the deadline still applies. */
  awaitHealthy(then: () => void): void {
    if (this.done) return;
    if (this.healthy()) then();
    else this.waiter = then;
  }

  /** `canary health: instance i, cluster c has no healthy endpoint (10.0.0.1:9 unhealthy) on 1 of 1 canaries (node)`. */
  reason(): string {
    const gated = this.gated();
    const seconds = this.gate.settings.timeoutMs / 1000;
    const parts = this.unhealthyTargets().map(([target, failing]) => {
      const seen = new Map<string, string>();
      for (const id of failing) for (const [key, status] of this.reports.get(id)?.get(target.cluster) ?? []) seen.set(key, status.toLowerCase());
      const expected = target.localities.flatMap((l) => l.endpoints.map((e) => endpointKey(e.address, e.port)));
      const endpoints = expected.slice(0, 5).map((key) => `${key} ${seen.get(key) ?? `not reported within ${seconds} s`}`);
      if (expected.length > 5) endpoints.push(`${expected.length - 5} more`);
      return `${describeTarget(target)} has no healthy endpoint (${endpoints.join(', ')}) on ${failing.length} of ${gated.length} canaries (${failing.slice(0, 5).join(', ')})`;
    });
    return `canary health: ${parts.join('; ')}`;
  }

  private fail(reason: string, targets: readonly HealthTarget[]): void {
    if (this.done) return;
    const instanceIds = new Set(targets.flatMap((t) => t.instanceIds));
    this.cancel();
    this.options.onUnhealthy(reason, instanceIds);
  }

  /** Ends the gate: no callback any more, and the canaries stop checking. */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.waiter = undefined;
    this.gate.ended(this);
    for (const id of this.asked) this.gate.peer(id)?.send({ cluster_health_checks: [], interval: duration(reportIntervalMs(this.gate.settings)) });
  }

  /** A canary left and another took its place: the one that left no longer counts, the new one is asked. */
  replace(left: string, replacement: string): void {
    if (this.done) return;
    const at = this.canaries.indexOf(left);
    if (at >= 0) this.canaries.splice(at, 1);
    this.asked.delete(left);
    this.reports.delete(left);
    if (!this.canaries.includes(replacement)) this.canaries.push(replacement);
    this.ask(replacement);
  }

  includes(nodeId: string): boolean {
    return this.canaries.includes(nodeId);
  }
}

function describeTarget(target: HealthTarget): string {
  const instances = target.instanceIds.length > 0 ? `instance ${target.instanceIds.join(', ')}, ` : '';
  return `${instances}cluster ${target.cluster}`;
}

/** The HDS streams of this task's nodes and the health gates of the rollouts under way. */
export class CanaryHealth {
  private readonly peers = new Map<string, HdsPeer>();
  private readonly rollouts = new Set<RolloutHealth>();

  constructor(
    readonly settings: CanaryHealthSettings,
    private readonly logger: Logger,
  ) {}

  peer(nodeId: string): HdsPeer | undefined {
    return this.peers.get(nodeId);
  }

  /** A node opened an HDS stream (the newest stream of a node wins). */
  connected(peer: HdsPeer): void {
    this.peers.set(peer.nodeId, peer);
    for (const rollout of this.rollouts) rollout.ask(peer.nodeId);
  }

  disconnected(peer: HdsPeer): void {
    if (this.peers.get(peer.nodeId) === peer) this.peers.delete(peer.nodeId);
  }

  reported(nodeId: string, report: EndpointHealthReport): void {
    for (const rollout of this.rollouts) rollout.reported(nodeId, report);
  }

  /**
   * Starts the health gate of a rollout (undefined when the gate is off, nothing changed
   * that can be checked, or -- in `hds` mode -- no canary speaks HDS).
   */
  begin(options: RolloutHealthOptions): RolloutHealth | undefined {
    if (this.settings.mode === 'off' || options.targets.length === 0) return undefined;
    const rollout = new RolloutHealth(this, options);
    this.rollouts.add(rollout);
    this.logger.log('info', 'canary health check started', {
      canaries: options.canaries.slice(0, 20),
      hds: options.canaries.filter((id) => this.peers.has(id)).length,
      clusters: options.targets.map((t) => t.cluster).slice(0, 20),
      mode: this.settings.mode,
      timeoutMs: this.settings.timeoutMs,
    });
    return rollout;
  }

  ended(rollout: RolloutHealth): void {
    this.rollouts.delete(rollout);
  }

  status(): Record<string, unknown> {
    return { ...this.settings, hdsStreams: this.peers.size, checking: this.rollouts.size };
  }
}
