/**
 * Packer's manifest post-processor output -> the AMI id of each region -> the SSM parameter
 * writes that publish it to the fleet (the fleet stack resolves the parameter at deploy time).
 */

export interface ManifestBuild {
  readonly name: string;
  readonly builder_type: string;
  readonly artifact_id: string;
  readonly packer_run_uuid: string;
  readonly custom_data?: Record<string, string>;
}

export interface PackerManifest {
  readonly builds: readonly ManifestBuild[];
  readonly last_run_uuid: string;
}

export interface BakedImages {
  readonly runUuid: string;
  /** region -> AMI id, in the order packer reported them. */
  readonly amis: ReadonlyMap<string, string>;
  readonly customData: Readonly<Record<string, string>>;
}

const AMI_ID = /^ami-[0-9a-f]{8,17}$/;
const REGION = /^[a-z]{2}(-gov)?-[a-z]+-[0-9]$/;

/** Reads the images of the manifest's last run; throws naming what is wrong. */
export function imagesFromManifest(manifest: unknown, buildName = 'envoy'): BakedImages {
  const m = manifest as Partial<PackerManifest> | null;
  if (!m || !Array.isArray(m.builds) || typeof m.last_run_uuid !== 'string') {
    throw new Error('manifest: expected {"builds": [...], "last_run_uuid": "..."} from the manifest post-processor');
  }
  const build = [...m.builds].reverse().find((b) => b.packer_run_uuid === m.last_run_uuid && b.name === buildName);
  if (!build) throw new Error(`manifest: no build "${buildName}" in the last run ${m.last_run_uuid}`);
  if (build.builder_type !== 'amazon-ebs') throw new Error(`manifest: build "${buildName}" is a ${build.builder_type}, expected amazon-ebs`);
  const amis = new Map<string, string>();
  for (const pair of String(build.artifact_id).split(',')) {
    const [region, ami] = pair.split(':');
    if (!REGION.test(region ?? '') || !AMI_ID.test(ami ?? '')) {
      throw new Error(`manifest: artifact "${pair}" is not <region>:<ami-id>`);
    }
    if (amis.has(region)) throw new Error(`manifest: region ${region} is listed twice`);
    amis.set(region, ami);
  }
  return { runUuid: m.last_run_uuid, amis, customData: build.custom_data ?? {} };
}

/** Fails unless every fleet region has an image (a partial bake must not be published). */
export function checkAllRegions(images: BakedImages, fleetRegions: readonly string[]): void {
  const missing = fleetRegions.filter((r) => !images.amis.has(r));
  if (missing.length) throw new Error(`manifest: no AMI for fleet region(s) ${missing.join(', ')}; nothing was published`);
}

/** The `aws` argv, one per fleet region, that points the fleet's SSM parameter at the new image. */
export function putParameterCommands(images: BakedImages, fleetRegions: readonly string[], parameterName: string): string[][] {
  checkAllRegions(images, fleetRegions);
  return fleetRegions.map((region) => [
    'ssm',
    'put-parameter',
    '--region',
    region,
    '--name',
    parameterName,
    '--type',
    'String',
    '--data-type',
    'aws:ec2:image',
    '--value',
    images.amis.get(region) as string,
    '--overwrite',
  ]);
}
