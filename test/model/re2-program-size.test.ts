/**
 * The RE2 program-size estimator (lib/model/re2-program-size.ts) without the oracle. Each
 * expected value was worked out by hand from how RE2 compiles and flattens a program (the
 * counts in the comments), then confirmed with Debian's RE2 2022-06-01 (libre2-dev
 * 20220601+dfsg-1+b1, `RE2::ProgramSize()`); re2-oracle.test.ts checks the same against
 * the real library over a large corpus when it is installed.
 *
 * Counting: 1 fail instruction; for an unanchored pattern 2 for the `.*?` loop (a jump to
 * the start and the any-byte instruction); 1 match; then one per byte range, capture or
 * assertion, and one jump in a list for each other list it reaches through alternations.
 */
import { estimateRe2ProgramSize, UNICODE_CLASS_MARGIN } from '../../lib/model/re2-program-size';

describe('what RE2 counts', () => {
  test.each([
    ['a', 5, 'fail, [a], [match], the .*? loop (2)'],
    ['', 4, 'fail, [match], the loop'],
    ['^', 2, 'anchored: fail, [match]'],
    ['a$', 5, 'a trailing $ is a flag of the program'],
    ['(a)', 7, 'two capture instructions'],
    ['a?b', 7, '[a, jump to b], [b]'],
    ['a*b', 6, 'the loop head lists [a, b]'],
    ['é', 6, 'two bytes C3 A9'],
    ['\\x{10FFFF}', 8, 'four bytes'],
    ['.*', 12, '. is 00-09, 0B-7F and six instructions for every multi-byte sequence'],
    ['(?s).', 11, 'any character: 00-7F and the six'],
    ['[^/]', 12, '00-2E, 30-7F and the six'],
    ['\\w', 7, '0-9, _, a-z also matching A-Z (the class has both cases of every letter)'],
    ['(?i)k', 8, 'k, K and U+212A KELVIN SIGN (three bytes)'],
    ['(?i)s', 7, 's, S and U+017F LONG S (two bytes)'],
    ['(?:a|b)c', 6, 'a|b is the class [ab]'],
    ['abc|abd|aef', 9, 'factored: a(?:b[cd]|ef)'],
    ['a{1000}', 1004, 'counted repetitions are copies'],
    ['a{0,5}', 14, 'x{0,5} is (x(x(x(x(x)?)?)?)?)?'],
  ])('%s: %d (%s)', (pattern, size) => {
    expect(estimateRe2ProgramSize(pattern)).toBe(size);
  });
});

describe("RE2's rewrites and quirks that change the count", () => {
  test.each([
    ['^/health(z)?$', 8, 'the literal after ^ is compared as a string; (z)? and the unanchored loop remain'],
    ['(?i)^/ADMIN', 4, 'the whole pattern is a case-folded literal after ^: nothing left but the loop'],
    ['^/api/v[0-9]+/users/[a-z0-9-]+$', 17, '/api/v is compared as a string'],
    ['^*', 9, 'a repeated assertion can match empty: (^+)?, and its pieces get lists of their own'],
    ['\\C+', 7, 'a loop over any byte before the match is one more instruction'],
    ['(\\C+)', 9, '... also through captures'],
    ['(?:s|k(?:|))', 7, 'an alternation of two empties stays an alternation in RE2 of 2022'],
    ['(?:|()b+b)', 11, 'b+b is joined into b{2,}, that is bb+, which costs one more here'],
    ['(?:[a-z]|[Aa])', 5, 'RE2 adds no other case for a folded literal the class already holds'],
    ['(?:ab$|ab\\z)', 8, '$ and \\z are not factored together'],
    ['(?:(?s:.)|.)', 11, '(?s). swallows a neighbouring one-character alternative'],
    ['[\\x{1df}\\x{1fc}\\x{248}\\x{27c}]', 11, 'a shared last byte (BC) reached from two lists is its own list'],
  ])('%s: %d (%s)', (pattern, size) => {
    expect(estimateRe2ProgramSize(pattern)).toBe(size);
  });
});

test("the route regex Envoy refused with 'RE2 program size of 106 > max program size of 100'", () => {
  // /user/ is compared as a string; the alternatives share version/.
  const pattern = '^/user/(488/sms|h5/getJwt|captcha|version/getAIDrawTemplate|version/isMainLand|version/promotionTemplate|version/activityTemplate2).*';
  expect(estimateRe2ProgramSize(pattern)).toBe(106);
});

test('a class from Unicode data gets its margin on top (RE2 2022-06-01 counts 66 for \\p{Greek})', () => {
  const greek = estimateRe2ProgramSize('\\p{Greek}');
  expect(greek).toBeGreaterThanOrEqual(66 + UNICODE_CLASS_MARGIN.fixed);
  expect(greek).toBeLessThanOrEqual(Math.ceil(66 * (1 + UNICODE_CLASS_MARGIN.share)) + UNICODE_CLASS_MARGIN.fixed + 5);
});

test('a pattern it cannot read throws (the caller then refuses the regex)', () => {
  expect(() => estimateRe2ProgramSize('\\p{NoSuchScript}')).toThrow(/unknown Unicode class/);
});
