/** Counters and gauges exposed as Prometheus text on /metrics. */
export class Metrics {
  pushes = 0;
  acks = 0;
  nacks = 0;
  staleNonces = 0;
  renders = 0;
  renderFailures = 0;
  /** Canary rollouts halted and rolled back (the EMF CanaryRollbacks metric, emf.ts). */
  canaryRollbacks = 0;
  renderFaultsHeldBack = 0;
  lastRenderMs = 0;
  renderMsTotal = 0;
  sourceFailures = new Map<string, number>();
  authRefusals = 0;
  restRequests = 0;

  render(gauges: { connectedNodes: number; sourceStaleness: ReadonlyArray<{ name: string; seconds: number }>; excludedInstances: number }): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    metric('edge_xds_connected_nodes', 'gauge', 'Nodes with an open ADS stream.', [['', gauges.connectedNodes]]);
    metric('edge_xds_pushes_total', 'counter', 'Discovery responses sent.', [['', this.pushes]]);
    metric('edge_xds_acks_total', 'counter', 'Responses acknowledged by nodes.', [['', this.acks]]);
    metric('edge_xds_nacks_total', 'counter', 'Responses rejected by nodes.', [['', this.nacks]]);
    metric('edge_xds_stale_nonces_total', 'counter', 'Requests ignored for a stale nonce.', [['', this.staleNonces]]);
    metric('edge_xds_auth_refusals_total', 'counter', 'Streams and requests refused for a missing or wrong token.', [['', this.authRefusals]]);
    metric('edge_rest_requests_total', 'counter', 'REST discovery requests.', [['', this.restRequests]]);
    metric('edge_render_total', 'counter', 'Snapshot renders.', [['', this.renders]]);
    metric('edge_render_failures_total', 'counter', 'Renders rejected by validation (nothing served from them).', [['', this.renderFailures]]);
    metric('edge_render_last_seconds', 'gauge', 'Duration of the last render and validation.', [['', this.lastRenderMs / 1000]]);
    metric('edge_render_seconds_total', 'counter', 'Total time spent rendering and validating.', [['', this.renderMsTotal / 1000]]);
    metric('edge_render_faults_held_back_total', 'counter', 'Candidates the canaries rejected with no route change to blame (template or settings fault), held back from every node.', [['', this.renderFaultsHeldBack]]);
    metric('edge_render_excluded_instances', 'gauge', 'Instances left out of the snapshot because their resources were invalid.', [['', gauges.excludedInstances]]);
    metric(
      'edge_source_staleness_seconds',
      'gauge',
      'Seconds since a context source last refreshed successfully.',
      gauges.sourceStaleness.map((s) => [`{source="${s.name}"}`, s.seconds]),
    );
    metric(
      'edge_source_failures_total',
      'counter',
      'Failed context source refreshes.',
      [...this.sourceFailures.entries()].map(([name, n]) => [`{source="${name}"}`, n]),
    );
    return `${lines.join('\n')}\n`;
  }
}
