/**
 * The AWS implementation of the cloud interface, through the real SDK v3 clients, against
 * a small loopback stand-in that speaks the three wire protocols (Route 53 and CloudFront
 * REST-XML, ACM JSON) and records what it was sent. There is no emulator for these
 * services; this checks what we send and how we read the answers, including the
 * "already gone" cases deprovision relies on.
 */
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { AwsCloud } from '../../lib/broker/runtime/cloud/aws';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly target?: string;
  readonly body: string;
}

const seen: Seen[] = [];
let server: Server;
const saved = { ...process.env };
/** Route 53 records the stand-in holds: name (with trailing dot) -> value. */
const zone = new Map<string, string>([['old.edge.example.com.', 'edge.example.com']]);

const R53 = 'xmlns="https://route53.amazonaws.com/doc/2013-04-01/"';
const CF = 'xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"';

function answer(req: IncomingMessage, body: string): { status: number; type: string; text: string } {
  const target = req.headers['x-amz-target'] as string | undefined;
  const url = req.url ?? '';
  if (target === 'CertificateManager.RequestCertificate') return { status: 200, type: 'application/x-amz-json-1.1', text: JSON.stringify({ CertificateArn: 'arn:aws:acm:us-east-1:1:certificate/c1' }) };
  if (target === 'CertificateManager.DescribeCertificate') {
    const arn = (JSON.parse(body) as { CertificateArn: string }).CertificateArn;
    if (arn.endsWith('/gone')) return { status: 400, type: 'application/x-amz-json-1.1', text: JSON.stringify({ __type: 'ResourceNotFoundException', message: 'no such certificate' }) };
    return {
      status: 200,
      type: 'application/x-amz-json-1.1',
      text: JSON.stringify({
        Certificate: {
          CertificateArn: arn,
          Status: 'PENDING_VALIDATION',
          DomainValidationOptions: [
            { DomainName: 'a.edge.example.com', ResourceRecord: { Name: '_x1.a.edge.example.com.', Type: 'CNAME', Value: '_v1.acm-validations.aws.' } },
            { DomainName: 'b.edge.example.com', ResourceRecord: { Name: '_x2.b.edge.example.com.', Type: 'CNAME', Value: '_v2.acm-validations.aws.' } },
          ],
        },
      }),
    };
  }
  if (target === 'CertificateManager.DeleteCertificate') return { status: 400, type: 'application/x-amz-json-1.1', text: JSON.stringify({ __type: 'ResourceNotFoundException', message: 'gone' }) };
  if (url.startsWith('/2013-04-01/hostedzone/Z123/rrset') && req.method === 'GET') {
    const name = new URL(url, 'http://x').searchParams.get('name') ?? '';
    const found = zone.get(name);
    const sets = found
      ? `<ResourceRecordSet><Name>${name}</Name><Type>CNAME</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>${found}</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>`
      : // Route 53 lists from the given name on: the next name in the zone, not a match.
        '<ResourceRecordSet><Name>zzz.edge.example.com.</Name><Type>CNAME</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>x</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>';
    return { status: 200, type: 'text/xml', text: `<?xml version="1.0"?><ListResourceRecordSetsResponse ${R53}><ResourceRecordSets>${sets}</ResourceRecordSets><IsTruncated>true</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>` };
  }
  if (url.startsWith('/2013-04-01/hostedzone/Z123/rrset') && req.method === 'POST') {
    return { status: 200, type: 'text/xml', text: `<?xml version="1.0"?><ChangeResourceRecordSetsResponse ${R53}><ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>` };
  }
  if (url.startsWith('/2020-05-31/distribution/')) {
    return { status: 404, type: 'text/xml', text: `<?xml version="1.0"?><ErrorResponse ${CF}><Error><Type>Sender</Type><Code>NoSuchDistribution</Code><Message>The specified distribution does not exist.</Message></Error><RequestId>r1</RequestId></ErrorResponse>` };
  }
  return { status: 500, type: 'text/plain', text: `unexpected ${req.method} ${url}` };
}

