import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { join } from 'node:path';
import { amiPaths } from '../../ami/scripts/lib/paths';
import { waitFor } from '../support/wait';
import { FakeInstance, INSTANCE_ID, startFakeInstance } from './run-writer';
import { TOOLS, withTools } from '../support/tools';

/**
 * The proxy's part of the health-gated rollout (edge-ready-signal) and of the drain on
 * termination (edge-lifecycle), run for real (bash, curl, jq) against stand-ins of what they
 * talk to: instance metadata that speaks IMDSv2 only, Envoy's readiness listener (a server that
 * parses the proxy protocol v2 header as the spec defines it), Envoy's admin interface, and an
 * `aws` command that records its calls and answers as the API does (success, ValidationError,
 * throttling).
 */
const FILES = join(amiPaths().saltRoot, 'envoy', 'files');
const READY_SIGNAL = join(FILES, 'edge-ready-signal');
const LIFECYCLE = join(FILES, 'edge-lifecycle');
const describeWithTools = withTools('the rollout script tests', [TOOLS.bash, TOOLS.curl, TOOLS.jq]).describe;

// --- proxy protocol v2 (haproxy proxy-protocol.txt, section 2.2) ---------------------------------
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
interface ProxyV2Header {
  readonly version: number;
  /** 0 LOCAL (health checks, no addresses), 1 PROXY. */
  readonly command: number;
  /** High nibble of byte 13: 0 AF_UNSPEC, 1 AF_INET, 2 AF_INET6, 3 AF_UNIX. */
  readonly family: number;
  readonly length: number;
}
/** The header at the start of `data`, or undefined when `data` does not start with the v2 signature. */
function parseProxyV2(data: Buffer): { header: ProxyV2Header; rest: Buffer } | undefined {
  if (data.length < 16 || !data.subarray(0, 12).equals(V2_SIGNATURE)) return undefined;
  const length = data.readUInt16BE(14);
  const header = { version: data[12] >> 4, command: data[12] & 0x0f, family: data[13] >> 4, length };
  return { header, rest: data.subarray(16 + length) };
}

interface ReadinessRequest {
  readonly proxy?: ProxyV2Header;
  readonly requestLine: string;
}

