import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { REPORT_HEARTBEAT_SECONDS, convergence, formatConvergence } from './commands/convergence';
import { formatDlq, redriveDlq, showDlq } from './commands/dlq';
import { formatOperation, inspectOperation } from './commands/operation';
import { pinRegion, unpinRegion } from './commands/pin';
import { withdrawRoute } from './commands/withdraw';
import { OpsError, UsageError } from './errors';
import { Target } from './target';

/** Where the CLI writes, and the environment it reads (tests pass their own). */
export interface OpsIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: NodeJS.ProcessEnv;
}

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export const USAGE = `usage: npm run ops -- <command> [arguments] (--local | --region <aws-region>) [--json]

commands:
  operation <instance-id>                  the instance, its operations and steps, its route and its convergence
  dlq show [--limit N]                     dead-letter queue: count and the first N messages (default 10)
  dlq redrive [--max N]                    move messages from the dead-letter queue back to the operations queue
  withdraw <instance-id> --reason <text> --yes
                                           take the instance's route out of service now (tombstone)
  convergence [<region>] [--heartbeat-seconds S]
                                           every control plane task's report per region; flags late reports
  pin <region> --reason <text>             the region's control planes keep their last good config
  unpin <region>                           the region takes new route generations again (full resync)

target:
  --local                                  the running \`npm start\` (EDGE_DYNAMODB_PORT, EDGE_SQS_PORT)
    --dynamodb-endpoint <url>, --sqs-endpoint <url>   override the local emulators' endpoints
  --region <aws-region>                    AWS, default credential chain; table from the platform config
  --table <name>                           override the broker table name
  --queue-url <url>                        override the operations queue (its DLQ is read from its redrive policy)

exit codes: 0 ok, 1 failure, 2 usage error
`;

const TARGET_FLAGS = ['local', 'region', 'dynamodb-endpoint', 'sqs-endpoint', 'table', 'json'] as const;
const QUEUE_FLAGS = ['queue-url'] as const;

/** Flags each command accepts beyond the target flags; any other is a usage error naming it. */
const COMMAND_FLAGS: Record<string, readonly string[]> = {
  operation: [],
  'dlq show': ['limit', ...QUEUE_FLAGS],
  'dlq redrive': ['max', ...QUEUE_FLAGS],
  withdraw: ['reason', 'yes'],
  convergence: ['heartbeat-seconds'],
  pin: ['reason'],
  unpin: [],
};

const OPTIONS = {
  local: { type: 'boolean' },
  region: { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
  'sqs-endpoint': { type: 'string' },
  table: { type: 'string' },
  'queue-url': { type: 'string' },
  json: { type: 'boolean' },
  yes: { type: 'boolean' },
  reason: { type: 'string' },
  max: { type: 'string' },
  limit: { type: 'string' },
  'heartbeat-seconds': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
}

function positiveInteger(values: Values, flag: 'max' | 'limit' | 'heartbeat-seconds', fallback: number): number {
  const text = values[flag];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`--${flag}: must be a whole number of at least 1, got "${text}"`, `--${flag}`);
  return value;
}

function requiredText(values: Values, flag: 'reason'): string {
  const text = values[flag]?.trim();
  if (!text) throw new UsageError(`--${flag} <text>: is required (say why, for whoever reads the record next)`, `--${flag}`);
  if (text.length > 500) throw new UsageError(`--${flag}: at most 500 characters, got ${text.length}`, `--${flag}`);
  return text;
}

function exactArgs(command: string, args: readonly string[], names: readonly string[], optional = 0): string[] {
  if (args.length < names.length - optional || args.length > names.length) {
    const shown = names.map((n, i) => (i >= names.length - optional ? `[<${n}>]` : `<${n}>`)).join(' ');
    throw new UsageError(`${command}: expects ${shown}, got ${args.length ? args.map((a) => `"${a}"`).join(' ') : 'nothing'}`, names[args.length] ? `<${names[args.length]}>` : undefined);
  }
  return [...args];
}

/** Splits `dlq show` / `dlq redrive` from the other commands. */
function commandOf(positionals: readonly string[]): { name: string; args: string[] } {
  const [first, ...rest] = positionals;
  if (!first) throw new UsageError('a command is required (operation, dlq show, dlq redrive, withdraw, convergence, pin, unpin)');
  if (first === 'dlq') {
    const [sub, ...args] = rest;
    if (sub !== 'show' && sub !== 'redrive') throw new UsageError(`dlq: expects "show" or "redrive", got ${sub ? `"${sub}"` : 'nothing'}`, 'dlq');
    return { name: `dlq ${sub}`, args };
  }
  if (!(first in COMMAND_FLAGS)) throw new UsageError(`unknown command "${first}" (commands: operation, dlq show, dlq redrive, withdraw, convergence, pin, unpin)`, first);
  return { name: first, args: rest };
}

function checkFlags(name: string, values: Values): void {
  const allowed = new Set<string>([...TARGET_FLAGS, ...COMMAND_FLAGS[name], 'help']);
  for (const [flag, value] of Object.entries(values)) {
    if (value !== undefined && !allowed.has(flag)) throw new UsageError(`--${flag}: not an option of "${name}"`, `--${flag}`);
  }
}