let cloud: AwsCloud;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', target: req.headers['x-amz-target'] as string | undefined, body });
      const { status, type, text } = answer(req, body);
      res.writeHead(status, { 'content-type': type, 'x-amzn-requestid': 'r1' });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_ROUTE_53: endpoint,
    AWS_ENDPOINT_URL_ACM: endpoint,
    AWS_ENDPOINT_URL_CLOUDFRONT: endpoint,
    AWS_MAX_ATTEMPTS: '1',
  });
  cloud = new AwsCloud({ hostedZoneId: 'Z123', platformName: 'edge' });
});

afterAll(async () => {
  process.env = saved;
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen.length = 0;
});

test('Route 53: UPSERT CNAMEs with a short TTL and fully qualified names', async () => {
  await cloud.upsertRecords([{ name: 'shop.edge.example.com', type: 'CNAME', value: 'edge.example.com' }]);
  expect(seen).toHaveLength(1);
  expect(seen[0]).toMatchObject({ method: 'POST', url: '/2013-04-01/hostedzone/Z123/rrset' });
  expect(seen[0].body).toContain('<Action>UPSERT</Action>');
  expect(seen[0].body).toContain('<Name>shop.edge.example.com.</Name>');
  expect(seen[0].body).toContain('<Type>CNAME</Type>');
  expect(seen[0].body).toContain('<TTL>60</TTL>');
  expect(seen[0].body).toContain('<Value>edge.example.com</Value>');
});

test('Route 53: delete reads the exact record set first, and skips names that are not there', async () => {
  await cloud.deleteRecords(['old.edge.example.com', 'never.edge.example.com']);
  const changes = seen.filter((s) => s.method === 'POST');
  expect(seen.filter((s) => s.method === 'GET')).toHaveLength(2);
  expect(changes).toHaveLength(1);
  expect(changes[0].body).toContain('<Action>DELETE</Action>');
  expect(changes[0].body).toContain('<Name>old.edge.example.com.</Name>');
  expect(changes[0].body).toContain('<Value>edge.example.com</Value>');
  expect(changes[0].body).not.toContain('never.edge.example.com');

  seen.length = 0;
  await cloud.deleteRecords(['never.edge.example.com']);
  expect(seen.filter((s) => s.method === 'POST')).toHaveLength(0);
});

test('ACM: a DNS-validated certificate with an idempotency token; validation records without the trailing dot', async () => {
  const arn = await cloud.requestCertificate({ instanceId: 'inst-1', hostnames: ['a.edge.example.com', 'b.edge.example.com'], region: 'us-east-1', purpose: 'cdn' });
  expect(arn).toBe('arn:aws:acm:us-east-1:1:certificate/c1');
  const request = JSON.parse(seen[0].body) as Record<string, unknown>;
  expect(request).toMatchObject({ DomainName: 'a.edge.example.com', SubjectAlternativeNames: ['a.edge.example.com', 'b.edge.example.com'], ValidationMethod: 'DNS' });
  expect(request.IdempotencyToken).toMatch(/^[0-9a-f]{32}$/);
  // the same instance asks with the same token (redelivery-safe)
  await cloud.requestCertificate({ instanceId: 'inst-1', hostnames: ['a.edge.example.com', 'b.edge.example.com'], region: 'us-east-1', purpose: 'cdn' });
  expect((JSON.parse(seen[1].body) as Record<string, unknown>).IdempotencyToken).toBe(request.IdempotencyToken);

  const state = await cloud.describeCertificate(arn);
  expect(state).toMatchObject({
    arn,
    status: 'PENDING_VALIDATION',
    validationRecords: [
      { name: '_x1.a.edge.example.com', type: 'CNAME', value: '_v1.acm-validations.aws.' },
      { name: '_x2.b.edge.example.com', type: 'CNAME', value: '_v2.acm-validations.aws.' },
    ],
  });
});

test('already gone is fine: certificate and distribution deletes tolerate missing resources', async () => {
  expect(await cloud.describeCertificate('arn:aws:acm:us-east-1:1:certificate/gone')).toBeUndefined();
  await expect(cloud.deleteCertificate('arn:aws:acm:us-east-1:1:certificate/gone')).resolves.toBeUndefined();
  expect(await cloud.getDistribution('E404')).toBeUndefined();
  await expect(cloud.disableDistribution('E404')).resolves.toBeUndefined();
  expect(await cloud.deleteDistribution('E404')).toBe('deleted');
});
