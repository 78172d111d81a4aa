import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { autoScalingGroupMetric, controlPlaneMetric, DYNAMODB_SOURCE } from './metrics';
import { ONE_MINUTE, runbookAlarm, silence } from './runbook';

const { GREATER_THAN_THRESHOLD, LESS_THAN_THRESHOLD } = cloudwatch.ComparisonOperator;
/** Name (after the prefix) of the alarm that pages when the control plane's metrics stop. */
const NODES_DROPPING = 'control-plane-nodes-dropping';

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
export function serviceMetric(cluster: ecs.ICluster, service: ecs.FargateService, metricName: string): cloudwatch.Metric {
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

    // The tasks flush counters and gauges every interval, 0 included: their silence is the
    // control plane's (or its metrics') death, which the nodes alarm below reports (its
    // ConnectedNodes becomes 0 against the proxies in service).
    const cpSilent = silence.notBreaching('the control plane reports every minute; when it stops, ConnectedNodes stops too', NODES_DROPPING);
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
        silence: cpSilent,
      }),
    );
    // Render state is a state (a gauge every task reports every minute), not a count of renders:
    // the alarm stays in ALARM while a profile fails or is held back, and the resync's re-renders
    // of the same failure neither flap it nor count again.
    add(
      runbookAlarm(this, 'RenderFailures', {
        ...base,
        runbook: 'control-plane-render-failures',
        meaning: 'The latest render of the proxies\' configuration failed validation as a whole; nothing new is served (the nodes keep the last good snapshot).',
        details: 'ProfilesRenderFailing above 0 (any task) in a minute; it stays in ALARM until a render succeeds.',
        metric: controlPlaneMetric(place, 'profilesRenderFailing', 'Maximum'),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        silence: cpSilent,
      }),
    );
    add(
      runbookAlarm(this, 'RenderFaultHeldBack', {
        ...base,
        runbook: 'control-plane-render-fault-held-back',
        meaning: 'The canaries rejected a rendered configuration that no route change explains (a template or settings fault); every node is held on the last good snapshot.',
        details: 'ProfilesHeldBack above 0 (any task) in a minute; it stays in ALARM while the region is held. New and changed routes do not reach the proxies until it is fixed.',
        metric: controlPlaneMetric(place, 'profilesHeldBack', 'Maximum'),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        silence: cpSilent,
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
        silence: cpSilent,
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
        silence: cpSilent,
      }),
    );

    // Every task reports its own ConnectedNodes once per interval: their Sum over that interval is
    // the region's total. Compared with the proxies in service, a drop means nodes lost xDS.
    add(
      runbookAlarm(this, 'NodesDropping', {
        ...base,
        runbook: NODES_DROPPING,
        meaning: 'Fewer proxies are connected to the control plane than are in service: nodes lost their xDS stream, or the control plane (or its metrics) stopped.',
        details: `Connected nodes below ${limits.connectedNodesRatio} x in-service proxies for 5 minutes (no ConnectedNodes counts as 0). No in-service count at all (the group's metrics stopped) breaches too.`,
        metric: new cloudwatch.MathExpression({
          // No FILL on inService: a minute without it has no datapoint (IF drops it), so the
          // alarm's missing-data rule (breaching) applies instead of a ratio of 1 that reads OK.
          expression: 'IF(inService > 0, FILL(connected, 0) / inService, 1)',
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
        silence: silence.breaching('the proxies group publishes GroupInServiceInstances every minute (group metrics on): without it nothing can tell the nodes are connected'),
      }),
    );

    add(
      runbookAlarm(this, 'TasksBelowDesired', {
        ...base,
        runbook: 'control-plane-tasks-below-desired',
        meaning: 'Fewer control plane tasks run than the service wants: tasks crash, fail health checks or cannot start.',
        details: 'DesiredTaskCount - RunningTaskCount above 0 for 10 minutes (Container Insights).',
        metric: new cloudwatch.MathExpression({
          // No FILL: Container Insights reports both every minute; without them there is no datapoint and the alarm breaches.
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
        silence: silence.breaching('Container Insights reports the service every minute while it exists; nothing else reads those metrics, so their silence pages here'),
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
          silence: silence.notBreaching('AWS/NetworkELB reports the target group every minute; a gap is CloudWatch\'s, and tasks that are gone show in the tasks and nodes alarms'),
        }),
      );
    }
  }
}
