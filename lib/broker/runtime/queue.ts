import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { OperationRef } from './store/types';

/** Wakes the worker for an operation. The message names the operation and nothing else. */
export interface OperationQueue {
  enqueue(ref: OperationRef, delaySeconds?: number): Promise<void>;
}

export function operationMessage(ref: OperationRef): string {
  return JSON.stringify({ instanceId: ref.instanceId, operationId: ref.operationId });
}

export function parseOperationMessage(body: string): OperationRef | undefined {
  try {
    const parsed = JSON.parse(body) as Partial<OperationRef>;
    if (typeof parsed.instanceId === 'string' && typeof parsed.operationId === 'string') {
      return { instanceId: parsed.instanceId, operationId: parsed.operationId };
    }
  } catch {
    // not JSON: not ours
  }
  return undefined;
}

export class SqsOperationQueue implements OperationQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(ref: OperationRef, delaySeconds = 0): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: operationMessage(ref),
        // SQS caps delays at 15 minutes.
        DelaySeconds: Math.max(0, Math.min(900, Math.round(delaySeconds))),
      }),
    );
  }
}
