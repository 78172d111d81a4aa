import { ServiceParameters } from '../../model';
import { PlanName } from './catalog';
import { BrokerSettings } from './settings';

/**
 * The hostname rules beyond the schema.
 * - Names under the platform domain are always allowed (the broker writes their DNS).
 * - Other names are allowed too, as long as no other instance claims them; the team
 *   points its own DNS at `<domain>` (the broker cannot write records outside its zone).
 * - Reserved: the platform domain itself, `<region>.<domain>`, and wildcards covering
 *   them (`*.<domain>`, `*.<region>.<domain>`): those are the platform's own names. So is
 *   everything under `internal.<domain>` (the control planes' private endpoints,
 *   `xds.<region>.internal.<domain>`).
 * - The `cdn` plan needs every name under the platform domain: ACM validates the
 *   CloudFront certificate through records in the platform's zone.
 */
export function isUnderDomain(hostname: string, domain: string): boolean {
  return hostname.endsWith(`.${domain}`);
}

export function reservedNames(settings: BrokerSettings): Set<string> {
  const names = [settings.domain, ...settings.regions.map((r) => `${r}.${settings.domain}`)];
  return new Set([...names, ...names.map((n) => `*.${n}`)]);
}

/** The zone of the platform's private names (`xds.<region>.internal.<domain>`). */
export function internalZone(domain: string): string {
  return `internal.${domain}`;
}

export function isReserved(hostname: string, settings: BrokerSettings, reserved = reservedNames(settings)): boolean {
  const internal = internalZone(settings.domain);
  return reserved.has(hostname) || hostname === internal || hostname.endsWith(`.${internal}`);
}

/** Problems with the hostnames of a configuration, each naming the field. */
export function hostnameProblems(parameters: ServiceParameters, plan: PlanName, settings: BrokerSettings): string[] {
  const reserved = reservedNames(settings);
  const problems: string[] = [];
  parameters.hostnames.forEach((hostname, i) => {
    if (isReserved(hostname, settings, reserved)) problems.push(`hostnames[${i}]: ${hostname} is reserved for the platform`);
    else if (plan === 'cdn' && !isUnderDomain(hostname, settings.domain)) {
      problems.push(`hostnames[${i}]: must be under ${settings.domain} on the cdn plan (the CloudFront certificate is validated in the platform's DNS zone)`);
    }
  });
  return problems;
}

/** The service hostnames the broker writes DNS records for. */
export function managedDnsNames(hostnames: readonly string[], domain: string): string[] {
  return hostnames.filter((h) => isUnderDomain(h, domain));
}
