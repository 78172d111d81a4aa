/**
 * Envoy's own limits (lib/model/envoy-limits.ts) and how the parameter check words them.
 * The rules are Envoy's (1.39): `HeaderUtility::isModifiableHeader` / `isRemovableHeader`
 * (`:`-prefixed or `host`), header values as substitution formats with the proto's
 * `HTTP_HEADER_VALUE` rule (no NUL, CR, LF), RE2 program size above 100 refused
 * (`re2.max_program_size.error_level`), RBAC CIDR ranges.
 */
import fc from 'fast-check';
import {
  ENVOY_RE2_MAX_PROGRAM_SIZE,
  ServiceParameters,
  checkServiceParameters,
  cidrProblem,
  envoyLimitProblems,
  headerNameProblem,
  headerValueProblem,
  isModifiableHeaderName,
  regexProblem,
} from '../../lib/model';

const BASE: ServiceParameters = { hostnames: ['a.edge.example.com'], backends: [{ address: '10.0.0.10', port: 80, protocol: 'http' }] };
const check = (parameters: Record<string, unknown>) => checkServiceParameters({ ...BASE, ...parameters }, { regions: ['us-east-1'], mode: 'create' });
const description = (parameters: Record<string, unknown>) => {
  const result = check(parameters);
  return result.ok ? 'ok' : result.description;
};

describe('header names Envoy will not add, change or remove', () => {
  test.each([':authority', ':path', ':method', ':scheme', ':status', ':protocol', 'host', 'Host', 'HOST'])('%s', (name) => {
    expect(isModifiableHeaderName(name)).toBe(false);
    expect(headerNameProblem(name)).toMatch(/Envoy refuses to add, change or remove/);
  });

  test.each(['x-request-id', 'authorization', 'x-forwarded-for', 'hostname', 'x-host', 'content-type'])('%s may be modified', (name) => {
    expect(isModifiableHeaderName(name)).toBe(true);
    expect(headerNameProblem(name)).toBeUndefined();
  });

  test('every list and map: 400 naming the field and the rule', () => {
    expect(description({ routes: [{ match: { prefix: '/' }, request_headers_to_add: { ':authority': 'evil.example.org' } }] })).toBe(
      `Invalid parameters: routes[0].request_headers_to_add[":authority"]: :authority is a pseudo-header: Envoy refuses to add, change or remove ':'-prefixed headers (use rewrite.prefix or rewrite.host)`,
    );
    expect(description({ routes: [{ match: { prefix: '/' }, response_headers_to_add: { host: 'x' } }] })).toContain('routes[0].response_headers_to_add["host"]: host: Envoy refuses');
    expect(description({ routes: [{ match: { prefix: '/' }, request_headers_to_remove: ['x-a', ':path'] }] })).toContain('routes[0].request_headers_to_remove[1]: :path is a pseudo-header');
    expect(description({ routes: [{ match: { prefix: '/' }, response_headers_to_remove: ['host'] }] })).toContain('routes[0].response_headers_to_remove[0]: host: Envoy refuses');
  });

  test('matching on pseudo-headers stays allowed (a match changes nothing)', () => {
    expect(check({ routes: [{ match: { prefix: '/', headers: [{ name: ':authority', exact: 'a.edge.example.com' }] } }] }).ok).toBe(true);
  });

  test('the schema and the shared function agree on every header name', () => {
    const name = fc.oneof(fc.constantFrom(':authority', ':path', 'host', 'x-a', ':x', 'hosts'), fc.stringMatching(/^:?[a-z0-9-]{1,12}$/));
    fc.assert(
      fc.property(name, (header) => {
        const viaSchema = check({ routes: [{ match: { prefix: '/' }, request_headers_to_remove: [header] }] }).ok;
        const viaFunction = envoyLimitProblems({ routes: [{ match: { prefix: '/' }, request_headers_to_remove: [header] }] }).length === 0;
        return viaSchema === viaFunction;
      }),
      { seed: 13, numRuns: 500 },
    );
  });
});

describe('header values are literal text', () => {
  test.each([
    ['%ENVIRONMENT(AWS_SECRET_ACCESS_KEY)%', /must not contain '%'/],
    ['%HOSTNAME%', /substitution command/],
    ['%DOWNSTREAM_LOCAL_ADDRESS%', /must not contain '%'/],
    ['100%', /must not contain '%'/],
    ['%%', /must not contain '%'/],
    ['a%7Cb', /must not contain '%'/],
    ['a\r\nx-injected: 1', /NUL, CR or LF/],
    ['a\nb', /NUL, CR or LF/],
    ['a\u0000b', /NUL, CR or LF/],
  ])('%j is refused', (value, message) => {
    expect(headerValueProblem(value)).toMatch(message);
    expect(description({ routes: [{ match: { prefix: '/' }, response_headers_to_add: { 'x-a': value } }] })).toMatch(new RegExp(`routes\\[0\\]\\.response_headers_to_add\\.x-a: .*${message.source}`));
    expect(envoyLimitProblems({ routes: [{ match: { prefix: '/' }, response_headers_to_add: { 'x-a': value } }] })).toEqual([{ field: 'routes[0].response_headers_to_add.x-a', message: headerValueProblem(value) }]);
  });

  test('ordinary values pass', () => {
    for (const value of ['max-age=31536000; includeSubDomains', '', 'a "quoted" value', 'unicode é', '<https://x.example.org/a>; rel=preload']) {
      expect(headerValueProblem(value)).toBeUndefined();
    }
    expect(check({ routes: [{ match: { prefix: '/' }, response_headers_to_add: { 'strict-transport-security': 'max-age=31536000' } }] }).ok).toBe(true);
  });

  test('the shared function also bounds the size Envoy accepts (16384 bytes)', () => {
    expect(headerValueProblem('x'.repeat(16384))).toBeUndefined();
    expect(headerValueProblem('x'.repeat(16385))).toMatch(/at most 16384 bytes/);
  });
});

