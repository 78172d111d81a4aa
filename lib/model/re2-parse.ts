/**
 * A parser of RE2 syntax (https://github.com/google/re2/wiki/Syntax) into the tree RE2's
 * own parser builds, for the program-size estimator (`re2-program-size.ts`). It assumes a
 * pattern RE2 accepts (`re2.ts` asks RE2 itself first) and throws on what it cannot read.
 *
 * Besides the syntax it makes the rewrites RE2's parser makes, because they change the
 * size of the compiled program:
 * - adjacent literals with the same flags form one string (only within one group here:
 *   RE2 also joins across a non-capturing group, which can only make its program smaller);
 * - `(?i)` turns a letter into the class of its case-folding orbit (`k` into `[Kk\x{212A}]`),
 *   a class of one code point into that literal, and a class of an ASCII letter's two
 *   cases into a case-folded literal;
 * - `(?s).` as an alternative swallows a neighbouring alternative that is one character or
 *   class;
 * - a repetition of a repetition with the same flags squashes into one (`(?:a+)?` is `a*`);
 * - non-capturing groups splice into the enclosing concatenation or alternation;
 * - alternations are factored: common leading literal strings (`abc|abd` is `ab(?:c|d)`),
 *   common leading empty-width assertions, classes and fixed repetitions of them, runs of
 *   single characters and classes into one class (`a|b|[0-9]` is `[0-9ab]`).
 * Where this parser is unsure that RE2 rewrites, it does not: a rewrite only makes RE2's
 * program smaller, and the estimate must never be under RE2's size.
 */
import { RuneRange, MAX_RUNE, addFoldedRange, addFolds, contains, foldOrbit, negate, normalize, unicodeClass } from './re2-unicode';

/** Parse flags that matter here (RE2's `(?i)`, `(?m)`, `(?s)`, `(?U)`). */
export const FOLD = 1;
export const MULTI_LINE = 2;
export const DOT_NL = 4;
export const NON_GREEDY = 8;

export type EmptyWidthOp = 'beginLine' | 'endLine' | 'beginText' | 'endText' | 'wordBoundary' | 'noWordBoundary';

export type Re2Node =
  | { readonly op: 'literal'; readonly runes: readonly number[]; readonly flags: number }
  /** `unicodeTables`: its code points come from Unicode data whose version differs between Node and RE2. */
  | { readonly op: 'class'; readonly ranges: readonly RuneRange[]; readonly unicodeTables?: boolean }
  | { readonly op: 'anyChar' }
  | { readonly op: 'anyByte' }
  /** `dollar`: an end of text written `$` (RE2 does not factor it together with `\z`). */
  | { readonly op: EmptyWidthOp; readonly dollar?: boolean }
  | { readonly op: 'emptyMatch' }
  | { readonly op: 'noMatch' }
  | { readonly op: 'concat'; readonly subs: readonly Re2Node[] }
  | { readonly op: 'alternate'; readonly subs: readonly Re2Node[] }
  | { readonly op: 'capture'; readonly sub: Re2Node }
  | { readonly op: 'star' | 'plus' | 'quest'; readonly sub: Re2Node; readonly flags: number }
  | { readonly op: 'repeat'; readonly sub: Re2Node; readonly min: number; readonly max: number; readonly flags: number };

export class Re2ParseError extends Error {}

const EMPTY_WIDTH = new Set<string>(['beginLine', 'endLine', 'beginText', 'endText', 'wordBoundary', 'noWordBoundary']);
export const isEmptyWidth = (node: Re2Node): boolean => EMPTY_WIDTH.has(node.op);

