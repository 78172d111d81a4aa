/**
 * `ops pin <region>` / `ops unpin <region>` on the local platform: a pinned region's control
 * plane keeps serving its last good snapshot and takes no new route generation, through a
 * restart too (persisted snapshot in EDGE_DATA_DIR), and catches up after the unpin.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalPlatform } from '../../lib/local/platform';
import { LocalControlPlane, startLocalControlPlane } from '../../lib/control-plane/runtime/local';
import { silentLogger } from '../../lib/control-plane/runtime/logger';
import { ConvergenceReport, resourceBaseName } from '../../lib/model';
import { judgeConvergence } from '../../lib/broker/runtime/worker/gate';
import { TOKEN, cli, provision, serves, sleep, startPlatform, waitFor } from './support';

describe('npm run ops -- pin / unpin', () => {
  let platform: LocalPlatform;
  let restarted: LocalControlPlane | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'ops-pin-'));

  beforeAll(async () => {
    platform = await startPlatform({ dataDir });
  });
  afterAll(async () => {
    await restarted?.stop();
    await platform?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The pin as the local control plane's own report says it, if any. */
  async function reportedPin(): Promise<{ reason: string; since: string } | undefined> {
    const run = await cli(platform, 'convergence', 'us-east-1', '--json');
    const region = run.json().regions[0];
    return region?.tasks.find((t: { pinned?: unknown; late: boolean }) => t.pinned && !t.late)?.pinned;
  }

  it('holds the region at its last good config, through a control plane restart, and catches up after the unpin', async () => {
    expect(await provision(platform, 'pin-before', 'pin-before.edge.example.com')).toMatchObject({ state: 'succeeded' });
    await waitFor('the control plane to serve pin-before', () => serves(platform.controlPlaneUrl, 'pin-before'));
    const snapshotFile = join(dataDir, 'control-plane', 'last-good-snapshot.json');
    await waitFor('the snapshot with pin-before to persist', () => readFileSync(snapshotFile, 'utf8').includes(resourceBaseName('pin-before')));

    const pin = await cli(platform, 'pin', 'us-east-1', '--reason', 'bad template rollout under investigation');
    expect(pin).toMatchObject({ code: 0, stderr: '' });
    expect(pin.stdout).toContain('pinned us-east-1');
    const reported = await waitFor('the control plane to report the pin', reportedPin);
    expect(reported.reason).toBe('bad template rollout under investigation');
    const again = await cli(platform, 'pin', 'us-east-1', '--reason', 'another reason');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('us-east-1 was already pinned since');
    expect(again.stdout).toContain('by ops-test: bad template rollout under investigation');

    // A new route generation lands in the table but does not reach the region's nodes.
    expect(await provision(platform, 'pin-after', 'pin-after.edge.example.com')).toMatchObject({ state: 'succeeded' });
    expect((await platform.broker.store.getRoute('pin-after'))?.deleted).toBe(false);
    await sleep(1000); // ten polls of the control plane
    expect(await serves(platform.controlPlaneUrl, 'pin-before')).toBe(true);
    expect(await serves(platform.controlPlaneUrl, 'pin-after')).toBe(false);
    const text = await cli(platform, 'convergence', 'us-east-1');
    expect(text.stdout).toMatch(/us-east-1: 0 connected node\(s\), 1 task report\(s\)\s+PINNED since \S+ by ops-test: bad template rollout under investigation/);
    expect(text.stdout).toContain('serving its last good snapshot: pinned since');
    expect(readFileSync(snapshotFile, 'utf8')).not.toContain(resourceBaseName('pin-after'));

    // Restart: the new control plane serves the persisted snapshot and still loads nothing newer.
    await platform.controlPlane.stop();
    restarted = await startLocalControlPlane({
      xdsPort: 0,
      restPort: 0,
      region: 'us-east-1',
      tableName: 'edge-broker',
      dynamodbEndpoint: platform.emulators.dynamodbEndpoint,
      authToken: TOKEN,
      dataDir,
      domain: platform.domain,
      routesRefreshMs: 100,
      convergenceHeartbeatMs: 300,
      logger: silentLogger,
    });
    const url = `http://127.0.0.1:${restarted.restPort}`;
    await waitFor('the restarted control plane to be ready', async () => (await fetch(`${url}/readyz`)).status === 200);
    expect(await serves(url, 'pin-before')).toBe(true);
    await sleep(1000);
    expect(await serves(url, 'pin-after')).toBe(false);
    const status = (await (await fetch(`${url}/status`)).json()) as { contextOrigin: string; pinned: unknown };
    expect(status.contextOrigin).toBe('persisted');
    expect(status.pinned).toMatchObject({ reason: 'bad template rollout under investigation', by: 'ops-test' });

    // Unpin: a full re-read, and the new route reaches the nodes.
    const unpin = await cli(platform, 'unpin', 'us-east-1', '--json');
    expect(unpin.code).toBe(0);
    expect(unpin.json().unpinned).toMatchObject({ region: 'us-east-1', reason: 'bad template rollout under investigation', by: 'ops-test' });
    await waitFor('pin-after to reach the nodes after the unpin', () => serves(url, 'pin-after'));
    expect(await serves(url, 'pin-before')).toBe(true);
    await waitFor('/status to drop the pin', async () => ((await (await fetch(`${url}/status`)).json()) as { pinned: unknown }).pinned === null);
    await waitFor('the report to drop the pin', async () => {
      const region = (await cli(platform, 'convergence', 'us-east-1', '--json')).json().regions[0];
      return !region.pin && region.tasks.every((t: { pinned?: unknown }) => !t.pinned);
    });

    const notPinned = await cli(platform, 'unpin', 'us-east-1');
    expect(notPinned.code).toBe(1);
    expect(notPinned.stderr).toContain('region us-east-1: is not pinned');
  });
});

describe("the broker's gate while a region is pinned", () => {
  it('says the region is pinned, since when and why, while it waits', () => {
    const report: ConvergenceReport = {
      region: 'eu-west-1',
      taskId: 't1',
      reportedAt: new Date().toISOString(),
      stableGeneration: 4,
      connectedNodes: 3,
      ackedGenerations: [[4, 3]],
      rejected: {},
      pinned: { reason: 'bad template rollout', since: '2026-01-01T00:00:00.000Z' },
    };
    const verdict = judgeConvergence(
      { instanceId: 'svc', generation: 5, regions: ['eu-west-1'], rejectable: true },
      [report],
      { fraction: 1, emptyRegion: 'pass', timeoutSeconds: 600, pollSeconds: 1 },
    );
    expect(verdict).toEqual({
      kind: 'waiting',
      progress: 'accepted by 0 of 3 proxies in 1 region; waiting on eu-west-1 (0 of 3; pinned by an operator since 2026-01-01T00:00:00.000Z: bad template rollout)',
    });
  });
});
