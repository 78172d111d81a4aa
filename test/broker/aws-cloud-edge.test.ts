/**
 * AwsCloud's calls for tenant names (issue 12) with the SDK clients stubbed
 * (aws-sdk-client-mock), answering as the APIs document: ACM in the listener's region,
 * ELB listener certificates (paginated, the default certificate listed twice, the quota
 * error), SSM's parameter of each region's listener, CloudFront's origin header, Secrets
 * Manager, public DNS, and throttling. The mock replaces `send`, so the SDK's own retries do
 * not run here: what reaches AwsCloud is what the SDK throws after its retries, and AwsCloud
 * must pass it on (the worker retries the step) rather than take it for "not found".
 */
import { ACMClient, DeleteCertificateCommand, DescribeCertificateCommand, RequestCertificateCommand, ResourceNotFoundException, ThrottlingException } from '@aws-sdk/client-acm';
import { CloudFrontClient, GetDistributionCommand, UpdateDistributionCommand } from '@aws-sdk/client-cloudfront';
import {
  AddListenerCertificatesCommand,
  DescribeListenerCertificatesCommand,
  ElasticLoadBalancingV2Client,
  ElasticLoadBalancingV2ServiceException,
  ListenerNotFoundException,
  RemoveListenerCertificatesCommand,
  TooManyCertificatesException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsCloud } from '../../lib/broker/runtime/cloud/aws';
import { ListenerCertificateQuotaError } from '../../lib/broker/runtime/cloud/types';
import { CDN_ORIGIN_HEADER } from '../../lib/model';

const acm = mockClient(ACMClient);
const elb = mockClient(ElasticLoadBalancingV2Client);
const ssm = mockClient(SSMClient);
const cloudfront = mockClient(CloudFrontClient);
const secrets = mockClient(SecretsManagerClient);
const meta = { $metadata: {} };
const LISTENER = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/net/edge-nlb/50dc6c495c0c9188/f2f7dc8efc522ab2';
const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012';
const saved = { ...process.env };

let dnsAnswers: Record<string, string[][] | NodeJS.ErrnoException>;
const cloud = new AwsCloud({
  hostedZoneId: 'Z123',
  platformName: 'edge',
  resolveTxt: async (name) => {
    const answer = dnsAnswers[name];
    if (answer instanceof Error) throw answer;
    if (!answer) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return answer;
  },
});

/** The region a stubbed call was sent to (each region has its own client). */
async function regionOf(call: { thisValue: unknown }): Promise<string> {
  return (call.thisValue as { config: { region: () => Promise<string> } }).config.region();
}

beforeAll(() => {
  Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
});
afterAll(() => {
  process.env = saved;
});
beforeEach(() => {
  for (const mock of [acm, elb, ssm, cloudfront, secrets]) mock.reset();
  dnsAnswers = {};
});

