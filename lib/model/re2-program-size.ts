/**
 * An upper bound of RE2's `ProgramSize()` for a pattern, the number Envoy compares with
 * `re2.max_program_size.error_level` (default 100) before it accepts a `safe_regex`. No
 * package exposes RE2's program, so this models how RE2 builds it, from what RE2 documents
 * and does (checked against Debian's libre2 by test/model/re2-oracle.test.ts):
 *
 * 1. Parse, with the rewrites RE2's parser makes (`re2-parse.ts`).
 * 2. A pattern that starts with `^` and a literal string has that string taken out: RE2
 *    matches it with a string compare and compiles only the rest, unanchored.
 * 3. Simplify: in a concatenation, a repetition of a character, class or `.` absorbs what
 *    follows it when that is the same piece or a repetition of it (`a+a*` is `a{1,}`, `a*ab`
 *    is `a{1,}b`); `x{n,m}` becomes n copies of x then m-n nested optional copies, `x{n,}` n-1
 *    copies then `x+`; a leading `^` and a trailing `$` become flags of the program.
 * 4. Compile to instructions: one per byte range (UTF-8: `é` is two, `.` is eight: two
 *    ASCII ranges and six for every multi-byte sequence; a class's sequences share leading
 *    bytes and some trailing ones, see `charClass`), two per capture, one per empty-width
 *    assertion, one alternation per `|`, `?`, `*`, `+`, a match, a fail, and for an
 *    unanchored pattern a `.*?` loop.
 * 5. Flatten, as RE2 does before counting: alternations and no-ops disappear; every
 *    instruction that follows a byte range, capture or assertion starts a list, and so
 *    does one reached from two lists; a list that reaches another list's start through
 *    alternations only gets one instruction that jumps there.
 *
 * Where this model is not sure to be exact it counts more: rewrites RE2 may make are not
 * assumed unless the oracle showed them, and a class made from Unicode data (`\p{..}`, or
 * `(?i)` on letters outside ASCII) gets a margin for the Unicode version difference between
 * Node and RE2. On 9,000 random patterns and the test corpus it is exact for every pattern
 * without such a class.
 */
import { EmptyWidthOp, FOLD, Re2Node, isEmptyWidth, parseRe2, NON_GREEDY, sameNode } from './re2-parse';
import { MAX_RUNE, RuneRange } from './re2-unicode';

/**
 * Counted on top of the model for each class made from Unicode data (`\p{..}`, or `(?i)` on
 * code points outside ASCII): 4 instructions and 15% of the class's own. Node's Unicode
 * version is not RE2's, and a version adds code points that split or join ranges: against
 * Debian's RE2 2022-06-01 (Unicode 14), Node 20 (Unicode 17) counts up to 7% fewer (Arabic).
 * Tenant patterns rarely have such a class.
 */
export const UNICODE_CLASS_MARGIN = { fixed: 4, share: 0.15 };

/** An upper bound of RE2's program size for a pattern RE2 accepts (throws if it cannot read it). */
export function estimateRe2ProgramSize(pattern: string): number {
  const parsed = parseRe2(pattern);
  const program = new Program();
  let sre = simplify(coalesce(withoutRequiredPrefix(parsed)));
  const start = stripAnchorStart(sre, 0);
  sre = start.node;
  sre = stripAnchorEnd(sre, 0).node;
  let all = program.compile(sre);
  all = program.cat(all, program.match());
  const anchoredStart = all.begin;
  if (!start.stripped) all = program.cat(program.star(program.byteRange(0x00, 0xff), true), all);
  if (anchoredStart === 0 && all.begin === 0) return 1;
  return program.flattenedSize(anchoredStart, all.begin) + program.unicodeMargin;
}

/**
 * RE2 matches the literal string after a leading `^` with a string compare and compiles the
 * rest (unanchored: RE2 of 2022 compiles `^abc` as the empty pattern).
 */
function withoutRequiredPrefix(node: Re2Node): Re2Node {
  if (node.op !== 'concat') return node;
  let i = 0;
  while (i < node.subs.length && node.subs[i].op === 'beginText') i++;
  if (i === 0 || i >= node.subs.length || node.subs[i].op !== 'literal') return node;
  const rest = node.subs.slice(i + 1);
  if (rest.length === 0) return { op: 'emptyMatch' };
  return rest.length === 1 ? rest[0] : { op: 'concat', subs: rest };
}

