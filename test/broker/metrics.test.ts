/**
 * The worker's Embedded Metric Format output after real operations on the emulators: the
 * local broker with a metrics sink, and the Lambda entry writing to stdout once per
 * invocation. Every line is parsed as EMF: namespace, the `service` dimension, metric values.
 */
import type { SQSEvent } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { BROKER_METRICS } from '../../lib/model';
import { ensureBrokerTable } from '../../lib/local/emulators';
import { runWorkerScenario } from '../monitoring/emitters';
import { brokerFixture, localClientConfig, osbClient, provisionBody, waitForOperation } from './support';

const fixture = brokerFixture('edge-metrics');
const ASYNC = '?accepts_incomplete=true';

interface EmfDocument {
  readonly _aws: { readonly Timestamp: number; readonly CloudWatchMetrics: ReadonlyArray<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
  readonly [key: string]: unknown;
}

/** Parses EMF lines and checks the structure every one of them must have. */
function parseEmf(lines: readonly string[], service: string): EmfDocument[] {
  return lines.map((line) => {
    const doc = JSON.parse(line) as EmfDocument;
    expect(typeof doc._aws.Timestamp).toBe('number');
    expect(doc._aws.CloudWatchMetrics).toHaveLength(1);
    const directive = doc._aws.CloudWatchMetrics[0];
    expect(directive.Namespace).toBe('Edge/Broker');
    expect(directive.Dimensions).toEqual([['service']]);
    expect(doc.service).toBe(service);
    for (const metric of directive.Metrics) {
      expect(Object.values(BROKER_METRICS)).toContain(metric.Name);
      expect(metric.Unit).toBe('Count');
      expect(typeof doc[metric.Name]).toBe('number');
    }
    return doc;
  });
}

/** Sum of one metric over every document. */
function total(docs: readonly EmfDocument[], name: string): number {
  return docs.reduce((sum, doc) => sum + (typeof doc[name] === 'number' ? (doc[name] as number) : 0), 0);
}

test('the worker counts successes, failures, retries and changes the proxies rejected, as EMF lines', async () => {
  // One success after a retried DNS write, one success, a permanent failure, a change eu-west-1's proxies reject.
  const { lines } = await runWorkerScenario(fixture);
  const docs = parseEmf(lines, 'edge-broker-worker');
  expect(docs.length).toBeGreaterThan(0);
  expect(total(docs, BROKER_METRICS.operationsSucceeded)).toBe(2);
  expect(total(docs, BROKER_METRICS.operationsFailed)).toBe(2);
  expect(total(docs, BROKER_METRICS.stepRetries)).toBe(1);
  expect(total(docs, BROKER_METRICS.changesRejectedByProxies)).toBe(1);
  // A flush writes only what was recorded: no empty documents.
  for (const doc of docs) expect(doc._aws.CloudWatchMetrics[0].Metrics.length).toBeGreaterThan(0);
});

test('locally, with no sink, the worker writes no metrics to stdout', async () => {
  const written: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    const b = await fixture.start();
    const call = osbClient(b.url);
    const reply = await call('PUT', `/v2/service_instances/quiet${ASYNC}`, { body: provisionBody(['quiet.edge.example.com'], { regions: ['us-east-1'] }) });
    expect((await waitForOperation(call, 'quiet', reply.body.operation)).body.state).toBe('succeeded');
  } finally {
    spy.mockRestore();
  }
  expect(written.filter((w) => w.includes('"_aws"'))).toEqual([]);
});

describe('the worker Lambda entry', () => {
  const saved = { ...process.env };
  afterAll(() => {
    process.env = saved;
  });

  test('flushes one EMF line to stdout per invocation: a retry, then the failure after the last attempt', async () => {
    const { dynamodbEndpoint, sqsEndpoint } = fixture.emulators;
    await ensureBrokerTable(new DynamoDBClient(localClientConfig(dynamodbEndpoint)), 'edge-metrics-lambda');
    const sqs = new SQSClient(localClientConfig(sqsEndpoint));
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'edge-metrics-lambda-ops' }))).QueueUrl!;
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    Object.assign(process.env, {
      EDGE_TABLE_NAME: 'edge-metrics-lambda',
      EDGE_QUEUE_URL: queueUrl,
      EDGE_DOMAIN: 'edge.example.com',
      EDGE_HOSTED_ZONE_ID: 'Z123',
      EDGE_REGIONS: 'us-east-1',
      EDGE_FLEET_CIDRS: '10.1.0.0/16,10.7.0.0/16',
      EDGE_PLATFORM_NAME: 'acme',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
      AWS_ENDPOINT_URL_SQS: sqsEndpoint,
      // No Route 53 emulator: a closed port, so the DNS step fails (retryable).
      AWS_ENDPOINT_URL_ROUTE_53: 'http://127.0.0.1:9',
      AWS_MAX_ATTEMPTS: '1',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    const { handler: api } = await import('../../lib/broker/runtime/lambda/api');
    const { handler: worker } = await import('../../lib/broker/runtime/lambda/worker');
    const put = await api({
      httpMethod: 'PUT',
      path: '/v2/service_instances/lambda-m',
      headers: { 'X-Broker-API-Version': '2.17', 'Content-Type': 'application/json' },
      queryStringParameters: { accepts_incomplete: 'true' },
      body: JSON.stringify(provisionBody(['m.edge.example.com'])),
      isBase64Encoded: false,
      requestContext: { requestId: 'r-m' },
    } as never);
    expect(put.statusCode).toBe(202);
    const message = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }))).Messages![0];
    sqs.destroy();
    const event = (receiveCount: number) =>
      ({
        Records: [
          {
            messageId: message.MessageId!,
            receiptHandle: message.ReceiptHandle!,
            body: message.Body!,
            attributes: { ApproximateReceiveCount: String(receiveCount) },
            messageAttributes: {},
            md5OfBody: '',
            eventSource: 'aws:sqs',
            eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:edge-metrics-lambda-ops',
            awsRegion: 'us-east-1',
          },
        ],
      }) as unknown as SQSEvent;

    const invoke = async (receiveCount: number): Promise<EmfDocument[]> => {
      const written: string[] = [];
      const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
      try {
        await worker(event(receiveCount));
      } finally {
        spy.mockRestore();
      }
      return parseEmf(
        written.filter((w) => w.includes('"_aws"')).map((w) => w.trim()),
        'acme-broker-worker',
      );
    };
    const first = await invoke(1);
    expect(first).toHaveLength(1);
    expect(first[0][BROKER_METRICS.stepRetries]).toBe(1);
    expect(first[0][BROKER_METRICS.operationsFailed]).toBeUndefined();

    const last = await invoke(5);
    expect(last).toHaveLength(1);
    expect(last[0][BROKER_METRICS.operationsFailed]).toBe(1);
    expect(last[0][BROKER_METRICS.stepRetries]).toBeUndefined();
  });
});
