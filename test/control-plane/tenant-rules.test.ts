/**
 * Issue 13: the control plane applies the tenant rules on every render, whatever the
 * source. Hostile routes are injected where the broker never sees them (straight into the
 * table, an S3 context document, a context file); none is rendered, each is reported in
 * /status with the field and the rule, logged and counted, and the good routes beside them
 * are served.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { localClientConfig } from '../../lib/local/emulators';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { RouteDocument } from '../../lib/model';
import { fleetCidrsFromEnv, tenantRuleProblems } from '../../lib/control-plane/runtime/tenant-rules';
import { REGION, TOKEN, TestTable, startTable, startTestControlPlane, waitFor, writeRoute } from './support';
import { restResources } from '../support/rest-discovery';

const FLEET = ['10.1.0.0/16', '10.7.0.0/16'];
const http = (address: string, port = 80) => ({ address, port, protocol: 'http' as const });
const spec = (host: string, backends = [http('203.0.113.10')]) => ({ hostnames: [host], backends, regions: [REGION] });

interface Status {
  tenantRules: { policy: Record<string, unknown>; excluded: Array<{ instanceId: string; generation: number; problems: Array<{ field: string; rule: string; message: string }> }> };
}

describe('tenant rules on every render (control plane)', () => {
  let table: TestTable;
  let s3: S3Client;
  let dir: string;
  let cp: LocalControlPlane;
  const logs: Array<Record<string, unknown>> = [];

  const get = async <T>(path: string): Promise<T> => (await fetch(`http://127.0.0.1:${cp.restPort}${path}`)).json() as Promise<T>;
  const discover = (kind: 'clusters' | 'routes' | 'listeners') => restResources<Record<string, unknown>>(`http://127.0.0.1:${cp.restPort}`, kind, { nodeId: 'n', token: TOKEN });

  beforeAll(async () => {
    table = await startTable();
    s3 = new S3Client({ ...localClientConfig(table.emulators.s3Endpoint), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'edge-context' }));
    dir = mkdtempSync(join(tmpdir(), 'edge-cp-rules-'));
    await s3.send(
      new PutObjectCommand({
        Bucket: 'edge-context',
        Key: 'context.json',
        Body: JSON.stringify({
          routes: [
            { instanceId: 's3-metadata', spec: spec('meta.edge.example.com', [http('169.254.169.254')]) },
            { instanceId: 's3-good', spec: spec('s3-good.edge.example.com') },
          ],
        }),
      }),
    );
    writeFileSync(
      join(dir, 'context.json'),
      JSON.stringify({
        routes: [
          { instanceId: 'file-xds', spec: spec('xds-alias.edge.example.com', [http(`xds.${REGION}.internal.edge.example.com`, 18000)]) },
          { instanceId: 'file-region', spec: spec(`${REGION}.edge.example.com`) },
        ],
      }),
    );
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, {
      s3Endpoint: table.emulators.s3Endpoint,
      contextS3: { bucket: 'edge-context', key: 'context.json' },
      contextFile: join(dir, 'context.json'),
      documentRefreshMs: 100,
      routesRefreshMs: 100,
      settleMs: 200,
      fleetCidrs: FLEET,
      allowLoopbackBackends: false,
      logger: { log: (level, message, fields) => logs.push({ level, message, ...fields }) },
    });
    // Straight into the table, as a writer other than the broker would.
    await writeRoute(table, 'ddb-admin', spec('admin.edge.example.com', [http('127.0.0.1', 9901)]));
    await writeRoute(table, 'ddb-fleet', spec('fleet.edge.example.com', [http('10.7.3.4', 443)]));
    await writeRoute(table, 'ddb-authz', { ...spec('authz.edge.example.com'), auth: { ext_authz: { address: 'localhost', port: 9000, protocol: 'grpc' } } });
    await writeRoute(table, 'ddb-header', {
      ...spec('header.edge.example.com'),
      routes: [{ match: { prefix: '/' }, request_headers_to_add: { ':authority': 'x', 'x-env': '%ENVIRONMENT(AWS_SECRET_ACCESS_KEY)%' } }],
    });
    await writeRoute(table, 'ddb-regex', { ...spec('regex.edge.example.com'), routes: [{ match: { safe_regex: '(a' } }] });
    await writeRoute(table, 'ddb-good', spec('good.edge.example.com'));
  }, 60_000);

  afterAll(async () => {
    await cp?.stop();
    s3?.destroy();
    await table?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const HOSTILE = ['ddb-admin', 'ddb-fleet', 'ddb-authz', 'ddb-header', 'ddb-regex', 's3-metadata', 'file-xds', 'file-region'];

  it('renders none of the hostile routes and serves the good ones beside them', async () => {
    const clusters = await waitFor('the good routes of every source to be served', async () => {
      const found = (await discover('clusters'))?.map((c) => c.name as string);
      return found && ['svc-ddb-good', 'svc-s3-good'].every((n) => found.includes(n)) ? found : undefined;
    });
    await waitFor('every hostile route reported', async () => ((await get<Status>('/status')).tenantRules.excluded.length === HOSTILE.length ? true : undefined));
    const everything = JSON.stringify([await discover('clusters'), await discover('routes'), await discover('listeners')]);
    for (const id of HOSTILE) expect(clusters).not.toContain(`svc-${id}`);
    for (const forbidden of ['127.0.0.1', '169.254.169.254', '10.7.3.4', `xds.${REGION}.internal`, 'localhost', ':authority', 'ENVIRONMENT', `"${REGION}.edge.example.com"`]) {
      expect(everything).not.toContain(forbidden);
    }
  });

  it('reports each in /status with the field and the rule', async () => {
    const { tenantRules } = await get<Status>('/status');
    expect(tenantRules.policy).toEqual({ domain: 'edge.example.com', region: REGION, fleetCidrs: FLEET, allowLoopbackBackends: false });
    const byId = Object.fromEntries(tenantRules.excluded.map((e) => [e.instanceId, e.problems.map((p) => `${p.field} ${p.rule}`)]));
    expect(byId).toEqual({
      'ddb-admin': ['backends[0].address loopback'],
      'ddb-fleet': ['backends[0].address fleet-network'],
      'ddb-authz': ['auth.ext_authz.address loopback'],
      'ddb-header': ['routes[0].request_headers_to_add[":authority"] envoy-header-name', 'routes[0].request_headers_to_add.x-env envoy-header-value'],
      'ddb-regex': ['routes[0].match.safe_regex envoy-regex'],
      's3-metadata': ['backends[0].address link-local'],
      'file-xds': ['backends[0].address platform-name'],
      'file-region': ['hostnames[0] platform-hostname'],
    });
    const metadata = tenantRules.excluded.find((e) => e.instanceId === 's3-metadata')!;
    expect(metadata.problems[0].message).toContain('169.254.169.254');
  });

  it('logs each exclusion once and counts it', async () => {
    const excludedLogs = logs.filter((l) => l.message === 'instance excluded by the tenant rules: never rendered; the rest of the snapshot is served');
    expect(excludedLogs.map((l) => l.instanceId).sort()).toEqual([...HOSTILE].sort());
    expect(excludedLogs.every((l) => l.level === 'error')).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${cp.restPort}/metrics`)).text();
    expect(metrics).toContain(`edge_tenant_rule_exclusions_total ${HOSTILE.length}`);
    expect(metrics).toContain(`edge_tenant_rule_excluded_instances ${HOSTILE.length}`);
    expect(metrics).toContain(`edge_render_excluded_instances ${HOSTILE.length}`);
  });

  it('a fixed generation is served again and leaves the report', async () => {
    await writeRoute(table, 'ddb-admin', spec('admin.edge.example.com', [http('203.0.113.20', 8080)]));
    await waitFor('the fixed route to be served', async () => ((await discover('clusters'))?.some((c) => c.name === 'svc-ddb-admin') ? true : undefined));
    expect((await get<Status>('/status')).tenantRules.excluded.map((e) => e.instanceId)).not.toContain('ddb-admin');
  });
});

describe('tenantRuleProblems', () => {
  const policy = { domain: 'edge.example.com', region: REGION, fleetCidrs: FLEET, allowLoopbackBackends: true };
  const route = (s: Partial<RouteDocument['spec']>): RouteDocument => ({
    instanceId: 'x',
    plan: 'standard',
    generation: 1,
    deleted: false,
    updatedAt: '',
    spec: { hostnames: ['x.edge.example.com'], backends: [http('203.0.113.1')], regions: [REGION], ...s },
  });

  it('waives loopback for backends only where the policy allows it (the local platform), never for ext_authz', () => {
    expect(tenantRuleProblems(route({ backends: [http('127.0.0.1', 8080)] }), policy)).toEqual([]);
    expect(tenantRuleProblems(route({ auth: { ext_authz: { address: '127.0.0.1', port: 9001, protocol: 'http' } } }), policy).map((p) => p.rule)).toEqual(['loopback']);
    expect(tenantRuleProblems(route({ backends: [http('::ffff:169.254.169.254')] }), policy).map((p) => p.rule)).toEqual(['link-local']);
  });

  it('refuses the platform names as hostnames: the domain, the region edge, internal names, a wildcard over the domain', () => {
    for (const name of ['edge.example.com', `${REGION}.edge.example.com`, `xds.${REGION}.internal.edge.example.com`, '*.edge.example.com', '*.example.com']) {
      expect(tenantRuleProblems(route({ hostnames: [name] }), policy).map((p) => p.rule)).toEqual(['platform-hostname']);
    }
    expect(tenantRuleProblems(route({ hostnames: ['shop.example.org', 'a.edge.example.com'] }), policy)).toEqual([]);
  });

  it('a route that cannot be read is excluded, not thrown', () => {
    expect(tenantRuleProblems(route({ backends: null as never }), policy).map((p) => p.rule)).toEqual(['malformed']);
  });

  it('EDGE_FLEET_CIDRS is required and checked', () => {
    expect(() => fleetCidrsFromEnv({})).toThrow('environment variable EDGE_FLEET_CIDRS is required');
    expect(fleetCidrsFromEnv({ EDGE_FLEET_CIDRS: '10.1.0.0/16, 10.7.0.0/16' })).toEqual(FLEET);
    expect(() => fleetCidrsFromEnv({ EDGE_FLEET_CIDRS: '10.1.0.0/16,10.7.0.0' })).toThrow('EDGE_FLEET_CIDRS[1]: "10.7.0.0" is not an IPv4 CIDR');
  });
});
