/**
 * The three Lambda entries exactly as the stack bundles them, on the emulators: the
 * SDK clients reach dynalite / fauxqs through the standard AWS_ENDPOINT_URL_* variables.
 */
import type { APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent, SQSEvent } from 'aws-lambda';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { ensureBrokerTable } from '../../lib/local/emulators';
import { allows, authorize } from '../../lib/broker/runtime/lambda/authorizer';
import { requestFromEvent } from '../../lib/broker/runtime/lambda/api';
import { LocalEmulators, SERVICE_ID, STANDARD, localClientConfig, provisionBody, startEmulators } from './support';

let emulators: LocalEmulators;
let queueUrl: string;
const saved = { ...process.env };

beforeAll(async () => {
  emulators = await startEmulators();
  await ensureBrokerTable(new DynamoDBClient(localClientConfig(emulators.dynamodbEndpoint)), 'edge-lambda');
  const sqs = new SQSClient(localClientConfig(emulators.sqsEndpoint));
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'edge-lambda-ops' }))).QueueUrl!;
  // fauxqs's queue URLs (`sqs.us-east-1.127.0.0.1:<port>`) make the SDK warn that it cannot
  // use them as the endpoint (it then uses the configured one, as it should): mute that.
  jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  sqs.destroy();
  Object.assign(process.env, {
    EDGE_TABLE_NAME: 'edge-lambda',
    EDGE_QUEUE_URL: queueUrl,
    EDGE_DOMAIN: 'edge.example.com',
    EDGE_HOSTED_ZONE_ID: 'Z123',
    EDGE_REGIONS: 'us-east-1,eu-west-1',
    EDGE_FLEET_CIDRS: '10.1.0.0/16,10.7.0.0/16',
    EDGE_PLATFORM_NAME: 'edge',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
    AWS_ENDPOINT_URL_SQS: emulators.sqsEndpoint,
    // No Route 53 emulator: a closed port, so the worker's first cloud call fails fast.
    AWS_ENDPOINT_URL_ROUTE_53: 'http://127.0.0.1:9',
    AWS_MAX_ATTEMPTS: '1',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });
});

afterAll(async () => {
  process.env = saved;
  await emulators?.stop();
});

function apiEvent(method: string, path: string, body?: unknown, query: Record<string, string> = {}): APIGatewayProxyEvent {
  return {
    httpMethod: method,
    path,
    resource: '/v2/service_instances/{instance_id}',
    headers: { 'X-Broker-API-Version': '2.17', 'Content-Type': 'application/json', 'X-Broker-API-Request-Identity': 'r-1' },
    multiValueHeaders: {},
    queryStringParameters: query,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: body === undefined ? null : Buffer.from(JSON.stringify(body)).toString('base64'),
    isBase64Encoded: body !== undefined,
    requestContext: { requestId: 'apigw-1' },
  } as unknown as APIGatewayProxyEvent;
}

test('the event adapter decodes base64 bodies and lower-cases headers', () => {
  const request = requestFromEvent(apiEvent('PUT', '/v2/service_instances/x', { a: 1 }, { accepts_incomplete: 'true' }));
  expect(request).toMatchObject({ method: 'PUT', path: '/v2/service_instances/x', body: '{"a":1}', requestId: 'apigw-1', query: { accepts_incomplete: 'true' } });
  expect(request.headers['x-broker-api-version']).toBe('2.17');
  // a custom domain's base path is not part of the OSB path
  expect(requestFromEvent(apiEvent('GET', '/broker/v2/catalog')).path).toBe('/v2/catalog');
});

