import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { REPORT_HEARTBEAT_SECONDS, convergence, formatConvergence } from './commands/convergence';
import { formatDlq, redriveDlq, showDlq } from './commands/dlq';
import { DrillClients, drillAlarm, formatDrill, formatPlan, inspectAlarm } from './commands/drill';
import { formatOperation, inspectOperation } from './commands/operation';
import { pinRegion, unpinRegion } from './commands/pin';
import { withdrawRoute } from './commands/withdraw';
import { OpsError, UsageError } from './errors';
import { Target, TargetOptions } from './target';

/** Where the CLI writes, and the environment it reads (tests pass their own). */
export interface OpsIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: NodeJS.ProcessEnv;
}

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export const USAGE = `usage: npm run ops -- <command> [arguments] (--local | --region <aws-region>) [--json] [--dry-run]

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
  drill <alarm-name> [--yes] [--timeout-seconds S]
                                           AWS only. Without --yes: the alarm's topics and who receives them
                                           (read-only). With --yes it pages for real: sets the alarm to ALARM,
                                           checks the notification arrives (a temporary SQS subscription,
                                           default wait 120 s), then removes the queue

target:
  --local                                  the running \`npm start\` (EDGE_DYNAMODB_PORT, EDGE_SQS_PORT)
    --dynamodb-endpoint <url>, --sqs-endpoint <url>   override the local emulators' endpoints
  --region <aws-region>                    AWS, default credential chain; table from the platform config
  --table <name>                           override the broker table name
  --queue-url <url>                        override the operations queue (its DLQ is read from its redrive policy)

--dry-run                                  check the command line (arguments, flags, target, regions) and say
                                           what it would do, contacting nothing

exit codes: 0 ok, 1 failure, 2 usage error
`;

const TARGET_FLAGS = ['local', 'region', 'dynamodb-endpoint', 'sqs-endpoint', 'table', 'json', 'dry-run'] as const;
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
  drill: ['yes', 'timeout-seconds'],
};
const COMMANDS = 'operation, dlq show, dlq redrive, withdraw, convergence, pin, unpin, drill';

