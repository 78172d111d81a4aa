import YAML from 'yaml';
import { checkBakeScripts } from './bake-scripts';
import type { PlatformConfig } from '../../../lib/config';
import { checkBootstrapScript } from './bootstrap-script';
import { AL2023_AARCH64_GRAINS, Grains, Json, pillarGet } from './jinja';
import { bakeInputs, checkPackerTemplate, loadPackerTemplate } from './packer';
import { AmiPaths } from './paths';
import { SaltTree, callsOf, loadPillar, renderSaltTree } from './salt-tree';
import { checkSysctls } from './sysctl';
import { checkBootstrapUnit, checkEnvoyUnit, parseUnit } from './systemd';

/** Everything `ami:validate` and the tests check, offline. */
export interface AmiReport {
  readonly problems: readonly string[];
  /** One line per check group, for people. */
  readonly summary: readonly string[];
  readonly pillar: Json;
  readonly tree: SaltTree;
}

const MIN_NOFILE = 1048576;

/** The sysctl settings the states apply (name -> value), from every sysctl.present. */
export function appliedSysctls(tree: SaltTree): Map<string, string> {
  const settings = new Map<string, string>();
  for (const { state, call } of callsOf(tree, 'sysctl', 'present')) {
    settings.set(String(call.args.name ?? state.id), String(call.args.value));
  }
  return settings;
}

function hasService(tree: SaltTree, fns: readonly string[], unit: string, extra?: (args: Record<string, Json>) => boolean): boolean {
  return tree.states.some((s) =>
    s.calls.some((c) => c.module === 'service' && fns.includes(c.fn) && (c.args.name ?? s.id) === unit && (!extra || extra(c.args))),
  );
}

/**
 * The proxy's part of the health-gated rollout and of the drain (envoy.rollout): the scripts
 * and units exist and do what the fleet stack relies on. Their behaviour is tested by running
 * them (test/ami/rollout-scripts.test.ts).
 */
