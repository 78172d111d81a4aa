import { status } from '../../ami/scripts/lifecycle/status';
import { FakeAws, fakeContext, throttled } from './fake-aws';

const REGIONS = ['us-east-1', 'eu-west-1'];

describe('ami status', () => {
  test('per region: promoted version, what the fleet runs, images and their age, across pages of versions (SSM returns at most 10)', async () => {
    const aws = new FakeAws(REGIONS);
    const us = aws.region('us-east-1');
    for (let day = 1; day <= 12; day++) {
      const id = `ami-0${String(day).padStart(16, '0')}`;
      aws.addImage('us-east-1', { imageId: id, created: `2026-11-${String(day).padStart(2, '0')}T00:00:00.000Z` });
      us.parameters.set(`/edge/ami/envoy/202611${String(day).padStart(2, '0')}-000000-abcdef${day % 10}`, id);
    }
    us.parameters.set('/edge/ami/envoy/latest', 'ami-00000000000000012');
    us.instances.push({ instanceId: 'i-1', imageId: 'ami-00000000000000011', state: 'running' }, { instanceId: 'i-2', imageId: 'ami-00000000000000011', state: 'running' });
    us.instances.push({ instanceId: 'i-3', imageId: 'ami-0unrelated0000001', state: 'running' }, { instanceId: 'i-4', imageId: 'ami-00000000000000001', state: 'terminated' });
    aws.failNext('eu-west-1', 'GetParametersByPath', throttled());

    const report = await status(fakeContext(REGIONS), REGIONS);
    expect(report.ok).toBe(true);
    const [east, west] = report.regions;
    expect(east.promoted).toEqual({ imageId: 'ami-00000000000000012', version: '20261112-000000-abcdef2' });
    expect(east.running).toEqual([{ imageId: 'ami-00000000000000011', version: '20261111-000000-abcdef1', instances: 2 }]);
    expect(east.images).toHaveLength(12);
    expect(east.images[0]).toMatchObject({ imageId: 'ami-00000000000000012', version: '20261112-000000-abcdef2', ageDays: 23, state: 'available' });
    expect(east.images[11]).toMatchObject({ imageId: 'ami-00000000000000001', version: '20261101-000000-abcdef1', ageDays: 34 });
    expect(aws.calls.filter((c) => c === 'us-east-1 GetParametersByPath')).toHaveLength(2);
    expect(west).toEqual({ region: 'eu-west-1', promoted: undefined, running: [], images: [] });
    expect(report.lines).toContain('  promoted (/edge/ami/envoy/latest): 20261112-000000-abcdef2 ami-00000000000000012');
    expect(report.lines).toContain('  fleet runs: 20261111-000000-abcdef1 ami-00000000000000011 on 2 instance(s)');
  });

  test('images across pages of DescribeImages (100 a page here) are all shown, newest first', async () => {
    const aws = new FakeAws(['eu-west-1']);
    for (let n = 0; n < 105; n++) aws.addImage('eu-west-1', { imageId: `ami-0${String(n).padStart(16, '0')}`, created: new Date(Date.parse('2026-08-01T00:00:00Z') + n * 86_400_000).toISOString() });
    const report = await status(fakeContext(['eu-west-1']), ['eu-west-1']);
    expect(report.regions[0].images).toHaveLength(105);
    expect(report.regions[0].images[0].imageId).toBe('ami-00000000000000104');
    expect(aws.calls.filter((c) => c === 'eu-west-1 DescribeImages')).toHaveLength(2);
  });

  test('a region that cannot be read says why; the others are still shown', async () => {
    const aws = new FakeAws(REGIONS);
    aws.failNext('eu-west-1', 'DescribeImages', Object.assign(new Error('not authorized'), { name: 'UnauthorizedOperation' }));
    const report = await status(fakeContext(REGIONS), REGIONS);
    expect(report.ok).toBe(false);
    expect(report.lines).toContain('  could not read: UnauthorizedOperation: not authorized');
    expect(report.lines).toContain('  promoted (/edge/ami/envoy/latest): unset');
  });
});
