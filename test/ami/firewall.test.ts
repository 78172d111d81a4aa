import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AL2023_AARCH64_GRAINS } from '../../ami/scripts/lib/jinja';
import { amiPaths } from '../../ami/scripts/lib/paths';
import { loadPillar, renderSaltTree } from '../../ami/scripts/lib/salt-tree';
import { TOOLS, Tool, command, withTools } from '../support/tools';

/**
 * The envoy user's packet filter (issue 13 item 1, on the proxy host): the ruleset Salt renders,
 * read rule by rule; `nft -c` on it where nftables is installed; and, where this runs as root with
 * network namespaces, loaded for real by the image's own edge-firewall into a throwaway network
 * namespace and probed as the envoy user and as root.
 */
const paths = amiPaths();
const LIB = join(paths.saltRoot, 'envoy', 'files', 'edge-lib.sh');
const LOADER = join(paths.saltRoot, 'firewall', 'files', 'edge-firewall');
const PROBE = readFileSync(join(__dirname, 'fixtures', 'netns-probe.js'), 'utf8');
const ENVOY_UID = 4242;
const VPC = '10.4.0.0/16';
const XDS_PORT = 18000;

const withNft = withTools('the nft checks of the packet filter', [TOOLS.nft]);
// Loading rules and switching uid need root and a network namespace of our own.
const NAMESPACE: Tool = {
  name: 'root, unshare --net, ip, setpriv and a node the probe user can run',
  install: 'apt-get install iproute2 util-linux, and run the tests as root in a container that allows network namespaces',
  present: () =>
    TOOLS.nft.present() &&
    command('ip', 'iproute2').present() &&
    command('setpriv', 'util-linux').present() &&
    process.getuid?.() === 0 &&
    spawnSync('unshare', ['--net', 'true'], { stdio: 'ignore' }).status === 0 &&
    spawnSync('setpriv', ['--reuid', String(ENVOY_UID), '--regid', String(ENVOY_UID), '--clear-groups', process.execPath, '-e', '0'], { cwd: '/', stdio: 'ignore' }).status === 0,
};
const withNamespace = withTools('the packet filter behaviour tests', [TOOLS.nft, NAMESPACE]);

function renderedRuleset(): string {
  const { pillar } = loadPillar(paths.pillarRoot, AL2023_AARCH64_GRAINS);
  const tree = renderSaltTree(paths.saltRoot, pillar, AL2023_AARCH64_GRAINS);
  expect(tree.problems).toEqual([]);
  return tree.files.get('/etc/nftables/edge-egress.nft')!.text;
}

/** The ruleset as data: its sets' elements and each chain's rules, comments and blank lines left out. */
function parseRuleset(text: string) {
  const lines = text.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
  const sets: Record<string, string[]> = {};
  const chains: Record<string, string[]> = {};
  let block: { kind: 'set' | 'chain'; name: string } | undefined;
  for (const line of lines) {
    const opened = /^(set|chain) (\S+) \{$/.exec(line);
    if (opened) {
      block = { kind: opened[1] as 'set' | 'chain', name: opened[2] };
      if (block.kind === 'chain') chains[block.name] = [];
      continue;
    }
    if (line === '}') {
      block = undefined;
      continue;
    }
    if (block?.kind === 'set') {
      const elements = /^elements = \{ (.*) \}$/.exec(line);
      if (elements) sets[block.name] = elements[1].split(', ');
    } else if (block?.kind === 'chain') {
      chains[block.name].push(line);
    }
  }
  const preamble = lines.slice(0, lines.findIndex((l) => l.startsWith('table inet edge_egress {')));
  return { sets, chains, preamble };
}

function writeEnv(dir: string, values: Record<string, string | undefined>): string {
  const file = join(dir, 'bootstrap.env');
  writeFileSync(file, Object.entries(values).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join('\n'));
  return file;
}

/** Runs the image's edge-firewall with its overrides. */
function runLoader(dir: string, values: Record<string, string | undefined>, env: Record<string, string> = {}, args: string[] = []) {
  const ruleset = join(dir, 'edge-egress.nft');
  writeFileSync(ruleset, renderedRuleset());
  return spawnSync('bash', [LOADER, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      EDGE_LIB: LIB,
      EDGE_BOOTSTRAP_ENV: writeEnv(dir, values),
      EDGE_FIREWALL_RULESET: ruleset,
      EDGE_FIREWALL_RUN_DIR: join(dir, 'run'),
      EDGE_ENVOY_UID: String(ENVOY_UID),
      ...env,
    },
  });
}

