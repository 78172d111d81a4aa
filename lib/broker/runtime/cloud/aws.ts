import { createHash } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { ACMClient, DeleteCertificateCommand, DescribeCertificateCommand, RequestCertificateCommand } from '@aws-sdk/client-acm';
import {
  CloudFrontClient,
  CreateDistributionWithTagsCommand,
  DeleteDistributionCommand,
  DistributionConfig,
  GetDistributionCommand,
  UpdateDistributionCommand,
} from '@aws-sdk/client-cloudfront';
import {
  AddListenerCertificatesCommand,
  ElasticLoadBalancingV2Client,
  RemoveListenerCertificatesCommand,
  paginateDescribeListenerCertificates,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, ResourceRecordSet, Route53Client } from '@aws-sdk/client-route-53';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { CDN_ORIGIN_HEADER, INSTANCE_TAG, PLATFORM_TAG, PURPOSE_TAG, edgeListenerParameterName } from '../../../model';
import {
  CertificateRequest,
  CertificateState,
  DistributionRequest,
  DistributionState,
  DnsRecord,
  DomainValidation,
  EdgeCloud,
  ListenerCertificateQuotaError,
  ListenerCertificates,
  OriginHeader,
  SecretValue,
  certificateToken,
  regionOfArn,
} from './types';

/** CloudFront managed policies (fixed ids documented by AWS). */
const CACHING_DISABLED_POLICY = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_ORIGIN_REQUEST_POLICY = '216adef6-5c7f-47e4-b989-5492eafa07d3';
const RECORD_TTL_SECONDS = 60;

export interface AwsCloudOptions {
  readonly hostedZoneId: string;
  readonly platformName: string;
  /** Public DNS TXT lookups (default: the resolver the process has). Tests give a stand-in. */
  readonly resolveTxt?: (name: string) => Promise<string[][]>;
}

