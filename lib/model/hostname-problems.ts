import { hostnameSyntaxProblem } from './hostnames';
import { ParameterProblem, ParametersCheck } from './validate-parameters';

const HOSTNAME_ITEM = /^hostnames\[(\d+)\]$/;

/** A hostname as a problem shows it: quoted when its spelling is the problem (it may hold anything). */
export function shownHostname(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 77)}...` : name);
}

/**
 * Replaces the schema's answer about a malformed hostname (ajv's `must match pattern
 * "^(\*\.)?..."`, `must NOT have more than 253 characters`) with the rule in words:
 * `hostnames[0]: "Shop.example.com" has upper-case letters: use lowercase (shop.example.com)`.
 * Other problems stay as they are.
 */
export function explainHostnameProblems(check: ParametersCheck, input: unknown): ParametersCheck {
  if (check.ok) return check;
  const hostnames = (input as { hostnames?: unknown } | null)?.hostnames;
  const problems: ParameterProblem[] = [];
  const seen = new Set<string>();
  for (const problem of check.problems) {
    const index = HOSTNAME_ITEM.exec(problem.field)?.[1];
    const name = index !== undefined && Array.isArray(hostnames) ? hostnames[Number(index)] : undefined;
    const words = typeof name === 'string' ? hostnameSyntaxProblem(name) : undefined;
    const next = words ? { field: problem.field, message: `${shownHostname(name as string)} ${words}` } : problem;
    const key = `${next.field}: ${next.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(next);
  }
  return { ok: false, problems, description: `Invalid parameters: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}` };
}
