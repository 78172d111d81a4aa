import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Duration } from 'aws-cdk-lib';
import {
  CONTROL_PLANE_METRICS,
  METRIC_NAMESPACES,
  PROXY_METRICS,
  metricService,
} from '../model/metrics';

/** Metrics that alarms and dashboards both read, built from names in lib/model/metrics.ts. */

/** The control plane source the AWS runtime always has (lib/control-plane/runtime/sources.ts). */
export const DYNAMODB_SOURCE = 'dynamodb';

export interface MetricPlace {
  readonly platformName: string;
  /** Set only for dashboards that show another region's metric (alarms never cross regions). */
  readonly region?: string;
  readonly period?: Duration;
}

export function controlPlaneMetric(
  place: MetricPlace,
  name: keyof typeof CONTROL_PLANE_METRICS,
  statistic: string,
  extraDimensions: Record<string, string> = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACES.controlPlane,
    metricName: CONTROL_PLANE_METRICS[name],
    dimensionsMap: { service: metricService(place.platformName, 'control-plane'), ...extraDimensions },
    statistic,
    period: place.period ?? Duration.minutes(1),
    region: place.region,
  });
}

export function proxyMetric(place: MetricPlace, name: keyof typeof PROXY_METRICS): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACES.proxy,
    metricName: PROXY_METRICS[name],
    statistic: 'Sum',
    period: place.period ?? Duration.minutes(5),
    region: place.region,
  });
}

/** Envoy 5xx as a percent of requests; 0 below `minRequests` so a quiet region never pages. */
export function proxy5xxPercent(place: MetricPlace, minRequests: number): cloudwatch.MathExpression {
  // Ids must be unique within a graph that shows several regions.
  const suffix = place.region ? `_${place.region.replace(/-/g, '_')}` : '';
  const [requests, errors] = [`requests${suffix}`, `errors${suffix}`];
  return new cloudwatch.MathExpression({
    expression: `IF(${requests} >= ${minRequests}, 100 * FILL(${errors}, 0) / ${requests}, 0)`,
    usingMetrics: { [requests]: proxyMetric(place, 'requests'), [errors]: proxyMetric(place, 'responses5xx') },
    label: place.region ? `${place.region} 5xx %` : 'Envoy 5xx %',
    period: place.period ?? Duration.minutes(5),
    searchRegion: place.region,
  });
}

export function autoScalingGroupMetric(groupName: string, metricName: string, statistic = 'Average'): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/AutoScaling',
    metricName,
    dimensionsMap: { AutoScalingGroupName: groupName },
    statistic,
    period: Duration.minutes(1),
  });
}
