/**
 * Someone always receives the alarms: synth refuses, naming the fields, a config in which a
 * region's alarms would reach nobody (no `alarms.emails`, no `alarms.topicArns[region]`), unless
 * `alarms.allowNoRecipients` says it is a sandbox; every alarm topic (and the fleet's
 * notification topic) has a name and its ARN is a stack output, so that people can find it and
 * subscribe.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, checkAlarmRecipients, regionsWithoutAlarmRecipients, resolveConfig } from '../../lib/config';
import { synthEdgeApp } from '../support/synth';
import { ofType } from './support';

const ROOT = join(__dirname, '..', '..');
const arn = (region: string) => `arn:aws:sns:${region}:123456789012:pager`;
const synth = (alarms: Record<string, unknown>, regions = ['us-west-1']) => synthEdgeApp({ config: { regions, alarms }, nag: false });

describe('synth refuses alarms that would reach nobody', () => {
  test('no email and no topic: a ConfigError naming the fields, every silent region, and the sandbox flag', () => {
    const attempt = () => synth({ emails: [] }, ['us-west-1', 'eu-west-1']);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/alarms\.emails \/ alarms\.topicArns: nobody would receive the alarms of us-east-1, us-west-1, eu-west-1/);
    expect(attempt).toThrow(/alarms\.allowNoRecipients: true/);
  });

  test('a topic for some regions only: the others are named', () => {
    expect(() => synth({ emails: [], topicArns: { 'us-east-1': arn('us-east-1') } }, ['us-west-1', 'eu-west-1'])).toThrow(/nobody would receive the alarms of us-west-1, eu-west-1\./);
    expect(regionsWithoutAlarmRecipients(resolveConfig({ regions: ['us-west-1'], alarms: { topicArns: { 'us-west-1': arn('us-west-1') } } }))).toEqual(['us-east-1']);
  });

  test('the home region counts even when it is no fleet region (the broker\'s alarms)', () => {
    expect(() => checkAlarmRecipients(resolveConfig({ regions: ['eu-west-1'], alarms: { topicArns: { 'eu-west-1': arn('eu-west-1') } } }))).toThrow(/alarms of us-east-1\./);
  });

  test('a topic for every region needs no email; emails alone need no topic', () => {
    expect(() => synth({ emails: [], topicArns: { 'us-east-1': arn('us-east-1'), 'us-west-1': arn('us-west-1') } })).not.toThrow();
    expect(() => synth({ emails: ['oncall@example.com'] })).not.toThrow();
  });

  test('a sandbox may opt out (alarms.allowNoRecipients): alarms exist, no subscription anywhere', () => {
    const sandbox = synth({ emails: [], allowNoRecipients: true });
    for (const stack of ['edge-broker', 'edge-fleet-us-west-1']) {
      const resources = sandbox.template(stack).toJSON().Resources;
      expect(ofType(resources, 'AWS::SNS::Subscription')).toEqual([]);
      expect(ofType(resources, 'AWS::CloudWatch::Alarm').length).toBeGreaterThan(10);
    }
  });

  test('the flag is a boolean, checked like every field', () => {
    expect(() => resolveConfig({ alarms: { allowNoRecipients: 'yes' } })).toThrow(/alarms\.allowNoRecipients: must be boolean/);
  });

  test('the real entry point (bin/edge.ts, what `cdk synth` runs) prints the error and exits 1 on the default config', async () => {
    const env = { ...process.env, CDK_CONTEXT_JSON: '{}', CDK_OUTDIR: join(ROOT, 'cdk.out', 'recipients-test'), EDGE_CONFIG_FILE: '' };
    const result = await promisify(execFile)(join(ROOT, 'node_modules', '.bin', 'tsx'), ['bin/edge.ts'], { cwd: ROOT, env, timeout: 120_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('alarms.emails / alarms.topicArns: nobody would receive the alarms of us-east-1');
  }, 120_000);
});

describe('every topic is named and its ARN a stack output', () => {
  test('the broker\'s alarm topic, each region\'s alarm topic and notification topic', () => {
    const app = synth({ emails: ['oncall@example.com'] });
    const broker = app.template('edge-broker').toJSON();
    expect(broker.Outputs.AlarmTopicArn.Value).toEqual({ Ref: ofType(broker.Resources, 'AWS::SNS::Topic')[0][0] });
    const fleet = app.template('edge-fleet-us-west-1').toJSON();
    const topics = Object.fromEntries(ofType(fleet.Resources, 'AWS::SNS::Topic').map(([id, t]) => [t.Properties.TopicName as string, id]));
    expect(Object.keys(topics).sort()).toEqual(['edge-alarms-us-west-1', 'edge-fleet-notifications-us-west-1']);
    expect(fleet.Outputs.AlarmTopicArn.Value).toEqual({ Ref: topics['edge-alarms-us-west-1'] });
    expect(fleet.Outputs.FleetNotificationTopicArn.Value).toEqual({ Ref: topics['edge-fleet-notifications-us-west-1'] });
    // Both topics of the region get the emails.
    const subscribed = ofType(fleet.Resources, 'AWS::SNS::Subscription').map(([, s]) => (s.Properties.TopicArn as { Ref: string }).Ref);
    expect(subscribed.sort()).toEqual(Object.values(topics).sort());
  });

  test('an imported topic is the output of its region', () => {
    const app = synth({ emails: [], topicArns: { 'us-east-1': arn('us-east-1'), 'us-west-1': arn('us-west-1') } });
    expect(app.template('edge-broker').toJSON().Outputs.AlarmTopicArn.Value).toBe(arn('us-east-1'));
    expect(app.template('edge-fleet-us-west-1').toJSON().Outputs.AlarmTopicArn.Value).toBe(arn('us-west-1'));
  });
});