type Repetition = Extract<Re2Node, { op: 'star' | 'plus' | 'quest' | 'repeat' }>;
const isRepetition = (node: Re2Node): node is Repetition => node.op === 'star' || node.op === 'plus' || node.op === 'quest' || node.op === 'repeat';
const isSingle = (node: Re2Node) => (node.op === 'literal' && node.runes.length === 1) || node.op === 'class' || node.op === 'anyChar' || node.op === 'anyByte';

/** Whether RE2 joins the repetition `first` with the piece after it. */
function canCoalesce(first: Re2Node, next: Re2Node): boolean {
  if (!isRepetition(first) || !isSingle(first.sub)) return false;
  if (isRepetition(next) && sameNode(first.sub, next.sub) && (first.flags & NON_GREEDY) === (next.flags & NON_GREEDY)) return true;
  if (sameNode(first.sub, next)) return true;
  const sub = first.sub;
  return sub.op === 'literal' && next.op === 'literal' && next.runes.length > 1 && next.runes[0] === sub.runes[0] && (sub.flags & FOLD) === (next.flags & FOLD);
}

/** `[min, max]` of a repetition (max -1: unbounded). */
function bounds(node: Repetition): [number, number] {
  if (node.op === 'repeat') return [node.min, node.max];
  return node.op === 'star' ? [0, -1] : node.op === 'plus' ? [1, -1] : [0, 1];
}

/**
 * RE2's first simplification: in each concatenation, a repetition of a single piece joins
 * the same piece, a repetition of it, or the leading copies of it in a literal string that
 * follows; the joined repetition takes the second place and can join the next piece in turn.
 */
function coalesce(node: Re2Node): Re2Node {
  switch (node.op) {
    case 'alternate':
      return { op: node.op, subs: node.subs.map(coalesce) };
    case 'capture':
    case 'star':
    case 'plus':
    case 'quest':
    case 'repeat':
      return { ...node, sub: coalesce(node.sub) };
    case 'concat':
      break;
    default:
      return node;
  }
  const subs = node.subs.map(coalesce);
  if (!subs.some((sub, i) => i + 1 < subs.length && canCoalesce(sub, subs[i + 1]))) return { op: 'concat', subs };
  for (let i = 0; i + 1 < subs.length; i++) {
    const first = subs[i];
    const next = subs[i + 1];
    if (!isRepetition(first) || !canCoalesce(first, next)) continue;
    let [min, max] = bounds(first);
    let rest: Re2Node = { op: 'emptyMatch' };
    if (isRepetition(next)) {
      const [nextMin, nextMax] = bounds(next);
      min += nextMin;
      max = nextMax === -1 || max === -1 ? -1 : max + nextMax;
    } else if (next.op === 'literal' && next.runes.length > 1) {
      let n = 1;
      while (n < next.runes.length && next.runes[n] === next.runes[0]) n++;
      min += n;
      if (max !== -1) max += n;
      if (n < next.runes.length) rest = { ...next, runes: next.runes.slice(n) };
    } else {
      min++;
      if (max !== -1) max++;
    }
    const joined: Re2Node = { op: 'repeat', sub: first.sub, min, max, flags: first.flags };
    if (rest.op === 'emptyMatch') {
      subs[i] = rest;
      subs[i + 1] = joined;
    } else {
      subs[i] = joined;
      subs[i + 1] = rest;
    }
  }
  // RE2 then drops every empty piece of this concatenation.
  return { op: 'concat', subs: subs.filter((sub) => sub.op !== 'emptyMatch') };
}

function simplify(node: Re2Node): Re2Node {
  switch (node.op) {
    case 'concat':
    case 'alternate':
      return { op: node.op, subs: node.subs.map(simplify) };
    case 'capture':
      return { op: 'capture', sub: simplify(node.sub) };
    case 'star':
    case 'plus':
    case 'quest': {
      const sub = simplify(node.sub);
      if (sub.op === 'emptyMatch') return sub;
      if (sub.op === node.op && sub.flags === node.flags) return sub;
      return { op: node.op, sub, flags: node.flags };
    }
    case 'repeat':
      return expandRepeat(simplify(node.sub), node.min, node.max, node.flags);
    case 'class':
      if (node.ranges.length === 0) return { op: 'noMatch' };
      if (node.ranges.length === 1 && node.ranges[0][0] === 0 && node.ranges[0][1] === MAX_RUNE) return { op: 'anyChar' };
      return node;
    default:
      return node;
  }
}

