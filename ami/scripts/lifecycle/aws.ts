/**
 * The AWS side of `npm run ami`: one EC2 and one SSM client per region, a retry on throttling,
 * and page-by-page reads. The clients are made with `maxAttempts: 1` so that this module is the
 * one place that retries (and the tests, which stub the clients' `send`, exercise it).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';

export interface RegionClients {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
}

export type ClientFactory = (region: string) => RegionClients;

export function defaultClients(): ClientFactory {
  const made = new Map<string, RegionClients>();
  return (region) => {
    let clients = made.get(region);
    if (!clients) {
      clients = { ec2: new EC2Client({ region, maxAttempts: 1 }), ssm: new SSMClient({ region, maxAttempts: 1 }) };
      made.set(region, clients);
    }
    return clients;
  };
}

/**
 * Error codes AWS answers when it throttles: EC2 says RequestLimitExceeded (EC2 API reference,
 * "Request throttling"), SSM ThrottlingException, other services Throttling or
 * TooManyRequestsException.
 */
const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'RequestLimitExceeded', 'TooManyRequestsException', 'RequestThrottled', 'RequestThrottledException']);

export function errorName(error: unknown): string {
  const e = error as { name?: string; Code?: string; code?: string } | undefined;
  return e?.name ?? e?.Code ?? e?.code ?? 'Error';
}

export function isThrottling(error: unknown): boolean {
  return THROTTLING.has(errorName(error)) || (error as { $retryable?: { throttling?: boolean } })?.$retryable?.throttling === true;
}

export function isNamed(error: unknown, ...names: string[]): boolean {
  return names.includes(errorName(error));
}

export interface RetryOptions {
  /** Calls in all, the first included (default 6). */
  readonly attempts?: number;
  /** First backoff in ms, doubled each time, capped at 20 s (default 500). */
  readonly baseDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Calls `call` again after a throttling error, with exponential backoff; any other error is thrown at once. */
export async function withRetry<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 6;
  const sleep = options.sleep ?? realSleep;
  let delay = options.baseDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isThrottling(error) || attempt >= attempts) throw error;
      // Full jitter spreads retries of parallel callers (AWS Architecture Blog, "Exponential Backoff And Jitter").
      await sleep(Math.round(delay / 2 + (Math.random() * delay) / 2));
      delay = Math.min(delay * 2, 20_000);
    }
  }
}

/** Every page of a paginated read: `fetch(token)` returns the page's items and the next token. */
export async function allPages<T>(fetch: (token: string | undefined) => Promise<{ items: readonly T[] | undefined; next: string | undefined }>, retry: RetryOptions = {}): Promise<T[]> {
  const items: T[] = [];
  let token: string | undefined;
  const seen = new Set<string>();
  do {
    const page = await withRetry(() => fetch(token), retry);
    items.push(...(page.items ?? []));
    token = page.next || undefined;
    if (token !== undefined) {
      if (seen.has(token)) throw new Error(`pagination did not advance (token ${token} came back twice)`);
      seen.add(token);
    }
  } while (token !== undefined);
  return items;
}

/** What went wrong in a region, for a person. */
export function describeError(error: unknown): string {
  const name = errorName(error);
  const message = (error as { message?: string })?.message ?? String(error);
  if (isThrottling(error)) return `AWS kept throttling the calls (${name}) after retries; run again in a minute`;
  if (name === 'CredentialsProviderError') return `no AWS credentials (${message})`;
  if (name === 'Error') return message;
  return message && message !== name ? `${name}: ${message}` : name;
}
