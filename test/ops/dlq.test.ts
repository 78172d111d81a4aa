/**
 * `ops dlq show` and `ops dlq redrive` on the local platform's real queues (fauxqs). The
 * worker is off, so that what lands in the operations queue stays there to be counted.
 */
import { ReceiveMessageCommand, SQSClient, SendMessageCommand, DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { LocalPlatform } from '../../lib/local/platform';
import { localClientConfig } from '../../lib/local/emulators';
import { catalogIds, provisionBody } from '../e2e/support/platform';
import { cli, osbClient, startPlatform } from './support';

describe('npm run ops -- dlq', () => {
  let platform: LocalPlatform;
  let sqs: SQSClient;

  beforeAll(async () => {
    platform = await startPlatform({}, { broker: { worker: { enabled: false } } });
    sqs = new SQSClient(localClientConfig(platform.emulators.sqsEndpoint));
  });
  afterAll(async () => {
    sqs?.destroy();
    await platform?.stop();
  });

  /** Every message now in a queue (received and deleted). */
  async function drain(queueUrl: string): Promise<string[]> {
    const bodies: string[] = [];
    for (;;) {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 30 }));
      if (!out.Messages?.length) return bodies;
      for (const m of out.Messages) {
        bodies.push(m.Body!);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
  }

  const seed = async (count: number, prefix: string) => {
    const bodies = Array.from({ length: count }, (_, i) => JSON.stringify({ instanceId: `${prefix}-${i}`, operationId: `op-${prefix}-${i}` }));
    for (const body of bodies) await sqs.send(new SendMessageCommand({ QueueUrl: platform.broker.dlqUrl, MessageBody: body }));
    return bodies;
  };

  it('shows the count and the first messages with their operations, leaving every message in place', async () => {
    await seed(3, 'show');
    await sqs.send(new SendMessageCommand({ QueueUrl: platform.broker.dlqUrl, MessageBody: 'not json' }));
    const run = await cli(platform, 'dlq', 'show', '--limit', '2', '--json');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const view = run.json();
    expect(view.dlqUrl).toBe(platform.broker.dlqUrl);
    expect(view.approximateCount).toBe(4);
    expect(view.messages).toHaveLength(2);
    expect(view.messages[0]).toMatchObject({ instanceId: 'show-0', operationId: 'op-show-0' });
    expect(view.messages[0].operationState).toBeUndefined();

    const text = await cli(platform, 'dlq', 'show');
    expect(text.stdout).toContain(`dead-letter queue ${platform.broker.dlqUrl}: about 4 message(s)`);
    expect(text.stdout).toContain('instance show-2 operation op-show-2');
    expect(text.stdout).toContain('operation no longer on record (expired)');
    expect(text.stdout).toContain('not an operation message');
    // Peeking hid nothing: all four are there to take.
    expect(await drain(platform.broker.dlqUrl)).toHaveLength(4);
  });

  it("shows the state of a message's operation when it is still on record", async () => {
    // With the worker off, an accepted provision stays in progress and its message in the queue.
    const put = await osbClient(platform.brokerUrl)('PUT', '/v2/service_instances/dlq-held?accepts_incomplete=true', provisionBody(await catalogIds(osbClient(platform.brokerUrl)), { hostnames: ['dlq-held.edge.example.com'], backends: [{ address: '127.0.0.1', port: 8081, protocol: 'http' }] }));
    expect(put.status).toBe(202);
    const [message] = await drain(platform.broker.queueUrl);
    await sqs.send(new SendMessageCommand({ QueueUrl: platform.broker.dlqUrl, MessageBody: message }));
    const view = (await cli(platform, 'dlq', 'show', '--json')).json();
    expect(view.messages).toEqual([expect.objectContaining({ instanceId: 'dlq-held', operationId: put.body.operation, operationState: 'in progress', operationDescription: 'provision: queued' })]);
    await drain(platform.broker.dlqUrl);
  });

  it('redrive moves every message to the operations queue exactly once', async () => {
    const bodies = await seed(25, 'redrive');
    const run = await cli(platform, 'dlq', 'redrive', '--json');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.json()).toMatchObject({ moved: 25, from: platform.broker.dlqUrl, to: platform.broker.queueUrl });
    expect(await drain(platform.broker.dlqUrl)).toEqual([]);
    expect((await drain(platform.broker.queueUrl)).sort()).toEqual([...bodies].sort());
    // Nothing left: a second redrive moves nothing.
    const again = await cli(platform, 'dlq', 'redrive');
    expect(again.stdout).toBe(`moved 0 message(s) from ${platform.broker.dlqUrl} to ${platform.broker.queueUrl}\n`);
  });

  it('redrive --max N moves N and leaves the rest in the DLQ', async () => {
    const bodies = await seed(7, 'max');
    const run = await cli(platform, 'dlq', 'redrive', '--max', '4', '--json');
    expect(run.json().moved).toBe(4);
    const moved = await drain(platform.broker.queueUrl);
    const left = await drain(platform.broker.dlqUrl);
    expect(moved).toHaveLength(4);
    expect(left).toHaveLength(3);
    expect([...moved, ...left].sort()).toEqual([...bodies].sort());
  });
});

describe('npm run ops -- dlq --region (the AWS path)', () => {
  let platform: LocalPlatform;
  const saved = { ...process.env };

  beforeAll(async () => {
    // fauxqs names queues `http://sqs.<region>.<host>:<port>/...` when reached through the SDK's
    // endpoint variables; the SDK warns that such a queue URL is no URL and uses the endpoint.
    // An emulator artefact (real queue URLs parse), so only that warning is silenced.
    const warn = console.warn.bind(console);
    jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
      if ((args[0] as { code?: string } | undefined)?.code !== 'ERR_INVALID_URL') warn(...args);
    });
    platform = await startPlatform({}, { broker: { worker: { enabled: false } } });
    // The SDK's own service endpoint variables send the AWS path to the emulators.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_DYNAMODB: platform.emulators.dynamodbEndpoint,
      AWS_ENDPOINT_URL_SQS: platform.emulators.sqsEndpoint,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
  });
  afterAll(async () => {
    for (const key of ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_SQS', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    await platform?.stop();
  });

  it('finds the operations queue by the broker stack prefix and redrive policy, and the DLQ from that policy', async () => {
    const sqs = new SQSClient(localClientConfig(platform.emulators.sqsEndpoint));
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl: platform.broker.dlqUrl, MessageBody: JSON.stringify({ instanceId: 'aws-path', operationId: 'op-aws-path' }) }));
    } finally {
      sqs.destroy();
    }
    const run = await cli(undefined, 'dlq', 'redrive', '--region', 'us-east-1', '--json');
    expect(run.stderr).toBe('');
    expect(run.json()).toMatchObject({ moved: 1, from: platform.broker.dlqUrl, to: platform.broker.queueUrl });
  });
});