/** `x{2,5}` is `xx(x(x(x)?)?)?`, `x{3,}` is `xxx+`, as RE2 expands them. */
function expandRepeat(sub: Re2Node, min: number, max: number, flags: number): Re2Node {
  if (sub.op === 'emptyMatch') return sub;
  if (max === -1) {
    if (min === 0) return { op: 'star', sub, flags };
    if (min === 1) return { op: 'plus', sub, flags };
    return { op: 'concat', subs: [...Array<Re2Node>(min - 1).fill(sub), { op: 'plus', sub, flags }] };
  }
  if (min === 0 && max === 0) return { op: 'emptyMatch' };
  if (min === 1 && max === 1) return sub;
  const subs: Re2Node[] = Array<Re2Node>(min).fill(sub);
  if (max > min) {
    let suffix: Re2Node = { op: 'quest', sub, flags };
    for (let i = min + 1; i < max; i++) suffix = { op: 'quest', sub: { op: 'concat', subs: [sub, suffix] }, flags };
    subs.push(suffix);
  }
  return subs.length === 1 ? subs[0] : { op: 'concat', subs };
}

/** RE2 turns a `^` that starts the pattern (through up to four concatenations or groups) into a flag. */
function stripAnchorStart(node: Re2Node, depth: number): { node: Re2Node; stripped: boolean } {
  if (depth >= 4) return { node, stripped: false };
  if (node.op === 'beginText') return { node: { op: 'emptyMatch' }, stripped: true };
  if (node.op === 'concat' && node.subs.length > 0) {
    const first = stripAnchorStart(node.subs[0], depth + 1);
    return first.stripped ? { node: { op: 'concat', subs: [first.node, ...node.subs.slice(1)] }, stripped: true } : { node, stripped: false };
  }
  if (node.op === 'capture') {
    const sub = stripAnchorStart(node.sub, depth + 1);
    return sub.stripped ? { node: { op: 'capture', sub: sub.node }, stripped: true } : { node, stripped: false };
  }
  return { node, stripped: false };
}

function stripAnchorEnd(node: Re2Node, depth: number): { node: Re2Node; stripped: boolean } {
  if (depth >= 4) return { node, stripped: false };
  if (node.op === 'endText') return { node: { op: 'emptyMatch' }, stripped: true };
  if (node.op === 'concat' && node.subs.length > 0) {
    const last = stripAnchorEnd(node.subs[node.subs.length - 1], depth + 1);
    return last.stripped ? { node: { op: 'concat', subs: [...node.subs.slice(0, -1), last.node] }, stripped: true } : { node, stripped: false };
  }
  if (node.op === 'capture') {
    const sub = stripAnchorEnd(node.sub, depth + 1);
    return sub.stripped ? { node: { op: 'capture', sub: sub.node }, stripped: true } : { node, stripped: false };
  }
  return { node, stripped: false };
}

type Opcode = 'fail' | 'match' | 'byte' | 'capture' | 'empty' | 'alt' | 'nop';

interface Inst {
  readonly op: Opcode;
  out: number;
  out1: number;
  /** A byte range's bytes, and whether it also matches the other case of ASCII letters. */
  lo: number;
  hi: number;
  fold: boolean;
}

/** A compiled piece: its first instruction (0: matches nothing), its unfilled exits. */
interface Frag {
  readonly begin: number;
  /** Exits to fill in: instruction id * 2, +1 for an alternation's second branch. */
  readonly holes: readonly number[];
  readonly nullable: boolean;
}

const NO_MATCH: Frag = { begin: 0, holes: [], nullable: false };
const isLeaf = (op: Opcode) => op === 'byte' || op === 'capture' || op === 'empty';

