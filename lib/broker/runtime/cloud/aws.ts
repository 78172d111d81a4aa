import { createHash } from 'node:crypto';
import { ACMClient, DeleteCertificateCommand, DescribeCertificateCommand, RequestCertificateCommand } from '@aws-sdk/client-acm';
import {
  CloudFrontClient,
  CreateDistributionWithTagsCommand,
  DeleteDistributionCommand,
  DistributionConfig,
  GetDistributionCommand,
  UpdateDistributionCommand,
} from '@aws-sdk/client-cloudfront';
import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, ResourceRecordSet, Route53Client } from '@aws-sdk/client-route-53';
import { CertificateState, DistributionRequest, DistributionState, DnsRecord, EdgeCloud } from './types';

/** CloudFront managed policies (fixed ids documented by AWS). */
const CACHING_DISABLED_POLICY = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_ORIGIN_REQUEST_POLICY = '216adef6-5c7f-47e4-b989-5492eafa07d3';
const RECORD_TTL_SECONDS = 60;

export interface AwsCloudOptions {
  readonly hostedZoneId: string;
  readonly platformName: string;
}

const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`);
/** Route 53 returns `*` as `\052` and names with a trailing dot. */
const plainName = (name: string) => name.replace(/\\052/g, '*').replace(/\.$/, '').toLowerCase();
const errorName = (err: unknown) => (err as { name?: string })?.name ?? '';

/** The narrow cloud interface on the real services (SDK v3). ACM and CloudFront live in us-east-1. */
export class AwsCloud implements EdgeCloud {
  private readonly route53 = new Route53Client({});
  private readonly acm = new ACMClient({ region: 'us-east-1' });
  private readonly cloudfront = new CloudFrontClient({ region: 'us-east-1' });

  constructor(private readonly options: AwsCloudOptions) {}

  async upsertRecords(records: readonly DnsRecord[]): Promise<void> {
    if (!records.length) return;
    await this.route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: this.options.hostedZoneId,
        ChangeBatch: {
          Comment: 'edge broker',
          Changes: records.map((r) => ({
            Action: 'UPSERT',
            ResourceRecordSet: { Name: fqdn(r.name), Type: r.type, TTL: RECORD_TTL_SECONDS, ResourceRecords: [{ Value: r.value }] },
          })),
        },
      }),
    );
  }

  async deleteRecords(names: readonly string[]): Promise<void> {
    const existing: ResourceRecordSet[] = [];
    for (const name of names) {
      const found = await this.route53.send(
        new ListResourceRecordSetsCommand({ HostedZoneId: this.options.hostedZoneId, StartRecordName: fqdn(name), StartRecordType: 'CNAME', MaxItems: 1 }),
      );
      const set = found.ResourceRecordSets?.[0];
      if (set && set.Type === 'CNAME' && plainName(set.Name ?? '') === plainName(name)) existing.push(set);
    }
    if (!existing.length) return;
    // Deleting needs the exact current record set, which we just read.
    await this.route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: this.options.hostedZoneId,
        ChangeBatch: { Comment: 'edge broker', Changes: existing.map((set) => ({ Action: 'DELETE', ResourceRecordSet: set })) },
      }),
    );
  }

  async requestCertificate(instanceId: string, hostnames: readonly string[]): Promise<string> {
    const out = await this.acm.send(
      new RequestCertificateCommand({
        DomainName: hostnames[0],
        SubjectAlternativeNames: hostnames.length > 1 ? [...hostnames] : undefined,
        ValidationMethod: 'DNS',
        // ACM returns the same certificate for the same token within an hour: redelivery-safe.
        IdempotencyToken: createHash('sha256').update(instanceId).digest('hex').slice(0, 32),
        Tags: [
          { Key: 'platform', Value: this.options.platformName },
          { Key: 'instance', Value: instanceId },
        ],
      }),
    );
    if (!out.CertificateArn) throw new Error('ACM returned no certificate ARN');
    return out.CertificateArn;
  }

  async describeCertificate(arn: string): Promise<CertificateState | undefined> {
    try {
      const out = await this.acm.send(new DescribeCertificateCommand({ CertificateArn: arn }));
      const status = out.Certificate?.Status;
      const validationRecords: DnsRecord[] = [];
      for (const option of out.Certificate?.DomainValidationOptions ?? []) {
        const r = option.ResourceRecord;
        if (r?.Name && r.Value && !validationRecords.some((v) => v.name === plainName(r.Name!))) {
          validationRecords.push({ name: plainName(r.Name), type: 'CNAME', value: r.Value });
        }
      }
      return {
        arn,
        status: status === 'ISSUED' || status === 'PENDING_VALIDATION' || status === 'FAILED' ? status : 'OTHER',
        validationRecords,
      };
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') return undefined;
      throw err;
    }
  }

  async deleteCertificate(arn: string): Promise<void> {
    try {
      await this.acm.send(new DeleteCertificateCommand({ CertificateArn: arn }));
    } catch (err) {
      if (errorName(err) !== 'ResourceNotFoundException') throw err;
    }
  }

  async createDistribution(request: DistributionRequest): Promise<DistributionState> {
    const config: DistributionConfig = {
      CallerReference: `edge-${request.instanceId}`,
      Comment: `edge load balancer ${request.instanceId}`.slice(0, 128),
      Enabled: true,
      HttpVersion: 'http2and3',
      PriceClass: 'PriceClass_All',
      Aliases: { Quantity: request.hostnames.length, Items: [...request.hostnames] },
      Origins: {
        Quantity: 1,
        Items: [
          {
            Id: 'edge',
            DomainName: request.originDomain,
            CustomOriginConfig: {
              HTTPPort: 80,
              HTTPSPort: 443,
              OriginProtocolPolicy: 'https-only',
              OriginSslProtocols: { Quantity: 1, Items: ['TLSv1.2'] },
            },
          },
        ],
      },
      DefaultCacheBehavior: {
        TargetOriginId: 'edge',
        ViewerProtocolPolicy: 'redirect-to-https',
        CachePolicyId: CACHING_DISABLED_POLICY,
        OriginRequestPolicyId: ALL_VIEWER_ORIGIN_REQUEST_POLICY,
        Compress: true,
        AllowedMethods: {
          Quantity: 7,
          Items: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'POST', 'PATCH', 'DELETE'],
          CachedMethods: { Quantity: 2, Items: ['GET', 'HEAD'] },
        },
      },
      ViewerCertificate: { ACMCertificateArn: request.certificateArn, SSLSupportMethod: 'sni-only', MinimumProtocolVersion: 'TLSv1.2_2021' },
    };
    const out = await this.cloudfront.send(
      new CreateDistributionWithTagsCommand({
        DistributionConfigWithTags: {
          DistributionConfig: config,
          Tags: { Items: [{ Key: 'platform', Value: this.options.platformName }, { Key: 'instance', Value: request.instanceId }] },
        },
      }),
    );
    const d = out.Distribution;
    if (!d?.Id || !d.DomainName) throw new Error('CloudFront returned no distribution');
    return { id: d.Id, domainName: d.DomainName, deployed: d.Status === 'Deployed', enabled: true };
  }

  async getDistribution(id: string): Promise<DistributionState | undefined> {
    try {
      const out = await this.cloudfront.send(new GetDistributionCommand({ Id: id }));
      const d = out.Distribution;
      if (!d?.Id) return undefined;
      return { id: d.Id, domainName: d.DomainName ?? '', deployed: d.Status === 'Deployed', enabled: d.DistributionConfig?.Enabled ?? false };
    } catch (err) {
      if (errorName(err) === 'NoSuchDistribution') return undefined;
      throw err;
    }
  }

  async disableDistribution(id: string): Promise<void> {
    try {
      // GetDistribution carries the config and its ETag: no GetDistributionConfig permission needed.
      const current = await this.cloudfront.send(new GetDistributionCommand({ Id: id }));
      const config = current.Distribution?.DistributionConfig;
      if (!config || !config.Enabled) return;
      await this.cloudfront.send(new UpdateDistributionCommand({ Id: id, IfMatch: current.ETag, DistributionConfig: { ...config, Enabled: false } }));
    } catch (err) {
      if (errorName(err) !== 'NoSuchDistribution') throw err;
    }
  }

  async deleteDistribution(id: string): Promise<'deleted' | 'retry-later'> {
    try {
      const out = await this.cloudfront.send(new GetDistributionCommand({ Id: id }));
      const d = out.Distribution;
      if (d?.DistributionConfig?.Enabled || d?.Status !== 'Deployed') return 'retry-later';
      await this.cloudfront.send(new DeleteDistributionCommand({ Id: id, IfMatch: out.ETag }));
      return 'deleted';
    } catch (err) {
      const name = errorName(err);
      if (name === 'NoSuchDistribution') return 'deleted';
      if (name === 'DistributionNotDisabled' || name === 'PreconditionFailed') return 'retry-later';
      throw err;
    }
  }
}