function checkRolloutFiles(file: (path: string) => string | undefined): string[] {
  const problems: string[] = [];
  const rules: ReadonlyArray<readonly [string, RegExp, string]> = [
    ['/usr/local/lib/edge/edge-lib.sh', /printf '\\x0d\\x0a\\x0d\\x0a\\x00\\x0d\\x0a\\x51\\x55\\x49\\x54\\x0a\\x20/, 'must send the proxy protocol v2 signature and LOCAL command before GET /ready (as the NLB health check does)'],
    ['/usr/local/lib/edge/edge-lib.sh', /X-aws-ec2-metadata-token: \$imds_token/, 'must read instance metadata with an IMDSv2 token'],
    ['/usr/local/bin/edge-ready-signal', /aws cloudformation signal-resource/, 'must signal the fleet stack (CloudFormation SignalResource)'],
    ['/usr/local/bin/edge-ready-signal', /probe_ready "\$host" "\$port"/, 'must probe /ready through the readiness listener'],
    ['/usr/local/bin/edge-ready-signal', /--status "\$status"/, 'must signal SUCCESS or FAILURE'],
    ['/usr/local/bin/edge-lifecycle', /autoscaling\/target-lifecycle-state/, 'must watch the target lifecycle state in instance metadata'],
    ['/usr/local/bin/edge-lifecycle', /\/healthcheck\/fail/, 'must fail Envoy\'s health before draining'],
    ['/usr/local/bin/edge-lifecycle', /aws autoscaling complete-lifecycle-action/, 'must complete the termination lifecycle hook'],
    ['/etc/systemd/system/edge-ready-signal.service', /^ExecStart=\/usr\/local\/bin\/edge-ready-signal$/m, 'must run edge-ready-signal'],
    ['/etc/systemd/system/edge-lifecycle.service', /^ExecStart=\/usr\/local\/bin\/edge-lifecycle$/m, 'must run edge-lifecycle'],
    ['/etc/systemd/system/edge-lifecycle.service', /^Restart=on-failure$/m, 'must restart after a failure'],
    ['/usr/local/bin/edge-lifecycle', /--unix-socket "\$ADMIN_SOCKET"/, 'must reach Envoy\'s admin on its Unix socket'],
    ['/etc/systemd/system/edge-lifecycle.service', /^SupplementaryGroups=envoy-admin$/m, 'must join envoy-admin (the admin socket\'s group)'],
  ];
  for (const [path, pattern, rule] of rules) {
    const text = file(path);
    if (text === undefined) problems.push(`envoy: ${path} is not managed`);
    else if (!pattern.test(text)) problems.push(`envoy: ${path} ${rule}`);
  }
  return [...new Set(problems)];
}

/**
 * What keeps a tenant's route off the proxy host (issue 13 item 1) and lets the discovery token
 * rotate (item 4): the envoy user's packet filter and its loader, the admin socket's directory,
 * Envoy's hot restart and the token refresh. Their behaviour is tested by running them
 * (test/ami/firewall.test.ts, hot-restart.test.ts, token-refresh.test.ts).
 */
function checkIsolationFiles(tree: SaltTree, file: (path: string) => string | undefined): string[] {
  const problems: string[] = [];
  const rules: ReadonlyArray<readonly [string, RegExp, string]> = [
    ['/etc/nftables/edge-egress.nft', /^\s*meta skuid \$envoy_uid jump envoy_egress$/m, 'must judge the envoy user\'s packets (meta skuid)'],
    ['/etc/nftables/edge-egress.nft', /elements = \{[^}]*\b127\.0\.0\.0\/8\b[^}]*\b169\.254\.0\.0\/16\b[^}]*\$vpc_cidr \}/, 'must refuse loopback, link-local (the metadata service) and the fleet VPC over IPv4'],
    ['/etc/nftables/edge-egress.nft', /elements = \{[^}]*::1\/128[^}]*fd00:ec2::\/32[^}]*\}/, 'must refuse loopback and the Nitro instance services (fd00:ec2::/32) over IPv6'],
    ['/etc/nftables/edge-egress.nft', /ip daddr @forbidden_ipv4 counter reject/, 'must reject the refused IPv4 destinations'],
    ['/etc/nftables/edge-egress.nft', /ip6 daddr @forbidden_ipv6 counter reject/, 'must reject the refused IPv6 destinations'],
    ['/etc/nftables/edge-egress.nft', /^delete table inet edge_egress$/m, 'must replace only its own table'],
    ['/usr/local/bin/edge-firewall', /-I "\$RUN_DIR" -f "\$RULESET"/, 'must load the ruleset with the instance\'s values'],
    ['/etc/systemd/system/edge-firewall.service', /^ExecStart=\/usr\/local\/bin\/edge-firewall$/m, 'must run edge-firewall'],
    ['/etc/systemd/system/edge-firewall.service', /^CapabilityBoundingSet=CAP_NET_ADMIN$/m, 'must hold CAP_NET_ADMIN and nothing else'],
    ['/etc/tmpfiles.d/envoy-admin.conf', /^d \/run\/envoy-admin 2750 envoy envoy-admin -$/m, 'must create the admin socket directory setgid envoy-admin, mode 2750'],
    ['/usr/local/bin/edge-envoy', /--restart-epoch "\$epoch"/, 'must run Envoy with hot restart epochs'],
    ['/usr/local/bin/edge-envoy', /\\"pipe\\":\{\\"path\\":\\"\$\(admin_socket "\$epoch"\)/, 'must give each epoch its own admin socket'],
    ['/usr/local/bin/edge-refresh-token', /kill -HUP "\$main_pid"/, 'must ask edge-envoy for a hot restart when the bootstrap changed'],
    ['/etc/systemd/system/edge-token-refresh.service', /^ExecStart=\/usr\/local\/bin\/edge-refresh-token$/m, 'must run edge-refresh-token'],
    ['/etc/systemd/system/edge-token-refresh.timer', /^OnUnitActiveSec=\S+$/m, 'must run the token refresh periodically'],
  ];
  for (const [path, pattern, rule] of rules) {
    const text = file(path);
    if (text === undefined) problems.push(`isolation: ${path} is not managed`);
    else if (!pattern.test(text)) problems.push(`isolation: ${path} ${rule}`);
  }
  if (/flush ruleset/.test(file('/etc/nftables/edge-egress.nft') ?? '')) problems.push('isolation: /etc/nftables/edge-egress.nft must not flush other tables (flush ruleset)');
  if (!callsOf(tree, 'pkg', 'installed').some(({ call, state }) => (call.args.name ?? state.id) === 'nftables')) problems.push('isolation: nftables must be installed');
  if (!hasService(tree, ['enabled', 'running'], 'edge-token-refresh.timer')) problems.push('isolation: edge-token-refresh.timer must be enabled');
  return [...new Set(problems)];
}