/** RE2's instructions for one pattern, built as its compiler builds them. */
class Program {
  /** Instruction 0 fails, as in RE2. */
  private readonly insts: Inst[] = [{ op: 'fail', out: 0, out1: 0, lo: 0, hi: 0, fold: false }];
  unicodeMargin = 0;

  private alloc(op: Opcode, out = 0, out1 = 0): number {
    this.insts.push({ op, out, out1, lo: 0, hi: 0, fold: false });
    return this.insts.length - 1;
  }

  private patch(holes: readonly number[], target: number): void {
    for (const hole of holes) {
      const inst = this.insts[hole >> 1];
      if (hole & 1) inst.out1 = target;
      else inst.out = target;
    }
  }

  private leaf(op: 'byte' | 'capture' | 'empty', nullable: boolean): Frag {
    const id = this.alloc(op);
    return { begin: id, holes: [id * 2], nullable };
  }

  byteRange(lo: number, hi: number): Frag {
    const frag = this.leaf('byte', false);
    Object.assign(this.insts[frag.begin], { lo, hi });
    return frag;
  }

  match(): Frag {
    return { begin: this.alloc('match'), holes: [], nullable: false };
  }

  private nop(): Frag {
    const id = this.alloc('nop');
    return { begin: id, holes: [id * 2], nullable: true };
  }

  cat(a: Frag, b: Frag): Frag {
    if (a.begin === 0 || b.begin === 0) return NO_MATCH;
    // A no-op first piece is dropped.
    if (this.insts[a.begin].op === 'nop' && a.holes.length === 1 && a.holes[0] === a.begin * 2) {
      this.patch(a.holes, b.begin);
      return b;
    }
    this.patch(a.holes, b.begin);
    return { begin: a.begin, holes: b.holes, nullable: a.nullable && b.nullable };
  }

  private alt(a: Frag, b: Frag): Frag {
    if (a.begin === 0) return b;
    if (b.begin === 0) return a;
    return { begin: this.alloc('alt', a.begin, b.begin), holes: [...a.holes, ...b.holes], nullable: a.nullable || b.nullable };
  }

  private quest(a: Frag, nonGreedy: boolean): Frag {
    if (a.begin === 0) return this.nop();
    const id = nonGreedy ? this.alloc('alt', 0, a.begin) : this.alloc('alt', a.begin, 0);
    return { begin: id, holes: [nonGreedy ? id * 2 : id * 2 + 1, ...a.holes], nullable: true };
  }

  /** `x+`: x, then an alternation back to x or on. */
  private plus(a: Frag, nonGreedy: boolean): Frag {
    const id = nonGreedy ? this.alloc('alt', 0, a.begin) : this.alloc('alt', a.begin, 0);
    this.patch(a.holes, id);
    return { begin: a.begin, holes: [nonGreedy ? id * 2 : id * 2 + 1], nullable: a.nullable };
  }

  /** `x*`: an alternation into x and on; `(x+)?` when x can match empty. */
  star(a: Frag, nonGreedy: boolean): Frag {
    if (a.nullable) return this.quest(this.plus(a, nonGreedy), nonGreedy);
    const id = nonGreedy ? this.alloc('alt', 0, a.begin) : this.alloc('alt', a.begin, 0);
    this.patch(a.holes, id);
    return { begin: id, holes: [nonGreedy ? id * 2 : id * 2 + 1], nullable: true };
  }

  private capture(a: Frag): Frag {
    if (a.begin === 0) return NO_MATCH;
    const open = this.alloc('capture', a.begin);
    const close = this.alloc('capture');
    this.patch(a.holes, close);
    return { begin: open, holes: [close * 2], nullable: a.nullable };
  }

