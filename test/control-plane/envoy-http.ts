/**
 * What Envoy's HTTP path does with a request on a rendered RouteConfiguration, for the
 * parts the edge's per-tenant rules use (there is no Envoy binary on the test machine):
 * - virtual host selection by `domains` (config/route/v3/route_components.proto,
 *   VirtualHost.domains): an exact name first, then the longest suffix wildcard
 *   (`*.foo.com`, which does not match `foo.com`), then the longest prefix wildcard
 *   (`foo.*`), then `*`; no match is a 404;
 * - the RBAC filter with the virtual host's `RBACPerRoute` (config/rbac/v3/rbac.proto):
 *   ALLOW allows iff a policy matches; a policy matches iff a permission and a principal
 *   match; principals `any`, `header` (HeaderMatcher: `string_match.exact`,
 *   `present_match`), `direct_remote_ip`, `and_ids`, `or_ids`; a denial is a 403;
 * - the router's header removal (`request_headers_to_remove` of the route, the virtual host
 *   and the route configuration) on what reaches the backend.
 * Anything else in a policy throws, so a test never passes on a rule this does not read.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- reading rendered JSON */

export interface EdgeRequest {
  readonly host: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly remoteIp?: string;
}

export interface EdgeResult {
  readonly status: number;
  readonly virtualHost?: string;
  /** The request headers the backend receives (lower-case names). */
  readonly forwarded?: Record<string, string>;
}

function selectVirtualHost(config: any, host: string): any | undefined {
  const hosts: any[] = config.virtual_hosts ?? [];
  const name = host.toLowerCase().replace(/:\d+$/, '');
  const exact = hosts.find((v) => v.domains.includes(name));
  if (exact) return exact;
  let best: { vhost: any; length: number } | undefined;
  for (const v of hosts) {
    for (const d of v.domains as string[]) {
      if (d.startsWith('*') && d !== '*' && name.endsWith(d.slice(1)) && name.length > d.length - 1 && (!best || d.length > best.length)) best = { vhost: v, length: d.length };
    }
  }
  if (best) return best.vhost;
  for (const v of hosts) {
    for (const d of v.domains as string[]) {
      if (d.endsWith('*') && d !== '*' && name.startsWith(d.slice(0, -1)) && (!best || d.length > best.length)) best = { vhost: v, length: d.length };
    }
  }
  if (best) return best.vhost;
  return hosts.find((v) => v.domains.includes('*'));
}

function ipInCidr(ip: string, prefix: string, length: number): boolean {
  const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const block = 2 ** (32 - length);
  return Math.floor(toInt(ip) / block) === Math.floor(toInt(prefix) / block);
}

function principalMatches(principal: any, request: EdgeRequest, headers: Record<string, string>): boolean {
  const keys = Object.keys(principal);
  if (keys.length !== 1) throw new Error(`principal with ${keys.join(', ')}: not read by this evaluator`);
  const [key] = keys;
  const value = principal[key];
  switch (key) {
    case 'any':
      return value === true;
    case 'or_ids':
      return value.ids.some((p: any) => principalMatches(p, request, headers));
    case 'and_ids':
      return value.ids.every((p: any) => principalMatches(p, request, headers));
    case 'direct_remote_ip':
      return request.remoteIp !== undefined && ipInCidr(request.remoteIp, value.address_prefix, value.prefix_len);
    case 'header': {
      const present = headers[value.name.toLowerCase()];
      if (value.present_match !== undefined) return (present !== undefined) === value.present_match;
      if (value.string_match?.exact !== undefined) return present === value.string_match.exact;
      throw new Error(`header matcher ${JSON.stringify(value)}: not read by this evaluator`);
    }
    default:
      throw new Error(`principal ${key}: not read by this evaluator`);
  }
}

function rbacAllows(perRoute: any, request: EdgeRequest, headers: Record<string, string>): boolean {
  if (!perRoute) return true; // the listener's RBAC filter has no rules
  const rules = perRoute.rbac?.rules;
  if (!rules) return true; // RBACPerRoute without rbac: disabled for the route
  if ((rules.action ?? 'ALLOW') !== 'ALLOW') throw new Error(`action ${rules.action}: not read by this evaluator`);
  return Object.values(rules.policies ?? {}).some((policy: any) => {
    const permitted = policy.permissions.some((p: any) => {
      if (p.any === true) return true;
      throw new Error(`permission ${JSON.stringify(p)}: not read by this evaluator`);
    });
    return permitted && policy.principals.some((p: any) => principalMatches(p, request, headers));
  });
}

/** Sends a request through a rendered `edge-https` RouteConfiguration (JSON). */
export function sendThroughEdge(config: any, request: EdgeRequest): EdgeResult {
  const headers: Record<string, string> = Object.fromEntries(Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const vhost = selectVirtualHost(config, request.host);
  if (!vhost) return { status: 404 };
  if (!rbacAllows(vhost.typed_per_filter_config?.['envoy.filters.http.rbac'], request, headers)) return { status: 403, virtualHost: vhost.name };
  const route = (vhost.routes ?? []).find((r: any) => r.match?.prefix === '/' || r.match?.prefix === undefined);
  const forwarded: Record<string, string> = { ...headers, host: request.host };
  for (const name of [...(route?.request_headers_to_remove ?? []), ...(vhost.request_headers_to_remove ?? []), ...(config.request_headers_to_remove ?? [])]) delete forwarded[name.toLowerCase()];
  return { status: 200, virtualHost: vhost.name, forwarded };
}