test('api handler: provision through the Lambda entry; worker handler: a failing step is a batch item failure', async () => {
  const { handler: api } = await import('../../lib/broker/runtime/lambda/api');
  const { handler: worker } = await import('../../lib/broker/runtime/lambda/worker');

  const missing = await api({ ...apiEvent('GET', '/v2/catalog'), headers: {} });
  expect(missing.statusCode).toBe(412);
  expect(JSON.parse(missing.body).description).toMatch(/X-Broker-API-Version/);

  const put = await api(apiEvent('PUT', '/v2/service_instances/lambda-1', provisionBody(['l.edge.example.com']), { accepts_incomplete: 'true' }));
  expect(put.statusCode).toBe(202);
  expect(put.headers?.['x-broker-api-request-identity']).toBe('r-1');
  const { operation } = JSON.parse(put.body);

  const sqs = new SQSClient(localClientConfig(emulators.sqsEndpoint));
  const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
  sqs.destroy();
  const message = received.Messages![0];
  expect(JSON.parse(message.Body!)).toEqual({ instanceId: 'lambda-1', operationId: operation });
  const event = {
    Records: [
      {
        messageId: message.MessageId!,
        receiptHandle: message.ReceiptHandle!,
        body: message.Body!,
        attributes: { ApproximateReceiveCount: '1' },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:edge-lambda-ops',
        awsRegion: 'us-east-1',
      },
    ],
  } as unknown as SQSEvent;
  // The worker's metrics go to stdout as EMF (Lambda ships them to CloudWatch): captured here.
  const emf: string[] = [];
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    if (String(chunk).includes('"_aws"')) emf.push(String(chunk));
    return true;
  });
  const result = await worker(event);
  expect(result.batchItemFailures).toEqual([{ itemIdentifier: message.MessageId }]);

  const last = await api(apiEvent('GET', '/v2/service_instances/lambda-1/last_operation'));
  const body = JSON.parse(last.body);
  expect(body.state).toBe('in progress');
  expect(body.description).toMatch(/writing DNS records: attempt 1 of 5 failed/);
  expect(last.headers?.['retry-after']).toBe('10');

  // the last allowed delivery fails too: the operation fails with the reason, the message is
  // reported failed again (SQS then moves it to the DLQ)
  const last5 = await worker({ Records: [{ ...event.Records[0], attributes: { ApproximateReceiveCount: '5' } }] } as unknown as SQSEvent);
  expect(last5.batchItemFailures).toEqual([{ itemIdentifier: message.MessageId }]);
  stdout.mockRestore();
  expect(emf.map((line) => Object.keys(JSON.parse(line)).filter((k) => k !== '_aws' && k !== 'service'))).toEqual([['StepRetries'], ['OperationsFailed']]);
  const failed = JSON.parse((await api(apiEvent('GET', '/v2/service_instances/lambda-1/last_operation'))).body);
  expect(failed.state).toBe('failed');
  expect(failed.description).toMatch(/provision failed while writing DNS records: gave up after 5 attempts/);

  const deleted = await api(apiEvent('DELETE', '/v2/service_instances/lambda-1', undefined, { accepts_incomplete: 'true', service_id: SERVICE_ID, plan_id: STANDARD }));
  expect(deleted.statusCode).toBe(202);
});

describe('authorizer', () => {
  const credentials = { username: 'broker', password: 's3cret' };
  const event = (authorization?: string) =>
    ({
      type: 'REQUEST',
      methodArn: 'arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/v2/catalog',
      headers: authorization ? { Authorization: authorization } : {},
    }) as unknown as APIGatewayRequestAuthorizerEvent;
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  test('the right credentials: Allow on the whole stage', () => {
    const result = authorize(event(basic('broker', 's3cret')), credentials);
    expect(allows(result)).toBe(true);
    expect(result.principalId).toBe('broker');
    expect(result.policyDocument.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*' }]);
  });

  test.each([
    ['no header', undefined],
    ['wrong password', basic('broker', 'nope')],
    ['wrong user', basic('root', 's3cret')],
    ['a password prefix', basic('broker', 's3cre')],
    ['another scheme', 'Bearer s3cret'],
    ['garbage', 'Basic !!!'],
  ])('%s: a Deny policy on the whole stage (API Gateway answers 401 through ACCESS_DENIED), not an error', (_what, header) => {
    const result = authorize(event(header), credentials);
    expect(allows(result)).toBe(false);
    expect(result.principalId).toBe('unauthenticated');
    expect(result.policyDocument.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: 'arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*' }]);
  });

  describe('the Lambda entry, with Secrets Manager stubbed as its API answers', () => {
    const secrets = mockClient(SecretsManagerClient);
    const secretArn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:edge-broker-credentials-AbCdEf';
    beforeEach(() => {
      secrets.reset();
      process.env.EDGE_BROKER_SECRET_ARN = secretArn;
    });
    afterAll(() => secrets.restore());

    test('a secret it cannot read is an error (API Gateway answers 500, the errors alarm pages); wrong and right credentials are answers', async () => {
      // In order: the cache of the secret is per container (module), as in Lambda.
      const { handler } = await import('../../lib/broker/runtime/lambda/authorizer');
      secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('User is not authorized to perform: secretsmanager:GetSecretValue'), { name: 'AccessDeniedException' }));
      await expect(handler(event(basic('broker', 's3cret')))).rejects.toThrow(/not authorized/);

      secrets.reset();
      secrets.on(GetSecretValueCommand, { SecretId: secretArn }).resolves({ SecretString: JSON.stringify(credentials) });
      const wrong = await handler(event(basic('broker', 'wrong')));
      expect(wrong.policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny' });
      const right = await handler(event(basic('broker', 's3cret')));
      expect(right.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
      expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    });
  });
});