describe('ACM in the region of the listener', () => {
  test('an edge certificate: DNS validation, every name, tagged, an idempotency token per instance, region and names', async () => {
    acm.on(RequestCertificateCommand).resolves({ CertificateArn: CERT });
    const request = { instanceId: 'shop', hostnames: ['shop.example.org', '*.example.org'], region: 'eu-west-1', purpose: 'edge' as const };
    expect(await cloud.requestCertificate(request)).toBe(CERT);
    await cloud.requestCertificate({ ...request, hostnames: ['*.example.org', 'shop.example.org'] });
    await cloud.requestCertificate({ ...request, region: 'us-west-2' });
    const calls = acm.commandCalls(RequestCertificateCommand);
    expect(calls[0].args[0].input).toMatchObject({
      DomainName: 'shop.example.org',
      SubjectAlternativeNames: ['shop.example.org', '*.example.org'],
      ValidationMethod: 'DNS',
      Tags: [
        { Key: 'platform', Value: 'edge' },
        { Key: 'instance', Value: 'shop' },
        { Key: 'purpose', Value: 'edge' },
      ],
    });
    expect(await regionOf(calls[0])).toBe('eu-west-1');
    expect(await regionOf(calls[2])).toBe('us-west-2');
    const token = (i: number) => calls[i].args[0].input.IdempotencyToken;
    expect(token(0)).toMatch(/^[0-9a-f]{32}$/);
    // The same names in another order are the same request; another region is another certificate.
    expect(token(1)).toBe(token(0));
    expect(token(2)).not.toBe(token(0));
  });

  test('describe reads the region from the ARN, the validation of each name, and VALIDATION_TIMED_OUT as a failure', async () => {
    acm.on(DescribeCertificateCommand).resolves({
      Certificate: {
        CertificateArn: CERT,
        Status: 'VALIDATION_TIMED_OUT',
        DomainValidationOptions: [
          { DomainName: 'shop.example.org', ValidationStatus: 'SUCCESS', ResourceRecord: { Name: '_a1.shop.example.org.', Type: 'CNAME', Value: '_b1.acm-validations.aws.' } },
          { DomainName: '*.example.org', ValidationStatus: 'PENDING_VALIDATION', ResourceRecord: { Name: '_a2.example.org.', Type: 'CNAME', Value: '_b2.acm-validations.aws.' } },
        ],
      },
    });
    const state = await cloud.describeCertificate(CERT);
    expect(await regionOf(acm.commandCalls(DescribeCertificateCommand)[0])).toBe('eu-west-1');
    expect(state).toEqual({
      arn: CERT,
      status: 'FAILED',
      failure: 'VALIDATION_TIMED_OUT',
      validationRecords: [
        { name: '_a1.shop.example.org', type: 'CNAME', value: '_b1.acm-validations.aws.' },
        { name: '_a2.example.org', type: 'CNAME', value: '_b2.acm-validations.aws.' },
      ],
      domains: [
        { domain: 'shop.example.org', status: 'SUCCESS', record: { name: '_a1.shop.example.org', type: 'CNAME', value: '_b1.acm-validations.aws.' } },
        { domain: '*.example.org', status: 'PENDING_VALIDATION', record: { name: '_a2.example.org', type: 'CNAME', value: '_b2.acm-validations.aws.' } },
      ],
    });
  });

  test('throttling is thrown (the worker retries), never taken for a missing certificate', async () => {
    acm.on(DescribeCertificateCommand).rejects(new ThrottlingException({ message: 'Rate exceeded', ...meta }));
    await expect(cloud.describeCertificate(CERT)).rejects.toThrow('Rate exceeded');
    acm.on(DeleteCertificateCommand).rejects(new ThrottlingException({ message: 'Rate exceeded', ...meta }));
    await expect(cloud.deleteCertificate(CERT)).rejects.toThrow('Rate exceeded');
    acm.on(DeleteCertificateCommand).rejects(new ResourceNotFoundException({ message: 'gone', ...meta }));
    await expect(cloud.deleteCertificate(CERT)).resolves.toBeUndefined();
  });
});

describe('the edge listener (SSM, ELB)', () => {
  test("each region's listener comes from its own SSM parameter; none published yet is undefined", async () => {
    ssm.on(GetParameterCommand, { Name: '/edge/fleet/eu-west-1/edge-https-listener-arn' }).resolves({ Parameter: { Value: LISTENER } });
    ssm.on(GetParameterCommand, { Name: '/edge/fleet/ap-south-1/edge-https-listener-arn' }).rejects(new ParameterNotFound({ message: 'not found', ...meta }));
    expect(await cloud.edgeListener('eu-west-1')).toBe(LISTENER);
    expect(await cloud.edgeListener('ap-south-1')).toBeUndefined();
    const calls = ssm.commandCalls(GetParameterCommand);
    expect(await Promise.all(calls.map(regionOf))).toEqual(['eu-west-1', 'ap-south-1']);
  });

  test('the certificate list: every page, the default left out even where it is listed twice', async () => {
    elb
      .on(DescribeListenerCertificatesCommand, { ListenerArn: LISTENER, PageSize: 400 })
      .resolves({ Certificates: [{ CertificateArn: 'default', IsDefault: true }, { CertificateArn: 'default', IsDefault: false }, { CertificateArn: 'c1', IsDefault: false }], NextMarker: 'm2' })
      .on(DescribeListenerCertificatesCommand, { ListenerArn: LISTENER, PageSize: 400, Marker: 'm2' })
      .resolves({ Certificates: [{ CertificateArn: 'c2', IsDefault: false }] });
    expect(await cloud.listenerCertificates(LISTENER)).toEqual({ defaultArn: 'default', arns: ['c1', 'c2'] });
    expect(await regionOf(elb.commandCalls(DescribeListenerCertificatesCommand)[0])).toBe('eu-west-1');
  });

  test('add: one certificate per call; the quota error becomes ListenerCertificateQuotaError; other errors pass', async () => {
    elb.on(AddListenerCertificatesCommand).resolvesOnce({ Certificates: [{ CertificateArn: CERT }] });
    await cloud.addListenerCertificate(LISTENER, CERT);
    expect(elb.commandCalls(AddListenerCertificatesCommand)[0].args[0].input).toEqual({ ListenerArn: LISTENER, Certificates: [{ CertificateArn: CERT }] });
    elb.on(AddListenerCertificatesCommand).rejects(new TooManyCertificatesException({ message: "You've reached the limit on the number of certificates per load balancer", ...meta }));
    await expect(cloud.addListenerCertificate(LISTENER, CERT)).rejects.toBeInstanceOf(ListenerCertificateQuotaError);
    elb.on(AddListenerCertificatesCommand).rejects(new ElasticLoadBalancingV2ServiceException({ name: 'Throttling', $fault: 'client', message: 'Rate exceeded', ...meta }));
    await expect(cloud.addListenerCertificate(LISTENER, CERT)).rejects.toThrow('Rate exceeded');
  });

  test('remove: a listener that is gone is fine; throttling is thrown', async () => {
    elb.on(RemoveListenerCertificatesCommand).rejectsOnce(new ListenerNotFoundException({ message: 'no listener', ...meta }));
    await expect(cloud.removeListenerCertificate(LISTENER, CERT)).resolves.toBeUndefined();
    elb.on(RemoveListenerCertificatesCommand).rejects(new ElasticLoadBalancingV2ServiceException({ name: 'Throttling', $fault: 'client', message: 'Rate exceeded', ...meta }));
    await expect(cloud.removeListenerCertificate(LISTENER, CERT)).rejects.toThrow('Rate exceeded');
  });
});

