import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { autoScalingGroupMetric, controlPlaneMetric, DYNAMODB_SOURCE } from './metrics';
import { ONE_MINUTE, runbookAlarm } from './runbook';

const { GREATER_THAN_THRESHOLD, LESS_THAN_THRESHOLD } = cloudwatch.ComparisonOperator;
const { BREACHING, NOT_BREACHING } = cloudwatch.TreatMissingData;

export interface ControlPlaneAlarmsProps {
  readonly config: PlatformConfig;
  readonly topic: sns.ITopic;
  readonly cluster: ecs.ICluster;
  readonly service: ecs.FargateService;
  /** Target groups of the internal NLB (xDS, REST): a task failing `/healthz` shows here first. */
  readonly targetGroups: ReadonlyArray<{ readonly name: string; readonly targetGroup: elbv2.NetworkTargetGroup }>;
  /** The proxies' Auto Scaling group (group metrics enabled): how many nodes should be connected. */
  readonly proxyGroupName: string;
}

/** Container Insights (enhanced) service metric. */
function serviceMetric(cluster: ecs.ICluster, service: ecs.FargateService, metricName: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'ECS/ContainerInsights',
    metricName,
    dimensionsMap: { ClusterName: cluster.clusterName, ServiceName: service.serviceName },
    statistic: 'Average',
    period: ONE_MINUTE,
  });
}

/** The region's control plane alarms, one per failure mode of issue 7, each naming its runbook. */
export class ControlPlaneAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ControlPlaneAlarmsProps) {
    super(scope, id);
    const { config, topic } = props;
    const limits = config.alarms.thresholds;
    const base = { namePrefix: config.platformName, topic };
    const place = { platformName: config.platformName };
    const add = (alarm: cloudwatch.Alarm) => {
      this.alarms.push(alarm);
      return alarm;
    };

    // The tasks flush counters every interval, zero included: silence here is covered by the
    // nodes and tasks alarms below, so these count silence as fine.
    add(
      runbookAlarm(this, 'Nacks', {
        ...base,
        runbook: 'control-plane-nacks',
        meaning: 'Proxies rejected configuration the control plane sent them (xDS NACK).',
        details: 'Any NACK in a minute; the proxies keep serving their previous configuration.',
        metric: controlPlaneMetric(place, 'nacks', 'Sum'),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: NOT_BREACHING,
      }),
    );
    add(
      runbookAlarm(this, 'RenderFailures', {
        ...base,
        runbook: 'control-plane-render-failures',
        meaning: 'A render of the proxies\' configuration failed validation as a whole; nothing new is served.',
        details: 'Any render failure in a minute.',
        metric: controlPlaneMetric(place, 'renderFailures', 'Sum'),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: NOT_BREACHING,
      }),
    );
    add(
      runbookAlarm(this, 'RenderFaultHeldBack', {
        ...base,
        runbook: 'control-plane-render-fault-held-back',
        meaning: 'The canaries rejected a rendered configuration that no route change explains (a template or settings fault); every node is held on the last good snapshot.',
        details: 'Any held-back render in a minute. New and changed routes do not reach the proxies until it is fixed.',
        metric: controlPlaneMetric(place, 'renderFaultsHeldBack', 'Sum'),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: NOT_BREACHING,
      }),
    );
    add(
      runbookAlarm(this, 'InstancesExcluded', {
        ...base,
        runbook: 'control-plane-instances-excluded',
        meaning: 'Service instances are left out of the served configuration because their resources were invalid.',
        details: 'InstancesExcluded above 0 for 5 minutes.',
        metric: controlPlaneMetric(place, 'instancesExcluded', 'Maximum'),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        treatMissingData: NOT_BREACHING,
      }),
    );
    add(
      runbookAlarm(this, 'SourceStale', {
        ...base,
        runbook: 'control-plane-source-stale',
        meaning: `The control plane's ${DYNAMODB_SOURCE} route source has not refreshed: new and changed routes are not reaching the proxies.`,
        details: `SourceStalenessSeconds (Source=${DYNAMODB_SOURCE}) above ${limits.sourceStalenessSeconds} s for 3 minutes.`,
        metric: controlPlaneMetric(place, 'sourceStalenessSeconds', 'Maximum', { Source: DYNAMODB_SOURCE }),
        threshold: limits.sourceStalenessSeconds,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: NOT_BREACHING,
      }),
    );

    // Every task reports its own ConnectedNodes once per interval: their Sum over that interval is
    // the region's total. Compared with the proxies in service, a drop means nodes lost xDS.
    add(
      runbookAlarm(this, 'NodesDropping', {
        ...base,
        runbook: 'control-plane-nodes-dropping',
        meaning: 'Fewer proxies are connected to the control plane than are in service: nodes lost their xDS stream.',
        details: `Connected nodes below ${limits.connectedNodesRatio} x in-service proxies for 5 minutes; no data at all counts as breaching.`,
        metric: new cloudwatch.MathExpression({
          expression: 'IF(FILL(inService, 0) > 0, FILL(connected, 0) / inService, 1)',
          usingMetrics: {
            connected: controlPlaneMetric({ ...place, period: ONE_MINUTE }, 'connectedNodes', 'Sum'),
            inService: autoScalingGroupMetric(props.proxyGroupName, 'GroupInServiceInstances', 'Minimum'),
          },
          label: 'Connected / in-service proxies',
          period: ONE_MINUTE,
        }),
        threshold: limits.connectedNodesRatio,
        comparisonOperator: LESS_THAN_THRESHOLD,
        evaluationPeriods: 5,
        // The ratio has data whenever the proxies' group exists; none at all means both the
        // control plane and the group's metrics are silent, which is an outage, not a quiet night.
        treatMissingData: BREACHING,
      }),
    );

    add(
      runbookAlarm(this, 'TasksBelowDesired', {
        ...base,
        runbook: 'control-plane-tasks-below-desired',
        meaning: 'Fewer control plane tasks run than the service wants: tasks crash, fail health checks or cannot start.',
        details: 'DesiredTaskCount - RunningTaskCount above 0 for 10 minutes (Container Insights).',
        metric: new cloudwatch.MathExpression({
          expression: 'desired - running',
          usingMetrics: {
            desired: serviceMetric(props.cluster, props.service, 'DesiredTaskCount'),
            running: serviceMetric(props.cluster, props.service, 'RunningTaskCount'),
          },
          label: 'Tasks missing',
          period: ONE_MINUTE,
        }),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 10,
        // Container Insights publishes every minute while the service exists; a gap is a metrics
        // pipeline gap, and the nodes alarm covers a control plane that is really gone.
        treatMissingData: NOT_BREACHING,
      }),
    );
    for (const { name, targetGroup } of props.targetGroups) {
      add(
        runbookAlarm(this, `UnhealthyTargets${name.charAt(0).toUpperCase()}${name.slice(1)}`, {
          ...base,
          runbook: 'control-plane-unhealthy-targets',
          nameSuffix: name,
          meaning: 'Control plane tasks fail the internal load balancer\'s health check (/healthz).',
          details: `UnHealthyHostCount above 0 for 5 minutes on the ${name} target group.`,
          metric: targetGroup.metrics.unHealthyHostCount({ period: ONE_MINUTE, statistic: 'Maximum' }),
          threshold: 0,
          comparisonOperator: GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          treatMissingData: NOT_BREACHING,
        }),
      );
    }
  }
}
