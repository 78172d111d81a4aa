/**
 * `npm run ami -- <command>`: the Envoy image's life after the bake (docs/pipeline.md, "The image").
 *   build                    bake (ami/scripts/build.ts) and publish /<platform>/ami/envoy/<version> per region
 *   promote <version> ...    point the fleet's parameter at the version in --regions or --wave
 *   status                   per region: promoted version, what the fleet runs, images and their age
 *   prune --keep N [--yes]   deregister images beyond the newest N per region (dry run without --yes)
 * Reads the platform config as cdk and the preflight do (--config <file>, EDGE_CONFIG_FILE, cdk.json).
 */
import { parseArgs } from 'node:util';
import { PlatformConfig, loadConfig } from '../../lib/config';
import { build } from './build';
import { ClientFactory, defaultClients, realSleep } from './lifecycle/aws';
import { CommandContext, jsonLogger } from './lifecycle/context';
import { promote } from './lifecycle/promote';
import { prune } from './lifecycle/prune';
import { status } from './lifecycle/status';
import { REPO_ROOT } from './lib/paths';

export const USAGE = `Usage: npm run ami -- <command> [options]

Commands:
  build                       bake the image (packer; as npm run ami:build) and publish its AMI id per
                              region as a new version, /<platform>/ami/envoy/<version>; the fleet's
                              parameter is not touched. Bake options: --no-publish, --publish-only,
                              --salt-onedir-sha256=<sha256>
  promote <version>           point the parameter the fleet reads at <version> in the regions given by
                              --regions <r1,r2|all> or --wave <n> (pipeline.waves, 1 = the canary),
                              after EC2 says the image is available in each; the fleet launches it at
                              its next deploy (health-gated rolling update)
  status                      per region: the promoted version, the version the fleet runs, the images
                              present and their age
  prune --keep <n>            deregister images beyond the newest <n> per region and delete their
                              snapshots, never one the fleet's parameter, a launch template ($Latest,
                              $Default) or an instance uses; a dry run unless --yes

Options:
  --regions <list|all>        regions for promote, status and prune (default for status and prune: all)
  --wave <n>                  promote: the regions of wave <n> of the pipeline config
  --keep <n>                  prune: images to keep per region (newest first)
  --yes                       prune: act (without it, only say what would be removed)
  --json                      status and prune: print JSON instead of a table
  --config <file>             the platform config file (or EDGE_CONFIG_FILE)
  -h, --help                  this text
`;

export class UsageError extends Error {}

/** The regions a command acts on: --regions (all, or fleet regions by name), --wave, or `fallback`. */
export function selectRegions(config: PlatformConfig, options: { regions?: string; wave?: string }, fallback: 'all' | 'required'): string[] {
  const fleet = config.regions.map((r) => r.region);
  if (options.regions !== undefined && options.wave !== undefined) throw new UsageError('--regions and --wave: give one of them');
  if (options.wave !== undefined) {
    const n = Number(options.wave);
    if (!Number.isInteger(n) || n < 1 || n > config.pipeline.waves.length) {
      throw new UsageError(`--wave: must be 1 to ${config.pipeline.waves.length} (pipeline.waves: ${config.pipeline.waves.map((w, i) => `${i + 1}=${w.join(',')}`).join(' ')}), got "${options.wave}"`);
    }
    return [...config.pipeline.waves[n - 1]];
  }
  if (options.regions === undefined) {
    if (fallback === 'all') return fleet;
    throw new UsageError('promote: say where, with --regions <r1,r2|all> or --wave <n>');
  }
  if (options.regions === 'all') return fleet;
  const asked = options.regions.split(',').map((r) => r.trim()).filter(Boolean);
  const unknown = asked.filter((r) => !fleet.includes(r));
  if (!asked.length) throw new UsageError('--regions: empty');
  if (unknown.length) throw new UsageError(`--regions: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a fleet region' : 'are not fleet regions'} (regions: ${fleet.join(', ')})`);
  return [...new Set(asked)];
}

export interface CliIo {
  readonly out: (line: string) => void;
  readonly clients?: ClientFactory;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => Date;
  readonly log?: (entry: Record<string, unknown>) => void;
  readonly env?: NodeJS.ProcessEnv;
  /** The bake (tests replace it: it runs packer). */
  readonly build?: (argv: string[]) => Promise<void>;
}

/** Runs one command; returns the exit code. */
export async function runAmi(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        regions: { type: 'string' },
        wave: { type: 'string' },
        keep: { type: 'string' },
        yes: { type: 'boolean' },
        json: { type: 'boolean' },
        config: { type: 'string' },
        'no-publish': { type: 'boolean' },
        'publish-only': { type: 'boolean' },
        'salt-onedir-sha256': { type: 'string' },
      },
    });
  } catch (error) {
    io.out(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    io.out(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    if (command === 'build') {
      if (rest.length) throw new UsageError(`build takes no arguments, got ${rest.join(' ')}`);
      const bakeArgs = argv.filter((a) => a === '--no-publish' || a === '--publish-only' || a.startsWith('--salt-onedir-sha256'));
      // The bake reads the config from the environment (lib/config loadConfig).
      if (values.config) process.env.EDGE_CONFIG_FILE = values.config;
      await (io.build ?? build)(bakeArgs);
      return 0;
    }
    const env = io.env ?? process.env;
    const file = values.config ?? env.EDGE_CONFIG_FILE;
    const cdkContext = (require(`${REPO_ROOT}/cdk.json`) as { context?: Record<string, unknown> }).context ?? {};
    const config = loadConfig((key) => (key === 'edge:configFile' ? file : cdkContext[key]), { ...env, EDGE_CONFIG_FILE: file });
    const ctx: CommandContext = {
      config,
      clients: io.clients ?? defaultClients(),
      retry: { sleep: io.sleep ?? realSleep },
      sleep: io.sleep ?? realSleep,
      now: io.now ?? (() => new Date()),
      log: io.log ?? jsonLogger(command),
    };
    switch (command) {
      case 'promote': {
        if (rest.length !== 1) throw new UsageError('promote: give exactly one version (npm run ami -- status lists them)');
        const report = await promote(ctx, rest[0], selectRegions(config, values, 'required'));
        report.lines.forEach((l) => io.out(l));
        return report.ok ? 0 : 1;
      }
      case 'status': {
        if (rest.length) throw new UsageError(`status takes no arguments, got ${rest.join(' ')}`);
        const report = await status(ctx, selectRegions(config, values, 'all'));
        if (values.json) io.out(JSON.stringify(report.regions, null, 2));
        else report.lines.forEach((l) => io.out(l));
        return report.ok ? 0 : 1;
      }
      case 'prune': {
        if (rest.length) throw new UsageError(`prune takes no arguments, got ${rest.join(' ')}`);
        if (values.keep === undefined) throw new UsageError('prune: --keep <n> is required (images to keep per region)');
        if (!/^[1-9][0-9]*$/.test(values.keep)) throw new UsageError(`--keep: must be a whole number of at least 1, got "${values.keep}"`);
        const report = await prune(ctx, selectRegions(config, values, 'all'), Number(values.keep), values.yes === true);
        if (values.json) io.out(JSON.stringify({ ok: report.ok, changed: report.changed, failed: report.failed ?? null, notAttempted: report.notAttempted, plans: report.plans }, null, 2));
        else report.lines.forEach((l) => io.out(l));
        return report.ok ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.out(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    io.out(`ami ${command}: ${(error as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  runAmi(process.argv.slice(2), { out: (line) => console.log(line) }).then((code) => {
    process.exitCode = code;
  });
}
