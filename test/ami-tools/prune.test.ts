import { prune } from '../../ami/scripts/lifecycle/prune';
import { FakeAws, ec2Error, fakeContext, throttled } from './fake-aws';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-northeast-1'];
const id = (region: string, n: number) => `ami-0${region.slice(0, 2)}${String(n).padStart(14, '0')}`;

/**
 * Six images per region, n=1 oldest .. n=6 newest, each with a version parameter. In us-east-1
 * the fleet's parameter names n=2, a launch template's $Latest uses n=3 and an instance runs n=1.
 */
function sixPerRegion(): FakeAws {
  const aws = new FakeAws(REGIONS);
  for (const r of REGIONS) {
    for (let n = 1; n <= 6; n++) {
      aws.addImage(r, { imageId: id(r, n), created: `2026-11-0${n}T00:00:00.000Z` });
      aws.region(r).parameters.set(`/edge/ami/envoy/v${n}`, id(r, n));
    }
    aws.region(r).parameters.set('/edge/ami/envoy/latest', id(r, 6));
  }
  const us = aws.region('us-east-1');
  us.parameters.set('/edge/ami/envoy/latest', id('us-east-1', 2));
  us.launchTemplateImages.push({ name: 'edge-fleet-lt', version: 7, imageId: id('us-east-1', 3) });
  us.instances.push({ instanceId: 'i-0abc', imageId: id('us-east-1', 1), state: 'stopped' });
  return aws;
}

const live = (aws: FakeAws, r: string) => aws.region(r).images.filter((i) => i.state !== 'deregistered').map((i) => i.imageId);

