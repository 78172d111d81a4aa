import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { parseOperationMessage } from '../../broker/runtime/queue';
import { Target } from '../target';

export interface DlqMessage {
  readonly messageId: string;
  /** The operation the message names (undefined: not an operation message). */
  readonly instanceId?: string;
  readonly operationId?: string;
  /** Deliveries before it landed in the DLQ, plus the peeks of `dlq show`. */
  readonly receiveCount: number;
  readonly sentAt?: string;
  /** The operation's state in the table now, if it is still on record. */
  readonly operationState?: string;
  readonly operationDescription?: string;
  readonly body?: string;
}

export interface DlqView {
  readonly dlqUrl: string;
  /** ApproximateNumberOfMessages + NotVisible of the DLQ. */
  readonly approximateCount: number;
  readonly messages: readonly DlqMessage[];
}

/** Seconds a message peeked at by `dlq show` stays hidden; it is then handed back at once. */
const PEEK_VISIBILITY_SECONDS = 30;
/** Seconds a message being moved stays hidden: long enough for a send and a delete. */
const MOVE_VISIBILITY_SECONDS = 60;

async function receive(target: Target, queueUrl: string, max: number, visibility: number): Promise<Message[]> {
  const out = await target.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
      VisibilityTimeout: visibility,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      MessageAttributeNames: ['All'],
    }),
  );
  return out.Messages ?? [];
}

/** Count and the first `limit` messages, each with its operation's state; every message is left in the DLQ. */
export async function showDlq(target: Target, limit: number): Promise<DlqView> {
  const { dlqUrl } = await target.findQueues();
  const attributes = await target.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  const approximateCount = Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(attributes.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  const peeked: Message[] = [];
  try {
    while (peeked.length < limit) {
      const batch = await receive(target, dlqUrl, limit - peeked.length, PEEK_VISIBILITY_SECONDS);
      if (!batch.length) break;
      peeked.push(...batch);
    }
  } finally {
    // Hand every peeked message back at once so that a redrive right after sees it.
    for (const message of peeked) {
      await target.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: dlqUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 })).catch(() => undefined);
    }
  }
  const messages: DlqMessage[] = [];
  for (const message of peeked) {
    const ref = parseOperationMessage(message.Body ?? '');
    const operation = ref ? await target.store.getOperation(ref.instanceId, ref.operationId) : undefined;
    const sent = Number(message.Attributes?.SentTimestamp);
    messages.push({
      messageId: message.MessageId ?? '',
      instanceId: ref?.instanceId,
      operationId: ref?.operationId,
      receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
      sentAt: Number.isFinite(sent) && sent > 0 ? new Date(sent).toISOString() : undefined,
      operationState: operation?.state,
      operationDescription: operation?.description,
      body: ref ? undefined : (message.Body ?? '').slice(0, 200),
    });
  }
  return { dlqUrl, approximateCount, messages };
}

export interface RedriveResult {
  readonly from: string;
  readonly to: string;
  readonly moved: number;
  readonly messageIds: readonly string[];
}

/**
 * Moves up to `max` messages from the DLQ back to the operations queue: each is sent to the
 * queue (same body and message attributes) and only then deleted from the DLQ, so none is
 * lost; a crash between the two leaves a copy in both, which the worker tolerates (every
 * step is idempotent, a finished operation's message is dropped).
 */
export async function redriveDlq(target: Target, max: number): Promise<RedriveResult> {
  const { queueUrl, dlqUrl } = await target.findQueues();
  const messageIds: string[] = [];
  while (messageIds.length < max) {
    const batch = await receive(target, dlqUrl, max - messageIds.length, MOVE_VISIBILITY_SECONDS);
    if (!batch.length) break;
    for (const message of batch) {
      await target.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: message.Body ?? '', MessageAttributes: Object.keys(message.MessageAttributes ?? {}).length ? message.MessageAttributes : undefined }));
      await target.sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: message.ReceiptHandle }));
      messageIds.push(message.MessageId ?? '');
    }
  }
  return { from: dlqUrl, to: queueUrl, moved: messageIds.length, messageIds };
}

export function formatDlq(view: DlqView): string {
  const lines = [`dead-letter queue ${view.dlqUrl}: about ${view.approximateCount} message(s)`];
  if (!view.messages.length) lines.push('  (no message visible now)');
  for (const m of view.messages) {
    if (!m.operationId) {
      lines.push(`  ${m.messageId}: not an operation message (${m.receiveCount} deliveries): ${m.body}`);
      continue;
    }
    const state = m.operationState ? `${m.operationState}: ${m.operationDescription}` : 'operation no longer on record (expired)';
    lines.push(`  ${m.messageId}: instance ${m.instanceId} operation ${m.operationId}, ${m.receiveCount} deliveries${m.sentAt ? `, sent ${m.sentAt}` : ''}`);
    lines.push(`    ${state}`);
  }
  if (view.approximateCount > 0) lines.push('redrive with: npm run ops -- dlq redrive [--max N] (after fixing the cause)');
  return `${lines.join('\n')}\n`;
}
