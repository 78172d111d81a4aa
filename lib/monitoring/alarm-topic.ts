import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';

/** The topic ARN the config gives for `region` (`alarms.topicArns`), imported; undefined if none. */
export function importedAlarmTopic(scope: Construct, id: string, config: PlatformConfig, region: string): sns.ITopic | undefined {
  const arn = config.alarms.topicArns[region];
  return arn ? sns.Topic.fromTopicArn(scope, id, arn) : undefined;
}

export interface AlarmTopicProps {
  readonly config: PlatformConfig;
  readonly region: string;
  /**
   * A topic of this stack to adopt instead of creating one (the broker's existing alarm topic keeps
   * its subscribers). Ignored when the config imports a topic for the region.
   */
  readonly adopt?: sns.ITopic;
}

/**
 * The region's alarm topic: every alarm of the region sends ALARM and OK here, and the fleet's
 * launch-failure events too. Imported when `alarms.topicArns[region]` is set; otherwise created,
 * encrypted with a customer managed key whose policy lets CloudWatch and EventBridge publish (the
 * AWS managed aws/sns key cannot grant them), and SSL-only. `alarms.emails` subscribe to topics the
 * platform owns; an imported topic's subscriptions belong to whoever owns it.
 */
export class AlarmTopic extends Construct {
  readonly topic: sns.ITopic;
  /** True when the topic came from `alarms.topicArns` (its policy and key are not ours to change). */
  readonly imported: boolean;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    const imported = importedAlarmTopic(this, 'Imported', props.config, props.region);
    this.imported = imported !== undefined;
    this.topic = imported ?? props.adopt ?? this.createTopic(props);
    if (!this.imported) {
      for (const email of props.config.alarms.emails) this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }

  private createTopic(props: AlarmTopicProps): sns.Topic {
    const key = new kms.Key(this, 'Key', {
      description: `Encrypts the ${props.config.platformName} alarm topic in ${props.region}`,
      enableKeyRotation: true,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmAndEventPublishers',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com'), new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    const topic = new sns.Topic(this, 'Topic', {
      displayName: `${props.config.platformName} alarms ${props.region}`,
      masterKey: key,
      enforceSSL: true,
    });
    topic.grantPublish(new iam.ServicePrincipal('cloudwatch.amazonaws.com'));
    return topic;
  }
}
