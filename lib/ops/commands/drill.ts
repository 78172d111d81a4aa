import { randomBytes } from 'node:crypto';
import {
  CloudWatchClient,
  CompositeAlarm,
  DescribeAlarmHistoryCommand,
  DescribeAlarmsCommand,
  MetricAlarm,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import { ConfirmSubscriptionCommand, ListSubscriptionsByTopicCommand, SNSClient, SubscribeCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { OpsError } from '../errors';

/**
 * The alarm drill: proves in a real account that an alarm reaches its topic and that the
 * topic delivers. It subscribes a temporary SQS queue to each SNS topic of the alarm's ALARM
 * actions, sets the alarm to ALARM with SetAlarmState ("temporarily sets the state of an alarm
 * for testing purposes ... the action configured for the appropriate state is invoked"; a
 * metric alarm returns to its actual state at its next evaluation), waits for the notification
 * to arrive in the queue, reads the alarm's action history (CloudWatch records "Failed to
 * execute action" when the topic or its key refuses it), then unsubscribes and deletes the
 * queue, whatever happened.
 *
 * Why a queue rather than SNS delivery status logs: those exist only for some protocols (not
 * email), need a logging role and standing configuration on each topic, and only tell that SNS
 * tried to deliver to subscribers that already exist; a queue the drill subscribes itself sees
 * the very message on-call gets, needs nothing deployed, and is gone afterwards.
 */
export interface DrillClients {
  readonly cloudwatch: CloudWatchClient;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
}

export interface DrillOptions {
  readonly alarmName: string;
  readonly platformName: string;
  /** Who runs it (EDGE_OPERATOR / USER), written in the alarm's state reason. */
  readonly operator?: string;
  /** How long to wait for the ALARM notification (and then for the OK one). */
  readonly timeoutMs: number;
  /** Pause between subscribing the queue and setting the alarm: SQS applies a new queue policy after a moment. */
  readonly settleMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface TopicSubscriber {
  readonly protocol: string;
  readonly endpoint: string;
  /** False while the subscription waits for its owner's confirmation (an email not yet clicked). */
  readonly confirmed: boolean;
}

export interface DrillPlan {
  readonly alarm: { readonly name: string; readonly type: 'metric'; readonly state: string; readonly runbook: string };
  /** Every SNS topic of the alarm's ALARM actions, with who receives what it publishes. */
  readonly topics: ReadonlyArray<{ readonly arn: string; readonly subscribers: readonly TopicSubscriber[]; readonly alsoOnOk: boolean }>;
  /** Problems that make the drill pointless or unsafe; empty when it can run. */
  readonly refusals: readonly string[];
  /** What a person should know even when it can run (nobody confirmed, OK not sent...). */
  readonly warnings: readonly string[];
}

export interface DrillResult {
  readonly plan: DrillPlan;
  readonly drillId: string;
  readonly startedAt: string;
  readonly topics: ReadonlyArray<{ readonly arn: string; readonly alarmNotification: boolean; readonly okNotification: boolean; readonly seconds?: number }>;
  /** The alarm's action history since the drill started (CloudWatch's own words). */
  readonly actionHistory: readonly string[];
  /** Anything the drill could not remove (left for the next drill to clean). */
  readonly cleanupProblems: readonly string[];
  readonly passed: boolean;
}

/** The prefix of the drill's temporary queues: a drill cut short leaves one, the next one removes it. */
export function drillQueuePrefix(platformName: string): string {
  return `${platformName}-drill-`;
}

const RUNBOOK_LINE = /Runbook: docs\/runbooks\/([a-z0-9-]+)\.md$/;
const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function subscribersOf(sns: SNSClient, topicArn: string): Promise<Array<TopicSubscriber & { subscriptionArn: string }>> {
  const out: Array<TopicSubscriber & { subscriptionArn: string }> = [];
  let next: string | undefined;
  do {
    const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: next }));
    for (const s of page.Subscriptions ?? []) {
      out.push({ protocol: s.Protocol ?? '', endpoint: s.Endpoint ?? '', confirmed: s.SubscriptionArn !== 'PendingConfirmation', subscriptionArn: s.SubscriptionArn ?? '' });
    }
    next = page.NextToken;
  } while (next);
  return out;
}

