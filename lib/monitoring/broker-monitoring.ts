import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { AlarmTopic } from './alarm-topic';
import { BrokerAlarms, MonitoredFunction } from './broker-alarms';
import { GlobalDashboard } from './dashboards';

export interface BrokerMonitoringProps {
  readonly config: PlatformConfig;
  /** The broker's existing alarm topic, adopted so its subscribers keep getting alarms. */
  readonly topic: sns.ITopic;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly api: apigateway.RestApi;
  readonly table: dynamodb.TableV2;
  readonly functions: readonly MonitoredFunction[];
}

/** The home region's monitoring: alarm topic, broker alarms, and the global dashboard. */
export class BrokerMonitoring extends Construct {
  readonly topic: AlarmTopic;
  readonly alarms: BrokerAlarms;
  readonly dashboard: GlobalDashboard;

  constructor(scope: Construct, id: string, props: BrokerMonitoringProps) {
    super(scope, id);
    const { config } = props;
    this.topic = new AlarmTopic(this, 'Topic', { config, region: config.homeRegion, adopt: props.topic });
    const resources = { config, queue: props.queue, deadLetterQueue: props.deadLetterQueue, api: props.api, table: props.table, functions: props.functions };
    this.alarms = new BrokerAlarms(this, 'Alarms', { ...resources, topic: this.topic.topic });
    this.dashboard = new GlobalDashboard(this, 'GlobalDashboard', { ...resources, alarms: this.alarms.alarms });
  }
}
