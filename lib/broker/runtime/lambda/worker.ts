import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ChangeMessageVisibilityCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AwsCloud } from '../cloud/aws';
import { rootLogger } from '../log';
import { EmfBrokerMetrics } from '../metrics';
import { SqsOperationQueue } from '../queue';
import { settingsFromEnv } from '../settings';
import { BrokerStore } from '../store/store';
import { settleMessage } from '../worker/messages';
import { DEFAULT_WORKER_OPTIONS, WorkerContext } from '../worker/worker';

let context: { worker: WorkerContext; sqs: SQSClient; queueUrl: string; metrics: EmfBrokerMetrics } | undefined;

function workerContext() {
  if (!context) {
    const settings = settingsFromEnv();
    const sqs = new SQSClient({});
    const metrics = new EmfBrokerMetrics(settings.platformName, 'worker');
    context = {
      sqs,
      metrics,
      queueUrl: settings.queueUrl,
      worker: {
        settings,
        store: new BrokerStore(new DynamoDBClient({}), settings.tableName),
        queue: new SqsOperationQueue(sqs, settings.queueUrl),
        cloud: new AwsCloud({ hostedZoneId: settings.hostedZoneId, platformName: settings.platformName }),
        logger: rootLogger(),
        options: DEFAULT_WORKER_OPTIONS,
        metrics,
      },
    };
  }
  return context;
}

const processor = new BatchProcessor(EventType.SQS);

async function handleRecord(record: SQSRecord): Promise<void> {
  const { worker, sqs, queueUrl } = workerContext();
  const receiveCount = Number(record.attributes.ApproximateReceiveCount) || 1;
  const settlement = await settleMessage(worker, record.body, receiveCount);
  if (settlement.kind === 'ack') return;
  // Reported as a batch item failure: SQS redelivers it after the visibility timeout we
  // set here (the backoff), or moves it to the DLQ past maxReceiveCount.
  const visibility = settlement.kind === 'retry' ? settlement.delaySeconds : 0;
  await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: visibility }));
  throw new Error(settlement.kind === 'retry' ? `retry in ${visibility}s` : 'operation failed; message goes to the DLQ');
}

/** SQS event source with partial batch failure reporting (reportBatchItemFailures); metrics flushed once per invocation. */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  try {
    return await processPartialResponse(event, handleRecord, processor, { throwOnFullBatchFailure: false });
  } finally {
    workerContext().metrics.flush();
  }
}
