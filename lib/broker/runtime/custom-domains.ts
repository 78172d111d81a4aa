import { customNames, wildcardBase } from '../../model';
import { DnsRecord } from './cloud/types';
import { BrokerSettings } from './settings';
import { InstanceRecord } from './store/types';

/**
 * The DNS records a team creates for a name of its own (docs/broker.md, "Custom domains"):
 * - the TXT challenge `_<platform>-challenge.<name>` = `<platform>-verification=<token>`,
 *   with the instance's own token: it proves that this instance's team controls the name
 *   (ACM's validation CNAME cannot: ACM gives the same record to every certificate of a
 *   name in the platform's account, whichever team asked);
 * - ACM's validation CNAME of each name (kept: ACM renews the certificate through it);
 * - the name itself as a CNAME to the platform domain (the edge), when the team is ready to
 *   send its traffic.
 * A wildcard's records sit at its base name.
 */
export function challengeRecord(platformName: string, hostname: string, token: string): DnsRecord {
  return { name: `_${platformName}-challenge.${wildcardBase(hostname)}`, type: 'TXT', value: `${platformName}-verification=${token}` };
}

/** The CNAME that sends a custom name's traffic to the edge (a zone apex needs its provider's ALIAS/ANAME instead). */
export function trafficRecord(hostname: string, domain: string): DnsRecord {
  return { name: hostname, type: 'CNAME', value: domain };
}

/**
 * What the instance's GET tells the team about its own domains (OSB `metadata.attributes`,
 * strings only, as platforms store them): each name's state, and every DNS record the team
 * keeps, one per line.
 */
export function customDomainAttributes(instance: InstanceRecord, settings: BrokerSettings): Record<string, string> | undefined {
  const names = customNames(instance.parameters.hostnames, settings.domain);
  if (!names.length) return undefined;
  const certificates = instance.resources.edgeCertificates ?? [];
  const regions = instance.parameters.regions?.length ? instance.parameters.regions : settings.regions;
  const served = (name: string) => regions.every((region) => certificates.some((c) => c.region === region && c.names.includes(name) && c.listenerArn));
  const lines: string[] = [];
  const seen = new Set<string>();
  const add = (record: DnsRecord, why: string) => {
    const line = `${record.name} ${record.type} ${record.type === 'TXT' ? JSON.stringify(record.value) : record.value}`;
    if (!seen.has(line)) lines.push(`${line} (${why})`);
    seen.add(line);
  };
  for (const name of names) add(trafficRecord(name, settings.domain), 'sends the traffic to the edge');
  for (const certificate of certificates) for (const record of certificate.validationRecords ?? []) add(record, 'keep it: ACM renews the certificate through it');
  if (instance.ownershipToken) {
    for (const name of names) add(challengeRecord(settings.platformName, name, instance.ownershipToken), 'proved control; needed again only when a name is added anew');
  }
  return {
    custom_domains: names.map((name) => `${name}: ${served(name) ? 'active (certificate attached to the edge in every region)' : 'not served (see the last operation)'}`).join('\n'),
    dns_records: lines.join('\n'),
  };
}
