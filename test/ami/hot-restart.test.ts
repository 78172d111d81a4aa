import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { amiPaths } from '../../ami/scripts/lib/paths';
import { waitFor } from '../support/wait';
import { TOOLS, withTools } from '../support/tools';

/**
 * edge-envoy, envoy.service's main process: Envoy with hot restart, so a new bootstrap (a rotated
 * discovery token) is taken up without dropping a connection or failing a health check. Run for
 * real (bash, curl, jq) with an Envoy stand-in (fixtures/fake-envoy.js) that behaves as Envoy
 * documents hot restart: a new epoch initialises, then shuts its parent down.
 */
const FILES = join(amiPaths().saltRoot, 'envoy', 'files');
const WRAPPER = join(FILES, 'edge-envoy');
const FAKE_ENVOY = join(__dirname, 'fixtures', 'fake-envoy.js');
const describeWithTools = withTools('the hot restart tests', [TOOLS.bash, TOOLS.curl, TOOLS.jq, TOOLS.sha256sum]).describe;

interface FakeEvent {
  readonly pid: number;
  readonly event: string;
  readonly epoch?: number;
  readonly argv?: string[];
  readonly admin?: string;
  readonly mode?: number;
  readonly token?: string;
}
interface LogLine {
  readonly level: string;
  readonly op: string;
  readonly msg: string;
}

interface Host {
  readonly dir: string;
  readonly config: string;
  readonly adminDir: string;
  readonly runDir: string;
  readonly child: ChildProcess;
  events(): FakeEvent[];
  logs(): LogLine[];
  exit(): Promise<number>;
  writeBootstrap(token: string, marker?: string): void;
}