const r = (text: string) => text.codePointAt(0) as number;
const PERL_CLASSES: Record<string, RuneRange[]> = {
  d: [[r('0'), r('9')]],
  s: [[9, 10], [12, 13], [32, 32]],
  w: [[r('0'), r('9')], [r('A'), r('Z')], [r('_'), r('_')], [r('a'), r('z')]],
};
const POSIX_CLASSES: Record<string, RuneRange[]> = {
  alnum: [[r('0'), r('9')], [r('A'), r('Z')], [r('a'), r('z')]],
  alpha: [[r('A'), r('Z')], [r('a'), r('z')]],
  ascii: [[0, 0x7f]],
  blank: [[9, 9], [32, 32]],
  cntrl: [[0, 0x1f], [0x7f, 0x7f]],
  digit: [[r('0'), r('9')]],
  graph: [[r('!'), r('~')]],
  lower: [[r('a'), r('z')]],
  print: [[r(' '), r('~')]],
  punct: [[r('!'), r('/')], [r(':'), r('@')], [r('['), r('`')], [r('{'), r('~')]],
  space: [[9, 13], [32, 32]],
  upper: [[r('A'), r('Z')]],
  word: PERL_CLASSES.w,
  xdigit: [[r('0'), r('9')], [r('A'), r('F')], [r('a'), r('f')]],
};

/** Parses an RE2 pattern (RE2's default options: UTF-8, Perl classes and flags). */
export function parseRe2(pattern: string): Re2Node {
  return new Parser(pattern).parse();
}

/**
 * Where `pattern` has a named group written `(?<name>..)` (RE2 reads it since 2023 as
 * `(?P<name>..)`): the offsets, in code points, of the `?` of each; empty if it does not parse.
 */
export function angleNamedGroups(pattern: string): number[] {
  const parser = new Parser(pattern);
  try {
    parser.parse();
  } catch {
    return [];
  }
  return parser.angleNamedGroups;
}

/**
 * One item of a concatenation being built; whether a following literal may join it; whether
 * it is a non-capturing group whose concatenation splices into this one (unless repeated).
 */
interface Item {
  node: Re2Node;
  joinable: boolean;
  splice?: boolean;
}

class Parser {
  private readonly runes: number[];
  private pos = 0;
  private flags = 0;
  readonly angleNamedGroups: number[] = [];

  constructor(pattern: string) {
    this.runes = Array.from(pattern, (c) => c.codePointAt(0) as number);
  }

  parse(): Re2Node {
    const node = this.alternation();
    if (this.pos < this.runes.length) throw new Re2ParseError(`unexpected ) at ${this.pos}`);
    return node;
  }

  private peek(offset = 0): number | undefined {
    return this.runes[this.pos + offset];
  }

  private lookingAt(text: string): boolean {
    const wanted = Array.from(text, (c) => c.codePointAt(0) as number);
    return wanted.every((c, i) => this.runes[this.pos + i] === c);
  }

  private alternation(): Re2Node {
    const alternatives = [this.concatenation()];
    while (this.peek() === r('|')) {
      this.pos++;
      const next = this.concatenation();
      // As RE2 parses: `(?s).` next to a single character or class takes its place.
      const previous = alternatives[alternatives.length - 1];
      if (previous.op === 'anyChar' && (isCharLike(next) || next.op === 'anyChar')) continue;
      if (next.op === 'anyChar' && isCharLike(previous)) alternatives[alternatives.length - 1] = next;
      else alternatives.push(next);
    }
    return alternate(alternatives);
  }

