import { SynthResult, synthEdgeApp } from '../support/synth';
import { alarmsOf, ofType, Resources } from './support';

// us-east-1 is both the home region and a fleet region: one imported topic serves both stacks there.
const IMPORTED = 'arn:aws:sns:us-east-1:123456789012:edge-oncall';
let synth: SynthResult;
const templates: Record<string, Resources> = {};

beforeAll(() => {
  synth = synthEdgeApp({
    config: { regions: ['us-east-1', 'us-west-1'], alarms: { emails: ['oncall@example.com'], topicArns: { 'us-east-1': IMPORTED } } },
  });
  for (const name of ['edge-broker', 'edge-fleet-us-east-1', 'edge-fleet-us-west-1']) templates[name] = synth.template(name).toJSON().Resources;
});

const actionsOf = (resources: Resources) => alarmsOf(resources).map(([, a]) => [a.Properties.AlarmActions, a.Properties.OKActions]);

test('an imported topic replaces the created one: no topic, key or subscription of ours, every alarm to the ARN', () => {
  for (const name of ['edge-broker', 'edge-fleet-us-east-1']) {
    const resources = templates[name];
    const mine = ofType(resources, 'AWS::SNS::Topic').filter(([id]) => id.startsWith('Monitoring') || id.startsWith('Operations'));
    expect([name, mine]).toEqual([name, []]);
    // Only the fleet's own notification topic (scaling events, health check alarm) gets the emails.
    const subscribed = ofType(resources, 'AWS::SNS::Subscription').map(([, s]) => JSON.stringify(s.Properties.TopicArn));
    expect(subscribed.every((t) => t.includes('FleetNotifications'))).toBe(true);
    const paging = name === 'edge-broker' ? actionsOf(resources) : actionsOf(resources).filter(([a]) => JSON.stringify(a) !== JSON.stringify([{ Ref: ofType(resources, 'AWS::SNS::Topic')[0][0] }]));
    expect(paging.length).toBeGreaterThan(10);
    for (const [alarm, ok] of paging) expect([alarm, ok]).toEqual([[IMPORTED], [IMPORTED]]);
  }
  const [, rule] = ofType(templates['edge-fleet-us-east-1'], 'AWS::Events::Rule')[0];
  expect((rule.Properties.Targets as Array<{ Arn: unknown }>)[0].Arn).toBe(IMPORTED);
});

test('a region without an imported topic gets its own, with the configured email subscriptions', () => {
  const resources = templates['edge-fleet-us-west-1'];
  const [[topicId]] = ofType(resources, 'AWS::SNS::Topic').filter(([id]) => id.startsWith('Monitoring'));
  const subscriptions = ofType(resources, 'AWS::SNS::Subscription').map(([, s]) => s.Properties);
  expect(subscriptions).toEqual(expect.arrayContaining([expect.objectContaining({ Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: { Ref: topicId } })]));
});
