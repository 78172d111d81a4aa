/**
 * The pipeline's checks, run by its CodeBuild steps (lib/pipeline/pipeline-stack.ts):
 *   bake   --regions r1,r2 --minutes N --alarm-prefix edge-     wait N minutes; fail on any alarm in ALARM
 *   verify --region r --stacks s1,s2 --alarm-prefix edge- [--url https://r.domain/]
 * Exit 0 when healthy, 1 naming each region and alarm or problem. Structured JSON logs on stderr.
 */
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { bake, CloudWatchFor, firingLines } from './alarm-gate';
import { verifyRegion, VerifyClients } from './verify';

export interface GateIo {
  readonly out: (line: string) => void;
  readonly cloudwatch?: CloudWatchFor;
  readonly verifyClients?: (region: string) => VerifyClients;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => Date;
  readonly log?: (entry: Record<string, unknown>) => void;
}

function list(value: string | undefined, flag: string): string[] {
  const items = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new Error(`${flag}: required (a comma-separated list)`);
  return items;
}

const realCloudWatch: CloudWatchFor = (region) => new CloudWatchClient({ region, maxAttempts: 8 });

function realVerifyClients(region: string): VerifyClients {
  return {
    cloudformation: new CloudFormationClient({ region, maxAttempts: 8 }),
    elb: new ElasticLoadBalancingV2Client({ region, maxAttempts: 8 }),
    cloudwatch: realCloudWatch(region),
    httpStatus: async (url) => (await fetch(url, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(15_000) })).status,
  };
}

export async function runGate(argv: readonly string[], io: GateIo): Promise<number> {
  const operation = randomUUID();
  const log = io.log ?? ((entry: Record<string, unknown>) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', op: 'pipeline-gate', operation, ...entry })}\n`));
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { regions: { type: 'string' }, region: { type: 'string' }, minutes: { type: 'string' }, 'alarm-prefix': { type: 'string' }, stacks: { type: 'string' }, url: { type: 'string' } },
    });
    const prefix = values['alarm-prefix'];
    if (!prefix) throw new Error('--alarm-prefix: required');
    if (positionals[0] === 'bake') {
      const minutes = Number(values.minutes);
      if (!Number.isInteger(minutes) || minutes < 0) throw new Error(`--minutes: a whole number of minutes, got "${values.minutes}"`);
      const regions = list(values.regions, '--regions');
      const result = await bake({ regions, prefix, minutes, cloudwatch: io.cloudwatch ?? realCloudWatch, sleep: io.sleep, now: io.now, log });
      if (result.ok) {
        io.out(`bake passed: ${regions.join(', ')}: no ${prefix}* alarm fired in ${minutes} minute(s) (${result.checks} checks)`);
        return 0;
      }
      io.out(`wave failed: ${firingLines(result.firing).join('; ')}`);
      return 1;
    }
    if (positionals[0] === 'verify') {
      if (!values.region) throw new Error('--region: required');
      const problems = await verifyRegion(
        { region: values.region, stacks: list(values.stacks, '--stacks'), alarmPrefix: prefix, regionUrl: values.url },
        (io.verifyClients ?? realVerifyClients)(values.region),
      );
      if (!problems.length) {
        io.out(`verify passed: ${values.region}`);
        return 0;
      }
      io.out(`verify failed:\n  ${problems.join('\n  ')}`);
      return 1;
    }
    throw new Error(`unknown command "${positionals[0] ?? ''}" (bake or verify)`);
  } catch (error) {
    log({ level: 'error', msg: (error as Error).message });
    io.out(`pipeline gate: ${(error as Error).message}`);
    return 2;
  }
}

if (require.main === module) {
  runGate(process.argv.slice(2), { out: (line) => console.log(line) }).then((code) => {
    process.exitCode = code;
  });
}