  private concatenation(): Re2Node {
    const items: Item[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === r('|') || c === r(')')) break;
      if (c === r('(')) this.group(items);
      else if (c === r('*') || c === r('+') || c === r('?')) this.repetition(items, c === r('*') ? 'star' : c === r('+') ? 'plus' : 'quest');
      else if (c === r('{') && this.countedRepetition(items)) continue;
      else if (c === r('^')) this.push(items, { op: this.flags & MULTI_LINE ? 'beginLine' : 'beginText' }, 1);
      else if (c === r('$')) this.push(items, this.flags & MULTI_LINE ? { op: 'endLine' } : { op: 'endText', dollar: true }, 1);
      else if (c === r('.')) this.push(items, this.flags & DOT_NL ? { op: 'anyChar' } : { op: 'class', ranges: [[0, 9], [11, MAX_RUNE]] }, 1);
      else if (c === r('[')) {
        const { ranges, unicodeTables } = this.bracketClass();
        this.pushClass(items, ranges, unicodeTables);
      }
      else if (c === r('\\')) this.escape(items);
      else {
        this.pos++;
        this.pushLiteral(items, c);
      }
    }
    const subs = items.flatMap((item) => (item.splice && item.node.op === 'concat' ? item.node.subs : [item.node]));
    if (subs.length === 0) return { op: 'emptyMatch' };
    if (subs.length === 1) return subs[0];
    return { op: 'concat', subs };
  }

  private push(items: Item[], node: Re2Node, width: number): void {
    this.pos += width;
    items.push({ node, joinable: false });
  }

  private pushLiteral(items: Item[], rune: number): void {
    if (this.flags & FOLD) {
      const orbit = foldOrbit(rune);
      if (orbit.length > 1) {
        this.pushClass(items, orbit.map((x) => [x, x] as RuneRange), rune >= 0x80);
        return;
      }
    }
    this.joinLiteral(items, rune, this.flags);
  }

  private joinLiteral(items: Item[], rune: number, flags: number): void {
    const last = items[items.length - 1];
    if (last && last.joinable && last.node.op === 'literal' && last.node.flags === flags) {
      last.node = { op: 'literal', runes: [...last.node.runes, rune], flags };
    } else {
      items.push({ node: { op: 'literal', runes: [rune], flags }, joinable: true });
    }
  }

  /** A class becomes a literal when it is one code point, or an ASCII letter in both cases. */
  private pushClass(items: Item[], ranges: readonly RuneRange[], unicodeTables: boolean): void {
    const normal = normalize(ranges);
    const size = normal.reduce((n, [lo, hi]) => n + hi - lo + 1, 0);
    if (size === 1) {
      this.joinLiteral(items, normal[0][0], this.flags);
      return;
    }
    const first = normal[0]?.[0] ?? 0;
    if (size === 2 && first >= r('A') && first <= r('Z') && contains(normal, first + 32)) {
      this.joinLiteral(items, first + 32, this.flags | FOLD);
      return;
    }
    items.push({ node: { op: 'class', ranges: normal, ...(unicodeTables ? { unicodeTables } : {}) }, joinable: false });
  }

  private repetition(items: Item[], op: 'star' | 'plus' | 'quest'): void {
    this.pos++;
    const flags = this.repetitionFlags();
    const sub = this.operand(items);
    // RE2 squashes a repetition of a repetition with the same flags: ** is *, and any mix is *.
    if ((sub.op === 'star' || sub.op === 'plus' || sub.op === 'quest') && sub.flags === flags) {
      items.push({ node: sub.op === op ? sub : { op: 'star', sub: sub.sub, flags }, joinable: false });
      return;
    }
    items.push({ node: { op, sub, flags }, joinable: false });
  }

  /** `{n}`, `{n,}` or `{n,m}`; anything else is a literal `{`, as in RE2. */
  private countedRepetition(items: Item[]): boolean {
    const text = String.fromCodePoint(...this.runes.slice(this.pos, this.pos + 16));
    const match = /^\{(\d+)(,(\d*))?\}/.exec(text);
    if (!match) {
      this.pos++;
      this.pushLiteral(items, r('{'));
      return true;
    }
    this.pos += match[0].length;
    const min = Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === '' ? -1 : Number(match[3]);
    const flags = this.repetitionFlags();
    items.push({ node: { op: 'repeat', sub: this.operand(items), min, max, flags }, joinable: false });
    return true;
  }

  private repetitionFlags(): number {
    let flags = this.flags;
    if (this.peek() === r('?')) {
      this.pos++;
      flags ^= NON_GREEDY;
    }
    return flags;
  }

  /** The item a repetition applies to: the last one, or the last rune of a string of literals. */
  private operand(items: Item[]): Re2Node {
    const last = items.pop();
    if (!last) throw new Re2ParseError('missing argument to repetition operator');
    if (last.joinable && last.node.op === 'literal' && last.node.runes.length > 1) {
      const runes = last.node.runes;
      items.push({ node: { op: 'literal', runes: runes.slice(0, -1), flags: last.node.flags }, joinable: true });
      return { op: 'literal', runes: runes.slice(-1), flags: last.node.flags };
    }
    return last.node;
  }

  private group(items: Item[]): void {
    this.pos++;
    const saved = this.flags;
    let capture = true;
    if (this.peek() === r('?')) {
      if (this.lookingAt('?<')) this.angleNamedGroups.push(this.pos);
      if (this.lookingAt('?P<') || this.lookingAt('?<')) {
        const end = this.runes.indexOf(r('>'), this.pos);
        if (end < 0) throw new Re2ParseError('unterminated group name');
        this.pos = end + 1;
      } else {
        this.pos++;
        let negated = false;
        for (;;) {
          const c = this.peek();
          this.pos++;
          if (c === r('-')) negated = true;
          else if (c === r('i') || c === r('m') || c === r('s') || c === r('U')) {
            const bit = c === r('i') ? FOLD : c === r('m') ? MULTI_LINE : c === r('s') ? DOT_NL : NON_GREEDY;
            this.flags = negated ? this.flags & ~bit : this.flags | bit;
          } else if (c === r(')')) return; // (?flags): for the rest of the enclosing group
          else if (c === r(':')) break;
          else throw new Re2ParseError(`unknown group flag at ${this.pos - 1}`);
        }
        capture = false;
      }
    }
    const sub = this.alternation();
    if (this.peek() !== r(')')) throw new Re2ParseError('missing )');
    this.pos++;
    this.flags = saved;
    if (capture) items.push({ node: { op: 'capture', sub }, joinable: false });
    else items.push({ node: sub, joinable: false, splice: true });
  }

  private escape(items: Item[]): void {
    const c = this.peek(1);
    if (c === undefined) throw new Re2ParseError('trailing \\');
    const letter = String.fromCodePoint(c);
    const simple: Partial<Record<string, Re2Node>> = {
      b: { op: 'wordBoundary' },
      B: { op: 'noWordBoundary' },
      A: { op: 'beginText' },
      z: { op: 'endText' },
      C: { op: 'anyByte' },
    };
    const node = simple[letter];
    if (node) {
      this.push(items, node, 2);
      return;
    }
    if (letter === 'Q') {
      this.pos += 2;
      while (this.pos < this.runes.length && !this.lookingAt('\\E')) {
        const rune = this.runes[this.pos++];
        // Inside \Q..\E, \\ is a backslash.
        if (rune === r('\\') && this.peek() === r('\\')) this.pos++;
        this.pushLiteral(items, rune);
      }
      if (this.lookingAt('\\E')) this.pos += 2;
      return;
    }
    const escaped = this.classEscape();
    if (escaped) this.pushClass(items, escaped.ranges, escaped.unicodeTables);
    else this.pushLiteral(items, this.charEscape());
  }

  /** `\d`, `\pL`, `\P{Greek}` and the like at the position, with `(?i)` applied, or undefined. */
  private classEscape(): { ranges: RuneRange[]; unicodeTables: boolean } | undefined {
    const group = this.groupEscape();
    if (!group) return undefined;
    const folded = this.flags & FOLD ? addFolds(group.ranges) : normalize(group.ranges);
    return { ranges: group.negated ? negate(folded) : folded, unicodeTables: group.unicodeTables };
  }

  /** `\d`, `\pL`, `\P{Greek}` and the like at the position: the positive class and its sign. */
  private groupEscape(): { ranges: readonly RuneRange[]; negated: boolean; unicodeTables: boolean } | undefined {
    const c = String.fromCodePoint(this.peek(1) as number);
    if (c.toLowerCase() in PERL_CLASSES) {
      this.pos += 2;
      return { ranges: PERL_CLASSES[c.toLowerCase()], negated: c !== c.toLowerCase(), unicodeTables: false };
    }
    if (c !== 'p' && c !== 'P') return undefined;
    this.pos += 2;
    let name: string;
    if (this.peek() === r('{')) {
      const end = this.runes.indexOf(r('}'), this.pos);
      if (end < 0) throw new Re2ParseError('unterminated \\p{');
      name = String.fromCodePoint(...this.runes.slice(this.pos + 1, end));
      this.pos = end + 1;
    } else {
      name = String.fromCodePoint(this.runes[this.pos++]);
    }
    let negated = c === 'P';
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    const ranges = unicodeClass(name);
    if (!ranges) throw new Re2ParseError(`unknown Unicode class ${name}`);
    return { ranges, negated, unicodeTables: name !== 'Any' };
  }

  /** One escaped code point: `\n`, `\x41`, `\x{10FFFF}`, `\012`, `\.`. */
  private charEscape(): number {
    this.pos++;
    const c = this.runes[this.pos++];
    const letter = String.fromCodePoint(c);
    const controls: Partial<Record<string, number>> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
    if (controls[letter] !== undefined) return controls[letter] as number;
    const octal = (x: number | undefined) => x !== undefined && x >= r('0') && x <= r('7');
    if (octal(c)) {
      // \0 to \7 start an octal code of up to three digits; \1 to \7 alone are back references.
      let value = c - r('0');
      for (let i = 0; i < 2 && octal(this.peek()); i++) value = value * 8 + (this.runes[this.pos++] - r('0'));
      return value;
    }
    if (letter === 'x') {
      if (this.peek() === r('{')) {
        const end = this.runes.indexOf(r('}'), this.pos);
        if (end < 0) throw new Re2ParseError('unterminated \\x{');
        const value = parseInt(String.fromCodePoint(...this.runes.slice(this.pos + 1, end)), 16);
        this.pos = end + 1;
        return value;
      }
      const value = parseInt(String.fromCodePoint(...this.runes.slice(this.pos, this.pos + 2)), 16);
      this.pos += 2;
      return value;
    }
    if (c < 0x80 && !/[0-9A-Za-z]/.test(letter)) return c;
    throw new Re2ParseError(`invalid escape \\${letter}`);
  }

  /**
   * `[...]`: its code points, with `(?i)` and negation applied. Under `(?i)` RE2 adds each
   * item with its other cases, in order (see `addFoldedRange`); a negated group such as `\W`
   * is the complement of the group with its cases.
   */
  private bracketClass(): { ranges: RuneRange[]; unicodeTables: boolean } {
    this.pos++;
    let negated = false;
    if (this.peek() === r('^')) {
      negated = true;
      this.pos++;
    }
    const fold = (this.flags & FOLD) !== 0;
    let ranges: RuneRange[] = [];
    const add = (items: readonly RuneRange[]) => {
      for (const [lo, hi] of items) ranges = fold ? addFoldedRange(ranges, lo, hi) : normalize([...ranges, [lo, hi]]);
    };
    const addGroup = (items: readonly RuneRange[], negatedGroup: boolean) => {
      if (negatedGroup) ranges = normalize([...ranges, ...negate(fold ? addFolds(items) : items)]);
      else add(items);
    };
    let unicodeTables = false;
    let first = true;
    while (this.peek() !== r(']') || first) {
      if (this.peek() === undefined) throw new Re2ParseError('missing ]');
      first = false;
      if (this.lookingAt('[:')) {
        const end = this.runes.indexOf(r(']'), this.pos);
        let name = String.fromCodePoint(...this.runes.slice(this.pos + 2, end - 1));
        const negatedName = name.startsWith('^');
        if (negatedName) name = name.slice(1);
        const posix = POSIX_CLASSES[name];
        if (!posix) throw new Re2ParseError(`unknown class [:${name}:]`);
        this.pos = end + 1;
        addGroup(posix, negatedName);
        continue;
      }
      if (this.peek() === r('\\')) {
        const group = this.groupEscape();
        if (group) {
          addGroup(group.ranges, group.negated);
          unicodeTables ||= group.unicodeTables;
          continue;
        }
      }
      const lo = this.classChar();
      if (this.peek() === r('-') && this.peek(1) !== r(']') && this.peek(1) !== undefined) {
        this.pos++;
        const hi = this.classChar();
        add([[lo, hi]]);
        // Case folding outside ASCII depends on the Unicode version.
        unicodeTables ||= fold && hi >= 0x80;
      } else {
        add([[lo, lo]]);
        unicodeTables ||= fold && lo >= 0x80;
      }
    }
    this.pos++;
    return { ranges: negated ? negate(ranges) : ranges, unicodeTables };
  }

  private classChar(): number {
    if (this.peek() === r('\\')) return this.charEscape();
    return this.runes[this.pos++];
  }
}