const bootstrap = (token: string, marker = '') => `${JSON.stringify({ node: { id: 'i-0123456789abcdef0', metadata: { auth: token, token_version: `v-${token}` } }, marker })}\n`;
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** GET or POST on a Unix socket; resolves with the status code. */
function onSocket(socketPath: string, method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describeWithTools('edge-envoy (hot restart of Envoy under systemd)', () => {
  const running: Host[] = [];
  afterEach(() => {
    for (const host of running.splice(0)) {
      if (host.child.exitCode === null) host.child.kill('SIGKILL');
      for (const e of host.events().filter((ev) => ev.event === 'start')) {
        try {
          process.kill(e.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      rmSync(host.dir, { recursive: true, force: true });
    }
  });

  const start = (env: Record<string, string> = {}): Host => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-envoy-'));
    const adminDir = join(dir, 'admin');
    const runDir = join(dir, 'run');
    mkdirSync(adminDir);
    mkdirSync(runDir);
    const bin = join(dir, 'envoy');
    writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" "${FAKE_ENVOY}" "$@"\n`);
    chmodSync(bin, 0o755);
    const config = join(dir, 'envoy.yaml');
    writeFileSync(config, bootstrap('token-version-1'));
    const child = spawn('bash', [WRAPPER, '--log-format-escaped', '--drain-strategy', 'immediate'], {
      env: {
        ...process.env,
        EDGE_LIB: join(FILES, 'edge-lib.sh'),
        EDGE_ENVOY_BIN: bin,
        EDGE_ENVOY_CONFIG: config,
        EDGE_ENVOY_ADMIN_DIR: adminDir,
        EDGE_ENVOY_RUN_DIR: runDir,
        EDGE_ENVOY_POLL_SECONDS: '0.1',
        FAKE_ENVOY_DIR: dir,
        ...env,
      },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', () => undefined);
    const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
    const host: Host = {
      dir,
      config,
      adminDir,
      runDir,
      child,
      events: () =>
        existsSync(join(dir, 'events'))
          ? readFileSync(join(dir, 'events'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as FakeEvent)
          : [],
      logs: () =>
        stderr
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as LogLine),
      exit: () => exited,
      writeBootstrap: (token, marker) => writeFileSync(config, bootstrap(token, marker)),
    };
    running.push(host);
    return host;
  };
  const startOf = (host: Host, epoch: number) => host.events().find((e) => e.event === 'start' && e.epoch === epoch);
  const has = (host: Host, event: string, epoch: number) => host.events().some((e) => e.event === event && e.epoch === epoch);
  const served = (host: Host) => readlinkSync(join(host.adminDir, 'admin.sock'));
  const servingHash = (host: Host) => readFileSync(join(host.runDir, 'serving.sha256'), 'utf8').trim();
  const logged = (host: Host, level: string, text: string) => host.logs().some((l) => l.level === level && l.msg.includes(text));
  const serve = async (host: Host) => {
    await waitFor('epoch 0 live', () => has(host, 'live', 0));
    await waitFor('admin.sock at epoch 0', () => existsSync(join(host.adminDir, 'admin.sock')) && served(host) === 'admin.0.sock');
  };

  test('epoch 0: hot restart on (no --disable-hot-restart), its own admin socket, admin.sock pointing at it, the bootstrap it serves recorded', async () => {
    const host = start();
    await serve(host);
    const epoch0 = startOf(host, 0)!;
    expect(epoch0.argv).toEqual([
      '--config-path', host.config,
      '--config-yaml', JSON.stringify({ admin: { address: { pipe: { path: join(host.adminDir, 'admin.0.sock'), mode: 0o660 } } } }),
      '--restart-epoch', '0',
      '--socket-path', join(host.runDir, 'hot-restart'),
      '--socket-mode', '600',
      '--log-format-escaped', '--drain-strategy', 'immediate',
    ]);
    expect(statSync(join(host.adminDir, 'admin.0.sock')).mode & 0o777).toBe(0o660);
    expect(servingHash(host)).toBe(sha256(host.config));
    expect(await onSocket(join(host.adminDir, 'admin.sock'), 'GET', '/ready')).toBe(200);
  });

  test('SIGHUP: the next epoch starts from the new bootstrap; the serving one keeps the admin name until the new one is ready, then drains and exits', async () => {
    const host = start({ FAKE_ENVOY_READY_MS: '1500' });
    await serve(host);
    const before = sha256(host.config);
    host.writeBootstrap('token-version-2');
    host.child.kill('SIGHUP');
    await waitFor('epoch 1 started', () => startOf(host, 1));
    expect(startOf(host, 1)!.token).toBe('token-version-2');
    expect(startOf(host, 1)!.argv).toEqual(expect.arrayContaining(['--restart-epoch', '1', '--config-yaml', JSON.stringify({ admin: { address: { pipe: { path: join(host.adminDir, 'admin.1.sock'), mode: 0o660 } } } })]));
    // The new bootstrap was validated first.
    const validated = host.events().findIndex((e) => e.event === 'validate');
    expect(validated).toBeGreaterThanOrEqual(0);
    expect(validated).toBeLessThan(host.events().findIndex((e) => e.event === 'start' && e.epoch === 1));
    // Not ready yet: epoch 0 still serves and keeps the name (readiness, drain, stats go to it).
    expect(has(host, 'live', 1)).toBe(false);
    expect(served(host)).toBe('admin.0.sock');
    expect(servingHash(host)).toBe(before);
    await waitFor('epoch 1 live', () => has(host, 'live', 1));
    await waitFor('admin.sock at epoch 1', () => served(host) === 'admin.1.sock');
    expect(servingHash(host)).toBe(sha256(host.config));
    // What the rotation runbook looks for in the proxies' logs: which token version serves.
    // (stderr reaches the test after the link moved: wait for the line rather than race it)
    await waitFor('the token version logged', () => logged(host, 'info', 'Envoy epoch 1 serves token version v-token-version-2'));
    await waitFor('epoch 0 shut down by epoch 1', () => has(host, 'exit', 0));
    await waitFor('the wrapper saw it', () => logged(host, 'info', 'epoch 0 exited'));
    expect(host.child.exitCode).toBeNull();
    expect(await onSocket(join(host.adminDir, 'admin.sock'), 'GET', '/ready')).toBe(200);
  });

  test('an invalid new bootstrap starts no epoch; the serving one stays', async () => {
    const host = start();
    await serve(host);
    host.writeBootstrap('token-version-2', 'INVALID');
    host.child.kill('SIGHUP');
    await waitFor('the refusal logged', () => logged(host, 'error', 'does not validate'));
    expect(startOf(host, 1)).toBeUndefined();
    expect(served(host)).toBe('admin.0.sock');
    expect(host.child.exitCode).toBeNull();
  });

  test('a new epoch that never gets ready (e.g. the control plane refuses its token) is stopped at the deadline; the next SIGHUP tries again', async () => {
    const host = start({ EDGE_HOT_RESTART_READY_SECONDS: '2' });
    await serve(host);
    const before = servingHash(host);
    host.writeBootstrap('token-version-2', 'NEVER_READY');
    host.child.kill('SIGHUP');
    await waitFor('epoch 1 started', () => startOf(host, 1));
    await waitFor('epoch 1 given up', () => logged(host, 'error', 'epoch 1 not ready'));
    await waitFor('epoch 1 stopped', () => has(host, 'exit', 1));
    expect(has(host, 'exit', 0)).toBe(false);
    expect(served(host)).toBe('admin.0.sock');
    expect(servingHash(host)).toBe(before);
    // Fixed (the control plane now accepts it): the next request succeeds with the next epoch.
    host.writeBootstrap('token-version-2');
    host.child.kill('SIGHUP');
    await waitFor('admin.sock at epoch 2', () => served(host) === 'admin.2.sock', 20_000);
    expect(startOf(host, 2)!.token).toBe('token-version-2');
  });

  test('SIGHUP while the serving epoch drains for termination (health check failed) is refused', async () => {
    const host = start();
    await serve(host);
    expect(await onSocket(join(host.adminDir, 'admin.sock'), 'POST', '/healthcheck/fail')).toBe(200);
    host.writeBootstrap('token-version-2');
    host.child.kill('SIGHUP');
    await waitFor('the refusal logged', () => logged(host, 'warn', 'DRAINING'));
    expect(startOf(host, 1)).toBeUndefined();
    expect(host.child.exitCode).toBeNull();
  });

  test('SIGHUP while the previous epoch still drains is queued, then carried out', async () => {
    const host = start({ FAKE_ENVOY_PARENT_SHUTDOWN_MS: '2500' });
    await serve(host);
    host.writeBootstrap('token-version-2');
    host.child.kill('SIGHUP');
    await waitFor('admin.sock at epoch 1', () => served(host) === 'admin.1.sock');
    host.writeBootstrap('token-version-3');
    host.child.kill('SIGHUP');
    await waitFor('queued', () => logged(host, 'info', 'queued'));
    expect(startOf(host, 2)).toBeUndefined();
    await waitFor('epoch 0 gone, epoch 2 started', () => startOf(host, 2), 20_000);
    expect(has(host, 'exit', 0)).toBe(true);
    expect(startOf(host, 2)!.token).toBe('token-version-3');
  });

  test('SIGUSR1 (logrotate) reaches every running epoch; SIGTERM stops them all and exits 0', async () => {
    const host = start({ FAKE_ENVOY_PARENT_SHUTDOWN_MS: '60000' });
    await serve(host);
    host.child.kill('SIGHUP');
    await waitFor('admin.sock at epoch 1', () => served(host) === 'admin.1.sock');
    host.child.kill('SIGUSR1');
    await waitFor('both reopened their logs', () => has(host, 'usr1', 0) && has(host, 'usr1', 1));
    host.child.kill('SIGTERM');
    expect(await host.exit()).toBe(0);
    expect(has(host, 'exit', 0) && has(host, 'exit', 1)).toBe(true);
  });

  test('the serving epoch dying ends the wrapper with a failure (systemd restarts the unit cold)', async () => {
    const host = start();
    await serve(host);
    process.kill(startOf(host, 0)!.pid, 'SIGKILL');
    expect(await host.exit()).not.toBe(0);
    expect(logged(host, 'error', 'epoch 0')).toBe(true);
  });
});
