/**
 * The hostname rules of lib/model/hostnames.ts: syntax in words (issue 12 item 5), the
 * platform's names, deeper names, wildcards and public suffixes (item 3), and the
 * coverage rules the claims use.
 */
import fc from 'fast-check';
import {
  HOSTNAME_PATTERN,
  checkServiceParameters,
  coveringWildcards,
  covers,
  customNames,
  explainHostnameProblems,
  hostnameRuleProblem,
  hostnameSyntaxProblem,
  isPublicSuffix,
  registrableDomain,
  reversedName,
  shownHostname,
} from '../../lib/model';

const PLATFORM = { domain: 'edge.example.com', regions: ['us-east-1', 'eu-west-1'] };

describe('syntax, in words', () => {
  test.each([
    ['Shop.Example.com', 'has upper-case letters: use lowercase (shop.example.com)'],
    ['shop.example.com.', 'ends with a dot: drop the trailing dot (shop.example.com)'],
    ['shop_1.example.com', 'has a label ("shop_1") with "_": labels are lowercase letters, digits and hyphens, 63 characters at most'],
    [`${'a'.repeat(64)}.example.com`, 'of 64 characters: labels are lowercase letters, digits and hyphens, 63 characters at most'],
    ['-shop.example.com', 'starts or ends with a hyphen'],
    ['shop-.example.com', 'starts or ends with a hyphen'],
    ['shop..example.com', 'has an empty label'],
    ['.example.com', 'has an empty label'],
    ['localhost', 'has one label'],
    ['10.0.0.1', 'is an IP address'],
    ['shop.example.com:443', 'is an IP address or has a port'],
    ['bücher.example.com', 'punycode form (xn--...)'],
    ['shop example.com', 'contains a space'],
    ['shop.*.example.com', 'a wildcard is written *.example.com'],
    ['*shop.example.com', 'a wildcard is written *.example.com'],
    ['shop.example.1com', 'does not start with a letter'],
    ['', 'is empty'],
    [`${'a.'.repeat(130)}com`, 'characters long; a hostname has at most 253'],
  ])('%s: %s', (name, words) => {
    expect(hostnameSyntaxProblem(name)).toContain(words);
  });

  test.each(['shop.example.com', '*.example.org', 'xn--bcher-kva.example.com', 'a.b.c.d.example.co.uk', 'shop.xn--p1ai', '1shop.example.com'])('%s is well formed', (name) => {
    expect(hostnameSyntaxProblem(name)).toBeUndefined();
  });

  test('the published pattern and the rules in words agree on every name (fuzzed)', () => {
    const pattern = new RegExp(HOSTNAME_PATTERN);
    const label = fc.string({ unit: fc.constantFrom(...'ab9-_*A.'.split('')), minLength: 0, maxLength: 8 });
    const name = fc.oneof(
      fc.array(label, { minLength: 1, maxLength: 5 }).map((labels) => labels.join('.')),
      fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => `*.${labels.join('.')}`),
      fc.string({ maxLength: 20 }),
      fc.constantFrom(`${'a'.repeat(63)}.com`, `${'a'.repeat(64)}.com`, '*.com', '*.a.com', '*', '*.', 'a.*'),
    );
    fc.assert(
      fc.property(name, (candidate) => {
        expect([candidate, pattern.test(candidate)]).toEqual([candidate, hostnameSyntaxProblem(candidate) === undefined]);
      }),
      { seed: 12, numRuns: 3000 },
    );
  });

  test("the schema's answer is replaced by the words, naming the field", () => {
    const input = { hostnames: ['ok.example.com', 'Not A Host', 'UPPER.example.com'], backends: [{ address: '10.0.0.1', port: 80, protocol: 'http' }] };
    const check = explainHostnameProblems(checkServiceParameters(input, { regions: ['us-east-1'], mode: 'create' }), input);
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.description).toBe(
      'Invalid parameters: hostnames[1]: "Not A Host" contains a space or a control character; hostnames[2]: "UPPER.example.com" has upper-case letters: use lowercase (upper.example.com)',
    );
    expect(check.description).not.toMatch(/pattern|\^/);
  });
});

