/** Helpers for the operator CLI tests: run it in process, a local platform, REST discovery of what the control plane serves. */
import { OpsIo, runOps } from '../../lib/ops/cli';
import { LocalPlatform, PlatformOptions, startLocalPlatform } from '../../lib/local/platform';
import { resourceBaseName } from '../../lib/model';
import { TOKEN, catalogIds, finishOperation, osbClient, provisionBody, testSettings } from '../e2e/support/platform';
import { LocalSettings } from '../../lib/local/settings';
import { restDiscovery } from '../support/rest-discovery';

export { TOKEN, finishOperation, osbClient, testSettings } from '../e2e/support/platform';
export { sleep, waitFor } from '../support/wait';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (only for --json runs). */
  // Tests read loose JSON.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json(): any;
}

/** Runs the CLI in process against a platform's emulators (`--local` with their endpoints). */
export function cli(platform: LocalPlatform | undefined, ...argv: string[]): Promise<CliRun> {
  const target = platform ? ['--local', '--dynamodb-endpoint', platform.emulators.dynamodbEndpoint, '--sqs-endpoint', platform.emulators.sqsEndpoint] : [];
  return runCli([...argv, ...target]);
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH, USER: 'ops-test' }): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: OpsIo = { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env };
  const code = await runOps(argv, io);
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}

/** A platform on free ports, quiet, with fast control plane polls and report heartbeats. */
export function startPlatform(settings: Partial<LocalSettings> = {}, options: PlatformOptions = {}): Promise<LocalPlatform> {
  return startLocalPlatform(testSettings(settings), {
    quiet: true,
    ...options,
    controlPlane: { routesRefreshMs: 100, settleMs: 200, convergenceHeartbeatMs: 300, persistDebounceMs: 50, ...options.controlPlane },
  });
}

/** Provisions a standard-plan instance and waits for its operation to end; returns the last_operation body. */
export async function provision(platform: LocalPlatform, instanceId: string, hostname: string, port = 8081) {
  const call = osbClient(platform.brokerUrl);
  const ids = await catalogIds(call);
  const put = await call('PUT', `/v2/service_instances/${instanceId}?accepts_incomplete=true`, provisionBody(ids, { hostnames: [hostname], backends: [{ address: '127.0.0.1', port, protocol: 'http' }] }));
  if (put.status !== 202) throw new Error(`provision of ${instanceId} answered ${put.status}: ${JSON.stringify(put.body)}`);
  return (await finishOperation(call, instanceId)).body;
}

/** Names of the clusters a node gets from the control plane's REST discovery. */
export async function servedClusters(controlPlaneUrl: string): Promise<string[]> {
  const response = await restDiscovery(controlPlaneUrl, 'clusters', { nodeId: 'ops-test-node', node: { cluster: 'edge' }, token: TOKEN });
  if (response.status !== 200) throw new Error(`REST discovery answered ${response.status}`);
  const body = (await response.json()) as { resources: Array<{ name: string }> };
  return body.resources.map((r) => r.name);
}

/** Whether the control plane serves a cluster of the instance. */
export async function serves(controlPlaneUrl: string, instanceId: string): Promise<boolean> {
  const base = resourceBaseName(instanceId);
  return (await servedClusters(controlPlaneUrl)).some((name) => name.startsWith(base));
}
