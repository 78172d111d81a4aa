import { publishVersion } from '../../ami/scripts/lifecycle/publish';
import { versionOfBake } from '../../ami/scripts/lifecycle/names';
import { FakeAws, ec2Error, fakeContext, throttled } from './fake-aws';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-northeast-1'];
const AMIS = new Map([
  ['us-east-1', 'ami-0a0000000000000a1'],
  ['eu-west-1', 'ami-0b0000000000000b1'],
  ['ap-northeast-1', 'ami-0c0000000000000c1'],
]);
const VERSION = '20261205-064427-b84ec15';

function bakedEverywhere(): FakeAws {
  const aws = new FakeAws(REGIONS);
  for (const [region, imageId] of AMIS) aws.addImage(region, { imageId, created: '2026-12-05T06:50:00.000Z' });
  return aws;
}

describe('ami build: publish the bake as a version', () => {
  test('the version comes from the manifest: build time and commit', () => {
    expect(versionOfBake({ build_time: '2026-12-05T06:44:27Z', git_commit: 'b84ec15aa0000000000000000000000000000000', envoy_version: '1.39.0' }, 'uuid')).toBe(VERSION);
    expect(versionOfBake({}, '0d3c2b1a-1111-2222-3333-444444444444')).toBe('run-0d3c2b1a');
  });

  test('writes /edge/ami/envoy/<version> in every region, never the parameter the fleet reads; a second run changes nothing', async () => {
    const aws = bakedEverywhere();
    aws.region('eu-west-1').parameters.set('/edge/ami/envoy/latest', 'ami-0old00000000000001');
    const ctx = fakeContext(REGIONS);
    const report = await publishVersion(ctx, VERSION, AMIS);
    expect(report).toMatchObject({ ok: true, changed: REGIONS, unchanged: [], notAttempted: [] });
    for (const [region, imageId] of AMIS) expect(aws.region(region).parameters.get(`/edge/ami/envoy/${VERSION}`)).toBe(imageId);
    expect(aws.region('eu-west-1').parameters.get('/edge/ami/envoy/latest')).toBe('ami-0old00000000000001');
    expect(aws.region('us-east-1').parameters.has('/edge/ami/envoy/latest')).toBe(false);
    expect(report.lines.join('\n')).toContain(`npm run ami -- promote ${VERSION} --wave 1`);

    const again = await publishVersion(ctx, VERSION, AMIS);
    expect(again).toMatchObject({ ok: true, changed: [], unchanged: REGIONS });
  });

  test('a bake missing a region publishes nothing', async () => {
    const aws = bakedEverywhere();
    const partial = new Map([...AMIS].filter(([r]) => r !== 'eu-west-1'));
    const report = await publishVersion(fakeContext(REGIONS), VERSION, partial);
    expect(report.ok).toBe(false);
    expect(report.lines[0]).toBe('the bake has no image for eu-west-1; nothing was published');
    expect(aws.calls).toEqual([]);
  });

  test('throttling is retried with backoff (SSM ThrottlingException)', async () => {
    const aws = bakedEverywhere();
    aws.failNext('eu-west-1', 'PutParameter', throttled(), throttled());
    const ctx = fakeContext(REGIONS);
    const report = await publishVersion(ctx, VERSION, AMIS);
    expect(report.ok).toBe(true);
    expect(aws.calls.filter((c) => c === 'eu-west-1 PutParameter')).toHaveLength(3);
    expect(ctx.sleeps.length).toBeGreaterThanOrEqual(2);
  });

  test('a region failing halfway: the report says which regions changed, and the rest is untouched', async () => {
    const aws = bakedEverywhere();
    aws.failNext('eu-west-1', 'PutParameter', ec2Error('AccessDeniedException', 'User is not authorized to perform ssm:PutParameter'));
    const report = await publishVersion(fakeContext(REGIONS), VERSION, AMIS);
    expect(report).toMatchObject({ ok: false, changed: ['us-east-1'], failed: { region: 'eu-west-1' }, notAttempted: ['ap-northeast-1'] });
    expect(report.failed!.reason).toContain('ssm:PutParameter');
    expect(aws.region('eu-west-1').parameters.size).toBe(0);
    expect(aws.region('ap-northeast-1').parameters.size).toBe(0);
    expect(report.lines).toContain('published /edge/ami/envoy/20261205-064427-b84ec15: changed us-east-1');
    expect(report.lines.join('\n')).toMatch(/FAILED in eu-west-1: .*\(nothing changed there\)/);
  });

  test('throttled past the retries: the region fails and says so', async () => {
    const aws = bakedEverywhere();
    aws.failNext('us-east-1', 'GetParameter', ...Array.from({ length: 6 }, () => throttled()));
    const report = await publishVersion(fakeContext(REGIONS), VERSION, AMIS);
    expect(report).toMatchObject({ ok: false, changed: [], failed: { region: 'us-east-1' }, notAttempted: ['eu-west-1', 'ap-northeast-1'] });
    expect(report.failed!.reason).toMatch(/throttling/);
  });

  test('a version is written once: the same name with another image is refused', async () => {
    const aws = bakedEverywhere();
    aws.region('us-east-1').parameters.set(`/edge/ami/envoy/${VERSION}`, 'ami-0other0000000000001');
    const report = await publishVersion(fakeContext(REGIONS), VERSION, AMIS);
    expect(report.failed).toEqual({ region: 'us-east-1', reason: expect.stringContaining('already names ami-0other0000000000001') });
  });

  test('SSM refuses an image that is not available (its aws:ec2:image check runs after PutParameter answers): the region is not counted as changed', async () => {
    const aws = bakedEverywhere();
    aws.region('ap-northeast-1').images[0].state = 'pending';
    const report = await publishVersion(fakeContext(REGIONS), VERSION, AMIS);
    expect(report).toMatchObject({ ok: false, changed: ['us-east-1', 'eu-west-1'], failed: { region: 'ap-northeast-1' } });
    expect(report.failed!.reason).toContain('still reads (nothing) after writing ami-0c0000000000000c1');
  });

  test('a version that would be the fleet parameter itself is refused', async () => {
    bakedEverywhere();
    await expect(publishVersion(fakeContext(REGIONS), 'latest', AMIS)).rejects.toThrow('the name of the parameter the fleet reads');
  });
});
