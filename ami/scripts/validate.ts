/**
 * `npm run ami:validate`: checks the Envoy image sources offline (no AWS, Salt or Packer):
 * the Packer template (HCL2) against the platform config, and the Salt tree rendered for the
 * supported platform, with the guarantees of each state. Exits 1 naming every problem.
 *
 * The platform config is the same one the CDK app reads (lib/config loadConfig: defaults,
 * EDGE_CONFIG_FILE, ...).
 */
import { spawnSync } from 'node:child_process';
import { loadConfig } from '../../lib/config';
import { checkAmi } from './lib/check-ami';
import { amiPaths } from './lib/paths';

/** `packer fmt -check` where a packer binary exists (any version formats HCL2); else skipped. */
function packerFmt(dir: string): { line: string; problem?: string } {
  const result = spawnSync('packer', ['fmt', '-check', '-diff', dir], { encoding: 'utf8' });
  if (result.error) return { line: 'packer fmt: skipped (packer is not installed)' };
  if (result.status === 0) return { line: 'packer fmt: clean' };
  return { line: 'packer fmt: not clean', problem: `packer: not packer-fmt clean (run packer fmt ami/packer):\n${result.stdout}${result.stderr}` };
}

async function main(): Promise<number> {
  const config = loadConfig();
  const paths = amiPaths();
  const report = await checkAmi(paths, config);
  const fmt = packerFmt(paths.packerDir);
  const problems = fmt.problem ? [...report.problems, fmt.problem] : report.problems;
  for (const line of [...report.summary, fmt.line]) console.log(`  ${line}`);
  if (problems.length) {
    console.error(`\nami:validate: ${problems.length} problem(s):`);
    for (const problem of problems) console.error(`  - ${problem}`);
    return 1;
  }
  console.log(`\nami:validate: ok (${config.regions.length} regions, parameter ${config.amiParameterName})`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`ami:validate: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
