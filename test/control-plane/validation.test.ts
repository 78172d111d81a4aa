/** Strict validation of rendered resources against Envoy's protos and protoc-gen-validate rules, and render-level checks. */
import { StrictJsonError, strictFromJson } from '../../lib/control-plane/runtime/proto-json';
import { RenderContext } from '../../lib/control-plane/runtime/context';
import { SnapshotRenderer, RenderProblem } from '../../lib/control-plane/runtime/snapshot';
import { TYPE_URLS } from '../../lib/control-plane/runtime/protos';
import { DEFAULT_TEMPLATES, NodeInfo, Template, TemplateRegistry, envoyAtLeast, isEnvoy } from '../../lib/control-plane/runtime/templates';
import { RouteDocument } from '../../lib/model';
import { envoyNode, renderSettings, routeDocument } from '../support/fixtures';

function problemsOf(typeUrl: string, json: unknown): Array<{ field: string; message: string }> {
  try {
    strictFromJson(typeUrl, json);
    return [];
  } catch (err) {
    if (err instanceof StrictJsonError) return [...err.problems];
    throw err;
  }
}

const cluster = (extra: Record<string, unknown> = {}) => ({ name: 'svc-a', connect_timeout: '5s', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, ...extra });

describe('strict proto JSON', () => {
  it('accepts a valid cluster', () => {
    expect(problemsOf(TYPE_URLS.clusters, cluster())).toEqual([]);
  });

  it('rejects an unknown field and names it', () => {
    expect(problemsOf(TYPE_URLS.clusters, cluster({ outlier_detecton: {} }))).toEqual([{ field: 'outlier_detecton', message: 'unknown field of envoy.config.cluster.v3.Cluster' }]);
  });

  it('rejects unknown fields inside typed Any configs', () => {
    const listener = {
      name: 'l',
      address: { socket_address: { address: '0.0.0.0', port_value: 1 } },
      filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', stat_prefix: 'x', bogus: 1, rds: { route_config_name: 'r', config_source: { ads: {} } } } }] }],
    };
    expect(problemsOf(TYPE_URLS.listeners, listener)).toEqual([expect.objectContaining({ field: 'filter_chains[0].filters[0].typed_config.bogus' })]);
  });

  it('rejects a wrong type and names the field', () => {
    expect(problemsOf(TYPE_URLS.clusters, cluster({ connect_timeout: 5 }))).toEqual([{ field: 'connect_timeout', message: 'must be a duration string like "5s"' }]);
    expect(problemsOf(TYPE_URLS.clusters, cluster({ name: 42 }))).toEqual([{ field: 'name', message: 'must be a string' }]);
    expect(problemsOf(TYPE_URLS.clusters, cluster({ per_connection_buffer_limit_bytes: 'lots' }))).toEqual([expect.objectContaining({ field: 'per_connection_buffer_limit_bytes' })]);
  });

  it('rejects an undefined enum value and names the field', () => {
    expect(problemsOf(TYPE_URLS.clusters, cluster({ lb_policy: 'FASTEST' }))).toEqual([
      { field: 'lb_policy', message: '"FASTEST" is not a value of enum envoy.config.cluster.v3.Cluster.LbPolicy' },
    ]);
    // (validate.rules).enum.defined_only also rejects undefined numbers.
    expect(problemsOf(TYPE_URLS.clusters, cluster({ lb_policy: 99 }))).toEqual([expect.objectContaining({ field: 'lb_policy', message: expect.stringContaining('not a defined value') })]);
  });

  it('enforces protoc-gen-validate rules: uint32 lte, string min_len, duration gt, repeated min_items, required message, required oneof', () => {
    const assignment = (port: number, address = '10.0.0.1') => ({ cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address, port_value: port } } } }] }] });
    expect(problemsOf(TYPE_URLS.endpoints, assignment(70000))).toEqual([
      expect.objectContaining({ field: 'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value', message: expect.stringContaining('validate.rules uint32.lte') }),
    ]);
    expect(problemsOf(TYPE_URLS.endpoints, assignment(80, ''))).toEqual([
      expect.objectContaining({ field: 'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address', message: expect.stringContaining('string.min_len') }),
    ]);
    expect(problemsOf(TYPE_URLS.clusters, cluster({ connect_timeout: '0s' }))).toEqual([expect.objectContaining({ field: 'connect_timeout', message: expect.stringContaining('duration.gt') })]);
    const routeConfig = (vhost: Record<string, unknown>) => ({ name: 'r', virtual_hosts: [{ name: 'v', domains: ['a.example.com'], ...vhost }] });
    expect(problemsOf(TYPE_URLS.routes, routeConfig({ domains: [] }))).toEqual([expect.objectContaining({ field: 'virtual_hosts[0].domains', message: expect.stringContaining('at least 1') })]);
    expect(problemsOf(TYPE_URLS.routes, routeConfig({ routes: [{ route: { cluster: 'c' } }] }))).toEqual([expect.objectContaining({ field: 'virtual_hosts[0].routes[0].match', message: 'is required' })]);
    expect(problemsOf(TYPE_URLS.routes, routeConfig({ routes: [{ match: { prefix: '/' } }] }))).toEqual([expect.objectContaining({ field: 'virtual_hosts[0].routes[0].action', message: expect.stringContaining('is required') })]);
  });

  it('enforces rules inside typed per-filter configs (token bucket gt 0)', () => {
    const vhost = {
      name: 'v',
      domains: ['a.example.com'],
      typed_per_filter_config: {
        'envoy.filters.http.local_ratelimit': {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
          stat_prefix: 'x',
          token_bucket: { max_tokens: 0, fill_interval: '1s' },
        },
      },
    };
    expect(problemsOf(TYPE_URLS.routes, { name: 'r', virtual_hosts: [vhost] })).toEqual([
      expect.objectContaining({ field: 'virtual_hosts[0].typed_per_filter_config.envoy.filters.http.local_ratelimit.token_bucket.max_tokens', message: expect.stringContaining('uint32.gt') }),
    ]);
  });
});

