import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { listen } from '../../lib/shared/listen';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs the real edge-write-bootstrap (bash, curl, jq) against an instance metadata service
 * that speaks IMDSv2 only (on 127.0.0.1, port 0) and an `aws` command on PATH that stands in
 * for Secrets Manager (the one thing with no local emulator) and records how it was called.
 */
export interface ImdsRequest {
  readonly method: string;
  readonly path: string;
  readonly token?: string;
  readonly ttl?: string;
}

export interface FakeInstance {
  readonly dir: string;
  readonly imdsEndpoint: string;
  readonly requests: ImdsRequest[];
  /** meta-data items by path under /latest/meta-data/ (change them to change what IMDS says). */
  readonly metadata: Map<string, string>;
  /** Expires every session token given so far (as IMDSv2 does after its TTL): reads with one get 401. */
  expireSessionTokens(): void;
  close(): Promise<void>;
}

export const INSTANCE_ID = 'i-0123456789abcdef0';
export const ZONE = 'eu-west-1b';

export async function startFakeInstance(): Promise<FakeInstance> {
  const requests: ImdsRequest[] = [];
  const metadata = new Map<string, string>([
    ['instance-id', INSTANCE_ID],
    ['placement/availability-zone', ZONE],
  ]);
  let generation = 0;
  const sessionToken = () => (generation === 0 ? 'imds-session-token-for-test' : `imds-session-token-for-test-${generation}`);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const token = req.headers['x-aws-ec2-metadata-token'] as string | undefined;
    const ttl = req.headers['x-aws-ec2-metadata-token-ttl-seconds'] as string | undefined;
    requests.push({ method: req.method ?? '', path: req.url ?? '', token, ttl });
    if (req.method === 'PUT' && req.url === '/latest/api/token' && ttl) {
      res.end(sessionToken());
      return;
    }
    if (req.method !== 'GET' || token !== sessionToken()) {
      res.statusCode = 401; // IMDSv1 is disabled on the fleet
      res.end();
      return;
    }
    const answer = metadata.get((req.url ?? '').replace(/^\/latest\/meta-data\//, ''));
    res.statusCode = answer !== undefined ? 200 : 404;
    res.end(answer ?? '');
  });
  const imds = await listen(server, 0);
  return {
    dir: mkdtempSync(join(tmpdir(), 'edge-writer-')),
    imdsEndpoint: `http://127.0.0.1:${imds.port}`,
    requests,
    metadata,
    expireSessionTokens: () => {
      generation += 1;
    },
    close: imds.stop,
  };
}


/**
 * Installs an `aws` stand-in for `secretsmanager get-secret-value --query {version:VersionId,value:SecretString}
 * --output json`: prints the secret as that JSON (as the CLI does) and logs its argv.
 */
export function installFakeAws(dir: string, secret: string, version = 'a1b2c3d4-0000-4000-8000-000000000001'): string {
  const bin = join(dir, 'bin');
  rmSync(bin, { recursive: true, force: true });
  rmSync(join(dir, 'aws-calls'), { force: true });
  mkdirSync(bin);
  writeFileSync(join(dir, 'secret'), `${JSON.stringify({ version, value: secret }, null, 4)}\n`);
  writeFileSync(
    join(bin, 'aws'),
    `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >>"${join(dir, 'aws-calls')}"\n` +
      `[[ "$1 $2" == "secretsmanager get-secret-value" ]] || exit 2\ncat "${join(dir, 'secret')}"\n`,
  );
  chmodSync(join(bin, 'aws'), 0o755);
  return bin;
}

export interface WriterResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runWriter(script: string, env: Record<string, string>): Promise<WriterResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
