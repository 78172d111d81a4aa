import { getDomain, getPublicSuffix } from 'tldts';

/**
 * Tenant hostnames: their syntax, told in words, and the pure rules about names, the
 * platform domain, wildcards and public suffixes. The broker applies them (a 400 naming
 * the field and the rule); the store uses the coverage rules to keep wildcard claims and
 * the names under them apart.
 *
 * A wildcard `*.example.org` covers every name below `example.org`, at any depth (Envoy's
 * suffix match of a virtual host's domain: `*.foo.com` matches `a.foo.com` and
 * `a.b.foo.com`), and not `example.org` itself.
 */

/** RFC 1035: at most 253 characters in a name, 63 in a label. */
export const HOSTNAME_MAX_LENGTH = 253;
export const LABEL_MAX_LENGTH = 63;

/**
 * The published schema's pattern, the same rules as `hostnameSyntaxProblem` (a test holds
 * them together): lowercase letters, digits and hyphens, labels of 1-63 characters that
 * start and end with a letter or digit, at least two labels, a last label (the top-level
 * domain) that starts with a letter, and optionally `*.` as the whole first label.
 */
export const HOSTNAME_PATTERN = '^(\\*\\.([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+)[a-z][a-z0-9-]{0,61}[a-z0-9]$';

const LABEL_RULE = 'labels are lowercase letters, digits and hyphens, 63 characters at most';
const quote = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text);

/**
 * What is wrong with a hostname's spelling, in words that follow the name
 * (`has upper-case letters: use lowercase (shop.example.com)`, `has a label ("a_b") with
 * "_": labels are lowercase letters, digits and hyphens, 63 characters at most`), or
 * undefined when it is well formed.
 */
export function hostnameSyntaxProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty: give a fully qualified name such as shop.example.com';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
  if (/[\s\u0000-\u001f\u007f]/.test(name)) return 'contains a space or a control character';
  if (/[^\x20-\x7e]/.test(name)) return 'has characters outside ASCII: give an internationalized name in its punycode form (xn--...)';
  if (name.endsWith('.')) return `ends with a dot: drop the trailing dot (${name.replace(/\.+$/, '') || 'shop.example.com'})`;
  if (name.length > HOSTNAME_MAX_LENGTH) return `is ${name.length} characters long; a hostname has at most ${HOSTNAME_MAX_LENGTH}`;
  if (/[A-Z]/.test(name)) return `has upper-case letters: use lowercase (${name.toLowerCase()})`;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':')) return 'is an IP address or has a port: give a hostname';
  const wildcard = name.startsWith('*.');
  const rest = wildcard ? name.slice(2) : name;
  if (rest.includes('*')) return 'has a wildcard that is not the whole first label: a wildcard is written *.example.com';
  const labels = rest.split('.');
  if (labels.some((label) => label.length === 0)) return 'has an empty label (two dots in a row, or a leading dot)';
  if (labels.length + (wildcard ? 1 : 0) < 2) return 'has one label: give a fully qualified name such as shop.example.com';
  for (const label of labels) {
    if (label.length > LABEL_MAX_LENGTH) return `has a label (${quote(label)}) of ${label.length} characters: ${LABEL_RULE}`;
    const bad = /[^a-z0-9-]/.exec(label);
    if (bad) return `has a label (${quote(label)}) with ${JSON.stringify(bad[0])}: ${LABEL_RULE}`;
    if (label.startsWith('-') || label.endsWith('-')) return `has a label (${quote(label)}) that starts or ends with a hyphen: a label starts and ends with a letter or digit`;
  }
  const tld = labels[labels.length - 1];
  if (!/^[a-z]/.test(tld)) return `has a last label (${quote(tld)}, the top-level domain) that does not start with a letter`;
  if (tld.length < 2) return `has a one-letter last label (${quote(tld)}, the top-level domain)`;
  return undefined;
}

// ---- names and the platform domain ------------------------------------------------------

export const isWildcard = (name: string): boolean => name.startsWith('*.');

/** `*.example.org` -> `example.org`; other names are their own base. */
export const wildcardBase = (name: string): string => (isWildcard(name) ? name.slice(2) : name);

/** Whether `name` is strictly below `parent` (`a.b.c` is below `b.c` and `c`). */
export const isBelow = (name: string, parent: string): boolean => name.endsWith(`.${parent}`);

/** Names under the platform domain (exact or wildcard): the platform writes their DNS. */
export const isUnderDomain = (name: string, domain: string): boolean => isBelow(wildcardBase(name), domain) || (isWildcard(name) && wildcardBase(name) === domain);

/** Names outside the platform domain: the team's own (custom) domains. */
export function customNames(hostnames: readonly string[], domain: string): string[] {
  return hostnames.filter((h) => !isUnderDomain(h, domain) && h !== domain);
}

