import { ArnFormat, CfnOutput, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { checkAlarmRecipients, PlatformConfig } from '../config';

/** The topic ARN the config gives for `region` (`alarms.topicArns`), imported; undefined if none. */
export function importedAlarmTopic(scope: Construct, id: string, config: PlatformConfig, region: string): sns.ITopic | undefined {
  const arn = config.alarms.topicArns[region];
  return arn ? sns.Topic.fromTopicArn(scope, id, arn) : undefined;
}

/** The name of a fleet region's created alarm topic, so that it can be found (and subscribed) by name. */
export function alarmTopicName(config: PlatformConfig, region: string): string {
  return `${config.platformName}-alarms-${region}`;
}

/**
 * Lets this account's CloudWatch alarms named `<platform>-*` publish to a topic of ours. A topic
 * policy (AWS::SNS::TopicPolicy, which `enforceSSL` creates) replaces SNS's default policy, which
 * would otherwise let the owner account's services publish; without this statement every alarm
 * action fails with "not authorized to perform: SNS:Publish ... because no resource-based policy
 * allows". The conditions keep another account's alarms (a confused deputy) from paging on-call
 * through it (re:Post knowledge center "cloudwatch-receive-sns-for-alarm-trigger"; SNS developer
 * guide, "Example cases for Amazon SNS access control": aws:SourceAccount, aws:SourceArn).
 */
export function allowAlarmsToPublish(topic: sns.ITopic, config: PlatformConfig): void {
  const stack = Stack.of(topic);
  const alarms = stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: `${config.platformName}-*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsOfThisAccount',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account }, ArnLike: { 'aws:SourceArn': alarms } },
    }),
  );
}

/**
 * An EventBridge rule target that publishes to the topic. aws-events-targets' SnsTopic grants
 * events.amazonaws.com sns:Publish with no condition, which any account's rule could use; the
 * topic policy here allows this one rule only (`allowRuleToPublish`).
 */
export function ruleToTopic(topic: sns.ITopic, message: events.RuleTargetInput): events.IRuleTarget {
  return {
    bind: (rule) => {
      allowRuleToPublish(topic, rule);
      return { arn: topic.topicArn, input: message, targetResource: topic };
    },
  };
}

function allowRuleToPublish(topic: sns.ITopic, rule: events.IRuleRef): void {
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'EventRuleOfThisStack',
      principals: [new iam.ServicePrincipal('events.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(topic).account }, ArnEquals: { 'aws:SourceArn': rule.ruleRef.ruleArn } },
    }),
  );
}

export interface AlarmTopicProps {
  readonly config: PlatformConfig;
  readonly region: string;
  /**
   * A topic of this stack to adopt instead of creating one (the broker's existing alarm topic keeps
   * its subscribers). Ignored when the config imports a topic for the region.
   */
  readonly adopt?: sns.Topic;
  /** Whether to output the topic's ARN as `AlarmTopicArn` (default true; the broker stack outputs its own). */
  readonly output?: boolean;
}

/**
 * The region's alarm topic: every alarm of the region sends ALARM and OK here, and the fleet's
 * launch-failure events too. Imported when `alarms.topicArns[region]` is set; otherwise ours
 * (created, or adopted from the broker), encrypted with a customer managed key whose policy lets
 * CloudWatch and EventBridge use it (the AWS managed aws/sns key cannot grant them), SSL-only,
 * with a topic policy that lets this account's alarms publish. `alarms.emails` subscribe to the
 * topics the platform owns; an imported topic's subscriptions belong to whoever owns it.
 *
 * Synth fails here, naming the fields, when nobody would receive the region's alarms
 * (`checkAlarmRecipients`), unless the config says it is a sandbox.
 */
export class AlarmTopic extends Construct {
  readonly topic: sns.ITopic;
  /** True when the topic came from `alarms.topicArns` (its policy and key are not ours to change). */
  readonly imported: boolean;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    checkAlarmRecipients(props.config);
    const imported = importedAlarmTopic(this, 'Imported', props.config, props.region);
    this.imported = imported !== undefined;
    this.topic = imported ?? props.adopt ?? this.createTopic(props);
    if (!this.imported) {
      allowAlarmsToPublish(this.topic, props.config);
      for (const email of props.config.alarms.emails) this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    if (props.output ?? true) {
      new CfnOutput(Stack.of(this), 'AlarmTopicArn', {
        value: this.topic.topicArn,
        description: `Every ${props.config.platformName} alarm of ${props.region} notifies this topic (ALARM and OK): subscribe on-call here (docs/monitoring.md)`,
      });
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
    return new sns.Topic(this, 'Topic', {
      topicName: alarmTopicName(props.config, props.region),
      displayName: `${props.config.platformName} alarms ${props.region}`,
      masterKey: key,
      enforceSSL: true,
    });
  }
}
