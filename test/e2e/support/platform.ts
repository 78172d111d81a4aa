/** Helpers for tests over the whole local platform: settings on free ports, an OSB client, waits. */
import { sleep } from '../../support/wait';
export { freePort, sleep, waitFor } from '../../support/wait';
import { LocalSettings } from '../../../lib/local/settings';

export const USER = 'broker';
export const PASSWORD = 'e2e-password';
export const TOKEN = 'e2e-discovery-token';
export const DOMAIN = 'edge.example.com';

/** Settings for a platform on OS-assigned ports, in memory unless a data dir is given. */
export function testSettings(overrides: Partial<LocalSettings> = {}): LocalSettings {
  return {
    brokerPort: 0,
    brokerUser: USER,
    brokerPassword: PASSWORD,
    xdsPort: 0,
    controlPlanePort: 0,
    dynamodbPort: 0,
    sqsPort: 0,
    xdsAuthToken: TOKEN,
    domain: DOMAIN,
    ...overrides,
  };
}

export interface Reply {
  readonly status: number;
  // Tests read loose JSON.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

/** An OSB client: basic auth and X-Broker-API-Version 2.17 (auth: null sends none). */
export function osbClient(baseUrl: string, auth: { user: string; password: string } | null = { user: USER, password: PASSWORD }) {
  return async (method: string, path: string, body?: unknown): Promise<Reply> => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-broker-api-version': '2.17' };
    if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: response.status, body: parsed };
  };
}

export type OsbCall = ReturnType<typeof osbClient>;

export const SERVICE_NAME = 'edge-load-balancer';

/** The service and plan ids as the catalog publishes them. */
export async function catalogIds(call: OsbCall, planName = 'standard'): Promise<{ serviceId: string; planId: string }> {
  const catalog = await call('GET', '/v2/catalog');
  if (catalog.status !== 200) throw new Error(`catalog answered ${catalog.status}`);
  const service = catalog.body.services.find((s: { name: string }) => s.name === SERVICE_NAME);
  const plan = service.plans.find((p: { name: string }) => p.name === planName);
  return { serviceId: service.id, planId: plan.id };
}

export function provisionBody(ids: { serviceId: string; planId: string }, parameters: Record<string, unknown>) {
  return { service_id: ids.serviceId, plan_id: ids.planId, organization_guid: 'org-e2e', space_guid: 'space-e2e', parameters };
}

/** Polls last_operation until it is no longer `in progress` (or 410), bounded. */
export async function finishOperation(call: OsbCall, instanceId: string, timeoutMs = 20_000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await call('GET', `/v2/service_instances/${instanceId}/last_operation`);
    if (reply.status !== 200 || reply.body?.state !== 'in progress') return reply;
    if (Date.now() > deadline) throw new Error(`operation of ${instanceId} still in progress after ${timeoutMs} ms: ${JSON.stringify(reply.body)}`);
    await sleep(50);
  }
}




/** Whether something listens on the port (a connect succeeds). */
export async function listening(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
