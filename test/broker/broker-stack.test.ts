import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { resolveConfig } from '../../lib/config';
import { BROKER_AUTH_REALM } from '../../lib/broker/broker-api';
import { BrokerFunction } from '../../lib/broker/broker-functions';
import { WORKER_TIMEOUT } from '../../lib/broker/broker-stack';
import { DEFAULT_WORKER_OPTIONS } from '../../lib/broker/runtime/worker/worker';
import { SynthResult, synthEdgeApp, TEST_REGIONS } from '../support/synth';
import { Resources, asArray, templateHelpers } from '../support/template';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown; Sid?: string };

let synth: SynthResult;
let template: Template;
let resources: Resources;

const { ofType, only, idOf: logicalIdOf } = templateHelpers(() => resources);
/** Statements of the default policy attached to the role whose logical id starts with `rolePrefix`. */
function statementsOf(rolePrefix: string): Statement[] {
  const roleId = logicalIdOf(rolePrefix, 'AWS::IAM::Role');
  return ofType('AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const actionsOf = (statements: Statement[]) => statements.flatMap((s) => asArray(s.Action));
const functionId = (prefix: string) => logicalIdOf(prefix, 'AWS::Lambda::Function');

beforeAll(() => {
  synth = synthEdgeApp();
  template = synth.template('edge-broker');
  resources = template.toJSON().Resources;
});

test('snapshot of the broker stack', () => {
  expect(template.toJSON()).toMatchSnapshot();
});

describe('Lambda functions', () => {
  const CONTRACT_ENV = [
    'EDGE_TABLE_NAME',
    'EDGE_QUEUE_URL',
    'EDGE_BROKER_SECRET_ARN',
    'EDGE_PLATFORM_NAME',
    'EDGE_DOMAIN',
    'EDGE_HOSTED_ZONE_ID',
    'EDGE_HOME_REGION',
    'EDGE_REGIONS',
    'EDGE_FLEET_CIDRS',
    'POWERTOOLS_SERVICE_NAME',
    'POWERTOOLS_LOG_LEVEL',
  ];

  test('five functions: ARM64, Node.js 22, X-Ray, JSON logs to a log group with retention', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.map(([id]) => id.replace(/Function.*$/, '')).sort()).toEqual(['ApiHandler', 'Authorizer', 'OriginSecretRotation', 'SweeperHandler', 'Worker']);
    for (const [, fn] of functions) {
      expect(fn.Properties).toMatchObject({
        Architectures: ['arm64'],
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON' },
      });
      const logGroupId = (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(resources[logGroupId].Type).toBe('AWS::Logs::LogGroup');
      expect(resources[logGroupId].Properties.RetentionInDays).toBeGreaterThanOrEqual(synth.config.logRetentionDays);
    }
  });

  test('environment per CONTRACTS.md on every function, and no secret value in it', () => {
    for (const [, fn] of ofType('AWS::Lambda::Function')) {
      const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(env)).toEqual(expect.arrayContaining(CONTRACT_ENV));
      expect(env).toMatchObject({
        EDGE_PLATFORM_NAME: synth.config.platformName,
        EDGE_DOMAIN: synth.config.domain,
        EDGE_HOSTED_ZONE_ID: synth.config.hostedZoneId,
        EDGE_HOME_REGION: 'us-east-1',
        EDGE_REGIONS: TEST_REGIONS.join(','),
        EDGE_FLEET_CIDRS: synth.config.regions.map((r) => r.vpcCidr).join(','),
        // The table lives in its own stack (<platform>-table); the broker names it, no export.
        EDGE_TABLE_NAME: synth.config.brokerTableName,
        EDGE_QUEUE_URL: { Ref: logicalIdOf('OperationsQueue', 'AWS::SQS::Queue') },
        // The ARN (a Ref to the secret), never the value.
        EDGE_BROKER_SECRET_ARN: { Ref: logicalIdOf('Credentials', 'AWS::SecretsManager::Secret') },
        POWERTOOLS_LOG_LEVEL: 'INFO',
      });
      const text = JSON.stringify(env);
      expect(text).not.toMatch(/resolve:secretsmanager|SecretString|password/i);
    }
  });

  test('no reserved concurrency; the worker is bounded by the event source instead', () => {
    for (const [, fn] of ofType('AWS::Lambda::Function')) expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  test('own roles, no AWS managed policies (but the account\'s API Gateway CloudWatch role, which is not a function\'s)', () => {
    for (const [id, role] of ofType('AWS::IAM::Role')) {
      if (JSON.stringify(role.Properties.AssumeRolePolicyDocument).includes('apigateway.amazonaws.com')) continue;
      expect([id, role.Properties.ManagedPolicyArns]).toEqual([id, undefined]);
    }
  });
});

describe('least privilege', () => {
  const tableArn = 'arn:aws:dynamodb:us-east-1:123456789012:table/edge-broker';

  /**
   * Allow statements whose actions hold a wildcard, with why each is needed. Anything else
   * with a `*` in an allowed action (`s3:Get*`, `kms:GenerateDataKey*`, `sqs:*`) fails.
   */
  const ACKNOWLEDGED_WILDCARDS: Record<string, string> = {
    // A key policy must let the account administer its key, or the key becomes unmanageable
    // (AWS KMS "Default key policy": the account root statement with kms:*).
    'AWS::KMS::Key {"AWS":"arn:aws:iam::123456789012:root"} kms:*': 'the KMS default key policy root statement',
    // CloudWatch publishes the alarms to the encrypted topic: the SNS guide's key policy for AWS
    // service publishers grants exactly kms:GenerateDataKey* and kms:Decrypt
    // (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
    'AWS::KMS::Key {"Service":"cloudwatch.amazonaws.com"} kms:GenerateDataKey*': 'CloudWatch alarms publishing to an encrypted SNS topic',
  };

  test('no wildcard actions anywhere (IAM, key, queue and topic policies), but the acknowledged ones', () => {
    const found: string[] = [];
    const visit = (type: string, value: unknown): void => {
      if (Array.isArray(value)) return value.forEach((v) => visit(type, v));
      if (!value || typeof value !== 'object') return;
      const node = value as Record<string, unknown>;
      if (Array.isArray(node.Statement)) {
        for (const statement of node.Statement as Array<Statement & { NotAction?: string | string[]; Principal?: unknown }>) {
          // A Deny narrows: denying every action (as the queues' TLS-only statements do) grants nothing.
          if (statement.Effect !== 'Allow') continue;
          // NotAction in an Allow grants everything else: never acceptable.
          expect(statement.NotAction).toBeUndefined();
          for (const action of asArray(statement.Action)) if (action.includes('*')) found.push(`${type} ${JSON.stringify(statement.Principal ?? null)} ${action}`);
        }
      }
      for (const child of Object.values(node)) visit(type, child);
    };
    for (const resource of Object.values(resources)) visit(resource.Type, resource.Properties);
    expect(found.sort()).toEqual(Object.keys(ACKNOWLEDGED_WILDCARDS).sort());
  });

  test('the authorizer reads the secret and nothing else of the broker', () => {
    const statements = statementsOf('AuthorizerRole');
    const secret = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('secretsmanager:')));
    expect(secret).toHaveLength(1);
    expect(secret[0].Resource).toEqual({ Ref: logicalIdOf('Credentials', 'AWS::SecretsManager::Secret') });
    expect(actionsOf(statements).filter((a) => /^(dynamodb|sqs|route53|acm|cloudfront):/.test(a))).toEqual([]);
  });

  test('the api uses the table (and its one index) and sends to the queue; no secret, DNS, certificates or CDN', () => {
    const statements = statementsOf('ApiHandlerRole');
    const actions = actionsOf(statements);
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'sqs:SendMessage']));
    expect(actions.filter((a) => /^(secretsmanager|route53|acm|cloudfront):|^sqs:(ReceiveMessage|DeleteMessage)$/.test(a))).toEqual([]);
    const table = statements.find((s) => s.Sid === 'BrokerTableItems');
    expect(table?.Resource).toEqual([
      tableArn,
      `${tableArn}/index/byGeneration`,
    ]);
  });

  test('the worker: table, queue send+consume, DNS, certificates, edge listeners, CloudFront, the cdn origin secret; nothing else', () => {
    const actions = actionsOf(statementsOf('WorkerRole'));
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage']));
    expect(actions.filter((a) => /^(route53|acm|cloudfront|elasticloadbalancing|ssm):/.test(a)).sort()).toEqual(
      [
        'acm:AddTagsToCertificate',
        'acm:DeleteCertificate',
        'acm:DescribeCertificate',
        'acm:RequestCertificate',
        'cloudfront:CreateDistribution',
        'cloudfront:DeleteDistribution',
        'cloudfront:GetDistribution',
        'cloudfront:TagResource',
        'cloudfront:UpdateDistribution',
        'elasticloadbalancing:AddListenerCertificates',
        'elasticloadbalancing:DescribeListenerCertificates',
        'elasticloadbalancing:RemoveListenerCertificates',
        'route53:ChangeResourceRecordSets',
        'route53:GetChange',
        'route53:ListResourceRecordSets',
        'ssm:GetParameter',
      ].sort(),
    );
    expect(actions.filter((a) => a.startsWith('secretsmanager:')).sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
  });

  test('Resource "*" only where the service has no resource-level permissions', () => {
    for (const [, policy] of ofType('AWS::IAM::Policy')) {
      for (const statement of (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement) {
        if (statement.Resource !== '*') continue;
        for (const action of asArray(statement.Action)) {
          expect([
            'xray:PutTraceSegments',
            'xray:PutTelemetryRecords',
            'acm:RequestCertificate',
            'acm:AddTagsToCertificate',
            'cloudfront:CreateDistribution',
            'cloudfront:TagResource',
            'elasticloadbalancing:DescribeListenerCertificates',
            'secretsmanager:GetRandomPassword',
          ]).toContain(action);
        }
      }
    }
  });
});

