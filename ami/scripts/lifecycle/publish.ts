/**
 * `build`'s last step: each region's new AMI id under `/<platform>/ami/envoy/<version>`. The
 * parameter the fleet reads is not touched: `promote` does that, region by region.
 */
import { ChangeReport, CommandContext, regionByRegion, summaryLines } from './context';
import { checkVersion, versionParameter } from './names';
import { putImageParameter, readParameter } from './parameters';

export async function publishVersion(ctx: CommandContext, version: string, amis: ReadonlyMap<string, string>): Promise<ChangeReport> {
  checkVersion(ctx.config, version);
  const regions = ctx.config.regions.map((r) => r.region);
  const missing = regions.filter((r) => !amis.has(r));
  if (missing.length) {
    // A partial bake is never published: promote could not reach every region with it.
    const lines = [`the bake has no image for ${missing.join(', ')}; nothing was published`];
    return { ok: false, changed: [], unchanged: [], notAttempted: regions, lines };
  }
  const name = versionParameter(ctx.config, version);
  const result = await regionByRegion(ctx, regions, async (region) => {
    const imageId = amis.get(region)!;
    const existing = await readParameter(ctx, region, name);
    if (existing === imageId) return 'unchanged';
    if (existing !== undefined) throw new Error(`${name} already names ${existing}, not ${imageId}: a version is written once (bake again for a new version)`);
    await putImageParameter(ctx, region, name, imageId, { overwrite: false, description: `Envoy image ${version} (npm run ami -- build); the fleet reads ${ctx.config.amiParameterName}` });
    ctx.log({ region, msg: 'published', parameter: name, imageId });
    return 'changed';
  });
  const lines = summaryLines(`published ${name}`, result);
  if (result.failed) lines.push(`run \`npm run ami -- build --publish-only\` again to finish (a version already published with the same image is left as it is)`);
  else lines.push(`next: npm run ami -- promote ${version} --wave 1 (the canary), then the other waves (docs/pipeline.md)`);
  return { ok: !result.failed, ...result, lines };
}