describe('ami prune', () => {
  test('dry run by default: lists what would go and what stays and why, changes nothing', async () => {
    const aws = sixPerRegion();
    const report = await prune(fakeContext(REGIONS), REGIONS, 2, false);
    expect(report.ok).toBe(true);
    expect(report.changed).toEqual([]);
    const east = report.plans.find((p) => p.region === 'us-east-1')!;
    expect(east.remove.map((i) => i.imageId)).toEqual([id('us-east-1', 4)]);
    expect(east.kept).toEqual([
      { imageId: id('us-east-1', 3), why: 'launch template edge-fleet-lt v7 uses it' },
      { imageId: id('us-east-1', 2), why: "the fleet's parameter /edge/ami/envoy/latest names it" },
      { imageId: id('us-east-1', 1), why: '1 instance(s) run it' },
    ]);
    expect(report.plans.find((p) => p.region === 'eu-west-1')!.remove.map((i) => i.imageId)).toEqual([4, 3, 2, 1].map((n) => id('eu-west-1', n)));
    expect(report.lines).toContain('dry run: nothing changed; run again with --yes to remove them');
    expect(aws.calls.filter((c) => /Deregister|Delete/.test(c))).toEqual([]);
    for (const r of REGIONS) expect(live(aws, r)).toHaveLength(6);
  });

  test('--yes: deregisters, deletes the snapshots and the version parameters of the images beyond the newest N', async () => {
    const aws = sixPerRegion();
    const report = await prune(fakeContext(REGIONS), REGIONS, 2, true);
    expect(report).toMatchObject({ ok: true, changed: REGIONS, notAttempted: [] });
    expect(live(aws, 'us-east-1').sort()).toEqual([1, 2, 3, 5, 6].map((n) => id('us-east-1', n)).sort());
    expect(live(aws, 'eu-west-1').sort()).toEqual([5, 6].map((n) => id('eu-west-1', n)).sort());
    expect([...aws.region('eu-west-1').snapshots].sort()).toEqual([5, 6].map((n) => `snap-${id('eu-west-1', n).slice(4)}`).sort());
    expect([...aws.region('eu-west-1').parameters.keys()].sort()).toEqual(['/edge/ami/envoy/latest', '/edge/ami/envoy/v5', '/edge/ami/envoy/v6']);
    expect(aws.region('us-east-1').parameters.has('/edge/ami/envoy/v4')).toBe(false);
    expect(aws.region('us-east-1').parameters.has('/edge/ami/envoy/v2')).toBe(true);
    // Nothing left to do: a second run removes nothing.
    const again = await prune(fakeContext(REGIONS), REGIONS, 2, true);
    expect(again).toMatchObject({ ok: true, changed: [], unchanged: REGIONS });
  });

  test('a snapshot shared with a kept image is not deleted (EC2 skips it)', async () => {
    const aws = new FakeAws(['eu-west-1']);
    aws.addImage('eu-west-1', { imageId: 'ami-0old0000000000001', created: '2026-11-01T00:00:00.000Z', snapshots: ['snap-shared'] });
    aws.addImage('eu-west-1', { imageId: 'ami-0new0000000000001', created: '2026-11-02T00:00:00.000Z', snapshots: ['snap-shared'] });
    const report = await prune(fakeContext(['eu-west-1']), ['eu-west-1'], 1, true);
    expect(report.ok).toBe(true);
    expect(live(aws, 'eu-west-1')).toEqual(['ami-0new0000000000001']);
    expect([...aws.region('eu-west-1').snapshots]).toEqual(['snap-shared']);
  });

  test('a region that cannot be read: nothing changes anywhere', async () => {
    const aws = sixPerRegion();
    aws.failNext('ap-northeast-1', 'DescribeLaunchTemplateVersions', ec2Error('UnauthorizedOperation', 'You are not authorized to perform this operation.'));
    const report = await prune(fakeContext(REGIONS), REGIONS, 2, true);
    expect(report).toMatchObject({ ok: false, changed: [], notAttempted: REGIONS });
    expect(report.lines).toEqual(['prune: nothing changed; could not read:', '  ap-northeast-1: UnauthorizedOperation: You are not authorized to perform this operation.']);
    for (const r of REGIONS) expect(live(aws, r)).toHaveLength(6);
  });

  test('a region failing halfway: the report names the regions changed and what was removed in the failing one; a rerun finishes', async () => {
    const aws = sixPerRegion();
    // eu-west-1 removes v4, v3, v2, v1 (newest first); the second deregistration is throttled past the retries.
    aws.failLater('eu-west-1', 'DeregisterImage', 1, ...Array.from({ length: 6 }, () => throttled()));
    const ctx = fakeContext(REGIONS);
    const report = await prune(ctx, REGIONS, 2, true);
    expect(report).toMatchObject({ ok: false, changed: ['us-east-1'], failed: { region: 'eu-west-1' }, notAttempted: ['ap-northeast-1'] });
    expect(report.failed!.reason).toBe(`${id('eu-west-1', 3)}: AWS kept throttling the calls (ThrottlingException) after retries; run again in a minute; removed here before it: ${id('eu-west-1', 4)}`);
    expect(live(aws, 'eu-west-1').sort()).toEqual([1, 2, 3, 5, 6].map((n) => id('eu-west-1', n)).sort());
    expect(live(aws, 'ap-northeast-1')).toHaveLength(6);
    const text = report.lines.join('\n');
    expect(text).toContain('prune: changed us-east-1');
    expect(text).toContain(`FAILED in eu-west-1: ${report.failed!.reason}`);
    expect(text).not.toContain('nothing changed there');
    expect(text).toContain('not attempted: ap-northeast-1');

    const rerun = await prune(ctx, REGIONS, 2, true);
    expect(rerun).toMatchObject({ ok: true, changed: ['eu-west-1', 'ap-northeast-1'], unchanged: ['us-east-1'] });
    expect(live(aws, 'eu-west-1')).toHaveLength(2);
    expect(live(aws, 'ap-northeast-1')).toHaveLength(2);
  });

  test('--keep must be at least 1', async () => {
    sixPerRegion();
    await expect(prune(fakeContext(REGIONS), REGIONS, 0, true)).rejects.toThrow('--keep: must be a whole number of images to keep per region, at least 1 (got 0)');
  });
});
