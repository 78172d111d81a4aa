import { GetRoleCommand, IAMClient, NoSuchEntityException } from '@aws-sdk/client-iam';
import { GetHostedZoneCommand, NoSuchHostedZone, Route53Client } from '@aws-sdk/client-route-53';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { credentialsCheck, hostedZoneCheck, placeholdersCheck, serviceLinkedRolesCheck } from '../../lib/preflight/checks/account';
import { ACCOUNT, context, noCredentials, throttled } from './support';

const sts = mockClient(STSClient);
const iam = mockClient(IAMClient);
const route53 = mockClient(Route53Client);
beforeEach(() => {
  sts.reset();
  iam.reset();
  route53.reset();
});

describe('credentials', () => {
  test('pass: the credentials work and belong to the configured account', async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:role/deployer` });
    const ctx = context();
    expect(await credentialsCheck.run(ctx, 'us-east-1')).toMatchObject({ status: 'pass', detail: `account ${ACCOUNT} as arn:aws:iam::${ACCOUNT}:role/deployer` });
    expect(ctx.account).toBe(ACCOUNT);
  });

  test('fail: credentials of another account', async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Account: '210987654321', Arn: 'arn:aws:iam::210987654321:user/me' });
    expect(await credentialsCheck.run(context(), 'us-east-1')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(`belong to account 210987654321 (arn:aws:iam::210987654321:user/me), the config targets ${ACCOUNT}`),
    });
  });

  test('could not check: no credentials at all (never "passed")', async () => {
    sts.on(GetCallerIdentityCommand).rejects(noCredentials());
    expect(await credentialsCheck.run(context(), 'us-east-1')).toMatchObject({ status: 'error', detail: expect.stringMatching(/^could not check: no AWS credentials/) });
  });
});

describe('placeholders', () => {
  test('fail: the defaults (edge.example.com and the example zone id) name the fields', async () => {
    const result = await placeholdersCheck.run(context({ domain: 'edge.example.com', hostedZoneId: 'Z0EXAMPLE0EDGE0ZONE' }), 'us-east-1');
    expect(result.status).toBe('fail');
    expect(result.detail).toContain('domain: "edge.example.com" is a reserved example name');
    expect(result.detail).toContain('hostedZoneId: "Z0EXAMPLE0EDGE0ZONE" is a placeholder');
    expect(result.fix).toContain('"domain"');
  });

  test('pass: a real domain and zone id', async () => {
    expect((await placeholdersCheck.run(context(), 'us-east-1')).status).toBe('pass');
  });
});

describe('service-linked roles', () => {
  test('pass: all three exist', async () => {
    iam.on(GetRoleCommand).resolves({ Role: { RoleName: 'x', Arn: 'arn', Path: '/', RoleId: 'id', CreateDate: new Date() } });
    expect(await serviceLinkedRolesCheck.run(context(), 'us-east-1')).toMatchObject({ status: 'pass' });
    expect(iam.commandCalls(GetRoleCommand).map((c) => c.args[0].input.RoleName)).toEqual([
      'AWSServiceRoleForAutoScaling',
      'AWSServiceRoleForECS',
      'AWSServiceRoleForApplicationAutoScaling_ECSService',
    ]);
  });

  test('fail: a fresh account lacks them; the fix is one create-service-linked-role per missing role', async () => {
    const missing = new NoSuchEntityException({ message: 'The role with name AWSServiceRoleForECS cannot be found.', $metadata: {} });
    iam.on(GetRoleCommand).rejects(missing);
    iam.on(GetRoleCommand, { RoleName: 'AWSServiceRoleForAutoScaling' }).resolves({});
    const result = await serviceLinkedRolesCheck.run(context(), 'us-east-1');
    expect(result.status).toBe('fail');
    expect(result.detail).toContain('AWSServiceRoleForECS');
    expect(result.detail).not.toContain('AWSServiceRoleForAutoScaling ');
    expect(result.fix!.split('\n')).toEqual([
      'aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com',
      'aws iam create-service-linked-role --aws-service-name ecs.application-autoscaling.amazonaws.com',
    ]);
  });

  test('could not check: throttled, or not allowed to read IAM', async () => {
    iam.on(GetRoleCommand).rejects(throttled('Throttling'));
    expect(await serviceLinkedRolesCheck.run(context(), 'us-east-1')).toMatchObject({ status: 'error', detail: expect.stringContaining('AWS throttled the calls in us-east-1') });
    iam.reset();
    iam.on(GetRoleCommand).rejects(Object.assign(new Error('User is not authorized to perform: iam:GetRole'), { name: 'AccessDenied' }));
    expect(await serviceLinkedRolesCheck.run(context(), 'us-east-1')).toMatchObject({ status: 'error', detail: expect.stringContaining('the credentials may not do this') });
  });
});

describe('hosted zone', () => {
  const NS = ['ns-1.awsdns-01.org', 'ns-2.awsdns-02.co.uk', 'ns-3.awsdns-03.com', 'ns-4.awsdns-04.net'];
  const zone = (over: { name?: string; private?: boolean } = {}) => ({
    HostedZone: { Id: '/hostedzone/Z0123456789ABCDEFGHIJ', Name: over.name ?? 'edge.corp-example.net.', CallerReference: 'x', Config: { PrivateZone: over.private ?? false } },
    DelegationSet: { NameServers: NS },
  });

  test('pass: public, serves the domain, and the parent delegates to exactly its name servers', async () => {
    route53.on(GetHostedZoneCommand, { Id: 'Z0123456789ABCDEFGHIJ' }).resolves(zone());
    const resolved: string[] = [];
    const result = await hostedZoneCheck.run(
      context({}, { resolveNs: async (name) => (resolved.push(name), [...NS].reverse().map((n) => `${n.toUpperCase()}.`)) }),
      'us-east-1',
    );
    expect(result).toMatchObject({ status: 'pass' });
    expect(resolved).toEqual(['edge.corp-example.net']);
  });

  test.each([
    ['a zone that does not exist', () => route53.on(GetHostedZoneCommand).rejects(new NoSuchHostedZone({ message: 'No hosted zone found with ID: Z0123456789ABCDEFGHIJ', $metadata: {} })), NS, 'does not exist in this account'],
    ['a private zone', () => route53.on(GetHostedZoneCommand).resolves(zone({ private: true })), NS, 'is private'],
    ['the zone of another name', () => route53.on(GetHostedZoneCommand).resolves(zone({ name: 'other.corp-example.net.' })), NS, 'serves other.corp-example.net, not edge.corp-example.net'],
    ['a domain the parent does not delegate', () => route53.on(GetHostedZoneCommand).resolves(zone()), [], 'is not delegated: no NS records resolve for it'],
    ['a domain delegated to other name servers (a stale zone)', () => route53.on(GetHostedZoneCommand).resolves(zone()), ['ns-9.awsdns-09.org'], 'is delegated to ns-9.awsdns-09.org, not to the zone\'s name servers'],
  ])('fail: %s', async (_name, arrange, delegated, message) => {
    arrange();
    const result = await hostedZoneCheck.run(context({}, { resolveNs: async () => delegated }), 'us-east-1');
    expect(result.status).toBe('fail');
    expect(result.detail).toContain(message);
    expect(result.fix).toBeDefined();
  });

  test('fail, no AWS call: the placeholder zone (the placeholders check says why)', async () => {
    expect(await hostedZoneCheck.run(context({ domain: 'edge.example.com' }), 'us-east-1')).toMatchObject({ status: 'fail' });
    expect(route53.calls()).toHaveLength(0);
  });

  test('the delegation fix names the records to set in the parent zone', async () => {
    route53.on(GetHostedZoneCommand).resolves(zone());
    const result = await hostedZoneCheck.run(context({}, { resolveNs: async () => [] }), 'us-east-1');
    expect(result.fix).toBe(`in the parent zone of edge.corp-example.net, set its NS records to: ${[...NS].sort().join(' ')}`);
  });

  test('could not check: DNS itself failing is not "not delegated"', async () => {
    route53.on(GetHostedZoneCommand).resolves(zone());
    const result = await hostedZoneCheck.run(context({}, { resolveNs: async () => Promise.reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })) }), 'us-east-1');
    expect(result).toMatchObject({ status: 'error', detail: expect.stringContaining('could not check the delegation') });
  });
});
