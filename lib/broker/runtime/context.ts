import type { Logger } from '@aws-lambda-powertools/logger';
import { OperationQueue } from './queue';
import { BrokerSettings } from './settings';
import { BrokerStore } from './store/store';

/** What the API handlers work with; the Lambda entry and the local broker both build one. */
export interface ApiContext {
  readonly settings: BrokerSettings;
  readonly store: BrokerStore;
  readonly queue: OperationQueue;
  readonly logger: Logger;
  /** Retry-After (seconds) on last_operation while an operation is in progress. */
  readonly retryAfterSeconds: number;
}
