import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { BrokerFunction } from '../../lib/broker/broker-functions';
import { CONTROL_PLANE_METRICS, BROKER_METRICS, METRIC_NAMESPACES, PROXY_METRICS, metricService } from '../../lib/model/metrics';
import { BROKER_TABLE_OPERATIONS, FLEET_REGION_ALARMS, LAUNCH_FAILURES_RUNBOOK, runbookOf } from '../../lib/monitoring';
import { PROCEDURE_RUNBOOKS } from './procedures';
import { SynthResult, synthEdgeApp, TEST_REGIONS } from '../support/synth';
import { alarmsOf, alarmsReading, CfnResource, metricsOf, ofType, PROCEDURE_SECTIONS, REPO_ROOT, Resources, runbookProblems } from './support';

let synth: SynthResult;
let broker: Resources;
const fleets: Record<string, Resources> = {};

beforeAll(() => {
  // CloudFormation validation on: the alarms, math and dashboards must be deployable as written.
  synth = synthEdgeApp({ cfnValidation: true });
  broker = synth.template('edge-broker').toJSON().Resources;
  for (const stack of synth.edge.fleets) fleets[stack.region] = synth.template(stack.stackName).toJSON().Resources;
});

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) =>
  stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;
const ref = (id: string) => ({ Ref: id });
const fleetStack = (region: string) => synth.edge.fleets.find((f) => f.region === region)!;
/** The alarm a Route 53 health check follows (an input of DNS, covered by the composite alarm). */
const healthCheckInputs = (resources: Resources) =>
  ofType(resources, 'AWS::Route53::HealthCheck').map(([, hc]) => JSON.stringify((hc.Properties.HealthCheckConfig as { AlarmIdentifier: { Name: unknown } }).AlarmIdentifier.Name));
/** Alarms that page: every alarm except the health check's input. */
const pagingAlarms = (resources: Resources) => {
  const inputs = healthCheckInputs(resources);
  return alarmsOf(resources).filter(([id]) => !inputs.includes(JSON.stringify(ref(id))));
};
const regionTopic = (region: string): unknown => {
  const stack = fleetStack(region);
  return stack.resolve(stack.monitoring.topic.topic.topicArn);
};
const brokerTopic = (): unknown => synth.edge.broker.resolve(synth.edge.broker.monitoring.topic.topic.topicArn);

