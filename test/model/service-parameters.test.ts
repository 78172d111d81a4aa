/**
 * The service parameters' schema (lib/model/service-parameters.ts) and the validator over it
 * (validate-parameters.ts), rule by rule: every rule of the schema refuses the input that
 * breaks it, naming the field, and accepts each value it allows. Expected values come from
 * the rules as the schema's comments and docs/broker.md state them ("parameters: invalid:
 * backends[0].port: must be <= 65535"), not from the validator. Pure functions: the
 * `parameters` mutation group runs this file (docs/testing.md).
 */
import { checkServiceParameters, serviceParametersSchema, unverifiedTlsBackends, usesUpstreamTls } from '../../lib/model';

const REGIONS = ['us-east-1', 'eu-west-1'];
const BASE = { hostnames: ['shop.example.org'], backends: [{ address: 'app.example.org', port: 8080, protocol: 'http' }] };
const HTTPS_BACKEND = { address: 'app.example.org', port: 443, protocol: 'https' };

type Mode = 'create' | 'update';
const check = (input: unknown, mode: Mode = 'create', regions: readonly string[] = REGIONS) => checkServiceParameters(input, { regions, mode });

function problemsOf(patch: Record<string, unknown>, mode: Mode = 'create') {
  const result = check({ ...BASE, ...patch }, mode);
  return result.ok ? [] : result.problems;
}

function expectAccepted(patch: Record<string, unknown>, mode: Mode = 'create'): void {
  const result = check({ ...BASE, ...patch }, mode);
  if (!result.ok) throw new Error(`refused ${JSON.stringify(patch)}: ${result.description}`);
}

const route = (extra: Record<string, unknown> = {}, match: Record<string, unknown> = { prefix: '/' }) => ({ routes: [{ match, ...extra }] });
const backend = (extra: Record<string, unknown>, base: Record<string, unknown> = BASE.backends[0]) => ({ backends: [{ ...base, ...extra }] });
const extAuthz = (extra: Record<string, unknown> = {}) => ({ auth: { ext_authz: { address: 'authz.example.org', port: 9000, protocol: 'grpc', ...extra } } });

