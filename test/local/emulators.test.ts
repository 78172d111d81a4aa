import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, QueryCommand, PutItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { ensureBrokerTable, localClientConfig, startEmulators } from '../../lib/local/emulators';
import { GENERATION_INDEX } from '../../lib/model';

describe('local emulators', () => {
  test('DynamoDB and SQS answer through the real SDK clients, and the generation index works', async () => {
    const emulators = await startEmulators();
    try {
      const ddb = new DynamoDBClient(localClientConfig(emulators.dynamodbEndpoint));
      await ensureBrokerTable(ddb, 'edge-test');
      await ensureBrokerTable(ddb, 'edge-test'); // idempotent
      for (const generation of [3, 1, 2]) {
        await ddb.send(new PutItemCommand({
          TableName: 'edge-test',
          Item: { pk: { S: `ROUTE#${generation}` }, sk: { S: 'ROUTE' }, gsi1pk: { S: 'ROUTE' }, generation: { N: String(generation) } },
        }));
      }
      const changed = await ddb.send(new QueryCommand({
        TableName: 'edge-test',
        IndexName: GENERATION_INDEX.name,
        KeyConditionExpression: 'gsi1pk = :p AND generation > :g',
        ExpressionAttributeValues: { ':p': { S: 'ROUTE' }, ':g': { N: '1' } },
      }));
      expect(changed.Items?.map((i) => i.generation.N)).toEqual(['2', '3']);

      const sqs = new SQSClient(localClientConfig(emulators.sqsEndpoint));
      const queue = await sqs.send(new CreateQueueCommand({ QueueName: 'q' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: queue.QueueUrl, MessageBody: 'op-1' }));
      const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, WaitTimeSeconds: 1 }));
      expect(received.Messages?.[0].Body).toBe('op-1');
    } finally {
      await emulators.stop();
    }
  });

  test('with a data dir, DynamoDB state survives a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'edge-emulators-'));
    try {
      const first = await startEmulators({ dataDir });
      const ddb1 = new DynamoDBClient(localClientConfig(first.dynamodbEndpoint));
      await ensureBrokerTable(ddb1, 'edge-test');
      await ddb1.send(new PutItemCommand({ TableName: 'edge-test', Item: { pk: { S: 'a' }, sk: { S: 'b' }, v: { S: 'kept' } } }));
      await first.stop();

      const second = await startEmulators({ dataDir });
      const ddb2 = new DynamoDBClient(localClientConfig(second.dynamodbEndpoint));
      await ensureBrokerTable(ddb2, 'edge-test');
      const item = await ddb2.send(new GetItemCommand({ TableName: 'edge-test', Key: { pk: { S: 'a' }, sk: { S: 'b' } } }));
      expect(item.Item?.v.S).toBe('kept');
      await second.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
