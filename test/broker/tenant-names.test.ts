/**
 * Issue 12, through the broker end to end (the local broker, dynalite, fauxqs, and the
 * LocalCloud behaving like ACM, ELB and DNS): errors in words (item 5), wildcards that
 * capture nothing (item 3), ownership before claim (item 2), certificates of custom domains
 * on every region's edge listener with the listener quota (item 1), and the cdn origin
 * header (item 4, CloudFront side).
 */
import { LocalCloud, localListenerArn, validationRecord } from '../../lib/broker/runtime/cloud/local';
import { challengeRecord } from '../../lib/broker/runtime/custom-domains';
import { CDN_ORIGIN_HEADER } from '../../lib/model';
import { CDN, DOMAIN, REGIONS, SERVICE_ID, STANDARD, brokerFixture, osbClient, proveControl, provisionBody, waitFor, waitForOperation } from './support';

const fixture = brokerFixture('tenant-names');
const ASYNC = '?accepts_incomplete=true';
const path = (id: string) => `/v2/service_instances/${id}`;
const deleteQuery = (plan = STANDARD) => `?accepts_incomplete=true&service_id=${SERVICE_ID}&plan_id=${plan}`;

async function started(cloud = new LocalCloud(), overrides: Parameters<typeof fixture.start>[0] = {}) {
  const broker = await fixture.start({ cloud, ...overrides });
  return { broker, cloud, call: osbClient(broker.url) };
}

type Call = ReturnType<typeof osbClient>;

async function put(call: Call, id: string, hostnames: string[], extra: Record<string, unknown> = {}, plan: string = STANDARD) {
  return call('PUT', `${path(id)}${ASYNC}`, { body: provisionBody(hostnames, extra, plan) });
}

