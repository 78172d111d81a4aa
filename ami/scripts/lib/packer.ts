import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import type { PlatformConfig } from '../../../lib/config';
import { Json, pillarGet } from './jinja';

/**
 * The Packer template as data: every *.pkr.hcl of the directory parsed as HCL2 (by HashiCorp's
 * own HCL parser, compiled to WebAssembly in @cdktf/hcl2json) and merged. Blocks become arrays
 * of objects; expressions that are not literals stay as "${...}" strings.
 */
export type HclObject = { [key: string]: Json };
export type PackerTemplate = HclObject;

function isObject(value: unknown): value is HclObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mergeBlocks(into: HclObject, from: HclObject): void {
  for (const [key, value] of Object.entries(from)) {
    const current = into[key];
    if (Array.isArray(current) && Array.isArray(value)) into[key] = [...current, ...value];
    else if (isObject(current) && isObject(value)) mergeBlocks(current, value);
    else into[key] = value;
  }
}

export async function loadPackerTemplate(dir: string): Promise<PackerTemplate> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.pkr.hcl')).sort();
  if (!files.length) throw new Error(`${dir}: no *.pkr.hcl template`);
  const merged: HclObject = {};
  for (const file of files) {
    let parsed: HclObject;
    try {
      parsed = (await parse(file, readFileSync(join(dir, file), 'utf8'))) as HclObject;
    } catch (err) {
      throw new Error(`${file}: not valid HCL2: ${(err as Error).message}`);
    }
    mergeBlocks(merged, parsed);
  }
  return merged;
}

/** What a bake must be given, from the platform config and the Salt pillar: one source of truth. */
export interface BakeInputs {
  readonly platform_name: string;
  readonly build_region: string;
  readonly fleet_regions: readonly string[];
  readonly instance_type: string;
  readonly envoy_version: string;
}

export function bakeInputs(config: PlatformConfig, pillar: Json): BakeInputs {
  return {
    platform_name: config.platformName,
    build_region: config.homeRegion,
    fleet_regions: config.regions.map((r) => r.region),
    instance_type: config.fleet.instanceType,
    envoy_version: String(pillarGet(pillar, 'envoy:version')),
  };
}

/** The variable file `ami:build` hands to packer (-var-file), including the commit. */
export function packerVarFile(inputs: BakeInputs, gitCommit: string): Record<string, Json> {
  return { ...inputs, fleet_regions: [...inputs.fleet_regions], git_commit: gitCommit };
}

function block(tpl: HclObject, ...path: string[]): HclObject | undefined {
  let node: Json | undefined = tpl;
  for (const key of path) {
    if (Array.isArray(node)) node = node[0];
    if (!isObject(node)) return undefined;
    node = node[key];
  }
  if (Array.isArray(node)) node = node[0];
  return isObject(node) ? node : undefined;
}

/** The default of a declared variable (undefined when it has none). */
export function variableDefault(tpl: PackerTemplate, name: string): Json | undefined {
  return block(tpl, 'variable', name)?.default;
}

