/**
 * Targets the edge may not reach: the one rule for every address a tenant gives the
 * proxies to connect to (`backends[].address`, `auth.ext_authz.address`). The broker
 * refuses such parameters with a 400; the control plane applies the same rule on every
 * render (issue 13, phase 2), because the route table has writers other than the broker.
 *
 * Pure: no I/O, no DNS. A name is judged by its spelling only; what a name resolves to
 * at request time (DNS rebinding, a public name pointing at 127.0.0.1) is the proxy
 * host's packet filter's job (docs/threat-model.md).
 *
 * What is refused, and why:
 * - the proxy host itself: loopback (127.0.0.0/8, ::1, `localhost`, `*.localhost` per
 *   RFC 6761, and the loopback aliases Amazon Linux 2023 puts in /etc/hosts), the
 *   unspecified address (0.0.0.0/8 and ::; Linux connects 0.0.0.0 to the local host);
 * - the instance's link-local services: 169.254.0.0/16 (metadata 169.254.169.254, DNS
 *   .253, time .123, ECS task metadata 169.254.170.2), fe80::/10, and their IPv6 forms on
 *   Nitro, fd00:ec2::/32 (fd00:ec2::254 metadata, ::253 DNS, ::123 time; AWS whitepaper
 *   "IPv6 on AWS", "Supporting Amazon VPC services");
 * - multicast (224.0.0.0/4, ff00::/8) and reserved/broadcast (240.0.0.0/4);
 * - the fleet VPCs (the platform config's `vpcCidr` of every region): proxies, control
 *   planes, VPC endpoints and the VPC resolver live there;
 * - the platform's own names: `<domain>` and everything under it (the edge itself, so a
 *   request loop, `<region>.<domain>`, and `*.internal.<domain>`, the control planes);
 *   the EC2 private names of the fleet hosts (`*.compute.internal`, `*.ec2.internal`);
 * - spellings that hide an address: IPv4 in decimal, octal or hex (`2130706433`,
 *   `0177.0.0.1`, `0x7f.1`, `127.1`: getaddrinfo reads them as 127.0.0.1), any name whose
 *   last label is numeric, IPv6 zone ids, bracketed IPv6, and IPv4 embedded in IPv6
 *   (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, translated ::ffff:0:a.b.c.d, NAT64
 *   64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16) when the IPv4 inside is refused;
 * - single-label names (`instance-data`, `ip-10-1-0-5`): the resolver appends the
 *   host's search domains (the VPC's `<region>.compute.internal`).
 *
 * Locally (`npm start`) the sample backends listen on loopback: `allowLoopbackBackends`
 * waives the loopback rule for backends only (never for ext_authz targets, never in AWS).
 */
import { ParameterProblem } from './field-path';
import { ServiceParameters } from './service-parameters';

/** What a target is: a backend the edge routes to, or the ext_authz service it asks. */
export type TargetKind = 'backend' | 'ext_authz';

/** The platform settings the rule needs; the broker and the control plane build one from their config. */
export interface TargetPolicy {
  /** The platform domain (`edge.example.com`). */
  readonly domain: string;
  /** The fleet VPCs' IPv4 CIDRs (`10.1.0.0/16`, one per fleet region). */
  readonly fleetCidrs: readonly string[];
  /** Only the local platform: loopback backends are allowed (their samples listen there). */
  readonly allowLoopbackBackends: boolean;
}

/** The rules, by name; each message names its rule. */
export type TargetRule =
  | 'loopback'
  | 'unspecified'
  | 'link-local'
  | 'aws-instance-service'
  | 'multicast'
  | 'reserved'
  | 'fleet-network'
  | 'platform-name'
  | 'host-name'
  | 'numeric-name'
  | 'ipv4-spelling'
  | 'ipv6-zone'
  | 'single-label'
  | 'not-an-address';

export interface TargetRefusal {
  readonly rule: TargetRule;
  /** Why, for a person: `127.0.0.1 is a loopback address (the proxy host itself)`. */
  readonly reason: string;
}

// ---- IPv4 ------------------------------------------------------------------------

interface Ipv4Range {
  readonly base: number;
  readonly prefix: number;
  readonly rule: TargetRule;
  readonly what: string;
}

function ipv4ToText(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

function inIpv4Range(value: number, base: number, prefix: number): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (value & mask) >>> 0 === (base & mask) >>> 0;
}