describe('safe_regex: RE2 syntax and program size', () => {
  test('the limit is Envoy’s default error level', () => {
    expect(ENVOY_RE2_MAX_PROGRAM_SIZE).toBe(100);
  });

  test.each([
    ['(', /is not a valid RE2 regular expression: missing \): \(/],
    ['(?=lookahead)', /invalid perl operator: \(\?=/],
    ['\\1', /invalid escape sequence: \\1/],
    ['a{1001}', /invalid repetition size: \{1001\}/],
    ['^/user/(488/sms|h5/getJwt|captcha|version/getAIDrawTemplate|version/isMainLand|version/promotionTemplate|version/activityTemplate2).*', /is too complex: its estimated RE2 program size is 106, over Envoy's default limit of 100/],
    ['\\pL+', /is too complex/],
  ])('%s is refused', (pattern, message) => {
    expect(regexProblem(pattern)).toMatch(message);
    expect(description({ routes: [{ match: { safe_regex: pattern } }] })).toMatch(/^Invalid parameters: routes\[0\]\.match\.safe_regex: /);
  });

  test('ordinary route regexes pass', () => {
    for (const pattern of ['^/api/v[0-9]+/users/[^/]+$', '^/(en|de|fr)/products/[0-9]+$', '/asdf/.*', '(?i)^/admin', '^/v1/(?<tenant>[a-z]+)/items$']) {
      expect([pattern, regexProblem(pattern)]).toEqual([pattern, undefined]);
    }
  });
});

describe('ip_allow_list: CIDR ranges RBAC accepts', () => {
  test.each([
    ['999.1.1.1/8', /999\.1\.1\.1 is not an IP address/],
    ['10.0.0.0/40', /IPv4 prefix length must be at most 32/],
    ['2001:db8::/129', /IPv6 prefix length must be at most 128/],
    ['010.0.0.0/8', /is not an IP address/],
    ['::ffff:1.2.3/96', /is not an IP address/],
  ])('%s is refused', (cidr, message) => {
    expect(cidrProblem(cidr)).toMatch(message);
    expect(description({ ip_allow_list: ['10.0.0.0/8', cidr] })).toMatch(/ip_allow_list\[1\]: /);
  });

  test('ordinary ranges pass', () => {
    for (const cidr of ['10.0.0.0/8', '0.0.0.0/0', '203.0.113.7/32', '2001:db8::/32', '::/0', 'FE80::/10']) expect([cidr, cidrProblem(cidr)]).toEqual([cidr, undefined]);
  });
});

describe('paths: no control characters', () => {
  test('a NUL, DEL or control character in a path, prefix or health check path is refused by the schema', () => {
    expect(description({ routes: [{ match: { prefix: '/a\u0000' } }] })).toContain('routes[0].match.prefix: must match pattern');
    expect(description({ health_check: { path: '/h\u007f' } })).toContain('health_check.path: must match pattern');
    expect(description({ routes: [{ match: { path: '/ok' }, rewrite: { prefix: '/b\u001b' } }] })).toContain('routes[0].rewrite.prefix');
  });
});

describe('upstream TLS opt-out', () => {
  test('tls.verify: false on a TLS backend is accepted', () => {
    expect(check({ backends: [{ address: 'legacy.example.org', port: 443, protocol: 'https', tls: { verify: false } }] }).ok).toBe(true);
    expect(check({ tls: { upstream_tls: true }, backends: [{ address: 'grpc.example.org', port: 443, protocol: 'grpc', tls: { verify: false } }] }).ok).toBe(true);
  });

  test('tls on a backend the edge reaches in clear text is refused, naming the rule', () => {
    expect(description({ backends: [{ address: 'plain.example.org', port: 80, protocol: 'http', tls: { verify: false } }] })).toBe(
      'Invalid parameters: backends[0].tls: applies only to backends reached over TLS (protocol https, or tls.upstream_tls: true)',
    );
  });

  test('an empty tls object or an unknown field is refused by the schema', () => {
    expect(description({ backends: [{ address: 'a.example.org', port: 443, protocol: 'https', tls: {} }] })).toContain('backends[0].tls: must NOT have fewer than 1 properties');
    expect(description({ backends: [{ address: 'a.example.org', port: 443, protocol: 'https', tls: { insecure: true } }] })).toContain('backends[0].tls.insecure: is not a known parameter');
  });
});
