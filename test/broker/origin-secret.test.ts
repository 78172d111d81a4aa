/**
 * The cdn origin secret's rotation (issue 12 item 4, CloudFront side): Secrets Manager's four
 * steps against a stand-in that keeps versions and stages as Secrets Manager does, over a
 * broker whose cdn instances have distributions (LocalCloud). The edge accepts AWSCURRENT and
 * AWSPREVIOUS (phase 2): every distribution must send one of them at every moment.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { randomBytes } from 'node:crypto';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { RotationSecrets, rotateOriginSecret } from '../../lib/broker/runtime/origin-secret';
import { CDN, brokerFixture, osbClient, provisionBody, waitForOperation } from './support';

/** Versions and stages, as Secrets Manager keeps them (AWSCURRENT moves, the old one becomes AWSPREVIOUS). */
class FakeSecrets implements RotationSecrets {
  readonly values = new Map<string, string>();
  readonly stages = new Map<string, string[]>();
  constructor(readonly id: string, first: string) {
    this.values.set('v1', first);
    this.stages.set('v1', ['AWSCURRENT']);
  }
  async describe() {
    return { rotationEnabled: true, versions: Object.fromEntries(this.stages) };
  }
  async value(_id: string, stage: 'AWSCURRENT' | 'AWSPENDING', versionId?: string) {
    // A version staged by RotateSecret has no value until PutSecretValue (GetSecretValue: ResourceNotFoundException).
    const found = [...this.stages].find(([v, s]) => s.includes(stage) && (!versionId || v === versionId) && this.values.has(v));
    return found ? { value: this.values.get(found[0])!, versionId: found[0] } : undefined;
  }
  async randomValue() {
    return randomBytes(24).toString('hex');
  }
  async putPending(_id: string, token: string, value: string) {
    this.values.set(token, value);
    this.stages.set(token, ['AWSPENDING']);
  }
  async promote(_id: string, token: string, current: string) {
    for (const [v, s] of this.stages) this.stages.set(v, s.filter((x) => x !== 'AWSPREVIOUS'));
    this.stages.set(current, ['AWSPREVIOUS']);
    this.stages.set(token, ['AWSCURRENT']);
  }
  /** What Secrets Manager does when a rotation starts: a new version id staged AWSPENDING, with no value yet. */
  begin(token: string) {
    this.stages.set(token, ['AWSPENDING']);
  }
  accepted(): string[] {
    return [...this.stages].filter(([, s]) => s.includes('AWSCURRENT') || s.includes('AWSPREVIOUS')).map(([v]) => this.values.get(v)!);
  }
}

const fixture = brokerFixture('origin-secret');
const logger = new Logger({ logLevel: 'SILENT' });

test('a rotation moves every distribution to the new value; at every step each one sends a value the edge accepts', async () => {
  const cloud = new LocalCloud();
  const broker = await fixture.start({ cloud, cdnOriginSecretArn: 'cdn-secret' });
  const call = osbClient(broker.url);
  for (const id of ['cdn-a', 'cdn-b']) {
    const reply = await call('PUT', `/v2/service_instances/${id}?accepts_incomplete=true`, { body: provisionBody([`${id}.edge.example.com`], {}, CDN) });
    expect((await waitForOperation(call, id, reply.body.operation)).body.state).toBe('succeeded');
  }
  const first = await cloud.secretValue('cdn-secret');
  const secrets = new FakeSecrets('cdn-secret', first.value);
  const ctx = { secrets, store: broker.store, cloud, logger };
  const sent = () => [...cloud.distributions.values()].map((d) => d.originSecret!);
  expect(sent()).toEqual([first.value, first.value]);

  secrets.begin('v2');
  for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
    await rotateOriginSecret(ctx, step, 'cdn-secret', 'v2');
    for (const value of sent()) expect(secrets.accepted()).toContain(value);
  }
  const second = secrets.values.get('v2')!;
  expect(second).not.toBe(first.value);
  expect(sent()).toEqual([second, second]);
  expect(secrets.accepted().sort()).toEqual([first.value, second].sort());
  for (const id of ['cdn-a', 'cdn-b']) expect((await broker.store.getInstance(id))!.resources.originSecretVersion).toBe('v2');

  // A repeated step (Secrets Manager retries) changes nothing.
  await rotateOriginSecret(ctx, 'finishSecret', 'cdn-secret', 'v2');
  expect(sent()).toEqual([second, second]);
});

test('a distribution still on an older value stops the next rotation (it is moved first), so the edge never drops a value in use', async () => {
  const cloud = new LocalCloud();
  const broker = await fixture.start({ cloud, cdnOriginSecretArn: 'cdn-secret-2' });
  const call = osbClient(broker.url);
  const reply = await call('PUT', `/v2/service_instances/lagging?accepts_incomplete=true`, { body: provisionBody(['lagging.edge.example.com'], {}, CDN) });
  expect((await waitForOperation(call, 'lagging', reply.body.operation)).body.state).toBe('succeeded');
  const secrets = new FakeSecrets('cdn-secret-2', 'a-newer-value-the-distribution-does-not-send');
  const ctx = { secrets, store: broker.store, cloud, logger };
  secrets.begin('v2');
  await expect(rotateOriginSecret(ctx, 'createSecret', 'cdn-secret-2', 'v2')).rejects.toThrow(/did not send the current origin secret yet .*the rotation waits/);
  expect(secrets.values.has('v2')).toBe(false);
  expect([...cloud.distributions.values()][0].originSecret).toBe('a-newer-value-the-distribution-does-not-send');
  // Next attempt: every distribution is on the current value, the rotation goes ahead.
  await rotateOriginSecret(ctx, 'createSecret', 'cdn-secret-2', 'v2');
  expect(secrets.values.has('v2')).toBe(true);
});
