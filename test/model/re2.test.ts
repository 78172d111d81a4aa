/**
 * lib/model/re2.ts: RE2's own syntax check (the `@adguard/re2-wasm` package: RE2 compiled to
 * WebAssembly) and the program-size estimate together, as the broker uses them. The
 * package's answers are checked against Debian's RE2 in re2-oracle.test.ts; here, what the
 * rest of the code relies on without the oracle.
 */
import { re2ProgramSize, re2SyntaxError } from '../../lib/model/re2';

test("syntax errors carry RE2's own message", () => {
  expect(re2ProgramSize('(')).toEqual({ ok: false, error: 'missing ): (' });
  expect(re2ProgramSize('a{1001}')).toEqual({ ok: false, error: 'invalid repetition size: {1001}' });
  expect(re2ProgramSize('(?=x)')).toEqual({ ok: false, error: 'invalid perl operator: (?=' });
  expect(re2ProgramSize('\\1')).toEqual({ ok: false, error: 'invalid escape sequence: \\1' });
  expect(re2ProgramSize('\ud800')).toMatchObject({ ok: false, error: expect.stringContaining('not valid UTF-8') });
});

test('RE2 syntax, not JavaScript syntax: no \\u escapes, \\C and \\Q..\\E are RE2', () => {
  expect(re2SyntaxError('\\u0041')).toBe('invalid escape sequence: \\u');
  expect(re2SyntaxError('\\cA')).toBe('invalid escape sequence: \\c');
  expect(re2SyntaxError('\\C')).toBeUndefined();
  expect(re2SyntaxError('\\Q.*\\E')).toBeUndefined();
  expect(re2SyntaxError('(?P<tenant>[a-z]+)')).toBeUndefined();
});

test('a valid pattern gets an upper bound of its program size', () => {
  // Confirmed with Debian's RE2 2022-06-01: 17 and 106.
  expect(re2ProgramSize('^/api/v[0-9]+/users/[a-z0-9-]+$')).toEqual({ ok: true, programSize: 17 });
  expect(re2ProgramSize('^/user/(488/sms|h5/getJwt|captcha|version/getAIDrawTemplate|version/isMainLand|version/promotionTemplate|version/activityTemplate2).*')).toEqual({ ok: true, programSize: 106 });
});

test('hostile patterns get an answer (RE2 refuses nested counts over 1000 and programs over its memory budget) and the engine stays usable', () => {
  expect(re2ProgramSize('((a{100}){100}){100}')).toEqual({ ok: false, error: 'invalid repetition size: {100}' });
  expect(re2ProgramSize('\\pL{1000}')).toEqual({ ok: false, error: 'pattern too large - compile failed' });
  for (const pattern of [`${'('.repeat(500)}${')'.repeat(500)}`, `${'a|'.repeat(500)}a`, `[${'\\x{10FFFF}-'.repeat(50)}]`, 'x'.repeat(1024), 'a\u0000b']) {
    expect(re2ProgramSize(pattern)).toEqual(expect.objectContaining({ ok: true, programSize: expect.any(Number) }));
  }
  expect(re2ProgramSize('^/ok$')).toEqual({ ok: true, programSize: 4 });
});

test("named groups written (?<name>..) are accepted, as Envoy's RE2 (2024-07-02) accepts them; lookbehinds are not", () => {
  expect(re2SyntaxError('(?<tenant>[a-z]+)')).toBe('invalid perl operator: (?<'); // the package's RE2 alone predates them
  expect(re2ProgramSize('^/v1/(?<tenant>[a-z]+)/items$')).toEqual(re2ProgramSize('^/v1/(?P<tenant>[a-z]+)/items$'));
  expect(re2ProgramSize('(?<tenant>[a-z]+)')).toMatchObject({ ok: true });
  expect(re2ProgramSize('(?<=x)a')).toEqual({ ok: false, error: 'invalid perl operator: (?<' });
  expect(re2ProgramSize('(?<1a>x)')).toMatchObject({ ok: true });
  expect(re2ProgramSize('(?<a-b>x)')).toEqual({ ok: false, error: 'invalid named capture group: (?<a-b>' });
  // Not a group: a class, and an escaped parenthesis made optional.
  expect(re2ProgramSize('[(?<a>]')).toMatchObject({ ok: true });
  expect(re2ProgramSize('\\(?<a>')).toMatchObject({ ok: true });
});