/** RE2's structural equality, for factoring common leading pieces. */
export function sameNode(a: Re2Node, b: Re2Node): boolean {
  if (a.op !== b.op) return false;
  switch (a.op) {
    case 'literal': {
      const y = b as typeof a;
      return (a.flags & FOLD) === (y.flags & FOLD) && a.runes.length === y.runes.length && a.runes.every((rune, i) => rune === y.runes[i]);
    }
    case 'class': {
      const y = b as typeof a;
      return a.ranges.length === y.ranges.length && a.ranges.every(([lo, hi], i) => lo === y.ranges[i][0] && hi === y.ranges[i][1]);
    }
    case 'endText':
      return a.dollar === (b as typeof a).dollar;
    case 'concat':
    case 'alternate': {
      const y = b as typeof a;
      return a.subs.length === y.subs.length && a.subs.every((sub, i) => sameNode(sub, y.subs[i]));
    }
    case 'star':
    case 'plus':
    case 'quest': {
      const y = b as typeof a;
      return (a.flags & NON_GREEDY) === (y.flags & NON_GREEDY) && sameNode(a.sub, y.sub);
    }
    case 'repeat': {
      const y = b as typeof a;
      return (a.flags & NON_GREEDY) === (y.flags & NON_GREEDY) && a.min === y.min && a.max === y.max && sameNode(a.sub, y.sub);
    }
    case 'capture':
      return false; // two groups are two captures
    default:
      return true;
  }
}

