import { CanaryState, RegionPin, RejectedChange } from '../../../model';
import { CanarySettings } from '../canary';
import { CanaryHealth } from '../canary-health';
import { SourceStatus } from '../context';
import { DiscoveryTokens } from '../discovery-token';
import { Metrics } from '../metrics';
import { RESOURCE_KINDS } from '../protos';
import { upstreamTls } from '../templates/common';
import { TenantRules } from '../tenant-rules';
import { SYSTEM_TRUST_STORE, unverifiedUpstreamTls } from '../upstream-tls';
import { SnapshotCache } from '../cache/snapshot-cache';
import { CoreState } from '../cache/types';
import { RENDER_FAULT_PREFIX } from '../rollout/rollout';

/** What the report reads from the other stages. */
export interface ReportInputs {
  readonly region: string;
  readonly state: CoreState;
  readonly cache: SnapshotCache;
  readonly metrics: Metrics;
  readonly canaryHealth: CanaryHealth;
  readonly tenantRules: TenantRules;
  readonly tokens: DiscoveryTokens;
  readonly canarySettings?: CanarySettings;
  sourceStatuses(): SourceStatus[];
  pinned(): RegionPin | undefined;
  lastRender(): { at: string; ms: number; ok: boolean } | undefined;
  canary(): CanaryState | undefined;
  rejections(): ReadonlyMap<string, RejectedChange>;
}

/**
 * Stage 7, the report: fleet status (/status), Prometheus metrics (/metrics) and the render
 * state gauges (emf.ts). Reads the other stages; changes nothing.
 */
export class Reporter {
  constructor(private readonly inputs: ReportInputs) {}

  /**
   * The render state as two gauges (Edge/ControlPlane ProfilesRenderFailing and
   * ProfilesHeldBack, published every interval by emf.ts):
   * - profilesRenderFailing: profiles whose latest render failed validation as a whole; their
   *   nodes keep the last good snapshot (or get none, if the profile never rendered);
   * - profilesHeldBack: profiles held on their stable snapshot because the canaries rejected a
   *   candidate no route change explains (a template or settings fault), until one is promoted.
   * A state, so an alarm on it stays in ALARM exactly as long as the region is affected.
   */
  renderStateGauges(): { profilesRenderFailing: number; profilesHeldBack: number } {
    let profilesRenderFailing = 0;
    let profilesHeldBack = 0;
    for (const profile of this.inputs.cache.profiles.values()) {
      if (profile.heldBack) profilesHeldBack++;
      // A render fault records its own lastFailure (one problem with this message): that is the held-back state, not a failed render.
      const fault = profile.heldBack !== undefined && profile.lastFailure?.problems.length === 1 && profile.lastFailure.problems[0].message.startsWith(RENDER_FAULT_PREFIX);
      if (profile.lastFailure && !fault) profilesRenderFailing++;
    }
    return { profilesRenderFailing, profilesHeldBack };
  }

  metricsText(): string {
    const { cache, tenantRules, metrics } = this.inputs;
    const excluded = new Set<string>();
    for (const p of cache.profiles.values()) for (const e of p.snapshot?.excluded ?? []) excluded.add(e.instanceId);
    for (const e of tenantRules.excluded()) excluded.add(e.instanceId);
    return (
      metrics.render({
        connectedNodes: cache.sessions.size,
        sourceStaleness: this.inputs.sourceStatuses().map((s) => ({ name: s.name, seconds: s.stalenessSeconds })),
        excludedInstances: excluded.size,
      }) + tenantRules.metricsText()
    );
  }

  /** Fleet status: convergence per region, rejections with their error_detail, sources, render state. */
  status(options: { listNodes?: number } = {}): Record<string, unknown> {
    const { cache, state } = this.inputs;
    const regions = new Map<string, { nodes: number; current: number; behind: string[]; rejected: unknown[] }>();
    const listed: unknown[] = [];
    const limit = options.listNodes ?? 200;
    for (const session of cache.sessions) {
      const record = session.record;
      const region = regions.get(record.node.region) ?? { nodes: 0, current: 0, behind: [], rejected: [] };
      regions.set(record.node.region, region);
      region.nodes++;
      const current = cache.isCurrent(record);
      if (current) region.current++;
      else if (region.behind.length < 50) region.behind.push(record.node.id);
      if (record.lastNack && region.rejected.length < 50) region.rejected.push({ node: record.node.id, type: record.lastNack.kind, version: record.lastNack.version, error: record.lastNack.message, at: record.lastNack.at });
      if (listed.length < limit)
        listed.push({
          id: record.node.id,
          cluster: record.node.cluster,
          region: record.node.region,
          zone: record.node.zone,
          userAgent: record.node.userAgentName,
          version: record.node.version ? `${record.node.version.major}.${record.node.version.minor}.${record.node.version.patch}` : undefined,
          protocol: record.protocol,
          connectedAt: record.connectedAt,
          profile: record.profile,
          acked: record.acked,
          lastNack: record.lastNack,
        });
    }
    return {
      region: this.inputs.region,
      ready: state.context !== undefined,
      contextOrigin: state.contextOrigin ?? null,
      pinned: this.inputs.pinned() ?? null,
      routes: state.context?.routes.length ?? 0,
      sources: this.inputs.sourceStatuses(),
      lastRender: this.inputs.lastRender() ?? null,
      profiles: [...cache.profiles.values()].map((p) => ({
        profile: p.key,
        origin: p.snapshotOrigin ?? null,
        createdAt: p.snapshot?.createdAt ?? null,
        versions: p.snapshot ? Object.fromEntries(RESOURCE_KINDS.map((k) => [k, p.snapshot!.types[k].version])) : null,
        resources: p.snapshot ? Object.fromEntries(RESOURCE_KINDS.map((k) => [k, p.snapshot!.types[k].resources.size])) : null,
        nodes: p.sessions.size,
        lastFailure: p.lastFailure ?? null,
        excluded: p.snapshot?.excluded ?? [],
        warnings: p.snapshot?.warnings ?? [],
      })),
      convergence: Object.fromEntries(regions),
      canary: this.inputs.canary() ?? null,
      canarySettings: this.inputs.canarySettings ?? { fraction: 0, soakMs: 0 },
      canaryHealth: this.inputs.canaryHealth.status(),
      rejected: Object.fromEntries(this.inputs.rejections()),
      tenantRules: this.inputs.tenantRules.status(),
      discoveryToken: this.inputs.tokens.status(),
      upstreamTls: { trustStore: SYSTEM_TRUST_STORE, unverified: unverifiedUpstreamTls(state.context?.routes ?? [], upstreamTls) },
      connectedNodes: cache.sessions.size,
      nodes: listed,
    };
  }
}
