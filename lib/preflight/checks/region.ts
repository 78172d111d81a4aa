import {
  AvailabilityZone,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeRegionsCommand,
  DescribeVpcEndpointServicesCommand,
  EC2Client,
  ServiceDetail,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { RegionConfig } from '../../config';
import { INTERFACE_ENDPOINT_SERVICES, endpointServiceName } from '../../proxy-fleet/endpoint-services';
import { couldNotCheck, isNamed } from '../aws-errors';
import { CheckDefinition, PreflightContext } from '../types';

const regionConfig = (ctx: PreflightContext, region: string): RegionConfig | undefined => ctx.config.regions.find((r) => r.region === region);

/**
 * Every region of the platform is enabled for the account (the opt-in regions are not by
 * default). One DescribeRegions call from the home region answers for all of them; the other
 * checks of a disabled region report "could not check" instead of guessing.
 */
export const regionEnabledCheck: CheckDefinition = {
  id: 'region-enabled',
  scope: 'every-region',
  summary: 'The region is enabled for the account (EC2 DescribeRegions opt-in status, asked in the home region).',
  async run(ctx, region) {
    try {
      const answer = await new EC2Client({ region: ctx.config.homeRegion }).send(new DescribeRegionsCommand({ AllRegions: true, RegionNames: [region] }));
      const status = answer.Regions?.[0]?.OptInStatus;
      if (status === 'not-opted-in') {
        ctx.disabledRegions.add(region);
        return { status: 'fail', detail: `${region} is not enabled for the account (opt-in region)`, fix: `aws account enable-region --region-name ${region} (then wait until aws account get-region-opt-status says ENABLED)` };
      }
      return { status: 'pass', detail: `enabled (${status ?? 'unknown'})` };
    } catch (error) {
      if (isNamed(error, 'InvalidParameterValue')) {
        ctx.disabledRegions.add(region);
        return { status: 'fail', detail: `${region} is not a region EC2 knows`, fix: 'fix the region name in the config' };
      }
      return { status: 'error', detail: couldNotCheck(error, ctx.config.homeRegion) };
    }
  },
};

/**
 * The version of the CDK bootstrap stack (CDKToolkit) that `cdk deploy` needs in every region it
 * deploys to: the stacks' assets go to its bucket and repository, and each template's
 * BootstrapVersion rule refuses an older one. The CLI reads the same SSM parameter.
 */
export const CDK_BOOTSTRAP_QUALIFIER = 'hnb659fds';
export const CDK_BOOTSTRAP_PARAMETER = `/cdk-bootstrap/${CDK_BOOTSTRAP_QUALIFIER}/version`;
/** What the synthesized app requires (the assembly's `requiresBootstrapStackVersion`; test/app.test.ts holds them equal). */
export const MIN_BOOTSTRAP_VERSION = 6;

export const bootstrapCheck: CheckDefinition = {
  id: 'cdk-bootstrap',
  scope: 'every-region',
  summary: `The region is CDK-bootstrapped at version ${MIN_BOOTSTRAP_VERSION} or later (SSM ${CDK_BOOTSTRAP_PARAMETER}).`,
  async run(ctx, region) {
    const bootstrap = `npx cdk bootstrap aws://${ctx.account ?? ctx.config.account ?? '<account>'}/${region}`;
    try {
      const answer = await new SSMClient({ region }).send(new GetParameterCommand({ Name: CDK_BOOTSTRAP_PARAMETER }));
      const version = Number(answer.Parameter?.Value);
      if (!Number.isInteger(version) || version < MIN_BOOTSTRAP_VERSION) {
        return { status: 'fail', detail: `bootstrap version ${answer.Parameter?.Value}, the app needs ${MIN_BOOTSTRAP_VERSION} or later`, fix: bootstrap, data: { version } };
      }
      return { status: 'pass', detail: `bootstrap version ${version}`, data: { version } };
    } catch (error) {
      if (isNamed(error, 'ParameterNotFound')) return { status: 'fail', detail: `${region} is not CDK-bootstrapped (no ${CDK_BOOTSTRAP_PARAMETER})`, fix: bootstrap };
      return { status: 'error', detail: couldNotCheck(error, region) };
    }
  },
};

/**
 * The configured AZ IDs exist in the account's region, and their names here (the same ID has
 * another name in another account). Fills the zone map the endpoint-services check needs.
 */
export const zonesCheck: CheckDefinition = {
  id: 'zones',
  scope: 'fleet-regions',
  summary: 'Every configured AZ ID (regions[i].availabilityZoneIds) is an available zone of the region in this account; shows each ID\'s zone name here.',
  async run(ctx, region) {
    const wanted = regionConfig(ctx, region)?.availabilityZoneIds ?? [];
    let zones: AvailabilityZone[];
    try {
      const answer = await new EC2Client({ region }).send(new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'zone-type', Values: ['availability-zone'] }] }));
      zones = answer.AvailabilityZones ?? [];
    } catch (error) {
      return { status: 'error', detail: couldNotCheck(error, region) };
    }
    const byId = new Map(zones.filter((z) => z.ZoneId && z.ZoneName).map((z) => [z.ZoneId!, z]));
    const names = new Map<string, string>();
    for (const id of wanted) {
      const zone = byId.get(id);
      if (zone?.State === 'available') names.set(id, zone.ZoneName!);
    }
    ctx.zoneNames.set(region, names);
    const mapping = Object.fromEntries(wanted.map((id) => [id, byId.get(id)?.ZoneName ?? null]));
    const missing = wanted.filter((id) => !byId.has(id));
    const unavailable = wanted.filter((id) => byId.has(id) && byId.get(id)!.State !== 'available');
    const has = [...byId.values()].map((z) => `${z.ZoneId} (${z.ZoneName}${z.State === 'available' ? '' : `, ${z.State}`})`).sort().join(', ');
    if (missing.length || unavailable.length) {
      return {
        status: 'fail',
        detail: [
          missing.length ? `${missing.join(', ')} ${missing.length === 1 ? 'is not a zone' : 'are not zones'} of ${region} in this account` : '',
          unavailable.length ? `${unavailable.map((id) => `${id} is ${byId.get(id)!.State}`).join(', ')}` : '',
        ].filter(Boolean).join('; ') + `; it has: ${has}`,
        fix: `set regions[${ctx.config.regions.findIndex((r) => r.region === region)}].availabilityZoneIds for ${region} to available zone IDs from: ${has}`,
        data: { zones: mapping },
      };
    }
    return { status: 'pass', detail: wanted.map((id) => `${id}=${byId.get(id)!.ZoneName}`).join(', '), data: { zones: mapping } };
  },
};