describe('queue', () => {
  test('queue and DLQ are encrypted and SSL-only; redrive after 5 receives', () => {
    const queueId = logicalIdOf('OperationsQueue', 'AWS::SQS::Queue');
    const dlqId = logicalIdOf('OperationsDeadLetterQueue', 'AWS::SQS::Queue');
    for (const id of [queueId, dlqId]) {
      expect(resources[id].Properties.SqsManagedSseEnabled).toBe(true);
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
    expect(resources[queueId].Properties.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: 5,
    });
  });

  test('visibility timeout is at least six times the worker timeout', () => {
    const queueId = logicalIdOf('OperationsQueue', 'AWS::SQS::Queue');
    const workerTimeout = resources[functionId('Worker')].Properties.Timeout as number;
    expect(workerTimeout).toBe(WORKER_TIMEOUT.toSeconds());
    expect(resources[queueId].Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * workerTimeout);
  });

  test("a step's lease outlives the worker: no step can run past its claim and be claimed again", () => {
    const workerTimeout = resources[functionId('Worker')].Properties.Timeout as number;
    expect(DEFAULT_WORKER_OPTIONS.leaseSeconds).toBeGreaterThan(workerTimeout);
  });

  test('the worker consumes it with partial batch failure reporting', () => {
    const [, mapping] = only('AWS::Lambda::EventSourceMapping');
    expect(mapping.Properties).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf('OperationsQueue', 'AWS::SQS::Queue'), 'Arn'] },
      FunctionName: { Ref: functionId('Worker') },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 1,
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  test('a message in the DLQ raises an alarm on an encrypted topic', () => {
    // Every broker alarm is in test/monitoring; this one checks the queue's wiring.
    const [alarm] = ofType('AWS::CloudWatch::Alarm')
      .map(([, a]) => a)
      .filter((a) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible');
    expect(alarm.Properties).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf('OperationsDeadLetterQueue', 'AWS::SQS::Queue'), 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: logicalIdOf('OperationsAlarmTopic', 'AWS::SNS::Topic') }],
    });
    const [, topic] = only('AWS::SNS::Topic');
    expect(topic.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [logicalIdOf('OperationsAlarmTopicKey', 'AWS::KMS::Key'), 'Arn'] });
  });
});

