/**
 * `npm run ami:validate`: checks the Envoy image sources offline (no AWS, Salt or Packer):
 * the Packer template (HCL2) against the platform config, and the Salt tree rendered for the
 * supported platform, with the guarantees of each state. Exits 1 naming every problem.
 *
 * The platform config is the same one the CDK app reads (lib/config loadConfig: defaults,
 * EDGE_CONFIG_FILE, ...).
 */
import { loadConfig } from '../../lib/config';
import { checkAmi } from './lib/check-ami';
import { amiPaths } from './lib/paths';

async function main(): Promise<number> {
  const config = loadConfig();
  const report = await checkAmi(amiPaths(), config);
  for (const line of report.summary) console.log(`  ${line}`);
  if (report.problems.length) {
    console.error(`\nami:validate: ${report.problems.length} problem(s):`);
    for (const problem of report.problems) console.error(`  - ${problem}`);
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
