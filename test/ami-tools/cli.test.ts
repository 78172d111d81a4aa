import { USAGE, runAmi } from '../../ami/scripts/ami';
import { FakeAws } from './fake-aws';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';

async function run(argv: string[], extra: { build?: (argv: string[]) => Promise<void>; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runAmi(argv, {
    out: (l) => lines.push(l),
    clients: (region) => ({ ec2: new EC2Client({ region }), ssm: new SSMClient({ region }) }),
    sleep: async () => undefined,
    log: () => undefined,
    env: extra.env ?? {},
    build: extra.build,
  });
  return { code, out: lines.join('\n') };
}

describe('npm run ami', () => {
  test('--help lists build, promote, status and prune', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    for (const command of ['build', 'promote <version>', 'status', 'prune --keep <n>']) expect(out).toContain(`\n  ${command}`);
    expect(out).toBe(USAGE);
  });

  test('no command, an unknown command or an unknown flag: usage, exit 2', async () => {
    expect((await run([])).code).toBe(2);
    expect(await run(['retire'])).toEqual({ code: 2, out: expect.stringContaining('unknown command "retire"') });
    expect(await run(['status', '--region', 'us-east-1'])).toEqual({ code: 2, out: expect.stringContaining("Unknown option '--region'") });
  });

  test('promote needs a version and regions; regions must be fleet regions; --wave within the config', async () => {
    new FakeAws([]);
    expect((await run(['promote', '--regions', 'all'])).out).toContain('promote: give exactly one version');
    expect((await run(['promote', 'v1'])).out).toContain('promote: say where, with --regions <r1,r2|all> or --wave <n>');
    expect((await run(['promote', 'v1', '--regions', 'us-east-1,mars-north-1'])).out).toContain('--regions: mars-north-1 is not a fleet region');
    const wave = await run(['promote', 'v1', '--wave', '9']);
    expect(wave.code).toBe(2);
    expect(wave.out).toContain('--wave: must be 1 to 4 (pipeline.waves: 1=us-east-1 2=us-east-2,us-west-1');
    expect((await run(['promote', 'v1', '--wave', '1', '--regions', 'all'])).out).toContain('--regions and --wave: give one of them');
  });

  test('promote --wave 1 acts on the canary region of the config', async () => {
    const aws = new FakeAws(['us-east-1']);
    aws.addImage('us-east-1', { imageId: 'ami-0new0000000000001', created: '2026-12-05T00:00:00.000Z' });
    aws.region('us-east-1').parameters.set('/edge/ami/envoy/v7', 'ami-0new0000000000001');
    const { code, out } = await run(['promote', 'v7', '--wave', '1']);
    expect(out).toContain('promoted v7 (/edge/ami/envoy/latest): changed us-east-1');
    expect(code).toBe(0);
    expect(aws.region('us-east-1').parameters.get('/edge/ami/envoy/latest')).toBe('ami-0new0000000000001');
  });

  test('prune needs --keep; a dry run exits 0 and changes nothing', async () => {
    expect((await run(['prune'])).out).toContain('prune: --keep <n> is required');
    expect((await run(['prune', '--keep', '0'])).out).toContain('--keep: must be a whole number of at least 1, got "0"');
    const aws = new FakeAws(['us-east-1', 'eu-west-1']);
    aws.addImage('eu-west-1', { imageId: 'ami-0old0000000000001', created: '2026-11-01T00:00:00.000Z' });
    aws.addImage('eu-west-1', { imageId: 'ami-0new0000000000001', created: '2026-12-01T00:00:00.000Z' });
    const { code, out } = await run(['prune', '--keep', '1', '--regions', 'us-east-1,eu-west-1']);
    expect(code).toBe(0);
    expect(out).toContain('eu-west-1: would remove 1');
    expect(aws.calls.some((c) => c.includes('Deregister'))).toBe(false);
  });

  test('build runs the bake with its own options only', async () => {
    const seen: string[][] = [];
    const { code } = await run(['build', '--no-publish', '--salt-onedir-sha256=' + 'a'.repeat(64)], { build: async (argv) => void seen.push(argv) });
    expect(code).toBe(0);
    expect(seen).toEqual([['--no-publish', `--salt-onedir-sha256=${'a'.repeat(64)}`]]);
  });

  test('status --json prints one object per region', async () => {
    new FakeAws(['us-east-1', 'eu-west-1']);
    const { code, out } = await run(['status', '--json', '--regions', 'eu-west-1']);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual([{ region: 'eu-west-1', running: [], images: [] }]);
  });
});