/** Every configured zone offers the fleet's instance type (new Graviton types are not in every zone). */
export const instanceTypeCheck: CheckDefinition = {
  id: 'instance-type',
  scope: 'fleet-regions',
  summary: 'Every configured zone offers fleet.instanceType (EC2 DescribeInstanceTypeOfferings by AZ ID).',
  async run(ctx, region) {
    const wanted = regionConfig(ctx, region)?.availabilityZoneIds ?? [];
    const type = ctx.config.fleet.instanceType;
    const offered = new Set<string>();
    try {
      const ec2 = new EC2Client({ region });
      let NextToken: string | undefined;
      do {
        const page = await ec2.send(
          new DescribeInstanceTypeOfferingsCommand({
            LocationType: 'availability-zone-id',
            Filters: [
              { Name: 'instance-type', Values: [type] },
              { Name: 'location', Values: [...wanted] },
            ],
            NextToken,
          }),
        );
        for (const offering of page.InstanceTypeOfferings ?? []) if (offering.Location) offered.add(offering.Location);
        NextToken = page.NextToken;
      } while (NextToken);
    } catch (error) {
      return { status: 'error', detail: couldNotCheck(error, region) };
    }
    const missing = wanted.filter((id) => !offered.has(id));
    if (missing.length) {
      return {
        status: 'fail',
        detail: `${type} is not offered in ${missing.join(', ')}`,
        fix: `pick zones that offer it (aws ec2 describe-instance-type-offerings --region ${region} --location-type availability-zone-id --filters Name=instance-type,Values=${type}) or another Graviton type in fleet.instanceType`,
      };
    }
    return { status: 'pass', detail: `${type} in ${wanted.join(', ')}` };
  },
};

/**
 * Every interface endpoint service the VPC uses is offered in every configured zone: an
 * endpoint with a subnet in a zone its service lacks fails to create.
 */