describe('every rule refuses what breaks it, naming the field', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an unknown top-level parameter', { colour: 'blue' }, 'colour'],
    // hostnames
    ['hostnames not a list', { hostnames: 'shop.example.org' }, 'hostnames'],
    ['no hostname', { hostnames: [] }, 'hostnames'],
    ['the same hostname twice', { hostnames: ['a.example.org', 'a.example.org'] }, 'hostnames'],
    ['a hostname that is not a string', { hostnames: [7] }, 'hostnames[0]'],
    ['a hostname over 253 characters', { hostnames: [`${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example.org`] }, 'hostnames[0]'],
    ['a hostname with a space', { hostnames: ['my shop.example.org'] }, 'hostnames[0]'],
    // backends
    ['backends not a list', { backends: { address: 'a.example.org' } }, 'backends'],
    ['no backend', { backends: [] }, 'backends'],
    ['a backend that is not an object', { backends: ['app.example.org:80'] }, 'backends[0]'],
    ['an unknown backend field', backend({ colour: 'blue' }), 'backends[0].colour'],
    ['a backend without address', { backends: [{ port: 80, protocol: 'http' }] }, 'backends[0].address'],
    ['a backend without port', { backends: [{ address: 'a.example.org', protocol: 'http' }] }, 'backends[0].port'],
    ['a backend without protocol', { backends: [{ address: 'a.example.org', port: 80 }] }, 'backends[0].protocol'],
    ['an address that is not a string', backend({ address: 10 }), 'backends[0].address'],
    ['an address over 253 characters', backend({ address: `${'a'.repeat(63)}.`.repeat(4) + 'org' }), 'backends[0].address'],
    ['an address that is neither a DNS name nor an IP', backend({ address: 'app_1.example.org' }), 'backends[0].address'],
    ['a port that is not an integer', backend({ port: 80.5 }), 'backends[0].port'],
    ['port 0', backend({ port: 0 }), 'backends[0].port'],
    ['port 65536', backend({ port: 65536 }), 'backends[0].port'],
    ['an unknown protocol', backend({ protocol: 'ftp' }), 'backends[0].protocol'],
    ['a weight that is not an integer', backend({ weight: 1.5 }), 'backends[0].weight'],
    ['weight 0', backend({ weight: 0 }), 'backends[0].weight'],
    ['a region the fleet does not have', backend({ region: 'mars-north-1' }), 'backends[0].region'],
    ['backend tls not an object', backend({ tls: false }, HTTPS_BACKEND), 'backends[0].tls'],
    ['backend tls empty', backend({ tls: {} }, HTTPS_BACKEND), 'backends[0].tls'],
    ['an unknown backend tls field', backend({ tls: { verify: false, pin: 'x' } }, HTTPS_BACKEND), 'backends[0].tls.pin'],
    ['tls.verify not a boolean', backend({ tls: { verify: 'no' } }, HTTPS_BACKEND), 'backends[0].tls.verify'],
    // health_check
    ['health_check not an object', { health_check: '/healthz' }, 'health_check'],
    ['an unknown health_check field', { health_check: { port: 81 } }, 'health_check.port'],
    ['a health path without its leading slash', { health_check: { path: 'healthz' } }, 'health_check.path'],
    ['a health path with a space', { health_check: { path: '/health z' } }, 'health_check.path'],
    ['a health path with a control character', { health_check: { path: '/health\u0001' } }, 'health_check.path'],
    ['a health path that is not a string', { health_check: { path: 5 } }, 'health_check.path'],
    ['interval 0 s', { health_check: { interval_seconds: 0 } }, 'health_check.interval_seconds'],
    ['interval over 300 s', { health_check: { interval_seconds: 301 } }, 'health_check.interval_seconds'],
    ['interval not a number', { health_check: { interval_seconds: '5' } }, 'health_check.interval_seconds'],
    ['timeout over 60 s', { health_check: { timeout_seconds: 61 } }, 'health_check.timeout_seconds'],
    ['healthy_threshold not an integer', { health_check: { healthy_threshold: 1.5 } }, 'health_check.healthy_threshold'],
    ['unhealthy_threshold over 10', { health_check: { unhealthy_threshold: 11 } }, 'health_check.unhealthy_threshold'],
    // routes
    ['routes not a list', { routes: { match: { prefix: '/' } } }, 'routes'],
    ['an empty route list', { routes: [] }, 'routes'],
    ['a route that is not an object', { routes: ['/'] }, 'routes[0]'],
    ['a route without match', { routes: [{ timeout_seconds: 5 }] }, 'routes[0].match'],
    ['an unknown route field', route({ weight: 5 }), 'routes[0].weight'],
    ['match not an object', { routes: [{ match: '/' }] }, 'routes[0].match'],
    ['an unknown match field', route({}, { prefix: '/', method: 'GET' }), 'routes[0].match.method'],
    ['match with two of prefix, path, safe_regex', route({}, { prefix: '/', path: '/a' }), 'routes[0].match'],
    ['match with none of prefix, path, safe_regex', route({}, { case_sensitive: true }), 'routes[0].match'],
    ['a match prefix without its slash', route({}, { prefix: 'api' }), 'routes[0].match.prefix'],
    ['a match path with a space', route({}, { path: '/a b' }), 'routes[0].match.path'],
    ['an empty safe_regex', route({}, { safe_regex: '' }), 'routes[0].match.safe_regex'],
    ['a safe_regex that is not a string', route({}, { safe_regex: 5 }), 'routes[0].match.safe_regex'],
    ['case_sensitive not a boolean', route({}, { prefix: '/', case_sensitive: 'yes' }), 'routes[0].match.case_sensitive'],
    ['match headers not a list', route({}, { prefix: '/', headers: { name: 'x-a', present: true } }), 'routes[0].match.headers'],
    ['more than 10 header matches', route({}, { prefix: '/', headers: Array.from({ length: 11 }, (_, i) => ({ name: `x-${i}`, present: true })) }), 'routes[0].match.headers'],
    ['a header match that is not an object', route({}, { prefix: '/', headers: ['x-a'] }), 'routes[0].match.headers[0]'],
    ['a header match without name', route({}, { prefix: '/', headers: [{ exact: 'a', present: true }] }), 'routes[0].match.headers[0].name'],
    ['a header match with a name only', route({}, { prefix: '/', headers: [{ name: 'x-a' }] }), 'routes[0].match.headers[0]'],
    ['a header match with two conditions', route({}, { prefix: '/', headers: [{ name: 'x-a', exact: 'a', present: true }] }), 'routes[0].match.headers[0]'],
    ['an unknown header match field', route({}, { prefix: '/', headers: [{ name: 'x-a', suffix: 'a' }] }), 'routes[0].match.headers[0].suffix'],
    ['a header match name in capitals', route({}, { prefix: '/', headers: [{ name: 'X-A', present: true }] }), 'routes[0].match.headers[0].name'],
    ['a header match name that is not a string', route({}, { prefix: '/', headers: [{ name: 5, present: true }] }), 'routes[0].match.headers[0].name'],
    ['an exact header value that is not a string', route({}, { prefix: '/', headers: [{ name: 'x-a', exact: 5 }] }), 'routes[0].match.headers[0].exact'],
    ['an empty header prefix', route({}, { prefix: '/', headers: [{ name: 'x-a', prefix: '' }] }), 'routes[0].match.headers[0].prefix'],
    ['a header prefix that is not a string', route({}, { prefix: '/', headers: [{ name: 'x-a', prefix: 5 }] }), 'routes[0].match.headers[0].prefix'],
    ['present not a boolean', route({}, { prefix: '/', headers: [{ name: 'x-a', present: 'yes' }] }), 'routes[0].match.headers[0].present'],
    ['rewrite not an object', route({ rewrite: '/v2' }), 'routes[0].rewrite'],
    ['an empty rewrite', route({ rewrite: {} }), 'routes[0].rewrite'],
    ['an unknown rewrite field', route({ rewrite: { path: '/v2' } }), 'routes[0].rewrite.path'],
    ['a rewrite prefix without its slash', route({ rewrite: { prefix: 'v2' } }), 'routes[0].rewrite.prefix'],
    ['a rewrite host with a slash', route({ rewrite: { host: 'api.example.org/v2' } }), 'routes[0].rewrite.host'],
    ['a rewrite host that is not a string', route({ rewrite: { host: 5 } }), 'routes[0].rewrite.host'],
    ['headers to add not an object', route({ request_headers_to_add: ['x-a'] }), 'routes[0].request_headers_to_add'],
    ['more than 20 headers to add', route({ response_headers_to_add: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`x-${i}`, 'v'])) }), 'routes[0].response_headers_to_add'],
    ['a header value that is not a string', route({ request_headers_to_add: { 'x-a': 5 } }), 'routes[0].request_headers_to_add.x-a'],
    ['a header value over 1024 characters', route({ response_headers_to_add: { 'x-a': 'v'.repeat(1025) } }), 'routes[0].response_headers_to_add.x-a'],
    ['headers to remove not a list', route({ request_headers_to_remove: 'x-a' }), 'routes[0].request_headers_to_remove'],
    ['a header to remove that is not a string', route({ response_headers_to_remove: [5] }), 'routes[0].response_headers_to_remove[0]'],
    ['a header to remove in capitals', route({ request_headers_to_remove: ['X-A'] }), 'routes[0].request_headers_to_remove[0]'],
    ['more than 20 headers to remove', route({ request_headers_to_remove: Array.from({ length: 21 }, (_, i) => `x-${i}`) }), 'routes[0].request_headers_to_remove'],
    ['a route timeout of 0 s', route({ timeout_seconds: 0 }), 'routes[0].timeout_seconds'],
    ['an idle timeout over an hour', route({ idle_timeout_seconds: 3601 }), 'routes[0].idle_timeout_seconds'],
    ['retries not an object', route({ retries: 3 }), 'routes[0].retries'],
    ['retries without attempts', route({ retries: { retry_on: ['5xx'] } }), 'routes[0].retries.attempts'],
    ['an unknown retries field', route({ retries: { attempts: 1, backoff: 1 } }), 'routes[0].retries.backoff'],
    ['attempts not an integer', route({ retries: { attempts: 1.5 } }), 'routes[0].retries.attempts'],
    ['retry_on not a list', route({ retries: { attempts: 1, retry_on: '5xx' } }), 'routes[0].retries.retry_on'],
    ['an empty retry_on', route({ retries: { attempts: 1, retry_on: [] } }), 'routes[0].retries.retry_on'],
    ['a retry_on condition twice', route({ retries: { attempts: 1, retry_on: ['5xx', '5xx'] } }), 'routes[0].retries.retry_on'],
    ['an unknown retry_on condition', route({ retries: { attempts: 1, retry_on: ['4xx'] } }), 'routes[0].retries.retry_on[0]'],
    ['a per-try timeout of 0 s', route({ retries: { attempts: 1, per_try_timeout_seconds: 0 } }), 'routes[0].retries.per_try_timeout_seconds'],
    // tls
    ['tls not an object', { tls: 'TLSv1_3' }, 'tls'],
    ['an unknown tls field', { tls: { ciphers: 'ALL' } }, 'tls.ciphers'],
    ['TLS 1.1 as minimum', { tls: { min_protocol_version: 'TLSv1_1' } }, 'tls.min_protocol_version'],
    ['an upstream SNI with a slash', { tls: { upstream_sni: 'a.example.org/x' } }, 'tls.upstream_sni'],
    ['an upstream SNI that is not a string', { tls: { upstream_sni: 5 } }, 'tls.upstream_sni'],
    ['upstream_tls not a boolean', { tls: { upstream_tls: 'yes' } }, 'tls.upstream_tls'],
    // rate_limit
    ['rate_limit not an object', { rate_limit: 100 }, 'rate_limit'],
    ['a rate limit without requests_per_unit', { rate_limit: { unit: 'second' } }, 'rate_limit.requests_per_unit'],
    ['a rate limit without unit', { rate_limit: { requests_per_unit: 10 } }, 'rate_limit.unit'],
    ['an unknown rate_limit field', { rate_limit: { requests_per_unit: 10, unit: 'second', per: 'ip' } }, 'rate_limit.per'],
    ['requests_per_unit not an integer', { rate_limit: { requests_per_unit: 1.5, unit: 'second' } }, 'rate_limit.requests_per_unit'],
    ['a rate unit of a day', { rate_limit: { requests_per_unit: 10, unit: 'day' } }, 'rate_limit.unit'],
    ['burst not an integer', { rate_limit: { requests_per_unit: 10, unit: 'second', burst: 1.5 } }, 'rate_limit.burst'],
    ['global not a boolean', { rate_limit: { requests_per_unit: 10, unit: 'second', global: 'yes' } }, 'rate_limit.global'],
    // auth
    ['auth not an object', { auth: 'ext_authz' }, 'auth'],
    ['auth without ext_authz', { auth: {} }, 'auth.ext_authz'],
    ['an unknown auth field', { auth: { ...extAuthz().auth, oidc: {} } }, 'auth.oidc'],
    ['ext_authz not an object', { auth: { ext_authz: 'authz.example.org' } }, 'auth.ext_authz'],
    ['ext_authz without address', { auth: { ext_authz: { port: 9000, protocol: 'grpc' } } }, 'auth.ext_authz.address'],
    ['ext_authz without port', { auth: { ext_authz: { address: 'authz.example.org', protocol: 'grpc' } } }, 'auth.ext_authz.port'],
    ['ext_authz without protocol', { auth: { ext_authz: { address: 'authz.example.org', port: 9000 } } }, 'auth.ext_authz.protocol'],
    ['an unknown ext_authz field', extAuthz({ path: '/check' }), 'auth.ext_authz.path'],
    ['an empty ext_authz address', extAuthz({ address: '' }), 'auth.ext_authz.address'],
    ['an ext_authz address with a slash', extAuthz({ address: 'authz.example.org/check' }), 'auth.ext_authz.address'],
    ['an ext_authz address that is not a string', extAuthz({ address: 5 }), 'auth.ext_authz.address'],
    ['an ext_authz port that is not an integer', extAuthz({ port: 1.5 }), 'auth.ext_authz.port'],
    ['an ext_authz protocol that is neither grpc nor http', extAuthz({ protocol: 'https' }), 'auth.ext_authz.protocol'],
    ['timeout_ms not an integer', extAuthz({ timeout_ms: 1.5 }), 'auth.ext_authz.timeout_ms'],
    ['failure_mode_allow not a boolean', extAuthz({ failure_mode_allow: 'yes' }), 'auth.ext_authz.failure_mode_allow'],
    // ip_allow_list
    ['ip_allow_list not a list', { ip_allow_list: '10.0.0.0/8' }, 'ip_allow_list'],
    ['an empty ip_allow_list', { ip_allow_list: [] }, 'ip_allow_list'],
    ['the same CIDR twice', { ip_allow_list: ['10.0.0.0/8', '10.0.0.0/8'] }, 'ip_allow_list'],
    ['an address without its prefix length', { ip_allow_list: ['10.0.0.0'] }, 'ip_allow_list[0]'],
    ['a CIDR that is not a string', { ip_allow_list: [10] }, 'ip_allow_list[0]'],
    // access_log
    ['access_log not an object', { access_log: true }, 'access_log'],
    ['access_log without enabled', { access_log: {} }, 'access_log.enabled'],
    ['an unknown access_log field', { access_log: { enabled: true, format: 'json' } }, 'access_log.format'],
    ['enabled not a boolean', { access_log: { enabled: 'yes' } }, 'access_log.enabled'],
    // regions
    ['regions not a list', { regions: 'us-east-1' }, 'regions'],
    ['an empty region list', { regions: [] }, 'regions'],
    ['the same region twice', { regions: ['us-east-1', 'us-east-1'] }, 'regions'],
    ['a region the fleet does not have', { regions: ['mars-north-1'] }, 'regions[0]'],
  ];

  test.each(cases)('%s', (_name, patch, field) => {
    const problems = problemsOf(patch);
    expect(problems.map((p) => p.field)).toContain(field);
    // The same rule holds in an update, which checks whatever it is given.
    expect(problemsOf(patch, 'update').map((p) => p.field)).toContain(field);
  });
});

