import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmHistoryCommand, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { runGate } from '../../lib/pipeline/runtime/main';

/**
 * The pipeline's gates against CloudWatch, CloudFormation and ELB stubbed at the client
 * (aws-sdk-client-mock), answering as their API references say: DescribeAlarms pages with
 * NextToken, DescribeAlarmHistory items carry HistoryData JSON with newState.stateValue.
 */
const cloudwatch = mockClient(CloudWatchClient);
const cloudformation = mockClient(CloudFormationClient);
const elb = mockClient(ElasticLoadBalancingV2Client);

async function regionOf(getClient: () => { config: { region: unknown } }): Promise<string> {
  const region = getClient().config.region;
  return typeof region === 'function' ? ((await (region as () => Promise<string>)()) as string) : (region as string);
}

/** A clock the sleeps advance: no real waiting. */
function clock(start = Date.parse('2026-12-05T08:00:00Z')) {
  let now = start;
  return { now: () => new Date(now), sleep: async (ms: number) => void (now += ms), minutesPassed: () => (now - start) / 60_000 };
}

async function gate(argv: string[], c = clock()) {
  const out: string[] = [];
  const code = await runGate(argv, {
    out: (l) => out.push(l),
    cloudwatch: (region) => new CloudWatchClient({ region }),
    verifyClients: (region) => ({
      cloudformation: new CloudFormationClient({ region }),
      elb: new ElasticLoadBalancingV2Client({ region }),
      cloudwatch: new CloudWatchClient({ region }),
      httpStatus: async () => 404,
    }),
    sleep: c.sleep,
    now: c.now,
    log: () => undefined,
  });
  return { code, out: out.join('\n'), c };
}

beforeEach(() => {
  cloudwatch.reset();
  cloudformation.reset();
  elb.reset();
  cloudwatch.on(DescribeAlarmHistoryCommand).resolves({ AlarmHistoryItems: [] });
  cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], CompositeAlarms: [] });
});

describe('bake gate', () => {
  test('no alarm for the whole bake: passes after the bake time, checking every minute', async () => {
    const { code, out, c } = await gate(['bake', '--regions', 'us-east-1,eu-west-1', '--minutes', '30', '--alarm-prefix', 'edge-']);
    expect(code).toBe(0);
    expect(out).toBe('bake passed: us-east-1, eu-west-1: no edge-* alarm fired in 30 minute(s) (31 checks)');
    expect(c.minutesPassed()).toBe(30);
    for (const call of cloudwatch.commandCalls(DescribeAlarmsCommand)) expect(call.args[0].input).toMatchObject({ AlarmNamePrefix: 'edge-', StateValue: 'ALARM' });
  });

  test('an alarm in ALARM in one region, found on a later page, fails the wave naming the region and the alarm', async () => {
    let calls = 0;
    cloudwatch.on(DescribeAlarmsCommand).callsFake(async (input: { NextToken?: string }, getClient) => {
      const region = await regionOf(getClient);
      calls++;
      if (region !== 'eu-west-1' || calls < 5) return { MetricAlarms: [] };
      if (!input.NextToken) return { MetricAlarms: [], NextToken: 'page-2' };
      return { MetricAlarms: [{ AlarmName: 'edge-fleet-5xx-rate', StateValue: 'ALARM', StateReason: 'Threshold Crossed: 1 datapoint [7.2] was greater than the threshold (5.0).', StateUpdatedTimestamp: new Date('2026-12-05T08:03:10Z') }] };
    });
    const { code, out, c } = await gate(['bake', '--regions', 'us-east-1,eu-west-1', '--minutes', '30', '--alarm-prefix', 'edge-']);
    expect(code).toBe(1);
    expect(out).toBe('wave failed: ALARM in eu-west-1: edge-fleet-5xx-rate since 2026-12-05T08:03:10.000Z (Threshold Crossed: 1 datapoint [7.2] was greater than the threshold (5.0).)');
    expect(c.minutesPassed()).toBeLessThan(30);
  });

  test('an alarm that fired and cleared between two checks still fails the wave (alarm history since the bake started)', async () => {
    cloudwatch.on(DescribeAlarmHistoryCommand).callsFake(async (input: { StartDate?: Date }, getClient) => {
      expect(input.StartDate).toEqual(new Date('2026-12-05T08:00:00Z'));
      if ((await regionOf(getClient)) !== 'us-east-1') return { AlarmHistoryItems: [] };
      return {
        AlarmHistoryItems: [
          { AlarmName: 'other-team-alarm', HistoryItemType: 'StateUpdate', HistoryData: JSON.stringify({ newState: { stateValue: 'ALARM' } }) },
          { AlarmName: 'edge-control-plane-nacks', HistoryItemType: 'StateUpdate', Timestamp: new Date('2026-12-05T08:01:00Z'), HistoryData: JSON.stringify({ version: '1.0', oldState: { stateValue: 'OK' }, newState: { stateValue: 'ALARM', stateReason: 'Threshold Crossed' } }) },
          { AlarmName: 'edge-control-plane-nacks', HistoryItemType: 'StateUpdate', HistoryData: JSON.stringify({ version: '1.0', oldState: { stateValue: 'ALARM' }, newState: { stateValue: 'OK' } }) },
        ],
      };
    });
    const { code, out } = await gate(['bake', '--regions', 'us-east-1', '--minutes', '10', '--alarm-prefix', 'edge-']);
    expect(code).toBe(1);
    expect(out).toBe('wave failed: ALARM in us-east-1: edge-control-plane-nacks since 2026-12-05T08:01:00.000Z (Threshold Crossed)');
  });

  test('bad arguments name the flag', async () => {
    expect(await gate(['bake', '--regions', 'us-east-1', '--minutes', 'soon', '--alarm-prefix', 'edge-'])).toMatchObject({ code: 2, out: 'pipeline gate: --minutes: a whole number of minutes, got "soon"' });
    expect(await gate(['bake', '--minutes', '5', '--alarm-prefix', 'edge-'])).toMatchObject({ code: 2, out: 'pipeline gate: --regions: required (a comma-separated list)' });
  });
});