  compile(node: Re2Node): Frag {
    switch (node.op) {
      case 'noMatch':
        return NO_MATCH;
      case 'emptyMatch':
        return this.nop();
      case 'literal': {
        let frag: Frag | undefined;
        for (const rune of node.runes) {
          const bytes = utf8(rune);
          let f = this.byteRange(bytes[0], bytes[0]);
          for (const byte of bytes.slice(1)) f = this.cat(f, this.byteRange(byte, byte));
          frag = frag ? this.cat(frag, f) : f;
        }
        return frag as Frag;
      }
      case 'class': {
        const before = this.insts.length;
        const frag = this.charClass(node.ranges);
        if (node.unicodeTables) this.unicodeMargin += UNICODE_CLASS_MARGIN.fixed + Math.ceil(UNICODE_CLASS_MARGIN.share * this.byteRangesFrom(frag.begin, before));
        return frag;
      }
      case 'anyChar':
        return this.charClass([[0, MAX_RUNE]]);
      case 'anyByte':
        return this.byteRange(0x00, 0xff);
      case 'concat': {
        const frags = node.subs.map((sub) => this.compile(sub));
        if (frags.length === 0) return this.nop();
        return frags.slice(1).reduce((f, next) => this.cat(f, next), frags[0]);
      }
      case 'alternate': {
        const frags = node.subs.map((sub) => this.compile(sub));
        return frags.slice(1).reduce((f, next) => this.alt(f, next), frags[0]);
      }
      case 'capture':
        return this.capture(this.compile(node.sub));
      case 'star':
        return this.star(this.compile(node.sub), (node.flags & NON_GREEDY) !== 0);
      case 'plus':
        return this.plus(this.compile(node.sub), (node.flags & NON_GREEDY) !== 0);
      case 'quest':
        return this.quest(this.compile(node.sub), (node.flags & NON_GREEDY) !== 0);
      case 'repeat':
        return this.compile(expandRepeat(node.sub, node.min, node.max, node.flags));
      default:
        if (isEmptyWidth(node)) return this.leaf('empty', true);
        throw new Error(`unexpected node ${(node as { op: EmptyWidthOp }).op}`);
    }
  }

  /**
   * A class, built as RE2 builds it: one byte range per ASCII range (none for A-Z when the
   * class has the same letters in both cases, whose a-z range then matches both), six for
   * all of 80-10FFFF, and otherwise a UTF-8 byte-range sequence per piece of the range
   * that shares its leading bytes (`utf8Sequences`). Each sequence is built from its last
   * byte back: the last byte, and a middle byte that is a range, reuse an identical
   * instruction (same bytes, same next) built earlier for this class. The sequences, in
   * order, form one alternation in which a sequence whose first byte range equals that of
   * the alternative before it merges into it, and so on down its bytes (a reused
   * instruction is copied before it is changed).
   */
  private charClass(ranges: readonly RuneRange[]): Frag {
    if (ranges.length === 0) return NO_MATCH;
    const has = (rune: number) => ranges.some(([lo, hi]) => lo <= rune && rune <= hi);
    let foldsAscii = true;
    for (let c = 0x41; c <= 0x5a; c++) if (has(c) !== has(c + 0x20)) foldsAscii = false;
    const built = new Map<string, number>();
    const holes: number[] = [];
    const key = (lo: number, hi: number, fold: boolean, next: number) => `${lo}-${hi}-${fold}-${next}`;
    const byte = (lo: number, hi: number, fold: boolean, next: number, reuse: boolean): number => {
      const k = key(lo, hi, fold, next);
      const existing = reuse ? built.get(k) : undefined;
      if (existing !== undefined) return existing;
      const id = this.alloc('byte', next);
      Object.assign(this.insts[id], { lo, hi, fold });
      if (next === 0) holes.push(id * 2);
      if (reuse) built.set(k, id);
      return id;
    };
    const isReused = (id: number) => {
      const inst = this.insts[id];
      return built.has(key(inst.lo, inst.hi, inst.fold, inst.out));
    };
    const sameBytes = (a: number, b: number) => {
      const x = this.insts[a];
      const y = this.insts[b];
      return x.op === 'byte' && y.op === 'byte' && x.lo === y.lo && x.hi === y.hi && x.fold === y.fold;
    };
    const merge = (root: number, id: number): number => {
      let match: number | undefined;
      let repoint: (to: number) => void = () => undefined;
      if (sameBytes(root, id)) {
        match = root;
        repoint = (to) => (root = to);
      } else if (this.insts[root].op === 'alt' && sameBytes(this.insts[root].out1, id)) {
        match = this.insts[root].out1;
        const alt = root;
        repoint = (to) => (this.insts[alt].out1 = to);
      }
      if (match === undefined) return this.alloc('alt', root, id);
      if (isReused(match)) {
        const original = this.insts[match];
        const copy = this.alloc('byte', original.out);
        Object.assign(this.insts[copy], { lo: original.lo, hi: original.hi, fold: original.fold });
        repoint(copy);
        match = copy;
      }
      this.insts[match].out = merge(this.insts[match].out, this.insts[id].out);
      return root;
    };
    let begin = 0;
    const add = (id: number) => {
      begin = begin === 0 ? id : merge(begin, id);
    };
    for (const [lo, hi] of ranges) {
      if (foldsAscii && lo >= 0x41 && hi <= 0x5a) continue;
      const fold = foldsAscii && !(lo <= 0x41 && 0x7a <= hi) && !(hi < 0x41) && !(0x7a < lo) && !(0x5a < lo && hi < 0x61);
      if (lo <= 0x7f) add(byte(lo, Math.min(hi, 0x7f), fold, 0, false));
      const from = Math.max(lo, 0x80);
      if (from > hi) continue;
      if (from === 0x80 && hi === MAX_RUNE) {
        // All of 80-10FFFF: lead bytes C2-DF, E0-EF, F0-F4 sharing their continuation bytes.
        const cont1 = byte(0x80, 0xbf, false, 0, false);
        add(byte(0xc2, 0xdf, false, cont1, false));
        const cont2 = byte(0x80, 0xbf, false, cont1, false);
        add(byte(0xe0, 0xef, false, cont2, false));
        const cont3 = byte(0x80, 0xbf, false, cont2, false);
        add(byte(0xf0, 0xf4, false, cont3, false));
        continue;
      }
      for (const sequence of utf8Sequences(from, hi)) {
        let next = 0;
        for (let i = sequence.length - 1; i >= 0; i--) {
          const [blo, bhi] = sequence[i];
          next = byte(blo, bhi, fold, next, i === sequence.length - 1 || (i > 0 && blo < bhi));
        }
        add(next);
      }
    }
    return { begin, holes, nullable: false };
  }

