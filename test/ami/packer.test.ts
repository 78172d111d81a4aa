import { resolveConfig } from '../../lib/config';
import { checkBakeScripts } from '../../ami/scripts/lib/bake-scripts';
import { AL2023_AARCH64_GRAINS } from '../../ami/scripts/lib/jinja';
import { bakeInputs, checkPackerTemplate, loadPackerTemplate, PackerTemplate, packerVarFile, variableDefault } from '../../ami/scripts/lib/packer';
import { amiPaths } from '../../ami/scripts/lib/paths';
import { loadPillar } from '../../ami/scripts/lib/salt-tree';
import { AmiCopy, copyAmiTree } from './support';

const config = resolveConfig();
const { pillar } = loadPillar(amiPaths().pillarRoot, AL2023_AARCH64_GRAINS);
const inputs = bakeInputs(config, pillar);

describe('Packer template (ami/packer)', () => {
  let template: PackerTemplate;
  beforeAll(async () => {
    template = await loadPackerTemplate(amiPaths().packerDir);
  });

  test('parses as HCL2 and has every setting the image promises', () => {
    expect(checkPackerTemplate(template, inputs, config.fleet.rootVolumeGiB)).toEqual([]);
  });

  test('its regions are the platform config regions, built in the home region', () => {
    expect(variableDefault(template, 'fleet_regions')).toEqual(config.regions.map((r) => r.region));
    expect(variableDefault(template, 'fleet_regions')).toHaveLength(13);
    expect(variableDefault(template, 'build_region')).toBe(config.homeRegion);
    expect(variableDefault(template, 'instance_type')).toBe(config.fleet.instanceType);
    expect(variableDefault(template, 'envoy_version')).toBe((pillar.envoy as { version: string }).version);
  });

  test('a config with other regions, instance type or home region no longer matches', () => {
    const other = resolveConfig({ regions: ['eu-west-1', 'eu-central-1'], homeRegion: 'eu-west-1', fleet: { instanceType: 'm7g.xlarge' } });
    const problems = checkPackerTemplate(template, bakeInputs(other, pillar), other.fleet.rootVolumeGiB);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('variable "fleet_regions": default'),
        expect.stringContaining('variable "build_region": default "us-east-1" must equal "eu-west-1"'),
        expect.stringContaining('variable "instance_type": default "c7g.large" must equal "m7g.xlarge"'),
      ]),
    );
  });

  test('a home region outside the fleet is refused (the image would not land in a fleet region)', () => {
    const other = resolveConfig({ regions: ['eu-west-1', 'eu-central-1'] });
    expect(checkPackerTemplate(template, bakeInputs(other, pillar), 20)).toEqual(
      expect.arrayContaining([expect.stringContaining('build region us-east-1 (config.homeRegion) must be one of the fleet regions')]),
    );
  });

  test('the var file ami:build hands to packer carries the config values and the commit', () => {
    expect(packerVarFile(inputs, 'abc123')).toEqual({
      platform_name: 'edge',
      build_region: 'us-east-1',
      fleet_regions: config.regions.map((r) => r.region),
      instance_type: 'c7g.large',
      envoy_version: inputs.envoy_version,
      git_commit: 'abc123',
    });
  });
});

describe('Packer template checks fail on a broken template', () => {
  let copy: AmiCopy;
  beforeEach(() => {
    copy = copyAmiTree();
  });
  afterEach(() => copy.remove());

  const broken = async (file: string, change: (text: string) => string) => {
    copy.edit(`packer/${file}`, change);
    return checkPackerTemplate(await loadPackerTemplate(copy.packerDir), inputs, config.fleet.rootVolumeGiB);
  };

  test.each([
    ['IMDSv1 allowed on the build instance', 'envoy.pkr.hcl', (t: string) => t.replace('http_tokens                 = "required"', 'http_tokens                 = "optional"'), 'metadata_options.http_tokens'],
    ['image without imds_support', 'envoy.pkr.hcl', (t: string) => t.replace(/ *imds_support = "v2.0"\n/, ''), 'imds_support must be "v2.0"'],
    ['unencrypted boot', 'envoy.pkr.hcl', (t: string) => t.replace('encrypt_boot = true', 'encrypt_boot = false'), 'encrypt_boot must be true'],
    ['any AMI owner', 'envoy.pkr.hcl', (t: string) => t.replace('"137112412989"', '"self"'), 'source_ami_filter.owners'],
    ['x86 base image', 'envoy.pkr.hcl', (t: string) => t.replace('architecture        = "arm64"', 'architecture        = "x86_64"'), 'architecture must be arm64'],
    ['no copy to the fleet regions', 'envoy.pkr.hcl', (t: string) => t.replace(/ami_regions = .*\n/, 'ami_regions = ["us-west-2"]\n'), 'ami_regions must be var.fleet_regions'],
    ['no check of Envoy', 'envoy.pkr.hcl', (t: string) => t.replace('scripts/check-envoy.sh', 'scripts/other.sh'), 'must run check-envoy.sh'],
    ['cleanup before the check', 'envoy.pkr.hcl', (t: string) => t.replace('scripts/check-envoy.sh', 'scripts/TMP').replace('scripts/cleanup.sh', 'scripts/check-envoy.sh').replace('scripts/TMP', 'scripts/cleanup.sh'), 'must run in order'],
    ['a drifted region list', 'variables.pkr.hcl', (t: string) => t.replace('    "sa-east-1",\n', ''), 'variable "fleet_regions"'],
    ['an unrecorded source AMI', 'envoy.pkr.hcl', (t: string) => t.replace('SourceAMI     = "{{ .SourceAMI }}"', 'SourceAMI     = "unknown"'), 'tags.SourceAMI'],
  ])('%s', async (_name, file, change, expected) => {
    expect((await broken(file, change)).join('\n')).toContain(expected);
  });

  test.each([
    ['cleanup.sh', 'rm -f /etc/ssh/ssh_host_*\n', '', 'scripts/cleanup.sh: must remove SSH host keys'],
    ['cleanup.sh', 'cloud-init clean --logs\n', '', 'scripts/cleanup.sh: must clean cloud-init state'],
    ['install-salt.sh', '| sha256sum --check --strict -', '', 'must verify the Salt onedir'],
    ['check-envoy.sh', 'systemctl start envoy.service', 'true', 'must start Envoy through its real (hardened) unit'],
  ])('a bake script that no longer keeps its promise (%s)', (script, from, to, expected) => {
    copy.edit(`packer/scripts/${script}`, (t) => t.replace(from, to));
    expect(checkBakeScripts(copy.packerDir).join('\n')).toContain(expected);
  });

  test('the bake scripts keep their promises', () => {
    expect(checkBakeScripts(copy.packerDir)).toEqual([]);
  });

  test('text that is not HCL2 is reported as such', async () => {
    copy.edit('packer/envoy.pkr.hcl', (t) => t.replace('build {', 'build {{'));
    await expect(loadPackerTemplate(copy.packerDir)).rejects.toThrow(/envoy\.pkr\.hcl: not valid HCL2/);
  });
});
