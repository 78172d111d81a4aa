/**
 * Issue 12, item 4: a cdn instance's hostnames are served only to requests that carry the
 * origin header CloudFront adds (x-cdn-origin-verify) with the secret's current or previous
 * value; the header never reaches the backend; a rotation changes only the cdn hosts.
 * Requests go through the rendered (and proto-validated) route configuration with
 * envoy-http.ts, which does what Envoy's virtual host selection and RBAC filter do.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { RenderContext } from '../../lib/control-plane/runtime/context';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { readSecretVersions } from '../../lib/control-plane/runtime/secret-versions';
import { SnapshotRenderer } from '../../lib/control-plane/runtime/snapshot';
import { DEFAULT_TEMPLATES, NodeInfo, TemplateRegistry } from '../../lib/control-plane/runtime/templates';
import { RouteDocument } from '../../lib/model';
import { envoyNode, httpBackend, renderSettings, routeDocument } from '../support/fixtures';
import { sendThroughEdge } from './envoy-http';
import { REGION, TOKEN, TestTable, startTable, startTestControlPlane, waitFor } from './support';
import { restResources } from '../support/rest-discovery';

/* eslint-disable @typescript-eslint/no-explicit-any -- reading rendered JSON */

const HEADER = 'x-cdn-origin-verify';
const settings = renderSettings();
const envoy: NodeInfo = envoyNode({ id: 'n1', cluster: 'fleet', version: { major: 1, minor: 39, patch: 0 } });
const route = (id: string, plan: string, spec: Partial<RouteDocument['spec']> = {}) => routeDocument(id, { plan, spec: { backends: [httpBackend('203.0.113.5')], ...spec } });

const SHOP = route('shop', 'cdn');
const PLAIN = route('plain', 'standard');
const OFFICE = route('office', 'cdn', { ip_allow_list: ['198.51.100.0/24'] });

describe('cdn origin protection in the rendered route configuration', () => {
  const renderer = new SnapshotRenderer(new TemplateRegistry(DEFAULT_TEMPLATES), 'p', envoy);
  const render = (cdnOrigin?: RenderContext['cdnOrigin']) => {
    const outcome = renderer.render({ settings, routes: [OFFICE, PLAIN, SHOP], cdnOrigin });
    if (!outcome.ok) throw new Error(JSON.stringify(outcome.problems));
    expect(outcome.snapshot.excluded).toEqual([]);
    return outcome.snapshot;
  };
  const routesOf = (snapshot: ReturnType<typeof render>) => snapshot.types.routes.resources.get('edge-https')!.json as any;

  it('refuses a direct request to a cdn name (403) and accepts the current and the previous value, removing the header', () => {
    const config = routesOf(render({ values: ['current-value', 'previous-value'] }));
    expect(sendThroughEdge(config, { host: 'shop.edge.example.com' }).status).toBe(403);
    expect(sendThroughEdge(config, { host: 'shop.edge.example.com', headers: { [HEADER]: 'guess' } }).status).toBe(403);
    expect(sendThroughEdge(config, { host: 'shop.edge.example.com:443', headers: { [HEADER]: 'current-value ' } }).status).toBe(403);
    for (const value of ['current-value', 'previous-value']) {
      const result = sendThroughEdge(config, { host: 'shop.edge.example.com', headers: { [HEADER]: value, 'x-keep': '1' } });
      expect(result).toMatchObject({ status: 200, virtualHost: 'svc-shop' });
      expect(result.forwarded).toEqual({ host: 'shop.edge.example.com', 'x-keep': '1' });
    }
    // A standard instance needs no header.
    expect(sendThroughEdge(config, { host: 'plain.edge.example.com' }).status).toBe(200);
  });

  it('a cdn instance with an ip_allow_list needs both the header and an allowed client address', () => {
    const config = routesOf(render({ values: ['current-value'] }));
    const office = (headers: Record<string, string>, remoteIp: string) => sendThroughEdge(config, { host: 'office.edge.example.com', headers, remoteIp }).status;
    expect(office({ [HEADER]: 'current-value' }, '198.51.100.7')).toBe(200);
    expect(office({}, '198.51.100.7')).toBe(403);
    expect(office({ [HEADER]: 'current-value' }, '203.0.113.1')).toBe(403);
  });

  it('refuses every request to a cdn name until the secret has been read (fail closed)', () => {
    const config = routesOf(render(undefined));
    expect(sendThroughEdge(config, { host: 'shop.edge.example.com', headers: { [HEADER]: 'anything' } }).status).toBe(403);
    expect(sendThroughEdge(config, { host: 'plain.edge.example.com' }).status).toBe(200);
  });

  it('a rotation changes only the cdn virtual hosts: every other resource keeps its version', () => {
    const before = render({ values: ['v1'] });
    const after = render({ values: ['v2', 'v1'] });
    for (const kind of ['listeners', 'clusters', 'endpoints'] as const) expect(after.types[kind].version).toBe(before.types[kind].version);
    const byName = (s: ReturnType<typeof render>) => Object.fromEntries(routesOf(s).virtual_hosts.map((v: any) => [v.name, JSON.stringify(v)]));
    const [a, b] = [byName(before), byName(after)];
    expect(Object.keys(a).filter((name) => a[name] !== b[name]).sort()).toEqual(['svc-office', 'svc-shop']);
  });
});