describe('broker alarms (home region)', () => {
  const functionIds = () =>
    Object.fromEntries(
      synth.edge.broker.node
        .findAll()
        .filter((c): c is BrokerFunction => c instanceof BrokerFunction)
        .map((f) => [f.handler, logicalId(synth.edge.broker, f.fn)]),
    );
  const queueId = (name: string) => {
    const queue = name === 'dlq' ? synth.edge.broker.queue.deadLetterQueue : synth.edge.broker.queue.queue;
    return logicalId(synth.edge.broker, queue);
  };

  test('DLQ not empty and age of the oldest queued message', () => {
    const dlq = alarmsReading(broker, 'AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: { 'Fn::GetAtt': [queueId('dlq'), 'QueueName'] } });
    expect(dlq).toHaveLength(1);
    expect(dlq[0][1].Properties).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching' });
    const age = alarmsReading(broker, 'AWS/SQS', 'ApproximateAgeOfOldestMessage', { QueueName: { 'Fn::GetAtt': [queueId('work'), 'QueueName'] } });
    expect(age).toHaveLength(1);
    expect(age[0][1].Properties.Threshold).toBe(synth.config.alarms.thresholds.queueOldestMessageSeconds);
  });

  test('API Gateway 5XXError and latency p99', () => {
    expect(alarmsReading(broker, 'AWS/ApiGateway', '5XXError')).toHaveLength(1);
    const latency = alarmsReading(broker, 'AWS/ApiGateway', 'Latency');
    expect(latency).toHaveLength(1);
    expect(latency[0][1].Properties.ExtendedStatistic).toBe('p99');
  });

  test('Lambda Errors and Throttles for api, authorizer, worker (and the sweeper when there is one)', () => {
    const ids = functionIds();
    expect(Object.keys(ids)).toEqual(expect.arrayContaining(['api', 'authorizer', 'worker']));
    for (const [handler, id] of Object.entries(ids)) {
      for (const metric of ['Errors', 'Throttles']) {
        expect([handler, metric, alarmsReading(broker, 'AWS/Lambda', metric, { FunctionName: ref(id) }).length]).toEqual([handler, metric, 1]);
      }
    }
  });

  test('the authorizer denies bad credentials with a policy (no Lambda error to page on): API Gateway still answers 401, WWW-Authenticate and the OSB body', () => {
    const [, accessDenied] = ofType(broker, 'AWS::ApiGateway::GatewayResponse').find(([, r]) => r.Properties.ResponseType === 'ACCESS_DENIED')!;
    expect(accessDenied.Properties.StatusCode).toBe('401');
    expect((accessDenied.Properties.ResponseParameters as Record<string, string>)['gatewayresponse.header.WWW-Authenticate']).toMatch(/^'Basic realm=/);
    expect(JSON.parse((accessDenied.Properties.ResponseTemplates as Record<string, string>)['application/json'])).toMatchObject({ error: 'Unauthorized' });
  });

  test('DynamoDB read/write throttle events and SystemErrors over every operation the broker uses', () => {
    // The table has its own stack (issue 11): the broker's alarms name it by its configured name.
    const tableName = synth.config.brokerTableName;
    const throttles = alarmsReading(broker, 'AWS/DynamoDB', 'ReadThrottleEvents', { TableName: tableName });
    expect(throttles).toHaveLength(1);
    expect(metricsOf(throttles[0][1]).map((m) => m.name).sort()).toEqual(['ReadThrottleEvents', 'WriteThrottleEvents']);
    const systemErrors = alarmsReading(broker, 'AWS/DynamoDB', 'SystemErrors', { TableName: tableName });
    expect(systemErrors).toHaveLength(1);
    expect(metricsOf(systemErrors[0][1]).map((m) => m.dimensions.Operation).sort()).toEqual([...BROKER_TABLE_OPERATIONS].sort());
  });

  test('operations stuck: Edge/Broker OperationsStuck of the sweeper above 0', () => {
    const readers = alarmsReading(broker, METRIC_NAMESPACES.broker, BROKER_METRICS.operationsStuck, { service: metricService('edge', 'sweeper') });
    const stuck = readers.filter(([, a]) => a.Properties.Statistic === 'Maximum');
    expect(stuck).toHaveLength(1);
    expect(stuck[0][1].Properties).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching' });
    // Its heartbeat: no sweep reported in 20 minutes pages on its own.
    const silent = readers.filter(([, a]) => a.Properties.Statistic === 'SampleCount');
    expect(silent.map(([, a]) => a.Properties)).toEqual([
      expect.objectContaining({ AlarmName: 'edge-broker-sweeper-silent', Threshold: 1, ComparisonOperator: 'LessThanThreshold', Period: 600, EvaluationPeriods: 2, TreatMissingData: 'breaching' }),
    ]);
  });
});

describe.each(TEST_REGIONS)('control plane and fleet alarms in %s', (region) => {
  const resources = () => fleets[region];
  const cp = (name: keyof typeof CONTROL_PLANE_METRICS, dims: Record<string, unknown> = {}) =>
    alarmsReading(resources(), METRIC_NAMESPACES.controlPlane, CONTROL_PLANE_METRICS[name], { service: 'edge-control-plane', ...dims });

  test('NACKs, render failures, excluded instances and a stale dynamodb source', () => {
    expect(cp('nacks')).toHaveLength(1);
    expect(cp('profilesRenderFailing')).toHaveLength(1);
    expect(cp('profilesHeldBack')).toHaveLength(1);
    expect(cp('instancesExcluded')).toHaveLength(1);
    const stale = cp('sourceStalenessSeconds', { Source: 'dynamodb' });
    expect(stale).toHaveLength(1);
    expect(stale[0][1].Properties).toMatchObject({ Statistic: 'Maximum', Threshold: synth.config.alarms.thresholds.sourceStalenessSeconds });
  });

  test('connected nodes dropping: ConnectedNodes against the proxies group in service (group metrics on)', () => {
    const [alarm] = cp('connectedNodes');
    expect(alarm).toBeDefined();
    const asgId = logicalId(fleetStack(region), fleetStack(region).fleet.autoScalingGroup);
    expect(metricsOf(alarm[1]).find((m) => m.name === 'GroupInServiceInstances')?.dimensions).toEqual({ AutoScalingGroupName: ref(asgId) });
    expect(alarm[1].Properties).toMatchObject({ ComparisonOperator: 'LessThanThreshold', Threshold: 0.8, TreatMissingData: 'breaching' });
    expect(JSON.stringify(resources()[asgId].Properties.MetricsCollection)).toContain('1Minute');
  });

  test('tasks below desired (Container Insights) and unhealthy control plane targets', () => {
    const tasks = alarmsReading(resources(), 'ECS/ContainerInsights', 'RunningTaskCount');
    expect(tasks).toHaveLength(1);
    expect(metricsOf(tasks[0][1]).map((m) => m.name).sort()).toEqual(['DesiredTaskCount', 'RunningTaskCount']);
    const stack = fleetStack(region);
    for (const tg of [stack.controlPlane.xdsTargetGroup, stack.controlPlane.restTargetGroup]) {
      const fullName = stack.resolve(tg.targetGroupFullName);
      expect(alarmsReading(resources(), 'AWS/NetworkELB', 'UnHealthyHostCount', { TargetGroup: fullName })).toHaveLength(1);
    }
  });

  test('fleet: NLB unhealthy hosts and TLS negotiation errors', () => {
    const stack = fleetStack(region);
    expect(alarmsReading(resources(), 'AWS/NetworkELB', 'UnHealthyHostCount', { TargetGroup: stack.resolve(stack.fleet.httpsTargetGroup.targetGroupFullName) })).toHaveLength(1);
    expect(alarmsReading(resources(), 'AWS/NetworkELB', 'ClientTLSNegotiationErrorCount', { LoadBalancer: stack.resolve(stack.fleet.loadBalancer.loadBalancerFullName) })).toHaveLength(1);
  });

  test('fleet: Envoy 5xx rate from access-log metric filters, with a minimum request count', () => {
    const filters = ofType(resources(), 'AWS::Logs::MetricFilter').map(([, f]) => f.Properties);
    const accessLog = ref(Object.entries(resources()).find(([, r]) => r.Type === 'AWS::Logs::LogGroup' && r.Properties.LogGroupName === '/edge/proxy/envoy-access')![0]);
    const byName = Object.fromEntries(filters.map((f) => [(f.MetricTransformations as Array<{ MetricName: string }>)[0].MetricName, f]));
    expect(byName[PROXY_METRICS.requests]).toMatchObject({ LogGroupName: accessLog, FilterPattern: '{ $.status >= 0 }' });
    expect(byName[PROXY_METRICS.responses5xx]).toMatchObject({ LogGroupName: accessLog, FilterPattern: '{ ($.status >= 500) && ($.status <= 599) }' });
    const [alarm] = alarmsReading(resources(), METRIC_NAMESPACES.proxy, PROXY_METRICS.responses5xx);
    const expression = (alarm[1].Properties.Metrics as Array<{ Expression?: string }>).find((m) => m.Expression)!.Expression;
    expect(expression).toBe('IF(requests >= 100, 100 * FILL(errors, 0) / requests, 0)');
  });

  test('fleet: the Route 53 health check failing, as a composite alarm on the alarm the health check follows', () => {
    const composites = ofType(resources(), 'AWS::CloudWatch::CompositeAlarm');
    expect(composites).toHaveLength(1);
    const [input] = healthCheckInputs(resources());
    const inputId = (JSON.parse(input) as { Ref: string }).Ref;
    expect(JSON.stringify(composites[0][1].Properties.AlarmRule)).toContain(`"Fn::GetAtt":["${inputId}","Arn"]`);
  });

  test('fleet: instances failing to launch (event rule to the topic, and in service below desired)', () => {
    const [, rule] = ofType(resources(), 'AWS::Events::Rule').find(([, r]) => JSON.stringify(r.Properties.EventPattern).includes('Launch Unsuccessful'))!;
    const asgId = logicalId(fleetStack(region), fleetStack(region).fleet.autoScalingGroup);
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.autoscaling'],
      'detail-type': ['EC2 Instance Launch Unsuccessful'],
      detail: { AutoScalingGroupName: [ref(asgId)] },
    });
    expect((rule.Properties.Targets as Array<{ Arn: unknown }>).map((t) => t.Arn)).toEqual([regionTopic(region)]);
    expect(rule.Properties.Description).toContain(`Runbook: docs/runbooks/${LAUNCH_FAILURES_RUNBOOK}.md`);
    const shortfall = alarmsReading(resources(), 'AWS/AutoScaling', 'GroupDesiredCapacity', { AutoScalingGroupName: ref(asgId) });
    expect(shortfall).toHaveLength(1);
    expect(shortfall[0][1].Properties.EvaluationPeriods).toBe(synth.config.alarms.thresholds.capacityShortfallMinutes);
  });

  test('the region topic: created, KMS-encrypted, SSL-only, CloudWatch and EventBridge may use its key', () => {
    const topicRef = regionTopic(region) as { Ref: string };
    const topic = resources()[topicRef.Ref];
    expect(topic.Type).toBe('AWS::SNS::Topic');
    const keyId = (topic.Properties.KmsMasterKeyId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const keyPolicy = JSON.stringify(resources()[keyId].Properties.KeyPolicy);
    expect(keyPolicy).toContain('cloudwatch.amazonaws.com');
    expect(keyPolicy).toContain('events.amazonaws.com');
    const policies = ofType(resources(), 'AWS::SNS::TopicPolicy').filter(([, p]) => JSON.stringify(p.Properties.Topics).includes(topicRef.Ref));
    expect(JSON.stringify(policies)).toContain('"aws:SecureTransport":"false"');
  });
});

describe('every alarm: its region topic, its runbook, a deliberate missing-data rule', () => {
  const stacks = () => [
    ['edge-broker', broker, brokerTopic()] as const,
    ...TEST_REGIONS.map((region) => [`edge-fleet-${region}`, fleets[region], regionTopic(region)] as const),
  ];

  test('ALARM and OK actions go to the region topic, nowhere else', () => {
    for (const [stack, resources, topic] of stacks()) {
      for (const [id, alarm] of pagingAlarms(resources)) {
        expect({ stack, id, alarm: alarm.Properties.AlarmActions, ok: alarm.Properties.OKActions }).toEqual({ stack, id, alarm: [topic], ok: [topic] });
      }
    }
  });

  test('descriptions: a first line saying what it means, a last line naming a runbook that exists with its four sections', () => {
    const problems: string[] = [];
    const runbooks = new Set<string>([LAUNCH_FAILURES_RUNBOOK]);
    for (const [stack, resources] of stacks()) {
      for (const [id, alarm] of pagingAlarms(resources)) {
        const description = alarm.Properties.AlarmDescription as string;
        const runbook = runbookOf(description ?? '');
        if (!runbook) {
          problems.push(`${stack}/${id}: no runbook line`);
          continue;
        }
        runbooks.add(runbook);
        const lines = description.split('\n');
        if (lines.length < 2 || !/^[A-Z].*\.$/.test(lines[0])) problems.push(`${stack}/${id}: first line is not a sentence: ${lines[0]}`);
        if (description.length > 1024) problems.push(`${stack}/${id}: description longer than 1024`);
      }
    }
    for (const runbook of runbooks) problems.push(...runbookProblems(runbook));
    expect(problems).toEqual([]);
    expect(runbooks.size).toBeGreaterThanOrEqual(20);
  });

  test('missing data is chosen per alarm (never left to the default)', () => {
    for (const [stack, resources] of stacks()) {
      for (const [id, alarm] of pagingAlarms(resources).filter(([, a]) => a.Type === 'AWS::CloudWatch::Alarm')) {
        expect([stack, id, alarm.Properties.TreatMissingData]).toEqual([stack, id, expect.stringMatching(/^(breaching|notBreaching|ignore|missing)$/)]);
      }
    }
  });

  test('the health check input alarm is covered: a composite alarm with a runbook follows it', () => {
    for (const region of TEST_REGIONS) {
      const [input] = healthCheckInputs(fleets[region]);
      const composite = ofType(fleets[region], 'AWS::CloudWatch::CompositeAlarm').find(([, c]) => JSON.stringify(c.Properties.AlarmRule).includes((JSON.parse(input) as { Ref: string }).Ref));
      expect(runbookOf((composite![1] as CfnResource).Properties.AlarmDescription as string)).toBe('fleet-health-check-failing');
    }
  });
});

describe('runbooks and dashboards', () => {
  test('procedure runbooks exist with their sections, and the index links every runbook', () => {
    const problems = PROCEDURE_RUNBOOKS.flatMap((name) => runbookProblems(name, PROCEDURE_SECTIONS));
    expect(problems).toEqual([]);
    const dir = join(REPO_ROOT, 'docs', 'runbooks');
    const index = readFileSync(join(dir, 'README.md'), 'utf8');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.md') && f !== 'README.md')) {
      expect([file, index.includes(`(${file})`)]).toEqual([file, true]);
    }
  });

  test('runbooks reference the operator CLI commands exactly', () => {
    const text = (name: string) => readFileSync(join(REPO_ROOT, 'docs', 'runbooks', `${name}.md`), 'utf8');
    expect(text('procedure-redrive-dlq')).toContain('npm run ops -- dlq redrive');
    expect(text('procedure-pin-region')).toMatch(/npm run ops -- pin <region> --reason/);
    expect(text('procedure-withdraw-route')).toContain('npm run ops -- withdraw <instance-id>');
  });

  test('one dashboard per fleet region and one global dashboard covering every region', () => {
    for (const region of TEST_REGIONS) {
      const dashboards = ofType(fleets[region], 'AWS::CloudWatch::Dashboard');
      expect(dashboards.map(([, d]) => d.Properties.DashboardName)).toEqual([`edge-${region}`]);
    }
    const [[, global]] = ofType(broker, 'AWS::CloudWatch::Dashboard');
    expect(global.Properties.DashboardName).toBe('edge-global');
    const body = JSON.stringify(global.Properties.DashboardBody);
    for (const region of TEST_REGIONS) expect(body).toContain(`\\"region\\":\\"${region}\\"`);
    expect(body).toContain(CONTROL_PLANE_METRICS.connectedNodes);
    expect(body).toContain(PROXY_METRICS.responses5xx);
  });

  test('the global dashboard shows every region\'s paging alarms by ARN, and those names are the ones the fleet stacks create', () => {
    for (const region of TEST_REGIONS) {
      const names = pagingAlarms(fleets[region]).map(([, a]) => (a.Properties.AlarmName ?? a.Properties.CompositeAlarmName) as string);
      expect(names.sort()).toEqual(FLEET_REGION_ALARMS.map((n) => `edge-${n}`).sort());
    }
    const [[, global]] = ofType(broker, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(global.Properties.DashboardBody);
    for (const region of TEST_REGIONS) {
      for (const name of FLEET_REGION_ALARMS) expect(body).toContain(`:cloudwatch:${region}:123456789012:alarm:edge-${name}`);
    }
  });
});