function operatorName(env: NodeJS.ProcessEnv): string | undefined {
  if (env.EDGE_OPERATOR) return env.EDGE_OPERATOR;
  if (env.USER) return env.USER;
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

function checkRegion(target: Target, region: string, what: string): void {
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new UsageError(`${what}: "${region}" is not an AWS region name`, `<region>`);
  if (!target.regions.includes(region)) throw new UsageError(`${what}: ${region} is not a region of the platform config (${target.regions.join(', ')})`, '<region>');
}

interface Outcome {
  readonly json: unknown;
  readonly text: string;
}

async function run(name: string, args: string[], values: Values, target: Target, env: NodeJS.ProcessEnv): Promise<Outcome> {
  switch (name) {
    case 'operation': {
      const [instanceId] = exactArgs(name, args, ['instance-id']);
      const view = await inspectOperation(target, instanceId);
      return { json: view, text: formatOperation(view) };
    }
    case 'dlq show': {
      exactArgs(name, args, []);
      const view = await showDlq(target, positiveInteger(values, 'limit', 10));
      return { json: view, text: formatDlq(view) };
    }
    case 'dlq redrive': {
      exactArgs(name, args, []);
      const result = await redriveDlq(target, positiveInteger(values, 'max', Number.MAX_SAFE_INTEGER));
      return { json: result, text: `moved ${result.moved} message(s) from ${result.from} to ${result.to}\n` };
    }
    case 'withdraw': {
      const [instanceId] = exactArgs(name, args, ['instance-id']);
      const reason = requiredText(values, 'reason');
      if (!values.yes) throw new UsageError(`withdraw takes ${instanceId}'s route out of service at once: confirm with --yes`, '--yes');
      const result = await withdrawRoute(target, instanceId, reason, operatorName(env));
      return { json: result, text: `withdrawn: ${result.description}\n` };
    }
    case 'convergence': {
      const [region] = exactArgs(name, args, ['region'], 1);
      if (region !== undefined) checkRegion(target, region, 'convergence <region>');
      const heartbeat = positiveInteger(values, 'heartbeat-seconds', REPORT_HEARTBEAT_SECONDS);
      const regions = await convergence(target, region, heartbeat);
      return { json: { heartbeatSeconds: heartbeat, regions }, text: formatConvergence(regions, region) };
    }
    case 'pin': {
      const [region] = exactArgs(name, args, ['region']);
      checkRegion(target, region, 'pin <region>');
      const reason = requiredText(values, 'reason');
      const result = await pinRegion(target, region, reason, operatorName(env));
      const text = result.created
        ? `pinned ${region}: its control planes keep their last good config from their next poll (about a second) until \`unpin ${region}\`\n`
        : `${region} was already pinned since ${result.pin.since}${result.pin.by ? ` by ${result.pin.by}` : ''}: ${result.pin.reason} (kept as it was)\n`;
      return { json: result, text };
    }
    case 'unpin': {
      const [region] = exactArgs(name, args, ['region']);
      checkRegion(target, region, 'unpin <region>');
      const removed = await unpinRegion(target, region);
      if (!removed) throw new OpsError('not-pinned', `region ${region}: is not pinned`);
      return { json: { unpinned: removed }, text: `unpinned ${region} (pinned since ${removed.since}): its control planes re-read every route at their next poll\n` };
    }
    default:
      throw new UsageError(`unknown command "${name}"`);
  }
}

function describeFailure(err: unknown, local: boolean): { code: string; message: string; flag?: string } {
  if (err instanceof UsageError) return { code: err.code, message: err.message, flag: err.flag };
  if (err instanceof OpsError) return { code: err.code, message: err.message };
  const e = err as { name?: string; message?: string; code?: string };
  const text = e.message || String(err);
  const unreachable = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|socket hang up/i.test(`${text} ${e.code ?? ''} ${e.name ?? ''}`);
  if (unreachable && local) return { code: 'unreachable', message: `${text}: is \`npm start\` running (EDGE_DYNAMODB_PORT, EDGE_SQS_PORT)?` };
  if (e.name === 'ResourceNotFoundException') return { code: 'not-found', message: `${text} (is the table name right? --table)` };
  return { code: e.name && e.name !== 'Error' ? e.name : 'error', message: text };
}

/**
 * The operator CLI: parses `argv` (the words after `npm run ops --`), runs the command and
 * returns the exit code (0 ok, 1 failure, 2 usage error). Human-readable output by default,
 * one JSON document with `--json`; errors go to stderr, as JSON with `--json`.
 */
export async function runOps(argv: readonly string[], io: OpsIo): Promise<number> {
  const wantsJson = argv.includes('--json');
  const fail = (code: number, error: { code: string; message: string; flag?: string }) => {
    if (wantsJson) io.stderr(`${JSON.stringify({ error })}\n`);
    else io.stderr(`ops: ${error.message}\n${code === EXIT.usage ? 'run `npm run ops -- --help` for usage\n' : ''}`);
    return code;
  };
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    const message = (err as Error).message.split('. To specify a positional')[0];
    const flag = /'(-{1,2}[^' ]+)/.exec(message)?.[1];
    return fail(EXIT.usage, { code: 'usage', message, flag });
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return EXIT.ok;
  }
  let target: Target | undefined;
  try {
    const { name, args } = commandOf(positionals);
    checkFlags(name, values);
    target = Target.open({
      local: values.local ?? false,
      region: values.region,
      dynamodbEndpoint: values['dynamodb-endpoint'],
      sqsEndpoint: values['sqs-endpoint'],
      table: values.table,
      queueUrl: values['queue-url'],
      env: io.env,
    });
    const outcome = await run(name, args, values, target, io.env);
    io.stdout(values.json ? `${JSON.stringify(outcome.json, null, 2)}\n` : outcome.text);
    return EXIT.ok;
  } catch (err) {
    return fail(err instanceof UsageError ? EXIT.usage : EXIT.failure, describeFailure(err, values.local ?? false));
  } finally {
    target?.close();
  }
}
