import { resourceBaseName } from '../../../model';
import { RouteRule } from '../../../model';
import { RenderContext, ServedRoute } from '../context';
import { virtualHostHeadersToRemove, virtualHostRbac } from '../cdn-origin';
import { ADS_SOURCE, ANY, EDGE_HTTPS_ROUTES, clusterName, compact, headersToAdd, seconds } from './common';
import { virtualHostAuthz } from '../authz-override';
import { RenderedResource, Template, isEnvoy } from './types';

const UNIT_SECONDS = { second: 1, minute: 60, hour: 3600 } as const;

export function routeMatch(rule: RouteRule): Record<string, unknown> {
  const m = rule.match;
  return compact({
    prefix: m.prefix,
    path: m.path,
    safe_regex: m.safe_regex !== undefined ? { regex: m.safe_regex } : undefined,
    case_sensitive: m.case_sensitive,
    headers: m.headers?.map((h) =>
      compact({
        name: h.name,
        present_match: h.present,
        string_match: h.exact !== undefined ? { exact: h.exact } : h.prefix !== undefined ? { prefix: h.prefix } : undefined,
      }),
    ),
  });
}

function routeAction(route: ServedRoute, rule: RouteRule): Record<string, unknown> {
  return compact({
    cluster: clusterName(route),
    timeout: rule.timeout_seconds !== undefined ? seconds(rule.timeout_seconds) : undefined,
    idle_timeout: rule.idle_timeout_seconds !== undefined ? seconds(rule.idle_timeout_seconds) : undefined,
    prefix_rewrite: rule.rewrite?.prefix,
    host_rewrite_literal: rule.rewrite?.host,
    retry_policy: rule.retries
      ? compact({
          retry_on: (rule.retries.retry_on ?? ['5xx', 'reset', 'connect-failure']).join(','),
          num_retries: rule.retries.attempts,
          per_try_timeout: rule.retries.per_try_timeout_seconds !== undefined ? seconds(rule.retries.per_try_timeout_seconds) : undefined,
        })
      : undefined,
  });
}

const DEFAULT_RULES: readonly RouteRule[] = [{ match: { prefix: '/' } }];

/** Per-instance filter settings, on the virtual host: ip allow list, local rate limit, ext_authz. */
function perFilterConfig(route: ServedRoute, cdnOrigin: RenderContext['cdnOrigin']): Record<string, unknown> | undefined {
  const config: Record<string, unknown> = {};
  const spec = route.spec;
  // ip_allow_list, and the cdn plan's origin header (cdn-origin.ts).
  const rbac = virtualHostRbac(route, cdnOrigin);
  if (rbac) config['envoy.filters.http.rbac'] = rbac;
  if (spec.rate_limit) {
    const { requests_per_unit: rate, unit, burst } = spec.rate_limit;
    const enabled = { default_value: { numerator: 100, denominator: 'HUNDRED' }, runtime_key: 'edge_local_rate_limit_enabled' };
    config['envoy.filters.http.local_ratelimit'] = {
      '@type': `${ANY}envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`,
      stat_prefix: 'edge_local_rate_limit',
      token_bucket: { max_tokens: burst ?? rate, tokens_per_fill: rate, fill_interval: seconds(UNIT_SECONDS[unit]) },
      filter_enabled: enabled,
      filter_enforced: { ...enabled, runtime_key: 'edge_local_rate_limit_enforced' },
    };
  }
  // ext_authz: this host's target, on the listener's filter of its combination (authz-override.ts).
  const authz = virtualHostAuthz(route);
  if (authz) config[authz[0]] = authz[1];
  return Object.keys(config).length > 0 ? config : undefined;
}

/** One virtual host of an instance on the edge. */
export function edgeVirtualHost(route: ServedRoute, domains: readonly string[], cdnOrigin?: RenderContext['cdnOrigin']): Record<string, unknown> {
  const base = resourceBaseName(route.instanceId);
  const rules = route.spec.routes ?? DEFAULT_RULES;
  return compact({
    name: base,
    domains: [...domains],
    routes: rules.map((rule, i) =>
      compact({
        name: `${base}-${i}`,
        match: routeMatch(rule),
        route: routeAction(route, rule),
        request_headers_to_add: headersToAdd(rule.request_headers_to_add),
        request_headers_to_remove: rule.request_headers_to_remove ? [...rule.request_headers_to_remove] : undefined,
        response_headers_to_add: headersToAdd(rule.response_headers_to_add),
        response_headers_to_remove: rule.response_headers_to_remove ? [...rule.response_headers_to_remove] : undefined,
      }),
    ),
    request_headers_to_remove: virtualHostHeadersToRemove(route),
    typed_per_filter_config: perFilterConfig(route, cdnOrigin),
    rate_limits: route.spec.rate_limit?.global ? [{ actions: [{ generic_key: { descriptor_key: 'instance', descriptor_value: base } }] }] : undefined,
  });
}