const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`);
/** Route 53 returns `*` as `\052` and names with a trailing dot. */
const plainName = (name: string) => name.replace(/\\052/g, '*').replace(/\.$/, '').toLowerCase();
const errorName = (err: unknown) => (err as { name?: string })?.name ?? '';
/** The DNS answers that mean "no such record" (as opposed to a resolver failing). */
const NO_RECORD_CODES = new Set(['ENODATA', 'ENOTFOUND', 'NXDOMAIN']);

/**
 * The narrow cloud interface on the real services (SDK v3). Route 53 and CloudFront are
 * global; ACM, ELB and SSM clients are made per region (a certificate's or listener's ARN
 * names its region). The SDK's standard retry mode retries throttling (ThrottlingException,
 * Throttling) and 5xx a few times; what still fails is thrown, and the worker retries the
 * step with its backoff.
 */
export class AwsCloud implements EdgeCloud {
  private readonly route53 = new Route53Client({});
  private readonly cloudfront = new CloudFrontClient({ region: 'us-east-1' });
  private readonly secrets = new SecretsManagerClient({});
  private readonly acmClients = new Map<string, ACMClient>();
  private readonly elbClients = new Map<string, ElasticLoadBalancingV2Client>();
  private readonly ssmClients = new Map<string, SSMClient>();
  private readonly resolveTxt: (name: string) => Promise<string[][]>;

  constructor(private readonly options: AwsCloudOptions) {
    const resolver = new Resolver({ timeout: 3000, tries: 2 });
    this.resolveTxt = options.resolveTxt ?? ((name) => resolver.resolveTxt(name));
  }

  private acm(region: string): ACMClient {
    return regional(this.acmClients, region, () => new ACMClient({ region }));
  }

  private elb(region: string): ElasticLoadBalancingV2Client {
    return regional(this.elbClients, region, () => new ElasticLoadBalancingV2Client({ region }));
  }

  private ssm(region: string): SSMClient {
    return regional(this.ssmClients, region, () => new SSMClient({ region }));
  }

  // ---- Route 53 and public DNS ---------------------------------------------------------

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

  async lookupTxt(name: string): Promise<string[]> {
    try {
      // A TXT record's value is one or more strings of up to 255 characters each; they form one value.
      return (await this.resolveTxt(name)).map((chunks) => chunks.join(''));
    } catch (err) {
      if (NO_RECORD_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
    }
  }

  // ---- ACM ----------------------------------------------------------------------------

  async requestCertificate(request: CertificateRequest): Promise<string> {
    const out = await this.acm(request.region).send(
      new RequestCertificateCommand({
        DomainName: request.hostnames[0],
        SubjectAlternativeNames: request.hostnames.length > 1 ? [...request.hostnames] : undefined,
        ValidationMethod: 'DNS',
        // ACM returns the same certificate for the same token within an hour: redelivery-safe.
        IdempotencyToken: createHash('sha256').update(certificateToken(request)).digest('hex').slice(0, 32),
        Tags: [
          { Key: PLATFORM_TAG, Value: this.options.platformName },
          { Key: INSTANCE_TAG, Value: request.instanceId },
          { Key: PURPOSE_TAG, Value: request.purpose },
        ],
      }),
    );
    if (!out.CertificateArn) throw new Error('ACM returned no certificate ARN');
    return out.CertificateArn;
  }

  async describeCertificate(arn: string): Promise<CertificateState | undefined> {
    try {
      const out = await this.acm(regionOfArn(arn)).send(new DescribeCertificateCommand({ CertificateArn: arn }));
      const certificate = out.Certificate;
      const status = certificate?.Status;
      const validationRecords: DnsRecord[] = [];
      const domains: DomainValidation[] = [];
      for (const option of certificate?.DomainValidationOptions ?? []) {
        const r = option.ResourceRecord;
        const record = r?.Name && r.Value ? { name: plainName(r.Name), type: 'CNAME' as const, value: r.Value } : undefined;
        if (record && !validationRecords.some((v) => v.name === record.name)) validationRecords.push(record);
        const validation = option.ValidationStatus === 'SUCCESS' || option.ValidationStatus === 'FAILED' ? option.ValidationStatus : 'PENDING_VALIDATION';
        domains.push({ domain: option.DomainName ?? '', status: validation, record });
      }
      const failed = status === 'FAILED' || status === 'VALIDATION_TIMED_OUT';
      return {
        arn,
        status: status === 'ISSUED' || status === 'PENDING_VALIDATION' ? status : failed ? 'FAILED' : 'OTHER',
        validationRecords,
        domains,
        failure: status === 'VALIDATION_TIMED_OUT' ? 'VALIDATION_TIMED_OUT' : failed ? (certificate?.FailureReason ?? 'OTHER') : undefined,
      };
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') return undefined;
      throw err;
    }
  }

  async deleteCertificate(arn: string): Promise<void> {
    try {
      await this.acm(regionOfArn(arn)).send(new DeleteCertificateCommand({ CertificateArn: arn }));
    } catch (err) {
      if (errorName(err) !== 'ResourceNotFoundException') throw err;
    }
  }

  // ---- CloudFront ---------------------------------------------------------------------

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
            CustomHeaders: request.originHeader
              ? { Quantity: 1, Items: [{ HeaderName: request.originHeader.name, HeaderValue: request.originHeader.value }] }
              : { Quantity: 0, Items: [] },
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
          Tags: {
            Items: [
              { Key: PLATFORM_TAG, Value: this.options.platformName },
              { Key: INSTANCE_TAG, Value: request.instanceId },
            ],
          },
        },
      }),
    );
    const d = out.Distribution;
    if (!d?.Id || !d.DomainName) throw new Error('CloudFront returned no distribution');
    return { id: d.Id, domainName: d.DomainName, deployed: d.Status === 'Deployed', enabled: true, originSecret: request.originHeader?.value };
  }

  async getDistribution(id: string): Promise<DistributionState | undefined> {
    try {
      const out = await this.cloudfront.send(new GetDistributionCommand({ Id: id }));
      const d = out.Distribution;
      if (!d?.Id) return undefined;
      const header = d.DistributionConfig?.Origins?.Items?.[0]?.CustomHeaders?.Items?.find((h) => h.HeaderName?.toLowerCase() === CDN_ORIGIN_HEADER);
      return { id: d.Id, domainName: d.DomainName ?? '', deployed: d.Status === 'Deployed', enabled: d.DistributionConfig?.Enabled ?? false, originSecret: header?.HeaderValue };
    } catch (err) {
      if (errorName(err) === 'NoSuchDistribution') return undefined;
      throw err;
    }
  }

  async setDistributionOriginHeader(id: string, header: OriginHeader): Promise<void> {
    try {
      // GetDistribution carries the config and its ETag: no GetDistributionConfig permission needed.
      const current = await this.cloudfront.send(new GetDistributionCommand({ Id: id }));
      const config = current.Distribution?.DistributionConfig;
      const origin = config?.Origins?.Items?.[0];
      if (!config || !origin) return;
      const others = (origin.CustomHeaders?.Items ?? []).filter((h) => h.HeaderName?.toLowerCase() !== header.name.toLowerCase());
      const items = [...others, { HeaderName: header.name, HeaderValue: header.value }];
      if ((origin.CustomHeaders?.Items ?? []).some((h) => h.HeaderName?.toLowerCase() === header.name.toLowerCase() && h.HeaderValue === header.value)) return;
      const origins = { Quantity: config.Origins!.Quantity, Items: [{ ...origin, CustomHeaders: { Quantity: items.length, Items: items } }, ...config.Origins!.Items!.slice(1)] };
      // IfMatch: a concurrent change makes this fail with PreconditionFailed, and the caller retries.
      await this.cloudfront.send(new UpdateDistributionCommand({ Id: id, IfMatch: current.ETag, DistributionConfig: { ...config, Origins: origins } }));
    } catch (err) {
      if (errorName(err) !== 'NoSuchDistribution') throw err;
    }
  }

  async disableDistribution(id: string): Promise<void> {
    try {
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

  // ---- the edge listeners (SSM, ELB) ---------------------------------------------------

  async edgeListener(region: string): Promise<string | undefined> {
    try {
      const out = await this.ssm(region).send(new GetParameterCommand({ Name: edgeListenerParameterName(this.options.platformName, region) }));
      return out.Parameter?.Value || undefined;
    } catch (err) {
      if (errorName(err) === 'ParameterNotFound') return undefined;
      throw err;
    }
  }

  async listenerCertificates(listenerArn: string): Promise<ListenerCertificates> {
    let defaultArn: string | undefined;
    const arns = new Set<string>();
    // The default certificate comes back with IsDefault=true, and again with IsDefault=false if it is also in the list.
    for await (const page of paginateDescribeListenerCertificates({ client: this.elb(regionOfArn(listenerArn)) }, { ListenerArn: listenerArn, PageSize: 400 })) {
      for (const certificate of page.Certificates ?? []) {
        if (!certificate.CertificateArn) continue;
        if (certificate.IsDefault) defaultArn = certificate.CertificateArn;
        else arns.add(certificate.CertificateArn);
      }
    }
    if (defaultArn) arns.delete(defaultArn);
    return { defaultArn, arns: [...arns] };
  }

  async addListenerCertificate(listenerArn: string, certificateArn: string): Promise<void> {
    try {
      await this.elb(regionOfArn(listenerArn)).send(new AddListenerCertificatesCommand({ ListenerArn: listenerArn, Certificates: [{ CertificateArn: certificateArn }] }));
    } catch (err) {
      if (errorName(err) === 'TooManyCertificatesException') throw new ListenerCertificateQuotaError((err as Error).message);
      throw err;
    }
  }

  async removeListenerCertificate(listenerArn: string, certificateArn: string): Promise<void> {
    try {
      await this.elb(regionOfArn(listenerArn)).send(new RemoveListenerCertificatesCommand({ ListenerArn: listenerArn, Certificates: [{ CertificateArn: certificateArn }] }));
    } catch (err) {
      const name = errorName(err);
      if (name !== 'ListenerNotFoundException' && name !== 'CertificateNotFoundException') throw err;
    }
  }

  // ---- Secrets Manager ----------------------------------------------------------------

  async secretValue(secretId: string): Promise<SecretValue> {
    const out = await this.secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (!out.SecretString || !out.VersionId) throw new Error(`secret ${secretId} has no string value`);
    return { value: out.SecretString, versionId: out.VersionId };
  }
}

function regional<T>(clients: Map<string, T>, region: string, make: () => T): T {
  let client = clients.get(region);
  if (!client) {
    client = make();
    clients.set(region, client);
  }
  return client;
}