describe('the platform, deeper names, wildcards, public suffixes', () => {
  test.each([
    ['edge.example.com', 'is reserved for the platform (the platform domain itself)'],
    ['eu-west-1.edge.example.com', 'is reserved for the platform (eu-west-1.edge.example.com is the eu-west-1 edge)'],
    ['api.eu-west-1.edge.example.com', 'is reserved for the platform'],
    ['internal.edge.example.com', "is reserved for the platform (the control planes' private names"],
    ['xds.us-east-1.internal.edge.example.com', 'is reserved for the platform'],
    ['*.internal.edge.example.com', 'is reserved for the platform'],
    ['api.shop.edge.example.com', 'is 2 labels below edge.example.com; the edge certificate (*.edge.example.com) covers one label only: use one label (api-shop.edge.example.com)'],
    ['*.edge.example.com', 'a wildcard at or above the platform domain edge.example.com'],
    ['*.example.com', 'a wildcard at or above the platform domain edge.example.com'],
    ['*.com', 'a wildcard at or above the platform domain'],
    ['*.team-a.edge.example.com', 'is a wildcard under edge.example.com: the edge certificate (*.edge.example.com) covers one label only'],
    ['*.co.uk', 'would cover every name under the public suffix co.uk'],
    ['*.github.io', 'would cover every name under the public suffix github.io'],
    ['*.org', 'would cover every name under the public suffix org'],
    ['co.uk', 'is a public suffix'],
    ['github.io', 'is a public suffix'],
  ])('%s: %s', (name, words) => {
    expect(hostnameRuleProblem(name, PLATFORM)).toContain(words);
  });

  test.each(['shop.edge.example.com', 'shop.example.org', '*.example.org', '*.team-a.example.org', 'example.com', 'www.example.com', 'me.github.io', '*.me.github.io', 'example.co.uk'])('%s is allowed', (name) => {
    expect(hostnameRuleProblem(name, PLATFORM)).toBeUndefined();
  });

  test('custom names are those outside the platform domain', () => {
    expect(customNames(['shop.edge.example.com', 'shop.example.org', '*.example.net'], 'edge.example.com')).toEqual(['shop.example.org', '*.example.net']);
  });
});

describe('coverage', () => {
  test('a wildcard covers every depth below its base, never the base itself', () => {
    expect(covers('*.example.org', 'a.example.org')).toBe(true);
    expect(covers('*.example.org', 'a.b.example.org')).toBe(true);
    expect(covers('*.example.org', '*.b.example.org')).toBe(true);
    expect(covers('*.example.org', 'example.org')).toBe(false);
    expect(covers('*.example.org', '*.example.org')).toBe(false);
    expect(covers('*.example.org', 'a.example.net')).toBe(false);
    expect(covers('a.example.org', 'b.a.example.org')).toBe(false);
  });

  test('the wildcards that could cover a name stop at the public suffix', () => {
    expect(coveringWildcards('a.b.example.org')).toEqual(['*.b.example.org', '*.example.org']);
    expect(coveringWildcards('*.b.example.co.uk')).toEqual(['*.example.co.uk']);
    expect(coveringWildcards('example.org')).toEqual([]);
    expect(coveringWildcards('a.me.github.io')).toEqual(['*.me.github.io']);
  });

  test('registrable domains and reversed names (the claim index)', () => {
    expect(registrableDomain('a.b.example.co.uk')).toBe('example.co.uk');
    expect(registrableDomain('*.example.org')).toBe('example.org');
    expect(reversedName('a.b.example.org')).toBe('org.example.b.a');
    expect(isPublicSuffix('com')).toBe(true);
    expect(isPublicSuffix('example.com')).toBe(false);
  });
});

/**
 * What the mutation run (npm run mutate, group `hostnames`) found unchecked: the words at the
 * edges of the syntax rules, and how a schema problem about a hostname is rewritten. Expected
 * values are written out by hand.
 */