describe('the envoy user\'s packet filter, as rendered', () => {
  const { sets, chains, preamble } = parseRuleset(renderedRuleset());

  test('replaces only its own table, atomically, with this instance\'s values from an include', () => {
    expect(preamble).toEqual(['#!/usr/sbin/nft -f'.replace(/#.*$/, ''), 'include "edge-fleet.nft"', 'table inet edge_egress', 'delete table inet edge_egress'].filter(Boolean));
    expect(renderedRuleset()).not.toMatch(/flush ruleset/);
  });

  test('only the envoy user\'s packets are judged (root, the SSM and CloudWatch agents keep their access)', () => {
    expect(chains.output).toEqual(['type filter hook output priority filter; policy accept;', 'meta skuid $envoy_uid jump envoy_egress']);
  });

  test('the envoy user: DNS and the control plane\'s xDS port allowed first; metadata service, link-local, loopback and the VPC refused, logged and counted', () => {
    expect(chains.envoy_egress).toEqual([
      'tcp flags & (syn | ack) != syn accept',
      'ip daddr @dns_ipv4 meta l4proto { tcp, udp } th dport 53 accept',
      'ip6 daddr @dns_ipv6 meta l4proto { tcp, udp } th dport 53 accept',
      'ip daddr $vpc_cidr tcp dport $xds_port accept',
      'ip daddr @forbidden_ipv4 limit rate 10/minute log prefix "edge-egress refused: " level warn',
      'ip daddr @forbidden_ipv4 counter reject with icmpx admin-prohibited',
      'ip6 daddr @forbidden_ipv6 limit rate 10/minute log prefix "edge-egress refused: " level warn',
      'ip6 daddr @forbidden_ipv6 counter reject with icmpx admin-prohibited',
    ]);
  });

  test('what is refused: IMDS and all of link-local, loopback, unspecified, multicast/reserved, the fleet VPC; over IPv6 the same and the Nitro services', () => {
    expect(sets.forbidden_ipv4).toEqual(['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4', '$vpc_cidr']);
    expect(sets.forbidden_ipv6).toEqual(['::/128', '::1/128', 'fe80::/10', 'fd00:ec2::/32', 'ff00::/8']);
  });

  test('DNS Envoy may ask: systemd-resolved\'s stub, Amazon DNS (link-local, IPv6) and the VPC resolver', () => {
    expect(sets.dns_ipv4).toEqual(['127.0.0.53', '169.254.169.253', '$vpc_resolver']);
    expect(sets.dns_ipv6).toEqual(['fd00:ec2::253']);
  });
});

describe('edge-firewall (loads the ruleset with this instance\'s values)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'edge-firewall-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const good = { EDGE_VPC_CIDR: VPC, EDGE_CONTROL_PLANE_PORT: String(XDS_PORT) };

  withNft.test('renders the instance\'s values and nft checks the result (nft -c)', () => {
    const result = runLoader(dir, good, {}, ['--check']);
    expect(result.stderr).toContain('"level":"info"');
    expect(result.status).toBe(0);
    expect(readFileSync(join(dir, 'run', 'edge-fleet.nft'), 'utf8')).toContain(
      [`define envoy_uid = ${ENVOY_UID}`, `define vpc_cidr = ${VPC}`, 'define vpc_resolver = 10.4.0.2', `define xds_port = ${XDS_PORT}`].join('\n'),
    );
  });

  withNft.test('nft itself refuses a broken ruleset (the check can fail)', () => {
    const result = runLoader(dir, good, { EDGE_FIREWALL_RULESET: join(dir, 'broken.nft') }, ['--check']);
    expect(result.status).toBe(1);
    writeFileSync(join(dir, 'broken.nft'), renderedRuleset().replace('169.254.0.0/16', '169.254.0.0/33'));
    const broken = runLoader(dir, good, { EDGE_FIREWALL_RULESET: join(dir, 'broken.nft') }, ['--check']);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('the packet filter does not check');
  });

  test.each([
    ['no VPC CIDR', { EDGE_VPC_CIDR: undefined }, 'EDGE_VPC_CIDR is required'],
    ['a VPC CIDR with host bits', { EDGE_VPC_CIDR: '10.4.0.1/16' }, 'EDGE_VPC_CIDR must be a network address'],
    ['a prefix no VPC has', { EDGE_VPC_CIDR: '10.0.0.0/8' }, 'EDGE_VPC_CIDR must have a prefix length from /16 to /28'],
    ['an octet over 255', { EDGE_VPC_CIDR: '10.400.0.0/16' }, 'EDGE_VPC_CIDR must be an IPv4 CIDR'],
    ['a command for a CIDR', { EDGE_VPC_CIDR: '$(touch${IFS}/tmp/edge-pwned)' }, 'EDGE_VPC_CIDR must be an IPv4 CIDR'],
    ['a port out of range', { EDGE_CONTROL_PLANE_PORT: '70000' }, 'EDGE_CONTROL_PLANE_PORT must be a port number'],
  ])('bad input (%s) fails naming the key, and loads nothing', (_name, overrides, message) => {
    const calls = join(dir, 'nft-calls');
    const nft = join(dir, 'nft');
    writeFileSync(nft, `#!/bin/sh\necho "$*" >>"${calls}"\n`, { mode: 0o755 });
    const result = runLoader(dir, { ...good, ...overrides }, { EDGE_NFT: nft });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(message);
    expect(existsSync(calls)).toBe(false);
    expect(existsSync('/tmp/edge-pwned')).toBe(false);
  });

  test('a root uid for the envoy user is refused (the filter would judge root)', () => {
    const result = runLoader(dir, good, { EDGE_ENVOY_UID: '0' }, ['--check']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('uid must be a number other than root');
  });
});

/** Where each probe must land: through, or refused by the filter (for the envoy user). */
const TARGETS: ReadonlyArray<readonly [string, 'through' | 'refused', string]> = [
  ['tcp 169.254.169.254 80', 'refused', 'the instance metadata service (the role\'s credentials)'],
  ['tcp ::ffff:169.254.169.254 80', 'refused', 'the metadata service as an IPv4-mapped IPv6 address'],
  ['tcp 169.254.170.2 80', 'refused', 'ECS task metadata (the rest of link-local)'],
  ['tcp 169.254.169.253 80', 'refused', 'Amazon DNS\'s address on any port but 53'],
  ['udp 169.254.169.253 53', 'through', 'Amazon DNS (link-local)'],
  ['tcp 127.0.0.1 9901', 'refused', 'a loopback port (the stats listener)'],
  ['tcp 0.0.0.0 8444', 'refused', 'the unspecified address (the host itself)'],
  ['udp 127.0.0.53 53', 'through', 'systemd-resolved\'s stub, UDP'],
  ['tcp 127.0.0.53 53', 'through', 'systemd-resolved\'s stub, TCP'],
  ['udp 10.4.0.2 53', 'through', 'the VPC resolver (CIDR base + 2)'],
  ['tcp 10.4.0.2 80', 'refused', 'the VPC resolver\'s address on another port'],
  ['tcp 10.4.1.10 18000', 'through', 'the control plane\'s NLB, xDS port'],
  ['tcp 10.4.1.10 18001', 'refused', 'the control plane\'s NLB, REST port (/status)'],
  ['tcp 10.4.2.20 8443', 'refused', 'another proxy in the fleet VPC'],
  ['udp 10.4.2.20 53', 'refused', 'DNS to a VPC host other than the resolver'],
  ['udp 169.254.169.254 53', 'refused', 'UDP to the metadata service\'s address'],
  ['tcp 203.0.113.10 443', 'through', 'a backend on the internet'],
  ['tcp 10.9.0.10 443', 'through', 'a backend in a private network that is not the fleet\'s (peered, on premises)'],
  ['tcp ::1 9901', 'refused', 'IPv6 loopback'],
  ['tcp fd00:ec2::254 80', 'refused', 'the metadata service over IPv6 (Nitro)'],
  ['udp fd00:ec2::253 53', 'through', 'Amazon DNS over IPv6'],
  ['tcp 2001:db8::10 443', 'through', 'an IPv6 backend on the internet'],
];
const LOCAL_V4 = ['169.254.169.254', '169.254.170.2', '169.254.169.253', '127.0.0.53', '10.4.0.2', '10.4.1.10', '10.4.2.20', '203.0.113.10', '10.9.0.10'];
const LOCAL_V6 = ['fd00:ec2::254', 'fd00:ec2::253', '2001:db8::10'];

withNamespace.describe('the packet filter, loaded in a network namespace and probed', () => {
  let outcomes: { envoy: Record<string, string>; root: Record<string, string>; ruleset: { nftables: Array<Record<string, unknown>> } };
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'edge-netns-'));
    const ruleset = join(dir, 'edge-egress.nft');
    writeFileSync(ruleset, renderedRuleset());
    const env = writeEnv(dir, { EDGE_VPC_CIDR: VPC, EDGE_CONTROL_PLANE_PORT: String(XDS_PORT) });
    const script = [
      'set -euo pipefail',
      'ip link set lo up',
      ...LOCAL_V4.map((a) => `ip addr add ${a}/32 dev lo`),
      ...LOCAL_V6.map((a) => `ip -6 addr add ${a}/128 dev lo nodad`),
      // The image's own loader, for real (nft -f).
      `EDGE_LIB="${LIB}" EDGE_BOOTSTRAP_ENV="${env}" EDGE_FIREWALL_RULESET="${ruleset}" EDGE_FIREWALL_RUN_DIR="${join(dir, 'run')}" EDGE_ENVOY_UID=${ENVOY_UID} bash "${LOADER}"`,
      `"$NODE" -e "$PROBE" serve "$TARGETS" >"${join(dir, 'serve.out')}" &`,
      'serve=$!',
      `for _ in $(seq 1 100); do grep -q ready "${join(dir, 'serve.out')}" 2>/dev/null && break; sleep 0.1; done`,
      `grep -q ready "${join(dir, 'serve.out')}"`,
      `(cd / && setpriv --reuid ${ENVOY_UID} --regid ${ENVOY_UID} --clear-groups "$NODE" -e "$PROBE" probe "$TARGETS") >"${join(dir, 'envoy.json')}"`,
      `"$NODE" -e "$PROBE" probe "$TARGETS" >"${join(dir, 'root.json')}"`,
      `nft -j list table inet edge_egress >"${join(dir, 'ruleset.json')}"`,
      'kill "$serve"',
    ].join('\n');
    const result = spawnSync('unshare', ['--net', 'bash', '-c', script], {
      encoding: 'utf8',
      env: { ...process.env, NODE: process.execPath, PROBE, TARGETS: JSON.stringify(TARGETS.map(([t]) => t)) },
      timeout: 60_000,
    });
    if (result.status !== 0) throw new Error(`network namespace run failed (${result.status}): ${result.stderr}`);
    const read = (name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8'));
    outcomes = { envoy: read('envoy.json'), root: read('root.json'), ruleset: read('ruleset.json') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Refused by the filter: the ICMP administratively-prohibited reject, seen at once as EHOSTUNREACH
  // (IPv4) or EACCES (IPv6); "through" is a connection or an answer from the listener.
  const through = (outcome: string) => outcome === 'connected' || outcome === 'answered';
  const refused = (outcome: string) => ['EHOSTUNREACH', 'EACCES', 'EPERM'].includes(outcome);

  test.each(TARGETS.map(([target, expected, what]) => [what, target, expected] as const))('the envoy user: %s (%s) is %s', (_what, target, expected) => {
    const outcome = outcomes.envoy[target];
    expect([target, expected === 'through' ? through(outcome) : refused(outcome), outcome]).toEqual([target, true, outcome]);
  });

  test('root (the SSM and CloudWatch agents, the bootstrap writer) reaches every one of them', () => {
    for (const [target] of TARGETS) expect([target, through(outcomes.root[target])]).toEqual([target, true]);
  });

  test('the kernel holds the table as rendered, and counted every refusal', () => {
    const rules = outcomes.ruleset.nftables.filter((o) => 'rule' in o).map((o) => o.rule as { chain: string; expr: Array<Record<string, unknown>> });
    const rejects = rules.filter((r) => r.chain === 'envoy_egress' && r.expr.some((e) => 'reject' in e));
    expect(rejects).toHaveLength(2);
    const counted = rejects.map((r) => (r.expr.find((e) => 'counter' in e)!.counter as { packets: number }).packets);
    const refusedV6 = TARGETS.filter(([t, e]) => e === 'refused' && t.split(' ')[1].includes(':') && !t.includes('::ffff:')).length;
    expect(counted[1]).toBeGreaterThanOrEqual(refusedV6);
    expect(counted[0] + counted[1]).toBeGreaterThanOrEqual(TARGETS.filter(([, e]) => e === 'refused').length);
  });
});
