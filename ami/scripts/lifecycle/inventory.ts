/**
 * Read-only: what one region holds of the image's life. The versions (their parameters), the
 * promoted image (the parameter the fleet reads), the images the bake made, and every image a
 * launch template or an instance uses (what `prune` must never remove).
 */
import { DescribeImagesCommand, DescribeInstancesCommand, DescribeLaunchTemplateVersionsCommand } from '@aws-sdk/client-ec2';
import { GetParameterCommand, GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { PlatformConfig } from '../../../lib/config';
import { RegionClients, RetryOptions, allPages, isNamed, withRetry } from './aws';
import { versionPrefix } from './names';

export interface ImageInfo {
  readonly imageId: string;
  readonly name?: string;
  readonly state?: string;
  readonly created?: string;
  readonly snapshotIds: readonly string[];
}

export interface RegionInventory {
  readonly region: string;
  /** version -> AMI id, from `/<platform>/ami/envoy/<version>`. */
  readonly versions: ReadonlyMap<string, string>;
  /** The AMI id the fleet's parameter names (what the next deploy launches); undefined when unset. */
  readonly promoted?: string;
  /** The bake's images here (tagged platform=<name>, component=proxy-ami), newest first. */
  readonly images: readonly ImageInfo[];
  /** AMI ids in the $Latest or $Default version of any launch template here, with the template. */
  readonly launchTemplateImages: ReadonlyMap<string, readonly string[]>;
  /** AMI id -> instances (pending, running, stopping or stopped) launched from it. */
  readonly instanceImages: ReadonlyMap<string, number>;
}

/** The version whose parameter names `imageId` here (the newest such version). */
export function versionOf(inventory: Pick<RegionInventory, 'versions'>, imageId: string | undefined): string | undefined {
  if (!imageId) return undefined;
  return [...inventory.versions.entries()].filter(([, ami]) => ami === imageId).map(([v]) => v).sort().pop();
}

export async function readVersions(clients: RegionClients, config: PlatformConfig, retry: RetryOptions): Promise<Map<string, string>> {
  const prefix = versionPrefix(config);
  const parameters = await allPages(async (NextToken) => {
    const page = await clients.ssm.send(new GetParametersByPathCommand({ Path: prefix.replace(/\/$/, ''), Recursive: false, MaxResults: 10, NextToken }));
    return { items: page.Parameters, next: page.NextToken };
  }, retry);
  const versions = new Map<string, string>();
  for (const p of parameters) {
    if (!p.Name || !p.Value || p.Name === config.amiParameterName) continue;
    versions.set(p.Name.slice(prefix.length), p.Value);
  }
  return versions;
}

export async function readPromoted(clients: RegionClients, config: PlatformConfig, retry: RetryOptions): Promise<string | undefined> {
  try {
    return (await withRetry(() => clients.ssm.send(new GetParameterCommand({ Name: config.amiParameterName })), retry)).Parameter?.Value;
  } catch (error) {
    if (isNamed(error, 'ParameterNotFound')) return undefined;
    throw error;
  }
}

export async function readImages(clients: RegionClients, config: PlatformConfig, retry: RetryOptions): Promise<ImageInfo[]> {
  const images = await allPages(async (NextToken) => {
    const page = await clients.ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: [
          { Name: 'tag:platform', Values: [config.platformName] },
          { Name: 'tag:component', Values: ['proxy-ami'] },
        ],
        MaxResults: 100,
        NextToken,
      }),
    );
    return { items: page.Images, next: page.NextToken };
  }, retry);
  return images
    .filter((i) => i.ImageId)
    .map((i) => ({
      imageId: i.ImageId!,
      name: i.Name,
      state: i.State,
      created: i.CreationDate,
      snapshotIds: (i.BlockDeviceMappings ?? []).map((b) => b.Ebs?.SnapshotId).filter((s): s is string => Boolean(s)),
    }))
    .sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || b.imageId.localeCompare(a.imageId));
}

/**
 * Images of every launch template's $Latest and $Default version in the region: without a
 * template id, DescribeLaunchTemplateVersions with those two values describes them for all
 * templates (EC2 API reference). The fleet's group uses its template's latest version.
 */
export async function readLaunchTemplateImages(clients: RegionClients, retry: RetryOptions): Promise<Map<string, string[]>> {
  const versions = await allPages(async (NextToken) => {
    const page = await clients.ec2.send(new DescribeLaunchTemplateVersionsCommand({ Versions: ['$Latest', '$Default'], MaxResults: 200, NextToken }));
    return { items: page.LaunchTemplateVersions, next: page.NextToken };
  }, retry);
  const images = new Map<string, string[]>();
  for (const v of versions) {
    const imageId = v.LaunchTemplateData?.ImageId;
    if (!imageId) continue;
    const where = `${v.LaunchTemplateName ?? v.LaunchTemplateId} v${v.VersionNumber}`;
    images.set(imageId, [...new Set([...(images.get(imageId) ?? []), where])]);
  }
  return images;
}

export async function readInstanceImages(clients: RegionClients, retry: RetryOptions): Promise<Map<string, number>> {
  const reservations = await allPages(async (NextToken) => {
    const page = await clients.ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }], MaxResults: 1000, NextToken }),
    );
    return { items: page.Reservations, next: page.NextToken };
  }, retry);
  const counts = new Map<string, number>();
  for (const instance of reservations.flatMap((r) => r.Instances ?? [])) {
    if (instance.ImageId) counts.set(instance.ImageId, (counts.get(instance.ImageId) ?? 0) + 1);
  }
  return counts;
}

export async function readInventory(clients: RegionClients, config: PlatformConfig, region: string, retry: RetryOptions): Promise<RegionInventory> {
  const [versions, promoted, images, launchTemplateImages, instanceImages] = await Promise.all([
    readVersions(clients, config, retry),
    readPromoted(clients, config, retry),
    readImages(clients, config, retry),
    readLaunchTemplateImages(clients, retry),
    readInstanceImages(clients, retry),
  ]);
  return { region, versions, promoted, images, launchTemplateImages, instanceImages };
}