/** TLS ended at the NLB: what reaches the backend arrived over https. */
const FORWARDED_PROTO = [{ header: { key: 'x-forwarded-proto', value: 'https' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }];

/**
 * The https listener's route table for nodes on SotW ADS or REST: one virtual host per
 * instance (its hostnames), inline, so the Host header picks the instance. A hostname claimed
 * twice is served once (first instance id wins) and reported.
 */
export const edgeRoutes: Template = {
  id: 'edge-routes',
  kind: 'routes',
  description: 'Envoy edge route table: a virtual host per instance with its routes, rewrites, headers, retries and per-instance filters',
  appliesTo: (node) => isEnvoy(node) && !node.deltaXds,
  render(input): RenderedResource[] {
    const claimed = new Set<string>();
    const virtualHosts: unknown[] = [];
    for (const route of input.context.routes) {
      const domains = route.spec.hostnames.filter((h) => {
        if (claimed.has(h)) {
          input.warn(route.instanceId, `hostname ${h} is already served by another instance; not served for this one`);
          return false;
        }
        claimed.add(h);
        return true;
      });
      if (domains.length > 0) virtualHosts.push(edgeVirtualHost(route, domains, input.context.cdnOrigin));
    }
    return [
      {
        name: EDGE_HTTPS_ROUTES,
        resource: {
          name: EDGE_HTTPS_ROUTES,
          request_headers_to_add: FORWARDED_PROTO,
          virtual_hosts: virtualHosts,
        },
      },
    ];
  },
};

/** The VHDS resource name of an instance's virtual host: `<route configuration name>/<name>` (Envoy's VHDS naming). */
export const vhdsName = (route: ServedRoute): string => `${EDGE_HTTPS_ROUTES}/${resourceBaseName(route.instanceId)}`;

/**
 * The https listener's route table for nodes on Delta ADS: no virtual host inline, `vhds`
 * instead (Envoy fetches them over the same ADS stream, which must be DELTA_GRPC). It never
 * changes with the routes: Envoy clears its VHDS virtual hosts whenever the route
 * configuration changes (docs: configuration/http/http_conn_man/vhds).
 */
export const edgeRoutesVhds: Template = {
  id: 'edge-routes-vhds',
  kind: 'routes',
  description: 'Envoy edge route table for Delta xDS nodes: virtual hosts over VHDS, one resource per instance',
  appliesTo: (node) => isEnvoy(node) && node.deltaXds === true,
  render(): RenderedResource[] {
    return [{ name: EDGE_HTTPS_ROUTES, resource: { name: EDGE_HTTPS_ROUTES, request_headers_to_add: FORWARDED_PROTO, vhds: { config_source: ADS_SOURCE } } }];
  },
};

/**
 * The virtual hosts of the https route table over VHDS: one VirtualHost resource per
 * instance, named `edge-https/svc-<id>`, so a change to one instance sends that resource
 * alone. Hostnames claimed by an earlier instance were already taken off the route by the
 * renderer (see SnapshotRenderer), as Envoy refuses a domain in two virtual hosts.
 */
export const edgeVirtualHosts: Template = {
  id: 'edge-virtual-hosts',
  kind: 'virtualHosts',
  description: 'Envoy edge virtual hosts over VHDS (Delta xDS nodes): one per instance with its routes, rewrites, headers, retries and per-instance filters',
  appliesTo: (node) => isEnvoy(node) && node.deltaXds === true,
  perInstance: true,
  render(input): RenderedResource[] {
    const out: RenderedResource[] = [];
    for (const route of input.context.routes) {
      if (route.spec.hostnames.length === 0) continue;
      const name = vhdsName(route);
      out.push({ name, instanceIds: [route.instanceId], resource: { ...edgeVirtualHost(route, route.spec.hostnames, input.context.cdnOrigin), name } });
    }
    return out;
  },
};
