import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { CONTROL_PLANE_METRICS, CONTROL_PLANE_METRICS_INTERVAL_SECONDS, METRIC_NAMESPACES, metricService } from '../../model';
import type { ControlPlane } from './control-plane';

/** Where a flushed EMF document goes: one JSON line (stdout on ECS, a test's array). */
export type EmfSink = (line: string) => void;

const stdoutSink: EmfSink = (line) => {
  process.stdout.write(`${line}\n`);
};

/** What one flush reads from the control plane: counters since it started, gauges now. */
export interface ControlPlaneReadings {
  readonly counters: { readonly nacks: number; readonly canaryRollbacks: number };
  readonly connectedNodes: number;
  readonly instancesExcluded: number;
  /** Profiles whose latest render failed as a whole (ControlPlane.renderStateGauges). */
  readonly profilesRenderFailing: number;
  /** Profiles held on their stable snapshot by a render fault (ControlPlane.renderStateGauges). */
  readonly profilesHeldBack: number;
  /** Each context source and when it last refreshed (undefined: never). */
  readonly sources: ReadonlyArray<{ readonly name: string; readonly lastSuccessAt?: string }>;
}

/** The readings of a control plane, from its Metrics counters and its state (what /metrics and /status show). */
export function controlPlaneReadings(controlPlane: ControlPlane): ControlPlaneReadings {
  const excluded = new Set<string>();
  for (const profile of controlPlane.profiles.values()) for (const e of profile.snapshot?.excluded ?? []) excluded.add(e.instanceId);
  for (const e of controlPlane.tenantRules.excluded()) excluded.add(e.instanceId);
  const { nacks, canaryRollbacks } = controlPlane.metrics;
  return {
    counters: { nacks, canaryRollbacks },
    connectedNodes: controlPlane.sessions.size,
    instancesExcluded: excluded.size,
    ...controlPlane.renderStateGauges(),
    sources: controlPlane.sourceStatuses().map((s) => ({ name: s.name, lastSuccessAt: s.lastSuccessAt })),
  };
}

export interface EmfPublisherOptions {
  readonly platformName: string;
  /** Milliseconds between two flushes (default CONTROL_PLANE_METRICS_INTERVAL_SECONDS). */
  readonly intervalMs?: number;
  /** Default: one line per document on stdout (the awslogs driver sends it to CloudWatch Logs, which extracts EMF). */
  readonly sink?: EmfSink;
  /** Epoch ms now (tests). */
  readonly now?: () => number;
}

export interface EmfPublisher {
  /** Writes the documents for the time since the last flush now. */
  flush(): void;
  /** Stops the timer after a last flush. */
  stop(): void;
}

/**
 * Publishes the control plane's CONTROL_PLANE_METRICS as Embedded Metric Format lines,
 * every interval: one document with the counters (deltas since the last flush) and the
 * gauges (current values, 0 included, so that an alarm on a state stays in ALARM while the
 * state lasts and silence means the publisher is gone), dimension `service`; and one per context source with
 * SourceStalenessSeconds, dimensions `service` and `Source` (an EMF document gives every
 * metric in it the same dimension values, so each source needs its own). A source that has
 * never refreshed counts as stale since the publisher started.
 *
 * Powertools Metrics builds the documents: it needs nothing from Lambda to serialize.
 */
export function startEmfPublisher(read: () => ControlPlaneReadings, options: EmfPublisherOptions): EmfPublisher {
  const sink = options.sink ?? stdoutSink;
  const now = options.now ?? Date.now;
  const startedAt = now();
  const intervalMs = options.intervalMs ?? CONTROL_PLANE_METRICS_INTERVAL_SECONDS * 1000;
  if (!(intervalMs > 0)) throw new Error(`EMF publisher intervalMs: must be greater than 0 (got ${intervalMs})`);
  const metrics = new Metrics({ namespace: METRIC_NAMESPACES.controlPlane, serviceName: metricService(options.platformName, 'control-plane') });
  let last = read().counters;
  // The counters at start were counted before this publisher: only what follows is a delta.
  const emit = () => {
    try {
      sink(JSON.stringify(metrics.serializeMetrics()));
    } finally {
      metrics.clearMetrics();
      metrics.clearDimensions();
    }
  };
  const delta = (current: number, previous: number) => (current >= previous ? current - previous : current);

  const flush = () => {
    const readings = read();
    const at = now();
    metrics.addMetric(CONTROL_PLANE_METRICS.connectedNodes, MetricUnit.Count, readings.connectedNodes);
    metrics.addMetric(CONTROL_PLANE_METRICS.instancesExcluded, MetricUnit.Count, readings.instancesExcluded);
    metrics.addMetric(CONTROL_PLANE_METRICS.profilesRenderFailing, MetricUnit.Count, readings.profilesRenderFailing);
    metrics.addMetric(CONTROL_PLANE_METRICS.profilesHeldBack, MetricUnit.Count, readings.profilesHeldBack);
    metrics.addMetric(CONTROL_PLANE_METRICS.nacks, MetricUnit.Count, delta(readings.counters.nacks, last.nacks));
    metrics.addMetric(CONTROL_PLANE_METRICS.canaryRollbacks, MetricUnit.Count, delta(readings.counters.canaryRollbacks, last.canaryRollbacks));
    last = readings.counters;
    emit();
    for (const source of readings.sources) {
      const since = source.lastSuccessAt ? Date.parse(source.lastSuccessAt) : startedAt;
      metrics.addDimension('Source', source.name);
      metrics.addMetric(CONTROL_PLANE_METRICS.sourceStalenessSeconds, MetricUnit.Seconds, Math.max(0, Math.round((at - since) / 100) / 10));
      emit();
    }
  };

  const timer = setInterval(flush, intervalMs);
  timer.unref();
  return {
    flush,
    stop() {
      clearInterval(timer);
      flush();
    },
  };
}

/** The publisher over a running control plane (what main.ts starts in AWS). */
export function publishControlPlaneMetrics(controlPlane: ControlPlane, options: EmfPublisherOptions): EmfPublisher {
  return startEmfPublisher(() => controlPlaneReadings(controlPlane), options);
}
