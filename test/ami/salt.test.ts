import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import YAML from 'yaml';
import { resolveConfig } from '../../lib/config';
import { appliedSysctls, checkAmi, checkStateGuarantees } from '../../ami/scripts/lib/check-ami';
import { AL2023_AARCH64_GRAINS, UBUNTU_AMD64_GRAINS, renderJinja } from '../../ami/scripts/lib/jinja';
import { amiPaths } from '../../ami/scripts/lib/paths';
import { STATE_FUNCTIONS, SaltTree, callsOf, loadPillar, renderSaltTree } from '../../ami/scripts/lib/salt-tree';
import { checkSysctls } from '../../ami/scripts/lib/sysctl';
import { checkBootstrapUnit, checkEnvoyUnit, parseUnit, unitValue } from '../../ami/scripts/lib/systemd';
import { AmiCopy, copyAmiTree } from './support';

const config = resolveConfig();

/** The sls name of every state file under `root` but top.sls (`a/init.sls` is `a`, `a/b.sls` is `a.b`), sorted. */
function slsOnDisk(root: string): string[] {
  const files = readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.sls'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
  return files
    .filter((file) => file !== 'top.sls')
    .map((file) => file.replace(/\.sls$/, '').replace(/\/init$/, '').split('/').join('.'))
    .sort();
}
const paths = amiPaths();

