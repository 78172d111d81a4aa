/**
 * `npm run ops -- drill <alarm>` with the AWS SDK clients stubbed (aws-sdk-client-mock) as the
 * CloudWatch, SNS and SQS APIs answer: DescribeAlarms (metric and composite alarms),
 * ListSubscriptionsByTopic (paginated, `PendingConfirmation` for unconfirmed subscriptions),
 * Subscribe (an ARN, or "pending confirmation" across accounts until ConfirmSubscription),
 * SetAlarmState, the SNS envelope of a CloudWatch notification in the queue, DescribeAlarmHistory
 * ("Successfully executed action" / "Failed to execute action"), and errors (throttling,
 * access denied). Nothing reaches AWS.
 */
import { CloudWatchClient, DescribeAlarmHistoryCommand, DescribeAlarmsCommand, MetricAlarm, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
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
import { mockClient } from 'aws-sdk-client-mock';
import { drillAlarm } from '../../lib/ops/commands/drill';
import { runCli } from './support';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:edge-broker-OperationsAlarmTopic909EF7A3-1A2B3C4D5E6F`;
const ALARM = 'edge-broker-dlq-not-empty';
const QUEUE_URL = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/edge-drill-x`;
const QUEUE_ARN = `arn:aws:sqs:${REGION}:${ACCOUNT}:edge-drill-x`;
const ENV = { PATH: process.env.PATH, USER: 'drill-test', EDGE_DRILL_SETTLE_SECONDS: '0' };

const cloudwatch = mockClient(CloudWatchClient);
const sns = mockClient(SNSClient);
const sqs = mockClient(SQSClient);

function metricAlarm(overrides: Partial<MetricAlarm> = {}): MetricAlarm {
  return {
    AlarmName: ALARM,
    AlarmArn: `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${ALARM}`,
    AlarmDescription: 'An operation exhausted its retries.\nNo data: not breaching.\nRunbook: docs/runbooks/broker-dlq-not-empty.md',
    ActionsEnabled: true,
    AlarmActions: [TOPIC],
    OKActions: [TOPIC],
    StateValue: 'OK',
    ...overrides,
  };
}

/** The SNS envelope SQS receives (raw delivery off) with a CloudWatch alarm notification in it. */
function envelope(topicArn: string, newState: string, reason: string) {
  return JSON.stringify({
    Type: 'Notification',
    MessageId: 'm-1',
    TopicArn: topicArn,
    Subject: `${newState}: "${ALARM}" in US East (N. Virginia)`,
    Message: JSON.stringify({ AlarmName: ALARM, NewStateValue: newState, NewStateReason: reason, OldStateValue: newState === 'ALARM' ? 'OK' : 'ALARM', Region: 'US East (N. Virginia)' }),
    Timestamp: new Date().toISOString(),
  });
}

/** Stubs the queue side and SetAlarmState so that the notification (and the recovery) arrive in the queue. */
function deliverNotifications(topics: readonly string[] = [TOPIC], opts: { ok?: boolean } = {}) {
  sqs.on(CreateQueueCommand).resolves({ QueueUrl: QUEUE_URL });
  sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { QueueArn: QUEUE_ARN } });
  sqs.on(SetQueueAttributesCommand).resolves({});
  sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  sqs.on(DeleteQueueCommand).resolves({});
  sns.on(SubscribeCommand).callsFake((input: { TopicArn: string }) => ({ SubscriptionArn: `${input.TopicArn}:sub-1` }));
  sns.on(UnsubscribeCommand).resolves({});
  let pending: string[] = [];
  cloudwatch.on(SetAlarmStateCommand).callsFake((input: { StateReason: string }) => {
    pending = topics.map((t) => envelope(t, 'ALARM', input.StateReason));
    if (opts.ok !== false) pending.push(...topics.map((t) => envelope(t, 'OK', 'Threshold Crossed: no datapoints were received')));
    return {};
  });
  sqs.on(ReceiveMessageCommand).callsFake(() => {
    const batch = pending.splice(0, 1);
    return { Messages: batch.map((Body, i) => ({ MessageId: `${i}`, ReceiptHandle: `rh-${i}`, Body })) };
  });
}

beforeEach(() => {
  cloudwatch.reset();
  sns.reset();
  sqs.reset();
  cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [metricAlarm()], CompositeAlarms: [] });
  sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [{ SubscriptionArn: `${TOPIC}:email-1`, Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: TOPIC }] });
  cloudwatch.on(DescribeAlarmHistoryCommand).resolves({
    AlarmHistoryItems: [{ AlarmName: ALARM, HistoryItemType: 'Action', HistorySummary: `Successfully executed action ${TOPIC}`, Timestamp: new Date() }],
  });
});
afterAll(() => {
  cloudwatch.restore();
  sns.restore();
  sqs.restore();
});