/** The leading literal string of an alternative, and whether it is case-folded. */
function leadingString(node: Re2Node): { runes: readonly number[]; fold: boolean } {
  let at = node;
  while (at.op === 'concat' && at.subs.length > 0) at = at.subs[0];
  return at.op === 'literal' ? { runes: at.runes, fold: (at.flags & FOLD) !== 0 } : { runes: [], fold: false };
}

function removeLeadingString(node: Re2Node, n: number): Re2Node {
  if (node.op === 'literal') return n >= node.runes.length ? { op: 'emptyMatch' } : { ...node, runes: node.runes.slice(n) };
  if (node.op !== 'concat' || node.subs.length === 0) return node;
  const first = removeLeadingString(node.subs[0], n);
  if (first.op !== 'emptyMatch') return { op: 'concat', subs: [first, ...node.subs.slice(1)] };
  const rest = node.subs.slice(1);
  return rest.length === 1 ? rest[0] : { op: 'concat', subs: rest };
}

function leadingRegexp(node: Re2Node): Re2Node | undefined {
  if (node.op === 'emptyMatch') return undefined;
  if (node.op === 'concat' && node.subs.length >= 2) return node.subs[0].op === 'emptyMatch' ? undefined : node.subs[0];
  return node;
}

function removeLeadingRegexp(node: Re2Node): Re2Node {
  if (node.op === 'emptyMatch') return node;
  if (node.op === 'concat' && node.subs.length >= 2) {
    if (node.subs[0].op === 'emptyMatch') return node;
    return node.subs.length === 2 ? node.subs[1] : { op: 'concat', subs: node.subs.slice(1) };
  }
  return { op: 'emptyMatch' };
}