/** Whether the wildcard `wildcard` covers `name` (any depth below its base; never the base itself). */
export function covers(wildcard: string, name: string): boolean {
  return isWildcard(wildcard) && isBelow(wildcardBase(name), wildcardBase(wildcard));
}

const PSL_OPTIONS = { allowPrivateDomains: true, extractHostname: false } as const;

/**
 * Whether `name` is itself a public suffix (`com`, `co.uk`, `github.io`): the Public Suffix
 * List, ICANN and private sections (tldts). A name no rule names falls under the list's
 * default rule `*`: its last label is a suffix.
 */
export function isPublicSuffix(name: string): boolean {
  return getPublicSuffix(name, PSL_OPTIONS) === name;
}

/** The registrable domain (eTLD+1) a name belongs to: `a.b.example.co.uk` -> `example.co.uk`. */
export function registrableDomain(name: string): string {
  const base = wildcardBase(name);
  return getDomain(base, PSL_OPTIONS) ?? base;
}

/**
 * The wildcards that would cover `name`: `*.A` for every proper ancestor A of its base that
 * is not a public suffix (no wildcard over a public suffix can be claimed), nearest first.
 * `a.b.example.org` -> `*.b.example.org`, `*.example.org`.
 */
export function coveringWildcards(name: string): string[] {
  const labels = wildcardBase(name).split('.');
  const found: string[] = [];
  for (let i = 1; i < labels.length; i++) {
    const ancestor = labels.slice(i).join('.');
    if (isPublicSuffix(ancestor)) break;
    found.push(`*.${ancestor}`);
  }
  return found;
}

/** `a.b.example.org` -> `org.example.b.a`: names below a domain share its reversed prefix. */
export function reversedName(name: string): string {
  return name.split('.').reverse().join('.');
}

// ---- the rules against the platform ---------------------------------------------------

export interface PlatformNames {
  /** The platform domain (`edge.example.com`). */
  readonly domain: string;
  /** The fleet regions: `<region>.<domain>` are the regional edges' names. */
  readonly regions: readonly string[];
}

/** The zone of the platform's private names (`xds.<region>.internal.<domain>`). */
export const internalZone = (domain: string): string => `internal.${domain}`;

/** The platform's own names under its domain: `<region>.<domain>` and `internal.<domain>`. */
export function reservedLabels(platform: PlatformNames): Set<string> {
  return new Set([...platform.regions, 'internal']);
}

/**
 * What a (syntactically valid) name may not be, in words, or undefined:
 * - the platform domain and the platform's own names (`<region>.<domain>`, everything under
 *   `internal.<domain>` and under `<region>.<domain>`);
 * - a name more than one label below the platform domain: the edge certificate is
 *   `*.<domain>`, which covers one label only (TLS wildcards match a single label);
 * - a wildcard at or above the platform domain (`*.<domain>`, `*.example.com` for
 *   `edge.example.com`, `*.com`): it would capture the platform's names and every unclaimed
 *   name under it; and any wildcard under it (deeper than the certificate covers);
 * - a wildcard over a public suffix (`*.co.uk`, `*.github.io`), or a public suffix itself.
 */
export function hostnameRuleProblem(name: string, platform: PlatformNames): string | undefined {
  const { domain } = platform;
  const base = wildcardBase(name);
  const reserved = reservedLabels(platform);
  if (base === domain && !isWildcard(name)) return 'is reserved for the platform (the platform domain itself)';
  if (isBelow(base, domain) || (isWildcard(name) && base === domain)) {
    const below = base === domain ? [] : base.slice(0, -(domain.length + 1)).split('.');
    const top = below[below.length - 1];
    if (top !== undefined && reserved.has(top)) {
      return top === 'internal' ? `is reserved for the platform (the control planes' private names under ${internalZone(domain)})` : `is reserved for the platform (${top}.${domain} is the ${top} edge)`;
    }
    if (isWildcard(name)) {
      if (base === domain) return `a wildcard at or above the platform domain ${domain} would capture the platform's own names and every name under it`;
      return `is a wildcard under ${domain}: the edge certificate (*.${domain}) covers one label only, so list each name one label below ${domain}, or use a domain of your own`;
    }
    if (below.length > 1) {
      return `is ${below.length} labels below ${domain}; the edge certificate (*.${domain}) covers one label only: use one label (${below.join('-')}.${domain}), or a domain of your own`;
    }
    return undefined;
  }
  if (isWildcard(name)) {
    if (domain === base || isBelow(domain, base)) return `a wildcard at or above the platform domain ${domain} would capture the platform's own names and every name under it`;
    if (isPublicSuffix(base)) return `would cover every name under the public suffix ${base}; a wildcard must sit below a domain someone can own (*.example.${base})`;
    return undefined;
  }
  if (isPublicSuffix(name)) return `is a public suffix (like com or co.uk): nobody can own it`;
  return undefined;
}