const drill = (...args: string[]) => runCli(['drill', ALARM, '--region', REGION, ...args], ENV);

describe('without --yes: read-only, who receives the alarm', () => {
  test('lists every subscription of the topic (all pages), says which wait for confirmation, and changes nothing', async () => {
    sns.on(ListSubscriptionsByTopicCommand, { TopicArn: TOPIC, NextToken: undefined }).resolves({
      Subscriptions: [{ SubscriptionArn: `${TOPIC}:a`, Protocol: 'email', Endpoint: 'oncall@example.com' }],
      NextToken: 'page-2',
    });
    sns.on(ListSubscriptionsByTopicCommand, { TopicArn: TOPIC, NextToken: 'page-2' }).resolves({ Subscriptions: [{ SubscriptionArn: 'PendingConfirmation', Protocol: 'email', Endpoint: 'new@example.com' }] });
    const run = await drill();
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain(`alarm ${ALARM}: state OK, runbook broker-dlq-not-empty`);
    expect(run.stdout).toContain('email oncall@example.com\n');
    expect(run.stdout).toContain('email new@example.com (PendingConfirmation)');
    expect(run.stdout).toContain('Nothing was changed. Run again with --yes');
    expect(cloudwatch.commandCalls(SetAlarmStateCommand)).toHaveLength(0);
    expect(sqs.calls()).toHaveLength(0);
    expect(sns.commandCalls(SubscribeCommand)).toHaveLength(0);
  });

  test('warns when nobody has confirmed a subscription: the alarm reaches no one', async () => {
    sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [{ SubscriptionArn: 'PendingConfirmation', Protocol: 'email', Endpoint: 'oncall@example.com' }] });
    const run = await drill('--json');
    expect(run.code).toBe(0);
    expect(run.json().warnings).toEqual([expect.stringContaining('no confirmed subscription: nobody receives this topic')]);
  });
});