/** Leading pieces RE2 factors out of alternatives: fixed-width and cheap to compare. */
function factorableLeading(node: Re2Node): boolean {
  if (isEmptyWidth(node) || node.op === 'class' || node.op === 'anyChar' || node.op === 'anyByte') return true;
  if (node.op !== 'repeat' || node.min !== node.max) return false;
  const sub = node.sub;
  return (sub.op === 'literal' && sub.runes.length === 1) || sub.op === 'class' || sub.op === 'anyChar' || sub.op === 'anyByte';
}

/** Consecutive runs of `subs` for which `same(first of run, next)` holds. */
function runs(subs: readonly Re2Node[], same: (first: Re2Node, next: Re2Node) => boolean): Re2Node[][] {
  const out: Re2Node[][] = [];
  for (const sub of subs) {
    const current = out[out.length - 1];
    if (current && same(current[0], sub)) current.push(sub);
    else out.push([sub]);
  }
  return out;
}

/** The class of a run of single characters and classes, merged in order as RE2 merges them. */
function mergedClass(run: readonly Re2Node[]): RuneRange[] {
  let ranges: RuneRange[] = [];
  for (const node of run) {
    if (node.op === 'class') ranges = normalize([...ranges, ...node.ranges]);
    else if (node.op === 'literal' && node.flags & FOLD) ranges = addFoldedRange(ranges, node.runes[0], node.runes[0]);
    else if (node.op === 'literal') ranges = normalize([...ranges, [node.runes[0], node.runes[0]]]);
  }
  return ranges;
}