  /** The byte ranges reachable from `begin` among the instructions from id `first` on. */
  private byteRangesFrom(begin: number, first: number): number {
    const seen = new Set<number>();
    const todo = [begin];
    while (todo.length > 0) {
      const id = todo.pop() as number;
      if (id < first || seen.has(id)) continue;
      seen.add(id);
      const inst = this.insts[id];
      todo.push(inst.out);
      if (inst.op === 'alt') todo.push(inst.out1);
    }
    return [...seen].filter((id) => this.insts[id].op === 'byte').length;
  }

  /**
   * The instruction count after RE2 flattens the program: the lists that start at the
   * fail instruction, the two starts, each instruction a byte range, capture or assertion
   * leads to, and each instruction two lists reach through alternations; a list holds the
   * instructions it reaches through alternations and no-ops, and one jump per other
   * list's start it reaches that way.
   */
  flattenedSize(start: number, startUnanchored: number): number {
    const insts = this.insts;
    // RE2 first bypasses no-ops (from the anchored start).
    const skip = (id: number) => {
      while (id !== 0 && insts[id].op === 'nop') id = insts[id].out;
      return id;
    };
    const seen = new Set<number>();
    const queue = [start];
    while (queue.length > 0) {
      const id = queue.pop() as number;
      if (seen.has(id)) continue;
      seen.add(id);
      const inst = insts[id];
      if (inst.op === 'match' || inst.op === 'fail') continue;
      inst.out = skip(inst.out);
      queue.push(inst.out);
      if (inst.op === 'alt') {
        inst.out1 = skip(inst.out1);
        queue.push(inst.out1);
      }
    }
    // An alternation between a loop over any byte (`\C*`) and the match (perhaps through
    // captures) becomes one more instruction that tells the matcher it can stop; it stays
    // in its list.
    const anyByteLoop = (id: number, alt: number) => insts[id].op === 'byte' && insts[id].lo === 0x00 && insts[id].hi === 0xff && insts[id].out === alt;
    const isMatch = (id: number): boolean => {
      while (insts[id].op === 'capture' || insts[id].op === 'nop') id = insts[id].out;
      return insts[id].op === 'match';
    };
    const altMatches = new Set(
      [...seen].filter((id) => {
        const inst = insts[id];
        if (inst.op !== 'alt') return false;
        return (anyByteLoop(inst.out, id) && isMatch(inst.out1)) || (isMatch(inst.out) && anyByteLoop(inst.out1, id));
      }),
    );

    // Roots: fail, the starts, what follows each byte range, capture and assertion.
    const roots = new Set<number>([0, startUnanchored, start]);
    const predecessors = new Map<number, number[]>();
    const reachable = new Set<number>();
    const stack = [startUnanchored];
    while (stack.length > 0) {
      const id = stack.pop() as number;
      if (reachable.has(id)) continue;
      reachable.add(id);
      const inst = insts[id];
      if (inst.op === 'alt') {
        for (const out of [inst.out, inst.out1]) {
          const list = predecessors.get(out);
          if (list) list.push(id);
          else predecessors.set(out, [id]);
        }
        stack.push(inst.out1, inst.out);
      } else if (isLeaf(inst.op)) {
        roots.add(inst.out);
        stack.push(inst.out);
      } else if (inst.op === 'nop') {
        stack.push(inst.out);
      }
    }

    /** What a list starting at `root` reaches through alternations and no-ops, stopping at other roots. */
    const region = (root: number): Set<number> => {
      const found = new Set<number>();
      const todo = [root];
      while (todo.length > 0) {
        const id = todo.pop() as number;
        if (found.has(id)) continue;
        found.add(id);
        if (id !== root && roots.has(id)) continue;
        const inst = insts[id];
        if (inst.op === 'alt') todo.push(inst.out1, inst.out);
        else if (inst.op === 'nop') todo.push(inst.out);
      }
      return found;
    };

    // An instruction that a list reaches but that has a predecessor outside it starts its
    // own list (RE2 checks the roots from the highest id down, leaving out fail and the starts).
    const candidates = [...roots].sort((a, b) => b - a).filter((id) => id !== 0 && id !== start && id !== startUnanchored);
    for (const root of candidates) {
      const found = region(root);
      for (const id of found) {
        if ((predecessors.get(id) ?? []).some((pred) => !found.has(pred))) roots.add(id);
      }
    }

    let size = 0;
    for (const root of roots) {
      for (const id of region(root)) {
        const op = insts[id].op;
        if (id !== root && roots.has(id)) size++; // a jump to that list
        else if (op !== 'alt' && op !== 'nop') size++;
        else if (altMatches.has(id)) size++;
      }
    }
    return size;
  }
}

