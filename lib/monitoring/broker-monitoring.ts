import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { AlarmTopic } from './alarm-topic';
import { BrokerAlarms, BrokerAlarmsProps } from './broker-alarms';
import { GlobalDashboard } from './dashboards';

/** The broker's alarm inputs; `topic` is the broker's existing alarm topic, adopted so its subscribers keep getting alarms. */
export type BrokerMonitoringProps = BrokerAlarmsProps;

/** The home region's monitoring: alarm topic, broker alarms, and the global dashboard. */
export class BrokerMonitoring extends Construct {
  readonly topic: AlarmTopic;
  readonly alarms: BrokerAlarms;
  readonly dashboard: GlobalDashboard;

  constructor(scope: Construct, id: string, props: BrokerMonitoringProps) {
    super(scope, id);
    const { config } = props;
    // The broker stack already outputs the topic's ARN (AlarmTopicArn).
    const adopt = props.topic instanceof sns.Topic ? props.topic : undefined;
    this.topic = new AlarmTopic(this, 'Topic', { config, region: config.homeRegion, adopt, output: false });
    const resources = { config, queue: props.queue, deadLetterQueue: props.deadLetterQueue, api: props.api, table: props.table, functions: props.functions };
    this.alarms = new BrokerAlarms(this, 'Alarms', { ...resources, topic: this.topic.topic });
    this.dashboard = new GlobalDashboard(this, 'GlobalDashboard', { ...resources, alarms: this.alarms.alarms });
  }
}
