/**
 * Alarms that really page (issue 15), checked against models of how AWS behaves rather than
 * against what the code says:
 * 1. every alarm action's topic lets CloudWatch publish, reading the synthesized topic policies
 *    (and key policies) as SNS and KMS evaluate them; nobody else's alarms or rules may publish;
 * 2. every metric an alarm, a math expression or a dashboard names is one that is emitted with
 *    exactly those dimensions (custom metrics by running the real emitters; AWS metrics from
 *    their documentation), and sums over several series fill the missing ones;
 * 3. every alarm states what silence means, and each of the platform's own emitters, when it
 *    goes silent, pages through the alarm that reads it or the one it names; a healthy region
 *    pages nobody; the failures of the issue page, and keep paging while they last.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Stack } from 'aws-cdk-lib';
import { BROKER_TABLE_OPERATIONS, FLEET_REGION_ALARMS } from '../../lib/monitoring';
import { Silence, silenceOf } from '../../lib/monitoring/runbook';
import { SynthResult, synthEdgeApp, TEST_REGIONS } from '../support/synth';
import { brokerFixture } from '../broker/support';
import { AlarmDefinition, AlarmState, MetricRef, World, alarmDefinition, evaluateAlarm } from './aws/alarm-evaluation';
import { awsMetricProblems } from './aws/metric-catalog';
import { MATH_VARIANTS, idsOf, parse, unfilledSumOperands } from './aws/metric-math';
import { PolicyRequest, PolicyStatement, defaultTopicPolicy, evaluate } from './aws/resource-policy';
import { CfnResource, TemplateReader } from './aws/template';
import { EmittedMetric, MetricFilterDefinition, accessLogEmits, brokerEmits, controlPlaneEmits, metricKey } from './emitters';
import { REPO_ROOT } from './support';

const ACCOUNT = '123456789012';
const OTHER_ACCOUNT = '999988887777';
const fixture = brokerFixture('edge-paging');

let synth: SynthResult;
const readers: TemplateReader[] = [];
const emitted = new Map<string, EmittedMetric>();
let accessLogMatches: Array<{ name: string; statuses: number[] }> = [];

beforeAll(async () => {
  synth = synthEdgeApp();
  readers.push(new TemplateReader('edge-broker', synth.template('edge-broker').toJSON().Resources, { account: ACCOUNT, region: synth.config.homeRegion }));
  for (const fleet of synth.edge.fleets) readers.push(new TemplateReader(fleet.stackName, synth.template(fleet.stackName).toJSON().Resources, { account: ACCOUNT, region: fleet.region }));
  const filters: MetricFilterDefinition[] = readers
    .flatMap((r) => r.ofType('AWS::Logs::MetricFilter').map(([, f]) => r.resolve(f.Properties) as Record<string, unknown>))
    .map((p) => ({
      pattern: p.FilterPattern as string,
      transformations: (p.MetricTransformations as Array<{ MetricNamespace: string; MetricName: string; MetricValue: string; DefaultValue?: number }>).map((t) => ({
        namespace: t.MetricNamespace,
        name: t.MetricName,
        value: t.MetricValue,
        defaultValue: t.DefaultValue,
      })),
    }));
  const fromLogs = accessLogEmits(filters);
  accessLogMatches = fromLogs.matches;
  for (const m of [...(await brokerEmits(fixture)), ...(await controlPlaneEmits()), ...fromLogs.metrics]) emitted.set(metricKey(m), m);
}, 120_000);

const alarmsOf = (r: TemplateReader) => [...r.ofType('AWS::CloudWatch::Alarm'), ...r.ofType('AWS::CloudWatch::CompositeAlarm')];
const alarmArn = (r: TemplateReader, id: string, alarm: CfnResource) =>
  `arn:aws:cloudwatch:${r.place.region}:${r.place.account}:alarm:${String(r.resolve(alarm.Properties.AlarmName ?? id))}`;

/** The statements SNS evaluates for a topic of the template: its topic policies, or SNS's default policy when it has none. */
function topicPolicy(r: TemplateReader, topicArn: string): PolicyStatement[] {
  const policies = r
    .ofType('AWS::SNS::TopicPolicy')
    .map(([, p]) => r.resolve(p.Properties) as { Topics: string[]; PolicyDocument: { Statement: PolicyStatement[] } })
    .filter((p) => p.Topics.includes(topicArn));
  return policies.length > 0 ? policies.flatMap((p) => p.PolicyDocument.Statement) : defaultTopicPolicy(topicArn, r.place.account);
}

