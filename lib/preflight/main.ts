import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolveNs } from 'node:dns/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config';
import { formatReport, helpText, jsonReport, progressLine } from './report';
import { CHECKS, exitCode, runPreflight } from './run';
import { CommandRunner, PreflightContext } from './types';

export interface PreflightIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** The repository root, where cdk.json and cdk.context.json are read. */
  readonly cwd: string;
  readonly runCommand?: CommandRunner;
  readonly resolveNs?: (name: string) => Promise<string[]>;
}

const runCommand: CommandRunner = (command, args) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });

/** The `edge:*` context the CDK app would see: cdk.json, then cdk.context.json, then the flags. */
function contextOf(cwd: string, flags: { config?: string; regions?: string }): (key: string) => unknown {
  const context: Record<string, unknown> = {};
  for (const file of ['cdk.json', 'cdk.context.json']) {
    const path = join(cwd, file);
    if (!existsSync(path)) continue;
    const json = JSON.parse(readFileSync(path, 'utf8')) as { context?: Record<string, unknown> } & Record<string, unknown>;
    Object.assign(context, file === 'cdk.json' ? json.context ?? {} : json);
  }
  if (flags.config) context['edge:configFile'] = flags.config;
  if (flags.regions) context['edge:regions'] = flags.regions;
  return (key) => context[key];
}

/** `npm run preflight -- [options]`; returns the exit status. */
export async function runPreflightCli(argv: readonly string[], io: PreflightIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        help: { type: 'boolean' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
        config: { type: 'string' },
        regions: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.stderr(`preflight: ${(error as Error).message} (npm run preflight -- --help)\n`);
    return 64;
  }
  if (values.help) {
    io.stdout(helpText(CHECKS));
    return 0;
  }
  let config;
  try {
    config = loadConfig(contextOf(io.cwd, values), io.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`preflight: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const ctx: PreflightContext = {
    config,
    zoneNames: new Map(),
    disabledRegions: new Set(),
    runCommand: io.runCommand ?? runCommand,
    resolveNs: io.resolveNs ?? resolveNs,
    docker: io.env.CDK_DOCKER || 'docker',
  };
  const results = await runPreflight(ctx, { onResult: values.quiet ? undefined : (r, done, total) => io.stderr(progressLine(r, done, total)) });
  const code = exitCode(results);
  io.stdout(values.json ? jsonReport(results, config, ctx.account, code) : formatReport(results, CHECKS, config, ctx.account));
  return code;
}

if (require.main === module) {
  // The SDK's notice about future Node versions is noise in an operator's terminal.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  runPreflightCli(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: Error) => {
      process.stderr.write(`preflight: unexpected failure: ${error.stack ?? error.message}\n`);
      process.exitCode = 70;
    },
  );
}
