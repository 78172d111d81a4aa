/**
 * Issue 13, item 4: the discovery token rotates with no proxy cut off. The control plane
 * accepts the secret's AWSCURRENT and AWSPREVIOUS versions and re-reads them; Secrets
 * Manager is stubbed at the SDK client (aws-sdk-client-mock) as its API behaves: a rotation
 * moves AWSCURRENT to the new version and AWSPREVIOUS to the old current, and a stage no
 * version carries answers ResourceNotFoundException. Real gRPC ADS streams throughout.
 */
import * as grpc from '@grpc/grpc-js';
import { GetSecretValueCommand, GetSecretValueCommandInput, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { RunningControlPlane, startControlPlaneRuntime } from '../../lib/control-plane/runtime/runtime';
import { silentLogger } from '../../lib/control-plane/runtime/logger';
import { readSecretVersions } from '../../lib/control-plane/runtime/secret-versions';
import { DiscoveryTokens } from '../../lib/control-plane/runtime/discovery-token';
import { httpBackend, renderSettings } from '../support/fixtures';
import { RawAdsClient, REGION, TABLE, TYPE, TestTable, envoyNode, startTable, waitFor, writeRoute } from './support';
import { restDiscovery } from '../support/rest-discovery';

const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:edge-discovery-token-AbCdEf';

/** The secret's versions by stage, as Secrets Manager keeps them. */
const stages: { AWSCURRENT: { value: string; id: string }; AWSPREVIOUS?: { value: string; id: string } } = { AWSCURRENT: { value: 'token-a', id: 'v1' } };
function rotate(value: string, id: string): void {
  stages.AWSPREVIOUS = stages.AWSCURRENT;
  stages.AWSCURRENT = { value, id };
}

describe('discovery token rotation with connected ADS nodes', () => {
  const sm = mockClient(SecretsManagerClient);
  let table: TestTable;
  let running: RunningControlPlane;
  const clients: RawAdsClient[] = [];

  const connect = async (id: string, token: string) => {
    const client = new RawAdsClient(running.xdsPort);
    clients.push(client);
    client.send({ node: envoyNode(id, {}, token), type_url: TYPE.clusters });
    return client;
  };
  const accepted = async (client: RawAdsClient) => {
    const response = await client.next(TYPE.clusters);
    client.send({ type_url: TYPE.clusters, version_info: response.version_info, response_nonce: response.nonce });
    return response;
  };
  const versions = () => (running.controlPlane.status() as { discoveryToken: { versions: { current: string; previous?: string } } }).discoveryToken.versions;
  const rest = async (token: string) => (await restDiscovery(`http://127.0.0.1:${running.restPort}`, 'clusters', { nodeId: 'rest', token })).status;

  beforeAll(async () => {
    sm.on(GetSecretValueCommand).callsFake((input: GetSecretValueCommandInput) => {
      expect(input.SecretId).toBe(SECRET);
      const version = stages[input.VersionStage as 'AWSCURRENT' | 'AWSPREVIOUS'];
      if (!version) throw new ResourceNotFoundException({ message: `Secrets Manager can't find the specified secret value for staging label: ${input.VersionStage}`, $metadata: {} });
      return { SecretString: version.value, VersionId: version.id, VersionStages: [input.VersionStage!] };
    });
    table = await startTable();
    await writeRoute(table, 'first', { hostnames: ['first.edge.example.com'], backends: [httpBackend('203.0.113.1', 80)] });
    const secrets = new SecretsManagerClient({ region: REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    running = await startControlPlaneRuntime({
      settings: renderSettings(),
      discoveryToken: { read: () => readSecretVersions(secrets, SECRET), refreshMs: 100 },
      dynamodb: table.client,
      tableName: TABLE,
      xdsPort: 0,
      restPort: 0,
      host: '127.0.0.1',
      logger: silentLogger,
      routesRefreshMs: 100,
      settleMs: 200,
      convergenceReportMs: 0,
    });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await running?.stop();
    await table?.stop();
    sm.restore();
  });

  it('rotate: nodes with either token keep their streams, and new connections with either are accepted; the oldest is refused once it leaves AWSPREVIOUS', async () => {
    const onA = await connect('node-a', 'token-a');
    await accepted(onA);
    expect(await rest('token-b')).toBe(403);

    rotate('token-b', 'v2');
    await waitFor('the control plane to read the rotation', () => (versions().current === 'v2' ? true : undefined));
    expect(versions()).toEqual({ current: 'v2', previous: 'v1' });
    const onB = await connect('node-b', 'token-b');
    await accepted(onB);
    const lateA = await connect('node-a-late', 'token-a'); // a proxy that has not re-read the secret yet
    await accepted(lateA);
    expect(await rest('token-a')).toBe(200);
    expect(await rest('token-b')).toBe(200);

    // Every stream is still served: a change reaches all three.
    await writeRoute(table, 'second', { hostnames: ['second.edge.example.com'], backends: [httpBackend('203.0.113.2', 80)] });
    for (const client of [onA, onB, lateA]) {
      const pushed = await client.next(TYPE.clusters, 10_000);
      expect(pushed.resources.map((r) => r.name)).toContain('svc-second');
      expect(client.error).toBeUndefined();
    }

    // The next rotation moves token-a out of AWSPREVIOUS.
    rotate('token-c', 'v3');
    await waitFor('the second rotation to be read', () => (versions().current === 'v3' ? true : undefined));
    expect(versions()).toEqual({ current: 'v3', previous: 'v2' });
    for (const client of [onA, lateA]) expect((await client.closed()).code).toBe(grpc.status.PERMISSION_DENIED);
    const refused = await connect('node-a-again', 'token-a');
    expect((await refused.closed()).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(await rest('token-a')).toBe(403);
    // token-b (now AWSPREVIOUS) keeps its stream, and token-c is accepted.
    expect(onB.error).toBeUndefined();
    await accepted(await connect('node-c', 'token-c'));
    expect(await rest('token-b')).toBe(200);
    expect((running.controlPlane.status() as { discoveryToken: { revokedStreams: number } }).discoveryToken.revokedStreams).toBe(2);
  });
});

describe('DiscoveryTokens', () => {
  it('a failed re-read keeps the accepted tokens and shows in the status, never a value', async () => {
    let fail = false;
    const tokens = new DiscoveryTokens(
      { current: { value: 's3cret-cur', versionId: 'v2' }, previous: { value: 's3cret-prev', versionId: 'v1' } },
      {
        logger: silentLogger,
        read: async () => {
          if (fail) throw new Error('AccessDeniedException');
          return { current: { value: 's3cret-cur', versionId: 'v2' }, previous: { value: 's3cret-prev', versionId: 'v1' } };
        },
      },
    );
    fail = true;
    await tokens.refresh();
    expect(tokens.check('s3cret-cur')).toBe('ok');
    expect(tokens.check('s3cret-prev')).toBe('ok');
    expect(tokens.check('other')).toBe('wrong');
    expect(tokens.check('')).toBe('missing');
    expect(tokens.check(undefined)).toBe('missing');
    const status = tokens.status();
    expect(status).toMatchObject({ versions: { current: 'v2', previous: 'v1' }, lastRefresh: { ok: false, error: 'AccessDeniedException' } });
    expect(JSON.stringify(status)).not.toContain('s3cret');
  });
});
