import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { METRIC_NAMESPACES, PROXY_METRICS } from '../model/metrics';
import { ruleToTopic } from './alarm-topic';
import { autoScalingGroupMetric, proxy5xxPercent, proxyMetric } from './metrics';
import { alarmDescription, FIVE_MINUTES, notify, ONE_MINUTE, runbookAlarm, runbookLine, silence } from './runbook';

const { GREATER_THAN_THRESHOLD, LESS_THAN_THRESHOLD } = cloudwatch.ComparisonOperator;
/** Name (after the prefix) of the alarm that pages when the access-log metrics stop while traffic flows. */
const ACCESS_LOG_SILENT = 'fleet-access-log-silent';

/** Runbook of the launch-failure event notification (an EventBridge rule, not an alarm). */
export const LAUNCH_FAILURES_RUNBOOK = 'fleet-launch-failures';

export interface FleetAlarmsProps {
  readonly config: PlatformConfig;
  readonly region: string;
  readonly topic: sns.ITopic;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  /** The TLS listener's target group: what serves traffic. */
  readonly httpsTargetGroup: elbv2.NetworkTargetGroup;
  readonly autoScalingGroupName: string;
  /** The CloudWatch alarm the region's Route 53 health check follows (lib/proxy-fleet/dns.ts). */
  readonly healthCheckAlarm: cloudwatch.IAlarm;
  /** The proxies' JSON access log group (`/edge/proxy/envoy-access`). */
  readonly accessLogGroup: logs.ILogGroup;
}

/**
 * The region's proxy fleet alarms, one per failure mode of issue 7, each naming its runbook, plus
 * the access-log metric filters the 5xx alarm reads and the launch-failure event rule.
 */
export class FleetAlarms extends Construct {
  readonly alarms: cloudwatch.AlarmBase[] = [];
  readonly launchFailures: events.Rule;