const IPV4_FORBIDDEN: readonly Ipv4Range[] = [
  { base: 0x00000000, prefix: 8, rule: 'unspecified', what: 'an unspecified address (0.0.0.0/8: Linux connects it to the proxy host itself)' },
  { base: 0x7f000000, prefix: 8, rule: 'loopback', what: 'a loopback address (the proxy host itself: its admin interface and local services)' },
  { base: 0xa9fe0000, prefix: 16, rule: 'link-local', what: 'a link-local address (169.254.0.0/16: the instance metadata service and the other instance services)' },
  { base: 0xe0000000, prefix: 4, rule: 'multicast', what: 'a multicast address (224.0.0.0/4)' },
  { base: 0xf0000000, prefix: 4, rule: 'reserved', what: 'a reserved or broadcast address (240.0.0.0/4)' },
];

/** `a.b.c.d` exactly as inet_pton reads it: four decimal octets, no leading zeros. */
export function parseCanonicalIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

/**
 * An IPv4 address as inet_aton (and so getaddrinfo, and so a DNS cluster) reads it: one to
 * four parts, each decimal, octal (leading 0) or hex (0x), the last filling the remaining
 * bytes (`127.1` is 127.0.0.1, `2130706433` too). Undefined when it is not one.
 */
export function parseInetAton(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length < 1 || parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0x[0-9a-f]*$/i.test(part)) value = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) value = part.length === 1 ? 0 : parseInt(part.slice(1), 8);
    else if (/^[1-9][0-9]*$/.test(part)) value = Number(part);
    else return undefined;
    if (!Number.isFinite(value)) return undefined;
    numbers.push(value);
  }
  const last = numbers.pop() as number;
  if (numbers.some((n) => n > 255)) return undefined;
  const lastBytes = 4 - numbers.length;
  if (last >= 2 ** (8 * lastBytes)) return undefined;
  let value = 0;
  for (const n of numbers) value = value * 256 + n;
  return (value * 2 ** (8 * lastBytes) + last) >>> 0;
}

function checkIpv4(value: number, policy: TargetPolicy, shown: string): TargetRefusal | undefined {
  for (const range of IPV4_FORBIDDEN) {
    if (inIpv4Range(value, range.base, range.prefix)) return { rule: range.rule, reason: `${shown} is ${range.what}` };
  }
  for (const cidr of policy.fleetCidrs) {
    const parsed = parseIpv4Cidr(cidr);
    // A policy that cannot be read must not let everything through.
    if (!parsed) throw new Error(`target policy: fleet CIDR ${JSON.stringify(cidr)} is not an IPv4 CIDR (a.b.c.d/n)`);
    if (inIpv4Range(value, parsed.base, parsed.prefix)) {
      return { rule: 'fleet-network', reason: `${shown} is in the fleet network ${cidr} (proxies, control planes and VPC endpoints)` };
    }
  }
  return undefined;
}

/** `a.b.c.d/n` (canonical address, prefix 0 to 32), or undefined. */
export function parseIpv4Cidr(cidr: string): { base: number; prefix: number } | undefined {
  const [address, prefixText] = cidr.split('/');
  const base = parseCanonicalIpv4(address ?? '');
  const prefix = Number(prefixText);
  if (base === undefined || !/^\d{1,2}$/.test(prefixText ?? '') || prefix > 32) return undefined;
  return { base, prefix };
}

// ---- IPv6 ------------------------------------------------------------------------

/** An IPv6 address (RFC 4291 text forms, a dotted IPv4 tail included) as a 128-bit number. */
export function parseIpv6(text: string): bigint | undefined {
  if (!/^[0-9a-f:.]+$/i.test(text)) return undefined;
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    const ipv4 = parseCanonicalIpv4(text.slice(lastColon + 1));
    if (ipv4 === undefined || lastColon < 0) return undefined;
    tail = [ipv4 >>> 16, ipv4 & 0xffff];
    // `a:...:f:1.2.3.4` drops the colon before the tail; `::1.2.3.4` keeps its `::`.
    head = text.slice(0, text.endsWith('::', lastColon + 1) ? lastColon + 1 : lastColon);
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
      out.push(parseInt(group, 16));
    }
    return out;
  };
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  if (!left || !right) return undefined;
  const given = left.length + right.length + tail.length;
  let all: number[];
  if (halves.length === 2) {
    if (given > 7) return undefined;
    all = [...left, ...new Array<number>(8 - given).fill(0), ...right, ...tail];
  } else {
    if (given !== 8) return undefined;
    all = [...left, ...tail];
  }
  return all.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

