import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { BROKER_METRICS, METRIC_NAMESPACES, metricService } from '../../model';

export type BrokerMetricName = (typeof BROKER_METRICS)[keyof typeof BROKER_METRICS];
export type BrokerComponent = 'api' | 'worker' | 'authorizer' | 'sweeper';

/** Where a flushed EMF document goes: one JSON line (stdout in Lambda, a test's array, nowhere). */
export type MetricsSink = (emfLine: string) => void;

/** Writes each EMF document as one line on stdout, where Lambda's log capture sends it to CloudWatch Logs. */
export const stdoutSink: MetricsSink = (line) => {
  process.stdout.write(`${line}\n`);
};

/**
 * The broker's custom metrics (lib/model/metrics.ts), recorded between two flushes and
 * written as one Embedded Metric Format document per flush (namespace Edge/Broker,
 * dimension `service`). Counters add up until the flush; a gauge keeps its last value.
 */
export interface BrokerMetrics {
  count(name: BrokerMetricName, value?: number): void;
  gauge(name: BrokerMetricName, value: number): void;
  /** Writes what was recorded since the last flush (nothing when nothing was recorded). */
  flush(): void;
}

/** Records nothing: the default where nobody asked for metrics (the local broker). */
export const NO_METRICS: BrokerMetrics = { count() {}, gauge() {}, flush() {} };

/**
 * Powertools Metrics builds the EMF document (namespace, the `service` default dimension,
 * units, timestamp); the sink decides where it goes, so the same code is quiet locally
 * and testable. Values are summed here so a flush carries one value per metric.
 */
export class EmfBrokerMetrics implements BrokerMetrics {
  private readonly values = new Map<BrokerMetricName, number>();
  private readonly powertools: Metrics;

  constructor(
    platformName: string,
    component: BrokerComponent,
    private readonly sink: MetricsSink = stdoutSink,
  ) {
    this.powertools = new Metrics({ namespace: METRIC_NAMESPACES.broker, serviceName: metricService(platformName, component) });
  }

  count(name: BrokerMetricName, value = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + value);
  }

  gauge(name: BrokerMetricName, value: number): void {
    this.values.set(name, value);
  }

  flush(): void {
    if (!this.values.size) return;
    for (const [name, value] of this.values) this.powertools.addMetric(name, MetricUnit.Count, value);
    this.values.clear();
    try {
      this.sink(JSON.stringify(this.powertools.serializeMetrics()));
    } finally {
      this.powertools.clearMetrics();
    }
  }
}