describe('every value a rule allows is accepted', () => {
  test('the minimal parameters: one hostname, one backend', () => {
    const result = check(BASE);
    expect(result).toEqual({ ok: true, parameters: BASE });
  });

  test('backend addresses: IPv4, IPv6, a DNS name, one label', () => {
    for (const address of ['192.0.2.10', '2001:db8::10', 'app-1.eu.example.org', 'app']) expectAccepted(backend({ address }));
  });

  test('every backend protocol: http, https, h2, grpc', () => {
    for (const protocol of ['http', 'https', 'h2', 'grpc']) expectAccepted(backend({ protocol }));
  });

  test('a backend with weight, region and (over TLS) verify: false', () => {
    expectAccepted(backend({ weight: 1000, region: 'eu-west-1', tls: { verify: false } }, HTTPS_BACKEND));
  });

  test('a full health check', () => {
    expectAccepted({ health_check: { path: '/healthz?deep=1', interval_seconds: 300, timeout_seconds: 0.5, healthy_threshold: 10, unhealthy_threshold: 1 } });
  });

  test('a route of each match kind, with header matches of each kind', () => {
    expectAccepted({
      routes: [
        { match: { prefix: '/api', case_sensitive: false, headers: [{ name: 'x-a', exact: '' }, { name: 'x-b', prefix: 'v' }, { name: ':authority', present: true }] } },
        { match: { path: '/exact' } },
        { match: { safe_regex: '/v[0-9]+/.*' } },
      ],
    });
  });

  test('a route with rewrite, header changes, timeouts and retries on every condition', () => {
    expectAccepted(
      route({
        rewrite: { prefix: '/v2', host: 'api.example.org:8443' },
        request_headers_to_add: { 'x-team': 'shop' },
        request_headers_to_remove: ['x-debug'],
        response_headers_to_add: { 'x-served-by': 'edge' },
        response_headers_to_remove: ['server'],
        timeout_seconds: 3600,
        idle_timeout_seconds: 0.1,
        retries: {
          attempts: 0,
          per_try_timeout_seconds: 3600,
          // Every retry condition the edge offers (Envoy's router and gRPC retry policies).
          retry_on: ['5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-4xx', 'refused-stream', 'retriable-status-codes', 'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'],
        },
      }),
    );
  });

  test('tls: each minimum version, an upstream SNI, upstream_tls', () => {
    for (const version of ['TLSv1_2', 'TLSv1_3']) expectAccepted({ tls: { min_protocol_version: version, upstream_sni: 'app.example.org', upstream_tls: true } });
  });

  test('a rate limit in each unit', () => {
    for (const unit of ['second', 'minute', 'hour']) expectAccepted({ rate_limit: { requests_per_unit: 1000000, unit, burst: 10000000, global: true } });
  });

  test('ext_authz over grpc and over http', () => {
    for (const protocol of ['grpc', 'http']) expectAccepted(extAuthz({ protocol, timeout_ms: 60000, failure_mode_allow: true }));
  });

  test('an allow list of IPv4 and IPv6 CIDRs, access logs, regions', () => {
    expectAccepted({ ip_allow_list: ['203.0.113.0/24', '2001:db8::/32'], access_log: { enabled: false }, regions: ['eu-west-1', 'us-east-1'] });
  });
});

