/**
 * `npm run ami:build`: bakes the Envoy image for every fleet region and publishes it.
 *   1. validates the sources offline (as ami:validate does) and stops on any problem;
 *   2. `packer init` + `packer build` with variables from the platform config and pillar
 *      (a generated -var-file: regions, build region, instance type, Envoy version, commit);
 *   3. reads packer's manifest and publishes each region's AMI id as a new version,
 *      `/<platform>/ami/envoy/<version>` (ami/scripts/lifecycle/publish.ts); the parameter the fleet
 *      reads (config.amiParameterName) is left alone: `npm run ami -- promote` moves it.
 * Options: --no-publish (bake only), --publish-only (publish the last manifest again),
 * --salt-onedir-sha256=<64 hex> (the Salt onedir checksum you verified, while the sources
 * still hold the unverified one; see docs/ami.md "Updating versions").
 * Needs packer >= 1.11, the AWS CLI and AWS credentials; none of that runs in the tests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../lib/config';
import { checkAmi } from './lib/check-ami';
import { defaultClients, realSleep } from './lifecycle/aws';
import { jsonLogger } from './lifecycle/context';
import { versionOfBake } from './lifecycle/names';
import { publishVersion } from './lifecycle/publish';
import { imagesFromManifest } from './lib/manifest';
import { bakeInputs, packerVarFile } from './lib/packer';
import { REPO_ROOT, amiPaths } from './lib/paths';

const operation = randomUUID();
function log(level: 'info' | 'error', msg: string, extra: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, op: 'ami:build', operation, msg, ...extra });
  if (level === 'error') console.error(line);
  else console.log(line);
}

/** Runs a command with inherited output; throws a clear error when it is missing or fails. */
function run(cmd: string, args: string[], what: string): void {
  const result = spawnSync(cmd, args, { stdio: 'inherit', cwd: REPO_ROOT });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${cmd} is not installed (needed to ${what})`);
  }
  if (result.status !== 0) throw new Error(`${cmd} ${args.slice(0, 2).join(' ')} failed with exit code ${result.status} (${what})`);
}

/** packer must exist and be new enough for an HCL2 template with required_plugins. */
export function checkPackerVersion(output: string): string | undefined {
  const match = /(\d+)\.(\d+)\.(\d+)/.exec(output);
  if (!match) return `cannot read the packer version from "${output.trim()}"`;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major < 1 || (major === 1 && minor < 11)) {
    return `packer ${match[0]} is too old: the template needs >= 1.11 (packer init, required_plugins); install it from HashiCorp's releases`;
  }
  return undefined;
}

function gitCommit(): string {
  const result = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : 'unknown';
}

/**
 * Checksums written in this repo without access to the releases (an offline workplace):
 * a bake with them would fail at the download step, so say so before starting packer.
 * (Envoy's moved to 1.39.0 with the value public projects pin for the release asset.)
 */
export const UNVERIFIED_CHECKSUMS: Readonly<Record<string, string>> = {
  'ami/packer/variables.pkr.hcl salt_onedir_sha256': '8f0e4e3c9a4d1b7e6c5f2a3b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70',
};

/** The packer variable each unverified field is, so a verified value can be passed instead. */
const OVERRIDES: Readonly<Record<string, { readonly variable: string; readonly option: string }>> = {
  'ami/packer/variables.pkr.hcl salt_onedir_sha256': { variable: 'salt_onedir_sha256', option: '--salt-onedir-sha256' },
};

/** The fields that still hold an unverified checksum, given the text of the image sources. */
export function unverifiedChecksumFields(sources: string): string[] {
  return Object.entries(UNVERIFIED_CHECKSUMS)
    .filter(([, value]) => sources.includes(value))
    .map(([field]) => field);
}