describe('API Gateway', () => {
  const ROUTES: [string, string][] = [
    ['GET', '/v2/catalog'],
    ['PUT', '/v2/service_instances/{instance_id}'],
    ['PATCH', '/v2/service_instances/{instance_id}'],
    ['GET', '/v2/service_instances/{instance_id}'],
    ['DELETE', '/v2/service_instances/{instance_id}'],
    ['GET', '/v2/service_instances/{instance_id}/last_operation'],
    ['PUT', '/v2/service_instances/{instance_id}/service_bindings/{binding_id}'],
    ['GET', '/v2/service_instances/{instance_id}/service_bindings/{binding_id}'],
    ['DELETE', '/v2/service_instances/{instance_id}/service_bindings/{binding_id}'],
    ['GET', '/v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation'],
  ];

  /** Full path of an AWS::ApiGateway::Resource by following ParentId. */
  function pathOf(resourceRef: unknown): string {
    if (typeof resourceRef === 'object' && resourceRef !== null && 'Fn::GetAtt' in resourceRef) return ''; // the root
    const id = (resourceRef as { Ref: string }).Ref;
    const resource = resources[id];
    return `${pathOf(resource.Properties.ParentId)}/${resource.Properties.PathPart as string}`;
  }
  const methods = () =>
    ofType('AWS::ApiGateway::Method').map(([, m]) => ({ method: m.Properties.HttpMethod as string, path: pathOf(m.Properties.ResourceId), props: m.Properties }));

  test('the account\'s CloudWatch role is set before the stage (its access logs need it), and kept when the stack goes', () => {
    const [accountId, account] = only('AWS::ApiGateway::Account');
    const roleId = (account.Properties.CloudWatchRoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const role = resources[roleId];
    expect(JSON.stringify(role.Properties.AssumeRolePolicyDocument)).toContain('apigateway.amazonaws.com');
    expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toContain(':iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs');
    // Kept on stack deletion (other APIs of the account may log through it); deleted by a failed first create's rollback.
    for (const resource of [account, role]) expect([resource.DeletionPolicy, resource.UpdateReplacePolicy]).toEqual(['RetainExceptOnCreate', 'Retain']);
    const [, stage] = only('AWS::ApiGateway::Stage');
    expect(stage.Properties.AccessLogSetting).toBeDefined();
    expect(asArray((stage as unknown as { DependsOn: string | string[] }).DependsOn)).toContain(accountId);
  });

  test('exactly the OSB routes, each through the authorizer to the api function (Lambda proxy)', () => {
    const found = methods();
    expect(found.map((m) => [m.method, m.path]).sort()).toEqual([...ROUTES].sort());
    const authorizerId = logicalIdOf('OsbBasicAuth', 'AWS::ApiGateway::Authorizer');
    for (const m of found) {
      expect(m.props.AuthorizationType).toBe('CUSTOM');
      expect(m.props.AuthorizerId).toEqual({ Ref: authorizerId });
      const integration = m.props.Integration as { Type: string; Uri: unknown };
      expect(integration.Type).toBe('AWS_PROXY');
      expect(JSON.stringify(integration.Uri)).toContain(functionId('ApiHandler'));
    }
  });

  test('API Gateway never requires X-Broker-API-Version (OSB wants 412 from the broker)', () => {
    for (const m of methods()) {
      expect(JSON.stringify(m.props.RequestParameters ?? {})).not.toMatch(/header/i);
    }
  });

  test('request validation: path parameters everywhere, a JSON object body on PUT/PATCH', () => {
    const validators = Object.fromEntries(ofType('AWS::ApiGateway::RequestValidator').map(([id, v]) => [id, v.Properties]));
    for (const m of methods()) {
      const validator = validators[(m.props.RequestValidatorId as { Ref: string }).Ref];
      expect(validator.ValidateRequestParameters).toBe(true);
      const params = Object.keys((m.props.RequestParameters as Record<string, boolean>) ?? {});
      for (const name of m.path.match(/\{(\w+)\}/g) ?? []) expect(params).toContain(`method.request.path.${name.slice(1, -1)}`);
      if (m.method === 'PUT' || m.method === 'PATCH') {
        expect(validator.ValidateRequestBody).toBe(true);
        const modelRef = (m.props.RequestModels as Record<string, { Ref: string }>)['application/json'];
        const schema = resources[modelRef.Ref].Properties.Schema as { type: string; required?: unknown };
        expect(schema.type).toBe('object');
        expect(schema.required).toBeUndefined(); // field rules stay in the broker (one schema)
      } else {
        expect(validator.ValidateRequestBody).toBe(false);
      }
    }
  });

  test('REQUEST authorizer on the Authorization header with a short cache', () => {
    const [, authorizer] = only('AWS::ApiGateway::Authorizer');
    expect(authorizer.Properties).toMatchObject({ Type: 'REQUEST', IdentitySource: 'method.request.header.Authorization' });
    expect(authorizer.Properties.AuthorizerResultTtlInSeconds).toBeGreaterThan(0);
    expect(authorizer.Properties.AuthorizerResultTtlInSeconds).toBeLessThanOrEqual(300);
    expect(JSON.stringify(authorizer.Properties.AuthorizerUri)).toContain(functionId('Authorizer'));
  });

  test('401 with WWW-Authenticate Basic and an OSB JSON body for missing and bad credentials', () => {
    for (const type of ['UNAUTHORIZED', 'ACCESS_DENIED']) {
      const [, response] = ofType('AWS::ApiGateway::GatewayResponse').find(([, r]) => r.Properties.ResponseType === type)!;
      expect(response.Properties.StatusCode).toBe('401');
      expect((response.Properties.ResponseParameters as Record<string, string>)['gatewayresponse.header.WWW-Authenticate']).toBe(
        `'Basic realm="${BROKER_AUTH_REALM}"'`,
      );
      const body = JSON.parse((response.Properties.ResponseTemplates as Record<string, string>)['application/json']);
      expect(body).toEqual({ error: 'Unauthorized', description: expect.any(String) });
    }
  });

  test('every gateway response answers an OSB JSON error body', () => {
    const responses = ofType('AWS::ApiGateway::GatewayResponse');
    expect(responses.map(([, r]) => r.Properties.ResponseType)).toEqual(
      expect.arrayContaining(['UNAUTHORIZED', 'ACCESS_DENIED', 'BAD_REQUEST_BODY', 'THROTTLED', 'DEFAULT_4XX', 'DEFAULT_5XX']),
    );
    for (const [, response] of responses) {
      expect((response.Properties.ResponseParameters as Record<string, string>)['gatewayresponse.header.Content-Type']).toBe("'application/json'");
      const body = JSON.parse((response.Properties.ResponseTemplates as Record<string, string>)['application/json']);
      expect(typeof body.error).toBe('string');
      expect(typeof body.description).toBe('string');
    }
    const throttled = responses.find(([, r]) => r.Properties.ResponseType === 'THROTTLED')![1];
    expect(throttled.Properties.StatusCode).toBe('429');
  });

  test('stage: X-Ray, throttling, JSON access logs to a log group with retention', () => {
    const [, stage] = only('AWS::ApiGateway::Stage');
    expect(stage.Properties.TracingEnabled).toBe(true);
    expect(stage.Properties.MethodSettings).toEqual([
      expect.objectContaining({ HttpMethod: '*', ResourcePath: '/*', ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 }),
    ]);
    const access = stage.Properties.AccessLogSetting as { DestinationArn: unknown; Format: string };
    const format = JSON.parse(access.Format);
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status', authorizerError: '$context.authorize.error' });
    expect(access.Format).not.toMatch(/Authorization/); // credentials never reach the log
    const logGroupId = logicalIdOf('OsbAccessLogs', 'AWS::Logs::LogGroup');
    expect(JSON.stringify(access.DestinationArn)).toContain(logGroupId);
    expect(resources[logGroupId].Properties.RetentionInDays).toBeGreaterThanOrEqual(synth.config.logRetentionDays);
  });

  test('WAF: AWS managed rules and a rate limit on the stage', () => {
    const [webAclId, webAcl] = only('AWS::WAFv2::WebACL');
    expect(webAcl.Properties.Scope).toBe('REGIONAL');
    const rules = webAcl.Properties.Rules as { Name: string }[];
    expect(rules.map((r) => r.Name)).toEqual(
      expect.arrayContaining(['AWSManagedRulesAmazonIpReputationList', 'AWSManagedRulesKnownBadInputsRuleSet', 'AWSManagedRulesCommonRuleSet', 'RatePerIp']),
    );
    const [, association] = only('AWS::WAFv2::WebACLAssociation');
    expect(association.Properties.WebACLArn).toEqual({ 'Fn::GetAtt': [webAclId, 'Arn'] });
    const [, logging] = only('AWS::WAFv2::LoggingConfiguration');
    expect(logging.Properties).toMatchObject({
      ResourceArn: { 'Fn::GetAtt': [webAclId, 'Arn'] },
      LogDestinationConfigs: ['arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-edge-broker'],
      RedactedFields: [{ SingleHeader: { Name: 'authorization' } }], // credentials never reach the WAF log
    });
    expect(JSON.stringify(association.Properties.ResourceArn)).toContain(`"/stages/",{"Ref":"${logicalIdOf('OsbApiDeploymentStageprod', 'AWS::ApiGateway::Stage')}"}`);
  });
});

describe('secret, outputs, tags', () => {
  test('generated {"username","password"} credentials', () => {
    const secret = resources[logicalIdOf('Credentials', 'AWS::SecretsManager::Secret')];
    const generate = secret.Properties.GenerateSecretString as { SecretStringTemplate: string; GenerateStringKey: string };
    expect(JSON.parse(generate.SecretStringTemplate)).toEqual({ username: 'broker' });
    expect(generate.GenerateStringKey).toBe('password');
    expect(secret.Properties.SecretString).toBeUndefined();
  });

  test('outputs: broker URL, secret ARN (not value), table name, queue URL', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['BrokerUrl', 'CredentialsSecretArn', 'TableName', 'QueueUrl', 'AlarmTopicArn']));
    expect(outputs.CredentialsSecretArn.Value).toEqual({ Ref: logicalIdOf('Credentials', 'AWS::SecretsManager::Secret') });
    expect(JSON.stringify(outputs.BrokerUrl.Value)).toContain('execute-api');
    expect(JSON.stringify(outputs)).not.toMatch(/resolve:secretsmanager|SecretString/);
  });

  test('every taggable resource carries component=broker', () => {
    for (const [id, resource] of Object.entries(resources)) {
      const tags = resource.Properties?.Tags;
      if (!Array.isArray(tags)) continue;
      expect({ id, tags }).toEqual({ id, tags: expect.arrayContaining([{ Key: 'component', Value: 'broker' }]) });
    }
  });
});

