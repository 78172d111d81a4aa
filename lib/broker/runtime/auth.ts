import { timingSafeEqual } from 'node:crypto';

/** The broker's basic-auth credentials (locally from settings, in AWS from Secrets Manager). */
export interface BrokerCredentials {
  readonly username: string;
  readonly password: string;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * The authorizer's whole decision: does this `Authorization` header carry the broker's
 * basic-auth credentials? Shared by the Lambda authorizer and the local broker.
 */
export function isAuthorized(authorization: string | undefined, expected: BrokerCredentials): boolean {
  if (!authorization) return false;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!match) return false;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const okUser = sameText(decoded.slice(0, colon), expected.username);
  const okPassword = sameText(decoded.slice(colon + 1), expected.password);
  return okUser && okPassword;
}
