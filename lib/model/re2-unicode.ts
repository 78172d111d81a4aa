/**
 * The Unicode facts RE2 needs to compile a pattern, taken from the JavaScript engine's own
 * Unicode data (property escapes and case mappings), for the program-size estimator
 * (`re2-program-size.ts`):
 * - the code points of `\pL`, `\p{Greek}` and the other classes RE2 names (its general
 *   categories and scripts, and `Any`);
 * - the case-folding orbit of a code point, which RE2 matches for `(?i)`: the code points
 *   that simple case folding (Unicode CaseFolding.txt, statuses C and S) maps to the same
 *   code point, such as `k`, `K` and U+212A KELVIN SIGN.
 *
 * Node's Unicode version is newer than the one in a given RE2 release, so a class can hold
 * a few more code points here than in RE2; the estimator allows for that (see
 * `UNICODE_CLASS_MARGIN` there).
 */

/** An inclusive range of code points. */
export type RuneRange = readonly [number, number];

export const MAX_RUNE = 0x10ffff;

/** RE2's one- and two-letter general categories (`C` is Cc, Cf, Co and Cs: RE2 has no Cn). */
const CATEGORIES = new Set([
  'C', 'Cc', 'Cf', 'Co', 'Cs',
  'L', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu',
  'M', 'Mc', 'Me', 'Mn',
  'N', 'Nd', 'Nl', 'No',
  'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps',
  'S', 'Sc', 'Sk', 'Sm', 'So',
  'Z', 'Zl', 'Zp', 'Zs',
]);

const classCache = new Map<string, RuneRange[]>();
let everyCodePoint: string | undefined;

/** Every code point but the surrogates, in order (the text the property escapes scan). */
function allCodePoints(): string {
  if (everyCodePoint === undefined) {
    const parts: string[] = [];
    for (let start = 0; start <= MAX_RUNE; start += 0x1000) {
      const chunk: number[] = [];
      for (let cp = start; cp < start + 0x1000 && cp <= MAX_RUNE; cp++) if (cp < 0xd800 || cp > 0xdfff) chunk.push(cp);
      parts.push(String.fromCodePoint(...chunk));
    }
    everyCodePoint = parts.join('');
  }
  return everyCodePoint;
}

/** The runs of code points a property escape matches. */
function rangesOf(escape: string): RuneRange[] {
  const ranges: RuneRange[] = [];
  for (const [run] of allCodePoints().matchAll(new RegExp(`${escape}+`, 'gu'))) {
    const first = run.codePointAt(0) as number;
    const lastUnit = run.charCodeAt(run.length - 1);
    const last = run.codePointAt(lastUnit >= 0xdc00 && lastUnit <= 0xdfff ? run.length - 2 : run.length - 1) as number;
    // The text has no surrogates, so a run across them is two ranges.
    if (first < 0xd800 && last > 0xdfff) ranges.push([first, 0xd7ff], [0xe000, last]);
    else ranges.push([first, last]);
  }
  return ranges;
}

/**
 * The code points of `\p{name}` as RE2 spells names (`L`, `Lu`, `Greek`, `Any`), or
 * undefined when the JavaScript engine does not know the name.
 */
export function unicodeClass(name: string): RuneRange[] | undefined {
  const cached = classCache.get(name);
  if (cached) return cached;
  let ranges: RuneRange[];
  if (name === 'Any') ranges = [[0, MAX_RUNE]];
  else if (name === 'Cs') ranges = [[0xd800, 0xdfff]];
  else if (name === 'C') ranges = normalize([...rangesOf('[\\p{Cc}\\p{Cf}\\p{Co}]'), [0xd800, 0xdfff]]);
  else {
    const escape = CATEGORIES.has(name) ? `\\p{${name}}` : `\\p{Script=${name}}`;
    try {
      ranges = rangesOf(escape);
    } catch {
      return undefined;
    }
  }
  classCache.set(name, ranges);
  return ranges;
}

/** Sorted, disjoint, non-adjacent ranges. */
export function normalize(ranges: readonly RuneRange[]): RuneRange[] {
  const sorted = [...ranges].filter(([lo, hi]) => lo <= hi).sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** The complement of normalized ranges within 0..10FFFF. */
export function negate(ranges: readonly RuneRange[]): RuneRange[] {
  const out: [number, number][] = [];
  let next = 0;
  for (const [lo, hi] of normalize(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}

export function contains(ranges: readonly RuneRange[], rune: number): boolean {
  return ranges.some(([lo, hi]) => lo <= rune && rune <= hi);
}

let orbits: Map<number, readonly number[]> | undefined;

/**
 * Every code point that has a case-folding orbit of two or more, with its orbit. Built once:
 * the single-code-point upper- and lower-case mappings link candidates, and the engine's
 * case-insensitive Unicode matching (which is simple case folding) keeps only the code
 * points that fold together.
 */
function foldOrbits(): Map<number, readonly number[]> {
  if (orbits) return orbits;
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let root = x;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root) as number;
    return root;
  };
  const union = (a: number, b: number) => {
    const ra = find(a);
    const rb = find(b);
    if (!parent.has(ra)) parent.set(ra, ra);
    if (!parent.has(rb)) parent.set(rb, rb);
    if (ra !== rb) parent.set(ra, rb);
  };
  // Every cased script is in planes 0 and 1.
  for (let cp = 0; cp < 0x20000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const text = String.fromCodePoint(cp);
    for (const mapped of [text.toLowerCase(), text.toUpperCase()]) {
      const other = mapped.codePointAt(0) as number;
      if (mapped.length === String.fromCodePoint(other).length && other !== cp) union(cp, other);
    }
  }
  const groups = new Map<number, number[]>();
  for (const cp of parent.keys()) {
    const root = find(cp);
    const group = groups.get(root) ?? [];
    group.push(cp);
    groups.set(root, group);
  }
  orbits = new Map();
  for (const group of groups.values()) {
    let rest = group.sort((a, b) => a - b);
    while (rest.length > 0) {
      const matcher = new RegExp(`^\\u{${rest[0].toString(16)}}$`, 'iu');
      const orbit = rest.filter((cp) => matcher.test(String.fromCodePoint(cp)));
      rest = rest.filter((cp) => !orbit.includes(cp));
      if (orbit.length > 1) for (const cp of orbit) orbits.set(cp, orbit);
    }
  }
  return orbits;
}

/** The code points `(?i)` matches for `rune` (itself included), in order. */
export function foldOrbit(rune: number): readonly number[] {
  return foldOrbits().get(rune) ?? [rune];
}

/** `ranges` with every code point's case-folding orbit added (RE2's `(?i)` on a class). */
export function addFolds(ranges: readonly RuneRange[]): RuneRange[] {
  const added: RuneRange[] = [...ranges];
  for (const [cp, orbit] of foldOrbits()) {
    if (contains(ranges, cp)) for (const other of orbit) added.push([other, other]);
  }
  return normalize(added);
}

/**
 * Adds lo-hi to a class being built with `(?i)`, as RE2 does: a range that one range of the
 * class already holds adds nothing, not even its other cases (so RE2's `(?:[a-z]|[Aa])` does
 * not match `A`); any other adds itself and its case-folding orbits.
 */
export function addFoldedRange(ranges: readonly RuneRange[], lo: number, hi: number): RuneRange[] {
  if (ranges.some(([a, b]) => a <= lo && hi <= b)) return [...ranges];
  return normalize([...ranges, ...addFolds([[lo, hi]])]);
}