/** Reads the alarm and its topics (read-only): what the drill would do, and why it would not. */
export async function inspectAlarm(clients: DrillClients, options: DrillOptions): Promise<DrillPlan> {
  const found = await clients.cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: [options.alarmName], AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] }));
  const metric: MetricAlarm | undefined = found.MetricAlarms?.[0];
  const composite: CompositeAlarm | undefined = found.CompositeAlarms?.[0];
  if (!metric && !composite) throw new OpsError('not-found', `alarm ${options.alarmName}: not found in this region (alarm names are exact: ${options.platformName}-<runbook>[-<suffix>])`);
  const alarm = (metric ?? composite)!;
  const refusals: string[] = [];
  const warnings: string[] = [];
  if (composite) {
    refusals.push('it is a composite alarm: SetAlarmState may leave a composite alarm in ALARM until one of its children changes state; drill a metric alarm of the same stack (they notify the same topic)');
  }
  const runbook = RUNBOOK_LINE.exec(alarm.AlarmDescription ?? '')?.[1] ?? '';
  if (!runbook) refusals.push('its description names no runbook: it is not one of the platform\'s paging alarms (some alarms drive more than a notification, e.g. a Route 53 health check)');
  if (alarm.ActionsEnabled === false) refusals.push('its actions are disabled: it notifies nobody (aws cloudwatch enable-alarm-actions)');
  if (alarm.StateValue === 'ALARM') refusals.push('it is in ALARM now (a real incident?): setting ALARM again changes no state and sends nothing; drill another alarm of the region');
  const topicArns = [...new Set((alarm.AlarmActions ?? []).filter((a) => /^arn:[^:]+:sns:/.test(a)))];
  if (topicArns.length === 0) refusals.push('it has no SNS topic among its ALARM actions: nobody is paged');
  const topics = [];
  for (const arn of topicArns) {
    const subscribers = (await subscribersOf(clients.sns, arn))
      .filter((s) => !s.endpoint.includes(`:${drillQueuePrefix(options.platformName)}`))
      .map(({ protocol, endpoint, confirmed }) => ({ protocol, endpoint, confirmed }));
    const alsoOnOk = (alarm.OKActions ?? []).includes(arn);
    if (!subscribers.some((s) => s.confirmed)) warnings.push(`${arn}: no confirmed subscription: nobody receives this topic (email subscriptions wait for their recipient to confirm)`);
    if (!alsoOnOk) warnings.push(`${arn}: not an OK action: on-call will not see the recovery`);
    topics.push({ arn, subscribers, alsoOnOk });
  }
  return { alarm: { name: alarm.AlarmName ?? options.alarmName, type: 'metric', state: alarm.StateValue ?? 'INSUFFICIENT_DATA', runbook }, topics, refusals, warnings };
}

interface Notification {
  readonly topicArn: string;
  readonly alarmName: string;
  readonly newState: string;
  readonly reason: string;
}

/** An SNS envelope (the SQS message body, raw delivery off) with a CloudWatch alarm notification in it. */
function parseNotification(body: string): Notification | { confirm: { topicArn: string; token: string } } | undefined {
  try {
    const envelope = JSON.parse(body) as { Type?: string; TopicArn?: string; Message?: string; Token?: string };
    if (envelope.Type === 'SubscriptionConfirmation' && envelope.TopicArn && envelope.Token) return { confirm: { topicArn: envelope.TopicArn, token: envelope.Token } };
    if (envelope.Type !== 'Notification' || !envelope.TopicArn || !envelope.Message) return undefined;
    const alarm = JSON.parse(envelope.Message) as { AlarmName?: string; NewStateValue?: string; NewStateReason?: string };
    return { topicArn: envelope.TopicArn, alarmName: alarm.AlarmName ?? '', newState: alarm.NewStateValue ?? '', reason: alarm.NewStateReason ?? '' };
  } catch {
    return undefined;
  }
}

