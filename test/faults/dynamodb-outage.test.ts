/**
 * Fault: the DynamoDB emulator stops while a provision is mid-way (waiting for a slow
 * CloudFront distribution), then comes back on the same port and data dir.
 */
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { LocalBroker } from '../../lib/broker/runtime/local/local-broker';
import { startTestBroker } from '../broker/support';
import { LocalEmulators, startEmulators } from '../../lib/local/emulators';
import { CDN_PLAN, Osb, PASSWORD, osb, provisionBody, queueDepth, repeatedActions, scanTable, settle, sleep, tempDataDir, waitFor } from './support/harness';

const TABLE = 'faults-outage';
const INSTANCE = 'outage-cdn';
const HOST = 'outage.edge.example.com';

describe('fault: DynamoDB stopped mid-provision', () => {
  const dir = tempDataDir('outage');
  let emulators: LocalEmulators;
  let broker: LocalBroker;
  let cloud: LocalCloud;
  let call: Osb;

  beforeAll(async () => {
    emulators = await startEmulators({ dataDir: dir.path });
    // A distribution that takes 15 polls (0.2 s apart) to deploy: the provision waits in that step.
    cloud = new LocalCloud({ deployPolls: 15 });
    broker = await startTestBroker(emulators, {
      password: PASSWORD,
      tableName: TABLE,
      regions: ['us-east-1'],
      cloud,
      // Up to 5 deliveries, 1 s apart: the message outlives an outage of a few seconds.
      worker: { pollWaitSeconds: 1, waitSeconds: 0.2, backoffSeconds: () => 1, leaseSeconds: 5, maxAttempts: 5 },
    });
    call = osb(broker.url);
  });

  afterAll(async () => {
    await emulators?.startDynamodb().catch(() => undefined);
    await broker?.stop();
    await emulators?.stop();
    dir.remove();
  });

  it('answers 5xx with an OSB error body while down, and completes the provision exactly once after', async () => {
    const accepted = await call('PUT', `/v2/service_instances/${INSTANCE}?accepts_incomplete=true`, provisionBody([HOST], {}, CDN_PLAN));
    expect(accepted.status).toBe(202);
    const operation = accepted.body.operation as string;

    // Mid-way: the certificate is issued and the distribution is deploying.
    await waitFor('the provision to wait for CloudFront', async () => {
      const reply = await call('GET', `/v2/service_instances/${INSTANCE}/last_operation`);
      return reply.body?.state === 'in progress' && /CloudFront to deploy/.test(reply.body.description);
    });
    const before = cloud.actions.length;
    await emulators.stopDynamodb();

    // The broker cannot read the operation: a 500 with an OSB error body, never a hang or a wrong state.
    const down = await call('GET', `/v2/service_instances/${INSTANCE}/last_operation`);
    expect(down.status).toBe(500);
    expect(down.body).toEqual({ error: 'InternalError', description: expect.stringMatching(/retry later/) });
    const provisionWhileDown = await call('PUT', `/v2/service_instances/other?accepts_incomplete=true`, provisionBody(['other.edge.example.com']));
    expect(provisionWhileDown.status).toBe(500);
    expect(provisionWhileDown.body.description).toEqual(expect.any(String));

    // The worker keeps failing and retrying meanwhile (the message is not lost: it is in flight).
    await sleep(2500);
    expect(await queueDepth(emulators.sqsEndpoint, broker.queueUrl)).toBeGreaterThan(0);
    expect(await queueDepth(emulators.sqsEndpoint, broker.dlqUrl)).toBe(0);

    await emulators.startDynamodb();
    const done = await settle(call, INSTANCE, operation, 30_000);
    expect(done.body).toEqual({ state: 'succeeded', description: expect.stringMatching(/^provisioned: outage\.edge\.example\.com/) });

    // Nothing duplicated: one route at generation 1 (the counter advanced once), one set of
    // DNS records, no cloud action repeated, one operation.
    const items = await scanTable(emulators.dynamodbEndpoint, TABLE);
    const routes = items.filter((i) => i.pk.startsWith('ROUTE#'));
    expect(routes.map((r) => [r.pk, r.generation, r.deleted])).toEqual([[`ROUTE#${INSTANCE}`, 1, false]]);
    expect(items.find((i) => i.pk === 'COUNTER')?.value).toBe(1);
    expect(items.filter((i) => i.sk.startsWith('OPERATION#')).map((i) => [i.sk, i.state])).toEqual([[`OPERATION#${operation}`, 'succeeded']]);
    // The provision refused while DynamoDB was down left nothing behind.
    expect(items.filter((i) => i.pk.includes('other'))).toEqual([]);
    const distribution = [...cloud.distributions.values()][0];
    expect(cloud.records.get(HOST)).toEqual({ name: HOST, type: 'CNAME', value: distribution.domainName });
    expect([...cloud.records.keys()].filter((name) => !name.startsWith('_'))).toEqual([HOST]);
    expect(cloud.actions.map((a) => a.action).sort()).toEqual(['acm:Issued', 'acm:RequestCertificate', 'cloudfront:CreateDistribution', 'route53:UPSERT', 'route53:UPSERT'].sort());
    expect(repeatedActions(cloud.actions)).toEqual([]);
    // The outage happened between the distribution's creation and the DNS records.
    expect(cloud.actions.slice(before).map((a) => a.action)).toEqual(['route53:UPSERT']);
    expect(await queueDepth(emulators.sqsEndpoint, broker.dlqUrl)).toBe(0);
  });

  it('still serves afterwards: a new provision completes', async () => {
    const reply = await call('PUT', `/v2/service_instances/after-outage?accepts_incomplete=true`, provisionBody(['after-outage.edge.example.com']));
    expect(reply.status).toBe(202);
    expect((await settle(call, 'after-outage', reply.body.operation)).body.state).toBe('succeeded');
  });
});

describe('emulators.stopDynamodb', () => {
  it('refuses without a data dir (an in-memory store would be lost)', async () => {
    const inMemory = await startEmulators();
    try {
      await expect(inMemory.stopDynamodb()).rejects.toThrow(/without a data dir/);
    } finally {
      await inMemory.stop();
    }
  });
});
