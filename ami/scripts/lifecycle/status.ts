/**
 * `status`: per region, the version the fleet runs (its instances' image), the promoted version
 * (the parameter the fleet reads), and the bake's images present, with their age. Read-only.
 */
import { describeError } from './aws';
import { CommandContext } from './context';
import { RegionInventory, readInventory, versionOf } from './inventory';

export interface RegionStatus {
  readonly region: string;
  readonly promoted?: { readonly imageId: string; readonly version?: string };
  /** Images the region's instances run (bake images only), with instance counts. */
  readonly running: readonly { readonly imageId: string; readonly version?: string; readonly instances: number }[];
  readonly images: readonly { readonly imageId: string; readonly version?: string; readonly state?: string; readonly ageDays?: number; readonly name?: string }[];
  readonly error?: string;
}

export function regionStatus(inv: RegionInventory, now: Date): RegionStatus {
  const ours = new Set(inv.images.map((i) => i.imageId));
  return {
    region: inv.region,
    promoted: inv.promoted ? { imageId: inv.promoted, version: versionOf(inv, inv.promoted) } : undefined,
    running: [...inv.instanceImages.entries()]
      .filter(([imageId]) => ours.has(imageId))
      .map(([imageId, instances]) => ({ imageId, version: versionOf(inv, imageId), instances })),
    images: inv.images.map((i) => ({
      imageId: i.imageId,
      version: versionOf(inv, i.imageId),
      state: i.state,
      name: i.name,
      ageDays: i.created ? Math.floor((now.getTime() - Date.parse(i.created)) / 86_400_000) : undefined,
    })),
  };
}

export async function status(ctx: CommandContext, regions: readonly string[]): Promise<{ ok: boolean; regions: RegionStatus[]; lines: string[] }> {
  const results = await Promise.all(
    regions.map(async (region): Promise<RegionStatus> => {
      try {
        return regionStatus(await readInventory(ctx.clients(region), ctx.config, region, ctx.retry), ctx.now());
      } catch (error) {
        return { region, running: [], images: [], error: describeError(error) };
      }
    }),
  );
  const label = (v: { imageId: string; version?: string }) => `${v.version ?? '(no version)'} ${v.imageId}`;
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.region}`);
    if (r.error) {
      lines.push(`  could not read: ${r.error}`);
      continue;
    }
    lines.push(`  promoted (${ctx.config.amiParameterName}): ${r.promoted ? label(r.promoted) : 'unset'}`);
    lines.push(`  fleet runs: ${r.running.length ? r.running.map((x) => `${label(x)} on ${x.instances} instance(s)`).join('; ') : 'no instance of a bake image'}`);
    lines.push(`  images: ${r.images.length ? '' : 'none'}`);
    for (const i of r.images) lines.push(`    ${(i.version ?? '(no version)').padEnd(26)} ${i.imageId.padEnd(22)} ${(i.state ?? '?').padEnd(10)} ${i.ageDays ?? '?'} day(s)`);
  }
  return { ok: results.every((r) => !r.error), regions: results, lines };
}