describe('item 5: hostname errors in words, nothing written', () => {
  test.each([
    [['Shop.edge.example.com'], 'hostnames[0]: "Shop.edge.example.com" has upper-case letters: use lowercase (shop.edge.example.com)'],
    [['shop_1.edge.example.com'], 'hostnames[0]: "shop_1.edge.example.com" has a label ("shop_1") with "_": labels are lowercase letters, digits and hyphens, 63 characters at most'],
    [[`${'a'.repeat(64)}.edge.example.com`], 'labels are lowercase letters, digits and hyphens, 63 characters at most'],
    [['shop.edge.example.com.'], 'ends with a dot: drop the trailing dot'],
    [['ok.edge.example.com', 'shop'], 'hostnames[1]: "shop" has one label'],
  ])('%j: 400 %s', async (hostnames, words) => {
    const { call, broker } = await started();
    const reply = await put(call, 'words', hostnames);
    expect(reply.status).toBe(400);
    expect(reply.body.description).toContain(words);
    expect(reply.body.description).not.toMatch(/must match pattern|\^\(/);
    expect((await call('GET', `${path('words')}/last_operation`)).status).toBe(404);
    expect(await broker.store.getInstance('words')).toBeUndefined();
  });
});

describe('item 1 (rule): one label under the platform domain, where the edge certificate *.<domain> covers it', () => {
  test('a deeper name is refused with the rule, naming a one-label alternative', async () => {
    const { call } = await started();
    const reply = await put(call, 'deep', ['api.shop.edge.example.com']);
    expect(reply.status).toBe(400);
    expect(reply.body.description).toBe(
      'parameters: invalid: hostnames[0]: api.shop.edge.example.com is 2 labels below edge.example.com; the edge certificate (*.edge.example.com) covers one label only: use one label (api-shop.edge.example.com), or a domain of your own',
    );
  });
});

describe('item 3: wildcards', () => {
  test.each([
    ['*.example.com', 'a wildcard at or above the platform domain edge.example.com'],
    ['*.edge.example.com', 'a wildcard at or above the platform domain edge.example.com'],
    ['*.team-a.edge.example.com', 'is a wildcard under edge.example.com'],
    ['*.co.uk', 'would cover every name under the public suffix co.uk'],
    ['*.github.io', 'would cover every name under the public suffix github.io'],
  ])('%s: 400 (%s)', async (name, words) => {
    const { call } = await started();
    const reply = await put(call, 'wild', [name]);
    expect(reply.status).toBe(400);
    expect(reply.body.description).toContain(`hostnames[0]: ${name} ${words}`);
  });

  test('a wildcard and the names it covers belong to one instance: 409 both ways, naming the other side, never its owner', async () => {
    const { broker, call, cloud } = await started();
    // The owner of example.org serves its wildcard from `wild-owner`.
    const first = await put(call, 'wild-owner', ['*.example.org']);
    expect(first.status).toBe(202);
    await proveControl(broker, 'wild-owner', ['*.example.org']);
    expect((await waitForOperation(call, 'wild-owner', first.body.operation)).body.state).toBe('succeeded');

    const covered = await put(call, 'wild-thief', ['api.example.org']);
    expect(covered.status).toBe(409);
    expect(covered.body.description).toBe('parameters: hostnames[0]: api.example.org is covered by *.example.org, which another instance serves');
    expect(covered.text).not.toContain('wild-owner');
    const deeper = await put(call, 'wild-thief', ['*.a.example.org']);
    expect(deeper.status).toBe(409);
    expect(deeper.body.description).toContain('*.a.example.org is covered by *.example.org');

    // The other way: a name is served first, a wildcard over it is refused.
    const name = await put(call, 'name-owner', ['shop.example.net']);
    await proveControl(broker, 'name-owner', ['shop.example.net']);
    expect((await waitForOperation(call, 'name-owner', name.body.operation)).body.state).toBe('succeeded');
    const over = await put(call, 'wild-thief', ['*.example.net']);
    expect(over.status).toBe(409);
    expect(over.body.description).toBe('parameters: hostnames[0]: *.example.net would cover shop.example.net, which another instance serves');
    expect(over.text).not.toContain('name-owner');

    // The worker never wrote a wildcard record.
    expect([...cloud.records.keys()].filter((n) => n.includes('*'))).toEqual([]);
  });

  test('racing claims of a wildcard and a name under it: never both win (20 races)', async () => {
    const { broker } = await started();
    for (let i = 0; i < 20; i++) {
      const base = `race${i}.example.org`;
      const [wildcard, name] = await Promise.all([broker.store.claimHostname(`*.${base}`, `w-${i}`), broker.store.claimHostname(`api.${base}`, `n-${i}`)]);
      expect([i, wildcard.claimed && name.claimed]).toEqual([i, false]);
      if (!wildcard.claimed) expect(wildcard.conflict).toEqual({ kind: 'covers', name: `api.${base}` });
      if (!name.claimed) expect(name.conflict).toEqual({ kind: 'covered', by: `*.${base}` });
    }
  });
});

describe('item 2: ownership before claim', () => {
  test('a pending name blocks nobody; the instance whose team proves control wins it; the same ACM record does not prove it for another', async () => {
    const { broker, call, cloud } = await started();
    // A squatter asks first, and cannot prove control.
    const squat = await put(call, 'squatter', ['shop.example.com']);
    expect(squat.status).toBe(202);
    const waiting = await waitFor('the squatter to wait for proof', async () => {
      const reply = await call('GET', `${path('squatter')}/last_operation`);
      return /create these DNS records in your zone/.test(reply.body.description) ? reply : undefined;
    });
    const token = (await broker.store.getInstance('squatter'))!.ownershipToken!;
    const challenge = challengeRecord('edge', 'shop.example.com', token);
    const acmRecord = validationRecord('shop.example.com');
    // The operation tells exactly which records to create, and that they are missing.
    expect(waiting.body.description).toContain(`${challenge.name} TXT "${challenge.value}" (missing`);
    expect(waiting.body.description).toContain(`${acmRecord.name} CNAME ${acmRecord.value} (missing`);
    expect(waiting.body.description).toContain('Then point each name at edge.example.com (CNAME)');
    expect(await broker.store.hostnameOwner('shop.example.com')).toBeUndefined();

    // The real owner asks too: the pending squatter does not block it (no 409).
    const owner = await put(call, 'owner', ['shop.example.com']);
    expect(owner.status).toBe(202);
    // The owner creates its own records; ACM's CNAME is the same for every certificate of the name in the account, so the squatter's certificates issue too...
    await proveControl(broker, 'owner', ['shop.example.com']);
    expect((await waitForOperation(call, 'owner', owner.body.operation)).body.state).toBe('succeeded');
    expect(await broker.store.hostnameOwner('shop.example.com')).toBe('owner');
    // ...but only the owner's TXT challenge is there: the squatter's operation fails, naming the name, not the owner.
    const lost = await waitForOperation(call, 'squatter', squat.body.operation);
    expect(lost.body).toMatchObject({ state: 'failed' });
    expect(lost.body.description).toContain('hostnames[0]: shop.example.com is already served by another instance');
    expect(lost.body.description).not.toContain('owner');
    expect(cloud.records.has('shop.example.com')).toBe(false); // a custom name's DNS is the team's
  });

  test('no proof within the limit: the operation fails naming every missing record; nothing is claimed; deprovision removes the certificates', async () => {
    const { broker, call, cloud } = await started(new LocalCloud(), { customDomains: { ownershipTimeoutSeconds: 1 } });
    const reply = await put(call, 'late', ['late.edge.example.com', 'late.example.org'], { regions: ['eu-west-1'] });
    const failed = await waitForOperation(call, 'late', reply.body.operation);
    const token = (await broker.store.getInstance('late'))!.ownershipToken!;
    expect(failed.body.state).toBe('failed');
    expect(failed.body.description).toContain('you did not prove control of late.example.org within 1 s: these DNS records are still missing:');
    expect(failed.body.description).toContain(`_edge-challenge.late.example.org TXT "edge-verification=${token}"`);
    expect(failed.body.description).toContain(`${validationRecord('late.example.org').name} CNAME`);
    expect(await broker.store.hostnameOwner('late.example.org')).toBeUndefined();
    expect(await broker.store.hostnameOwner('late.edge.example.com')).toBeUndefined();
    expect(cloud.certificates.size).toBe(1);
    const gone = await call('DELETE', `${path('late')}${deleteQuery()}`);
    expect((await waitForOperation(call, 'late', gone.body.operation)).body.state).toBe('succeeded');
    expect(cloud.certificates.size).toBe(0);
  });
});

describe('item 1: custom domains get a certificate in every region, on its edge listener', () => {
  test('provision: one certificate per region, attached by SNI; GET shows the records to keep; a name leaving detaches and deletes; deprovision too', async () => {
    const { broker, call, cloud } = await started();
    const reply = await put(call, 'own', ['own.edge.example.com', 'shop.example.org', '*.example.org']);
    await proveControl(broker, 'own', ['shop.example.org', '*.example.org']);
    expect((await waitForOperation(call, 'own', reply.body.operation)).body.state).toBe('succeeded');
    const certificates = (await broker.store.getInstance('own'))!.resources.edgeCertificates!;
    expect(certificates.map((c) => c.region).sort()).toEqual([...REGIONS].sort());
    for (const c of certificates) {
      expect(c.names).toEqual(['*.example.org', 'shop.example.org']);
      expect(c.listenerArn).toBe(localListenerArn(c.region));
      expect(cloud.listeners.get(c.listenerArn!)!.arns).toEqual([c.arn]);
      expect(cloud.certificates.get(c.arn)!.status).toBe('ISSUED');
    }
    const fetched = await call('GET', path('own'));
    expect(fetched.body.metadata.attributes.custom_domains).toBe(
      'shop.example.org: active (certificate attached to the edge in every region)\n*.example.org: active (certificate attached to the edge in every region)',
    );
    expect(fetched.body.metadata.attributes.dns_records).toContain('shop.example.org CNAME edge.example.com (sends the traffic to the edge)');
    expect(fetched.body.metadata.attributes.dns_records).toContain(`${validationRecord('shop.example.org').name} CNAME ${validationRecord('shop.example.org').value} (keep it: ACM renews the certificate through it)`);

    // The wildcard leaves: a new certificate for the remaining name, the old ones detached and deleted.
    const patch = await call('PATCH', `${path('own')}${ASYNC}`, { body: { service_id: SERVICE_ID, parameters: { hostnames: ['own.edge.example.com', 'shop.example.org'] } } });
    expect((await waitForOperation(call, 'own', patch.body.operation)).body.state).toBe('succeeded');
    const after = (await broker.store.getInstance('own'))!.resources.edgeCertificates!;
    expect(after).toHaveLength(REGIONS.length);
    for (const c of after) {
      expect(c.names).toEqual(['shop.example.org']);
      expect(cloud.listeners.get(c.listenerArn!)!.arns).toEqual([c.arn]);
    }
    for (const old of certificates) expect(cloud.certificates.has(old.arn)).toBe(false);
    expect(await broker.store.hostnameOwner('*.example.org')).toBeUndefined();

    const gone = await call('DELETE', `${path('own')}${deleteQuery()}`);
    expect((await waitForOperation(call, 'own', gone.body.operation)).body.state).toBe('succeeded');
    expect(cloud.certificates.size).toBe(0);
    for (const region of REGIONS) expect(cloud.listeners.get(localListenerArn(region))!.arns).toEqual([]);
  });

  test('the listener quota is checked before the request: a full listener fails clearly, nothing is requested', async () => {
    const { broker, call, cloud } = await started(new LocalCloud({ listenerCertificateQuota: 1 }), { customDomains: { listenerCertificateQuota: 1 } });
    const first = await put(call, 'first', ['first.example.org'], { regions: ['eu-west-1'] });
    await proveControl(broker, 'first', ['first.example.org']);
    expect((await waitForOperation(call, 'first', first.body.operation)).body.state).toBe('succeeded');
    const requested = cloud.certificates.size;
    const second = await put(call, 'second', ['second.example.org'], { regions: ['eu-west-1'] });
    const failed = await waitForOperation(call, 'second', second.body.operation);
    expect(failed.body.state).toBe('failed');
    expect(failed.body.description).toContain(
      'the edge in eu-west-1 holds 1 of its 1 certificates for teams\' own domains (Elastic Load Balancing quota "Certificates per Network Load Balancer", default 25, adjustable): ask the platform team to raise it',
    );
    expect(cloud.certificates.size).toBe(requested);
  });

  test('the listener fills up between the check and the attachment: ELB\'s quota error is told in the same words', async () => {
    const cloud = new LocalCloud({ listenerCertificateQuota: 1 });
    const { broker, call } = await started(cloud);
    const reply = await put(call, 'racer', ['racer.example.org'], { regions: ['eu-west-1'] });
    await waitFor('the certificate request', async () => (await broker.store.getInstance('racer'))?.resources.edgeCertificates?.length);
    // Another certificate takes the last slot meanwhile.
    const other = await cloud.requestCertificate({ instanceId: 'other', hostnames: ['x.example.net'], region: 'eu-west-1', purpose: 'edge' });
    cloud.publish(validationRecord('x.example.net'));
    await cloud.describeCertificate(other);
    await cloud.addListenerCertificate((await cloud.edgeListener('eu-west-1'))!, other);
    await proveControl(broker, 'racer', ['racer.example.org']);
    const failed = await waitForOperation(call, 'racer', reply.body.operation);
    expect(failed.body.description).toContain('the edge in eu-west-1 holds 1 of its 25 certificates');
    // A failed provision holds no names.
    expect(await broker.store.hostnameOwner('racer.example.org')).toBeUndefined();
  });

  test('a region whose fleet has not published its listener: the operation fails naming the region and the parameter', async () => {
    const { call } = await started(new LocalCloud({ regionsWithoutListener: ['ap-southeast-2'] }));
    const reply = await put(call, 'nolistener', ['nolistener.example.org']);
    const failed = await waitForOperation(call, 'nolistener', reply.body.operation);
    expect(failed.body.description).toContain('the edge in ap-southeast-2 has not published its HTTPS listener yet (SSM parameter /edge/fleet/ap-southeast-2/edge-https-listener-arn)');
  });
});

describe('item 4: the cdn origin header (CloudFront side)', () => {
  test("a cdn distribution sends the origin secret's current value; the version is recorded for rotations", async () => {
    const { broker, call, cloud } = await started();
    const reply = await put(call, 'cdn-origin', ['cdn-origin.edge.example.com'], {}, CDN);
    expect((await waitForOperation(call, 'cdn-origin', reply.body.operation)).body.state).toBe('succeeded');
    const secret = await cloud.secretValue(broker.settings.cdnOriginSecretArn!);
    const created = cloud.actions.find((a) => a.action === 'cloudfront:CreateDistribution')!;
    expect(created).toMatchObject({ originHeader: CDN_ORIGIN_HEADER, originSecret: secret.value, origin: DOMAIN });
    expect((await broker.store.getInstance('cdn-origin'))!.resources.originSecretVersion).toBe(secret.versionId);
  });
});