/** Envoy's readiness listener: answers each request with the next status of `statuses` (the last one repeats). */
async function startReadinessListener(statuses: number[]) {
  const requests: ReadinessRequest[] = [];
  const server: Server = createServer((socket: Socket) => {
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      // A header still arriving (the signature itself starts with CR LF CR LF): wait for the rest.
      const prefix = Math.min(data.length, V2_SIGNATURE.length);
      if (data.length < 16 && data.subarray(0, prefix).equals(V2_SIGNATURE.subarray(0, prefix))) return;
      const parsed = parseProxyV2(data);
      const http = (parsed ? parsed.rest : data).toString('latin1');
      if (!http.includes('\r\n\r\n')) return;
      requests.push({ proxy: parsed?.header, requestLine: http.split('\r\n')[0] });
      const status = statuses[Math.min(requests.length - 1, statuses.length - 1)];
      socket.end(`HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Service Unavailable'}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Envoy's admin on its Unix socket (as the bootstrap puts it): POST /healthcheck/fail, and
 * /stats with the traffic listeners' open connections. Nothing listens on TCP.
 */
async function startAdmin(dir: string, connections: number[]) {
  const events: string[] = [];
  let polls = 0;
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (req.method === 'POST' && url.pathname === '/healthcheck/fail') {
      events.push('healthcheck/fail');
      res.end('OK\n');
      return;
    }
    if (req.method === 'GET' && url.pathname === '/stats') {
      const filter = new RegExp(url.searchParams.get('filter') ?? '');
      const open = connections[Math.min(polls, connections.length - 1)];
      polls += 1;
      events.push(`stats:${open}`);
      const lines = [
        `listener.0.0.0.0_8443.downstream_cx_active: ${open}`,
        'listener.0.0.0.0_8080.downstream_cx_active: 0',
        'listener.0.0.0.0_8081.downstream_cx_active: 7', // the readiness listener does not count
        'listener.0.0.0.0_8443.downstream_cx_total: 99',
      ].filter((line) => filter.test(line.split(':')[0]));
      res.end(`${lines.join('\n')}\n`);
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  const socket = join(dir, 'admin.sock');
  rmSync(socket, { force: true });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    events,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * An `aws` stand-in: records argv in aws-calls; `answer(service, command, lines)` queues answers
 * ("<exit code>|<stderr>") for that command; without one it succeeds. The real CLI exits 254 on
 * a service error and prints "An error occurred (<Code>) when calling the <Op> operation: ...".
 */
function installAws(dir: string) {
  const bin = join(dir, 'bin');
  rmSync(bin, { recursive: true, force: true });
  mkdirSync(bin, { recursive: true });
  for (const file of ['aws-calls']) rmSync(join(dir, file), { force: true });
  writeFileSync(
    join(bin, 'aws'),
    [
      '#!/usr/bin/env bash',
      `printf '%s\\n' "$*" >>"${join(dir, 'aws-calls')}"`,
      `queue="${dir}/aws-answers-$1-$2"`,
      'if [[ -s "$queue" ]]; then',
      '  line="$(head -n 1 "$queue")"; tail -n +2 "$queue" >"$queue.next"; mv "$queue.next" "$queue"',
      '  echo "${line#*|}" >&2',
      '  exit "${line%%|*}"',
      'fi',
      '',
    ].join('\n'),
  );
  chmodSync(join(bin, 'aws'), 0o755);
  return {
    bin,
    answer: (service: string, command: string, lines: string[]) => writeFileSync(join(dir, `aws-answers-${service}-${command}`), lines.map((l) => `${l}\n`).join('')),
    calls: () => (existsSync(join(dir, 'aws-calls')) ? readFileSync(join(dir, 'aws-calls'), 'utf8').trim().split('\n').filter(Boolean) : []),
  };
}

interface Run {
  readonly child: ChildProcess;
  stderr(): string;
  exit(): Promise<number>;
}
function run(script: string, env: Record<string, string>, args: string[] = []): Run {
  const child = spawn('bash', [script, ...args], { env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return { child, stderr: () => stderr + stdout, exit: () => exited };
}
const logLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; op: string; msg: string });

const SIGNAL_ERROR = 'An error occurred (ValidationError) when calling the SignalResource operation: Stack arn:aws:cloudformation:eu-west-1:123456789012:stack/edge-fleet-eu-west-1/x is in UPDATE_COMPLETE state and can not be signaled';
const THROTTLED = 'An error occurred (Throttling) when calling the SignalResource operation (reached max retries: 2): Rate exceeded';
const NO_ACTION = 'An error occurred (ValidationError) when calling the CompleteLifecycleAction operation: No active Lifecycle Action found with instance ID i-0123456789abcdef0';

describeWithTools('edge-ready-signal (the proxy signals the health-gated rollout)', () => {
  let instance: FakeInstance;
  let aws: ReturnType<typeof installAws>;
  const running: Run[] = [];

  beforeAll(async () => {
    instance = await startFakeInstance();
    instance.metadata.set('local-ipv4', '127.0.0.1');
  });
  afterAll(async () => {
    await instance.close();
  });
  beforeEach(() => {
    aws = installAws(instance.dir);
  });
  afterEach(async () => {
    for (const r of running.splice(0)) r.child.kill('SIGKILL');
  });

  const envFile = (readinessPort: number, overrides: Record<string, string | undefined> = {}) => {
    const values: Record<string, string | undefined> = {
      EDGE_REGION: 'eu-west-1',
      EDGE_READINESS_PORT: String(readinessPort),
      EDGE_CFN_STACK: 'edge-fleet-eu-west-1',
      EDGE_CFN_RESOURCE: 'FleetProxiesASG46B5D1F7',
      EDGE_READY_TIMEOUT_SECONDS: '30',
      ...overrides,
    };
    const file = join(instance.dir, 'ready.env');
    writeFileSync(file, Object.entries(values).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join('\n'));
    return file;
  };
  const start = (env: string, args: string[] = []) => {
    const r = run(
      READY_SIGNAL,
      {
        PATH: `${aws.bin}:${process.env.PATH}`,
        EDGE_LIB: join(FILES, 'edge-lib.sh'),
        EDGE_BOOTSTRAP_ENV: env,
        EDGE_IMDS_ENDPOINT: instance.imdsEndpoint,
        EDGE_READY_POLL_SECONDS: '0.05',
        EDGE_SIGNAL_RETRY_SECONDS: '0',
      },
      args,
    );
    running.push(r);
    return r;
  };

  test('probes /ready the way the NLB does (proxy protocol v2, LOCAL) and signals SUCCESS after two 200s in a row', async () => {
    const listener = await startReadinessListener([503, 503, 200, 503, 200, 200]);
    try {
      const r = start(envFile(listener.port));
      expect(await r.exit()).toBe(0);
      expect(listener.requests).toHaveLength(6);
      for (const request of listener.requests) {
        // A v2 header with the LOCAL command and no addresses, as on AWS's health-check connections.
        expect(request.proxy).toEqual({ version: 2, command: 0, family: 0, length: 0 });
        expect(request.requestLine).toBe('GET /ready HTTP/1.1');
      }
      expect(aws.calls()).toEqual([
        `cloudformation signal-resource --region eu-west-1 --stack-name edge-fleet-eu-west-1 --logical-resource-id FleetProxiesASG46B5D1F7 --unique-id ${INSTANCE_ID} --status SUCCESS`,
      ]);
      expect(logLines(r.stderr()).pop()).toMatchObject({ level: 'info', op: 'edge-ready-signal', msg: expect.stringContaining('signalled SUCCESS') });
      // It asked instance metadata for its private address, with an IMDSv2 token.
      expect(instance.requests.some((q) => q.path === '/latest/meta-data/local-ipv4' && q.token)).toBe(true);
    } finally {
      await listener.close();
    }
  });

  test('a proxy that never gets ready signals FAILURE at its deadline, so the rollout stops and rolls back early', async () => {
    const listener = await startReadinessListener([503]);
    try {
      const r = start(envFile(listener.port, { EDGE_READY_TIMEOUT_SECONDS: '1' }));
      expect(await r.exit()).toBe(1);
      expect(aws.calls()).toEqual([expect.stringMatching(/^cloudformation signal-resource .* --status FAILURE$/)]);
      expect(logLines(r.stderr()).find((l) => l.level === 'error')?.msg).toMatch(/^not ready after 1s: \/ready last answered 503; signalling FAILURE/);
    } finally {
      await listener.close();
    }
  });

  test('nothing listening on the readiness port (Envoy did not start) ends in FAILURE too', async () => {
    const listener = await startReadinessListener([200]);
    const port = listener.port;
    await listener.close();
    const r = start(envFile(port, { EDGE_READY_TIMEOUT_SECONDS: '1' }));
    expect(await r.exit()).toBe(1);
    expect(aws.calls()).toEqual([expect.stringMatching(/--status FAILURE$/)]);
    expect(r.stderr()).toContain('/ready last answered 000');
  });

  test('a stack that awaits no signal (a scale-out, a reboot) refuses it: logged, exit 0, no retry', async () => {
    const listener = await startReadinessListener([200]);
    try {
      aws.answer('cloudformation', 'signal-resource', [`254|${SIGNAL_ERROR}`]);
      const r = start(envFile(listener.port));
      expect(await r.exit()).toBe(0);
      expect(aws.calls()).toHaveLength(1);
      expect(logLines(r.stderr()).pop()?.msg).toContain('awaits no signal now');
    } finally {
      await listener.close();
    }
  });

  test('throttling is retried until the signal goes through', async () => {
    const listener = await startReadinessListener([200]);
    try {
      aws.answer('cloudformation', 'signal-resource', [`254|${THROTTLED}`, `254|${THROTTLED}`]);
      const r = start(envFile(listener.port));
      expect(await r.exit()).toBe(0);
      expect(aws.calls()).toHaveLength(3);
      expect(logLines(r.stderr()).filter((l) => l.level === 'warn')).toHaveLength(2);
    } finally {
      await listener.close();
    }
  });

  test('--probe makes one readiness request, prints its status and signals nothing (the bake check)', async () => {
    const listener = await startReadinessListener([503]);
    try {
      const r = start(envFile(listener.port, { EDGE_CFN_STACK: undefined }), ['--probe']);
      expect(await r.exit()).toBe(0);
      expect(r.stderr().trim().split('\n').pop()).toBe('503');
      expect(listener.requests).toHaveLength(1);
      expect(aws.calls()).toEqual([]);
    } finally {
      await listener.close();
    }
  });

  test.each([
    ['a missing stack name', { EDGE_CFN_STACK: undefined }, 'EDGE_CFN_STACK is required'],
    ['a command instead of a stack name', { EDGE_CFN_STACK: '$(touch${IFS}/tmp/edge-pwned)' }, 'EDGE_CFN_STACK must be a CloudFormation stack name'],
    ['a bad deadline', { EDGE_READY_TIMEOUT_SECONDS: '10m' }, 'EDGE_READY_TIMEOUT_SECONDS must be a number of seconds'],
  ])('bad input (%s) fails naming the key and signals nothing', async (_name, overrides, message) => {
    const r = start(envFile(8081, overrides));
    expect(await r.exit()).toBe(1);
    expect(r.stderr()).toContain(message);
    expect(aws.calls()).toEqual([]);
    expect(existsSync('/tmp/edge-pwned')).toBe(false);
  });
});

describeWithTools('edge-lifecycle (the proxy drains and completes its termination hook)', () => {
  let instance: FakeInstance;
  let aws: ReturnType<typeof installAws>;
  const running: Run[] = [];

  beforeEach(async () => {
    instance = await startFakeInstance();
    aws = installAws(instance.dir);
  });
  afterEach(async () => {
    for (const r of running.splice(0)) r.child.kill('SIGKILL');
    await instance.close();
  });

  const start = (adminSocket: string, overrides: Record<string, string> = {}) => {
    const file = join(instance.dir, 'lifecycle.env');
    const values = {
      EDGE_REGION: 'eu-west-1',
      EDGE_ASG_NAME: 'edge-proxies',
      EDGE_LIFECYCLE_HOOK: 'drain',
      EDGE_DRAIN_SECONDS: '30',
      EDGE_HTTPS_TRAFFIC_PORT: '8443',
      EDGE_HTTP_TRAFFIC_PORT: '8080',
      ...overrides,
    };
    writeFileSync(file, Object.entries(values).map(([k, v]) => `${k}=${v}`).join('\n'));
    const r = run(LIFECYCLE, {
      PATH: `${aws.bin}:${process.env.PATH}`,
      EDGE_LIB: join(FILES, 'edge-lib.sh'),
      EDGE_BOOTSTRAP_ENV: file,
      EDGE_IMDS_ENDPOINT: instance.imdsEndpoint,
      EDGE_ENVOY_ADMIN_SOCKET: adminSocket,
      EDGE_LIFECYCLE_POLL_SECONDS: '0.05',
      EDGE_LOG_FLUSH_SECONDS: '0',
    });
    running.push(r);
    return r;
  };
  const COMPLETE = `autoscaling complete-lifecycle-action --region eu-west-1 --auto-scaling-group-name edge-proxies --lifecycle-hook-name drain --instance-id ${INSTANCE_ID} --lifecycle-action-result CONTINUE`;
  const polledLifecycleState = () => instance.requests.filter((q) => q.path === '/latest/meta-data/autoscaling/target-lifecycle-state').length;

  test('in service it only watches; once Terminated it fails its health, waits for the connections to end, then completes the hook', async () => {
    const admin = await startAdmin(instance.dir, [3, 1, 0]);
    try {
      instance.metadata.set('autoscaling/target-lifecycle-state', 'InService');
      const r = start(admin.socket);
      await waitFor('a few polls of the lifecycle state', () => polledLifecycleState() >= 5);
      expect(admin.events).toEqual([]);
      expect(aws.calls()).toEqual([]);

      instance.metadata.set('autoscaling/target-lifecycle-state', 'Terminated');
      expect(await r.exit()).toBe(0);
      // Health failed first, connections counted down to zero (only the traffic listeners count), then the hook.
      expect(admin.events).toEqual(['healthcheck/fail', 'stats:3', 'stats:1', 'stats:0']);
      expect(aws.calls()).toEqual([COMPLETE]);
      expect(logLines(r.stderr()).pop()).toMatchObject({ level: 'info', op: 'edge-lifecycle', msg: 'completed lifecycle hook drain (CONTINUE)' });
    } finally {
      await admin.close();
    }
  });

  test('before Auto Scaling holds the instance in Terminating:Wait there is no action to complete: it retries until there is', async () => {
    const admin = await startAdmin(instance.dir, [0]);
    try {
      instance.metadata.set('autoscaling/target-lifecycle-state', 'Terminated');
      aws.answer('autoscaling', 'complete-lifecycle-action', [`254|${NO_ACTION}`, `254|${NO_ACTION}`]);
      const r = start(admin.socket);
      expect(await r.exit()).toBe(0);
      expect(aws.calls()).toEqual([COMPLETE, COMPLETE, COMPLETE]);
    } finally {
      await admin.close();
    }
  });

  test('connections that never end are waited for at most EDGE_DRAIN_SECONDS, then the hook is completed anyway', async () => {
    const admin = await startAdmin(instance.dir, [5]);
    try {
      instance.metadata.set('autoscaling/target-lifecycle-state', 'Terminated');
      const r = start(admin.socket, { EDGE_DRAIN_SECONDS: '1' });
      expect(await r.exit()).toBe(0);
      expect(aws.calls()).toEqual([COMPLETE]);
      expect(logLines(r.stderr()).find((l) => l.level === 'warn')?.msg).toBe('still 5 connection(s) after 1s; completing the hook anyway');
    } finally {
      await admin.close();
    }
  });

  test('an expired IMDSv2 session token is renewed: the termination is still seen', async () => {
    const admin = await startAdmin(instance.dir, [0]);
    try {
      instance.metadata.set('autoscaling/target-lifecycle-state', 'InService');
      const r = start(admin.socket);
      await waitFor('the first polls', () => polledLifecycleState() >= 2);
      instance.expireSessionTokens();
      instance.metadata.set('autoscaling/target-lifecycle-state', 'Terminated');
      expect(await r.exit()).toBe(0);
      expect(aws.calls()).toEqual([COMPLETE]);
      expect(instance.requests.filter((q) => q.method === 'PUT').length).toBeGreaterThanOrEqual(2);
    } finally {
      await admin.close();
    }
  });

  test('outside an Auto Scaling group (no lifecycle state in metadata) it keeps watching and does nothing', async () => {
    const admin = await startAdmin(instance.dir, [0]);
    try {
      const r = start(admin.socket);
      await waitFor('several polls', () => polledLifecycleState() >= 5);
      expect(r.child.exitCode).toBeNull();
      expect(admin.events).toEqual([]);
      expect(aws.calls()).toEqual([]);
    } finally {
      await admin.close();
    }
  });
});
