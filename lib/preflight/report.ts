import { PlatformConfig } from '../config';
import { CheckDefinition, CheckResult, CheckStatus } from './types';

const CELL: Record<CheckStatus, string> = { pass: 'ok', fail: 'FAIL', error: '?' };
const MARK: Record<CheckStatus, string> = { pass: '✓', fail: '✗', error: '?' };

const pad = (text: string, width: number) => text + ' '.repeat(Math.max(0, width - text.length));

/** One progress line, as each result comes in. */
export function progressLine(result: CheckResult, done: number, total: number): string {
  const width = String(total).length;
  return `preflight: [${String(done).padStart(width)}/${total}] ${pad(result.scope, 14)} ${pad(result.check, 21)} ${CELL[result.status]}\n`;
}

/**
 * The report a person reads at a glance: the account-wide checks, a region × check table, then
 * every failure and every check that could not run, each with what is wrong and what fixes it.
 */
export function formatReport(results: readonly CheckResult[], checks: readonly CheckDefinition[], config: PlatformConfig, account?: string): string {
  const lines: string[] = [];
  lines.push(`preflight: account ${account ?? config.account ?? 'unknown'}, home region ${config.homeRegion}, ${config.regions.length} fleet region(s), platform ${config.platformName}`);
  lines.push('');

  const single = results.filter((r) => r.scope === 'account' || r.scope === 'deploy host');
  if (single.length) {
    const width = Math.max(...single.map((r) => `${r.check} (${r.scope})`.length));
    for (const r of single) lines.push(`  ${pad(`${r.check} (${r.scope})`, width)}  ${MARK[r.status]} ${CELL[r.status].padEnd(4)}  ${r.status === 'pass' ? r.detail : ''}`.trimEnd());
    lines.push('');
  }

  const regional = results.filter((r) => !single.includes(r));
  const columns = checks.filter((c) => regional.some((r) => r.check === c.id)).map((c) => c.id);
  const regions = [...new Set(regional.map((r) => r.scope))];
  if (regions.length) {
    const regionWidth = Math.max('region'.length, ...regions.map((r) => r.length));
    // A column is as wide as its check id, and at least as wide as "FAIL".
    const widths = columns.map((c) => Math.max(c.length, CELL.fail.length));
    lines.push(`  ${pad('region', regionWidth)}  ${columns.map((c, i) => pad(c, widths[i])).join('  ')}`.trimEnd());
    for (const region of regions) {
      const cells = columns.map((c, i) => {
        const result = regional.find((r) => r.scope === region && r.check === c);
        return pad(result ? CELL[result.status] : '-', widths[i]);
      });
      lines.push(`  ${pad(region, regionWidth)}  ${cells.join('  ')}`.trimEnd());
    }
    lines.push('');
  }

  const problems = results.filter((r) => r.status !== 'pass');
  if (problems.length) {
    lines.push(`Problems (${problems.length}):`);
    for (const r of problems) {
      lines.push(`  ${MARK[r.status]} ${r.check} [${r.scope}]: ${r.detail}`);
      if (r.fix) for (const [i, fix] of r.fix.split('\n').entries()) lines.push(`      ${i === 0 ? 'fix: ' : '     '}${fix}`);
    }
    lines.push('');
  }
  const count = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  const verdict = count('fail')
    ? 'a deploy would not go through: fix the problems above and run again'
    : count('error')
      ? 'nothing failed, but some checks could not run: a deploy may not go through'
      : 'a deploy would go through';
  lines.push(`preflight: ${count('pass')} passed, ${count('fail')} failed, ${count('error')} could not check: ${verdict}`);
  return `${lines.join('\n')}\n`;
}

/** `--json`: everything, for machines. */
export function jsonReport(results: readonly CheckResult[], config: PlatformConfig, account: string | undefined, code: number): string {
  return `${JSON.stringify({ ok: code === 0, exitCode: code, account: account ?? config.account ?? null, homeRegion: config.homeRegion, regions: config.regions.map((r) => r.region), results }, null, 2)}\n`;
}

/** `--help`: what the preflight does and every check it runs. */
export function helpText(checks: readonly CheckDefinition[]): string {
  const scope: Record<CheckDefinition['scope'], string> = {
    account: 'once',
    'deploy-host': 'this host',
    'home-region': 'home region',
    'every-region': 'home + fleet regions',
    'fleet-regions': 'each fleet region',
  };
  const width = Math.max(...checks.map((c) => c.id.length));
  return [
    'npm run preflight -- [options]',
    '',
    'Read-only checks of the AWS account and every configured region before a deploy (README, "Deploy").',
    'It changes nothing; for each problem it says what is wrong and the command or config change that fixes it.',
    '',
    'Options:',
    '  --config <file>     the platform config file (as edge:configFile / EDGE_CONFIG_FILE; cdk.json context is read too)',
    '  --regions <a,b,..>  the fleet regions (as edge:regions)',
    '  --json              one JSON document on stdout (results with their data: zone names, replicas, ...)',
    '  --quiet             no progress lines on stderr',
    '  --help              this text',
    '',
    'Checks:',
    ...checks.map((c) => `  ${pad(c.id, width)}  [${scope[c.scope]}] ${c.summary}`),
    '',
    'A check that cannot run (no credentials, a region not enabled, throttling, access denied) is reported as "could not check", never as passed.',
    'Exit status: 0 a deploy would go through; 1 a check failed; 2 nothing failed but a check could not run.',
    'Credentials: the usual AWS chain (AWS_PROFILE, environment, SSO, instance role); ReadOnlyAccess is enough.',
    '',
  ].join('\n');
}