describe('create and update', () => {
  test('a provision needs hostnames and backends; an update takes any subset', () => {
    const created = check({}, 'create');
    expect(created.ok).toBe(false);
    expect(!created.ok && created.problems).toEqual([
      { field: 'hostnames', message: 'is required' },
      { field: 'backends', message: 'is required' },
    ]);
    expect(check({}, 'update')).toEqual({ ok: true, parameters: {} });
    expect(check({ rate_limit: { requests_per_unit: 5, unit: 'second' } }, 'update').ok).toBe(true);
  });

  test('the two modes and the regions each have their own validator (asked in turn, in one process)', () => {
    expect(check({}, 'create').ok).toBe(false);
    expect(check({}, 'update').ok).toBe(true);
    expect(check({}, 'create').ok).toBe(false);
    // A region is one of the fleet's: with another fleet, another answer.
    expect(check({ ...BASE, regions: ['ap-southeast-2'] }).ok).toBe(false);
    expect(check({ ...BASE, regions: ['ap-southeast-2'] }, 'create', ['ap-southeast-2']).ok).toBe(true);
    expect(check({ ...BASE, regions: ['us-east-1'] }, 'create', ['ap-southeast-2']).ok).toBe(false);
    // Two lists of regions are two fleets, whatever their names run together into.
    expect(check({ ...BASE, regions: ['ab'] }, 'create', ['a', 'b']).ok).toBe(false);
    expect(check({ ...BASE, regions: ['ab'] }, 'create', ['ab']).ok).toBe(true);
  });

  test('the published schema: draft-07, a title per mode, what a provision requires', () => {
    const create = serviceParametersSchema({ regions: REGIONS, mode: 'create' });
    const update = serviceParametersSchema({ regions: REGIONS, mode: 'update' });
    expect(create.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(create.title).toBe('Edge load balancer: provision parameters');
    expect(update.title).toBe('Edge load balancer: update parameters');
    expect(create.required).toEqual(['hostnames', 'backends']);
    expect(update.required).toEqual([]);
  });

  test('the catalog tells tenants what hostnames, backends and backend tls mean', () => {
    const properties = serviceParametersSchema({ regions: REGIONS, mode: 'create' }).properties as Record<string, { description?: string; items?: { properties: Record<string, { description?: string }> } }>;
    expect(properties.hostnames.description).toMatch(/wildcard/);
    expect(properties.hostnames.description).toMatch(/prove control/);
    expect(properties.backends.description).toBe('Where traffic goes.');
    expect(properties.backends.items!.properties.tls.description).toMatch(/verify: false/);
  });

  test('something that is not an object is refused as a whole: the field is "parameters"', () => {
    expect(check('hostnames=a')).toMatchObject({ ok: false, problems: [{ field: 'parameters' }] });
    expect(check(['a'])).toMatchObject({ ok: false, problems: [{ field: 'parameters' }] });
  });
});

describe('the words of each problem', () => {
  test('every problem at once, in the description "Invalid parameters: <field>: <message>; ..."', () => {
    const result = check({ hostnames: ['shop.example.org'], backends: [{ address: 'app.example.org', port: 70000, protocol: 'ftp' }], colour: 'blue' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      { field: 'colour', message: 'is not a known parameter' },
      { field: 'backends[0].port', message: 'must be <= 65535' },
      { field: 'backends[0].protocol', message: 'must be one of http, https, h2, grpc' },
    ]);
    expect(result.description).toBe('Invalid parameters: colour: is not a known parameter; backends[0].port: must be <= 65535; backends[0].protocol: must be one of http, https, h2, grpc');
  });

  test('a missing or unknown nested field is named in full', () => {
    expect(problemsOf({ backends: [{ address: 'a.example.org', protocol: 'http', colour: 'x' }] })).toEqual([
      { field: 'backends[0].port', message: 'is required' },
      { field: 'backends[0].colour', message: 'is not a known parameter' },
    ]);
  });

  test("an unknown parameter whose name is not a plain name is quoted: it cannot pass for a nested field", () => {
    // Unquoted, the top-level key "backends[0].colour" read as backends[0]'s unknown field (the same line twice).
    expect(problemsOf({ backends: [{ address: 'a.example.org', port: 80, protocol: 'http', colour: 'x' }], 'backends[0].colour': 1, 'x-y': 1 })).toEqual([
      { field: '["backends[0].colour"]', message: 'is not a known parameter' },
      { field: '["x-y"]', message: 'is not a known parameter' },
      { field: 'backends[0].colour', message: 'is not a known parameter' },
    ]);
    expect(problemsOf({ backends: [{ address: 'a.example.org', port: 80, protocol: 'http', 'tls.verify': false }] })).toEqual([
      { field: 'backends[0]["tls.verify"]', message: 'is not a known parameter' },
    ]);
  });

  test('an address that is neither a DNS name nor an IP: one problem in words, not one per branch', () => {
    expect(problemsOf(backend({ address: 'app_1.example.org' }))).toEqual([{ field: 'backends[0].address', message: 'must be a DNS name or an IP address' }]);
  });

  test('a match with two kinds: one problem in words', () => {
    expect(problemsOf(route({}, { prefix: '/', path: '/a' }))).toEqual([{ field: 'routes[0].match', message: 'must have exactly one of prefix, path or safe_regex' }]);
    expect(problemsOf(route({}, { case_sensitive: true }))).toEqual([{ field: 'routes[0].match', message: 'must have exactly one of prefix, path or safe_regex' }]);
  });

  test('a pseudo-header or host in a header map: Envoy\'s rule in words, once, naming the key', () => {
    // docs/broker.md: `_to_add` and `_to_remove` may not name ':'-prefixed pseudo-headers or host (use rewrite).
    const pseudo = problemsOf(route({ request_headers_to_add: { ':path': '/x' } }));
    expect(pseudo).toHaveLength(1);
    expect(pseudo[0].field).toBe('routes[0].request_headers_to_add[":path"]');
    expect(pseudo[0].message).toMatch(/^:path is a pseudo-header: Envoy refuses/);
    const host = problemsOf(route({ response_headers_to_add: { host: 'x' } }));
    expect(host).toHaveLength(1);
    expect(host[0].field).toBe('routes[0].response_headers_to_add["host"]');
    expect(host[0].message).toMatch(/^host: Envoy refuses to add, change or remove the host header/);
    const removed = problemsOf(route({ request_headers_to_remove: ['host'] }));
    expect(removed.map((p) => p.field)).toEqual(['routes[0].request_headers_to_remove[0]']);
    expect(removed[0].message).toMatch(/host header/);
  });

  test('a header name in capitals in a header map is refused by name', () => {
    const problems = problemsOf(route({ request_headers_to_add: { 'X-Team': 'a' } }));
    expect(problems.map((p) => p.field)).toEqual(['routes[0].request_headers_to_add["X-Team"]']);
  });

  test("a header name against the schema's other rules (lower case, 128 characters): the schema's words, not Envoy's pseudo-header or host words", () => {
    expect(problemsOf(route({ request_headers_to_add: { 'X-Team': 'a' } }))).toEqual([{ field: 'routes[0].request_headers_to_add["X-Team"]', message: expect.stringMatching(/^must match pattern /) }]);
    expect(problemsOf(route({ request_headers_to_remove: ['X-Team'] }))).toEqual([{ field: 'routes[0].request_headers_to_remove[0]', message: expect.stringMatching(/^must match pattern /) }]);
    expect(problemsOf(route({ response_headers_to_remove: ['x'.repeat(129)] }))).toEqual([{ field: 'routes[0].response_headers_to_remove[0]', message: 'must NOT have more than 128 characters' }]);
  });

  test("a header value over the schema's 1024 characters: the length rule in words, not the literal-value rule", () => {
    expect(problemsOf(route({ request_headers_to_add: { 'x-a': 'v'.repeat(1025) } }))).toEqual([{ field: 'routes[0].request_headers_to_add.x-a', message: 'must NOT have more than 1024 characters' }]);
  });

  test("Envoy's header and CIDR rules are reported beside the schema's other problems, not only when the rest is valid", () => {
    // The rules beyond the schema (envoy-limits.ts) run only on input the schema accepts, so the
    // schema carries them too: a request with several problems hears of all of them at once.
    const problems = problemsOf({
      ...route({ request_headers_to_add: { 'x-a': '%START_TIME%' }, response_headers_to_add: { host: 'x' } }),
      ...backend({ port: 70000 }),
      ip_allow_list: ['10.0.0.0'],
    });
    expect(problems.map((p) => p.field).sort()).toEqual(['backends[0].port', 'ip_allow_list[0]', 'routes[0].request_headers_to_add.x-a', 'routes[0].response_headers_to_add["host"]']);
  });

  test("a header value with '%' or a line break: Envoy's rule in words", () => {
    const percent = problemsOf(route({ request_headers_to_add: { 'x-a': '%START_TIME%' } }));
    expect(percent).toHaveLength(1);
    expect(percent[0].field).toBe('routes[0].request_headers_to_add.x-a');
    expect(percent[0].message).toMatch(/must not contain '%'/);
    const newline = problemsOf(route({ response_headers_to_add: { 'x-a': 'a\nb' } }));
    expect(newline[0].message).toMatch(/NUL, CR or LF/);
  });

  test('backend tls applies only to backends reached over TLS (a provision; an update waits for the merge)', () => {
    expect(problemsOf(backend({ tls: { verify: false } }))).toEqual([
      { field: 'backends[0].tls', message: 'applies only to backends reached over TLS (protocol https, or tls.upstream_tls: true)' },
    ]);
    expect(problemsOf({ backends: [HTTPS_BACKEND, { ...BASE.backends[0], tls: { verify: true } }] }).map((p) => p.field)).toEqual([]);
    expect(problemsOf({ backends: [BASE.backends[0], { ...HTTPS_BACKEND, tls: { verify: true } }] }).map((p) => p.field)).toEqual(['backends[1].tls']);
    expect(problemsOf({ ...backend({ tls: { verify: false } }), tls: { upstream_tls: true } })).toEqual([]);
    expect(problemsOf(backend({ tls: { verify: false } }), 'update')).toEqual([]);
  });

  test('the targets rule applies when the platform gives it, in a provision and in an update', () => {
    const targets = { domain: 'edge.example.com', fleetCidrs: ['10.1.0.0/16'], allowLoopbackBackends: false };
    const loopback = { ...BASE, ...backend({ address: '127.0.0.1' }) };
    expect(check(loopback).ok).toBe(true);
    for (const mode of ['create', 'update'] as const) {
      const result = checkServiceParameters(loopback, { regions: REGIONS, mode, targets });
      expect(result.ok).toBe(false);
      expect(!result.ok && result.problems.map((p) => p.field)).toEqual(['backends[0].address']);
      expect(!result.ok && result.description).toMatch(/^Invalid parameters: backends\[0\]\.address: .*loopback/);
    }
  });

  test("Envoy's limits beyond the schema are checked, and each problem is said once", () => {
    const result = check({ ...BASE, ...route({}, { safe_regex: '(' }) });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems.map((p) => p.field)).toEqual(['routes[0].match.safe_regex']);
    const twice = check({ ...BASE, routes: [{ match: { safe_regex: '(' } }, { match: { safe_regex: '(' } }] });
    expect(!twice.ok && twice.problems.map((p) => p.field)).toEqual(['routes[0].match.safe_regex', 'routes[1].match.safe_regex']);
  });
});

