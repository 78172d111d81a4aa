/**
 * A model of CloudWatch metric math for the expressions our alarms and dashboards use, from the
 * CloudWatch User Guide ("Metric math syntax and functions", "Using IF expressions"):
 * - arithmetic (+ - * /): "Missing values in a time series are treated as 0"; a division by zero
 *   drops the datapoint;
 * - comparisons: a time series against a scalar gives 1 or 0 where the series has a value; between
 *   two series, "the function treats the missing value in the other time series as 0";
 * - IF(condition, a, b): no output where the condition has no datapoint; when true, a series `a`
 *   without a datapoint gives 0; when false, a series `b` without a datapoint, or no `b`, drops it;
 * - FILL(series, value): replaces missing values with the value, at every period of the range
 *   whether or not the series has any datapoint (the FILL entry's own caveat for alarms: a
 *   metric whose latest minute never has data gets the fill value there).
 *
 * One point the documentation leaves open is a variant, and the tests run every scenario under
 * both readings (an alarm must behave the same whichever is true): `emptyOperand`, a series with
 * no datapoint at all in the evaluated range used in arithmetic: the whole result is empty (as
 * issue 15 observed for the SystemErrors sum of six operations, one never called), or it counts as 0.
 */

export type Series = Array<number | undefined>;
export type Value = number | Series;

export interface MathVariant {
  readonly emptyOperand: 'empty-result' | 'zero';
}

export const MATH_VARIANTS: readonly MathVariant[] = [{ emptyOperand: 'empty-result' }, { emptyOperand: 'zero' }];

export type Node =
  | { kind: 'number'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'id'; name: string }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'unary'; op: '-'; arg: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node };

const TOKEN = /\s*(?:(\d+(?:\.\d+)?)|('(?:[^']|'')*')|([A-Za-z_][A-Za-z0-9_]*)|(>=|<=|==|!=|&&|\|\||[-+*/^(),<>]))/y;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break;
    const start = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (!m) throw new Error(`metric math: cannot read "${text.slice(start)}" in ${text}`);
    tokens.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
  }
  return tokens;
}

/** Parses a metric math expression into a tree (throws naming the expression when it cannot). */
export function parse(text: string): Node {
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const t = tokens[i++];
    if (expected !== undefined && t !== expected) throw new Error(`metric math: expected ${expected}, got ${t ?? 'end'} in ${text}`);
    return t;
  };
  const binary = (next: () => Node, ops: string[]): (() => Node) => () => {
    let left = next();
    while (ops.includes(peek()?.toUpperCase())) {
      const op = take().toUpperCase();
      left = { kind: 'binary', op: op === '&&' ? 'AND' : op === '||' ? 'OR' : op, left, right: next() };
    }
    return left;
  };
  const primary = (): Node => {
    const t = take();
    if (t === undefined) throw new Error(`metric math: unexpected end of ${text}`);
    if (t === '(') {
      const inner = or();
      take(')');
      return inner;
    }
    if (t === '-') return { kind: 'unary', op: '-', arg: primary() };
    if (/^\d/.test(t)) return { kind: 'number', value: Number(t) };
    if (t.startsWith("'")) return { kind: 'string', value: t.slice(1, -1) };
    if (/^[A-Za-z_]/.test(t)) {
      if (peek() === '(') {
        take('(');
        const args: Node[] = [];
        if (peek() !== ')') {
          args.push(or());
          while (peek() === ',') {
            take(',');
            args.push(or());
          }
        }
        take(')');
        return { kind: 'call', name: t, args };
      }
      if (/^[A-Z][A-Z_]*$/.test(t)) return { kind: 'string', value: t }; // a keyword argument (REPEAT, LINEAR, ...)
      return { kind: 'id', name: t };
    }
    throw new Error(`metric math: unexpected ${t} in ${text}`);
  };
  const mul = binary(primary, ['*', '/']);
  const add = binary(mul, ['+', '-']);
  const cmp = binary(add, ['>', '<', '>=', '<=', '==', '!=']);
  const and = binary(cmp, ['AND', '&&']);
  const or = binary(and, ['OR', '||']);
  const tree = or();
  if (i < tokens.length) throw new Error(`metric math: unexpected ${tokens[i]} in ${text}`);
  return tree;
}

/** Every metric id the expression reads. */
export function idsOf(node: Node): string[] {
  switch (node.kind) {
    case 'id':
      return [node.name];
    case 'call':
      return node.args.flatMap(idsOf);
    case 'unary':
      return idsOf(node.arg);
    case 'binary':
      return [...idsOf(node.left), ...idsOf(node.right)];
    default:
      return [];
  }
}