interface Ipv6Range {
  readonly base: bigint;
  readonly prefix: number;
  readonly rule: TargetRule;
  readonly what: string;
}

const v6 = (text: string): bigint => parseIpv6(text) as bigint;

function inIpv6Range(value: bigint, base: bigint, prefix: number): boolean {
  const shift = BigInt(128 - prefix);
  return value >> shift === base >> shift;
}

const IPV6_FORBIDDEN: readonly Ipv6Range[] = [
  { base: 0n, prefix: 128, rule: 'unspecified', what: 'the unspecified address (::, the proxy host itself)' },
  { base: 1n, prefix: 128, rule: 'loopback', what: 'the loopback address (::1, the proxy host itself: its admin interface and local services)' },
  { base: v6('fe80::'), prefix: 10, rule: 'link-local', what: 'a link-local address (fe80::/10)' },
  { base: v6('fd00:ec2::'), prefix: 32, rule: 'aws-instance-service', what: "an address of the instance's AWS services (fd00:ec2::/32: metadata ::254, DNS ::253, time ::123)" },
  { base: v6('ff00::'), prefix: 8, rule: 'multicast', what: 'a multicast address (ff00::/8)' },
];

/** IPv6 forms that carry an IPv4 address, and where it sits. */
const IPV4_IN_IPV6: ReadonlyArray<{ base: bigint; prefix: number; shift: bigint; form: string }> = [
  { base: v6('::ffff:0:0'), prefix: 96, shift: 0n, form: 'IPv4-mapped' },
  { base: v6('::ffff:0:0:0'), prefix: 96, shift: 0n, form: 'IPv4-translated' },
  { base: v6('64:ff9b::'), prefix: 96, shift: 0n, form: 'NAT64' },
  { base: v6('64:ff9b:1::'), prefix: 48, shift: 0n, form: 'NAT64 (local use)' },
  { base: v6('2002::'), prefix: 16, shift: 80n, form: '6to4' },
  // Last: ::a.b.c.d (IPv4-compatible, deprecated) also covers :: and ::1, checked before.
  { base: 0n, prefix: 96, shift: 0n, form: 'IPv4-compatible' },
];

function checkIpv6(value: bigint, policy: TargetPolicy, shown: string): TargetRefusal | undefined {
  for (const range of IPV6_FORBIDDEN) {
    if (inIpv6Range(value, range.base, range.prefix)) return { rule: range.rule, reason: `${shown} is ${range.what}` };
  }
  for (const embedded of IPV4_IN_IPV6) {
    if (!inIpv6Range(value, embedded.base, embedded.prefix)) continue;
    const ipv4 = Number((value >> embedded.shift) & 0xffffffffn) >>> 0;
    const inner = checkIpv4(ipv4, policy, ipv4ToText(ipv4));
    if (inner) return { rule: inner.rule, reason: `${shown} is the ${embedded.form} form of ${inner.reason}` };
    return undefined;
  }
  return undefined;
}

// ---- names -----------------------------------------------------------------------

/** What Amazon Linux 2023's /etc/hosts maps to loopback, besides `localhost`. */
const LOOPBACK_NAMES = new Set(['localhost.localdomain', 'localhost4', 'localhost4.localdomain4', 'localhost6', 'localhost6.localdomain6', 'ip6-localhost', 'ip6-loopback']);

/** EC2's private DNS names of instances in a VPC (`ip-10-1-0-5.eu-west-1.compute.internal`; `ec2.internal` in us-east-1). */
const EC2_PRIVATE_ZONES = ['compute.internal', 'ec2.internal'];

const under = (name: string, zone: string): boolean => name === zone || name.endsWith(`.${zone}`);