const isCharLike = (node: Re2Node) => node.op === 'class' || (node.op === 'literal' && node.runes.length === 1);

/** RE2's alternation: nested alternations spliced, then factored. */
export function alternate(alternatives: readonly Re2Node[]): Re2Node {
  const spliced = alternatives.flatMap((node) => (node.op === 'alternate' ? node.subs : [node]));
  const factored = factor(spliced);
  return factored.length === 1 ? factored[0] : { op: 'alternate', subs: factored };
}

function factor(subs: readonly Re2Node[]): Re2Node[] {
  // Round 1: common leading literal strings, the run's prefix shrinking as it grows.
  const round1: Re2Node[] = [];
  for (let i = 0; i < subs.length; ) {
    const lead = leadingString(subs[i]);
    let prefix = lead.runes.length;
    let j = i + 1;
    for (; j < subs.length && prefix > 0; j++) {
      const next = leadingString(subs[j]);
      let same = 0;
      while (next.fold === lead.fold && same < prefix && same < next.runes.length && next.runes[same] === lead.runes[same]) same++;
      if (same === 0) break;
      prefix = same;
    }
    if (j - i >= 2 && prefix > 0) {
      const first = leadingString(subs[i]);
      const literal: Re2Node = { op: 'literal', runes: first.runes.slice(0, prefix), flags: first.fold ? FOLD : 0 };
      const rest = factor(subs.slice(i, j).map((sub) => removeLeadingString(sub, prefix)));
      round1.push({ op: 'concat', subs: [literal, rest.length === 1 ? rest[0] : { op: 'alternate', subs: rest }] });
    } else {
      round1.push(...subs.slice(i, j));
    }
    i = j;
  }
  // Round 2: common leading empty-width assertions, classes, fixed repetitions of them.
  const round2 = runs(round1, (first, next) => {
    const a = leadingRegexp(first);
    const b = leadingRegexp(next);
    return a !== undefined && b !== undefined && factorableLeading(a) && sameNode(a, b);
  }).flatMap((run) => {
    if (run.length < 2) return run;
    const rest = factor(run.map(removeLeadingRegexp));
    return [{ op: 'concat', subs: [leadingRegexp(run[0]) as Re2Node, rest.length === 1 ? rest[0] : { op: 'alternate', subs: rest }] } as Re2Node];
  });
  // Round 3: runs of single characters and classes become one class.
  const round3 = runs(round2, (first, next) => isCharLike(first) && isCharLike(next)).map((run) => {
    if (run.length < 2) return run[0];
    const unicodeTables = run.some((node) => node.op === 'class' && node.unicodeTables === true);
    return { op: 'class', ranges: mergedClass(run), ...(unicodeTables ? { unicodeTables } : {}) } as Re2Node;
  });
  // RE2 of 2022 keeps runs of empty alternatives (`(?:|)` is an alternation of two).
  return round3;
}
