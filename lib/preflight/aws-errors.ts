/**
 * Turns an AWS SDK error into "could not check: <why>", so a check that cannot run says which
 * and why and is never reported as passed. The SDK retries throttling itself (standard retry
 * mode, 3 attempts) before an error reaches here.
 */
export interface SdkError {
  readonly name?: string;
  readonly message?: string;
  readonly Code?: string;
  readonly $metadata?: { httpStatusCode?: number };
  readonly $retryable?: { throttling?: boolean };
}

const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'RequestLimitExceeded', 'TooManyRequestsException', 'SlowDown', 'RequestThrottled', 'RequestThrottledException']);
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'UnauthorizedException', 'AuthorizationError']);
const CREDENTIALS = new Set(['CredentialsProviderError', 'ExpiredToken', 'ExpiredTokenException', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'MissingAuthenticationToken']);
/** What AWS answers in a region the account has not enabled (an opt-in region). */
const REGION_DISABLED = new Set(['AuthFailure', 'UnrecognizedClientException', 'OptInRequired', 'InvalidClientTokenId']);
const NETWORK = new Set(['TimeoutError', 'ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'EAI_AGAIN', 'NetworkingError']);

export function errorName(error: unknown): string {
  const e = error as SdkError & { code?: string };
  return e?.name ?? e?.Code ?? e?.code ?? 'Error';
}

/** Why a call could not be made, for a person; `region` names where. */
export function couldNotCheck(error: unknown, region: string): string {
  const name = errorName(error);
  const message = (error as SdkError)?.message ?? String(error);
  if (name === 'CredentialsProviderError') return `could not check: no AWS credentials (${message}); configure them (aws configure, AWS_PROFILE or the instance role) and run again`;
  if (THROTTLING.has(name) || (error as SdkError)?.$retryable?.throttling) return `could not check: AWS throttled the calls in ${region} (${name}) after retries; run again in a minute`;
  if (ACCESS_DENIED.has(name)) return `could not check: the credentials may not do this in ${region} (${name}: ${message}); the preflight needs read-only access (ReadOnlyAccess is enough)`;
  if (REGION_DISABLED.has(name)) return `could not check: ${region} rejected the credentials (${name}); the region is probably not enabled for the account (see the region-enabled check) or the credentials are invalid`;
  if (CREDENTIALS.has(name)) return `could not check: the credentials were refused (${name}: ${message}); refresh them and run again`;
  if (NETWORK.has(name) || /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EAI_AGAIN/.test(message)) return `could not check: no answer from AWS in ${region} (${name}: ${message})`;
  return `could not check: ${name}: ${message}`;
}

export function isNamed(error: unknown, ...names: string[]): boolean {
  return names.includes(errorName(error));
}
