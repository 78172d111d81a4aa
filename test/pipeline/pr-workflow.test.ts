import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(__dirname, '..', '..');
const workflow = parse(readFileSync(join(ROOT, '.github', 'workflows', 'pr.yml'), 'utf8')) as {
  on: { pull_request: unknown };
  permissions: Record<string, string>;
  jobs: Record<string, { if?: string; needs?: string; permissions?: Record<string, string>; env?: Record<string, string>; steps: { name?: string; uses?: string; run?: string; with?: Record<string, string | number> }[] }>;
};

/** The commands of the README's first shell block (install, synth, test), comments dropped. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /```sh\n([\s\S]*?)```/.exec(readme)![1];
  return block.split('\n').map((line) => line.replace(/#.*$/, '').trim()).filter(Boolean);
}

describe('.github/workflows/pr.yml', () => {
  test('is valid YAML and runs on pull requests', () => {
    expect(workflow.on.pull_request).toBeDefined();
    expect(workflow.permissions).toEqual({ contents: 'read' });
  });

  test("the test job runs the README's commands (install, test, synth) with no AWS credentials", () => {
    const job = workflow.jobs.test;
    const runs = job.steps.map((s) => s.run).filter((r): r is string => Boolean(r));
    const commands = readmeCommands();
    expect(commands).toEqual(['npm ci', 'npx cdk synth', 'npm test']);
    for (const command of commands) expect([command, runs.some((run) => run.startsWith(command))]).toEqual([command, true]);
    // Install first, then the tests, then the synth.
    const at = (command: string) => runs.findIndex((run) => run.startsWith(command));
    expect(at('npm ci')).toBeLessThan(at('npm test'));
    expect(at('npm test')).toBeLessThan(at('npx cdk synth'));
    expect(job.steps.some((s) => s.uses?.startsWith('aws-actions/'))).toBe(false);
    expect(job.permissions).toBeUndefined();
    expect(job.env?.AWS_EC2_METADATA_DISABLED).toBe('true');
    expect(job.steps.find((s) => s.uses?.startsWith('actions/setup-node'))?.with?.['node-version']).toBe(22);
  });

  test('cdk diff runs only when an OIDC role is configured, assumed with the sts.amazonaws.com audience', () => {
    const job = workflow.jobs.diff;
    expect(job.needs).toBe('test');
    expect(job.if).toContain('vars.EDGE_DIFF_ROLE_ARN');
    expect(job.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    const credentials = job.steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'))!;
    expect(credentials.with).toMatchObject({ 'role-to-assume': '${{ vars.EDGE_DIFF_ROLE_ARN }}', audience: 'sts.amazonaws.com' });
    const runs = job.steps.map((s) => s.run ?? '');
    expect(runs.indexOf('npx cdk diff --all')).toBeGreaterThan(job.steps.indexOf(credentials));
  });

  test("docs/pipeline.md gives the role's trust policy: GitHub's OIDC provider, the sts.amazonaws.com audience and a sub condition on the repository", () => {
    const doc = readFileSync(join(ROOT, 'docs', 'pipeline.md'), 'utf8');
    const json = [...doc.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => m[1]).find((block) => block.includes('token.actions.githubusercontent.com:sub'));
    expect(json).toBeDefined();
    const policy = JSON.parse(json!) as { Statement: { Action: string; Principal: { Federated: string }; Condition: Record<string, Record<string, string>> }[] };
    const [statement] = policy.Statement;
    expect(statement.Action).toBe('sts:AssumeRoleWithWebIdentity');
    expect(statement.Principal.Federated).toMatch(/:oidc-provider\/token\.actions\.githubusercontent\.com$/);
    expect(statement.Condition.StringEquals['token.actions.githubusercontent.com:aud']).toBe('sts.amazonaws.com');
    expect(statement.Condition.StringEquals['token.actions.githubusercontent.com:sub']).toMatch(/^repo:[^/]+\/[^:]+:pull_request$/);
  });
});
