import { promote } from '../../ami/scripts/lifecycle/promote';
import { FakeAws, ec2Error, fakeContext, throttled } from './fake-aws';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-northeast-1'];
const NEW = '20261205-064427-b84ec15';
const NEW_PARAM = `/edge/ami/envoy/${NEW}`;
const FLEET = '/edge/ami/envoy/latest';
const OLD_AMI = (r: string) => `ami-0old${r.length.toString().padStart(13, '0')}`;
const NEW_AMI = (r: string) => `ami-0new${r.length.toString().padStart(13, '0')}`;

/** Every region runs an old image and has the new version published. */
function published(): FakeAws {
  const aws = new FakeAws(REGIONS);
  for (const r of REGIONS) {
    aws.addImage(r, { imageId: OLD_AMI(r), created: '2026-11-01T00:00:00.000Z' });
    aws.addImage(r, { imageId: NEW_AMI(r), created: '2026-12-05T06:50:00.000Z' });
    aws.region(r).parameters.set(FLEET, OLD_AMI(r));
    aws.region(r).parameters.set(NEW_PARAM, NEW_AMI(r));
  }
  return aws;
}

describe('ami promote', () => {
  test('points the fleet parameter at the version in the given regions only, after DescribeImages says it is available there', async () => {
    const aws = published();
    const report = await promote(fakeContext(REGIONS), NEW, ['us-east-1', 'ap-northeast-1']);
    expect(report).toMatchObject({ ok: true, changed: ['us-east-1', 'ap-northeast-1'], unchanged: [], notAttempted: [] });
    expect(aws.region('us-east-1').parameters.get(FLEET)).toBe(NEW_AMI('us-east-1'));
    expect(aws.region('ap-northeast-1').parameters.get(FLEET)).toBe(NEW_AMI('ap-northeast-1'));
    expect(aws.region('eu-west-1').parameters.get(FLEET)).toBe(OLD_AMI('eu-west-1'));
    for (const r of ['us-east-1', 'ap-northeast-1']) {
      const calls = aws.calls.filter((c) => c.startsWith(`${r} `));
      expect(calls.indexOf(`${r} DescribeImages`)).toBeGreaterThanOrEqual(0);
      expect(calls.indexOf(`${r} DescribeImages`)).toBeLessThan(calls.indexOf(`${r} PutParameter`));
    }
    expect(aws.calls.filter((c) => c.startsWith('eu-west-1'))).toEqual([]);
    expect(report.lines.join('\n')).toContain('npx cdk deploy edge-fleet-us-east-1 edge-fleet-ap-northeast-1');
  });

  test('--wave regions come from the config (the CLI resolves them; here wave 2 of the defaults)', async () => {
    const aws = published();
    const ctx = fakeContext(REGIONS);
    const report = await promote(ctx, NEW, ctx.config.pipeline.waves[1]);
    expect(report.changed).toEqual(['eu-west-1', 'ap-northeast-1']);
    expect(aws.region('us-east-1').parameters.get(FLEET)).toBe(OLD_AMI('us-east-1'));
  });

  test('an image still pending in one region: nothing changes anywhere, and the region is named', async () => {
    const aws = published();
    aws.region('eu-west-1').images[1].state = 'pending';
    const report = await promote(fakeContext(REGIONS), NEW, REGIONS);
    expect(report).toMatchObject({ ok: false, changed: [], notAttempted: REGIONS });
    expect(report.lines).toEqual([`promote ${NEW}: nothing changed; fix these first:`, `  eu-west-1: ${NEW_AMI('eu-west-1')} is pending, not available (a copy still in progress: run again later)`]);
    for (const r of REGIONS) expect(aws.region(r).parameters.get(FLEET)).toBe(OLD_AMI(r));
    expect(aws.calls.some((c) => c.endsWith('PutParameter'))).toBe(false);
  });

  test('a version missing in a region, an image deregistered, an x86 image: each refused by name, nothing changed', async () => {
    const aws = published();
    aws.region('us-east-1').parameters.delete(NEW_PARAM);
    aws.region('eu-west-1').images[1].state = 'deregistered';
    aws.region('ap-northeast-1').images[1].architecture = 'x86_64';
    const report = await promote(fakeContext(REGIONS), NEW, REGIONS);
    expect(report.ok).toBe(false);
    expect(report.lines.slice(1)).toEqual([
      `  us-east-1: no version ${NEW} here (${NEW_PARAM} does not exist; npm run ami -- status lists the versions)`,
      `  eu-west-1: ${NEW_PARAM} names ${NEW_AMI('eu-west-1')}, which does not exist here (deregistered?)`,
      `  ap-northeast-1: ${NEW_AMI('ap-northeast-1')} is x86_64; the fleet runs Graviton (arm64)`,
    ]);
    for (const r of REGIONS) expect(aws.region(r).parameters.get(FLEET)).toBe(OLD_AMI(r));
  });

  test('EC2 throttling (RequestLimitExceeded) on the check is retried', async () => {
    const aws = published();
    aws.failNext('eu-west-1', 'DescribeImages', ec2Error('RequestLimitExceeded', 'Request limit exceeded.'), ec2Error('RequestLimitExceeded', 'Request limit exceeded.'));
    const report = await promote(fakeContext(REGIONS), NEW, REGIONS);
    expect(report.ok).toBe(true);
    expect(aws.calls.filter((c) => c === 'eu-west-1 DescribeImages')).toHaveLength(3);
  });

  test('a region failing halfway: the regions before it are promoted, the report names them, the rest untouched', async () => {
    const aws = published();
    aws.failNext('eu-west-1', 'PutParameter', ...Array.from({ length: 6 }, () => throttled()));
    const report = await promote(fakeContext(REGIONS), NEW, REGIONS);
    expect(report).toMatchObject({ ok: false, changed: ['us-east-1'], failed: { region: 'eu-west-1' }, notAttempted: ['ap-northeast-1'] });
    expect(aws.region('us-east-1').parameters.get(FLEET)).toBe(NEW_AMI('us-east-1'));
    expect(aws.region('eu-west-1').parameters.get(FLEET)).toBe(OLD_AMI('eu-west-1'));
    expect(aws.region('ap-northeast-1').parameters.get(FLEET)).toBe(OLD_AMI('ap-northeast-1'));
    const text = report.lines.join('\n');
    expect(text).toContain(`promoted ${NEW} (${FLEET}): changed us-east-1`);
    expect(text).toContain('FAILED in eu-west-1: AWS kept throttling the calls (ThrottlingException) after retries');
    expect(text).toContain('not attempted: ap-northeast-1');
    expect(text).toContain(`us-east-1: ${OLD_AMI('us-east-1')} -> ${NEW_AMI('us-east-1')}`);
  });

  test('a region already on the version is left as it is; a first promote creates the parameter', async () => {
    const aws = published();
    aws.region('us-east-1').parameters.set(FLEET, NEW_AMI('us-east-1'));
    aws.region('eu-west-1').parameters.delete(FLEET);
    const report = await promote(fakeContext(REGIONS), NEW, REGIONS);
    expect(report).toMatchObject({ ok: true, changed: ['eu-west-1', 'ap-northeast-1'], unchanged: ['us-east-1'] });
    expect(aws.region('eu-west-1').parameters.get(FLEET)).toBe(NEW_AMI('eu-west-1'));
    expect(aws.calls.filter((c) => c === 'us-east-1 PutParameter')).toEqual([]);
  });
});
