/**
 * The custom CloudWatch metrics the platform's code emits (Embedded Metric Format, one JSON
 * line per flush on stdout) and the alarms and dashboards read. One place, so that a metric
 * renamed here is renamed for both sides.
 *
 * Every custom metric carries the dimension `service` (Powertools Metrics' default dimension):
 * `<platform>-broker-<handler>` for the broker's functions (`api`, `worker`, `authorizer`,
 * `sweeper`), `<platform>-control-plane` for the control plane's tasks. CloudWatch metrics are
 * regional, so no metric needs a region dimension.
 */

export const METRIC_NAMESPACES = {
  broker: 'Edge/Broker',
  controlPlane: 'Edge/ControlPlane',
  /** Proxies: the CloudWatch agent's host metrics and the fleet stack's access-log metric filters. */
  proxy: 'Edge/Proxy',
} as const;

/** The `service` dimension's value of a broker function or the control plane. */
export function metricService(platformName: string, component: 'api' | 'worker' | 'authorizer' | 'sweeper' | 'control-plane'): string {
  return component === 'control-plane' ? `${platformName}-control-plane` : `${platformName}-broker-${component}`;
}

/** Broker metrics (namespace Edge/Broker), all unit Count. */
export const BROKER_METRICS = {
  /** Worker: an operation reached `succeeded`. */
  operationsSucceeded: 'OperationsSucceeded',
  /** Worker: an operation reached `failed` (any cause, proxies' rejection included). */
  operationsFailed: 'OperationsFailed',
  /** Worker: a change the proxies rejected (NACK, canary health) and that was withdrawn. */
  changesRejectedByProxies: 'ChangesRejectedByProxies',
  /** Worker: a step failed with a retryable error and was scheduled again. */
  stepRetries: 'StepRetries',
  /** Sweeper: operations still `in progress` past their deadline, at the time of a sweep (gauge). */
  operationsStuck: 'OperationsStuck',
  /** Sweeper: in-progress operations whose message was lost and that it sent to the queue again. */
  operationsReenqueued: 'OperationsReenqueued',
} as const;

/** Control-plane metrics (namespace Edge/ControlPlane), emitted by every task once per interval (counters as deltas, 0 included; gauges as current values). */
export const CONTROL_PLANE_METRICS = {
  /** Nodes with an open ADS stream on this task (gauge, unit Count). */
  connectedNodes: 'ConnectedNodes',
  /** Discovery responses the nodes rejected since the last flush (unit Count). */
  nacks: 'NacksReceived',
  /** Instances left out of the served snapshot because their resources were invalid (gauge, unit Count). */
  instancesExcluded: 'InstancesExcluded',
  /** Canary rollouts halted and rolled back since the last flush (unit Count). */
  canaryRollbacks: 'CanaryRollbacks',
  /**
   * Profiles whose latest render failed validation as a whole and serve their last good
   * snapshot instead (gauge, unit Count): a state, reported on every flush while it lasts, so
   * its alarm stays in ALARM until a render succeeds and does not count the periodic resync's
   * re-renders of the same failure again (it replaced the `RenderFailures` count, issue 15).
   */
  profilesRenderFailing: 'ProfilesRenderFailing',
  /**
   * Profiles held on their stable snapshot because the canaries rejected a candidate that no
   * route change explains (a template or settings fault) (gauge, unit Count): reported on every
   * flush while the region stays blocked (it replaced the `RenderFaultsHeldBack` count, which
   * went back to 0 a minute after the fault while the region stayed blocked, issue 15).
   */
  profilesHeldBack: 'ProfilesHeldBack',
  /** Seconds since a context source last refreshed (gauge, unit Seconds; extra dimension `Source`). */
  sourceStalenessSeconds: 'SourceStalenessSeconds',
} as const;

/** Seconds between two flushes of the control plane's metrics. */
export const CONTROL_PLANE_METRICS_INTERVAL_SECONDS = 60;

/**
 * Proxy metrics (namespace Edge/Proxy) made by the fleet stack's CloudWatch Logs metric filters
 * on the proxies' JSON access log (`/edge/proxy/envoy-access`), unit Count, no dimensions.
 */
export const PROXY_METRICS = {
  /** Every access-log line with a response code (one downstream request). */
  requests: 'Requests',
  /** Access-log lines with a response code from 500 to 599. */
  responses5xx: 'Responses5xx',
} as const;