const settings = renderSettings();
const envoy: NodeInfo = envoyNode({ id: 'n1', cluster: 'fleet', version: { major: 1, minor: 31, patch: 0 } });

const route = (id: string, generation: number, spec: Partial<RouteDocument['spec']> = {}): RouteDocument => routeDocument(id, { generation, spec });

function renderer(templates = DEFAULT_TEMPLATES, node = envoy) {
  const registry = new TemplateRegistry(templates);
  return new SnapshotRenderer(registry, registry.profileOf(node), node);
}

describe('rendering', () => {
  it('renders every edge feature into valid resources with stable versions', () => {
    const full = route('full', 1, {
      backends: [
        { address: '10.0.0.1', port: 443, protocol: 'h2', region: 'us-east-1', weight: 3 },
        { address: '10.0.1.1', port: 443, protocol: 'h2', region: 'eu-west-1' },
      ],
      health_check: { path: '/healthz', interval_seconds: 5 },
      tls: { upstream_tls: true, upstream_sni: 'full.internal' },
      rate_limit: { requests_per_unit: 100, unit: 'minute', global: true },
      auth: { ext_authz: { address: 'authz.internal', port: 9001, protocol: 'grpc' } },
      ip_allow_list: ['10.0.0.0/8', '192.168.1.0/24'],
      routes: [
        { match: { prefix: '/api', headers: [{ name: 'x-env', exact: 'prod' }] }, rewrite: { prefix: '/', host: 'api.internal' }, timeout_seconds: 2.5, idle_timeout_seconds: 30, retries: { attempts: 2, retry_on: ['5xx', 'reset'], per_try_timeout_seconds: 1 }, request_headers_to_add: { 'x-edge': '1' }, response_headers_to_remove: ['server'] },
        { match: { safe_regex: '^/v[0-9]+/.*' } },
      ],
    });
    const context: RenderContext = { settings: { ...settings, rateLimitService: { address: '10.9.9.9', port: 8081 } }, routes: [full, route('plain', 2)] };
    const first = renderer().render(context);
    if (!first.ok) throw new Error(JSON.stringify(first.problems));
    const snap = first.snapshot;
    expect(snap.excluded).toEqual([]);
    expect([...snap.types.clusters.resources.keys()].sort()).toEqual(['edge-ratelimit', 'svc-full', 'svc-full-authz', 'svc-plain']);
    const clusterJson = snap.types.clusters.resources.get('svc-full')!.json as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- reading rendered JSON
    expect(clusterJson.transport_socket.typed_config.sni).toBe('full.internal');
    expect(clusterJson.health_checks[0].http_health_check.path).toBe('/healthz');
    expect(clusterJson.typed_extension_protocol_options).toBeDefined();
    const cla = snap.types.endpoints.resources.get('svc-full')!.json as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- reading rendered JSON
    expect(cla.endpoints.map((e: { locality: { region: string }; priority: number }) => [e.locality.region, e.priority])).toEqual([['eu-west-1', 1], ['us-east-1', 0]]);
    // Same input, new renderer: same versions (content hashes, not counters).
    const again = renderer().render(context);
    if (!again.ok) throw new Error('second render failed');
    for (const kind of ['listeners', 'routes', 'clusters', 'endpoints'] as const) expect(again.snapshot.types[kind].version).toBe(snap.types[kind].version);
  });

  it('warns when a global rate limit is asked for but no service is configured', () => {
    const outcome = renderer().render({ settings, routes: [route('rl', 1, { rate_limit: { requests_per_unit: 5, unit: 'second', global: true } })] });
    if (!outcome.ok) throw new Error('render failed');
    expect(outcome.snapshot.warnings).toEqual([expect.objectContaining({ instanceId: 'rl', message: expect.stringContaining('no global rate limit service is configured') })]);
  });

  it('serves the last good generation of an instance whose new generation is invalid, and the others move on', () => {
    const r = renderer();
    const good = r.render({ settings, routes: [route('a', 1), route('b', 2)] });
    expect(good.ok).toBe(true);
    const outcome = r.render({ settings, routes: [route('a', 3, { rate_limit: { requests_per_unit: 0, unit: 'second' } }), route('b', 4, { backends: [{ address: '10.0.0.2', port: 81, protocol: 'http' }] })] }, good.ok ? good.snapshot : undefined);
    if (!outcome.ok) throw new Error(JSON.stringify(outcome.problems));
    expect(outcome.snapshot.excluded).toEqual([
      expect.objectContaining({
        instanceId: 'a',
        generation: 3,
        servedGeneration: 1,
        problems: expect.arrayContaining([expect.objectContaining({ template: 'edge-routes', resource: 'edge-https', field: expect.stringContaining('token_bucket.max_tokens') })]),
      }),
    ]);
    const cla = outcome.snapshot.types.endpoints.resources.get('svc-b')!.json as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- reading rendered JSON
    expect(cla.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).toBe(81);
    expect(outcome.snapshot.types.endpoints.previous?.changed).toEqual(new Set(['svc-b']));
  });

  it('rejects a render whose routes name a cluster that does not exist, with the template, resource and field', () => {
    const dangling: Template = {
      id: 'dangling-routes',
      kind: 'routes',
      description: 'test',
      appliesTo: isEnvoy,
      render: () => [{ name: 'extra', resource: { name: 'extra', virtual_hosts: [{ name: 'v', domains: ['x.example.com'], routes: [{ match: { prefix: '/' }, route: { cluster: 'nowhere' } }] }] } }],
    };
    const outcome = renderer([...DEFAULT_TEMPLATES, dangling]).render({ settings, routes: [route('a', 1)] });
    expect(outcome.ok).toBe(false);
    const problems = (outcome as { problems: readonly RenderProblem[] }).problems;
    expect(problems).toEqual([{ template: 'dangling-routes', resource: 'extra', field: 'virtual_hosts[0].routes[0].route.cluster', message: 'names cluster nowhere, which does not exist' }]);
  });

  it('rejects a listener naming a route configuration that does not exist', () => {
    const noRoutes = DEFAULT_TEMPLATES.filter((t) => t.id !== 'edge-routes');
    const orphan: Template = { id: 'other-routes', kind: 'routes', description: 'test', appliesTo: isEnvoy, render: () => [] };
    const outcome = renderer([...noRoutes, orphan]).render({ settings, routes: [route('a', 1)] });
    expect(outcome.ok).toBe(false);
    expect((outcome as { problems: readonly RenderProblem[] }).problems).toEqual(
      expect.arrayContaining([expect.objectContaining({ template: 'edge-listeners', resource: 'edge-https', message: 'names route configuration edge-https, which does not exist' })]),
    );
  });

  it('selects templates per node: Envoy version, user agent and region give different profiles', () => {
    const legacy: Template = { id: 'legacy-only', kind: 'clusters', description: 'test', appliesTo: (n) => isEnvoy(n) && !envoyAtLeast(n, 1, 30), render: () => [] };
    const registry = new TemplateRegistry([...DEFAULT_TEMPLATES, legacy]);
    const old = { ...envoy, version: { major: 1, minor: 27, patch: 0 } };
    expect(registry.profileOf(old)).toContain('legacy-only');
    expect(registry.profileOf(envoy)).not.toContain('legacy-only');
    expect(registry.profileOf({ ...envoy, userAgentName: 'grpc-go' })).toContain('grpc-listeners');
    expect(registry.profileOf({ ...envoy, region: 'eu-west-1' })).not.toBe(registry.profileOf(envoy));
    expect(() => new TemplateRegistry([legacy, legacy])).toThrow('template id legacy-only is used twice');
  });
});
