/**
 * The two questions Envoy asks of a `safe_regex` (`Regex::CompiledGoogleReMatcher`):
 * - is it RE2 syntax? Answered by RE2 itself: Google's RE2 compiled to WebAssembly, from
 *   the npm package `@adguard/re2-wasm` (README, dependency table), with RE2's default
 *   options as Envoy compiles (UTF-8, case-sensitive, `.` without newline), and RE2's own
 *   error message otherwise;
 * - how large is its RE2 program (`RE2::ProgramSize()`, which Envoy compares with
 *   `re2.max_program_size.error_level`, default 100)? No package exposes that number, so
 *   it is estimated from above (`re2-program-size.ts`): never under RE2's, and exact for
 *   patterns without Unicode classes in the test corpus (test/model/re2-oracle.test.ts).
 */
import { WrappedRE2 as PackagedRE2 } from '@adguard/re2-wasm/build/wasm/re2';
import { angleNamedGroups } from './re2-parse';
import { estimateRe2ProgramSize } from './re2-program-size';

export type Re2Result =
  /** `programSize`: an upper bound of RE2's `ProgramSize()` for the pattern. */
  | { readonly ok: true; readonly programSize: number }
  | { readonly ok: false; readonly error: string };

/** The package's compiled pattern; it lives in the WebAssembly heap until deleted. */
interface CompiledPattern {
  ok(): boolean;
  error(): string;
  delete(): void;
}

/** RE2's error for `pattern` compiled with RE2's default options, or undefined if it compiles. */
export function re2SyntaxError(pattern: string): string | undefined {
  // No flags: not case-insensitive, not multi-line, `.` does not match a newline;
  // 0: RE2's default memory budget (the one Envoy's compile has).
  const compiled = new PackagedRE2(pattern, false, false, false, 0) as unknown as CompiledPattern;
  try {
    return compiled.ok() ? undefined : compiled.error();
  } finally {
    compiled.delete();
  }
}

/**
 * `pattern` with `(?<name>` written `(?P<name>`: Envoy 1.39's RE2 (2024-07-02) reads both,
 * the package's RE2 only the second. The offsets come from our parser, so a `(?<` inside a
 * class or after a backslash is left alone.
 */
function withPythonNamedGroups(pattern: string): string {
  const offsets = new Set(angleNamedGroups(pattern));
  if (offsets.size === 0) return pattern;
  return Array.from(pattern, (c, i) => (offsets.has(i) ? '?P' : c)).join('');
}

/** Whether RE2 (as Envoy runs it) accepts `pattern` and, if it does, an upper bound of its program size. */
export function re2ProgramSize(pattern: string): Re2Result {
  if (/[\uD800-\uDFFF]/u.test(pattern)) return { ok: false, error: 'the pattern is not valid UTF-8 text (a lone surrogate)' };
  const asked = withPythonNamedGroups(pattern);
  const error = re2SyntaxError(asked);
  // RE2 quotes the pattern: quote what the tenant wrote.
  if (error !== undefined) return { ok: false, error: asked === pattern ? error : error.split('(?P<').join('(?<') };
  try {
    return { ok: true, programSize: estimateRe2ProgramSize(pattern) };
  } catch (failure) {
    // RE2 accepts it but the estimator cannot read it: refuse rather than guess.
    return { ok: false, error: `its program size cannot be estimated (${(failure as Error).message}); please report this pattern` };
  }
}
