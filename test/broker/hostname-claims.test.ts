/**
 * The broker's hostname rules and claim answers (lib/broker/runtime/hostnames.ts), called
 * directly: the rules of docs/broker.md "Names" and "Custom domains" and its 409 wordings,
 * with the store's answer given by the test. Pure and fast: the `claims` mutation group runs
 * this file (the claims race on the emulators is test/broker/tenant-names.test.ts).
 */
import { assertHostnamesFree, conflictDescription, hostnameProblems, managedDnsNames } from '../../lib/broker/runtime/hostnames';
import { OsbError } from '../../lib/broker/runtime/osb/errors';
import { BrokerSettings, DEFAULT_CUSTOM_DOMAINS } from '../../lib/broker/runtime/settings';
import { BrokerStore, HostnameConflict } from '../../lib/broker/runtime/store/store';
import { ServiceParameters } from '../../lib/model';

const DOMAIN = 'edge.example.com';
const settings = (namesPerCertificate = 10) =>
  ({
    domain: DOMAIN,
    regions: ['us-east-1', 'eu-west-1'],
    customDomains: { ...DEFAULT_CUSTOM_DOMAINS, namesPerCertificate },
  }) as unknown as BrokerSettings;
const params = (hostnames: string[]): ServiceParameters => ({ hostnames, backends: [{ address: 'app.example.org', port: 80, protocol: 'http' }] });

describe('hostnameProblems', () => {
  test('a name the rules refuse is named by its index, with the rule in words', () => {
    const problems = hostnameProblems(params(['shop.edge.example.com', 'api.shop.edge.example.com', 'edge.example.com']), 'standard', settings());
    expect(problems).toHaveLength(2);
    // docs/broker.md "Names": one label under the platform domain; the domain itself is reserved.
    expect(problems[0]).toMatch(/^hostnames\[1\]: api\.shop\.edge\.example\.com .*one label/);
    expect(problems[1]).toMatch(/^hostnames\[2\]: edge\.example\.com .*reserved/);
  });

  test('names that follow the rules: no problem, on either plan', () => {
    expect(hostnameProblems(params(['shop.edge.example.com', 'api.edge.example.com']), 'standard', settings())).toEqual([]);
    expect(hostnameProblems(params(['shop.edge.example.com', 'api.edge.example.com']), 'cdn', settings())).toEqual([]);
    expect(hostnameProblems(params(['shop.example.org', '*.example.org']), 'standard', settings())).toEqual([]);
  });

  test('the cdn plan: every name under the platform domain (its certificate is validated in the platform zone)', () => {
    expect(hostnameProblems(params(['shop.edge.example.com', 'shop.example.org']), 'cdn', settings())).toEqual([
      "hostnames[1]: must be under edge.example.com on the cdn plan (the CloudFront certificate is validated in the platform's DNS zone)",
    ]);
  });

  test('on the cdn plan a name that breaks a rule is told the rule, once', () => {
    const problems = hostnameProblems(params(['api.shop.edge.example.com', 'internal.edge.example.com']), 'cdn', settings());
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^hostnames\[0\]: api\.shop\.edge\.example\.com /);
    expect(problems[1]).toMatch(/^hostnames\[1\]: internal\.edge\.example\.com /);
    expect(problems.join('\n')).not.toMatch(/cdn plan/);
  });

  test("custom names: at most the quota of names per certificate (ACM's, 10 by default)", () => {
    const custom = (n: number) => Array.from({ length: n }, (_, i) => `site-${i}.example.org`);
    expect(hostnameProblems(params([...custom(10), 'shop.edge.example.com']), 'standard', settings())).toEqual([]);
    expect(hostnameProblems(params(custom(11)), 'standard', settings())).toEqual([
      "hostnames: 11 names outside edge.example.com; at most 10 per instance (they share one ACM certificate per region, and ACM's quota of names per certificate is 10)",
    ]);
    expect(hostnameProblems(params(custom(3)), 'standard', settings(2))).toEqual([
      "hostnames: 3 names outside edge.example.com; at most 2 per instance (they share one ACM certificate per region, and ACM's quota of names per certificate is 2)",
    ]);
    expect(hostnameProblems(params(custom(2)), 'standard', settings(2))).toEqual([]);
  });
});

test('managedDnsNames: the names one label under the platform domain, never a wildcard or a custom name', () => {
  expect(managedDnsNames(['shop.edge.example.com', '*.example.org', 'shop.example.org', 'api.edge.example.com'], DOMAIN)).toEqual(['shop.edge.example.com', 'api.edge.example.com']);
  expect(managedDnsNames([], DOMAIN)).toEqual([]);
});

describe('conflicts, in words that name the other side\'s name and never its owner (docs/broker.md "Wildcards")', () => {
  test('each kind of conflict', () => {
    expect(conflictDescription('hostnames[0]', 'shop.example.org', { kind: 'taken' })).toBe('hostnames[0]: shop.example.org is already served by another instance');
    expect(conflictDescription('hostnames[1]', 'api.example.org', { kind: 'covered', by: '*.example.org' })).toBe(
      'hostnames[1]: api.example.org is covered by *.example.org, which another instance serves',
    );
    expect(conflictDescription('hostnames[2]', '*.example.org', { kind: 'covers', name: 'shop.example.org' })).toBe(
      'hostnames[2]: *.example.org would cover shop.example.org, which another instance serves',
    );
  });

  function storeAnswering(conflicts: Record<string, HostnameConflict>) {
    const asked: Array<[string, string]> = [];
    const store = {
      async hostnameConflict(hostname: string, instanceId: string) {
        asked.push([hostname, instanceId]);
        return conflicts[hostname];
      },
    } as unknown as BrokerStore;
    return { store, asked };
  }

  async function refusal(promise: Promise<void>): Promise<OsbError> {
    try {
      await promise;
    } catch (err) {
      if (err instanceof OsbError) return err;
      throw err;
    }
    throw new Error('expected a refusal');
  }

  test('a name another instance holds: 409 Conflict naming the field and the name', async () => {
    const { store, asked } = storeAnswering({ 'api.example.org': { kind: 'covered', by: '*.example.org' } });
    const err = await refusal(assertHostnamesFree(store, ['shop.example.org', 'api.example.org', 'www.example.org'], 'inst-1'));
    expect(err.status).toBe(409);
    expect(err.body()).toEqual({ error: 'Conflict', description: 'parameters: hostnames[1]: api.example.org is covered by *.example.org, which another instance serves' });
    // Asked for its own instance, in order, and stopped at the first conflict.
    expect(asked).toEqual([
      ['shop.example.org', 'inst-1'],
      ['api.example.org', 'inst-1'],
    ]);
  });

  test('the field can be named by the caller', async () => {
    const { store } = storeAnswering({ 'shop.example.org': { kind: 'taken' } });
    const err = await refusal(assertHostnamesFree(store, ['shop.example.org'], 'inst-1', (i) => `parameters.hostnames[${i + 3}]`));
    expect(err.description).toBe('parameters: parameters.hostnames[3]: shop.example.org is already served by another instance');
  });

  test('names nobody else holds pass', async () => {
    const { store, asked } = storeAnswering({});
    await expect(assertHostnamesFree(store, ['shop.example.org', 'api.example.org'], 'inst-2')).resolves.toBeUndefined();
    expect(asked).toHaveLength(2);
  });
});
