import { Duration } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { BROKER_METRICS, METRIC_NAMESPACES, metricService } from '../model/metrics';
import { FLEET_REGION_ALARMS, fleetAlarmArn } from './alarm-names';
import { MonitoredFunction, tableSystemErrors } from './broker-alarms';
import { autoScalingGroupMetric, controlPlaneMetric, DYNAMODB_SOURCE, proxy5xxPercent, proxyMetric } from './metrics';

const WIDTH = 8;
const HEIGHT = 6;
const graph = (title: string, left: cloudwatch.IMetric[], right?: cloudwatch.IMetric[], extra?: Partial<cloudwatch.GraphWidgetProps>) =>
  new cloudwatch.GraphWidget({ title, left, right, width: WIDTH, height: HEIGHT, ...extra });
const header = (markdown: string) => new cloudwatch.TextWidget({ markdown, width: 24, height: 1 });

/** Dashboard names: `<platform>-<region>` per region and `<platform>-global`. */
export const dashboardNames = {
  region: (config: PlatformConfig, region: string) => `${config.platformName}-${region}`,
  global: (config: PlatformConfig) => `${config.platformName}-global`,
};

export interface RegionDashboardProps {
  readonly config: PlatformConfig;
  readonly region: string;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly httpsTargetGroup: elbv2.NetworkTargetGroup;
  readonly autoScalingGroupName: string;
  readonly cluster: ecs.ICluster;
  readonly service: ecs.FargateService;
  readonly controlPlaneTargetGroup: elbv2.NetworkTargetGroup;
  /** Every alarm of the region, shown as one status board at the top. */
  readonly alarms: readonly cloudwatch.IAlarm[];
}

/** One region at a glance: its alarms, then the proxy fleet, then the control plane. */
export class RegionDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: RegionDashboardProps) {
    super(scope, id);
    const { config } = props;
    const place = { platformName: config.platformName };
    const minute = { period: Duration.minutes(1) };
    const asg = (name: string, statistic = 'Average') => autoScalingGroupMetric(props.autoScalingGroupName, name, statistic);
    const ecsMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName,
        dimensionsMap: { ClusterName: props.cluster.clusterName, ServiceName: props.service.serviceName },
        statistic: 'Average',
        ...minute,
      });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: dashboardNames.region(config, props.region),
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: `${props.region}: alarms`, alarms: [...props.alarms], width: 24, height: 4 }),
    );
    this.dashboard.addWidgets(header(`## Proxy fleet ${props.region}`));
    this.dashboard.addWidgets(
      graph('Edge NLB targets (TLS)', [
        props.httpsTargetGroup.metrics.healthyHostCount({ ...minute, statistic: 'Minimum' }),
        props.httpsTargetGroup.metrics.unHealthyHostCount({ ...minute, statistic: 'Maximum' }),
      ]),
      graph('Proxies in service vs desired', [asg('GroupInServiceInstances', 'Minimum'), asg('GroupDesiredCapacity', 'Maximum'), asg('GroupPendingInstances', 'Maximum')]),
      graph('Proxy CPU %', [new cloudwatch.Metric({ namespace: 'AWS/EC2', metricName: 'CPUUtilization', dimensionsMap: { AutoScalingGroupName: props.autoScalingGroupName }, statistic: 'Average', ...minute })]),
    );
    this.dashboard.addWidgets(
      graph('Envoy requests and 5xx (access log)', [proxyMetric(place, 'requests'), proxyMetric(place, 'responses5xx')]),
      graph('Envoy 5xx %', [proxy5xxPercent(place, config.alarms.thresholds.proxyMinRequestsPer5Minutes)], undefined, {
        leftAnnotations: [{ value: config.alarms.thresholds.proxy5xxPercent, label: 'alarm', color: cloudwatch.Color.RED }],
      }),
      graph('Edge NLB TLS flows vs logged requests, TLS errors', [
        props.loadBalancer.metrics.custom('NewFlowCount_TLS', { statistic: 'Sum', period: Duration.minutes(5) }),
        proxyMetric(place, 'requests'),
      ], [props.loadBalancer.metrics.custom('ClientTLSNegotiationErrorCount', { statistic: 'Sum', period: Duration.minutes(5) })]),
    );
    this.dashboard.addWidgets(header(`## Control plane ${props.region}`));
    this.dashboard.addWidgets(
      graph('Connected nodes vs proxies in service', [controlPlaneMetric(place, 'connectedNodes', 'Sum'), asg('GroupInServiceInstances', 'Minimum')]),
      graph('NACKs and canary rollbacks, excluded instances', [
        controlPlaneMetric(place, 'nacks', 'Sum'),
        controlPlaneMetric(place, 'canaryRollbacks', 'Sum'),
      ], [controlPlaneMetric(place, 'instancesExcluded', 'Maximum')]),
      graph('Profiles failing to render or held back', [
        controlPlaneMetric(place, 'profilesRenderFailing', 'Maximum'),
        controlPlaneMetric(place, 'profilesHeldBack', 'Maximum'),
      ]),
    );
    this.dashboard.addWidgets(
      graph(`Source staleness (${DYNAMODB_SOURCE}), s`, [controlPlaneMetric(place, 'sourceStalenessSeconds', 'Maximum', { Source: DYNAMODB_SOURCE })], undefined, {
        leftAnnotations: [{ value: config.alarms.thresholds.sourceStalenessSeconds, label: 'alarm', color: cloudwatch.Color.RED }],
      }),
      graph('Tasks running vs desired', [ecsMetric('RunningTaskCount'), ecsMetric('DesiredTaskCount')]),
      graph('Task CPU and memory', [ecsMetric('CpuUtilized'), ecsMetric('MemoryUtilized')]),
    );
    this.dashboard.addWidgets(
      graph('Control plane NLB targets', [
        props.controlPlaneTargetGroup.metrics.healthyHostCount({ ...minute, statistic: 'Minimum' }),
        props.controlPlaneTargetGroup.metrics.unHealthyHostCount({ ...minute, statistic: 'Maximum' }),
      ]),
    );
  }
}