/** UTF-8 bytes of a code point, surrogates included (RE2 encodes them like any other). */
function utf8(rune: number): number[] {
  if (rune < 0x80) return [rune];
  if (rune < 0x800) return [0xc0 | (rune >> 6), 0x80 | (rune & 0x3f)];
  if (rune < 0x10000) return [0xe0 | (rune >> 12), 0x80 | ((rune >> 6) & 0x3f), 0x80 | (rune & 0x3f)];
  return [0xf0 | (rune >> 18), 0x80 | ((rune >> 12) & 0x3f), 0x80 | ((rune >> 6) & 0x3f), 0x80 | (rune & 0x3f)];
}

/**
 * A range of code points (all 80 or above) as UTF-8 byte-range sequences: split where the
 * encoded length changes, then until each sequence's bytes vary only in ranges.
 */
function utf8Sequences(lo: number, hi: number): RuneRange[][] {
  if (lo > hi) return [];
  for (const max of [0x7ff, 0xffff]) {
    if (lo <= max && max < hi) return [...utf8Sequences(lo, max), ...utf8Sequences(max + 1, hi)];
  }
  for (let i = 1; i < 4; i++) {
    const m = (1 << (6 * i)) - 1;
    if ((lo & ~m) !== (hi & ~m)) {
      if ((lo & m) !== 0) return [...utf8Sequences(lo, lo | m), ...utf8Sequences((lo | m) + 1, hi)];
      if ((hi & m) !== m) return [...utf8Sequences(lo, (hi & ~m) - 1), ...utf8Sequences(hi & ~m, hi)];
    }
  }
  const a = utf8(lo);
  const b = utf8(hi);
  return [a.map((byte, i) => [byte, b[i]] as RuneRange)];
}