const OPTIONS = {
  local: { type: 'boolean' },
  region: { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
  'sqs-endpoint': { type: 'string' },
  table: { type: 'string' },
  'queue-url': { type: 'string' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  yes: { type: 'boolean' },
  reason: { type: 'string' },
  max: { type: 'string' },
  limit: { type: 'string' },
  'heartbeat-seconds': { type: 'string' },
  'timeout-seconds': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
}

function positiveInteger(values: Values, flag: 'max' | 'limit' | 'heartbeat-seconds' | 'timeout-seconds', fallback: number): number {
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
  if (!first) throw new UsageError(`a command is required (${COMMANDS})`);
  if (first === 'dlq') {
    const [sub, ...args] = rest;
    if (sub !== 'show' && sub !== 'redrive') throw new UsageError(`dlq: expects "show" or "redrive", got ${sub ? `"${sub}"` : 'nothing'}`, 'dlq');
    return { name: `dlq ${sub}`, args };
  }
  if (!(first in COMMAND_FLAGS)) throw new UsageError(`unknown command "${first}" (commands: ${COMMANDS})`, first);
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

function checkRegion(regions: readonly string[], region: string, what: string): void {
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new UsageError(`${what}: "${region}" is not an AWS region name`, `<region>`);
  if (!regions.includes(region)) throw new UsageError(`${what}: ${region} is not a region of the platform config (${regions.join(', ')})`, '<region>');
}

interface Outcome {
  readonly json: unknown;
  readonly text: string;
  /** Set when the command ran but what it checked failed: exit 1, after the output. */
  readonly failed?: string;
}

/** A command whose line is fully checked: what it will do, and doing it. */
interface Prepared {
  readonly summary: string;
  execute(target: Target): Promise<Outcome>;
}

/** The drill's clients, in the target's region (CloudWatch and SNS have no local emulator). */
function drillClients(region: string): DrillClients {
  return { cloudwatch: new CloudWatchClient({ region }), sns: new SNSClient({ region }), sqs: new SQSClient({ region }) };
}

/**
 * Checks everything about a command line that needs no connection (arguments, flags, regions,
 * confirmations) and returns what the command will do; `--dry-run` stops here.
 */
function prepare(name: string, args: string[], values: Values, regions: readonly string[], env: NodeJS.ProcessEnv): Prepared {
  switch (name) {
    case 'operation': {
      const [instanceId] = exactArgs(name, args, ['instance-id']);
      return {
        summary: `show instance ${instanceId}, its operations, route and convergence`,
        async execute(target) {
          const view = await inspectOperation(target, instanceId);
          return { json: view, text: formatOperation(view) };
        },
      };
    }
    case 'dlq show': {
      exactArgs(name, args, []);
      const limit = positiveInteger(values, 'limit', 10);
      return {
        summary: `show the dead-letter queue (count and first ${limit} messages)`,
        async execute(target) {
          const view = await showDlq(target, limit);
          return { json: view, text: formatDlq(view) };
        },
      };
    }
    case 'dlq redrive': {
      exactArgs(name, args, []);
      const max = positiveInteger(values, 'max', Number.MAX_SAFE_INTEGER);
      return {
        summary: `move ${max === Number.MAX_SAFE_INTEGER ? 'every message' : `at most ${max} message(s)`} from the dead-letter queue back to the operations queue`,
        async execute(target) {
          const result = await redriveDlq(target, max);
          return { json: result, text: `moved ${result.moved} message(s) from ${result.from} to ${result.to}\n` };
        },
      };
    }
    case 'withdraw': {
      const [instanceId] = exactArgs(name, args, ['instance-id']);
      const reason = requiredText(values, 'reason');
      if (!values.yes) throw new UsageError(`withdraw takes ${instanceId}'s route out of service at once: confirm with --yes`, '--yes');
      return {
        summary: `withdraw ${instanceId}'s route (tombstone); reason: ${reason}`,
        async execute(target) {
          const result = await withdrawRoute(target, instanceId, reason, operatorName(env));
          return { json: result, text: `withdrawn: ${result.description}\n` };
        },
      };
    }
    case 'convergence': {
      const [region] = exactArgs(name, args, ['region'], 1);
      if (region !== undefined) checkRegion(regions, region, 'convergence <region>');
      const heartbeat = positiveInteger(values, 'heartbeat-seconds', REPORT_HEARTBEAT_SECONDS);
      return {
        summary: `show the convergence reports of ${region ?? 'every region'}`,
        async execute(target) {
          const found = await convergence(target, region, heartbeat);
          return { json: { heartbeatSeconds: heartbeat, regions: found }, text: formatConvergence(found, region) };
        },
      };
    }
    case 'pin': {
      const [region] = exactArgs(name, args, ['region']);
      checkRegion(regions, region, 'pin <region>');
      const reason = requiredText(values, 'reason');
      return {
        summary: `pin ${region}; reason: ${reason}`,
        async execute(target) {
          const result = await pinRegion(target, region, reason, operatorName(env));
          const text = result.created
            ? `pinned ${region}: its control planes keep their last good config from their next poll (about a second) until \`unpin ${region}\`\n`
            : `${region} was already pinned since ${result.pin.since}${result.pin.by ? ` by ${result.pin.by}` : ''}: ${result.pin.reason} (kept as it was)\n`;
          return { json: result, text };
        },
      };
    }
    case 'unpin': {
      const [region] = exactArgs(name, args, ['region']);
      checkRegion(regions, region, 'unpin <region>');
      return {
        summary: `unpin ${region}`,
        async execute(target) {
          const removed = await unpinRegion(target, region);
          if (!removed) throw new OpsError('not-pinned', `region ${region}: is not pinned`);
          return { json: { unpinned: removed }, text: `unpinned ${region} (pinned since ${removed.since}): its control planes re-read every route at their next poll\n` };
        },
      };
    }
    case 'drill': {
      const [alarmName] = exactArgs(name, args, ['alarm-name']);
      if (values.local) throw new UsageError('drill: alarms and their topics exist only in AWS: use --region <aws-region>', '--local');
      const timeoutMs = positiveInteger(values, 'timeout-seconds', 120) * 1000;
      return {
        summary: values.yes
          ? `drill ${alarmName}: set it to ALARM and wait up to ${timeoutMs / 1000} s for its notification (this pages on-call)`
          : `show ${alarmName}'s topics and who receives them (read-only)`,
        async execute(target) {
          const clients = drillClients(target.awsRegion!);
          try {
            const settle = env.EDGE_DRILL_SETTLE_SECONDS;
            const settleMs = settle !== undefined && /^[0-9]+$/.test(settle) ? Number(settle) * 1000 : undefined;
            const options = { alarmName, platformName: target.platformName, operator: operatorName(env), timeoutMs, settleMs };
            if (!values.yes) {
              const plan = await inspectAlarm(clients, options);
              const next = plan.refusals.length > 0 ? 'This alarm cannot be drilled.\n' : 'Nothing was changed. Run again with --yes to page for real (tell on-call first).\n';
              return { json: plan, text: `${formatPlan(plan)}${next}` };
            }
            const result = await drillAlarm(clients, options);
            const problems = [...result.topics.filter((t) => !t.alarmNotification).map((t) => `no notification from ${t.arn}`), ...result.actionHistory.filter((h) => /^Failed/i.test(h))];
            return { json: result, text: formatDrill(result), failed: result.passed ? undefined : `drill of ${alarmName} failed: ${problems.join('; ')}` };
          } finally {
            clients.cloudwatch.destroy();
            clients.sns.destroy();
            clients.sqs.destroy();
          }
        },
      };
    }
    default:
      throw new UsageError(`unknown command "${name}"`);
  }
}

function targetOptions(values: Values, env: NodeJS.ProcessEnv): TargetOptions {
  return {
    local: values.local ?? false,
    region: values.region,
    dynamodbEndpoint: values['dynamodb-endpoint'],
    sqsEndpoint: values['sqs-endpoint'],
    table: values.table,
    queueUrl: values['queue-url'],
    env,
  };
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
 * one JSON document with `--json`; errors go to stderr, as JSON with `--json`. With `--dry-run`
 * the command line is checked in full and nothing is contacted.
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
    const options = targetOptions(values, io.env);
    const checked = Target.check(options);
    const prepared = prepare(name, args, values, checked.regions, io.env);
    if (values['dry-run']) {
      const plan = { dryRun: true, command: name, args, target: checked.description, would: prepared.summary };
      io.stdout(values.json ? `${JSON.stringify(plan, null, 2)}\n` : `dry run: would ${prepared.summary}, on ${checked.description}; nothing was contacted\n`);
      return EXIT.ok;
    }
    target = Target.open(options);
    const outcome = await prepared.execute(target);
    io.stdout(values.json ? `${JSON.stringify(outcome.json, null, 2)}\n` : outcome.text);
    if (outcome.failed) return fail(EXIT.failure, { code: 'failed', message: outcome.failed });
    return EXIT.ok;
  } catch (err) {
    return fail(err instanceof UsageError ? EXIT.usage : EXIT.failure, describeFailure(err, values.local ?? false));
  } finally {
    target?.close();
  }
}