export interface GlobalDashboardProps {
  readonly config: PlatformConfig;
  readonly api: apigateway.RestApi;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly table: dynamodb.ITableV2;
  readonly functions: readonly MonitoredFunction[];
  readonly alarms: readonly cloudwatch.IAlarm[];
}

/**
 * The broker, and every fleet region's convergence and health, at a glance (home region).
 * Region widgets read only metrics whose names and dimensions are known at synth (custom metrics,
 * access-log metrics, and SEARCH by the fleet stack's name), so no stack references another region.
 */
export class GlobalDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: GlobalDashboardProps) {
    super(scope, id);
    const { config } = props;
    const fiveMinutes = { period: Duration.minutes(5) };
    const brokerMetric = (metricName: string, handler: 'worker' | 'sweeper', statistic = 'Sum') =>
      new cloudwatch.Metric({
        namespace: METRIC_NAMESPACES.broker,
        metricName,
        dimensionsMap: { service: metricService(config.platformName, handler) },
        statistic,
        ...fiveMinutes,
      });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: dashboardNames.global(config),
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Broker alarms', alarms: [...props.alarms], width: 24, height: 4 }));
    this.dashboard.addWidgets(header(`## Broker (${config.homeRegion})`));
    this.dashboard.addWidgets(
      graph('OSB API requests and errors', [props.api.metricCount({ ...fiveMinutes, statistic: 'Sum' })], [
        props.api.metricServerError({ ...fiveMinutes, statistic: 'Sum' }),
        props.api.metricClientError({ ...fiveMinutes, statistic: 'Sum' }),
      ]),
      graph('OSB API latency', [
        props.api.metricLatency({ ...fiveMinutes, statistic: 'p50' }),
        props.api.metricLatency({ ...fiveMinutes, statistic: 'p99' }),
      ]),
      graph('Operations', [
        brokerMetric(BROKER_METRICS.operationsSucceeded, 'worker'),
        brokerMetric(BROKER_METRICS.operationsFailed, 'worker'),
        brokerMetric(BROKER_METRICS.changesRejectedByProxies, 'worker'),
        brokerMetric(BROKER_METRICS.stepRetries, 'worker'),
      ], [brokerMetric(BROKER_METRICS.operationsStuck, 'sweeper', 'Maximum'), brokerMetric(BROKER_METRICS.operationsReenqueued, 'sweeper')]),
    );
    this.dashboard.addWidgets(
      graph('Work queue and DLQ', [
        props.queue.metricApproximateNumberOfMessagesVisible({ ...fiveMinutes, statistic: 'Maximum' }),
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ ...fiveMinutes, statistic: 'Maximum', label: 'DLQ messages' }),
      ], [props.queue.metricApproximateAgeOfOldestMessage({ ...fiveMinutes, statistic: 'Maximum' })]),
      graph('Lambda errors and throttles', props.functions.map(({ handler, fn }) => fn.metricErrors({ ...fiveMinutes, label: `${handler} errors` })), props.functions.map(({ handler, fn }) => fn.metricThrottles({ ...fiveMinutes, label: `${handler} throttles` }))),
      graph('Table throttles and system errors', [
        props.table.metric('ReadThrottleEvents', { ...fiveMinutes, statistic: 'Sum' }),
        props.table.metric('WriteThrottleEvents', { ...fiveMinutes, statistic: 'Sum' }),
      ], [tableSystemErrors(props.table, fiveMinutes.period)]),
    );
    this.dashboard.addWidgets(
      graph('Lambda invocations', props.functions.map(({ handler, fn }) => fn.metricInvocations({ ...fiveMinutes, statistic: 'Sum', label: `${handler} invocations` }))),
    );

    this.dashboard.addWidgets(header('## Regions: convergence and health'));
    const regions = config.regions.map((r) => r.region);
    // Each region's alarms by ARN (names are deterministic): red here is red on that region's dashboard.
    const regionAlarm = (region: string, name: (typeof FLEET_REGION_ALARMS)[number]) =>
      (this.node.tryFindChild(`${region}-${name}`) as cloudwatch.IAlarm | undefined) ?? cloudwatch.Alarm.fromAlarmArn(this, `${region}-${name}`, fleetAlarmArn(this, config, region, name));
    this.dashboard.addWidgets(
      ...regions.map(
        (region) =>
          new cloudwatch.AlarmStatusWidget({
            title: `${region} alarms`,
            alarms: FLEET_REGION_ALARMS.map((name) => regionAlarm(region, name)),
            width: 6,
            height: 4,
          }),
      ),
    );
    const perRegion = (build: (region: string) => cloudwatch.IMetric) => regions.map(build);
    const minuteIn = (region: string) => ({ platformName: config.platformName, region, period: Duration.minutes(1) });
    const fleetStackName = (region: string) => `${config.platformName}-fleet-${region}`;
    this.dashboard.addWidgets(
      graph('Connected nodes per region', perRegion((region) => controlPlaneMetric(minuteIn(region), 'connectedNodes', 'Sum').with({ label: region }))),
      graph('Proxies in service per region', perRegion((region) =>
        new cloudwatch.MathExpression({
          // The group's name starts with its stack's name; SEARCH needs no cross-region reference.
          expression: `SUM(SEARCH('{AWS/AutoScaling,AutoScalingGroupName} MetricName="GroupInServiceInstances" "${fleetStackName(region)}"', 'Minimum', 60))`,
          usingMetrics: {},
          label: region,
          searchRegion: region,
          period: Duration.minutes(1),
        }),
      )),
      graph('NACKs per region', perRegion((region) => controlPlaneMetric(minuteIn(region), 'nacks', 'Sum').with({ label: region }))),
    );
    this.dashboard.addWidgets(
      graph('Profiles failing to render or held back, per region', perRegion((region) => {
        const id = region.replace(/-/g, '_');
        return new cloudwatch.MathExpression({
          expression: `FILL(failing_${id}, 0) + FILL(held_${id}, 0)`,
          usingMetrics: {
            [`failing_${id}`]: controlPlaneMetric(minuteIn(region), 'profilesRenderFailing', 'Maximum'),
            [`held_${id}`]: controlPlaneMetric(minuteIn(region), 'profilesHeldBack', 'Maximum'),
          },
          label: region,
          searchRegion: region,
          period: Duration.minutes(1),
        });
      })),
      graph('Route source staleness per region, s', perRegion((region) =>
        controlPlaneMetric(minuteIn(region), 'sourceStalenessSeconds', 'Maximum', { Source: DYNAMODB_SOURCE }).with({ label: region }),
      )),
      graph('Envoy 5xx % per region', perRegion((region) =>
        proxy5xxPercent({ platformName: config.platformName, region }, config.alarms.thresholds.proxyMinRequestsPer5Minutes),
      )),
    );
    this.dashboard.addWidgets(
      // The platform's health checks only, by region: each region's health check follows the very
      // alarm its fleet-health-check-failing composite watches (lib/proxy-fleet/dns.ts), so that
      // composite is in ALARM exactly while the region is out of the latency record. (Route 53
      // publishes HealthCheckStatus by HealthCheckId only, which no stack knows for other regions.)
      new cloudwatch.AlarmStatusWidget({
        title: 'Route 53 health checks (ALARM: the region is out of DNS)',
        alarms: regions.map((region) => regionAlarm(region, 'fleet-health-check-failing')),
        width: 8,
        height: 6,
      }),
    );
  }
}
