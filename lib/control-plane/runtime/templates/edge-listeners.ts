import { ADS_SOURCE, ANY, EDGE_HTTPS_ROUTES, RATELIMIT_CLUSTER, compact } from './common';
import { listenerAuthzFilters } from '../authz-override';
import { RenderContext } from '../context';
import { RenderedResource, Template, TemplateInput, isEnvoy } from './types';

const PROXY_PROTOCOL = {
  name: 'envoy.filters.listener.proxy_protocol',
  typed_config: { '@type': `${ANY}envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol` },
};

const ACCESS_LOG_FORMAT = {
  start_time: '%START_TIME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  authority: '%REQ(:AUTHORITY)%',
  protocol: '%PROTOCOL%',
  status: '%RESPONSE_CODE%',
  flags: '%RESPONSE_FLAGS%',
  duration_ms: '%DURATION%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  client_ip: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  route: '%ROUTE_NAME%',
  upstream_host: '%UPSTREAM_HOST%',
};

function accessLog(context: RenderContext) {
  const path = context.settings.accessLogPath;
  const logFormat = { json_format: ACCESS_LOG_FORMAT };
  if (path === '/dev/stdout' || path === '') {
    return [{ name: 'envoy.access_loggers.stdout', typed_config: { '@type': `${ANY}envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`, log_format: logFormat } }];
  }
  return [{ name: 'envoy.access_loggers.file', typed_config: { '@type': `${ANY}envoy.extensions.access_loggers.file.v3.FileAccessLog`, path, log_format: logFormat } }];
}

function httpConnectionManager(statPrefix: string, routeSpecifier: Record<string, unknown>, httpFilters: unknown[], context: RenderContext) {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': `${ANY}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      use_remote_address: true,
      xff_num_trusted_hops: 0,
      normalize_path: true,
      merge_slashes: true,
      generate_request_id: true,
      // `Host: name:443` must match `name`; any port, since clients reach 443/80 and Envoy listens on 8443/8080 (issue 11).
      strip_any_host_port: true,
      server_name: context.settings.platformName,
      common_http_protocol_options: { idle_timeout: '300s' },
      access_log: accessLog(context),
      ...routeSpecifier,
      http_filters: httpFilters,
    },
  };
}

const router = { name: 'envoy.filters.http.router', typed_config: { '@type': `${ANY}envoy.extensions.filters.http.router.v3.Router` } };

/** The HTTP filters of the https listener; per-instance behaviour is switched on per virtual host. */
function httpsFilters(input: TemplateInput): unknown[] {
  const { context } = input;
  const filters: unknown[] = [
    // RBAC with no rules enforces nothing; virtual hosts with an ip_allow_list override it.
    { name: 'envoy.filters.http.rbac', typed_config: { '@type': `${ANY}envoy.extensions.filters.http.rbac.v3.RBAC` } },
    {
      name: 'envoy.filters.http.local_ratelimit',
      typed_config: { '@type': `${ANY}envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`, stat_prefix: 'edge_local_rate_limit' },
    },
  ];
  // ext_authz: a fixed set of disabled filters; each tenant's virtual host enables one and
  // names its own target (authz-override.ts), so no tenant setting changes this listener.
  filters.push(...listenerAuthzFilters());
  const wantsGlobal = context.routes.filter((r) => r.spec.rate_limit?.global);
  const service = context.settings.rateLimitService;
  // Present whenever the platform configures the service, whatever the tenants ask: a tenant
  // switching rate_limit.global on or off then changes only its virtual host's rate_limits
  // (Envoy docs, "Rate limit" HTTP filter: it "will call the rate limit service when the
  // request's route or virtual host has one or more rate limit configurations"; none, no call),
  // never this shared listener, whose
  // change would drain every connection of every tenant (issue 13, item 5).
  if (service) {
    filters.push({
      name: 'envoy.filters.http.ratelimit',
      typed_config: {
        '@type': `${ANY}envoy.extensions.filters.http.ratelimit.v3.RateLimit`,
        domain: service.domain ?? context.settings.platformName,
        failure_mode_deny: false,
        rate_limit_service: { grpc_service: { envoy_grpc: { cluster_name: RATELIMIT_CLUSTER } }, transport_api_version: 'V3' },
      },
    });
  } else {
    for (const route of wantsGlobal) input.warn(route.instanceId, 'rate_limit.global is set but no global rate limit service is configured (settings.rateLimitService); only the local limit applies');
  }
  filters.push(router);
  return filters;
}

/**
 * The edge listeners of Envoy nodes: :8443 (TLS ended by the NLB) and :8080 (redirects
 * to https), both behind proxy protocol v2 so the client address is the real one.
 */
export const edgeListeners: Template = {
  id: 'edge-listeners',
  kind: 'listeners',
  description: 'Envoy edge listeners: https (decrypted by the NLB) and the http->https redirect, with proxy protocol',
  appliesTo: isEnvoy,
  render(input): RenderedResource[] {
    const { context } = input;
    const https = {
      name: 'edge-https',
      address: { socket_address: { address: '0.0.0.0', port_value: context.settings.httpsTrafficPort } },
      listener_filters: [PROXY_PROTOCOL],
      per_connection_buffer_limit_bytes: 32768,
      filter_chains: [
        {
          filters: [httpConnectionManager('edge_https', { rds: { config_source: ADS_SOURCE, route_config_name: EDGE_HTTPS_ROUTES } }, httpsFilters(input), context)],
        },
      ],
    };
    const redirect = {
      name: 'edge-http',
      address: { socket_address: { address: '0.0.0.0', port_value: context.settings.httpTrafficPort } },
      listener_filters: [PROXY_PROTOCOL],
      filter_chains: [
        {
          filters: [
            httpConnectionManager(
              'edge_http',
              {
                route_config: {
                  name: 'edge-http-redirect',
                  virtual_hosts: [{ name: 'redirect-to-https', domains: ['*'], routes: [{ match: { prefix: '/' }, redirect: { https_redirect: true } }] }],
                },
              },
              [router],
              context,
            ),
          ],
        },
      ],
    };
    return [
      // No tenant setting shapes it (issue 13, item 5), so no instance is blamed for it.
      { name: https.name, resource: compact(https) },
      { name: redirect.name, resource: redirect },
    ];
  },
};