describe('Salt tree for Amazon Linux 2023 on Graviton', () => {
  const { pillar, problems: pillarProblems } = loadPillar(paths.pillarRoot, AL2023_AARCH64_GRAINS);
  let tree: SaltTree;
  beforeAll(() => {
    tree = renderSaltTree(paths.saltRoot, pillar, AL2023_AARCH64_GRAINS);
  });

  test('the pillar defaults render', () => {
    expect(pillarProblems).toEqual([]);
    expect(Object.keys(pillar).sort()).toEqual(['envoy', 'firewall', 'hardening', 'network', 'observability']);
  });

  test('every .sls renders, parses as YAML and passes the tree checks', () => {
    expect(tree.problems).toEqual([]);
    expect(tree.sls).toEqual(expect.arrayContaining(['platform', 'envoy', 'envoy.bootstrap', 'envoy.token', 'firewall', 'network', 'hardening', 'hardening.audit', 'observability', 'observability.cloudwatch']));
  });

  test('nothing in the tree is left out of the run: every .sls on disk is reached from top.sls', () => {
    // An orphan .sls (one no include reaches) would never be applied by the bake.
    const onDisk = slsOnDisk(paths.saltRoot);
    expect(onDisk.length).toBeGreaterThan(20);
    expect([...tree.sls].sort()).toEqual(onDisk);
  });

  test('each state is a real Salt module.function', () => {
    expect(tree.states.length).toBeGreaterThan(50);
    for (const state of tree.states) {
      for (const call of state.calls) expect(STATE_FUNCTIONS[call.module]).toContain(call.fn);
    }
  });

  test('each state keeps the promise of its job', () => {
    expect(checkStateGuarantees(tree, pillar, config)).toEqual([]);
  });

  test('the platform guard passes', () => {
    const guard = tree.states.find((s) => s.id === 'platform-supported');
    expect(guard?.calls[0].fn).toBe('succeed_without_changes');
  });

  test('the Envoy binary is the pinned release, verified by sha256', () => {
    const [{ call }] = callsOf(tree, 'file', 'managed').filter(({ state }) => state.id === 'envoy-binary');
    const version = (pillar.envoy as { version: string }).version;
    expect(call.args.name).toBe(`/usr/local/bin/envoy-${version}`);
    expect(call.args.source).toBe(`https://github.com/envoyproxy/envoy/releases/download/v${version}/envoy-${version}-linux-aarch_64`);
    expect(call.args.source_hash).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  test('envoy.service is hardened, with nofile >= 1M and no capabilities', () => {
    const unit = parseUnit(tree.files.get('/etc/systemd/system/envoy.service')!.text);
    expect(checkEnvoyUnit(unit)).toEqual([]);
    expect(Number(unitValue(unit, 'Service', 'LimitNOFILE'))).toBeGreaterThanOrEqual(1048576);
    expect(unitValue(unit, 'Service', 'NoNewPrivileges')).toBe('yes');
    expect(unitValue(unit, 'Service', 'ProtectSystem')).toBe('strict');
    expect(unitValue(unit, 'Service', 'User')).toBe('envoy');
    // Hot restart (edge-envoy), and no Envoy without the envoy user's packet filter.
    expect(unitValue(unit, 'Service', 'ExecStart')).toBe('/usr/local/bin/edge-envoy --log-format-escaped --drain-strategy immediate');
    expect(unitValue(unit, 'Unit', 'Requires')).toBe('edge-firewall.service');
  });

  test('edge-bootstrap.service runs the writer once, before Envoy, only after user data', () => {
    const unit = parseUnit(tree.files.get('/etc/systemd/system/edge-bootstrap.service')!.text);
    expect(checkBootstrapUnit(unit)).toEqual([]);
    expect(unitValue(unit, 'Unit', 'Before')).toBe('envoy.service');
  });

  test('sysctl values are in sane ranges, and the ephemeral range clears the listener ports', () => {
    const sysctls = appliedSysctls(tree);
    expect(checkSysctls(sysctls, { listenerPorts: [8443, 8080, 8081, 9901], limitNofile: 1048576 })).toEqual([]);
    expect(Number(sysctls.get('net.core.somaxconn'))).toBeGreaterThanOrEqual(4096);
    expect(sysctls.get('net.ipv4.tcp_tw_reuse')).toBe('1');
    const conntrack = callsOf(tree, 'sysctl', 'present').filter(({ call }) => String(call.args.name).startsWith('net.netfilter.'));
    expect(conntrack.length).toBeGreaterThan(0);
    for (const { call } of conntrack) expect(call.args.onlyif).toBe('test -d /proc/sys/net/netfilter');
  });

  test('the CloudWatch agent config is JSON that ships the access log and scrapes Envoy', () => {
    const agent = JSON.parse(tree.files.get('/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json')!.text);
    expect(agent.logs.logs_collected.files.collect_list).toEqual(
      expect.arrayContaining([expect.objectContaining({ file_path: '/var/log/envoy/access.log', log_stream_name: '{instance_id}' })]),
    );
    const scrape = YAML.parse(tree.files.get('/opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml')!.text);
    expect(scrape.scrape_configs[0].static_configs[0].targets).toEqual(['127.0.0.1:9901']);
  });

  test('the token refresh timer is enabled and runs every few minutes with jitter; its service waits for bootstrap.env', () => {
    const timer = parseUnit(tree.files.get('/etc/systemd/system/edge-token-refresh.timer')!.text);
    expect(unitValue(timer, 'Timer', 'OnUnitActiveSec')).toBe('5min');
    expect(unitValue(timer, 'Timer', 'RandomizedDelaySec')).toBe('60s');
    expect(callsOf(tree, 'service', 'enabled').map(({ call }) => call.args.name)).toContain('edge-token-refresh.timer');
    const service = parseUnit(tree.files.get('/etc/systemd/system/edge-token-refresh.service')!.text);
    expect(unitValue(service, 'Unit', 'ConditionPathExists')).toBe('/etc/edge/bootstrap.env');
    expect(unitValue(service, 'Service', 'CapabilityBoundingSet')).toBe('CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_KILL');
  });
});

describe('Salt tree on an unsupported platform', () => {
  test('Ubuntu on x86_64 renders a fail-hard guard and no Envoy artifact', () => {
    const { pillar } = loadPillar(paths.pillarRoot, UBUNTU_AMD64_GRAINS);
    const tree = renderSaltTree(paths.saltRoot, pillar, UBUNTU_AMD64_GRAINS);
    const guard = tree.states.find((s) => s.id === 'platform-supported');
    expect(guard?.calls[0]).toMatchObject({ module: 'test', fn: 'fail_without_changes', args: { failhard: true } });
    expect(tree.states.find((s) => s.id === 'envoy-binary')).toBeUndefined();
    expect(tree.problems.join('\n')).toContain('envoy/install.sls: Jinja render failed');
  });
});

describe('Jinja rendering is strict like Salt', () => {
  test('an undefined name fails the render', () => {
    expect(() => renderJinja('{{ grains["nope"].x }}', {}, AL2023_AARCH64_GRAINS, 'x.sls')).toThrow(/x\.sls: Jinja render failed/);
  });
  test("salt['pillar.get'] walks colon paths and falls back to the default", () => {
    const pillar = { a: { b: { c: 3 } } };
    expect(renderJinja("{{ salt['pillar.get']('a:b:c') }}/{{ salt['pillar.get']('a:x', 'd') }}", pillar, AL2023_AARCH64_GRAINS)).toBe('3/d');
  });
});

describe('the validators catch a broken tree', () => {
  let copy: AmiCopy;
  beforeEach(() => {
    copy = copyAmiTree();
  });
  afterEach(() => copy.remove());

  const problemsAfter = async (relative: string, change: (text: string) => string): Promise<string> => {
    copy.edit(relative, change);
    return (await checkAmi(copy, config)).problems.join('\n');
  };

  test('the unbroken copy is clean', async () => {
    expect((await checkAmi(copy, config)).problems).toEqual([]);
  });

  test.each([
    ['a salt:// source that does not exist', 'salt/salt/envoy/bootstrap.sls', (t: string) => t.replace('salt://envoy/files/edge-bootstrap.service', 'salt://envoy/files/missing.service'), 'salt://envoy/files/missing.service does not exist'],
    ['a requisite naming no state', 'salt/salt/envoy/service.sls', (t: string) => t.replace('- file: envoy-link', '- file: envoy-lnk'), 'no file state with id or name "envoy-lnk"'],
    ['a requisite with the wrong module', 'salt/salt/hardening/time.sls', (t: string) => t.replace('- pkg: chrony', '- service: chrony'), 'no service state with id or name "chrony"'],
    ['a state function Salt does not have', 'salt/salt/network/init.sls', (t: string) => t.replace('file.managed', 'file.manged'), '"file.manged" is not a Salt state function'],
    ['an unknown state module', 'salt/salt/hardening/audit.sls', (t: string) => t.replace('cmd.run', 'shell.run'), '"shell" is not an allowed Salt state module'],
    ['an include of a missing sls', 'salt/salt/hardening/init.sls', (t: string) => t.replace('- hardening.kernel', '- hardening.kernal'), 'sls "hardening.kernal" has no file'],
    ['a typo in a pillar lookup', 'salt/salt/envoy/install.sls', (t: string) => t.replace("artifact['url']", "artifact['uri']"), 'Jinja render failed'],
    ['invalid YAML', 'salt/salt/hardening/kernel.sls', (t: string) => t.replace('    - source: salt://hardening/files/modprobe-blacklist.conf', '    - source: [salt://x'), 'not valid YAML'],
    ['a duplicate state id', 'salt/salt/observability/syslog.sls', (t: string) => t.replace('rsyslog:\n  pkg.installed', 'chrony:\n  pkg.installed'), 'state id "chrony" is already declared'],
    ['a remote source without a checksum', 'salt/salt/envoy/install.sls', (t: string) => t.replace(/ *- source_hash: .*\n/, ''), 'needs source_hash'],
    ['LimitNOFILE too low', 'salt/pillar/envoy.sls', (t: string) => t.replace('limit_nofile: 1048576', 'limit_nofile: 65536'), 'LimitNOFILE must be >= 1048576'],
    ['envoy.service without sandboxing', 'salt/salt/envoy/files/envoy.service.j2', (t: string) => t.replace('ProtectSystem=strict', 'ProtectSystem=full'), 'ProtectSystem=strict is required'],
    ['envoy.service with a capability', 'salt/salt/envoy/files/envoy.service.j2', (t: string) => t.replace('AmbientCapabilities=\n', 'AmbientCapabilities=CAP_NET_BIND_SERVICE\n'), 'AmbientCapabilities must be empty'],
    ['a tiny accept queue', 'salt/pillar/network.sls', (t: string) => t.replace('net.core.somaxconn: 65535', 'net.core.somaxconn: 128'), 'sysctl net.core.somaxconn: 128 is outside'],
    ['an ephemeral range over the listener ports', 'salt/pillar/network.sls', (t: string) => t.replace('"10240 65535"', '"1024 65535"'), 'outbound connections could take a listener port'],
    ['pillar ports that differ from the platform config', 'salt/pillar/envoy.sls', (t: string) => t.replace('metrics: 9901', 'metrics: 9902'), 'envoy:ports:metrics is 9902, the platform config says 9901'],
    ['sshd left enabled', 'salt/salt/hardening/ssh.sls', (t: string) => t.replace(/sshd-masked:[\s\S]*?- service: sshd-disabled\n/, ''), 'sshd.service must be disabled and masked'],
    ['no time sync source', 'salt/pillar/hardening.sls', (t: string) => t.replace('      - 169.254.169.123\n', ''), 'Amazon Time Sync Service'],
    ['a bootstrap writer that traces its commands', 'salt/salt/envoy/files/edge-write-bootstrap', (t: string) => t.replace('set -euo pipefail\n', 'set -euo pipefail\nset -x\n'), 'must not trace commands'],
    ['a bootstrap writer that reads IMDSv1', 'salt/salt/envoy/files/edge-write-bootstrap', (t: string) => t.replace('-X PUT "$IMDS/latest/api/token"', '"$IMDS/latest/api/token"'), 'IMDSv2 session token'],
    ['a bootstrap writer that logs the token', 'salt/salt/envoy/files/edge-write-bootstrap', (t: string) => t.replace('unset token\n', 'log info "token is $token"\nunset token\n'), 'must not log the token'],
    ['the CloudWatch agent not shipping access logs', 'salt/pillar/observability.sls', (t: string) => t.replace('/var/log/envoy/access.log', '/var/log/envoy/other.log'), 'must ship /var/log/envoy/access.log'],
    // Issue 11: the NLB health checks send proxy protocol v2; the readiness listener must take it.
    ['a readiness listener without the proxy protocol filter', 'salt/salt/envoy/files/edge-write-bootstrap', (t: string) => t.replace('name: "envoy.filters.listener.proxy_protocol"', 'name: "envoy.filters.listener.tls_inspector"'), 'must put the proxy_protocol listener filter on the readiness listener'],
    ['a readiness listener that refuses plain connections', 'salt/salt/envoy/files/edge-write-bootstrap', (t: string) => t.replace('allow_requests_without_proxy_protocol: true', 'allow_requests_without_proxy_protocol: false'), 'must let the readiness listener accept plain connections too'],
    ['a readiness probe without the proxy protocol header', 'salt/salt/envoy/files/edge-lib.sh', (t: string) => t.replace(/ *printf '\\x0d\\x0a.*\n/, ''), 'must send the proxy protocol v2 signature and LOCAL command'],
    ['a proxy that never signals the rollout', 'salt/salt/envoy/files/edge-ready-signal', (t: string) => t.replace('aws cloudformation signal-resource', 'true'), 'must signal the fleet stack'],
    ['a drain that never completes the hook', 'salt/salt/envoy/files/edge-lifecycle', (t: string) => t.replace('aws autoscaling complete-lifecycle-action', 'true'), 'must complete the termination lifecycle hook'],
    // Issue 13: the admin off TCP, no admin runtime layer, the packet filter, hot restart, the token refresh.
    ['an admin interface on a TCP port', 'salt/salt/envoy/files/edge-write-bootstrap', (t: string) => t.replace('admin: {address: {pipe: {path: $admin_socket, mode: 432}}}', 'admin: {address: socket("127.0.0.1"; $metrics_port)}'), 'must put the admin interface on a Unix socket'],
    ['an admin runtime layer', 'salt/salt/envoy/files/edge-write-bootstrap', (t: string) => t.replace('layers: [{name: "static", static_layer: {}}]', 'layers: [{name: "admin", admin_layer: {}}]'), 'must not give the runtime an admin layer'],
    ['an empty runtime (Envoy adds an admin layer)', 'salt/salt/envoy/files/edge-write-bootstrap', (t: string) => t.replace('layered_runtime: {layers: [{name: "static", static_layer: {}}]}', 'layered_runtime: {layers: []}'), 'must give the runtime one static layer'],
    ['readiness through the admin interface', 'salt/salt/envoy/files/edge-write-bootstrap', (t: string) => t.replace('name: "envoy.filters.http.health_check"', 'name: "envoy.filters.http.buffer"'), 'must answer GET /ready with the health check filter'],
    ['Envoy without hot restart', 'salt/salt/envoy/files/envoy.service.j2', (t: string) => t.replace('ExecStart=/usr/local/bin/edge-envoy --log-format-escaped', 'ExecStart=/usr/local/bin/envoy --config-path /etc/envoy/envoy.yaml --disable-hot-restart --log-format-escaped'), 'ExecStart must be /usr/local/bin/edge-envoy'],
    ['Envoy that starts without its packet filter', 'salt/salt/envoy/files/envoy.service.j2', (t: string) => t.replace('Requires=edge-firewall.service\n', ''), 'must Require= and start After= edge-firewall.service'],
    ['a packet filter that judges nobody', 'salt/salt/firewall/files/edge-egress.nft.j2', (t: string) => t.replace('meta skuid $envoy_uid jump envoy_egress', 'meta skuid 0 jump envoy_egress'), 'must judge the envoy user\'s packets'],
    ['a packet filter that lets Envoy reach the metadata service', 'salt/pillar/firewall.sls', (t: string) => t.replace('    - 169.254.0.0/16\n', ''), 'must refuse loopback, link-local (the metadata service) and the fleet VPC'],
    ['a packet filter that leaves Envoy the IPv6 metadata service', 'salt/pillar/firewall.sls', (t: string) => t.replace('    - "fd00:ec2::/32"\n', ''), 'must refuse loopback and the Nitro instance services'],
    ['a packet filter that flushes the host\'s other rules', 'salt/salt/firewall/files/edge-egress.nft.j2', (t: string) => t.replace('include "edge-fleet.nft"', 'include "edge-fleet.nft"\nflush ruleset'), 'must not flush other tables'],
    ['a bake check that never hot-restarts Envoy', 'packer/scripts/check-envoy.sh', (t: string) => t.replace('kill -HUP "$(systemctl show --property MainPID --value envoy.service)"', 'true'), 'must hot-restart Envoy'],
    ['a bake check that never tries the packet filter', 'packer/scripts/check-envoy.sh', (t: string) => t.replace(/if runuser -u envoy -- bash -c [^\n]*\n[^\n]*\nfi\n/, ''), 'must check the envoy user cannot reach the instance metadata service'],
    ['no token refresh', 'salt/salt/envoy/token.sls', (t: string) => t.replace(/edge-token-refresh-timer:\n {2}service\.enabled:[\s\S]*$/, ''), 'edge-token-refresh.timer must be enabled'],
    ['a drain agent outside the admin socket\'s group', 'salt/salt/envoy/files/edge-lifecycle.service', (t: string) => t.replace('SupplementaryGroups=envoy-admin\n', ''), 'must join envoy-admin'],
    ['the rollout state without its units', 'salt/salt/envoy/rollout.sls', (t: string) => t.replace(/\/etc\/systemd\/system\/edge-lifecycle\.service:\n {2}file\.managed:[\s\S]*?- file: \/usr\/local\/bin\/edge-lifecycle\n/, '').replace(/ *- file: \/etc\/systemd\/system\/edge-lifecycle\.service\n/, ''), '/etc/systemd/system/edge-lifecycle.service is not managed'],
  ])('%s', async (_name, relative, change, expected) => {
    expect(await problemsAfter(relative, change)).toContain(expected);
  });
});

describe('systemd unit parser', () => {
  test('reads sections, repeated keys and empty resets', () => {
    const unit = parseUnit('[Unit]\nAfter=a.service\n# c\n[Service]\nLimitNOFILE=1048576\nReadWritePaths=/a\nReadWritePaths=/b\n');
    expect(unitValue(unit, 'Service', 'ReadWritePaths')).toBe('/b');
    expect(unitValue(unit, 'Unit', 'After')).toBe('a.service');
  });
  test('rejects text that is not a unit', () => {
    expect(() => parseUnit('LimitNOFILE=1\n', 'x.service')).toThrow(/x\.service:1: LimitNOFILE= comes before any \[Section\]/);
    expect(() => parseUnit('[Service]\nnot a line\n', 'x.service')).toThrow(/neither a \[Section\] nor Key=value/);
  });
  test('every systemd unit or drop-in the tree manages parses', () => {
    const { pillar } = loadPillar(paths.pillarRoot, AL2023_AARCH64_GRAINS);
    const tree = renderSaltTree(paths.saltRoot, pillar, AL2023_AARCH64_GRAINS);
    const units = [...tree.files.values()].filter((f) => f.path.startsWith('/etc/systemd/system/'));
    expect(units.map((u) => u.path).sort()).toEqual([
      '/etc/systemd/system/edge-bootstrap.service',
      '/etc/systemd/system/edge-firewall.service',
      '/etc/systemd/system/edge-lifecycle.service',
      '/etc/systemd/system/edge-ready-signal.service',
      '/etc/systemd/system/edge-token-refresh.service',
      '/etc/systemd/system/edge-token-refresh.timer',
      '/etc/systemd/system/envoy.service',
      '/etc/systemd/system/logrotate.timer.d/10-hourly.conf',
    ]);
    for (const unit of units) expect(parseUnit(unit.text, unit.path).size).toBeGreaterThan(0);
    expect(parseUnit(readFileSync(join(paths.saltRoot, 'observability', 'files', 'logrotate-hourly.conf'), 'utf8')).get('Timer')?.get('OnCalendar')).toEqual(['', 'hourly']);
  });
});