/** Removes what an earlier drill cut short left: its subscriptions to these topics and their queues. */
async function removeStaleDrills(clients: DrillClients, platformName: string, topicArns: readonly string[], problems: string[]): Promise<void> {
  for (const arn of topicArns) {
    for (const s of await subscribersOf(clients.sns, arn)) {
      const name = s.endpoint.split(':').pop() ?? '';
      if (s.protocol !== 'sqs' || !name.startsWith(drillQueuePrefix(platformName))) continue;
      if (s.confirmed) await clients.sns.send(new UnsubscribeCommand({ SubscriptionArn: s.subscriptionArn })).catch((err: Error) => problems.push(`unsubscribe ${s.subscriptionArn}: ${err.message}`));
      try {
        const url = (await clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
        if (url) await clients.sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
      } catch (err) {
        if ((err as Error).name !== 'QueueDoesNotExist' && (err as Error).name !== 'AWS.SimpleQueueService.NonExistentQueue') problems.push(`delete queue ${name}: ${(err as Error).message}`);
      }
    }
  }
}

/** The drill itself (see the module comment). Refuses, naming why, when inspectAlarm found a reason not to. */
export async function drillAlarm(clients: DrillClients, options: DrillOptions): Promise<DrillResult> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? sleepFor;
  const plan = await inspectAlarm(clients, options);
  if (plan.refusals.length > 0) throw new OpsError('drill-refused', `alarm ${options.alarmName}: not drilled: ${plan.refusals.join('; ')}`);
  const topicArns = plan.topics.map((t) => t.arn);
  const cleanupProblems: string[] = [];
  await removeStaleDrills(clients, options.platformName, topicArns, cleanupProblems);

  const drillId = `${new Date(now()).toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
  const startedAt = new Date(now());
  const queueName = `${drillQueuePrefix(options.platformName)}${drillId}`;
  const subscriptions: string[] = [];
  let queueUrl: string | undefined;
  try {
    // Only these topics may send to the queue (SNS Developer Guide, "Publish messages to an Amazon SQS queue").
    const queueArnOf = (url: string) => clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })).then((r) => r.Attributes?.QueueArn ?? '');
    queueUrl = (
      await clients.sqs.send(
        new CreateQueueCommand({
          QueueName: queueName,
          Attributes: { MessageRetentionPeriod: '900', ReceiveMessageWaitTimeSeconds: '20' },
          tags: { purpose: 'alarm-drill', alarm: options.alarmName.slice(0, 256) },
        }),
      )
    ).QueueUrl!;
    const queueArn = await queueArnOf(queueUrl);
    await clients.sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queueUrl,
        Attributes: {
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Sid: 'AlarmTopics', Effect: 'Allow', Principal: { Service: 'sns.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: queueArn, Condition: { ArnEquals: { 'aws:SourceArn': topicArns } } }],
          }),
        },
      }),
    );
    for (const topicArn of topicArns) {
      const subscribed = await clients.sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn, ReturnSubscriptionArn: true }));
      subscriptions.push(subscribed.SubscriptionArn!);
    }
    await sleep(options.settleMs ?? 10_000);

    const reason = `DRILL ${drillId} by ${options.operator ?? 'an operator'} at ${startedAt.toISOString()}: testing that this alarm reaches its topic (npm run ops -- drill); not a real failure. It returns to its real state at its next evaluation.`;
    await clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: options.alarmName, StateValue: 'ALARM', StateReason: reason.slice(0, 1023) }));

    const received = new Map<string, { alarm: boolean; ok: boolean; seconds?: number }>(topicArns.map((arn) => [arn, { alarm: false, ok: false }]));
    const poll = async (done: () => boolean, deadline: number) => {
      while (!done() && now() < deadline) {
        const wait = Math.max(1, Math.min(20, Math.ceil((deadline - now()) / 1000)));
        const batch = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: wait }));
        const messages = batch.Messages ?? [];
        for (const message of messages) {
          const parsed = parseNotification(message.Body ?? '');
          if (parsed && 'confirm' in parsed) {
            // A topic of another account: its subscription must be confirmed with the token it sent.
            await clients.sns.send(new ConfirmSubscriptionCommand({ TopicArn: parsed.confirm.topicArn, Token: parsed.confirm.token }));
          } else if (parsed && parsed.alarmName === options.alarmName && received.has(parsed.topicArn)) {
            const seen = received.get(parsed.topicArn)!;
            if (parsed.newState === 'ALARM' && parsed.reason.includes(drillId)) {
              seen.alarm = true;
              seen.seconds = Math.round((now() - startedAt.getTime()) / 100) / 10;
            } else if (parsed.newState === 'OK') seen.ok = true; // the recovery; SQS does not keep the order of the two
          }
        }
        if (messages.length > 0) {
          await clients.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
        }
      }
    };
    await poll(() => [...received.values()].every((r) => r.alarm), now() + options.timeoutMs);
    // The metric alarm returns to its real state at its next evaluation; OK actions send the recovery.
    if ([...received.values()].every((r) => r.alarm)) await poll(() => [...received.values()].every((r) => r.ok), now() + options.timeoutMs);

    const history = await clients.cloudwatch.send(new DescribeAlarmHistoryCommand({ AlarmName: options.alarmName, HistoryItemType: 'Action', StartDate: startedAt, ScanBy: 'TimestampAscending' }));
    const actionHistory = (history.AlarmHistoryItems ?? []).map((item) => item.HistorySummary ?? '').filter(Boolean);
    const topics = topicArns.map((arn) => ({ arn, alarmNotification: received.get(arn)!.alarm, okNotification: received.get(arn)!.ok, seconds: received.get(arn)!.seconds }));
    const failedActions = actionHistory.filter((summary) => /^Failed/i.test(summary));
    return { plan, drillId, startedAt: startedAt.toISOString(), topics, actionHistory, cleanupProblems, passed: topics.every((t) => t.alarmNotification) && failedActions.length === 0 };
  } finally {
    for (const arn of subscriptions) await clients.sns.send(new UnsubscribeCommand({ SubscriptionArn: arn })).catch((err: Error) => cleanupProblems.push(`unsubscribe ${arn}: ${err.message}`));
    if (queueUrl) await clients.sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch((err: Error) => cleanupProblems.push(`delete queue ${queueName}: ${err.message}`));
  }
}

export function formatPlan(plan: DrillPlan): string {
  const lines = [`alarm ${plan.alarm.name}: state ${plan.alarm.state}, runbook ${plan.alarm.runbook || '(none)'}`];
  for (const topic of plan.topics) {
    lines.push(`  topic ${topic.arn}${topic.alsoOnOk ? '' : ' (ALARM only)'}`);
    if (topic.subscribers.length === 0) lines.push('    no subscription');
    for (const s of topic.subscribers) lines.push(`    ${s.protocol} ${s.endpoint}${s.confirmed ? '' : ' (PendingConfirmation)'}`);
  }
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  for (const r of plan.refusals) lines.push(`cannot drill: ${r}`);
  return `${lines.join('\n')}\n`;
}

export function formatDrill(result: DrillResult): string {
  const lines = [formatPlan(result.plan).trimEnd(), `drill ${result.drillId} started ${result.startedAt}`];
  for (const t of result.topics) {
    lines.push(
      `  ${t.arn}: ${t.alarmNotification ? `notification received after ${t.seconds} s` : 'NO notification received'}${t.alarmNotification ? (t.okNotification ? ', recovery (OK) received' : ', recovery (OK) not seen yet: the alarm returns to its real state at its next evaluation') : ''}`,
    );
  }
  for (const h of result.actionHistory) lines.push(`  history: ${h}`);
  for (const p of result.cleanupProblems) lines.push(`  cleanup: ${p}`);
  lines.push(result.passed ? 'drill passed' : 'drill FAILED');
  return `${lines.join('\n')}\n`;
}
