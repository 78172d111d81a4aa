/** Context sources against the emulators: DynamoDB by generation (out-of-order commits), S3 and file documents, failures. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { localClientConfig } from '../../lib/local/emulators';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { DynamoRouteSource } from '../../lib/control-plane/runtime/sources';
import { putRoutes } from '../support/routes';
import { REGION, TABLE, TOKEN, TestTable, startTable, startTestControlPlane, waitFor } from './support';
import { restResources } from '../support/rest-discovery';

const spec = (host: string) => ({ hostnames: [host], backends: [{ address: '10.0.0.1', port: 80, protocol: 'http' as const }], regions: [REGION] });

/** A route at a generation of the test's choosing (a write committed late). */
async function putAt(table: TestTable, instanceId: string, generation: number, deleted = false) {
  await putRoutes(table.doc, TABLE, [{ instanceId, plan: 'standard', generation, deleted, spec: spec(`${instanceId}.edge.example.com`), updatedAt: new Date().toISOString() }]);
}

describe('context sources', () => {
  let table: TestTable;
  let s3: S3Client;
  let dir: string;
  let cp: LocalControlPlane | undefined;

  beforeAll(async () => {
    table = await startTable();
    s3 = new S3Client({ ...localClientConfig(table.emulators.s3Endpoint), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'edge-context' }));
    dir = mkdtempSync(join(tmpdir(), 'edge-cp-src-'));
  });

  afterAll(async () => {
    await cp?.stop();
    s3.destroy();
    await table.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('picks up a generation committed late (lower than one already read) within the settle window, and tombstones', async () => {
    let now = 1_000_000;
    const source = new DynamoRouteSource({ client: table.client, tableName: TABLE, intervalMs: 100, settleMs: 5000, now: () => now });
    await putAt(table, 'late-b', 11);
    expect(await source.refresh()).toBe(true);
    expect(source.routes().map((r) => r.instanceId)).toEqual(['late-b']);
    now += 1000;
    await putAt(table, 'late-a', 10); // committed after 11 was read
    await source.refresh();
    expect(source.routes().map((r) => r.instanceId).sort()).toEqual(['late-a', 'late-b']);
    now += 1000;
    await putAt(table, 'late-b', 12, true);
    await source.refresh();
    expect(source.routes().find((r) => r.instanceId === 'late-b')?.deleted).toBe(true);
    // An older write never replaces a newer one.
    await putAt(table, 'late-a', 9);
    await source.refresh();
    expect(source.routes().find((r) => r.instanceId === 'late-a')?.generation).toBe(10);
    expect(source.generation()).toBe(12);
  });

  it('merges an S3 document and a local file (settings and static routes), and keeps the last good document when one breaks', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: 'edge-context',
        Key: 'context.json',
        Body: JSON.stringify({ settings: { rateLimitService: { address: '10.9.9.9', port: 8081 } }, routes: [{ instanceId: 'from-s3', spec: { ...spec('s3.edge.example.com'), rate_limit: { requests_per_unit: 5, unit: 'second', global: true } } }] }),
      }),
    );
    const file = join(dir, 'context.json');
    writeFileSync(file, JSON.stringify({ routes: [{ instanceId: 'from-file', spec: spec('file.edge.example.com') }] }));
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, {
      s3Endpoint: table.emulators.s3Endpoint,
      contextS3: { bucket: 'edge-context', key: 'context.json' },
      contextFile: file,
      documentRefreshMs: 100,
      routesRefreshMs: 100,
    });
    const clusters = async () => (await restResources(`http://127.0.0.1:${cp!.restPort}`, 'clusters', { nodeId: 'n', token: TOKEN }))?.map((r) => r.name);
    const names = await waitFor('both documents to be served', async () => {
      const found = await clusters();
      return found?.includes('svc-from-s3') && found.includes('svc-from-file') ? found : undefined;
    });
    expect(names).toContain('edge-ratelimit'); // the S3 settings configured the global rate limit service

    writeFileSync(file, '{ not json');
    const status = await waitFor('the file failure to be reported', async () => {
      const s = (await (await fetch(`http://127.0.0.1:${cp!.restPort}/status`)).json()) as { sources: Array<{ name: string; ok: boolean; lastError?: string }> };
      return s.sources.find((x) => x.name === 'file' && !x.ok) ? s : undefined;
    });
    expect(status.sources.find((x) => x.name === 'file')?.lastError).toContain('not JSON');
    expect(await clusters()).toContain('svc-from-file'); // last good document kept
    const metrics = await (await fetch(`http://127.0.0.1:${cp.restPort}/metrics`)).text();
    expect(metrics).toMatch(/edge_source_failures_total\{source="file"\} [1-9]/);
    expect(metrics).toMatch(/edge_source_staleness_seconds\{source="dynamodb"\}/);
  });
});