/** `--salt-onedir-sha256=<hex>` from the command line, checked; undefined when not given. */
export function checksumOverrides(argv: readonly string[]): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const { variable, option } of Object.values(OVERRIDES)) {
    const arg = argv.find((a) => a === option || a.startsWith(`${option}=`));
    if (arg === undefined) continue;
    const value = arg.slice(option.length + 1);
    if (!/^[0-9a-f]{64}$/.test(value)) throw new Error(`${option}: must be a sha256 in hex (64 characters 0-9a-f), got "${value}"`);
    if (Object.values(UNVERIFIED_CHECKSUMS).includes(value)) throw new Error(`${option}: that is the unverified placeholder from the sources, not a checksum you verified`);
    overrides[variable] = value;
  }
  return overrides;
}

/**
 * What stops a bake: the unverified fields no verified value was given for, each with where to
 * set it and the option that passes it instead. Empty: the bake may start.
 */
export function checksumRefusals(sources: string, overrides: Readonly<Record<string, string>>): string[] {
  return unverifiedChecksumFields(sources)
    .filter((field) => !(OVERRIDES[field] && overrides[OVERRIDES[field].variable]))
    .map((field) => (OVERRIDES[field] ? `${field} (or pass ${OVERRIDES[field].option}=<sha256 you verified>)` : field));
}

/** The bake and its publication; `npm run ami -- build` and `npm run ami:build` run this. */
export async function build(argv: string[]): Promise<void> {
  const publish = !argv.includes('--no-publish');
  const bake = !argv.includes('--publish-only');
  const overrides = checksumOverrides(argv);
  const config = loadConfig();
  const paths = amiPaths();
  const regions = config.regions.map((r) => r.region);
  const manifestPath = join(paths.packerDir, 'manifest.json');

  if (bake) {
    const report = await checkAmi(paths, config);
    if (report.problems.length) throw new Error(`the image sources have problems (run npm run ami:validate):\n  - ${report.problems.join('\n  - ')}`);
    const sources = [join(paths.pillarRoot, 'envoy.sls'), join(paths.packerDir, 'variables.pkr.hcl')].map((file) => readFileSync(file, 'utf8')).join('\n');
    const unverified = checksumRefusals(sources, overrides);
    if (unverified.length) {
      throw new Error(`replace the unverified checksum(s) with the values published for the release first:\n  - ${unverified.join('\n  - ')}`);
    }
    const version = spawnSync('packer', ['version'], { encoding: 'utf8' });
    if (version.error) throw new Error('packer is not installed: install Packer >= 1.11 (https://developer.hashicorp.com/packer/install) and run again');
    const tooOld = checkPackerVersion(version.stdout);
    if (tooOld) throw new Error(tooOld);

    const vars = { ...packerVarFile(bakeInputs(config, report.pillar), gitCommit()), ...overrides };
    const varFile = join(mkdtempSync(join(tmpdir(), 'edge-ami-')), 'edge.pkrvars.json');
    writeFileSync(varFile, `${JSON.stringify(vars, null, 2)}\n`);
    log('info', 'baking', { regions, buildRegion: vars.build_region, envoyVersion: vars.envoy_version, varFile });
    run('packer', ['init', paths.packerDir], 'install the amazon plugin');
    run('packer', ['build', `-var-file=${varFile}`, paths.packerDir], 'bake the image');
  }
  if (!publish) return;

  if (!existsSync(manifestPath)) throw new Error(`${manifestPath} does not exist: bake first (npm run ami:build)`);
  const images = imagesFromManifest(JSON.parse(readFileSync(manifestPath, 'utf8')));
  const version = versionOfBake(images.customData, images.runUuid);
  const report = await publishVersion({ config, clients: defaultClients(), retry: {}, sleep: realSleep, now: () => new Date(), log: jsonLogger('build') }, version, images.amis);
  for (const line of report.lines) console.log(line);
  if (!report.ok) throw new Error(`publishing version ${version} did not finish (see above)`);
  log('info', 'published', { version, regions: report.changed.length + report.unchanged.length, run: images.runUuid });
}

if (require.main === module) {
  build(process.argv.slice(2)).catch((err: unknown) => {
    log('error', err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