/** Operands of `+` that are a bare metric id (not inside FILL): sums that lose datapoints when one series is silent. */
export function unfilledSumOperands(node: Node): string[] {
  switch (node.kind) {
    case 'call':
      return node.args.flatMap(unfilledSumOperands);
    case 'unary':
      return unfilledSumOperands(node.arg);
    case 'binary': {
      const own = node.op === '+' ? [node.left, node.right].filter((n) => n.kind === 'id').map((n) => (n as { name: string }).name) : [];
      return [...own, ...unfilledSumOperands(node.left), ...unfilledSumOperands(node.right)];
    }
    default:
      return [];
  }
}

const isSeries = (v: Value): v is Series => Array.isArray(v);
const isEmpty = (s: Series) => s.every((x) => x === undefined);

export interface EvalContext {
  readonly length: number;
  readonly variant: MathVariant;
  series(id: string): Series;
}

function arithmetic(op: string, a: number, b: number): number | undefined {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return b === 0 ? undefined : a / b;
    case '^':
      return a ** b;
    default:
      throw new Error(op);
  }
}

function compare(op: string, a: number, b: number): number {
  const r = op === '>' ? a > b : op === '<' ? a < b : op === '>=' ? a >= b : op === '<=' ? a <= b : op === '==' ? a === b : op === '!=' ? a !== b : op === 'AND' ? a !== 0 && b !== 0 : a !== 0 || b !== 0;
  return r ? 1 : 0;
}

export function evaluateNode(node: Node, ctx: EvalContext): Value {
  const n = ctx.length;
  switch (node.kind) {
    case 'number':
      return node.value;
    case 'string':
      throw new Error(`metric math: a string ("${node.value}") is not a value`);
    case 'id':
      return ctx.series(node.name);
    case 'unary': {
      const v = evaluateNode(node.arg, ctx);
      return isSeries(v) ? v.map((x) => (x === undefined ? undefined : -x)) : -v;
    }
    case 'binary': {
      const left = evaluateNode(node.left, ctx);
      const right = evaluateNode(node.right, ctx);
      const arith = ['+', '-', '*', '/', '^'].includes(node.op);
      const apply = (a: number, b: number) => (arith ? arithmetic(node.op, a, b) : compare(node.op, a, b));
      if (!isSeries(left) && !isSeries(right)) return apply(left, right) ?? NaN;
      if (isSeries(left) && isSeries(right)) {
        if (arith && (isEmpty(left) || isEmpty(right)) && ctx.variant.emptyOperand === 'empty-result') return new Array(n).fill(undefined);
        return left.map((a, t) => {
          const b = right[t];
          if (a === undefined && b === undefined) return undefined;
          return apply(a ?? 0, b ?? 0);
        });
      }
      const series = (isSeries(left) ? left : right) as Series;
      const scalar = (isSeries(left) ? right : left) as number;
      return series.map((x) => (x === undefined ? undefined : isSeries(left) ? apply(x, scalar) : apply(scalar, x)));
    }
    case 'call': {
      const name = node.name.toUpperCase();
      if (name === 'FILL') {
        const [seriesNode, fillNode] = node.args;
        const s = evaluateNode(seriesNode, ctx);
        const fill = evaluateNode(fillNode, ctx);
        if (!isSeries(s) || isSeries(fill)) throw new Error('metric math: FILL(series, scalar) only');
        return s.map((x) => x ?? fill);
      }
      if (name === 'IF') {
        const [condNode, aNode, bNode] = node.args;
        const cond = evaluateNode(condNode, ctx);
        const a = evaluateNode(aNode, ctx);
        const b = bNode ? evaluateNode(bNode, ctx) : undefined;
        if (!isSeries(cond)) throw new Error('metric math: IF with a scalar condition is not modelled');
        return cond.map((c, t) => {
          if (c === undefined) return undefined;
          if (c !== 0) return isSeries(a) ? (a[t] ?? 0) : a;
          if (b === undefined) return undefined;
          return isSeries(b) ? b[t] : b;
        });
      }
      throw new Error(`metric math: function ${node.name} is not modelled`);
    }
  }
}

/** The expression's time series over `length` periods. */
export function evaluateExpression(expression: string, ctx: EvalContext): Series {
  const v = evaluateNode(parse(expression), ctx);
  return isSeries(v) ? v : new Array(ctx.length).fill(v);
}
