import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { amiPaths } from '../../ami/scripts/lib/paths';
import { waitFor } from '../support/wait';
import { FakeInstance, installFakeAws, runWriter, startFakeInstance } from './run-writer';
import { TOOLS, withTools } from '../support/tools';

/**
 * The proxy side of a discovery token rotation, on one host, for real: edge-refresh-token (what
 * edge-token-refresh.timer runs) re-reads the secret with the image's own bootstrap writer and,
 * when the bootstrap changed, asks edge-envoy for a hot restart. edge-envoy runs an Envoy
 * stand-in (fixtures/fake-envoy.js, hot restart as Envoy documents it); instance metadata and
 * Secrets Manager are the stand-ins of run-writer.ts; `systemctl` answers for envoy.service.
 */
const FILES = join(amiPaths().saltRoot, 'envoy', 'files');
const REFRESH = join(FILES, 'edge-refresh-token');
const FAKE_ENVOY = join(__dirname, 'fixtures', 'fake-envoy.js');
const describeWithTools = withTools('the token refresh tests', [TOOLS.bash, TOOLS.curl, TOOLS.jq, TOOLS.sha256sum]).describe;

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:edge-discovery-AbCdEf';
const V1 = 'a1b2c3d4-0000-4000-8000-000000000001';
const V2 = 'a1b2c3d4-0000-4000-8000-000000000002';
const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const envFile = [
  'EDGE_PLATFORM=edge',
  'EDGE_REGION=eu-west-1',
  'EDGE_NODE_CLUSTER=edge-fleet-eu-west-1',
  'EDGE_CONTROL_PLANE_HOST=xds.eu-west-1.internal.edge.example.com',
  'EDGE_CONTROL_PLANE_PORT=18000',
  'EDGE_CONTROL_PLANE_TLS=true',
  `EDGE_DISCOVERY_TOKEN_SECRET_ARN=${SECRET_ARN}`,
  'EDGE_VPC_CIDR=10.4.0.0/16',
  'EDGE_READINESS_PORT=8081',
  'EDGE_METRICS_PORT=9901',
].join('\n');

interface Events {
  readonly event: string;
  readonly epoch?: number;
  readonly token?: string;
}