describe('verify gate', () => {
  const TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/edge-tls/0123456789abcdef';
  function healthyRegion() {
    cloudformation.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'edge-fleet-eu-west-1', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date() }] });
    cloudformation.on(ListStackResourcesCommand).callsFake(async (input: { NextToken?: string }) =>
      input.NextToken
        ? { StackResourceSummaries: [{ LogicalResourceId: 'Tls', ResourceType: 'AWS::ElasticLoadBalancingV2::TargetGroup', PhysicalResourceId: TG, ResourceStatus: 'CREATE_COMPLETE', LastUpdatedTimestamp: new Date() }] }
        : { StackResourceSummaries: [{ LogicalResourceId: 'Vpc', ResourceType: 'AWS::EC2::VPC', PhysicalResourceId: 'vpc-1', ResourceStatus: 'CREATE_COMPLETE', LastUpdatedTimestamp: new Date() }], NextToken: 'next' },
    );
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [{ Target: { Id: 'i-1' }, TargetHealth: { State: 'healthy' } }, { Target: { Id: 'i-2' }, TargetHealth: { State: 'healthy' } }] });
  }
  const argv = ['verify', '--region', 'eu-west-1', '--stacks', 'edge-fleet-eu-west-1', '--alarm-prefix', 'edge-', '--url', 'https://eu-west-1.edge.corp.example/'];

  test('a healthy region passes (stack complete, every target healthy, no alarm, the region name answers)', async () => {
    healthyRegion();
    expect(await gate(argv)).toMatchObject({ code: 0, out: 'verify passed: eu-west-1' });
    expect(elb.commandCalls(DescribeTargetHealthCommand)[0].args[0].input).toEqual({ TargetGroupArn: TG });
  });

  test('an unhealthy proxy, a rolled-back stack or an alarm: each named with the region', async () => {
    healthyRegion();
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [{ Target: { Id: 'i-1' }, TargetHealth: { State: 'healthy' } }, { Target: { Id: 'i-2' }, TargetHealth: { State: 'unhealthy', Reason: 'Target.FailedHealthChecks' } }] });
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ AlarmName: 'edge-fleet-unhealthy-hosts', StateValue: 'ALARM', StateReason: 'Threshold Crossed' }] });
    const { code, out } = await gate(argv);
    expect(code).toBe(1);
    expect(out.split('\n')).toEqual(['verify failed:', '  eu-west-1: targetgroup/edge-tls/0123456789abcdef: i-2 unhealthy (Target.FailedHealthChecks)', '  eu-west-1: ALARM in eu-west-1: edge-fleet-unhealthy-hosts (Threshold Crossed)']);

    cloudformation.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'edge-fleet-eu-west-1', StackStatus: 'UPDATE_ROLLBACK_COMPLETE', StackStatusReason: 'Resource update cancelled', CreationTime: new Date() }] });
    expect((await gate(argv)).out).toContain('eu-west-1: stack edge-fleet-eu-west-1 is UPDATE_ROLLBACK_COMPLETE (Resource update cancelled)');
  });
});