/** The topic of the template with this ARN, if the template creates it. */
function topicOf(r: TemplateReader, arn: string): [string, CfnResource] | undefined {
  return r.ofType('AWS::SNS::Topic').find(([id]) => r.resolve({ Ref: id }) === arn);
}

/** Whether the service may use the topic's KMS key to publish (SNS needs kms:GenerateDataKey* and kms:Decrypt from the publisher). */
function keyAllows(r: TemplateReader, topic: CfnResource, service: string): string[] {
  const keyRef = topic.Properties.KmsMasterKeyId as { 'Fn::GetAtt': [string, string] } | undefined;
  if (!keyRef) return [];
  const keyId = keyRef['Fn::GetAtt'][0];
  const keyArn = String(r.resolve(keyRef));
  const statements = (r.resolve(r.resource(keyId).Properties.KeyPolicy) as { Statement: PolicyStatement[] }).Statement;
  return ['kms:GenerateDataKey', 'kms:Decrypt']
    .filter((action) => evaluate(statements, { principal: { service }, action, resource: keyArn, context: {} }) !== 'allow')
    .map((action) => `key ${keyId} does not allow ${service} ${action}`);
}

describe('1. every alarm action reaches its topic', () => {
  test('CloudWatch may publish every alarm of every stack to each of its action topics (topic policy and key, as SNS and KMS evaluate them)', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const r of readers) {
      for (const [id, alarm] of alarmsOf(r)) {
        const arn = alarmArn(r, id, alarm);
        const actions = ['AlarmActions', 'OKActions', 'InsufficientDataActions'].flatMap((k) => (r.resolve(alarm.Properties[k] ?? []) as string[]));
        if (actions.length === 0) problems.push(`${r.stackName}/${id}: no action at all`);
        for (const action of new Set(actions)) {
          const topic = topicOf(r, action);
          if (!topic) {
            problems.push(`${r.stackName}/${id}: action ${action} is not a topic of the stack`);
            continue;
          }
          checked++;
          const request: PolicyRequest = {
            principal: { service: 'cloudwatch.amazonaws.com' },
            action: 'sns:Publish',
            resource: action,
            context: { 'aws:SourceAccount': r.place.account, 'aws:SourceOwner': r.place.account, 'aws:SourceArn': arn, 'aws:SecureTransport': 'true' },
          };
          const decision = evaluate(topicPolicy(r, action), request);
          if (decision !== 'allow') problems.push(`${r.stackName}/${id} (${arn}): CloudWatch may not publish to ${topic[0]}: ${decision}`);
          problems.push(...keyAllows(r, topic[1], 'cloudwatch.amazonaws.com').map((p) => `${r.stackName}/${id}: ${p}`));
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(40);
  });

  test('another account\'s alarms may not publish to our alarm topics (no confused deputy paging on-call)', () => {
    for (const r of readers) {
      const topics = r.ofType('AWS::SNS::Topic').filter(([id]) => id.startsWith('Monitoring') || id.startsWith('Operations'));
      expect(topics.length).toBe(1);
      for (const [id] of topics) {
        const arn = String(r.resolve({ Ref: id }));
        const foreign = `arn:aws:cloudwatch:${r.place.region}:${OTHER_ACCOUNT}:alarm:edge-broker-dlq-not-empty`;
        const decision = evaluate(topicPolicy(r, arn), {
          principal: { service: 'cloudwatch.amazonaws.com' },
          action: 'sns:Publish',
          resource: arn,
          context: { 'aws:SourceAccount': OTHER_ACCOUNT, 'aws:SourceOwner': OTHER_ACCOUNT, 'aws:SourceArn': foreign, 'aws:SecureTransport': 'true' },
        });
        expect([r.stackName, decision]).toEqual([r.stackName, 'implicit-deny']);
        // Nor a publish without TLS, from anyone.
        const plain = evaluate(topicPolicy(r, arn), { principal: { aws: `arn:aws:iam::${ACCOUNT}:root` }, action: 'sns:Publish', resource: arn, context: { 'aws:SecureTransport': 'false' } });
        expect([r.stackName, plain]).toEqual([r.stackName, 'explicit-deny']);
      }
    }
  });

  test('the launch-failure rule may publish to its region topic, another account\'s rule may not', () => {
    for (const r of readers.filter((x) => x.stackName.startsWith('edge-fleet-'))) {
      const [ruleId, rule] = r.ofType('AWS::Events::Rule').find(([, x]) => JSON.stringify(x.Properties.EventPattern).includes('Launch Unsuccessful'))!;
      const ruleArn = String(r.resolve({ 'Fn::GetAtt': [ruleId, 'Arn'] }));
      for (const target of r.resolve(rule.Properties.Targets) as Array<{ Arn: string; RoleArn?: string }>) {
        expect(target.RoleArn).toBeUndefined();
        const topic = topicOf(r, target.Arn)!;
        const publish = (account: string, source: string) =>
          evaluate(topicPolicy(r, target.Arn), {
            principal: { service: 'events.amazonaws.com' },
            action: 'sns:Publish',
            resource: target.Arn,
            context: { 'aws:SourceAccount': account, 'aws:SourceArn': source, 'aws:SecureTransport': 'true' },
          });
        expect([r.stackName, publish(ACCOUNT, ruleArn)]).toEqual([r.stackName, 'allow']);
        expect([r.stackName, publish(OTHER_ACCOUNT, `arn:aws:events:${r.place.region}:${OTHER_ACCOUNT}:rule/spam`)]).toEqual([r.stackName, 'implicit-deny']);
        expect(keyAllows(r, topic[1], 'events.amazonaws.com')).toEqual([]);
      }
    }
  });

  test('the model reproduces the finding: an SSL-only topic policy with no CloudWatch statement refuses every alarm', () => {
    const topic = 'arn:aws:sns:us-east-1:123456789012:t';
    const sslOnly: PolicyStatement[] = [{ Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sns:Publish', Resource: topic, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }];
    const request: PolicyRequest = { principal: { service: 'cloudwatch.amazonaws.com' }, action: 'sns:Publish', resource: topic, context: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceOwner': ACCOUNT, 'aws:SecureTransport': 'true' } };
    expect(evaluate(sslOnly, request)).toBe('implicit-deny');
    expect(evaluate(defaultTopicPolicy(topic, ACCOUNT), request)).toBe('allow');
  });
});

interface Reference {
  readonly where: string;
  readonly metric: EmittedMetric;
}

type DashboardMetric = unknown[];
interface DashboardWidget {
  properties: { title?: string; metrics?: DashboardMetric[]; alarms?: string[] };
}

/** Every metric (and every expression) a dashboard names, from its resolved body. */
function dashboardContents(r: TemplateReader): Array<{ dashboard: string; title: string; metrics: EmittedMetric[]; expressions: string[] }> {
  return r.ofType('AWS::CloudWatch::Dashboard').flatMap(([, d]) => {
    const name = String(r.resolve(d.Properties.DashboardName));
    const body = JSON.parse(String(r.resolve(d.Properties.DashboardBody))) as { widgets: DashboardWidget[] };
    return body.widgets.map((w) => {
      const metrics: EmittedMetric[] = [];
      const expressions: string[] = [];
      for (const row of w.properties.metrics ?? []) {
        const options = row[row.length - 1] as Record<string, unknown>;
        if (row.length === 1 && typeof options?.expression === 'string') {
          expressions.push(options.expression);
          continue;
        }
        const [namespace, metricName, ...rest] = row as string[];
        const parts = rest.filter((x) => typeof x === 'string');
        const dimensions: Record<string, string> = {};
        for (let i = 0; i + 1 < parts.length; i += 2) dimensions[parts[i]] = parts[i + 1];
        metrics.push({ namespace, name: metricName, dimensions });
      }
      return { dashboard: name, title: w.properties.title ?? '', metrics, expressions };
    });
  });
}

/** Metrics an alarm reads (a metric alarm's, or every metric of its math). */
function alarmMetrics(r: TemplateReader): Array<{ where: string; definition: AlarmDefinition }> {
  return r.ofType('AWS::CloudWatch::Alarm').map(([id, alarm]) => ({ where: `${r.stackName}/${id}`, definition: alarmDefinition(r, id, alarm) }));
}

function references(): Reference[] {
  const out: Reference[] = [];
  const metricOf = (m: MetricRef): EmittedMetric => ({ namespace: m.namespace, name: m.name, dimensions: m.dimensions });
  for (const r of readers) {
    for (const { where, definition } of alarmMetrics(r)) {
      const metrics = definition.metric ? [definition.metric] : Object.values(definition.expression!.metrics);
      for (const m of metrics) out.push({ where: `alarm ${where}`, metric: metricOf(m) });
    }
    for (const widget of dashboardContents(r)) for (const m of widget.metrics) out.push({ where: `dashboard ${widget.dashboard} "${widget.title}"`, metric: m });
  }
  return out;
}

/** `SEARCH('{Namespace,Dim1,...} MetricName="X" ...', ...)` → the namespace, metric and dimension keys it searches. */
function searchesOf(expression: string): Array<{ namespace: string; name: string; dimensions: string[] }> {
  return [...expression.matchAll(/SEARCH\('\{([^}]+)\}\s+MetricName="([^"]+)"/g)].map((m) => {
    const [namespace, ...dimensions] = m[1].split(',');
    return { namespace, name: m[2], dimensions };
  });
}

describe('2. every metric named is one that is emitted, with exactly those dimensions', () => {
  test('the emitters ran: the worker, the sweeper, the control plane and the access-log filters all emitted', () => {
    const names = [...emitted.values()].map((m) => `${m.namespace} ${m.name}`);
    for (const expected of ['Edge/Broker OperationsSucceeded', 'Edge/Broker OperationsStuck', 'Edge/ControlPlane ConnectedNodes', 'Edge/ControlPlane ProfilesHeldBack', 'Edge/ControlPlane SourceStalenessSeconds', 'Edge/Proxy Requests']) {
      expect(names).toContain(expected);
    }
  });

  test('custom metrics (Edge/*) of every alarm and dashboard are emitted by the code with those very dimensions', () => {
    const problems = references()
      .filter((ref) => ref.metric.namespace.startsWith('Edge/'))
      .filter((ref) => !emitted.has(metricKey(ref.metric)))
      .map((ref) => `${ref.where}: ${metricKey(ref.metric)} is never emitted (emitted: ${[...emitted.keys()].filter((k) => k.includes(ref.metric.name)).join('; ') || 'nothing of that name'})`);
    expect([...new Set(problems)]).toEqual([]);
  });

  test('AWS metrics of every alarm and dashboard (SEARCH included) are documented metrics with documented dimensions', () => {
    const problems = references()
      .filter((ref) => !ref.metric.namespace.startsWith('Edge/'))
      .flatMap((ref) => awsMetricProblems(ref.metric.namespace, ref.metric.name, Object.keys(ref.metric.dimensions)).map((p) => `${ref.where}: ${p}`));
    for (const r of readers) {
      for (const widget of dashboardContents(r)) {
        for (const e of widget.expressions) for (const s of searchesOf(e)) problems.push(...awsMetricProblems(s.namespace, s.name, s.dimensions).map((p) => `dashboard ${widget.dashboard} "${widget.title}": ${p}`));
      }
    }
    expect([...new Set(problems)]).toEqual([]);
  });

  test('every sum over several series (alarm or dashboard) fills the missing ones with FILL', () => {
    const expressions: Array<{ where: string; text: string }> = [];
    for (const r of readers) {
      for (const { where, definition } of alarmMetrics(r)) if (definition.expression) expressions.push({ where: `alarm ${where}`, text: definition.expression.text });
      for (const widget of dashboardContents(r)) for (const text of widget.expressions) expressions.push({ where: `dashboard ${widget.dashboard} "${widget.title}"`, text });
    }
    expect(expressions.length).toBeGreaterThan(10);
    const problems = expressions.flatMap(({ where, text }) => (text.includes('SEARCH(') ? [] : unfilledSumOperands(parse(text)).map((id) => `${where}: ${id} is summed without FILL in ${text}`)));
    expect(problems).toEqual([]);
  });

  test('the DynamoDB operations whose SystemErrors the alarm sums are exactly those the broker\'s store calls', () => {
    const dir = join(REPO_ROOT, 'lib', 'broker', 'runtime', 'store');
    const code = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('\n');
    const documentApi: Record<string, string> = { Get: 'GetItem', Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', Query: 'Query', Scan: 'Scan', BatchGet: 'BatchGetItem', BatchWrite: 'BatchWriteItem', TransactGet: 'TransactGetItems', TransactWrite: 'TransactWriteItems' };
    const called = new Set<string>();
    for (const m of code.matchAll(/new (\w+?)(?:Item)?Command\(/g)) if (documentApi[m[1]]) called.add(documentApi[m[1]]);
    for (const m of code.matchAll(/\bpaginate(Query|Scan)\(/g)) called.add(m[1]);
    expect([...called].sort()).toEqual([...BROKER_TABLE_OPERATIONS].map(String).sort());
  });

  test('dashboards graph what their titles say (item 8): the table graph has the system errors of every operation', () => {
    const broker = readers.find((r) => r.stackName === 'edge-broker')!;
    const [table] = dashboardContents(broker).filter((w) => w.title === 'Table throttles and system errors');
    expect(table.metrics.filter((m) => m.name === 'SystemErrors').map((m) => m.dimensions.Operation).sort()).toEqual([...BROKER_TABLE_OPERATIONS].map(String).sort());
    expect(table.metrics.map((m) => m.name)).toEqual(expect.arrayContaining(['ReadThrottleEvents', 'WriteThrottleEvents']));
    expect(table.expressions.some((e) => e.includes('FILL(') && e.includes('+'))).toBe(true);
  });

  test('dashboards search only the platform\'s own resources (item 8): every SEARCH names the fleet stack it looks in', () => {
    const searches = readers.flatMap((r) => dashboardContents(r).flatMap((w) => w.expressions.filter((e) => e.includes('SEARCH(')).map((e) => ({ title: w.title, e }))));
    for (const { title, e } of searches) expect([title, /"edge-fleet-[a-z0-9-]+"/.test(e)]).toEqual([title, true]);
  });

  test('the access-log filters count what they say on the lines Envoy writes: Requests every line, Responses5xx the 5xx only', () => {
    expect(accessLogMatches).toEqual(
      expect.arrayContaining([
        { name: 'Requests', statuses: [200, 404, 503] },
        { name: 'Responses5xx', statuses: [503] },
      ]),
    );
  });
});

/** The platform's own emitters: what silences each of a metric's datapoints. */
function emitterOf(m: MetricRef): string | undefined {
  if (m.namespace === 'Edge/ControlPlane') return 'the control plane tasks (EMF)';
  if (m.namespace === 'Edge/Broker') return m.dimensions.service?.endsWith('-sweeper') ? 'the sweeper (EMF)' : 'the worker (EMF)';
  if (m.namespace === 'Edge/Proxy') return 'the access-log pipeline (Envoy file log, CloudWatch agent, metric filters)';
  if (m.namespace === 'AWS/AutoScaling') return 'the proxies group metrics (MetricsCollection)';
  if (m.namespace === 'ECS/ContainerInsights') return 'Container Insights of the control plane cluster';
  return undefined;
}

/** A healthy region and broker: what each metric reports per period (undefined: no datapoint, as AWS publishes nothing without events). */
function healthy(m: MetricRef): number | undefined {
  const values: Record<string, number> = {
    'Edge/ControlPlane ConnectedNodes': 3,
    'Edge/ControlPlane NacksReceived': 0,
    'Edge/ControlPlane CanaryRollbacks': 0,
    'Edge/ControlPlane InstancesExcluded': 0,
    'Edge/ControlPlane ProfilesRenderFailing': 0,
    'Edge/ControlPlane ProfilesHeldBack': 0,
    'Edge/ControlPlane SourceStalenessSeconds': 1,
    'Edge/Broker OperationsStuck': m.stat === 'SampleCount' ? m.period / 300 : 0,
    'Edge/Proxy Requests': 1000,
    'Edge/Proxy Responses5xx': 3,
    'AWS/AutoScaling GroupInServiceInstances': 3,
    'AWS/AutoScaling GroupDesiredCapacity': 3,
    'ECS/ContainerInsights DesiredTaskCount': 2,
    'ECS/ContainerInsights RunningTaskCount': 2,
    'AWS/NetworkELB UnHealthyHostCount': 0,
    'AWS/NetworkELB HealthyHostCount': 3,
    'AWS/NetworkELB NewFlowCount_TLS': 800,
    'AWS/NetworkELB ClientTLSNegotiationErrorCount': 30,
    'AWS/SQS ApproximateNumberOfMessagesVisible': 0,
    'AWS/SQS ApproximateAgeOfOldestMessage': 20,
    'AWS/ApiGateway Latency': 150,
    'AWS/ApiGateway 5XXError': 0,
  };
  return values[`${m.namespace} ${m.name}`];
}

interface PagingAlarm {
  readonly stack: string;
  readonly definition: AlarmDefinition;
  readonly silence?: Silence;
}

function pagingAlarms(): PagingAlarm[] {
  const constructs = [synth.edge.broker, ...synth.edge.fleets].flatMap((stack) =>
    stack.node
      .findAll()
      .filter((c): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm)
      .map((alarm) => ({ stack: Stack.of(alarm).stackName, logicalId: Stack.of(alarm).resolve((alarm.node.defaultChild as cloudwatch.CfnAlarm).logicalId) as string, alarm })),
  );
  return readers.flatMap((r) =>
    r.ofType('AWS::CloudWatch::Alarm').map(([id, alarm]) => {
      const construct = constructs.find((c) => c.stack === r.stackName && c.logicalId === id);
      return { stack: r.stackName, definition: alarmDefinition(r, id, alarm), silence: construct && silenceOf(construct.alarm) };
    }),
  );
}

/** Each alarm's state in a world, under every reading of the points metric math leaves open (they must agree). */
function states(world: World, alarms = pagingAlarms()): Map<PagingAlarm, AlarmState> {
  const out = new Map<PagingAlarm, AlarmState>();
  for (const alarm of alarms) {
    const byVariant = MATH_VARIANTS.map((variant) => evaluateAlarm(alarm.definition, world, variant));
    if (new Set(byVariant).size !== 1) throw new Error(`${alarm.stack} ${alarm.definition.name}: its state depends on undocumented metric math behaviour (${byVariant.join(', ')})`);
    out.set(alarm, byVariant[0]);
  }
  return out;
}
const firing = (s: Map<PagingAlarm, AlarmState>) => [...s].filter(([, state]) => state === 'ALARM').map(([a]) => `${a.stack} ${a.definition.name}`);

describe('3. silence: every alarm states what no data means, and a dead emitter pages', () => {
  test('every paging alarm was made with a stated silence (the health check\'s input alarm follows Route 53\'s rules, and its composite pages)', () => {
    const unstated = pagingAlarms().filter((a) => !a.silence && !a.definition.name.includes('NoHealthyProxies') && !/DnsNoHealthyProxies/.test(a.definition.id));
    expect(unstated.map((a) => `${a.stack} ${a.definition.name}`)).toEqual([]);
    for (const a of pagingAlarms().filter((x) => x.silence)) {
      expect([a.definition.name, a.definition.treatMissingData]).toEqual([a.definition.name, a.silence!.treat]);
    }
  });

  test('a healthy platform pages nobody', () => {
    expect(firing(states((m) => healthy(m)))).toEqual([]);
  });

  const emitters = [
    'the control plane tasks (EMF)',
    'the sweeper (EMF)',
    'the access-log pipeline (Envoy file log, CloudWatch agent, metric filters)',
    'the proxies group metrics (MetricsCollection)',
    'Container Insights of the control plane cluster',
  ];
  test.each(emitters)('when %s goes silent, every alarm reading it pages, or the alarm it names does', (emitter) => {
    const alarms = pagingAlarms();
    const world: World = (m) => (emitterOf(m) === emitter ? undefined : healthy(m));
    const result = states(world, alarms);
    const fired = new Set(firing(result));
    const readers = alarms.filter((a) => (a.definition.metric ? [a.definition.metric] : Object.values(a.definition.expression!.metrics)).some((m) => emitterOf(m) === emitter));
    expect(readers.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const a of readers) {
      const s = a.silence;
      if (!s) continue;
      const pager = s.treat === 'breaching' ? a.definition.name : s.coveredBy ? `edge-${s.coveredBy}` : undefined;
      if (!pager) {
        problems.push(`${a.stack} ${a.definition.name}: reads ${emitter} and treats its silence as fine without naming the alarm that pages`);
        continue;
      }
      if (!fired.has(`${a.stack} ${pager}`)) problems.push(`${a.stack} ${a.definition.name}: ${emitter} silent, and ${pager} does not page (firing: ${[...fired].join(', ') || 'none'})`);
    }
    expect(problems).toEqual([]);
    expect(fired.size).toBeGreaterThan(0);
  });

  test('DynamoDB system errors of one operation (the others silent) page: item 2', () => {
    const world: World = (m) => (m.name === 'SystemErrors' ? (m.dimensions.Operation === 'Query' ? 3 : undefined) : healthy(m));
    expect(firing(states(world))).toEqual(['edge-broker edge-broker-dynamodb-system-errors']);
  });

  test.each([
    ['ProfilesRenderFailing', 'control-plane-render-failures'],
    ['ProfilesHeldBack', 'control-plane-render-fault-held-back'],
  ])('a render state that lasts (%s) keeps its alarm in ALARM at every evaluation, and only that alarm: item 4', (metric, alarm) => {
    for (const region of TEST_REGIONS) {
      // An hour of one profile failing in every minute's report: the alarm is evaluated minute after minute.
      for (let now = 0; now < 60; now++) {
        const world: World = (m) => (m.name === metric && m.dimensions.service === 'edge-control-plane' ? 1 : healthy(m));
        const fired = firing(states(world, pagingAlarms().filter((a) => a.stack === `edge-fleet-${region}`)));
        expect([now, fired]).toEqual([now, [`edge-fleet-${region} edge-${alarm}`]]);
      }
    }
  });

  test('the sweeper stopping pages (broker-sweeper-silent), the stuck-operations alarm names it', () => {
    const world: World = (m) => (emitterOf(m) === 'the sweeper (EMF)' ? undefined : healthy(m));
    expect(firing(states(world))).toEqual(['edge-broker edge-broker-sweeper-silent']);
  });

  test('the group metrics stopping pages through the nodes alarm, whose ratio no longer reads OK: item 6', () => {
    const world: World = (m) => (m.namespace === 'AWS/AutoScaling' ? undefined : healthy(m));
    const fired = firing(states(world));
    for (const region of TEST_REGIONS) expect(fired).toContain(`edge-fleet-${region} edge-control-plane-nodes-dropping`);
  });

  test('the access-log pipeline dying while the NLB carries traffic pages (fleet-access-log-silent); a quiet region does not', () => {
    const dead: World = (m) => (m.namespace === 'Edge/Proxy' ? undefined : healthy(m));
    expect(firing(states(dead)).sort()).toEqual(TEST_REGIONS.map((r) => `edge-fleet-${r} edge-fleet-access-log-silent`).sort());
    const quiet: World = (m) => (m.namespace === 'Edge/Proxy' || m.name.startsWith('NewFlowCount') ? undefined : healthy(m));
    expect(firing(states(quiet))).toEqual([]);
  });

  test('the names FLEET_REGION_ALARMS lists are the paging alarms each fleet stack creates', () => {
    for (const fleet of synth.edge.fleets) {
      const names = readers
        .find((r) => r.stackName === fleet.stackName)!
        .ofType('AWS::CloudWatch::Alarm')
        .concat(readers.find((r) => r.stackName === fleet.stackName)!.ofType('AWS::CloudWatch::CompositeAlarm'))
        .map(([, a]) => String(a.Properties.AlarmName ?? a.Properties.CompositeAlarmName ?? ''))
        .filter((n) => n.startsWith('edge-'));
      expect(names.sort()).toEqual(FLEET_REGION_ALARMS.map((n) => `edge-${n}`).sort());
    }
  });

  test('math expressions parse and read only the metrics they define', () => {
    for (const a of pagingAlarms().filter((x) => x.definition.expression)) {
      const ids = idsOf(parse(a.definition.expression!.text));
      for (const id of ids) expect([a.definition.name, id in a.definition.expression!.metrics]).toEqual([a.definition.name, true]);
    }
  });
});
