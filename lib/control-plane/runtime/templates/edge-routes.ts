import { resourceBaseName } from '../../../model';
import { RouteRule } from '../../../model';
import { RenderContext, ServedRoute } from '../context';
import { virtualHostHeadersToRemove, virtualHostRbac } from '../cdn-origin';
import { ANY, EDGE_HTTPS_ROUTES, authzFilterName, clusterName, compact, headersToAdd, seconds } from './common';
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
  if (spec.auth) {
    config[authzFilterName(route)] = {
      '@type': `${ANY}envoy.config.route.v3.FilterConfig`,
      config: { '@type': `${ANY}envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute`, check_settings: {} },
    };
  }
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

/**
 * The https listener's route table: one virtual host per instance (its hostnames), so
 * the Host header picks the instance. A hostname claimed twice is served once (first
 * instance id wins) and reported.
 */
export const edgeRoutes: Template = {
  id: 'edge-routes',
  kind: 'routes',
  description: 'Envoy edge route table: a virtual host per instance with its routes, rewrites, headers, retries and per-instance filters',
  appliesTo: isEnvoy,
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
          // TLS ended at the NLB: what reaches the backend arrived over https.
          request_headers_to_add: [{ header: { key: 'x-forwarded-proto', value: 'https' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
          virtual_hosts: virtualHosts,
        },
      },
    ];
  },
};