describeWithTools('edge-refresh-token (a rotated discovery token reaches a running proxy)', () => {
  let instance: FakeInstance;
  let wrapper: ChildProcess | undefined;
  let dirs: { admin: string; run: string; config: string; bin: string; env: string };

  beforeAll(async () => {
    instance = await startFakeInstance();
  });
  afterAll(async () => {
    await instance.close();
  });
  beforeEach(() => {
    const admin = join(instance.dir, 'admin');
    const run = join(instance.dir, 'run');
    for (const d of [admin, run]) {
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d);
    }
    rmSync(join(instance.dir, 'events'), { force: true });
    rmSync(join(instance.dir, 'systemctl-calls'), { force: true });
    rmSync(join(instance.dir, 'envoy.yaml'), { force: true });
    const bin = installFakeAws(instance.dir, 'discovery-token-one-0123456789', V1);
    writeFileSync(join(bin, 'envoy'), `#!/bin/sh\nexec "${process.execPath}" "${FAKE_ENVOY}" "$@"\n`);
    chmodSync(join(bin, 'envoy'), 0o755);
    writeFileSync(join(instance.dir, 'bootstrap.env'), envFile);
    dirs = { admin, run, config: join(instance.dir, 'envoy.yaml'), bin, env: join(instance.dir, 'bootstrap.env') };
  });
  afterEach(async () => {
    if (wrapper && wrapper.exitCode === null) {
      wrapper.kill('SIGTERM');
      await new Promise((resolve) => wrapper!.on('close', resolve));
    }
    wrapper = undefined;
  });

  const env = (extra: Record<string, string> = {}) => ({
    PATH: `${dirs.bin}:${process.env.PATH}`,
    EDGE_LIB: join(FILES, 'edge-lib.sh'),
    EDGE_BOOTSTRAP_ENV: dirs.env,
    EDGE_ENVOY_CONFIG: dirs.config,
    EDGE_ENVOY_GROUP: group,
    EDGE_ENVOY_ADMIN_SOCKET: join(dirs.admin, 'admin.sock'),
    EDGE_IMDS_ENDPOINT: instance.imdsEndpoint,
    EDGE_ENVOY_ADMIN_DIR: dirs.admin,
    EDGE_ENVOY_RUN_DIR: dirs.run,
    EDGE_ENVOY_SERVING_SHA: join(dirs.run, 'serving.sha256'),
    EDGE_WRITE_BOOTSTRAP: join(FILES, 'edge-write-bootstrap'),
    EDGE_ENVOY_BIN: join(dirs.bin, 'envoy'),
    EDGE_ENVOY_POLL_SECONDS: '0.1',
    EDGE_SECRET_RETRY_SECONDS: '0',
    FAKE_ENVOY_DIR: instance.dir,
    ...extra,
  });
  /** A `systemctl` for envoy.service: active, main process = edge-envoy (or inactive). */
  const installSystemctl = (mainPid: number | undefined) => {
    writeFileSync(
      join(dirs.bin, 'systemctl'),
      [
        '#!/usr/bin/env bash',
        `printf '%s\\n' "$*" >>"${join(instance.dir, 'systemctl-calls')}"`,
        `[[ "$*" == "is-active --quiet envoy.service" ]] && exit ${mainPid ? 0 : 3}`,
        `[[ "$*" == "show --property MainPID --value envoy.service" ]] && { echo ${mainPid ?? 0}; exit 0; }`,
        'exit 1',
        '',
      ].join('\n'),
    );
    chmodSync(join(dirs.bin, 'systemctl'), 0o755);
  };
  const events = (): Events[] =>
    existsSync(join(instance.dir, 'events'))
      ? readFileSync(join(instance.dir, 'events'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Events)
      : [];
  const started = (epoch: number) => events().find((e) => e.event === 'start' && e.epoch === epoch);
  /** Boot: the writer, then envoy.service's edge-envoy with the stand-in. */
  const boot = async () => {
    const written = await runWriter(join(FILES, 'edge-write-bootstrap'), env());
    expect(written.code).toBe(0);
    wrapper = spawn('bash', [join(FILES, 'edge-envoy')], { env: { ...process.env, ...env() } });
    wrapper.stderr!.on('data', () => undefined);
    await waitFor('epoch 0 serves', () => events().some((e) => e.event === 'live' && e.epoch === 0));
    installSystemctl(wrapper.pid);
  };
  const refresh = () => runWriter(REFRESH, env());
  /** A put-secret-value: what the `aws` stand-in answers from now on (installFakeAws's file). */
  const rotate = (value: string, version: string) => writeFileSync(join(instance.dir, 'secret'), `${JSON.stringify({ version, value })}\n`);
  const logs = (stderr: string) =>
    stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; op: string; msg: string });

  test('a rotated secret: the bootstrap gets the new value and version, and Envoy hot-restarts onto it without stopping', async () => {
    await boot();
    expect(started(0)!.token).toBe('discovery-token-one-0123456789');
    rotate('discovery-token-two-0123456789', V2);
    const result = await refresh();
    expect(result.code).toBe(0);
    expect(JSON.parse(readFileSync(dirs.config, 'utf8')).node.metadata).toMatchObject({ auth: 'discovery-token-two-0123456789', token_version: V2 });
    expect(logs(result.stderr).pop()).toMatchObject({ level: 'info', op: 'edge-refresh-token', msg: expect.stringContaining('hot restart') });
    expect(result.stderr).not.toContain('discovery-token-two');
    await waitFor('epoch 1 serves', () => readlinkSync(join(dirs.admin, 'admin.sock')) === 'admin.1.sock');
    expect(started(1)!.token).toBe('discovery-token-two-0123456789');
    expect(readFileSync(join(dirs.run, 'serving.sha256'), 'utf8').trim()).toBe(sha256(dirs.config));
    // Epoch 0 served until epoch 1 was ready, then was shut down by it.
    await waitFor('epoch 0 shut down', () => events().some((e) => e.event === 'exit' && e.epoch === 0));
    const order = events().map((e) => `${e.event}:${e.epoch}`);
    expect(order.indexOf('live:1')).toBeLessThan(order.indexOf('exit:0'));
    expect(wrapper!.exitCode).toBeNull();

    // The next run finds nothing to do.
    const again = await refresh();
    expect(again.code).toBe(0);
    expect(logs(again.stderr).pop()?.msg).toContain('serves the current bootstrap');
    expect(started(2)).toBeUndefined();
  });

  test('nothing rotated: the bootstrap is left alone and Envoy is not signalled', async () => {
    await boot();
    const before = readFileSync(dirs.config, 'utf8');
    const result = await refresh();
    expect(result.code).toBe(0);
    expect(readFileSync(dirs.config, 'utf8')).toBe(before);
    expect(logs(result.stderr).pop()?.msg).toContain('serves the current bootstrap');
    expect(readFileSync(join(instance.dir, 'systemctl-calls'), 'utf8')).not.toContain('show');
    expect(started(1)).toBeUndefined();
  });

  test('Secrets Manager unreachable: the bootstrap and Envoy are left alone and the run fails (the timer tries again)', async () => {
    await boot();
    const before = readFileSync(dirs.config, 'utf8');
    writeFileSync(join(dirs.bin, 'aws'), '#!/usr/bin/env bash\necho "Could not connect to the endpoint URL" >&2\nexit 255\n');
    const result = await refresh();
    expect(result.code).toBe(1);
    expect(readFileSync(dirs.config, 'utf8')).toBe(before);
    expect(logs(result.stderr).pop()).toMatchObject({ level: 'error', op: 'edge-refresh-token', msg: expect.stringContaining('keeps running') });
    expect(started(1)).toBeUndefined();
  });

  test('a hot restart that did not take (Envoy serves an older bootstrap than the file): asked again', async () => {
    await boot();
    writeFileSync(join(dirs.run, 'serving.sha256'), `${'0'.repeat(64)}\n`);
    const result = await refresh();
    expect(result.code).toBe(0);
    await waitFor('epoch 1 serves', () => readlinkSync(join(dirs.admin, 'admin.sock')) === 'admin.1.sock');
  });

  test('Envoy not running: the bootstrap is written for its next start, nothing is signalled', async () => {
    installSystemctl(undefined);
    const result = await refresh();
    expect(result.code).toBe(0);
    expect(JSON.parse(readFileSync(dirs.config, 'utf8')).node.metadata.token_version).toBe(V1);
    expect(logs(result.stderr).pop()?.msg).toContain('not running');
  });
});