describe('with --yes: pages for real and checks the notification arrives', () => {
  test('subscribes a queue only the alarm\'s topics may send to, sets ALARM with a drill reason, sees the notification and the recovery, then removes the queue', async () => {
    deliverNotifications();
    const run = await drill('--yes');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`${TOPIC}: notification received after [0-9.]+ s, recovery \\(OK\\) received`));
    expect(run.stdout).toContain(`history: Successfully executed action ${TOPIC}`);
    expect(run.stdout).toContain('drill passed');

    const created = sqs.commandCalls(CreateQueueCommand)[0].args[0].input;
    expect(created.QueueName).toMatch(/^edge-drill-\d{14}-[0-9a-f]{6}$/);
    const policy = JSON.parse(sqs.commandCalls(SetQueueAttributesCommand)[0].args[0].input.Attributes!.Policy!);
    expect(policy.Statement).toEqual([
      { Sid: 'AlarmTopics', Effect: 'Allow', Principal: { Service: 'sns.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: QUEUE_ARN, Condition: { ArnEquals: { 'aws:SourceArn': [TOPIC] } } },
    ]);
    expect(sns.commandCalls(SubscribeCommand)[0].args[0].input).toEqual({ TopicArn: TOPIC, Protocol: 'sqs', Endpoint: QUEUE_ARN, ReturnSubscriptionArn: true });
    const state = cloudwatch.commandCalls(SetAlarmStateCommand)[0].args[0].input;
    expect(state).toMatchObject({ AlarmName: ALARM, StateValue: 'ALARM' });
    expect(state.StateReason).toMatch(/^DRILL \d{14}-[0-9a-f]{6} by drill-test at .*not a real failure/);
    expect(state.StateReason!.length).toBeLessThanOrEqual(1023);
    // Everything it made is gone.
    expect(sns.commandCalls(UnsubscribeCommand).map((c) => c.args[0].input.SubscriptionArn)).toEqual([`${TOPIC}:sub-1`]);
    expect(sqs.commandCalls(DeleteQueueCommand).map((c) => c.args[0].input.QueueUrl)).toEqual([QUEUE_URL]);
  });

  test('a notification of another drill or alarm does not count; the JSON result says what arrived from where', async () => {
    deliverNotifications();
    const clock = fakeClock();
    const foreign = [envelope(TOPIC, 'ALARM', 'DRILL 20200101000000-abcdef by someone else'), JSON.stringify({ Type: 'Notification', TopicArn: TOPIC, Message: JSON.stringify({ AlarmName: 'edge-other', NewStateValue: 'ALARM', NewStateReason: 'x' }) })];
    sqs.on(ReceiveMessageCommand).callsFake((input: { WaitTimeSeconds?: number }) => {
      clock.advance(input.WaitTimeSeconds ?? 0);
      const body = foreign.shift();
      return { Messages: body ? [{ MessageId: '1', ReceiptHandle: 'rh', Body: body }] : [] };
    });
    const result = await drillAlarm(clients(), { alarmName: ALARM, platformName: 'edge', timeoutMs: 60_000, settleMs: 0, now: clock.now, sleep: clock.sleep });
    expect(result.topics).toEqual([{ arn: TOPIC, alarmNotification: false, okNotification: false, seconds: undefined }]);
    expect(result.passed).toBe(false);
  });

  test('no notification within the timeout: exit 1 naming the topic, and the queue and subscription are removed anyway', async () => {
    deliverNotifications();
    const clock = fakeClock();
    sqs.on(ReceiveMessageCommand).callsFake((input: { WaitTimeSeconds?: number }) => {
      clock.advance(input.WaitTimeSeconds ?? 0);
      return { Messages: [] };
    });
    const result = await drillAlarm(clients(), { alarmName: ALARM, platformName: 'edge', timeoutMs: 90_000, settleMs: 0, now: clock.now, sleep: clock.sleep });
    expect(result.passed).toBe(false);
    expect(result.topics[0].alarmNotification).toBe(false);
    // Long polls of at most 20 s until the 90 s ran out, then cleanup.
    expect(sqs.commandCalls(ReceiveMessageCommand).map((c) => c.args[0].input.WaitTimeSeconds)).toEqual([20, 20, 20, 20, 10]);
    expect(sqs.commandCalls(DeleteQueueCommand)).toHaveLength(1);
    expect(sns.commandCalls(UnsubscribeCommand)).toHaveLength(1);

    sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });
    const run = await drill('--yes', '--timeout-seconds', '1');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('NO notification received');
    expect(run.stderr).toContain(`drill of ${ALARM} failed: no notification from ${TOPIC}`);
  });

  test('CloudWatch could not publish (the history says so): exit 1 naming the failed action', async () => {
    deliverNotifications();
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });
    const failure = `Failed to execute action ${TOPIC}. Received error: "Resource: arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${ALARM} is not authorized to perform: SNS:Publish on resource: ${TOPIC} because no resource-based policy allows the SNS:Publish action"`;
    cloudwatch.on(DescribeAlarmHistoryCommand).resolves({ AlarmHistoryItems: [{ AlarmName: ALARM, HistoryItemType: 'Action', HistorySummary: failure }] });
    const run = await drill('--yes', '--timeout-seconds', '1');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`history: ${failure}`);
    expect(run.stderr).toContain('because no resource-based policy allows');
  });

  test('a topic of another account: its subscription confirmation is answered with its token', async () => {
    deliverNotifications();
    sns.on(SubscribeCommand).resolves({ SubscriptionArn: 'pending confirmation' });
    sns.on(ConfirmSubscriptionCommand).resolves({ SubscriptionArn: `${TOPIC}:confirmed` });
    const notifications: string[] = [];
    cloudwatch.on(SetAlarmStateCommand).callsFake((input: { StateReason: string }) => {
      notifications.push(envelope(TOPIC, 'ALARM', input.StateReason), envelope(TOPIC, 'OK', 'back'));
      return {};
    });
    const confirmation = JSON.stringify({ Type: 'SubscriptionConfirmation', TopicArn: TOPIC, Token: 'token-123', SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription' });
    let first = true;
    sqs.on(ReceiveMessageCommand).callsFake(() => {
      const body = first ? confirmation : notifications.shift();
      first = false;
      return { Messages: body ? [{ MessageId: 'x', ReceiptHandle: 'rh', Body: body }] : [] };
    });
    const run = await drill('--yes');
    expect(run.code).toBe(0);
    expect(sns.commandCalls(ConfirmSubscriptionCommand)[0].args[0].input).toEqual({ TopicArn: TOPIC, Token: 'token-123' });
  });

  test('what an interrupted drill left (its subscription and queue) is removed first', async () => {
    deliverNotifications();
    const stale = `arn:aws:sqs:${REGION}:${ACCOUNT}:edge-drill-20260101000000-abcdef`;
    sns.on(ListSubscriptionsByTopicCommand).resolves({
      Subscriptions: [
        { SubscriptionArn: `${TOPIC}:email-1`, Protocol: 'email', Endpoint: 'oncall@example.com' },
        { SubscriptionArn: `${TOPIC}:stale`, Protocol: 'sqs', Endpoint: stale },
      ],
    });
    sqs.on(GetQueueUrlCommand, { QueueName: 'edge-drill-20260101000000-abcdef' }).resolves({ QueueUrl: 'https://sqs/stale' });
    const run = await drill('--yes');
    expect(run.code).toBe(0);
    expect(sns.commandCalls(UnsubscribeCommand).map((c) => c.args[0].input.SubscriptionArn)).toEqual([`${TOPIC}:stale`, `${TOPIC}:sub-1`]);
    expect(sqs.commandCalls(DeleteQueueCommand).map((c) => c.args[0].input.QueueUrl)).toEqual(['https://sqs/stale', QUEUE_URL]);
    // The stale queue is no recipient.
    expect(run.stdout).not.toContain('sqs arn:aws:sqs');
  });

  test('throttled (SetAlarmState answers ThrottlingException): exit 1 with the API\'s message, nothing left behind', async () => {
    deliverNotifications();
    cloudwatch.on(SetAlarmStateCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client' }));
    const run = await drill('--yes');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Rate exceeded');
    expect(sqs.commandCalls(DeleteQueueCommand)).toHaveLength(1);
    expect(sns.commandCalls(UnsubscribeCommand)).toHaveLength(1);
  });
});

describe('refusals: the drill only pages through the platform\'s own paging metric alarms', () => {
  test.each([
    ['an alarm that does not exist', { MetricAlarms: [], CompositeAlarms: [] }, 'not found in this region'],
    ['a composite alarm', { MetricAlarms: [], CompositeAlarms: [{ AlarmName: ALARM, AlarmDescription: 'x\nRunbook: docs/runbooks/fleet-health-check-failing.md', AlarmActions: [TOPIC], OKActions: [TOPIC], StateValue: 'OK' as const }] }, 'it is a composite alarm'],
    ['an alarm in ALARM', { MetricAlarms: [metricAlarm({ StateValue: 'ALARM' })] }, 'it is in ALARM now'],
    ['an alarm with actions disabled', { MetricAlarms: [metricAlarm({ ActionsEnabled: false })] }, 'its actions are disabled'],
    ['an alarm with no SNS action', { MetricAlarms: [metricAlarm({ AlarmActions: [] })] }, 'no SNS topic among its ALARM actions'],
    ['the health check\'s input alarm (no runbook)', { MetricAlarms: [metricAlarm({ AlarmDescription: 'No ready Envoy proxy behind the us-east-1 edge NLB: the region leaves edge.example.com DNS' })] }, 'names no runbook'],
  ])('%s: exit 1, nothing set', async (_what, described, message) => {
    cloudwatch.on(DescribeAlarmsCommand).resolves(described);
    const run = await drill('--yes');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
    expect(cloudwatch.commandCalls(SetAlarmStateCommand)).toHaveLength(0);
    expect(sqs.commandCalls(CreateQueueCommand)).toHaveLength(0);
  });

  test('--local, a bad timeout, an extra argument: usage errors naming the flag', async () => {
    expect(await runCli(['drill', ALARM, '--local'], ENV)).toMatchObject({ code: 2, stderr: expect.stringContaining('use --region') });
    expect(await runCli(['drill', ALARM, '--region', REGION, '--timeout-seconds', '0'], ENV)).toMatchObject({ code: 2, stderr: expect.stringContaining('--timeout-seconds: must be a whole number') });
    expect(await runCli(['drill', ALARM, 'extra', '--region', REGION], ENV)).toMatchObject({ code: 2, stderr: expect.stringContaining('drill: expects <alarm-name>') });
    expect(cloudwatch.calls()).toHaveLength(0);
  });

  test('--dry-run checks the line and contacts nothing', async () => {
    const run = await drill('--yes', '--dry-run');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`dry run: would drill ${ALARM}: set it to ALARM`);
    expect([...cloudwatch.calls(), ...sns.calls(), ...sqs.calls()]).toHaveLength(0);
  });
});

/** A clock that moves only when the drill waits (settle, long polls): timeouts without wall-clock time. */
function fakeClock() {
  let t = Date.parse('2026-12-01T10:00:00Z');
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
    advance: (seconds: number) => {
      t += seconds * 1000;
    },
  };
}

const clients = () => ({ cloudwatch: new CloudWatchClient({ region: REGION }), sns: new SNSClient({ region: REGION }), sqs: new SQSClient({ region: REGION }) });