/** Checks of the rendered tree against what each state promises. */
export function checkStateGuarantees(tree: SaltTree, pillar: Json, config: PlatformConfig): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };
  const file = (path: string) => tree.files.get(path)?.text;

  // envoy
  const binary = callsOf(tree, 'file', 'managed').find(({ call }) => /^\/usr\/local\/bin\/envoy-/.test(String(call.args.name)));
  need(binary !== undefined && /^https:\/\//.test(String(binary.call.args.source)) && /^sha256=[0-9a-f]{64}$/.test(String(binary.call.args.source_hash)),
    'envoy: the binary must come from an https artifact verified by a sha256 source_hash');
  need(callsOf(tree, 'user', 'present').some(({ call, state }) => (call.args.name ?? state.id) === 'envoy' && call.args.system === true && /nologin/.test(String(call.args.shell))),
    'envoy: a system user "envoy" without a login shell is required');
  for (const dir of ['/etc/envoy', '/var/log/envoy', '/etc/edge']) {
    need(callsOf(tree, 'file', 'directory').some(({ call, state }) => (call.args.name ?? state.id) === dir), `envoy: directory ${dir} must be managed`);
  }
  const limit = Number(pillarGet(pillar, 'envoy:limit_nofile', 0));
  need(limit >= MIN_NOFILE, `pillar envoy:limit_nofile must be >= ${MIN_NOFILE}, got ${limit}`);
  const envoyUnit = file('/etc/systemd/system/envoy.service');
  const bootstrapUnit = file('/etc/systemd/system/edge-bootstrap.service');
  const writer = file('/usr/local/bin/edge-write-bootstrap');
  try {
    if (!envoyUnit) problems.push('envoy: /etc/systemd/system/envoy.service is not managed');
    else problems.push(...checkEnvoyUnit(parseUnit(envoyUnit, 'envoy.service'), MIN_NOFILE));
    if (!bootstrapUnit) problems.push('envoy: /etc/systemd/system/edge-bootstrap.service is not managed');
    else problems.push(...checkBootstrapUnit(parseUnit(bootstrapUnit, 'edge-bootstrap.service')));
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (!writer) problems.push('envoy: /usr/local/bin/edge-write-bootstrap is not managed');
  else problems.push(...checkBootstrapScript(writer));
  problems.push(...checkRolloutFiles(file));
  problems.push(...checkIsolationFiles(tree, file));
  need(!hasService(tree, ['running', 'enabled'], 'envoy.service'), 'envoy: envoy.service must not be enabled in the image (user data enables it)');
  const ports = pillarGet(pillar, 'envoy:ports', {}) as Record<string, Json>;
  const expectedPorts = {
    https_traffic: config.envoy.httpsTrafficPort,
    http_traffic: config.envoy.httpTrafficPort,
    readiness: config.envoy.readinessPort,
    // The config's adminPort: the loopback stats listener (the admin itself is a Unix socket).
    metrics: config.envoy.adminPort,
  };
  for (const [key, value] of Object.entries(expectedPorts)) {
    need(ports[key] === value, `pillar envoy:ports:${key} is ${JSON.stringify(ports[key])}, the platform config says ${value}`);
  }

  // network
  problems.push(...checkSysctls(appliedSysctls(tree), { listenerPorts: Object.values(expectedPorts), limitNofile: limit }));
  const limits = file('/etc/security/limits.d/90-edge-nofile.conf') ?? '';
  need(/^\*\s+hard\s+nofile\s+(\d+)/m.test(limits) && Number(/^\*\s+hard\s+nofile\s+(\d+)/m.exec(limits)?.[1]) >= MIN_NOFILE,
    `network: limits.d must set a hard nofile >= ${MIN_NOFILE}`);

  // hardening
  need(hasService(tree, ['running', 'enabled'], 'amazon-ssm-agent.service'), 'hardening: amazon-ssm-agent must be enabled (SSM replaces SSH)');
  need(hasService(tree, ['masked'], 'sshd.service') && hasService(tree, ['disabled', 'dead'], 'sshd.service'), 'hardening: sshd.service must be disabled and masked');
  need(hasService(tree, ['running'], 'auditd.service', (a) => a.enable === true), 'hardening: auditd must run and be enabled');
  need(/-w \/etc\/envoy\/ /.test(file('/etc/audit/rules.d/50-edge.rules') ?? ''), 'hardening: audit rules must watch /etc/envoy');
  need(hasService(tree, ['running'], 'chronyd.service', (a) => a.enable === true), 'hardening: chronyd must run and be enabled');
  need(/^server 169\.254\.169\.123 /m.test(file('/etc/chrony.conf') ?? ''), 'hardening: chrony must use the Amazon Time Sync Service (169.254.169.123)');
  const automatic = callsOf(tree, 'ini', 'options_present').find(({ call, state }) => (call.args.name ?? state.id) === '/etc/dnf/automatic.conf');
  const commands = (automatic?.call.args.sections as Record<string, Record<string, Json>> | undefined)?.commands;
  need(commands?.upgrade_type === 'security' && commands?.apply_updates === 'yes', 'hardening: dnf-automatic must apply security updates');
  need(hasService(tree, ['running', 'enabled'], 'dnf-automatic.timer'), 'hardening: dnf-automatic.timer must be enabled');
  need(/^PasswordAuthentication no$/m.test(file('/etc/ssh/sshd_config.d/10-edge.conf') ?? ''), 'hardening: sshd fallback policy must forbid passwords');

  // observability
  try {
    const agent = JSON.parse(file('/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json') ?? 'null') as {
      logs?: { logs_collected?: { files?: { collect_list?: Array<{ file_path: string }> } }; metrics_collected?: { prometheus?: unknown } };
    } | null;
    const shipped = agent?.logs?.logs_collected?.files?.collect_list?.map((f) => f.file_path) ?? [];
    for (const path of ['/var/log/envoy/access.log', '/var/log/messages']) need(shipped.includes(path), `observability: the CloudWatch agent must ship ${path}`);
    need(agent?.logs?.metrics_collected?.prometheus !== undefined, 'observability: the CloudWatch agent must scrape Envoy stats (prometheus)');
  } catch (err) {
    problems.push(`observability: amazon-cloudwatch-agent.json is not valid JSON: ${(err as Error).message}`);
  }
  try {
    const scrape = YAML.parse(file('/opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml') ?? '') as {
      scrape_configs?: Array<{ metrics_path?: string; static_configs?: Array<{ targets?: string[] }> }>;
    } | null;
    const job = scrape?.scrape_configs?.[0];
    need(job?.metrics_path === '/stats/prometheus', 'observability: Prometheus must scrape /stats/prometheus');
    need(job?.static_configs?.[0]?.targets?.[0] === `127.0.0.1:${config.envoy.adminPort}`, `observability: Prometheus must scrape 127.0.0.1:${config.envoy.adminPort}`);
  } catch (err) {
    problems.push(`observability: prometheus.yaml is not valid YAML: ${(err as Error).message}`);
  }
  need(hasService(tree, ['running', 'enabled'], 'amazon-cloudwatch-agent.service'), 'observability: the CloudWatch agent must be enabled');
  need(/^\/var\/log\/envoy\/\*\.log \{/m.test(file('/etc/logrotate.d/envoy') ?? ''), 'observability: logrotate must rotate /var/log/envoy/*.log');
  return problems;
}

/** Runs every offline check of the image sources against the platform config. */
export async function checkAmi(paths: AmiPaths, config: PlatformConfig, grains: Grains = AL2023_AARCH64_GRAINS): Promise<AmiReport> {
  const summary: string[] = [];
  const { pillar, problems: pillarProblems } = loadPillar(paths.pillarRoot, grains);
  const tree = renderSaltTree(paths.saltRoot, pillar, grains);
  summary.push(`salt: ${tree.sls.length} sls files rendered, ${tree.states.length} states, ${tree.files.size} managed files (${String(grains.os)} ${String(grains.osrelease)} ${String(grains.cpuarch)})`);
  const guarantees = tree.problems.length ? [] : checkStateGuarantees(tree, pillar, config);
  summary.push(tree.problems.length
    ? 'states: guarantees not checked (fix the tree first)'
    : `states: envoy, network, hardening, observability checked against their guarantees (${guarantees.length} problem(s))`);

  const inputs = bakeInputs(config, pillar);
  let packerProblems: string[];
  try {
    const template = await loadPackerTemplate(paths.packerDir);
    packerProblems = [...checkPackerTemplate(template, inputs, config.fleet.rootVolumeGiB), ...checkBakeScripts(paths.packerDir)];
    const copies = inputs.fleet_regions.filter((r) => r !== inputs.build_region);
    summary.push(`packer: template parses as HCL2; builds in ${inputs.build_region}, copies to ${copies.length} more fleet regions (${copies.join(', ')})`);
  } catch (err) {
    packerProblems = [(err as Error).message];
  }
  return {
    problems: [
      ...pillarProblems.map((p) => `pillar: ${p}`),
      ...tree.problems.map((p) => `salt: ${p}`),
      ...guarantees,
      ...packerProblems.map((p) => `packer: ${p}`),
    ],
    summary,
    pillar,
    tree,
  };
}
