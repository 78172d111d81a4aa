/**
 * A model of CloudWatch Logs JSON filter patterns for the metric filters of the fleet stack
 * (CloudWatch Logs User Guide, "Filter pattern syntax for metric filters", JSON log events):
 * `{ $.field OP value }` with numeric comparisons (=, !=, <, >, <=, >=) that match only a JSON
 * number, string equality with `=`/`!=`, `&&`, `||` and parentheses. A pattern outside this
 * subset throws.
 */

type Expr = { kind: 'cmp'; path: string[]; op: string; value: number | string } | { kind: 'and' | 'or'; left: Expr; right: Expr };

export function parseJsonFilter(pattern: string): Expr {
  const body = pattern.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) throw new Error(`filter pattern: only JSON patterns are modelled: ${pattern}`);
  const tokens = body.slice(1, -1).match(/\$\.[A-Za-z0-9_.]+|&&|\|\||>=|<=|!=|[=<>()]|"[^"]*"|-?\d+(?:\.\d+)?|\S+/g) ?? [];
  let i = 0;
  const take = () => tokens[i++];
  const primary = (): Expr => {
    if (tokens[i] === '(') {
      take();
      const inner = or();
      if (take() !== ')') throw new Error(`filter pattern: missing ) in ${pattern}`);
      return inner;
    }
    const selector = take();
    const op = take();
    const raw = take();
    if (!selector?.startsWith('$.') || !['=', '!=', '<', '>', '<=', '>='].includes(op) || raw === undefined) throw new Error(`filter pattern: cannot read ${pattern}`);
    const value = raw.startsWith('"') ? raw.slice(1, -1) : /^-?\d/.test(raw) ? Number(raw) : raw;
    return { kind: 'cmp', path: selector.slice(2).split('.'), op, value };
  };
  const and = (): Expr => {
    let left = primary();
    while (tokens[i] === '&&') {
      take();
      left = { kind: 'and', left, right: primary() };
    }
    return left;
  };
  const or = (): Expr => {
    let left = and();
    while (tokens[i] === '||') {
      take();
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  const expr = or();
  if (i !== tokens.length) throw new Error(`filter pattern: unexpected ${tokens[i]} in ${pattern}`);
  return expr;
}

function matchesExpr(expr: Expr, event: unknown): boolean {
  if (expr.kind !== 'cmp') return expr.kind === 'and' ? matchesExpr(expr.left, event) && matchesExpr(expr.right, event) : matchesExpr(expr.left, event) || matchesExpr(expr.right, event);
  let value: unknown = event;
  for (const key of expr.path) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  if (typeof expr.value === 'number') {
    if (typeof value !== 'number') return false;
    const [a, b] = [value, expr.value];
    return expr.op === '=' ? a === b : expr.op === '!=' ? a !== b : expr.op === '<' ? a < b : expr.op === '>' ? a > b : expr.op === '<=' ? a <= b : a >= b;
  }
  if (expr.op !== '=' && expr.op !== '!=') throw new Error('filter pattern: string values compare with = or != only');
  return (value === expr.value) === (expr.op === '=');
}

/** Whether a log line (a JSON document) matches a JSON filter pattern. */
export function matchesFilter(pattern: string, line: string): boolean {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return false;
  }
  return matchesExpr(parseJsonFilter(pattern), event);
}