describe('syntax and rules at their edges (from the mutation run)', () => {
  const long = (n: number) => `${'a'.repeat(n - '.example.com'.length)}.example.com`;

  test.each([
    ['shop.example.com..', 'ends with a dot: drop the trailing dot (shop.example.com)'],
    ['.', 'ends with a dot: drop the trailing dot (shop.example.com)'],
    ['1.2.3.4', 'is an IP address or has a port: give a hostname'],
    ['1.22.3.44', 'is an IP address or has a port: give a hostname'],
    ['a1.2.3.4', 'has a last label ("4", the top-level domain) that does not start with a letter'],
    ['shop.c', 'has a one-letter last label ("c", the top-level domain)'],
    [`${'a'.repeat(45)}_b.example.com`, `has a label ("${'a'.repeat(37)}...") with "_": labels are lowercase letters, digits and hyphens, 63 characters at most`],
    [long(254), 'is 254 characters long; a hostname has at most 253'],
    [`${'a'.repeat(39)}_.example.com`, `has a label ("${'a'.repeat(39)}_") with "_": labels are lowercase letters, digits and hyphens, 63 characters at most`],
  ])('%s %s', (name, words) => {
    expect(hostnameSyntaxProblem(name)).toBe(words);
  });

  test('well formed at the limits: 253 characters, a dotted-quad prefix of a longer name, a 40-character label', () => {
    expect(hostnameSyntaxProblem('1.2.3.4.com')).toBeUndefined();
    expect(hostnameSyntaxProblem(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`)).toBeUndefined();
    expect(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`).toHaveLength(253);
  });

  test('the rules against the platform, word for word', () => {
    expect(hostnameRuleProblem('shop.edge.example.com', PLATFORM)).toBeUndefined();
    expect(hostnameRuleProblem('*.edge.example.com', PLATFORM)).toBe("a wildcard at or above the platform domain edge.example.com would capture the platform's own names and every name under it");
    expect(hostnameRuleProblem('*.example.com', PLATFORM)).toBe("a wildcard at or above the platform domain edge.example.com would capture the platform's own names and every name under it");
    expect(hostnameRuleProblem('xds.internal.edge.example.com', PLATFORM)).toBe("is reserved for the platform (the control planes' private names under internal.edge.example.com)");
    expect(hostnameRuleProblem('eu-west-1.edge.example.com', PLATFORM)).toBe('is reserved for the platform (eu-west-1.edge.example.com is the eu-west-1 edge)');
  });

  test('custom names: neither under the platform domain nor the domain itself', () => {
    expect(customNames(['edge.example.com', '*.edge.example.com', 'shop.edge.example.com', 'shop.example.org'], 'edge.example.com')).toEqual(['shop.example.org']);
  });
});

describe('a schema problem about a hostname, in words', () => {
  const failed = (...problems: Array<{ field: string; message: string }>) => ({ ok: false as const, problems, description: '' });
  const problemsOf = (check: ReturnType<typeof explainHostnameProblems>) => (check.ok ? [] : check.problems);

  test('the item the field names is explained; the field is matched whole (hostnames[N], any N)', () => {
    const hostnames = Array.from({ length: 13 }, (_, i) => `host${i}.example.org`);
    hostnames[12] = 'Shop.example.org';
    const check = explainHostnameProblems(failed({ field: 'hostnames[12]', message: 'must match pattern' }, { field: 'hostnames[12].x', message: 'other' }, { field: 'x.hostnames[12]', message: 'other' }), { hostnames });
    expect(check).toEqual({
      ok: false,
      problems: [
        { field: 'hostnames[12]', message: '"Shop.example.org" has upper-case letters: use lowercase (shop.example.org)' },
        { field: 'hostnames[12].x', message: 'other' },
        { field: 'x.hostnames[12]', message: 'other' },
      ],
      description: 'Invalid parameters: hostnames[12]: "Shop.example.org" has upper-case letters: use lowercase (shop.example.org); hostnames[12].x: other; x.hostnames[12]: other',
    });
  });

  test('hostnames that are not a list of strings are left to the schema', () => {
    const problem = { field: 'hostnames[0]', message: 'must be string' };
    expect(problemsOf(explainHostnameProblems(failed(problem), { hostnames: { 0: 'Shop.example.org' } }))).toEqual([problem]);
    expect(problemsOf(explainHostnameProblems(failed(problem), {}))).toEqual([problem]);
    expect(problemsOf(explainHostnameProblems(failed(problem), { hostnames: [7] }))).toEqual([problem]);
  });

  test('the same problem twice is said once', () => {
    const problem = { field: 'hostnames[0]', message: 'must match pattern' };
    expect(problemsOf(explainHostnameProblems(failed(problem, problem), { hostnames: ['Shop.example.org'] }))).toHaveLength(1);
  });

  test('a long name is shown cut at 77 characters; 80 are shown whole', () => {
    expect(shownHostname('a'.repeat(80))).toBe(JSON.stringify('a'.repeat(80)));
    expect(shownHostname('a'.repeat(81))).toBe(JSON.stringify(`${'a'.repeat(77)}...`));
  });
});