function checkName(name: string, policy: TargetPolicy, shown: string): TargetRefusal | undefined {
  if (name === 'localhost' || name.endsWith('.localhost') || LOOPBACK_NAMES.has(name)) {
    return { rule: 'loopback', reason: `${shown} is a loopback name (the proxy host itself: its admin interface and local services)` };
  }
  const domain = policy.domain.toLowerCase().replace(/\.$/, '');
  if (under(name, `internal.${domain}`)) {
    return { rule: 'platform-name', reason: `${shown} is a platform name (internal.${domain}: the control planes' private endpoints)` };
  }
  if (under(name, domain)) {
    return { rule: 'platform-name', reason: `${shown} is a platform name (${domain} and every name under it is the edge itself: a request loop)` };
  }
  const zone = EC2_PRIVATE_ZONES.find((z) => under(name, z));
  if (zone) return { rule: 'host-name', reason: `${shown} is an EC2 private name (${zone}: the hosts of the fleet's network)` };
  if (!name.includes('.')) {
    return { rule: 'single-label', reason: `${shown} is a single-label name (the resolver would look it up in the proxy host's search domains); give a fully qualified name` };
  }
  return undefined;
}

// ---- the rule ----------------------------------------------------------------------

function refusalFor(address: string, policy: TargetPolicy): TargetRefusal | undefined {
  const shown = JSON.stringify(address);
  const text = address.trim();
  if (text !== address || text === '') return { rule: 'not-an-address', reason: `${shown} is not an IP address or a DNS name` };
  if (text.includes('%')) return { rule: 'ipv6-zone', reason: `${shown} has an IPv6 zone id (an interface of the proxy host); give a global address` };
  if (text.startsWith('[') || text.endsWith(']')) return { rule: 'not-an-address', reason: `${shown}: give the IPv6 address without brackets` };
  const lower = text.toLowerCase();

  if (lower.includes(':')) {
    const value = parseIpv6(lower);
    if (value === undefined) return { rule: 'not-an-address', reason: `${shown} is not an IPv6 address` };
    return checkIpv6(value, policy, shown);
  }

  // A trailing dot is the same name, fully qualified.
  const name = lower.endsWith('.') ? lower.slice(0, -1) : lower;
  if (name === '' || name.split('.').some((label) => label === '')) return { rule: 'not-an-address', reason: `${shown} is not an IP address or a DNS name` };
  const canonical = parseCanonicalIpv4(name);
  if (canonical !== undefined) return checkIpv4(canonical, policy, shown);

  // WHATWG URL's "ends in a number": such a host is an IPv4 address to every resolver.
  const last = name.slice(name.lastIndexOf('.') + 1);
  if (/^(0x[0-9a-f]*|[0-9]+)$/.test(last)) {
    const value = parseInetAton(name);
    if (value === undefined) return { rule: 'numeric-name', reason: `${shown} ends in a numeric label, so it is not a DNS name, and not an IPv4 address either` };
    const inner = checkIpv4(value, policy, ipv4ToText(value));
    return {
      rule: inner?.rule ?? 'ipv4-spelling',
      reason: inner
        ? `${shown} is ${ipv4ToText(value)} in another spelling, and ${inner.reason}`
        : `${shown} is the IPv4 address ${ipv4ToText(value)} in another spelling; write it as ${ipv4ToText(value)}`,
    };
  }
  return checkName(name, policy, shown);
}

/**
 * Why the edge may not connect to `address`, or undefined when it may. Loopback is
 * waived for backends when the policy allows it (the local platform); every other rule
 * holds everywhere.
 */
export function checkTarget(address: string, kind: TargetKind, policy: TargetPolicy): TargetRefusal | undefined {
  const refusal = refusalFor(address, policy);
  if (refusal?.rule === 'loopback' && kind === 'backend' && policy.allowLoopbackBackends) return undefined;
  return refusal;
}

/** Every target of a configuration the edge may not reach, each naming the field. */
export function targetProblems(parameters: Pick<ServiceParameters, 'backends' | 'auth'>, policy: TargetPolicy): ParameterProblem[] {
  const problems: ParameterProblem[] = [];
  (parameters.backends ?? []).forEach((backend, i) => {
    const refusal = checkTarget(backend.address, 'backend', policy);
    if (refusal) problems.push({ field: `backends[${i}].address`, message: refusalMessage(refusal) });
  });
  const authz = parameters.auth?.ext_authz;
  if (authz) {
    const refusal = checkTarget(authz.address, 'ext_authz', policy);
    if (refusal) problems.push({ field: 'auth.ext_authz.address', message: refusalMessage(refusal) });
  }
  return problems;
}

function refusalMessage(refusal: TargetRefusal): string {
  return `${refusal.reason}; the edge may not reach it (rule: ${refusal.rule})`;
}