describe('public DNS (the TXT challenge)', () => {
  test("a record's strings form one value; no record is an empty answer; a resolver failure is thrown", async () => {
    dnsAnswers['_edge-challenge.shop.example.org'] = [['edge-verification=', 'abc'], ['other']];
    expect(await cloud.lookupTxt('_edge-challenge.shop.example.org')).toEqual(['edge-verification=abc', 'other']);
    expect(await cloud.lookupTxt('_edge-challenge.nothing.example.org')).toEqual([]);
    dnsAnswers['_edge-challenge.broken.example.org'] = Object.assign(new Error('queryTxt ESERVFAIL'), { code: 'ESERVFAIL' });
    await expect(cloud.lookupTxt('_edge-challenge.broken.example.org')).rejects.toThrow('ESERVFAIL');
  });
});

describe('the cdn origin header', () => {
  const config = {
    CallerReference: 'edge-shop',
    Comment: '',
    Enabled: true,
    Origins: { Quantity: 1, Items: [{ Id: 'edge', DomainName: 'edge.example.com', CustomHeaders: { Quantity: 1, Items: [{ HeaderName: CDN_ORIGIN_HEADER, HeaderValue: 'old' }] } }] },
    DefaultCacheBehavior: { TargetOriginId: 'edge', ViewerProtocolPolicy: 'redirect-to-https' },
  };

  test('a rotation rewrites the header with the ETag it read; an unchanged value writes nothing', async () => {
    cloudfront.on(GetDistributionCommand).resolves({ ETag: 'E1', Distribution: { Id: 'D1', ARN: 'arn', Status: 'Deployed', DomainName: 'd1.cloudfront.net', LastModifiedTime: new Date(), InProgressInvalidationBatches: 0, ActiveTrustedSigners: undefined, DistributionConfig: config as never } });
    cloudfront.on(UpdateDistributionCommand).resolves({});
    await cloud.setDistributionOriginHeader('D1', { name: CDN_ORIGIN_HEADER, value: 'new' });
    const update = cloudfront.commandCalls(UpdateDistributionCommand)[0].args[0].input;
    expect(update.IfMatch).toBe('E1');
    expect(update.DistributionConfig?.Origins?.Items?.[0].CustomHeaders).toEqual({ Quantity: 1, Items: [{ HeaderName: CDN_ORIGIN_HEADER, HeaderValue: 'new' }] });
    expect(update.DistributionConfig?.Enabled).toBe(true);
    cloudfront.resetHistory();
    await cloud.setDistributionOriginHeader('D1', { name: CDN_ORIGIN_HEADER, value: 'old' });
    expect(cloudfront.commandCalls(UpdateDistributionCommand)).toHaveLength(0);
    expect((await cloud.getDistribution('D1'))?.originSecret).toBe('old');
  });

  test("the secret's current value and version", async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:secret' }).resolves({ SecretString: 's3cr3t', VersionId: 'v-7' });
    expect(await cloud.secretValue('arn:secret')).toEqual({ value: 's3cr3t', versionId: 'v-7' });
  });
});
