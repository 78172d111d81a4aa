/** A systemd unit file as sections of repeated keys (the ini dialect systemd reads). */
export type Unit = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

/** Parses a unit file: `[Section]` headers, `Key=value` lines, `#`/`;` comments, `\` continuations. */
export function parseUnit(text: string, name = 'unit'): Unit {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      current = sections.get(header[1]) ?? new Map<string, string[]>();
      sections.set(header[1], current);
      return;
    }
    const pair = /^([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)$/.exec(line);
    if (!pair) throw new Error(`${name}:${index + 1}: "${line}" is neither a [Section] nor Key=value`);
    if (!current) throw new Error(`${name}:${index + 1}: ${pair[1]}= comes before any [Section]`);
    const values = current.get(pair[1]) ?? [];
    values.push(pair[2]);
    current.set(pair[1], values);
  });
  return sections;
}

/** The effective value of a key (systemd: the last assignment wins; an empty one resets lists). */
export function unitValue(unit: Unit, section: string, key: string): string | undefined {
  const values = unit.get(section)?.get(key);
  return values?.[values.length - 1];
}

/** All words of a list-valued key (After=, ReadWritePaths=, ...), honouring empty resets. */
export function unitList(unit: Unit, section: string, key: string): string[] {
  const out: string[] = [];
  for (const value of unit.get(section)?.get(key) ?? []) {
    if (value === '') out.length = 0;
    else out.push(...value.split(/\s+/).filter(Boolean));
  }
  return out;
}

/** systemd limit values: a number, or `infinity`. */
export function limitValue(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value === 'infinity') return Number.POSITIVE_INFINITY;
  const soft = value.split(':')[0];
  return /^\d+$/.test(soft) ? Number(soft) : undefined;
}

const SANDBOX_YES = ['NoNewPrivileges', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectControlGroups'];

/** Problems of the hardened envoy.service (empty when it is as the image promises). */
export function checkEnvoyUnit(unit: Unit, minNofile = 1048576, name = 'envoy.service'): string[] {
  const problems: string[] = [];
  const svc = (key: string) => unitValue(unit, 'Service', key);
  if (!unit.has('Unit') || !unit.has('Service') || !unit.has('Install')) problems.push(`${name}: needs [Unit], [Service] and [Install]`);
  for (const key of SANDBOX_YES) if (svc(key) !== 'yes') problems.push(`${name}: ${key}=yes is required`);
  if (svc('ProtectSystem') !== 'strict') problems.push(`${name}: ProtectSystem=strict is required`);
  if (!['yes', 'read-only', 'tmpfs'].includes(svc('ProtectHome') ?? '')) problems.push(`${name}: ProtectHome=yes is required`);
  const nofile = limitValue(svc('LimitNOFILE'));
  if (nofile === undefined || nofile < minNofile) problems.push(`${name}: LimitNOFILE must be >= ${minNofile}, got ${svc('LimitNOFILE') ?? 'none'}`);
  if (svc('Restart') !== 'always') problems.push(`${name}: Restart=always is required`);
  if (!svc('User') || svc('User') === 'root') problems.push(`${name}: must run as a dedicated user, not root`);
  if (unitList(unit, 'Service', 'CapabilityBoundingSet').length) problems.push(`${name}: CapabilityBoundingSet must be empty (ports are above 1024)`);
  if (unitList(unit, 'Service', 'AmbientCapabilities').length) problems.push(`${name}: AmbientCapabilities must be empty`);
  if (!unitList(unit, 'Service', 'ReadWritePaths').includes('/var/log/envoy')) problems.push(`${name}: ReadWritePaths must include /var/log/envoy`);
  // edge-envoy runs /usr/local/bin/envoy with /etc/envoy/envoy.yaml and hot restart on.
  if (!/^\/usr\/local\/bin\/edge-envoy(\s|$)/.test(svc('ExecStart') ?? '')) problems.push(`${name}: ExecStart must be /usr/local/bin/edge-envoy (Envoy with hot restart)`);
  if (/--disable-hot-restart/.test(`${svc('ExecStart') ?? ''} ${svc('ExecStartPre') ?? ''}`)) problems.push(`${name}: must not disable hot restart (a token rotation is taken up by a hot restart)`);
  if (!/^\/usr\/local\/bin\/envoy --mode validate --config-path \/etc\/envoy\/envoy\.yaml$/.test(svc('ExecStartPre') ?? '')) {
    problems.push(`${name}: ExecStartPre must validate /etc/envoy/envoy.yaml (envoy --mode validate)`);
  }
  if (!unitList(unit, 'Unit', 'After').includes('edge-bootstrap.service')) problems.push(`${name}: must start After=edge-bootstrap.service`);
  if (!unitList(unit, 'Unit', 'Requires').includes('edge-firewall.service') || !unitList(unit, 'Unit', 'After').includes('edge-firewall.service')) {
    problems.push(`${name}: must Require= and start After= edge-firewall.service (no packet filter, no Envoy)`);
  }
  if (!unitList(unit, 'Service', 'ReadWritePaths').includes('/run/envoy-admin')) problems.push(`${name}: ReadWritePaths must include /run/envoy-admin (the admin sockets)`);
  if (unitValue(unit, 'Service', 'RuntimeDirectory') !== 'envoy') problems.push(`${name}: RuntimeDirectory=envoy is required (hot restart sockets, serving.sha256)`);
  return problems;
}

/** Problems of edge-bootstrap.service, the oneshot that writes envoy.yaml before Envoy starts. */
export function checkBootstrapUnit(unit: Unit, name = 'edge-bootstrap.service'): string[] {
  const problems: string[] = [];
  const svc = (key: string) => unitValue(unit, 'Service', key);
  if (svc('Type') !== 'oneshot') problems.push(`${name}: Type=oneshot is required`);
  if (svc('ExecStart') !== '/usr/local/bin/edge-write-bootstrap') problems.push(`${name}: ExecStart must be /usr/local/bin/edge-write-bootstrap`);
  if (!unitList(unit, 'Unit', 'Before').includes('envoy.service')) problems.push(`${name}: Before=envoy.service is required`);
  if (unitValue(unit, 'Unit', 'ConditionPathExists') !== '/etc/edge/bootstrap.env') {
    problems.push(`${name}: ConditionPathExists=/etc/edge/bootstrap.env is required (nothing to write before user data ran)`);
  }
  for (const key of ['NoNewPrivileges', 'PrivateTmp']) if (svc(key) !== 'yes') problems.push(`${name}: ${key}=yes is required`);
  if (svc('ProtectSystem') !== 'strict') problems.push(`${name}: ProtectSystem=strict is required`);
  if (!unitList(unit, 'Service', 'ReadWritePaths').includes('/etc/envoy')) problems.push(`${name}: ReadWritePaths must include /etc/envoy`);
  return problems;
}