describe('the secret from Secrets Manager: AWSCURRENT and AWSPREVIOUS', () => {
  const sm = mockClient(SecretsManagerClient);
  afterEach(() => sm.reset());

  it('reads both stages', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'edge-origin', VersionStage: 'AWSCURRENT' }).resolves({ SecretString: 'new', VersionId: 'v2' });
    sm.on(GetSecretValueCommand, { SecretId: 'edge-origin', VersionStage: 'AWSPREVIOUS' }).resolves({ SecretString: 'old', VersionId: 'v1' });
    const client = new SecretsManagerClient({ region: REGION });
    expect(await readSecretVersions(client, 'edge-origin')).toEqual({ current: { value: 'new', versionId: 'v2' }, previous: { value: 'old', versionId: 'v1' } });
  });

  it('a secret never rotated has no AWSPREVIOUS (ResourceNotFoundException): the current value only', async () => {
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({ SecretString: 'only', VersionId: 'v1' });
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).rejects(
      new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS", $metadata: {} }),
    );
    expect(await readSecretVersions(new SecretsManagerClient({ region: REGION }), 'edge-origin')).toEqual({ current: { value: 'only', versionId: 'v1' }, previous: undefined });
  });

  it('any other failure is a failed refresh (the last good values are kept by the source)', async () => {
    sm.on(GetSecretValueCommand).rejects(Object.assign(new Error('User is not authorized to perform secretsmanager:GetSecretValue'), { name: 'AccessDeniedException' }));
    await expect(readSecretVersions(new SecretsManagerClient({ region: REGION }), 'edge-origin')).rejects.toThrow('not authorized');
  });
});

describe('a running control plane re-reads the secret and re-renders the cdn hosts', () => {
  let table: TestTable;
  let dir: string;
  let cp: LocalControlPlane;
  const discoverRoutes = async () => (await restResources<any>(`http://127.0.0.1:${cp.restPort}`, 'routes', { nodeId: 'n', token: TOKEN }))?.find((r) => r.name === 'edge-https');
  const status = (config: any, value?: string) => sendThroughEdge(config, { host: 'shop.edge.example.com', headers: value ? { [HEADER]: value } : {} }).status;

  beforeAll(async () => {
    table = await startTable();
    dir = mkdtempSync(join(tmpdir(), 'edge-cdn-origin-'));
    writeFileSync(join(dir, 'origin.json'), JSON.stringify({ current: 'first' }));
    writeFileSync(join(dir, 'context.json'), JSON.stringify({ routes: [{ instanceId: 'shop', plan: 'cdn', spec: SHOP.spec }] }));
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, {
      contextFile: join(dir, 'context.json'),
      documentRefreshMs: 100,
      routesRefreshMs: 100,
      cdnOriginSecretFile: join(dir, 'origin.json'),
      cdnOriginSecretRefreshMs: 100,
    });
  });

  afterAll(async () => {
    await cp?.stop();
    await table?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the values of the file, and after a rotation the new and the previous one', async () => {
    const first = await waitFor('the cdn host served with the first value', async () => {
      const config = await discoverRoutes();
      return config && status(config, 'first') === 200 ? config : undefined;
    });
    expect(status(first)).toBe(403);
    writeFileSync(join(dir, 'origin.json'), JSON.stringify({ current: 'second', previous: 'first' }));
    const rotated = await waitFor('the rotation to be served', async () => {
      const config = await discoverRoutes();
      return config && status(config, 'second') === 200 ? config : undefined;
    });
    expect(status(rotated, 'first')).toBe(200);
    expect(status(rotated)).toBe(403);
    writeFileSync(join(dir, 'origin.json'), JSON.stringify({ current: 'third', previous: 'second' }));
    const next = await waitFor('the next rotation', async () => {
      const config = await discoverRoutes();
      return config && status(config, 'third') === 200 ? config : undefined;
    });
    expect(status(next, 'second')).toBe(200);
    expect(status(next, 'first')).toBe(403);
    const source = ((await (await fetch(`http://127.0.0.1:${cp.restPort}/status`)).json()) as { sources: Array<{ name: string; ok: boolean }> }).sources;
    expect(source.find((s) => s.name === 'cdn-origin-secret')).toMatchObject({ ok: true });
  });
});