export const endpointServicesCheck: CheckDefinition = {
  id: 'endpoint-services',
  scope: 'fleet-regions',
  summary: `Every configured zone offers each interface endpoint service of the VPC (${Object.values(INTERFACE_ENDPOINT_SERVICES).join(', ')}).`,
  async run(ctx, region) {
    const names = ctx.zoneNames.get(region);
    const wanted = regionConfig(ctx, region)?.availabilityZoneIds ?? [];
    if (!names || names.size !== wanted.length) return { status: 'error', detail: 'could not check: needs every configured zone to exist (see the zones check)' };
    const serviceNames = Object.values(INTERFACE_ENDPOINT_SERVICES).map((suffix) => endpointServiceName(region, suffix));
    const details: ServiceDetail[] = [];
    try {
      const ec2 = new EC2Client({ region });
      let NextToken: string | undefined;
      do {
        const page = await ec2.send(new DescribeVpcEndpointServicesCommand({ ServiceNames: serviceNames, NextToken }));
        details.push(...(page.ServiceDetails ?? []));
        NextToken = page.NextToken;
      } while (NextToken);
    } catch (error) {
      if (isNamed(error, 'InvalidServiceName')) return { status: 'fail', detail: `an endpoint service is not offered in ${region}: ${(error as Error).message}`, fix: 'choose another region; the VPC needs every service of lib/proxy-fleet/endpoint-services.ts' };
      return { status: 'error', detail: couldNotCheck(error, region) };
    }
    const problems: string[] = [];
    for (const service of serviceNames) {
      const detail = details.find((d) => d.ServiceName === service);
      if (!detail) {
        problems.push(`${service} is not offered`);
        continue;
      }
      const zones = new Set(detail.AvailabilityZones ?? []);
      const lacking = wanted.filter((id) => !zones.has(names.get(id)!));
      if (lacking.length) problems.push(`${service} is not offered in ${lacking.map((id) => `${id} (${names.get(id)})`).join(', ')}`);
    }
    if (problems.length) return { status: 'fail', detail: problems.join('; '), fix: `set regions[${ctx.config.regions.findIndex((r) => r.region === region)}].availabilityZoneIds to zones every service offers` };
    return { status: 'pass', detail: `${serviceNames.length} services in every configured zone` };
  },
};

/**
 * The fleet's image exists here: the stacks resolve config.amiParameterName from SSM when the
 * change set is created, so a missing parameter fails the deploy before anything is created, and
 * an AMI that is gone or of the wrong architecture fails every proxy launch.
 */
export const amiCheck: CheckDefinition = {
  id: 'ami',
  scope: 'fleet-regions',
  summary: 'The SSM parameter config.amiParameterName exists and names an available arm64 image (npm run ami -- build, then npm run ami -- promote, set it).',
  async run(ctx, region) {
    const parameter = ctx.config.amiParameterName;
    const bake = `npm run ami -- build (bakes and publishes a version), then npm run ami -- promote <version> --regions ${region} (points ${parameter} at it; docs/pipeline.md)`;
    let imageId: string | undefined;
    try {
      imageId = (await new SSMClient({ region }).send(new GetParameterCommand({ Name: parameter }))).Parameter?.Value;
    } catch (error) {
      if (isNamed(error, 'ParameterNotFound')) return { status: 'fail', detail: `no SSM parameter ${parameter} in ${region}`, fix: bake };
      return { status: 'error', detail: couldNotCheck(error, region) };
    }
    if (!imageId || !/^ami-[0-9a-f]{8,17}$/.test(imageId)) return { status: 'fail', detail: `${parameter} holds "${imageId}", not an AMI id`, fix: bake };
    try {
      const images = (await new EC2Client({ region }).send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images ?? [];
      const image = images[0];
      if (!image) return { status: 'fail', detail: `${parameter} names ${imageId}, which does not exist in ${region}`, fix: bake };
      if (image.State !== 'available') return { status: 'fail', detail: `${imageId} is ${image.State}`, fix: image.State === 'pending' ? 'wait until the copy is available and run again' : bake };
      if (image.Architecture !== 'arm64') return { status: 'fail', detail: `${imageId} is ${image.Architecture}; the fleet runs Graviton (arm64)`, fix: bake };
      return { status: 'pass', detail: `${imageId} (${image.Name ?? 'no name'}), available, arm64`, data: { imageId } };
    } catch (error) {
      if (isNamed(error, 'InvalidAMIID.NotFound', 'InvalidAMIID.Malformed', 'InvalidAMIID.Unavailable')) return { status: 'fail', detail: `${parameter} names ${imageId}, which does not exist in ${region}`, fix: bake };
      return { status: 'error', detail: couldNotCheck(error, region) };
    }
  },
};
