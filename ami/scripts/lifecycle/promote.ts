/**
 * `promote <version> --regions …`: points the parameter the fleet reads at the version's image in
 * those regions. Every region is checked first (its version parameter exists and EC2 says the
 * image is available and arm64); one failing check changes nothing anywhere. Then region by
 * region, stopping at the first failure. The fleet launches the image at its next deploy (the
 * pipeline's waves, or `npx cdk deploy <platform>-fleet-<region>`), through the health-gated
 * rolling update.
 */
import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { describeError, isNamed, withRetry } from './aws';
import { ChangeReport, CommandContext, regionByRegion, summaryLines } from './context';
import { checkVersion, versionParameter } from './names';
import { putImageParameter, readParameter } from './parameters';

interface Checked {
  readonly region: string;
  readonly imageId?: string;
  readonly current?: string;
  readonly problem?: string;
}

async function check(ctx: CommandContext, region: string, version: string): Promise<Checked> {
  const name = versionParameter(ctx.config, version);
  try {
    const imageId = await readParameter(ctx, region, name);
    if (!imageId) return { region, problem: `no version ${version} here (${name} does not exist; npm run ami -- status lists the versions)` };
    let image;
    try {
      image = (await withRetry(() => ctx.clients(region).ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })), ctx.retry)).Images?.[0];
    } catch (error) {
      // DescribeImages with an id that does not exist (any more) fails the call (EC2 error codes).
      if (!isNamed(error, 'InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed')) throw error;
    }
    if (!image) return { region, problem: `${name} names ${imageId}, which does not exist here (deregistered?)` };
    if (image.State !== 'available') return { region, problem: `${imageId} is ${image.State}, not available${image.State === 'pending' ? ' (a copy still in progress: run again later)' : ''}` };
    if (image.Architecture && image.Architecture !== 'arm64') return { region, problem: `${imageId} is ${image.Architecture}; the fleet runs Graviton (arm64)` };
    const current = await readParameter(ctx, region, ctx.config.amiParameterName);
    return { region, imageId, current };
  } catch (error) {
    return { region, problem: `could not check: ${describeError(error)}` };
  }
}

export async function promote(ctx: CommandContext, version: string, regions: readonly string[]): Promise<ChangeReport> {
  checkVersion(ctx.config, version);
  const checked = await Promise.all(regions.map((region) => check(ctx, region, version)));
  const refused = checked.filter((c) => c.problem);
  if (refused.length) {
    const lines = [`promote ${version}: nothing changed; fix these first:`, ...refused.map((c) => `  ${c.region}: ${c.problem}`)];
    return { ok: false, changed: [], unchanged: [], notAttempted: [...regions], lines };
  }
  const byRegion = new Map(checked.map((c) => [c.region, c]));
  const previous: string[] = [];
  const result = await regionByRegion(ctx, regions, async (region) => {
    const { imageId, current } = byRegion.get(region)!;
    if (current === imageId) return 'unchanged';
    await putImageParameter(ctx, region, ctx.config.amiParameterName, imageId!, { overwrite: true, description: `Envoy image the fleet launches: version ${version} (npm run ami -- promote)` });
    ctx.log({ region, msg: 'promoted', parameter: ctx.config.amiParameterName, version, imageId, previous: current ?? null });
    previous.push(`${region}: ${current ?? '(unset)'} -> ${imageId}`);
    return 'changed';
  });
  const lines = [...summaryLines(`promoted ${version} (${ctx.config.amiParameterName})`, result), ...previous.map((p) => `  ${p}`)];
  if (result.changed.length) {
    lines.push(`next: deploy the fleet of ${result.changed.join(', ')} (the pipeline's next run, or npx cdk deploy ${result.changed.map((r) => `${ctx.config.platformName}-fleet-${r}`).join(' ')}); the group replaces one proxy at a time and rolls back if a new one does not get ready`);
  }
  if (result.failed) lines.push(`run the same promote again to finish: regions already promoted stay as they are`);
  return { ok: !result.failed, ...result, lines };
}
