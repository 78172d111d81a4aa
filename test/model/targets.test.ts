/**
 * The targets rule (lib/model/targets.ts), as an attacker spells addresses: every form of
 * the proxy host, the instance services, the fleet's networks and the platform's names is
 * refused with the rule it breaks; ordinary backends pass. Expected values are facts about
 * how resolvers and Linux read these spellings (inet_aton, RFC 4291/6052/3056), written out
 * by hand, never computed by the module under test.
 */
import fc from 'fast-check';
import { TargetPolicy, checkTarget, parseInetAton, parseIpv4Cidr, parseIpv6, targetProblems } from '../../lib/model/targets';

const POLICY: TargetPolicy = { domain: 'edge.example.com', fleetCidrs: ['10.1.0.0/16', '10.7.0.0/16'], allowLoopbackBackends: false };
const LOCAL: TargetPolicy = { ...POLICY, allowLoopbackBackends: true };
const rule = (address: string, policy = POLICY, kind: 'backend' | 'ext_authz' = 'backend') => checkTarget(address, kind, policy)?.rule;

describe('the proxy host itself', () => {
  test.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', 'loopback'],
    ['localhost', 'loopback'],
    ['LOCALHOST', 'loopback'],
    ['localhost.', 'loopback'],
    ['127.0.0.1.', 'loopback'],
    ['admin.localhost', 'loopback'],
    ['Evil.LocalHost.', 'loopback'],
    ['localhost.localdomain', 'loopback'],
    ['localhost4', 'loopback'],
    ['localhost6.localdomain6', 'loopback'],
    ['ip6-localhost', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['0:0:0:0:0:0:0:0', 'unspecified'],
  ])('%s: %s', (address, expected) => {
    expect(rule(address)).toBe(expected);
  });

  test.each([
    // inet_aton (getaddrinfo, so a STRICT_DNS cluster) reads all of these as 127.0.0.1.
    ['2130706433', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['0X7F000001', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['0177.0.0.01', 'loopback'],
    ['127.1', 'loopback'],
    ['127.0.1', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['0x7f.0x0.0x0.0x1', 'loopback'],
    ['017700000001', 'loopback'],
    ['127.000.000.001', 'loopback'],
    // ... and these as 0.0.0.0, 169.254.169.254 and 10.1.2.3.
    ['0', 'unspecified'],
    ['0x0', 'unspecified'],
    ['2852039166', 'link-local'],
    ['0xa9.0xfe.0xa9.0xfe', 'link-local'],
    ['0251.0376.0251.0376', 'link-local'],
    ['169.254.43518', 'link-local'],
    ['10.1.515', 'fleet-network'],
  ])('%s is an IPv4 address in another spelling: %s', (address, expected) => {
    expect(rule(address)).toBe(expected);
    expect(checkTarget(address, 'backend', POLICY)?.reason).toMatch(/in another spelling/);
  });

  test('inet_aton reads the other spellings as the addresses the tests above say', () => {
    expect(parseInetAton('2130706433')).toBe(0x7f000001);
    expect(parseInetAton('0177.0.0.1')).toBe(0x7f000001);
    expect(parseInetAton('0x7f.1')).toBe(0x7f000001);
    expect(parseInetAton('127.0.1')).toBe(0x7f000001);
    expect(parseInetAton('169.254.43518')).toBe(0xa9fea9fe);
    expect(parseInetAton('256.0.0.1')).toBeUndefined();
    expect(parseInetAton('1.2.3.4.5')).toBeUndefined();
    expect(parseInetAton('1.2.3.4.0')).toBeUndefined();
    expect(parseInetAton('08.1')).toBeUndefined(); // 8 is not an octal digit
    expect(parseInetAton('4294967296')).toBeUndefined();
  });

  test('an ordinary address in another spelling is still refused: one canonical form only', () => {
    expect(rule('134744072')).toBe('ipv4-spelling'); // 8.8.8.8
    expect(checkTarget('134744072', 'backend', POLICY)?.reason).toContain('write it as 8.8.8.8');
    expect(rule('010.0.0.1')).toBe('ipv4-spelling'); // octal 8.0.0.1, not 10.0.0.1
  });

  test('a name ending in a numeric label is refused even when no resolver reads it as an address', () => {
    expect(rule('1.2.3.4.5')).toBe('numeric-name');
    expect(rule('host.123')).toBe('numeric-name');
    expect(rule('a.0x')).toBe('numeric-name'); // WHATWG: ends in a number; not an address either
    expect(rule('999.1.1.1')).toBe('numeric-name');
  });
});

describe("the instance's services", () => {
  test.each([
    ['169.254.169.254', 'link-local'],
    ['169.254.169.253', 'link-local'],
    ['169.254.170.2', 'link-local'],
    ['fe80::1', 'link-local'],
    ['FE80::a:b', 'link-local'],
    ['febf::1', 'link-local'],
    ['fd00:ec2::254', 'aws-instance-service'],
    ['fd00:ec2:0::253', 'aws-instance-service'],
    ['fd00:ec2::123', 'aws-instance-service'],
    ['instance-data', 'single-label'],
    ['instance-data.ec2.internal', 'host-name'],
    ['ip-10-1-0-5.eu-west-1.compute.internal', 'host-name'],
    ['IP-10-1-0-5.EU-WEST-1.COMPUTE.INTERNAL.', 'host-name'],
  ])('%s: %s', (address, expected) => {
    expect(rule(address)).toBe(expected);
  });

  test.each([
    ['::ffff:127.0.0.1', 'loopback', 'IPv4-mapped'],
    ['::ffff:7f00:1', 'loopback', 'IPv4-mapped'],
    ['::FFFF:169.254.169.254', 'link-local', 'IPv4-mapped'],
    ['::ffff:a9fe:a9fe', 'link-local', 'IPv4-mapped'],
    ['0:0:0:0:0:ffff:10.1.0.5', 'fleet-network', 'IPv4-mapped'],
    ['::127.0.0.1', 'loopback', 'IPv4-compatible'],
    ['::169.254.169.254', 'link-local', 'IPv4-compatible'],
    ['::ffff:0:127.0.0.1', 'loopback', 'IPv4-translated'],
    ['64:ff9b::169.254.169.254', 'link-local', 'NAT64'],
    ['64:ff9b::a01:5', 'fleet-network', 'NAT64'],
    ['64:ff9b:1::7f00:1', 'loopback', 'NAT64 (local use)'],
    ['2002:7f00:1::', 'loopback', '6to4'],
    ['2002:a9fe:a9fe::1', 'link-local', '6to4'],
  ])('%s carries a refused IPv4 address: %s (%s)', (address, expected, form) => {
    expect(rule(address)).toBe(expected);
    expect(checkTarget(address, 'backend', POLICY)?.reason).toContain(form);
  });

  test('the same IPv6 forms of an ordinary IPv4 address pass', () => {
    for (const address of ['::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1']) expect(rule(address)).toBeUndefined();
  });

  test('zone ids, brackets and malformed IPv6 are refused', () => {
    expect(rule('fe80::1%eth0')).toBe('ipv6-zone');
    expect(rule('fe80::1%25eth0')).toBe('ipv6-zone');
    expect(rule('[::1]')).toBe('not-an-address');
    expect(rule('1::2::3')).toBe('not-an-address');
    expect(rule('::ffff:999.0.0.1')).toBe('not-an-address');
    expect(rule('1:2:3:4:5:6:7:8:9')).toBe('not-an-address');
  });

  test('IPv6 parsing follows RFC 4291 text forms', () => {
    expect(parseIpv6('::1')).toBe(1n);
    expect(parseIpv6('::ffff:1.2.3.4')).toBe(0xffff01020304n);
    expect(parseIpv6('1:2:3:4:5:6:1.2.3.4')).toBe(0x0001000200030004000500060102_0304n);
    expect(parseIpv6('2001:db8::')).toBe(0x20010db8n << 96n);
    expect(parseIpv6('1:2:3:4:5:6:7:8')).toBe(0x00010002000300040005000600070008n);
    expect(parseIpv6('1:2:3:4:5:6:7')).toBeUndefined();
  });
});

describe('multicast, reserved, the fleet and the platform', () => {
  test.each([
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['10.1.0.2', 'fleet-network'],
    ['10.1.255.255', 'fleet-network'],
    ['10.7.3.4', 'fleet-network'],
    ['edge.example.com', 'platform-name'],
    ['EDGE.example.com.', 'platform-name'],
    ['eu-west-1.edge.example.com', 'platform-name'],
    ['shop.edge.example.com', 'platform-name'],
    ['internal.edge.example.com', 'platform-name'],
    ['xds.eu-west-1.internal.edge.example.com', 'platform-name'],
    ['XDS.EU-WEST-1.INTERNAL.EDGE.EXAMPLE.COM.', 'platform-name'],
  ])('%s: %s', (address, expected) => {
    expect(rule(address)).toBe(expected);
  });

  test('the fleet rule names the CIDR; the internal zone is named as the control planes', () => {
    expect(checkTarget('10.7.3.4', 'backend', POLICY)?.reason).toContain('10.7.0.0/16');
    expect(checkTarget('xds.eu-west-1.internal.edge.example.com', 'ext_authz', POLICY)?.reason).toContain("control planes' private endpoints");
  });

  test('ordinary backends pass', () => {
    for (const address of ['10.0.0.10', '10.2.0.1', '10.6.255.255', '10.8.0.1', '172.16.0.1', '192.168.1.1', '8.8.8.8', '169.253.255.255', '169.255.0.1', '223.255.255.255', '2001:db8::1', 'fc00::1', 'api.example.org', 'API.Example.ORG', 'api.example.org.', 'example.com-evil.org', 'notedge.example.com', 'my-alb-123.eu-west-1.elb.amazonaws.com', '1a.example.org', 'x.127.0.0.1.example.org']) {
      expect([address, rule(address)]).toEqual([address, undefined]);
    }
  });

  test('empty, padded and dotty names are refused', () => {
    for (const address of ['', ' ', ' 10.0.0.1', 'a..b', '.', '.example.org']) expect([address, rule(address)]).toEqual([address, 'not-an-address']);
  });
});

describe('locally: loopback backends only', () => {
  test('loopback backends pass locally, every other rule still holds', () => {
    for (const address of ['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1', '2130706433']) expect(rule(address, LOCAL)).toBeUndefined();
    expect(rule('0.0.0.0', LOCAL)).toBe('unspecified');
    expect(rule('169.254.169.254', LOCAL)).toBe('link-local');
    expect(rule('10.1.0.9', LOCAL)).toBe('fleet-network');
    expect(rule('xds.eu-west-1.internal.edge.example.com', LOCAL)).toBe('platform-name');
  });

  test('an ext_authz target is never loopback, locally either', () => {
    expect(rule('127.0.0.1', LOCAL, 'ext_authz')).toBe('loopback');
    expect(rule('localhost', LOCAL, 'ext_authz')).toBe('loopback');
  });
});

describe('targetProblems', () => {
  test('names every offending field', () => {
    const problems = targetProblems(
      {
        backends: [
          { address: '10.0.0.10', port: 80, protocol: 'http' },
          { address: '169.254.169.254', port: 80, protocol: 'http' },
        ],
        auth: { ext_authz: { address: 'xds.us-east-1.internal.edge.example.com', port: 18000, protocol: 'grpc' } },
      },
      POLICY,
    );
    expect(problems.map((p) => p.field)).toEqual(['backends[1].address', 'auth.ext_authz.address']);
    expect(problems[0].message).toMatch(/^"169\.254\.169\.254" is a link-local address .*; the edge may not reach it \(rule: link-local\)$/);
  });
});

describe('property: no spelling of a refused IPv4 address gets through', () => {
  const refusedV4 = fc.oneof(
    fc.nat({ max: 0xffffff }).map((n) => 0x7f000000 + n),
    fc.nat({ max: 0xffff }).map((n) => 0xa9fe0000 + n),
    fc.nat({ max: 0xffffff }).map((n) => n),
    fc.nat({ max: 0xffff }).map((n) => 0x0a010000 + n),
  );
  const spell = (value: number, style: number): string => {
    const b = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
    switch (style % 8) {
      case 0:
        return b.join('.');
      case 1:
        return String(value);
      case 2:
        return `0x${value.toString(16)}`;
      case 3:
        return b.map((x) => `0${x.toString(8)}`).join('.');
      case 4:
        return `${b[0]}.${(value & 0xffffff) >>> 0}`;
      case 5:
        return `::ffff:${b.join('.')}`;
      case 6:
        return `64:ff9b::${((value >>> 16) & 0xffff).toString(16)}:${(value & 0xffff).toString(16)}`;
      default:
        return `${b.join('.')}.`;
    }
  };
  test('every spelling is refused', () => {
    fc.assert(
      fc.property(refusedV4, fc.nat(), fc.boolean(), (value, style, upper) => {
        const text = spell(value >>> 0, style);
        const address = upper ? text.toUpperCase() : text;
        return checkTarget(address, 'backend', POLICY) !== undefined && checkTarget(address, 'ext_authz', POLICY) !== undefined;
      }),
      { seed: 13, numRuns: 2000 },
    );
  });
});

test('a policy whose fleet CIDR cannot be read throws rather than let every target through', () => {
  expect(() => checkTarget('8.8.8.8', 'backend', { ...POLICY, fleetCidrs: ['10.1.0.0'] })).toThrow('target policy: fleet CIDR "10.1.0.0" is not an IPv4 CIDR');
});

/**
 * What the mutation run (npm run mutate, group `targets`) found unchecked: the words of each
 * refusal, and the edges of the parsers. Expected values are written out by hand.
 */
describe('the refusals say why, in words (each reason in full)', () => {
  test.each([
    ['0.0.0.0', 'unspecified', '"0.0.0.0" is an unspecified address (0.0.0.0/8: Linux connects it to the proxy host itself)'],
    ['127.0.0.1', 'loopback', '"127.0.0.1" is a loopback address (the proxy host itself: its admin interface and local services)'],
    ['224.0.0.1', 'multicast', '"224.0.0.1" is a multicast address (224.0.0.0/4)'],
    ['240.0.0.1', 'reserved', '"240.0.0.1" is a reserved or broadcast address (240.0.0.0/4)'],
    ['::', 'unspecified', '"::" is the unspecified address (::, the proxy host itself)'],
    ['::1', 'loopback', '"::1" is the loopback address (::1, the proxy host itself: its admin interface and local services)'],
    ['fe80::1', 'link-local', '"fe80::1" is a link-local address (fe80::/10)'],
    ['fd00:ec2::254', 'aws-instance-service', '"fd00:ec2::254" is an address of the instance\'s AWS services (fd00:ec2::/32: metadata ::254, DNS ::253, time ::123)'],
    ['ff02::1', 'multicast', '"ff02::1" is a multicast address (ff00::/8)'],
    ['localhost6', 'loopback', '"localhost6" is a loopback name (the proxy host itself: its admin interface and local services)'],
    ['localhost4.localdomain4', 'loopback', '"localhost4.localdomain4" is a loopback name (the proxy host itself: its admin interface and local services)'],
    ['ip6-loopback', 'loopback', '"ip6-loopback" is a loopback name (the proxy host itself: its admin interface and local services)'],
    ['ip6-localhost', 'loopback', '"ip6-localhost" is a loopback name (the proxy host itself: its admin interface and local services)'],
    ['localhost6.localdomain6', 'loopback', '"localhost6.localdomain6" is a loopback name (the proxy host itself: its admin interface and local services)'],
    ['shop.edge.example.com', 'platform-name', '"shop.edge.example.com" is a platform name (edge.example.com and every name under it is the edge itself: a request loop)'],
    ['ip-10-1-0-5.eu-west-1.compute.internal', 'host-name', '"ip-10-1-0-5.eu-west-1.compute.internal" is an EC2 private name (compute.internal: the hosts of the fleet\'s network)'],
    ['db', 'single-label', '"db" is a single-label name (the resolver would look it up in the proxy host\'s search domains); give a fully qualified name'],
    [' 10.0.0.1', 'not-an-address', '" 10.0.0.1" is not an IP address or a DNS name'],
    ['', 'not-an-address', '"" is not an IP address or a DNS name'],
    ['a..example.org', 'not-an-address', '"a..example.org" is not an IP address or a DNS name'],
    ['fe80::1%eth0', 'ipv6-zone', '"fe80::1%eth0" has an IPv6 zone id (an interface of the proxy host); give a global address'],
    ['[2001:db8::1]', 'not-an-address', '"[2001:db8::1]": give the IPv6 address without brackets'],
    ['2001:db8::1]', 'not-an-address', '"2001:db8::1]": give the IPv6 address without brackets'],
    ['[2001:db8::1', 'not-an-address', '"[2001:db8::1": give the IPv6 address without brackets'],
    ['2001:db8::g', 'not-an-address', '"2001:db8::g" is not an IPv6 address'],
    ['::ffff:127.0.0.1', 'loopback', '"::ffff:127.0.0.1" is the IPv4-mapped form of 127.0.0.1 is a loopback address (the proxy host itself: its admin interface and local services)'],
    ['host.256', 'numeric-name', '"host.256" ends in a numeric label, so it is not a DNS name, and not an IPv4 address either'],
  ])('%s: %s', (address, rule, reason) => {
    expect(checkTarget(address, 'backend', POLICY)).toEqual({ rule, reason });
  });

  test('a field of targetProblems carries the reason and the rule', () => {
    expect(targetProblems({ backends: [{ address: 'db', port: 80, protocol: 'http' }] }, POLICY)).toEqual([
      { field: 'backends[0].address', message: '"db" is a single-label name (the resolver would look it up in the proxy host\'s search domains); give a fully qualified name; the edge may not reach it (rule: single-label)' },
    ]);
    expect(targetProblems({} as Parameters<typeof targetProblems>[0], POLICY)).toEqual([]);
  });

  test('a name whose last label only starts with digits is a name, not a numeric label', () => {
    expect(checkTarget('host.1abc', 'backend', POLICY)).toBeUndefined();
  });

  test('a policy domain is read without its case or a trailing dot', () => {
    expect(checkTarget('shop.edge.example.com', 'backend', { ...POLICY, domain: 'Edge.Example.COM.' })?.rule).toBe('platform-name');
  });
});

describe('the parsers, at their edges', () => {
  test('inet_aton: one to four parts, each anchored decimal, octal or hex; every byte but the last at most 255', () => {
    expect(parseInetAton('1.2.3.4.5')).toBeUndefined();
    expect(parseInetAton('1.2.3.4.0')).toBeUndefined();
    expect(parseInetAton('0x')).toBe(0);
    expect(parseInetAton('0x.0x.0x.0x1')).toBe(1);
    expect(parseInetAton('a0x1')).toBeUndefined();
    expect(parseInetAton('000x1')).toBeUndefined();
    expect(parseInetAton('0x1g')).toBeUndefined();
    expect(parseInetAton('019')).toBeUndefined();
    expect(parseInetAton('12 ')).toBeUndefined();
    expect(parseInetAton('255.1')).toBe(0xff000001);
    expect(parseInetAton('256.1')).toBeUndefined();
  });

  test('a fleet CIDR: a canonical address and a prefix of 0 to 32 digits', () => {
    expect(parseIpv4Cidr('10.0.0.0/32')).toEqual({ base: 0x0a000000, prefix: 32 });
    expect(parseIpv4Cidr('10.0.0.0/33')).toBeUndefined();
    expect(parseIpv4Cidr('10.0.0.0/x8')).toBeUndefined();
    expect(parseIpv4Cidr('10.0.0.0/8x')).toBeUndefined();
    expect(parseIpv4Cidr('10.0.0.0')).toBeUndefined();
    // /0 is every address: a policy naming it refuses every IPv4 target.
    expect(checkTarget('8.8.8.8', 'backend', { ...POLICY, fleetCidrs: ['0.0.0.0/0'] })?.rule).toBe('fleet-network');
  });

  test('IPv6: only hex digits, colons and a dotted tail; at most one "::"; groups of one to four digits; at most seven groups around "::"', () => {
    expect(parseIpv6('g::1')).toBeUndefined();
    expect(parseIpv6('::1g')).toBeUndefined();
    expect(parseIpv6('1.2.3.4')).toBeUndefined();
    expect(parseIpv6('1:2:3:4:5:6:7:8::9::1')).toBeUndefined();
    expect(parseIpv6('12345::1')).toBeUndefined();
    expect(parseIpv6('x1::1')).toBeUndefined();
    expect(parseIpv6('1:2:3:4:5:6:7::')).toBe(0x0001000200030004000500060007_0000n);
    expect(parseIpv6('1:2:3:4:5:6:7::8')).toBeUndefined();
  });
});