const sameList = (a: readonly Json[], b: readonly Json[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Checks the template has the settings the image promises, and that its defaults equal the
 * platform config's (so a plain `packer build` and `ami:build` bake the same thing).
 */
export function checkPackerTemplate(tpl: PackerTemplate, inputs: BakeInputs, minRootVolumeGiB: number): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };

  const packer = block(tpl, 'packer');
  need(typeof packer?.required_version === 'string' && /\d+\.\d+/.test(String(packer.required_version)), 'packer: required_version is required');
  const plugins = packer?.required_plugins;
  const amazon = (Array.isArray(plugins) ? plugins : [plugins]).map((p) => (isObject(p) ? p.amazon : undefined)).find(isObject);
  need(amazon?.source === 'github.com/hashicorp/amazon', 'packer.required_plugins.amazon.source must be github.com/hashicorp/amazon');
  need(typeof amazon?.version === 'string' && /\d/.test(String(amazon.version)), 'packer.required_plugins.amazon.version must pin a version');

  const sources = block(tpl, 'source', 'amazon-ebs');
  const [sourceName, sourceBlocks] = sources ? Object.entries(sources)[0] : [undefined, undefined];
  const src = Array.isArray(sourceBlocks) && isObject(sourceBlocks[0]) ? sourceBlocks[0] : undefined;
  if (!src) {
    problems.push('source "amazon-ebs": missing');
    return problems;
  }
  const str = (v: Json | undefined) => (typeof v === 'string' ? v : '');

  // Base image: AL2023 minimal ARM64, from Amazon's own account.
  const filter = block(src, 'source_ami_filter');
  const filters = isObject(filter?.filters) ? filter.filters : {};
  need(/^al2023-ami-minimal-.*arm64$/.test(str(filters.name)), 'source_ami_filter.filters.name must select al2023-ami-minimal-*-arm64');
  need(filters.architecture === 'arm64', 'source_ami_filter.filters.architecture must be arm64 (the fleet is Graviton)');
  need(Array.isArray(filter?.owners) && sameList(filter.owners as Json[], ['137112412989']), 'source_ami_filter.owners must be exactly Amazon\'s ["137112412989"]');
  need(filter?.most_recent === true, 'source_ami_filter.most_recent must be true');

  // Where and on what it is built.
  need(str(src.region) === '${var.build_region}', 'region must be var.build_region');
  need(str(src.instance_type) === '${var.instance_type}', 'instance_type must be var.instance_type');
  need(/\$\{\s*\[for (\w+) in var\.fleet_regions : \1 if \1 != var\.build_region\]\s*\}|^\$\{var\.fleet_regions\}$/.test(str(src.ami_regions)),
    'ami_regions must be var.fleet_regions (without the build region)');

  // Security of the image and of the build instance.
  need(src.imds_support === 'v2.0', 'imds_support must be "v2.0" (instances from the image require IMDSv2)');
  need(src.encrypt_boot === true, 'encrypt_boot must be true');
  const device = block(src, 'launch_block_device_mappings');
  need(device?.encrypted === true, 'launch_block_device_mappings.encrypted must be true');
  need(device?.volume_type === 'gp3', 'launch_block_device_mappings.volume_type must be gp3');
  const metadata = block(src, 'metadata_options');
  need(metadata?.http_tokens === 'required', 'metadata_options.http_tokens must be "required"');
  need(metadata?.http_endpoint === 'enabled', 'metadata_options.http_endpoint must be "enabled"');

  // What was baked is recorded on the image.
  const tags = str(src.tags) === '${local.tags}' ? block(tpl, 'locals')?.tags : src.tags;
  const tagValues = isObject(tags) ? tags : {};
  need(str(tagValues.EnvoyVersion).includes('var.envoy_version'), 'tags.EnvoyVersion must record var.envoy_version');
  need(str(tagValues.SourceAMI) === '{{ .SourceAMI }}', 'tags.SourceAMI must record {{ .SourceAMI }}');
  need(str(tagValues.GitCommit).includes('var.git_commit'), 'tags.GitCommit must record var.git_commit');
  need(str(tagValues.BuildTime) !== '', 'tags.BuildTime must record the build time');

  // Defaults equal the platform config and the pillar.
  const defaults: Array<[string, Json | undefined, Json]> = [
    ['platform_name', variableDefault(tpl, 'platform_name'), inputs.platform_name],
    ['build_region', variableDefault(tpl, 'build_region'), inputs.build_region],
    ['instance_type', variableDefault(tpl, 'instance_type'), inputs.instance_type],
    ['envoy_version', variableDefault(tpl, 'envoy_version'), inputs.envoy_version],
  ];
  for (const [name, actual, expected] of defaults) {
    need(actual === expected, `variable "${name}": default ${JSON.stringify(actual)} must equal ${JSON.stringify(expected)} (platform config / pillar)`);
  }
  const regions = variableDefault(tpl, 'fleet_regions');
  need(Array.isArray(regions) && sameList(regions, [...inputs.fleet_regions]),
    `variable "fleet_regions": default ${JSON.stringify(regions)} must equal the config's regions ${JSON.stringify(inputs.fleet_regions)}`);
  need(inputs.fleet_regions.includes(inputs.build_region), `build region ${inputs.build_region} (config.homeRegion) must be one of the fleet regions`);
  const rootVolume = variableDefault(tpl, 'root_volume_gib');
  need(typeof rootVolume === 'number' && rootVolume <= minRootVolumeGiB,
    `variable "root_volume_gib": default ${JSON.stringify(rootVolume)} must be <= config.fleet.rootVolumeGiB (${minRootVolumeGiB})`);
  need(str(device?.volume_size) === '${var.root_volume_gib}', 'launch_block_device_mappings.volume_size must be var.root_volume_gib');

  // The build: upload Salt, install it, apply, check Envoy, clean up, record a manifest.
  const build = block(tpl, 'build');
  need(Array.isArray(build?.sources) && (build.sources as Json[]).includes(`source.amazon-ebs.${sourceName}`), `build.sources must include source.amazon-ebs.${sourceName}`);
  const provisioners = isObject(build?.provisioner) ? build.provisioner : {};
  const files = (Array.isArray(provisioners.file) ? provisioners.file : []).filter(isObject);
  need(files.some((f) => /\.\.\/salt\/salt\/?$/.test(str(f.source))), 'a file provisioner must upload ../salt/salt (the state tree)');
  need(files.some((f) => /\.\.\/salt\/pillar\/?$/.test(str(f.source))), 'a file provisioner must upload ../salt/pillar');
  const shells = (Array.isArray(provisioners.shell) ? provisioners.shell : []).filter(isObject);
  const shellText = shells.map((s) => JSON.stringify(s));
  const order = [
    ['install-salt.sh', /scripts\/install-salt\.sh/],
    ['salt-call state.apply', /salt-call --local --retcode-passthrough.*--file-root=.*--pillar-root=.*state\.apply/],
    ['check-envoy.sh', /scripts\/check-envoy\.sh/],
    ['cleanup.sh', /scripts\/cleanup\.sh/],
  ] as const;
  const positions = order.map(([, pattern]) => shellText.findIndex((t) => pattern.test(t)));
  order.forEach(([label], i) => need(positions[i] >= 0, `a shell provisioner must run ${label}`));
  if (positions.every((p) => p >= 0)) {
    need(positions.every((p, i) => i === 0 || p > positions[i - 1]), `shell provisioners must run in order: ${order.map(([l]) => l).join(' -> ')}`);
  }
  need(shellText.some((t) => /SALT_ONEDIR_SHA256=/.test(t)), 'install-salt.sh must be given SALT_ONEDIR_SHA256 (a verified Salt)');
  const manifest = block(build ?? {}, 'post-processor', 'manifest');
  need(manifest !== undefined && /manifest\.json$/.test(str(manifest.output)), 'a manifest post-processor must write manifest.json (ami:build publishes from it)');
  return problems;
}
