import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { AlarmTopic } from './alarm-topic';
import { ControlPlaneAlarms } from './control-plane-alarms';
import { RegionDashboard } from './dashboards';
import { FleetAlarms } from './fleet-alarms';

export interface FleetMonitoringProps {
  readonly config: PlatformConfig;
  readonly region: string;
  readonly proxies: {
    readonly loadBalancer: elbv2.NetworkLoadBalancer;
    readonly httpsTargetGroup: elbv2.NetworkTargetGroup;
    readonly autoScalingGroupName: string;
    readonly accessLogGroup: logs.ILogGroup;
    /** The alarm the region's Route 53 health check follows. */
    readonly healthCheckAlarm: cloudwatch.IAlarm;
  };
  readonly controlPlane: {
    readonly cluster: ecs.ICluster;
    readonly service: ecs.FargateService;
    readonly xdsTargetGroup: elbv2.NetworkTargetGroup;
    readonly restTargetGroup: elbv2.NetworkTargetGroup;
  };
}

/** One fleet region's monitoring: its alarm topic, control plane and fleet alarms, and its dashboard. */
export class FleetMonitoring extends Construct {
  readonly topic: AlarmTopic;
  readonly controlPlaneAlarms: ControlPlaneAlarms;
  readonly fleetAlarms: FleetAlarms;
  readonly dashboard: RegionDashboard;

  constructor(scope: Construct, id: string, props: FleetMonitoringProps) {
    super(scope, id);
    const { config, region, proxies, controlPlane } = props;
    this.topic = new AlarmTopic(this, 'Topic', { config, region });
    const topic = this.topic.topic;
    this.controlPlaneAlarms = new ControlPlaneAlarms(this, 'ControlPlaneAlarms', {
      config,
      topic,
      cluster: controlPlane.cluster,
      service: controlPlane.service,
      targetGroups: [
        { name: 'xds', targetGroup: controlPlane.xdsTargetGroup },
        { name: 'rest', targetGroup: controlPlane.restTargetGroup },
      ],
      proxyGroupName: proxies.autoScalingGroupName,
    });
    this.fleetAlarms = new FleetAlarms(this, 'FleetAlarms', { config, region, topic, ...proxies });
    this.dashboard = new RegionDashboard(this, 'Dashboard', {
      config,
      region,
      loadBalancer: proxies.loadBalancer,
      httpsTargetGroup: proxies.httpsTargetGroup,
      autoScalingGroupName: proxies.autoScalingGroupName,
      cluster: controlPlane.cluster,
      service: controlPlane.service,
      controlPlaneTargetGroup: controlPlane.xdsTargetGroup,
      alarms: [...this.fleetAlarms.alarms, ...this.controlPlaneAlarms.alarms],
    });
  }
}
