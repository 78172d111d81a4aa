/**
 * The operator CLI (`npm run ops`) against a real local platform: inspect an operation,
 * withdraw a route (and the owner's update restoring it), convergence, usage errors, and
 * once as a real child process.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { LocalPlatform } from '../../lib/local/platform';
import { convergenceKey } from '../../lib/model';
import { catalogIds } from '../e2e/support/platform';
import { cli, finishOperation, osbClient, provision, runCli, serves, startPlatform, waitFor } from './support';

const ROOT = join(__dirname, '..', '..');

describe('npm run ops', () => {
  let platform: LocalPlatform;

  beforeAll(async () => {
    platform = await startPlatform();
    expect(await provision(platform, 'ops-inspect', 'ops-inspect.edge.example.com')).toMatchObject({ state: 'succeeded' });
  });
  afterAll(() => platform?.stop());

  describe('operation <instance-id>', () => {
    it('shows the instance, its operations with every recorded step, the route and convergence per region', async () => {
      const run = await cli(platform, 'operation', 'ops-inspect', '--json');
      expect(run).toMatchObject({ code: 0, stderr: '' });
      const view = run.json();
      expect(view.instance).toMatchObject({ instanceId: 'ops-inspect', state: 'provisioned', plan: 'standard' });
      expect(view.operations).toHaveLength(1);
      const [op] = view.operations;
      expect(op).toMatchObject({ type: 'provision', state: 'succeeded', step: 'done' });
      expect(op.completedSteps).toEqual(['validate', 'claim-hostnames', 'write-route', 'dns-records', 'converge']);
      expect(Date.parse(op.createdAt)).toBeLessThanOrEqual(Date.parse(op.updatedAt));
      expect(view.route).toMatchObject({ generation: op.routeGeneration, deleted: false, plan: 'standard' });
      expect(view.route.regions).toContain('us-east-1');
      expect(view.convergence.map((c: { region: string }) => c.region)).toEqual(view.route.regions);
      expect(view.convergence.find((c: { region: string }) => c.region === 'us-east-1')).toMatchObject({ connected: 0, accepted: 0 });
    });

    it('prints it for a person by default', async () => {
      const run = await cli(platform, 'operation', 'ops-inspect');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('instance ops-inspect: provisioned, plan standard, hostnames ops-inspect.edge.example.com');
      expect(run.stdout).toContain('steps done: validate > claim-hostnames > write-route > dns-records > converge');
      expect(run.stdout).toMatch(/route: generation \d+, plan standard/);
      expect(run.stdout).toContain('us-east-1: 0 of 0 connected proxies hold it');
    });

    it('fails with exit code 1 naming an unknown instance', async () => {
      const run = await cli(platform, 'operation', 'no-such-instance');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('instance no-such-instance: not found in table edge-broker');
      const json = await cli(platform, 'operation', 'no-such-instance', '--json');
      expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'not-found', message: 'instance no-such-instance: not found in table edge-broker' } });
    });
  });

  describe('withdraw <instance-id>', () => {
    const id = 'ops-withdraw';
    beforeAll(async () => {
      expect(await provision(platform, id, 'ops-withdraw.edge.example.com')).toMatchObject({ state: 'succeeded' });
      await waitFor('the control plane to serve the route', () => serves(platform.controlPlaneUrl, id));
    });

    it('refuses without --yes or --reason, naming the flag, and changes nothing', async () => {
      const noYes = await cli(platform, 'withdraw', id, '--reason', 'breaks checkout');
      expect(noYes.code).toBe(2);
      expect(noYes.stderr).toContain("confirm with --yes");
      const noReason = await cli(platform, 'withdraw', id, '--yes', '--json');
      expect(noReason.code).toBe(2);
      expect(JSON.parse(noReason.stderr).error).toMatchObject({ code: 'usage', flag: '--reason' });
      expect((await platform.broker.store.getRoute(id))?.deleted).toBe(false);
      expect(await serves(platform.controlPlaneUrl, id)).toBe(true);
    });

    it('takes the route out of service, says so in last_operation, and the owner update puts it back', async () => {
      const before = await platform.broker.store.getRoute(id);
      const run = await cli(platform, 'withdraw', id, '--reason', 'sends every request to a dead backend', '--yes', '--json');
      expect(run).toMatchObject({ code: 0, stderr: '' });
      const result = run.json();
      expect(result.generation).toBeGreaterThan(before!.generation);
      const route = await platform.broker.store.getRoute(id);
      expect(route).toMatchObject({ deleted: true, generation: result.generation });
      // Gone from what the control plane serves.
      await waitFor('the route to leave the control plane', async () => !(await serves(platform.controlPlaneUrl, id)));

      const call = osbClient(platform.brokerUrl);
      const last = await call('GET', `/v2/service_instances/${id}/last_operation`);
      expect(last.status).toBe(200);
      expect(last.body.state).toBe('failed');
      expect(last.body.description).toContain('withdrawn by an operator (ops-test)');
      expect(last.body.description).toContain('sends every request to a dead backend');
      expect(last.body.description).toContain(`tombstone, generation ${result.generation}`);
      const inspected = (await cli(platform, 'operation', id, '--json')).json();
      expect(inspected.route).toMatchObject({ deleted: true });
      expect(inspected.operations.at(-1)).toMatchObject({ operationId: result.operationId, operatorWithdrawal: { reason: 'sends every request to a dead backend', by: 'ops-test' } });

      // A second withdrawal has nothing to take out.
      const again = await cli(platform, 'withdraw', id, '--reason', 'again', '--yes');
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('already out of service');
      expect((await platform.broker.store.getRoute(id))?.generation).toBe(result.generation);

      // The owner fixes the backend: the update writes a new route generation, served again.
      const ids = await catalogIds(call);
      const patch = await call('PATCH', `/v2/service_instances/${id}?accepts_incomplete=true`, {
        service_id: ids.serviceId,
        parameters: { backends: [{ address: '127.0.0.1', port: 8082, protocol: 'http' }] },
      });
      expect(patch.status).toBe(202);
      expect((await finishOperation(call, id)).body).toMatchObject({ state: 'succeeded' });
      expect(await platform.broker.store.getRoute(id)).toMatchObject({ deleted: false });
      await waitFor('the route to be served again', () => serves(platform.controlPlaneUrl, id));
    });

    it('finishes a withdrawal cut short between its tombstone and its record', async () => {
      const cut = 'ops-withdraw-cut';
      expect(await provision(platform, cut, 'ops-withdraw-cut.edge.example.com')).toMatchObject({ state: 'succeeded' });
      // What the CLI writes first, as if it died right after.
      const route = (await platform.broker.store.getRoute(cut))!;
      const tombstone = await platform.broker.store.writeRoute({ instanceId: cut, plan: route.plan, deleted: true, spec: route.spec });

      const run = await cli(platform, 'withdraw', cut, '--reason', 'finishing what was cut short', '--yes', '--json');
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.json().generation).toBe(tombstone);
      expect((await platform.broker.store.getRoute(cut))?.generation).toBe(tombstone);
      const last = await osbClient(platform.brokerUrl)('GET', `/v2/service_instances/${cut}/last_operation`);
      expect(last.body.description).toContain(`tombstone, generation ${tombstone}`);
      expect((await cli(platform, 'withdraw', cut, '--reason', 'again', '--yes')).stderr).toContain('already out of service');
    });
  });

  describe('convergence [<region>]', () => {
    it("shows every task's report per region and flags late and stale ones", async () => {
      const taskId = platform.controlPlane.taskId!;
      await waitFor('a fresh report', async () => (await platform.broker.store.convergenceReports()).some((r) => r.taskId === taskId));
      // A task of another region that stopped writing 45 s ago.
      await platform.broker.store.doc.send(
        new PutCommand({
          TableName: 'edge-broker',
          Item: {
            ...convergenceKey('eu-west-1', 'gone-task'),
            kind: 'convergence',
            region: 'eu-west-1',
            taskId: 'gone-task',
            reportedAt: new Date(Date.now() - 45_000).toISOString(),
            stableGeneration: 3,
            connectedNodes: 7,
            ackedGenerations: [[2, 1], [3, 6]],
            rejected: { 'svc-x': { generation: 3, source: 'nack', reason: 'bad cluster', nodes: 1 } },
          },
        }),
      );
      const run = await cli(platform, 'convergence', '--json');
      expect(run.code).toBe(0);
      const { regions, heartbeatSeconds } = run.json();
      expect(heartbeatSeconds).toBe(10);
      const home = regions.find((r: { region: string }) => r.region === 'us-east-1');
      expect(home.tasks.find((t: { taskId: string }) => t.taskId === taskId)).toMatchObject({ connectedNodes: 0, late: false, ignoredByGate: false });
      const eu = regions.find((r: { region: string }) => r.region === 'eu-west-1');
      expect(eu.connectedNodes).toBe(0);
      expect(eu.tasks[0]).toMatchObject({ taskId: 'gone-task', late: true, ignoredByGate: true, connectedNodes: 7, nodesByGeneration: [[2, 1], [3, 6]] });

      const text = await cli(platform, 'convergence', 'eu-west-1');
      expect(text.code).toBe(0);
      expect(text.stdout).toContain('task gone-task: reported');
      expect(text.stdout).toContain('STALE: ignored by the gate');
      expect(text.stdout).toContain('nodes per generation: gen 2: 1, gen 3: 6');
      expect(text.stdout).toContain('rejected svc-x generation 3 (nack, 1 node(s)): bad cluster');
      expect(text.stdout).not.toContain('us-east-1');
    });
  });

  describe('usage errors (exit code 2, naming what is wrong)', () => {
    it.each([
      [['frobnicate', '--local'], 'unknown command "frobnicate"'],
      [['operation', 'x', '--local', '--bogus'], "Unknown option '--bogus'"],
      [['operation', '--local'], 'operation: expects <instance-id>, got nothing'],
      [['operation', 'a', 'b', '--local'], 'operation: expects <instance-id>, got "a" "b"'],
      [['operation', 'x'], 'choose a target: --local'],
      [['operation', 'x', '--local', '--region', 'us-east-1'], '--local and --region: choose one target'],
      [['dlq', 'purge', '--local'], 'dlq: expects "show" or "redrive", got "purge"'],
      [['dlq', 'redrive', '--local', '--max', '0'], '--max: must be a whole number of at least 1, got "0"'],
      [['operation', 'x', '--local', '--max', '3'], '--max: not an option of "operation"'],
      [['pin', 'ap-mars-1', '--local', '--reason', 'x'], 'pin <region>: ap-mars-1 is not a region of the platform config'],
      [['unpin', 'Mars', '--local'], 'unpin <region>: "Mars" is not an AWS region name'],
      [['pin', 'us-east-1', '--local'], '--reason <text>: is required'],
      [[], 'a command is required'],
    ])('%j', async (argv, message) => {
      const run = await runCli(argv as string[]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(message);
      expect(run.stdout).toBe('');
    });

    it('names the flag in --json errors', async () => {
      const run = await runCli(['operation', 'x', '--local', '--bogus', '--json']);
      expect(run.code).toBe(2);
      expect(JSON.parse(run.stderr)).toEqual({ error: { code: 'usage', message: "Unknown option '--bogus'", flag: '--bogus' } });
    });

    it('fails with exit code 1 and a hint when nothing listens on the local ports', async () => {
      const run = await runCli(['convergence', '--local', '--dynamodb-endpoint', 'http://127.0.0.1:9', '--sqs-endpoint', 'http://127.0.0.1:9']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('is `npm start` running');
    });

    it('prints the usage with --help', async () => {
      const run = await runCli(['--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('usage: npm run ops -- <command>');
    });
  });

  it('runs as `npm run ops` does (tsx lib/ops/main.ts), finding the platform through EDGE_DYNAMODB_PORT / EDGE_SQS_PORT', async () => {
    const env = { ...process.env, EDGE_DYNAMODB_PORT: new URL(platform.emulators.dynamodbEndpoint).port, EDGE_SQS_PORT: new URL(platform.emulators.sqsEndpoint).port };
    const run = (args: string[]) =>
      promisify(execFile)(join(ROOT, 'node_modules', '.bin', 'tsx'), ['lib/ops/main.ts', ...args], { cwd: ROOT, env, timeout: 60_000 }).then(
        (out) => ({ code: 0, ...out }),
        (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
      );
    const ok = await run(['operation', 'ops-inspect', '--local', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).instance.state).toBe('provisioned');
    const bad = await run(['operation', '--local', '--nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Unknown option '--nope'");
  });
});
