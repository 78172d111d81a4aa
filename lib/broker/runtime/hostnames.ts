import { ServiceParameters, customNames, hostnameRuleProblem, isUnderDomain, isWildcard } from '../../model';
import { PlanName } from './catalog';
import { conflict } from './osb/errors';
import { BrokerSettings } from './settings';
import { BrokerStore, HostnameConflict } from './store/store';

/**
 * The broker's hostname rules beyond the schema (the rules themselves live in
 * lib/model/hostnames.ts; docs/broker.md, "Names", tells them to a tenant):
 * - a name under the platform domain is one label below it (`shop.<domain>`); the broker
 *   writes its DNS, and the edge certificate `*.<domain>` covers it;
 * - the platform's own names are reserved: `<domain>`, `<region>.<domain>` and everything
 *   under it, `internal.<domain>` and everything under it;
 * - a name outside the platform domain (a custom domain) is served once its owner proves
 *   control: a certificate of its own in every region, attached to the edge listeners;
 * - no wildcard at or above the platform domain, none under it, none over a public suffix;
 * - the `cdn` plan needs every name under the platform domain (its CloudFront certificate
 *   is validated through records in the platform's zone).
 */
export { isUnderDomain, internalZone } from '../../model';

/** Problems with the hostnames of a configuration, each naming the field and the rule. */
export function hostnameProblems(parameters: ServiceParameters, plan: PlanName, settings: BrokerSettings): string[] {
  const problems: string[] = [];
  parameters.hostnames.forEach((hostname, i) => {
    const rule = hostnameRuleProblem(hostname, settings);
    if (rule) problems.push(`hostnames[${i}]: ${hostname} ${rule}`);
    else if (plan === 'cdn' && !isUnderDomain(hostname, settings.domain)) {
      problems.push(`hostnames[${i}]: must be under ${settings.domain} on the cdn plan (the CloudFront certificate is validated in the platform's DNS zone)`);
    }
  });
  const custom = customNames(parameters.hostnames, settings.domain);
  const limit = settings.customDomains.namesPerCertificate;
  if (custom.length > limit) {
    problems.push(
      `hostnames: ${custom.length} names outside ${settings.domain}; at most ${limit} per instance (they share one ACM certificate per region, and ACM's quota of names per certificate is ${limit})`,
    );
  }
  return problems;
}

/** The service hostnames the broker writes DNS records for (one label under the platform domain). */
export function managedDnsNames(hostnames: readonly string[], domain: string): string[] {
  return hostnames.filter((h) => isUnderDomain(h, domain) && !isWildcard(h));
}

/** A conflict with another instance's claim, in words that name the other side's name and never its owner. */
export function conflictDescription(field: string, hostname: string, found: HostnameConflict): string {
  switch (found.kind) {
    case 'taken':
      return `${field}: ${hostname} is already served by another instance`;
    case 'covered':
      return `${field}: ${hostname} is covered by ${found.by}, which another instance serves`;
    case 'covers':
      return `${field}: ${hostname} would cover ${found.name}, which another instance serves`;
  }
}

/**
 * Fast feedback for names another instance holds (409 naming the other side's name): the
 * name itself, a wildcard over it, or a name under a wildcard asked for. Names that are
 * only pending (their owner has not proven control yet) block nobody. The worker's claim is
 * what decides.
 */
export async function assertHostnamesFree(store: BrokerStore, hostnames: readonly string[], instanceId: string, fieldOf: (i: number) => string = (i) => `hostnames[${i}]`): Promise<void> {
  for (const [i, hostname] of hostnames.entries()) {
    const found = await store.hostnameConflict(hostname, instanceId);
    if (found) throw conflict(`parameters: ${conflictDescription(fieldOf(i), hostname, found)}`);
  }
}
