/**
 * Envoy's own rules for what a tenant's parameters become, checked before anything is
 * pushed: a parameter Envoy refuses makes every proxy of the rollout NACK the whole
 * resource, and the canary then blames everyone in it (issue 13, item 6). The broker
 * answers these with a 400 naming the field; the control plane calls the same function
 * on every render (phase 2).
 *
 * The rules, with their source in Envoy (1.39) and its API:
 * - Header names that request/response_headers_to_add and _to_remove may not name: every
 *   `:`-prefixed pseudo-header and `host`, case-insensitively, for adding and removing
 *   alike (`Http::HeaderUtility::isModifiableHeader` / `isRemovableHeader`, used by
 *   `Router::HeaderParser::configure`: ":-prefixed or host headers may not be modified").
 * - Header values are substitution format strings (API `config.core.v3.HeaderValue`: "the
 *   same format specifier as used for HTTP access logging applies here"): an unescaped `%`
 *   starts a command, an unknown one is a NACK ("Not supported field in StreamInfo") and a
 *   known one reads the proxy's state (`%ENVIRONMENT(..)%` its environment, `%HOSTNAME%`).
 *   Tenant values are literal, so `%` is refused. NUL, CR and LF are refused by the proto's
 *   validation (`well_known_regex: HTTP_HEADER_VALUE, strict: false`, max 16384 bytes).
 * - `safe_regex` is compiled by RE2 with default options and refused when its program size
 *   exceeds the runtime key `re2.max_program_size.error_level`, default 100
 *   (`Regex::CompiledGoogleReMatcher`; API `type.matcher.v3.RegexMatcher.GoogleRE2`). The
 *   syntax is checked by RE2 itself, the size by an estimate that is never under RE2's
 *   (`re2.ts`), so a regex near the limit can be refused here that Envoy would accept.
 * - `ip_allow_list` becomes RBAC `CidrRange`s: the address must be an IP address and the
 *   prefix length fit it (at most 32 for IPv4, 128 for IPv6).
 */
import { ParameterProblem } from './field-path';
import { re2ProgramSize } from './re2';
import { ServiceParameters } from './service-parameters';
import { parseCanonicalIpv4, parseIpv6 } from './targets';

/** Envoy's default `re2.max_program_size.error_level`: a larger RE2 program is refused. */
export const ENVOY_RE2_MAX_PROGRAM_SIZE = 100;
/** `HeaderValue.value`: `max_bytes: 16384`. */
export const ENVOY_HEADER_VALUE_MAX_BYTES = 16384;

/** Whether Envoy lets a route add, change or remove this header. */
export function isModifiableHeaderName(name: string): boolean {
  return !name.startsWith(':') && name.toLowerCase() !== 'host';
}

/** Why Envoy refuses to add, change or remove this header, or undefined. */
export function headerNameProblem(name: string): string | undefined {
  if (name.startsWith(':')) return `${name} is a pseudo-header: Envoy refuses to add, change or remove ':'-prefixed headers (use rewrite.prefix or rewrite.host)`;
  if (name.toLowerCase() === 'host') return `${name}: Envoy refuses to add, change or remove the host header (use rewrite.host)`;
  return undefined;
}

/** Why Envoy would refuse, or read as a command, this header value, or undefined. */
export function headerValueProblem(value: string): string | undefined {
  if (value.includes('\u0000') || value.includes('\r') || value.includes('\n')) return 'must not contain NUL, CR or LF (Envoy refuses them in header values)';
  if (value.includes('%')) return "must not contain '%': header values are literal, and Envoy reads '%' as the start of a substitution command (such as %ENVIRONMENT(..)%)";
  if (Buffer.byteLength(value, 'utf8') > ENVOY_HEADER_VALUE_MAX_BYTES) return `must be at most ${ENVOY_HEADER_VALUE_MAX_BYTES} bytes`;
  return undefined;
}

/** Why Envoy would refuse this `safe_regex` (RE2 syntax, or its program size), or undefined. */
export function regexProblem(pattern: string): string | undefined {
  const compiled = re2ProgramSize(pattern);
  if (!compiled.ok) return `is not a valid RE2 regular expression: ${compiled.error}`;
  if (compiled.programSize > ENVOY_RE2_MAX_PROGRAM_SIZE) {
    return `is too complex: its estimated RE2 program size is ${compiled.programSize}, over Envoy's default limit of ${ENVOY_RE2_MAX_PROGRAM_SIZE} (re2.max_program_size.error_level); use fewer alternatives, counted repetitions or Unicode classes`;
  }
  return undefined;
}

/** Why this `ip_allow_list` entry is not a CIDR range Envoy accepts, or undefined. */
export function cidrProblem(cidr: string): string | undefined {
  const slash = cidr.indexOf('/');
  const address = cidr.slice(0, slash);
  const length = cidr.slice(slash + 1);
  if (slash < 0 || !/^\d{1,3}$/.test(length)) return 'must be an address and a prefix length (a.b.c.d/n or an IPv6 address/n)';
  if (parseCanonicalIpv4(address) !== undefined) return Number(length) > 32 ? 'an IPv4 prefix length must be at most 32' : undefined;
  if (address.includes(':') && parseIpv6(address.toLowerCase()) !== undefined) return Number(length) > 128 ? 'an IPv6 prefix length must be at most 128' : undefined;
  return `${address} is not an IP address`;
}

type HeaderFields = 'request_headers_to_add' | 'response_headers_to_add' | 'request_headers_to_remove' | 'response_headers_to_remove';
const HEADER_MAPS: readonly HeaderFields[] = ['request_headers_to_add', 'response_headers_to_add'];
const HEADER_LISTS: readonly HeaderFields[] = ['request_headers_to_remove', 'response_headers_to_remove'];

/** Every parameter Envoy would refuse, each naming the field. */
export function envoyLimitProblems(parameters: Pick<ServiceParameters, 'routes' | 'ip_allow_list'>): ParameterProblem[] {
  const problems: ParameterProblem[] = [];
  (parameters.routes ?? []).forEach((rule, i) => {
    const at = `routes[${i}]`;
    if (rule.match?.safe_regex !== undefined) {
      const problem = regexProblem(rule.match.safe_regex);
      if (problem) problems.push({ field: `${at}.match.safe_regex`, message: problem });
    }
    for (const field of HEADER_MAPS) {
      const headers = (rule as Partial<Record<HeaderFields, Readonly<Record<string, string>>>>)[field] ?? {};
      for (const [name, value] of Object.entries(headers)) {
        const nameProblem = headerNameProblem(name);
        // Named as the schema's errors name them: the key as `[":path"]`, its value as `.x-a`.
        if (nameProblem) problems.push({ field: `${at}.${field}[${JSON.stringify(name)}]`, message: nameProblem });
        const valueProblem = typeof value === 'string' ? headerValueProblem(value) : undefined;
        if (valueProblem) problems.push({ field: `${at}.${field}.${name}`, message: valueProblem });
      }
    }
    for (const field of HEADER_LISTS) {
      const names = (rule as Partial<Record<HeaderFields, readonly string[]>>)[field] ?? [];
      names.forEach((name, j) => {
        const problem = headerNameProblem(name);
        if (problem) problems.push({ field: `${at}.${field}[${j}]`, message: problem });
      });
    }
  });
  (parameters.ip_allow_list ?? []).forEach((cidr, i) => {
    const problem = cidrProblem(cidr);
    if (problem) problems.push({ field: `ip_allow_list[${i}]`, message: problem });
  });
  return problems;
}
