import {
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  EC2ServiceException,
} from '@aws-sdk/client-ec2';
import { DeleteParameterCommand, GetParameterCommand, GetParametersByPathCommand, ParameterAlreadyExists, ParameterNotFound, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { resolveConfig } from '../../lib/config';
import { ClientFactory } from '../../ami/scripts/lifecycle/aws';
import { CommandContext } from '../../ami/scripts/lifecycle/context';

/**
 * EC2 and SSM as their API references describe them, per region, behind aws-sdk-client-mock:
 * GetParametersByPath pages by at most 10 (MaxResults 1-10), DescribeImages with an unknown id
 * fails the call with InvalidAMIID.NotFound, PutParameter without Overwrite on an existing name
 * is ParameterAlreadyExists, an aws:ec2:image value is accepted only if the image is available
 * in the region (checked after PutParameter answers), DeregisterImage with
 * DeleteAssociatedSnapshots reports each snapshot, and pages end when NextToken is absent.
 * `failNext` makes the next calls of a command in a region throw (throttling, access denied).
 */
export interface FakeImage {
  imageId: string;
  state: 'available' | 'pending' | 'failed' | 'deregistered';
  created: string;
  architecture?: string;
  snapshots: string[];
  tags?: Record<string, string>;
}

export interface FakeRegion {
  parameters: Map<string, string>;
  images: FakeImage[];
  snapshots: Set<string>;
  launchTemplateImages: { name: string; version: number; imageId: string }[];
  instances: { instanceId: string; imageId: string; state: string }[];
}

export const ec2Mock = mockClient(EC2Client);
export const ssmMock = mockClient(SSMClient);

export function ec2Error(code: string, message = code): EC2ServiceException {
  return new EC2ServiceException({ name: code, $fault: 'client', $metadata: { httpStatusCode: 400 }, message });
}

export function throttled(name = 'ThrottlingException'): Error {
  return Object.assign(new Error('Rate exceeded'), { name, $metadata: { httpStatusCode: 400 } });
}

async function regionOf(getClient: () => { config: { region: unknown } }): Promise<string> {
  const region = getClient().config.region;
  return typeof region === 'function' ? ((await (region as () => Promise<string>)()) as string) : (region as string);
}

export class FakeAws {
  readonly regions = new Map<string, FakeRegion>();
  private readonly failures: { region: string; command: string; skip: number; errors: Error[] }[] = [];
  /** Every call, in order: `<region> <Command>`. */
  readonly calls: string[] = [];

  constructor(regionNames: readonly string[]) {
    for (const r of regionNames) this.regions.set(r, { parameters: new Map(), images: [], snapshots: new Set(), launchTemplateImages: [], instances: [] });
    ec2Mock.reset();
    ssmMock.reset();
    this.install();
  }

  region(name: string): FakeRegion {
    const r = this.regions.get(name);
    if (!r) throw new Error(`no fake region ${name}`);
    return r;
  }

  addImage(region: string, image: Partial<FakeImage> & { imageId: string; created: string }): FakeImage {
    const full: FakeImage = { state: 'available', architecture: 'arm64', snapshots: [`snap-${image.imageId.slice(4)}`], tags: { platform: 'edge', component: 'proxy-ami' }, ...image };
    this.region(region).images.push(full);
    for (const s of full.snapshots) this.region(region).snapshots.add(s);
    return full;
  }

  /** The next `errors.length` calls of `command` in `region` throw these, in order. */
  failNext(region: string, command: string, ...errors: Error[]): void {
    this.failLater(region, command, 0, ...errors);
  }

  /** After `skip` calls of `command` in `region` that go through, the next ones throw `errors`. */
  failLater(region: string, command: string, skip: number, ...errors: Error[]): void {
    this.failures.push({ region, command, skip, errors: [...errors] });
  }

  private maybeFail(region: string, command: string): void {
    this.calls.push(`${region} ${command}`);
    const f = this.failures.find((x) => x.region === region && x.command === command && x.errors.length);
    if (!f) return;
    if (f.skip > 0) f.skip--;
    else throw f.errors.shift();
  }

  private page<T>(items: T[], max: number, token: string | undefined): { items: T[]; next?: string } {
    const start = token ? Number(token.replace('page-', '')) : 0;
    const next = start + max < items.length ? `page-${start + max}` : undefined;
    return { items: items.slice(start, start + max), next };
  }

  private install(): void {
    const handle = <I, O>(mock: typeof ssmMock | typeof ec2Mock, command: { readonly name: string }, fn: (r: FakeRegion, input: I, region: string) => O) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- aws-sdk-client-mock's on() is typed per client; one helper serves both
      (mock as any).on(command).callsFake(async (input: I, getClient: () => { config: { region: unknown } }) => {
        const region = await regionOf(getClient);
        this.maybeFail(region, command.name.replace(/Command$/, ''));
        return fn(this.region(region), input, region);
      });
    };

    handle(ssmMock, GetParameterCommand, (r, input: { Name?: string }) => {
      const value = r.parameters.get(input.Name!);
      if (value === undefined) throw new ParameterNotFound({ $metadata: {}, message: '' });
      return { Parameter: { Name: input.Name, Value: value, Type: 'String', DataType: 'aws:ec2:image' } };
    });
    handle(ssmMock, GetParametersByPathCommand, (r, input: { Path?: string; Recursive?: boolean; MaxResults?: number; NextToken?: string }) => {
      if ((input.MaxResults ?? 10) > 10) throw Object.assign(new Error('MaxResults must be at most 10'), { name: 'ValidationException' });
      const prefix = `${input.Path}/`;
      const names = [...r.parameters.keys()].filter((n) => n.startsWith(prefix) && (input.Recursive || !n.slice(prefix.length).includes('/'))).sort();
      const { items, next } = this.page(names, input.MaxResults ?? 10, input.NextToken);
      return { Parameters: items.map((n) => ({ Name: n, Value: r.parameters.get(n), Type: 'String' })), NextToken: next };
    });
    handle(ssmMock, PutParameterCommand, (r, input: { Name?: string; Value?: string; Overwrite?: boolean; DataType?: string }) => {
      if (r.parameters.has(input.Name!) && !input.Overwrite) throw new ParameterAlreadyExists({ $metadata: {}, message: 'The parameter already exists.' });
      // aws:ec2:image: validated after the call answers; an image that is not available here is refused silently.
      const image = r.images.find((i) => i.imageId === input.Value);
      if (input.DataType !== 'aws:ec2:image' || (image && image.state === 'available')) r.parameters.set(input.Name!, input.Value!);
      return { Version: 1, Tier: 'Standard' };
    });
    handle(ssmMock, DeleteParameterCommand, (r, input: { Name?: string }) => {
      if (!r.parameters.delete(input.Name!)) throw new ParameterNotFound({ $metadata: {}, message: '' });
      return {};
    });

    handle(ec2Mock, DescribeImagesCommand, (r, input: { ImageIds?: string[]; Filters?: { Name?: string; Values?: string[] }[]; MaxResults?: number; NextToken?: string }) => {
      let images = r.images.filter((i) => i.state !== 'deregistered');
      if (input.ImageIds) {
        const missing = input.ImageIds.filter((id) => !images.some((i) => i.imageId === id));
        if (missing.length) throw ec2Error('InvalidAMIID.NotFound', `The image id '[${missing.join(', ')}]' does not exist`);
        images = images.filter((i) => input.ImageIds!.includes(i.imageId));
      }
      for (const f of input.Filters ?? []) {
        const tag = f.Name?.startsWith('tag:') ? f.Name.slice(4) : undefined;
        if (tag) images = images.filter((i) => f.Values?.includes(i.tags?.[tag] ?? ''));
      }
      const { items, next } = input.ImageIds ? { items: images, next: undefined } : this.page(images, input.MaxResults ?? 1000, input.NextToken);
      return {
        Images: items.map((i) => ({ ImageId: i.imageId, State: i.state, CreationDate: i.created, Architecture: i.architecture, Name: `edge-envoy-${i.imageId}`, BlockDeviceMappings: i.snapshots.map((s) => ({ DeviceName: '/dev/xvda', Ebs: { SnapshotId: s } })) })),
        NextToken: next,
      };
    });
    handle(ec2Mock, DeregisterImageCommand, (r, input: { ImageId?: string; DeleteAssociatedSnapshots?: boolean }) => {
      const image = r.images.find((i) => i.imageId === input.ImageId && i.state !== 'deregistered');
      if (!image) throw ec2Error('InvalidAMIID.NotFound');
      image.state = 'deregistered';
      if (!input.DeleteAssociatedSnapshots) return { Return: true };
      const results = image.snapshots.map((s) => {
        const shared = r.images.some((i) => i !== image && i.state !== 'deregistered' && i.snapshots.includes(s));
        if (!shared) r.snapshots.delete(s);
        return { SnapshotId: s, ReturnCode: shared ? 'skipped' : 'success' };
      });
      return { Return: true, DeleteSnapshotResults: results };
    });
    handle(ec2Mock, DeleteSnapshotCommand, (r, input: { SnapshotId?: string }) => {
      if (!r.snapshots.delete(input.SnapshotId!)) throw ec2Error('InvalidSnapshot.NotFound');
      return {};
    });
    handle(ec2Mock, DescribeLaunchTemplateVersionsCommand, (r, input: { Versions?: string[]; MaxResults?: number; NextToken?: string }) => {
      expect(input.Versions).toEqual(['$Latest', '$Default']);
      const { items, next } = this.page(r.launchTemplateImages, input.MaxResults ?? 200, input.NextToken);
      return { LaunchTemplateVersions: items.map((t) => ({ LaunchTemplateName: t.name, VersionNumber: t.version, LaunchTemplateData: { ImageId: t.imageId } })), NextToken: next };
    });
    handle(ec2Mock, DescribeInstancesCommand, (r, input: { MaxResults?: number; NextToken?: string; Filters?: { Name?: string; Values?: string[] }[] }) => {
      const states = input.Filters?.find((f) => f.Name === 'instance-state-name')?.Values;
      const instances = r.instances.filter((i) => !states || states.includes(i.state));
      const { items, next } = this.page(instances, Math.min(input.MaxResults ?? 1000, 1000), input.NextToken);
      return { Reservations: items.map((i) => ({ Instances: [{ InstanceId: i.instanceId, ImageId: i.imageId, State: { Name: i.state } }] })), NextToken: next };
    });
  }
}

/** A context over the fake: no waiting, logs collected. */
export function fakeContext(regions: readonly string[], overrides: Record<string, unknown> = {}): CommandContext & { logs: Record<string, unknown>[]; sleeps: number[] } {
  const logs: Record<string, unknown>[] = [];
  const sleeps: number[] = [];
  const sleep = async (ms: number) => {
    sleeps.push(ms);
  };
  const clients: ClientFactory = (region) => ({ ec2: new EC2Client({ region }), ssm: new SSMClient({ region }) });
  return {
    config: resolveConfig({ regions: [...regions], ...overrides }),
    clients,
    retry: { sleep },
    sleep,
    now: () => new Date('2026-12-05T12:00:00Z'),
    log: (entry) => logs.push(entry),
    logs,
    sleeps,
  };
}
