/** Sane ranges for the kernel settings of a busy proxy; a value outside is a mistake. */

interface Rule {
  readonly min: number;
  readonly max: number;
  readonly why: string;
}

const RANGES: Readonly<Record<string, Rule>> = {
  'net.core.somaxconn': { min: 4096, max: 65535, why: 'accept queue per listener' },
  'net.core.netdev_max_backlog': { min: 4096, max: 1048576, why: 'packets queued per CPU' },
  'net.ipv4.tcp_max_syn_backlog': { min: 4096, max: 1048576, why: 'half-open connections' },
  'net.ipv4.tcp_tw_reuse': { min: 1, max: 2, why: 'TIME-WAIT reuse for outbound connections' },
  'net.ipv4.tcp_fin_timeout': { min: 5, max: 60, why: 'seconds in FIN-WAIT-2' },
  'net.ipv4.tcp_syncookies': { min: 1, max: 1, why: 'SYN flood protection' },
  'net.core.rmem_max': { min: 212992, max: 1 << 30, why: 'bytes' },
  'net.core.wmem_max': { min: 212992, max: 1 << 30, why: 'bytes' },
  'net.ipv4.tcp_max_tw_buckets': { min: 65536, max: 16777216, why: 'TIME-WAIT sockets' },
  'net.ipv4.tcp_keepalive_time': { min: 30, max: 7200, why: 'seconds' },
  'fs.file-max': { min: 1048576, max: 1 << 30, why: 'open files, system-wide' },
  'fs.nr_open': { min: 1048576, max: 1073741816, why: 'open files per process (kernel ceiling)' },
  'net.netfilter.nf_conntrack_max': { min: 262144, max: 16777216, why: 'tracked connections' },
};

/** Keys the image must set (the list for a high-connection edge). */
export const REQUIRED_SYSCTLS = [
  'net.core.somaxconn',
  'net.core.netdev_max_backlog',
  'net.ipv4.tcp_max_syn_backlog',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_tw_reuse',
  'net.ipv4.tcp_fin_timeout',
  'net.core.rmem_max',
  'net.core.wmem_max',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
  'fs.file-max',
  'fs.nr_open',
] as const;

function numbers(value: string): number[] | undefined {
  const parts = value.trim().split(/\s+/);
  return parts.every((p) => /^-?\d+$/.test(p)) ? parts.map(Number) : undefined;
}

/**
 * Checks the sysctl settings the states apply. `listenerPorts` are Envoy's own ports: the
 * ephemeral range must start above them so an outbound connection can never take one.
 */
export function checkSysctls(
  settings: ReadonlyMap<string, string>,
  opts: { listenerPorts: readonly number[]; limitNofile: number },
): string[] {
  const problems: string[] = [];
  for (const key of REQUIRED_SYSCTLS) if (!settings.has(key)) problems.push(`sysctl ${key}: missing`);
  for (const [key, value] of settings) {
    const nums = numbers(value);
    if (!/^[a-z0-9_]+(\.[a-z0-9_-]+)+$/.test(key)) problems.push(`sysctl ${key}: not a sysctl key`);
    if (!nums) {
      problems.push(`sysctl ${key}: "${value}" is not a number or list of numbers`);
      continue;
    }
    const rule = RANGES[key];
    if (rule && (nums.length !== 1 || nums[0] < rule.min || nums[0] > rule.max)) {
      problems.push(`sysctl ${key}: ${value} is outside ${rule.min}..${rule.max} (${rule.why})`);
    }
  }
  const range = numbers(settings.get('net.ipv4.ip_local_port_range') ?? '');
  if (range) {
    const [low, high] = range;
    const highestListener = Math.max(...opts.listenerPorts);
    if (range.length !== 2 || low >= high || low < 1024 || high > 65535) {
      problems.push(`sysctl net.ipv4.ip_local_port_range: "${range.join(' ')}" must be two ports, 1024 <= low < high <= 65535`);
    } else {
      if (high - low < 20000) problems.push(`sysctl net.ipv4.ip_local_port_range: ${high - low} ports is too few for upstream connections (>= 20000)`);
      if (low <= highestListener) {
        problems.push(`sysctl net.ipv4.ip_local_port_range: starts at ${low}, at or below Envoy's port ${highestListener}; outbound connections could take a listener port`);
      }
    }
  }
  for (const key of ['net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem']) {
    const triple = numbers(settings.get(key) ?? '');
    if (!triple) continue;
    const coreMax = Number(settings.get(key.endsWith('rmem') ? 'net.core.rmem_max' : 'net.core.wmem_max') ?? Infinity);
    if (triple.length !== 3 || !(triple[0] <= triple[1] && triple[1] <= triple[2]) || triple[0] < 4096) {
      problems.push(`sysctl ${key}: "${triple.join(' ')}" must be min <= default <= max, min >= 4096`);
    } else if (triple[2] > coreMax) {
      problems.push(`sysctl ${key}: max ${triple[2]} is above the core limit ${coreMax}`);
    }
  }
  const fileMax = Number(settings.get('fs.file-max'));
  const nrOpen = Number(settings.get('fs.nr_open'));
  if (nrOpen < opts.limitNofile) problems.push(`sysctl fs.nr_open: ${nrOpen} is below Envoy's LimitNOFILE ${opts.limitNofile}`);
  if (fileMax < nrOpen) problems.push(`sysctl fs.file-max: ${fileMax} is below fs.nr_open ${nrOpen}`);
  return problems;
}
