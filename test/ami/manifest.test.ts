import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../../lib/config';
import { checkPackerVersion } from '../../ami/scripts/build';
import { imagesFromManifest, putParameterCommands } from '../../ami/scripts/lib/manifest';

const config = resolveConfig();
const regions = config.regions.map((r) => r.region);
const manifest = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'packer-manifest.json'), 'utf8'));

describe('publishing a bake: packer manifest -> SSM parameter per region', () => {
  test('reads every region\'s AMI id from the last run only', () => {
    const images = imagesFromManifest(manifest);
    expect(images.runUuid).toBe('5e6f7a8b-last-run');
    expect([...images.amis.keys()]).toEqual(regions);
    for (const ami of images.amis.values()) expect(ami).toMatch(/^ami-[0-9a-f]{17}$/);
    expect(images.customData).toMatchObject({ envoy_version: '1.34.1', git_commit: 'abc1234' });
  });

  test('one put-parameter per fleet region, as an aws:ec2:image, overwriting the old id', () => {
    const images = imagesFromManifest(manifest);
    const commands = putParameterCommands(images, regions, config.amiParameterName);
    expect(commands).toHaveLength(13);
    expect(commands[0]).toEqual([
      'ssm', 'put-parameter', '--region', 'us-east-1', '--name', '/edge/ami/envoy/latest', '--type', 'String',
      '--data-type', 'aws:ec2:image', '--value', images.amis.get('us-east-1'), '--overwrite',
    ]);
    expect(commands.map((c) => c[3])).toEqual(regions);
    expect(new Set(commands.map((c) => c[11])).size).toBe(13);
  });

  test('a bake that misses a fleet region publishes nothing', () => {
    const partial = { ...manifest, last_run_uuid: '0a1b2c3d-old-run' };
    expect(() => putParameterCommands(imagesFromManifest(partial), regions, '/edge/ami/envoy/latest')).toThrow(
      /no AMI for fleet region\(s\) us-west-2, ca-central-1, .*; nothing was published/,
    );
  });

  test.each([
    ['not a manifest', { builds: 'x' }, 'expected {"builds"'],
    ['no build in the last run', { ...manifest, last_run_uuid: 'other' }, 'no build "envoy" in the last run other'],
    ['a broken artifact id', { builds: [{ ...manifest.builds[1], artifact_id: 'us-east-1:ami-zz' }], last_run_uuid: manifest.last_run_uuid }, 'artifact "us-east-1:ami-zz" is not <region>:<ami-id>'],
    ['a region twice', { builds: [{ ...manifest.builds[1], artifact_id: 'us-east-1:ami-0123456789abcdef0,us-east-1:ami-0123456789abcdef1' }], last_run_uuid: manifest.last_run_uuid }, 'region us-east-1 is listed twice'],
    ['another builder', { builds: [{ ...manifest.builds[1], builder_type: 'docker' }], last_run_uuid: manifest.last_run_uuid }, 'is a docker, expected amazon-ebs'],
  ])('%s is refused with a clear error', (_name, input, message) => {
    expect(() => imagesFromManifest(input)).toThrow(message);
  });
});

describe('ami:build packer version check', () => {
  test('Debian\'s packer 1.6.6 is too old for the template; current packer is fine', () => {
    expect(checkPackerVersion('Packer v1.6.6')).toMatch(/packer 1\.6\.6 is too old: the template needs >= 1\.11/);
    expect(checkPackerVersion('Packer v1.11.2\n')).toBeUndefined();
    expect(checkPackerVersion('Packer v1.14.0')).toBeUndefined();
    expect(checkPackerVersion('nonsense')).toMatch(/cannot read the packer version/);
  });
});

describe('unverified checksums', () => {
  test('the bake refuses to start while a checksum written offline is still in the sources, naming the field', () => {
    const { unverifiedChecksumFields, UNVERIFIED_CHECKSUMS } = require('../../ami/scripts/build') as typeof import('../../ami/scripts/build');
    const [field, value] = Object.entries(UNVERIFIED_CHECKSUMS)[0];
    expect(unverifiedChecksumFields(`sha256: "${value}"`)).toEqual([field]);
    expect(unverifiedChecksumFields('sha256: "0000000000000000000000000000000000000000000000000000000000000000"')).toEqual([]);
  });
});

describe('Envoy 1.39.0 and the Salt onedir checksum', () => {
  const { checksumOverrides, checksumRefusals, UNVERIFIED_CHECKSUMS } = require('../../ami/scripts/build') as typeof import('../../ami/scripts/build');
  const { readFileSync } = require('node:fs') as typeof import('node:fs');
  const { join } = require('node:path') as typeof import('node:path');
  const sources = () =>
    ['ami/salt/pillar/envoy.sls', 'ami/packer/variables.pkr.hcl'].map((f) => readFileSync(join(__dirname, '../..', f), 'utf8')).join('\n');

  test('the pillar pins envoy-1.39.0-linux-aarch_64 with the sha256 public projects check it against', () => {
    const pillar = readFileSync(join(__dirname, '../../ami/salt/pillar/envoy.sls'), 'utf8');
    expect(pillar).toContain('version: "1.39.0"');
    expect(pillar).toContain('url: "https://github.com/envoyproxy/envoy/releases/download/v1.39.0/envoy-1.39.0-linux-aarch_64"');
    expect(pillar).toContain('sha256: "ee53a4f5375566f15944dc9cb03afb1fc228df38f61737c677f139213215afcf"');
  });

  test('only the Salt onedir checksum still stops the bake, naming the field and the option that passes a verified one', () => {
    expect(checksumRefusals(sources(), {})).toEqual(['ami/packer/variables.pkr.hcl salt_onedir_sha256 (or pass --salt-onedir-sha256=<sha256 you verified>)']);
    const verified = 'a'.repeat(64);
    expect(checksumRefusals(sources(), checksumOverrides([`--salt-onedir-sha256=${verified}`]))).toEqual([]);
  });

  test.each([
    ['not hex', '--salt-onedir-sha256=xyz', 'must be a sha256 in hex (64 characters 0-9a-f), got "xyz"'],
    ['empty', '--salt-onedir-sha256', 'must be a sha256 in hex'],
    ['the placeholder itself', `--salt-onedir-sha256=${Object.values(UNVERIFIED_CHECKSUMS)[0]}`, 'that is the unverified placeholder'],
  ])('a --salt-onedir-sha256 that is %s is refused', (_name, arg, message) => {
    expect(() => checksumOverrides([arg])).toThrow(message);
  });
});