  constructor(scope: Construct, id: string, props: FleetAlarmsProps) {
    super(scope, id);
    const { config, topic } = props;
    const limits = config.alarms.thresholds;
    const base = { namePrefix: config.platformName, topic };
    const add = <T extends cloudwatch.AlarmBase>(alarm: T) => {
      this.alarms.push(alarm);
      return alarm;
    };

    add(
      runbookAlarm(this, 'UnhealthyHosts', {
        ...base,
        runbook: 'fleet-unhealthy-hosts',
        meaning: 'Proxies behind the edge NLB fail their readiness check (/ready): the region serves with less capacity.',
        details: 'UnHealthyHostCount above 0 for 5 minutes (a rolling replacement passes in less).',
        metric: props.httpsTargetGroup.metrics.unHealthyHostCount({ period: ONE_MINUTE, statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        silence: silence.notBreaching('AWS/NetworkELB reports target health every minute; a gap is CloudWatch\'s, and no ready proxy at all is the health check alarm\'s'),
      }),
    );
    add(
      runbookAlarm(this, 'TlsNegotiationErrors', {
        ...base,
        runbook: 'fleet-tls-negotiation-errors',
        meaning: 'Clients fail TLS handshakes with the edge NLB far above the background of scanners.',
        details: `ClientTLSNegotiationErrorCount above ${limits.tlsNegotiationErrorsPer5Minutes} in 5 minutes, twice in a row.`,
        metric: props.loadBalancer.metrics.custom('ClientTLSNegotiationErrorCount', { period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: limits.tlsNegotiationErrorsPer5Minutes,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        silence: silence.notBreaching('AWS/NetworkELB publishes it only when a handshake fails'),
      }),
    );

    // Envoy's access log is JSON (ACCESS_LOG_FORMAT in lib/control-plane/runtime/templates/
    // edge-listeners.ts); `status` is %RESPONSE_CODE%, which json_format writes as a number.
    const status = (op: string, value: number) => logs.FilterPattern.numberValue('$.status', op, value);
    new logs.MetricFilter(this, 'RequestsFilter', {
      logGroup: props.accessLogGroup,
      filterPattern: status('>=', 0),
      metricNamespace: METRIC_NAMESPACES.proxy,
      metricName: PROXY_METRICS.requests,
      metricValue: '1',
      unit: cloudwatch.Unit.COUNT,
    });
    new logs.MetricFilter(this, 'Responses5xxFilter', {
      logGroup: props.accessLogGroup,
      filterPattern: logs.FilterPattern.all(status('>=', 500), status('<=', 599)),
      metricNamespace: METRIC_NAMESPACES.proxy,
      metricName: PROXY_METRICS.responses5xx,
      metricValue: '1',
      // A 0 for every batch of lines without a 5xx, so the rate has a numerator.
      defaultValue: 0,
      unit: cloudwatch.Unit.COUNT,
    });
    add(
      runbookAlarm(this, 'Proxy5xxRate', {
        ...base,
        runbook: 'fleet-5xx-rate',
        meaning: 'Envoy answers too many requests with 5xx: backends fail, or the configuration routes traffic wrong.',
        details: `5xx above ${limits.proxy5xxPercent}% of requests for 2 of 3 periods of 5 minutes, counted only from ${limits.proxyMinRequestsPer5Minutes} requests per period.`,
        metric: proxy5xxPercent({ platformName: config.platformName }, limits.proxyMinRequestsPer5Minutes),
        threshold: limits.proxy5xxPercent,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        silence: silence.notBreaching('no access-log lines: no traffic, or a dead log pipeline, which the access-log alarm reports', ACCESS_LOG_SILENT),
      }),
    );
    // The 5xx rate is only as alive as the access-log pipeline (Envoy's file log, the CloudWatch
    // agent, the metric filters). While the edge NLB hands TLS flows to the proxies, requests must
    // be logged: flows with no Requests at all mean the pipeline died and the 5xx alarm is blind.
    const minFlows = limits.proxyMinRequestsPer5Minutes;
    add(
      runbookAlarm(this, 'AccessLogSilent', {
        ...base,
        runbook: ACCESS_LOG_SILENT,
        meaning: 'The edge NLB carries traffic but no Envoy access-log line arrives: the access-log pipeline is broken and the 5xx alarm cannot see errors.',
        details: `NewFlowCount_TLS at least ${minFlows} in 5 minutes with no Requests (access-log metric filter), for 3 periods of 5 minutes.`,
        metric: new cloudwatch.MathExpression({
          // IF drops the periods without flows (quiet region: no datapoint, not breaching); with
          // flows, FILL makes missing Requests a 0, which breaches.
          expression: `IF(flows >= ${minFlows}, FILL(requests, 0), ${minFlows})`,
          usingMetrics: {
            flows: props.loadBalancer.metrics.custom('NewFlowCount_TLS', { period: FIVE_MINUTES, statistic: 'Sum' }),
            requests: proxyMetric({ platformName: config.platformName }, 'requests'),
          },
          label: 'Access-log requests while the NLB carries flows',
          period: FIVE_MINUTES,
        }),
        threshold: 1,
        comparisonOperator: LESS_THAN_THRESHOLD,
        evaluationPeriods: 3,
        silence: silence.notBreaching('no NLB flows: no traffic to log; Requests missing while flows arrive is a 0 and breaches', ACCESS_LOG_SILENT),
      }),
    );

    // Route 53 publishes HealthCheckStatus only in us-east-1, and the health check lives in this
    // stack's region: a composite alarm on the very alarm the health check follows says the same
    // thing (unhealthy <=> that alarm is in ALARM), in this region, with no cross-region reference.
    const healthCheckFailing = add(
      new cloudwatch.CompositeAlarm(this, 'HealthCheckFailing', {
        compositeAlarmName: `${config.platformName}-fleet-health-check-failing`,
        alarmDescription: alarmDescription(
          `The Route 53 health check of ${props.region} fails: the region is out of the ${config.domain} latency record.`,
          'fleet-health-check-failing',
          'Follows the alarm that drives the CLOUDWATCH_METRIC health check (no ready proxy behind the edge NLB).',
        ),
        alarmRule: cloudwatch.AlarmRule.fromAlarm(props.healthCheckAlarm, cloudwatch.AlarmState.ALARM),
      }),
    );
    notify(healthCheckFailing, topic);

    const shortfall = limits.capacityShortfallMinutes;
    add(
      runbookAlarm(this, 'CapacityShortfall', {
        ...base,
        runbook: 'fleet-capacity-shortfall',
        meaning: 'Fewer proxies are in service than the Auto Scaling group wants: instances fail to launch or to become healthy.',
        details: `GroupDesiredCapacity - GroupInServiceInstances above 0 for ${shortfall} minutes.`,
        metric: new cloudwatch.MathExpression({
          expression: 'desired - inService',
          usingMetrics: {
            desired: autoScalingGroupMetric(props.autoScalingGroupName, 'GroupDesiredCapacity', 'Maximum'),
            inService: autoScalingGroupMetric(props.autoScalingGroupName, 'GroupInServiceInstances', 'Minimum'),
          },
          label: 'Proxies missing',
          period: ONE_MINUTE,
        }),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: shortfall,
        silence: silence.notBreaching('the group publishes its metrics every minute; their silence breaches the nodes alarm', 'control-plane-nodes-dropping'),
      }),
    );

    // Each failed launch, as it happens, to the same topic (the alarm above says it persists).
    this.launchFailures = new events.Rule(this, 'LaunchFailures', {
      description: `${config.platformName} ${props.region}: a proxy instance failed to launch. ${runbookLine(LAUNCH_FAILURES_RUNBOOK)}`,
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: ['EC2 Instance Launch Unsuccessful'],
        detail: { AutoScalingGroupName: [props.autoScalingGroupName] },
      },
      targets: [
        ruleToTopic(
          topic,
          events.RuleTargetInput.fromObject({
            alarm: `${config.platformName}-fleet-launch-failures`,
            region: props.region,
            autoScalingGroup: events.EventField.fromPath('$.detail.AutoScalingGroupName'),
            cause: events.EventField.fromPath('$.detail.Cause'),
            statusMessage: events.EventField.fromPath('$.detail.StatusMessage'),
            time: events.EventField.time,
            runbook: runbookLine(LAUNCH_FAILURES_RUNBOOK),
          }),
        ),
      ],
    });
  }
}