describe('upstream TLS', () => {
  test('by default the first backend\'s protocol decides; tls.upstream_tls overrides it', () => {
    expect(usesUpstreamTls({ backends: [HTTPS_BACKEND as never] })).toBe(true);
    expect(usesUpstreamTls({ backends: [BASE.backends[0] as never, HTTPS_BACKEND as never] })).toBe(false);
    expect(usesUpstreamTls({ backends: [HTTPS_BACKEND as never], tls: { upstream_tls: false } })).toBe(false);
    expect(usesUpstreamTls({ backends: [BASE.backends[0] as never], tls: { upstream_tls: true } })).toBe(true);
    expect(usesUpstreamTls({ backends: undefined as never })).toBe(false);
  });

  test('the backends reported as unverified: those with verify: false, over TLS only', () => {
    const backends = [
      { address: 'a.example.org', port: 443, protocol: 'https', tls: { verify: false } },
      { address: 'b.example.org', port: 8443, protocol: 'https', tls: { verify: true } },
      { address: 'legacy.example.org', port: 443, protocol: 'https', tls: { verify: false } },
      { address: 'c.example.org', port: 443, protocol: 'https' },
    ] as never[];
    expect(unverifiedTlsBackends({ backends })).toEqual(['backends[0] (a.example.org:443)', 'backends[2] (legacy.example.org:443)']);
    expect(unverifiedTlsBackends({ backends, tls: { upstream_tls: false } })).toEqual([]);
    expect(unverifiedTlsBackends({ backends: undefined as never, tls: { upstream_tls: true } })).toEqual([]);
  });
});
