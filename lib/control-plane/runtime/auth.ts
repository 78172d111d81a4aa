import { createHash, timingSafeEqual } from 'node:crypto';

export type AuthResult = 'ok' | 'missing' | 'wrong';

/** Checks a node's `metadata.auth` against the discovery token in constant time. */
export function checkToken(expected: string, presented: unknown): AuthResult {
  if (typeof presented !== 'string' || presented.length === 0) return 'missing';
  // Comparing digests keeps the comparison constant-time whatever the lengths.
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b) ? 'ok' : 'wrong';
}