describe('bundling (esbuild, real)', () => {
  // A separate, tiny app that really bundles the three handlers (synthEdgeApp skips bundling).
  const bundles: Record<string, { dir: string; code: string; map: { sources: string[] } }> = {};

  beforeAll(() => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'broker-bundle-'));
    const app = new App({ outdir });
    const stack = new Stack(app, 'Bundle', { env: { account: '123456789012', region: 'us-east-1' } });
    const config = resolveConfig({ regions: TEST_REGIONS, account: '123456789012' });
    for (const handler of ['api', 'worker', 'authorizer', 'sweeper'] as const) {
      new BrokerFunction(stack, handler, { config, handler, description: 'bundle test', environment: {}, timeout: WORKER_TIMEOUT, memorySize: 128 });
    }
    const assembly = app.synth();
    for (const [id, fn] of Object.entries(assembly.getStackByName('Bundle').template.Resources as Resources)) {
      if (fn.Type !== 'AWS::Lambda::Function') continue;
      const dir = path.join(outdir, `asset.${(fn.Properties.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '')}`);
      bundles[id.replace(/Function.*$/, '')] = {
        dir,
        code: fs.readFileSync(path.join(dir, 'index.js'), 'utf8'),
        map: JSON.parse(fs.readFileSync(path.join(dir, 'index.js.map'), 'utf8')),
      };
    }
  });

  test('each handler: one minified CommonJS file with a source map, the AWS SDK left to the runtime', () => {
    expect(Object.keys(bundles).sort()).toEqual(['api', 'authorizer', 'sweeper', 'worker']);
    for (const [name, bundle] of Object.entries(bundles)) {
      // ... and RE2's WebAssembly module (lib/model/re2.ts), which the bundle reads next to itself.
      expect(fs.readdirSync(bundle.dir).sort()).toEqual(['index.js', 'index.js.map', 're2.wasm']);
      expect(fs.readFileSync(path.join(bundle.dir, 're2.wasm')).equals(fs.readFileSync(require.resolve('@adguard/re2-wasm/build/wasm/re2.wasm')))).toBe(true);
      expect(bundle.code.split('\n').length).toBeLessThan(50); // minified
      expect(bundle.code).toMatch(/sourceMappingURL=index\.js\.map/);
      expect(bundle.map.sources.some((source) => /handler|lambda/.test(source) || source.includes(`${name}.ts`))).toBe(true);
      // Nothing of the SDK (or its @smithy internals) is inlined; it is require()d from the runtime.
      expect(bundle.map.sources.filter((source) => /node_modules\/@(aws-sdk|smithy)\//.test(source))).toEqual([]);
      console.log(`${name} bundle: ${(Buffer.byteLength(bundle.code) / 1024).toFixed(1)} KiB`);
    }
  });

  test('the api bundle loads, RE2 instantiated from the re2.wasm beside it', () => {
    // A child process, so the loader is plain Node as in Lambda; NODE_PATH stands for the
    // runtime's AWS SDK. Loading the bundle instantiates RE2 (it throws if re2.wasm is missing).
    const script = `const m = require(${JSON.stringify(path.join(bundles.api.dir, 'index.js'))}); console.log(typeof m.handler);`;
    const env = { ...process.env, NODE_PATH: path.join(__dirname, '..', '..', 'node_modules') };
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000, env });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('function');
  });
});

