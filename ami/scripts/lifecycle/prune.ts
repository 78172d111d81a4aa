/**
 * `prune --keep N`: per region, deregisters the bake's images beyond the newest N and deletes their
 * snapshots and version parameters; never an image that the fleet's parameter names, that a launch
 * template's $Latest or $Default version uses, or that an instance runs. A dry run unless `--yes`.
 * Every region is read and planned first (a region that cannot be read changes nothing anywhere);
 * then region by region, stopping at the first failure.
 */
import { DeleteSnapshotCommand, DeregisterImageCommand } from '@aws-sdk/client-ec2';
import { DeleteParameterCommand } from '@aws-sdk/client-ssm';
import { describeError, isNamed, withRetry } from './aws';
import { ChangeReport, CommandContext, regionByRegion, summaryLines } from './context';
import { ImageInfo, RegionInventory, readInventory, versionOf } from './inventory';
import { versionParameter } from './names';

export interface PrunePlan {
  readonly region: string;
  readonly remove: readonly (ImageInfo & { readonly versions: readonly string[] })[];
  /** Images past the newest N that stay, and why. */
  readonly kept: readonly { readonly imageId: string; readonly why: string }[];
}

/** What to remove in one region; pure, from what the region holds. */
export function planPrune(inv: RegionInventory, keep: number, fleetParameter: string): PrunePlan {
  const reasons = (imageId: string): string[] => {
    const why: string[] = [];
    if (inv.promoted === imageId) why.push(`the fleet's parameter ${fleetParameter} names it`);
    const templates = inv.launchTemplateImages.get(imageId);
    if (templates) why.push(`launch template ${templates.join(', ')} uses it`);
    const instances = inv.instanceImages.get(imageId);
    if (instances) why.push(`${instances} instance(s) run it`);
    return why;
  };
  const older = inv.images.filter((i) => i.state !== 'deregistered' && i.state !== 'pending').slice(keep);
  const remove: PrunePlan['remove'][number][] = [];
  const kept: PrunePlan['kept'][number][] = [];
  for (const image of older) {
    const why = reasons(image.imageId);
    if (why.length) kept.push({ imageId: image.imageId, why: why.join('; ') });
    else remove.push({ ...image, versions: [...inv.versions.entries()].filter(([, ami]) => ami === image.imageId).map(([v]) => v) });
  }
  return { region: inv.region, remove, kept };
}

/**
 * Deregisters the image with its snapshots (DeregisterImage DeleteAssociatedSnapshots; a snapshot
 * another image shares is skipped by EC2), deletes any snapshot EC2 did not, then the version
 * parameters that named the image. A rerun after a failure finds what is left.
 */
async function removeImage(ctx: CommandContext, region: string, image: PrunePlan['remove'][number]): Promise<void> {
  const { ec2, ssm } = ctx.clients(region);
  let results: { SnapshotId?: string; ReturnCode?: string }[] = [];
  try {
    results = (await withRetry(() => ec2.send(new DeregisterImageCommand({ ImageId: image.imageId, DeleteAssociatedSnapshots: true })), ctx.retry)).DeleteSnapshotResults ?? [];
  } catch (error) {
    // Already gone (a rerun): go on with its snapshots and parameters.
    if (!isNamed(error, 'InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable')) throw error;
  }
  const done = new Set(results.filter((r) => r.ReturnCode === 'success' || r.ReturnCode === 'skipped').map((r) => r.SnapshotId));
  for (const snapshotId of image.snapshotIds.filter((s) => !done.has(s))) {
    try {
      await withRetry(() => ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })), ctx.retry);
    } catch (error) {
      if (isNamed(error, 'InvalidSnapshot.NotFound')) continue;
      throw new Error(`${image.imageId} is deregistered but its snapshot ${snapshotId} is not deleted (${describeError(error)}); delete it: aws ec2 delete-snapshot --region ${region} --snapshot-id ${snapshotId}`);
    }
  }
  for (const version of image.versions) {
    try {
      await withRetry(() => ssm.send(new DeleteParameterCommand({ Name: versionParameter(ctx.config, version) })), ctx.retry);
    } catch (error) {
      if (!isNamed(error, 'ParameterNotFound')) throw error;
    }
  }
  ctx.log({ region, msg: 'pruned', imageId: image.imageId, snapshots: image.snapshotIds, versions: image.versions });
}

export async function prune(ctx: CommandContext, regions: readonly string[], keep: number, act: boolean): Promise<ChangeReport & { readonly plans: readonly PrunePlan[] }> {
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`--keep: must be a whole number of images to keep per region, at least 1 (got ${keep})`);
  const read = await Promise.all(
    regions.map(async (region) => {
      try {
        return { region, inventory: await readInventory(ctx.clients(region), ctx.config, region, ctx.retry) };
      } catch (error) {
        return { region, error: describeError(error) };
      }
    }),
  );
  const unreadable = read.filter((r) => r.error);
  if (unreadable.length) {
    const lines = ['prune: nothing changed; could not read:', ...unreadable.map((r) => `  ${r.region}: ${r.error}`)];
    return { ok: false, changed: [], unchanged: [], notAttempted: [...regions], lines, plans: [] };
  }
  const plans = read.map((r) => planPrune(r.inventory!, keep, ctx.config.amiParameterName));
  const lines: string[] = [];
  for (const plan of plans) {
    const inv = read.find((r) => r.region === plan.region)!.inventory!;
    lines.push(`${plan.region}: ${plan.remove.length ? `${act ? 'removing' : 'would remove'} ${plan.remove.length}` : 'nothing to remove'}`);
    for (const image of plan.remove) lines.push(`  - ${versionOf(inv, image.imageId) ?? '(no version)'} ${image.imageId} (${image.created ?? '?'}) and snapshot(s) ${image.snapshotIds.join(', ') || 'none'}`);
    for (const k of plan.kept) lines.push(`  = keeps ${k.imageId}: ${k.why}`);
  }
  if (!act) {
    lines.push('dry run: nothing changed; run again with --yes to remove them');
    return { ok: true, changed: [], unchanged: [...regions], notAttempted: [], lines, plans };
  }
  const byRegion = new Map(plans.map((p) => [p.region, p]));
  const result = await regionByRegion(ctx, regions, async (region) => {
    const plan = byRegion.get(region)!;
    const removed: string[] = [];
    for (const image of plan.remove) {
      try {
        await removeImage(ctx, region, image);
      } catch (error) {
        throw new Error(`${image.imageId}: ${describeError(error)}; ${removed.length ? `removed here before it: ${removed.join(', ')}` : 'nothing removed here'}`);
      }
      removed.push(image.imageId);
    }
    return plan.remove.length ? 'changed' : 'unchanged';
  });
  lines.push(...summaryLines('prune', result, false));
  if (result.failed) lines.push('run the same prune again to finish: what is already removed is not looked for again');
  return { ok: !result.failed, ...result, lines, plans };
}