describe('stuck-operation sweeper', () => {
  test('runs every 5 minutes from an EventBridge rule, without retries', () => {
    const sweeper = functionId('SweeperHandler');
    const [, rule] = only('AWS::Events::Rule');
    expect(rule.Properties).toMatchObject({
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [{ Arn: { 'Fn::GetAtt': [sweeper, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } }],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', { FunctionName: { 'Fn::GetAtt': [sweeper, 'Arn'] }, Principal: 'events.amazonaws.com' });
    const env = (resources[sweeper].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.POWERTOOLS_SERVICE_NAME).toBe(`${synth.config.platformName}-broker-sweeper`);
  });

  test('may only scan and update the table and send to the queue', () => {
    const statements = statementsOf('SweeperHandlerRole');
    const actions = actionsOf(statements);
    const data = actions.filter((a) => !a.startsWith('logs:') && !a.startsWith('xray:'));
    expect(data.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual(['dynamodb:Scan', 'dynamodb:UpdateItem']);
    expect(data.filter((a) => !a.startsWith('dynamodb:') && !a.startsWith('sqs:'))).toEqual([]);
    expect(data.filter((a) => a.startsWith('sqs:'))).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    expect(data).not.toContain('sqs:ReceiveMessage');
    const sweep = statements.find((s) => s.Sid === 'SweepOperations');
    expect(sweep?.Resource).toBe('arn:aws:dynamodb:us-east-1:123456789012:table/edge-broker');
  });
});

/**
 * The worker's IAM for tenant names (issue 12) and narrowed (issue 13 item 3), one assertion
 * per statement: what each may touch, and the conditions that keep it to the platform's own.
 */
describe("the worker's IAM, statement by statement", () => {
  const statement = (sid: string) => {
    const found = statementsOf('WorkerRole').filter((s) => s.Sid === sid);
    expect(found).toHaveLength(1);
    return found[0];
  };
  const regions = () => [...new Set([synth.config.homeRegion, 'us-east-1', ...TEST_REGIONS])];
  const domain = () => synth.config.domain;

  test('Route 53: UPSERT/DELETE of CNAMEs under the platform domain, never the platform\'s own records', () => {
    const s = statement('PlatformZoneTenantRecords');
    expect(s.Action).toBe('route53:ChangeResourceRecordSets');
    expect(s.Resource).toBe(`arn:aws:route53:::hostedzone/${synth.config.hostedZoneId}`);
    expect(s.Condition).toEqual({
      'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsRecordTypes': ['CNAME'], 'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'] },
      'ForAllValues:StringLike': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': [`*.${domain()}`] },
      'ForAllValues:StringNotLike': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': [
          `_${'?'.repeat(32)}.${domain()}`,
          `internal.${domain()}`,
          `*.internal.${domain()}`,
          ...TEST_REGIONS.flatMap((r) => [`${r}.${domain()}`, `*.${r}.${domain()}`]),
        ],
      },
    });
  });

  test('Route 53 patterns: tenant records match, every platform record is excluded (IAM glob semantics)', () => {
    const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    const conditions = statement('PlatformZoneTenantRecords').Condition as Record<string, Record<string, string | string[]>>;
    const allow = asArray(conditions['ForAllValues:StringLike']['route53:ChangeResourceRecordSetsNormalizedRecordNames']).map(glob);
    const deny = asArray(conditions['ForAllValues:StringNotLike']['route53:ChangeResourceRecordSetsNormalizedRecordNames']).map(glob);
    const writable = (name: string) => allow.some((p) => p.test(name)) && !deny.some((p) => p.test(name));
    const d = domain();
    // What the worker writes: tenant names, and the validation records of their cdn certificates.
    for (const name of [`shop.${d}`, `a-b-c.${d}`, `_a79865eb4cd1a6ab990a45779b4e0b96.shop.${d}`]) expect([name, writable(name)]).toEqual([name, true]);
    // The platform's own: the apex (latency records), its certificate's validation record, the regional names, the control planes'.
    for (const name of [d, `_a79865eb4cd1a6ab990a45779b4e0b96.${d}`, `us-west-1.${d}`, `_a79865eb4cd1a6ab990a45779b4e0b96.us-west-1.${d}`, `xds.us-west-1.internal.${d}`, `internal.${d}`, 'example.com', `evil${d}`]) {
      expect([name, writable(name)]).toEqual([name, false]);
    }
  });

  test('Route 53: listing the zone and polling changes (read only)', () => {
    expect(statement('PlatformZoneRead')).toMatchObject({ Action: 'route53:ListResourceRecordSets', Resource: `arn:aws:route53:::hostedzone/${synth.config.hostedZoneId}` });
    expect(statement('RecordChangeStatus')).toMatchObject({ Action: 'route53:GetChange', Resource: 'arn:aws:route53:::change/*' });
  });

  test('ACM: requests only with the platform tag and known tag keys, in the platform regions', () => {
    const s = statement('RequestTaggedCertificates');
    expect(asArray(s.Action).sort()).toEqual(['acm:AddTagsToCertificate', 'acm:RequestCertificate']);
    expect(s.Resource).toBe('*');
    expect(s.Condition).toEqual({
      StringEquals: { 'aws:RequestTag/platform': synth.config.platformName, 'aws:RequestedRegion': regions() },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['platform', 'instance', 'purpose'] },
    });
  });

  test('ACM: describe and delete only certificates the platform tagged', () => {
    const s = statement('ManageTaggedCertificates');
    expect(asArray(s.Action).sort()).toEqual(['acm:DeleteCertificate', 'acm:DescribeCertificate']);
    expect(s.Resource).toBe('arn:aws:acm:*:123456789012:certificate/*');
    expect(s.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/platform': synth.config.platformName, 'aws:RequestedRegion': regions() } });
  });

  test('ELB: add and remove certificates only on the edge listeners the fleet tagged', () => {
    const s = statement('EdgeListenerCertificates');
    expect(asArray(s.Action).sort()).toEqual(['elasticloadbalancing:AddListenerCertificates', 'elasticloadbalancing:RemoveListenerCertificates']);
    expect(s.Resource).toBe('arn:aws:elasticloadbalancing:*:123456789012:listener/net/*');
    expect(s.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/platform': synth.config.platformName, 'aws:ResourceTag/component': 'proxy-fleet', 'aws:RequestedRegion': regions() } });
    expect(statement('DescribeListenerCertificates')).toMatchObject({ Action: 'elasticloadbalancing:DescribeListenerCertificates', Resource: '*', Condition: { StringEquals: { 'aws:RequestedRegion': regions() } } });
  });

  test("SSM: only the parameter where each fleet region publishes its listener", () => {
    const s = statement('EdgeListenerParameters');
    expect(s.Action).toBe('ssm:GetParameter');
    expect((asArray(s.Resource) as string[]).sort()).toEqual(TEST_REGIONS.map((r) => `arn:aws:ssm:${r}:123456789012:parameter/${synth.config.platformName}/fleet/${r}/edge-https-listener-arn`).sort());
  });

  test('CloudFront: create only with the platform tag; read, update and delete only tagged distributions', () => {
    const create = statement('CreateTaggedDistributions');
    expect(asArray(create.Action).sort()).toEqual(['cloudfront:CreateDistribution', 'cloudfront:TagResource']);
    expect(create.Condition).toEqual({ StringEquals: { 'aws:RequestTag/platform': synth.config.platformName }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['platform', 'instance'] } });
    const manage = statement('ManageTaggedDistributions');
    expect(asArray(manage.Action).sort()).toEqual(['cloudfront:DeleteDistribution', 'cloudfront:GetDistribution', 'cloudfront:UpdateDistribution']);
    expect(manage.Resource).toBe('arn:aws:cloudfront::123456789012:distribution/*');
    expect(manage.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/platform': synth.config.platformName } });
  });

  test('Secrets Manager: the worker reads the cdn origin secret and no other', () => {
    const reads = statementsOf('WorkerRole').filter((s) => actionsOf([s]).some((a) => a.startsWith('secretsmanager:')));
    expect(reads).toHaveLength(1);
    expect(reads[0].Resource).toEqual({ Ref: logicalIdOf('CdnOriginSecret', 'AWS::SecretsManager::Secret') });
  });
});

describe('the cdn origin secret', () => {
  test('generated (48 letters and digits), replicated to every other fleet region, rotated every 30 days by its function', () => {
    const secret = resources[logicalIdOf('CdnOriginSecret', 'AWS::SecretsManager::Secret')];
    expect(secret.Properties.GenerateSecretString).toEqual({ PasswordLength: 48, ExcludePunctuation: true });
    expect(secret.Properties.ReplicaRegions).toEqual(TEST_REGIONS.filter((r) => r !== synth.config.homeRegion).map((Region) => ({ Region })));
    const [, schedule] = only('AWS::SecretsManager::RotationSchedule');
    expect(schedule.Properties).toMatchObject({
      SecretId: { Ref: logicalIdOf('CdnOriginSecret', 'AWS::SecretsManager::Secret') },
      RotationLambdaARN: { 'Fn::GetAtt': [functionId('OriginSecretRotation'), 'Arn'] },
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
    });
  });

  test('the rotation function: the secret, the table (scan + update), tagged distributions; no DNS, certificates or queue', () => {
    const statements = statementsOf('OriginSecretRotationRole');
    const actions = actionsOf(statements);
    expect(actions.filter((a) => /^(route53|acm|sqs|elasticloadbalancing):/.test(a))).toEqual([]);
    expect(actions.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual(['dynamodb:Scan', 'dynamodb:UpdateItem']);
    const cloudfront = statements.find((s) => s.Sid === 'UpdateTaggedDistributions');
    expect(cloudfront?.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/platform': synth.config.platformName } });
    expect(actions).toEqual(expect.arrayContaining(['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage']));
  });

  test('every function knows the secret by ARN, none by value', () => {
    for (const [, fn] of ofType('AWS::Lambda::Function')) {
      const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env.EDGE_CDN_ORIGIN_SECRET_ARN).toEqual({ Ref: logicalIdOf('CdnOriginSecret', 'AWS::SecretsManager::Secret') });
    }
  });
});
