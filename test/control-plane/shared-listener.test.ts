/**
 * Issue 13, item 5: no tenant setting touches the shared `edge-https` listener, whose change
 * drains every connection of every tenant on every proxy. `rate_limit.global` is switched
 * per virtual host (its `rate_limits`); the listener's rate limit filter and the service's
 * cluster depend only on the platform's settings. `auth.ext_authz` arrives in the virtual
 * host (ExtAuthzPerRoute.check_settings.grpc_service / http_service) on one of a fixed set
 * of listener filters.
 */
import { RenderContext } from '../../lib/control-plane/runtime/context';
import { SnapshotRenderer } from '../../lib/control-plane/runtime/snapshot';
import { DEFAULT_TEMPLATES, NodeInfo, TemplateRegistry } from '../../lib/control-plane/runtime/templates';
import { RouteDocument } from '../../lib/model';
import { envoyNode, httpBackend, renderSettings, routeDocument } from '../support/fixtures';

const settings = renderSettings({ rateLimitService: { address: '10.9.9.9', port: 8081 } });
const envoy: NodeInfo = envoyNode({ id: 'n1', cluster: 'fleet', version: { major: 1, minor: 39, patch: 0 } });
const route = (id: string, generation: number, spec: Partial<RouteDocument['spec']> = {}) => routeDocument(id, { generation, spec: { backends: [httpBackend('203.0.113.5')], ...spec } });

describe('tenant settings and the shared listener', () => {
  const renderer = new SnapshotRenderer(new TemplateRegistry(DEFAULT_TEMPLATES), 'p', envoy);
  const render = (routes: RouteDocument[], s: RenderContext['settings'] = settings) => {
    const outcome = renderer.render({ settings: s, routes });
    if (!outcome.ok) throw new Error(JSON.stringify(outcome.problems));
    return outcome.snapshot;
  };
  const listener = (snapshot: ReturnType<typeof render>) => snapshot.types.listeners.resources.get('edge-https')!;

  it('a tenant switching rate_limit.global on and off changes its virtual host, never the edge-https listener', () => {
    const before = render([route('a', 1)]);
    const on = render([route('a', 1), route('b', 2, { rate_limit: { requests_per_unit: 10, unit: 'second', global: true } })]);
    const off = render([route('a', 1), route('b', 3, { rate_limit: { requests_per_unit: 10, unit: 'second' } })]);
    expect(listener(on).version).toBe(listener(before).version);
    expect(listener(off).version).toBe(listener(before).version);
    // The filter and its cluster are there from the start, because the platform configures the service.
    expect(JSON.stringify(listener(before).json)).toContain('envoy.filters.http.ratelimit');
    expect([...before.types.clusters.resources.keys()]).toContain('edge-ratelimit');
    // What changes is the tenant's own virtual host.
    const vhost = (s: ReturnType<typeof render>) =>
      (s.types.routes.resources.get('edge-https')!.json as { virtual_hosts: Array<{ name: string; rate_limits?: unknown }> }).virtual_hosts.find((v) => v.name === 'svc-b');
    expect(vhost(on)?.rate_limits).toBeDefined();
    expect(vhost(off)?.rate_limits).toBeUndefined();
  });

  it('without a platform rate limit service there is no filter, and the tenant is told', () => {
    const { rateLimitService, ...none } = settings;
    expect(rateLimitService).toBeDefined();
    const snapshot = render([route('b', 4, { rate_limit: { requests_per_unit: 10, unit: 'second', global: true } })], none);
    expect(JSON.stringify(listener(snapshot).json)).not.toContain('envoy.filters.http.ratelimit');
    expect(snapshot.warnings.map((w) => w.message)).toContain('rate_limit.global is set but no global rate limit service is configured (settings.rateLimitService); only the local limit applies');
  });

  it('a tenant adding, changing or removing its ext_authz target changes its virtual host and its cluster, never the listener', () => {
    const authz = (address: string, protocol: 'grpc' | 'http', failure_mode_allow?: boolean) => ({ auth: { ext_authz: { address, port: 9001, protocol, failure_mode_allow } } });
    const before = render([route('a', 1)]);
    const grpc = render([route('a', 1), route('b', 5, authz('authz-1.example.org', 'grpc'))]);
    const http = render([route('a', 1), route('b', 6, authz('authz-2.example.org', 'http', true))]);
    const removed = render([route('a', 1), route('b', 7)]);
    for (const s of [grpc, http, removed]) expect(listener(s).version).toBe(listener(before).version);
    const perFilter = (s: ReturnType<typeof render>) =>
      (s.types.routes.resources.get('edge-https')!.json as { virtual_hosts: Array<{ name: string; typed_per_filter_config?: Record<string, any> }> }).virtual_hosts.find((v) => v.name === 'svc-b')?.typed_per_filter_config ?? {}; // eslint-disable-line @typescript-eslint/no-explicit-any -- reading rendered JSON
    expect(perFilter(grpc)['envoy.filters.http.ext_authz/grpc-fail-closed'].config.check_settings).toEqual({ grpc_service: { envoy_grpc: { cluster_name: 'svc-b-authz' }, timeout: '0.2s' } });
    expect(perFilter(http)['envoy.filters.http.ext_authz/http-fail-open'].config.check_settings).toEqual({
      http_service: { server_uri: { uri: 'http://authz-2.example.org:9001', cluster: 'svc-b-authz', timeout: '0.2s' } },
    });
    expect(Object.keys(perFilter(removed)).filter((k) => k.includes('ext_authz'))).toEqual([]);
    // The listener's filters are disabled and point at a placeholder with no endpoints.
    const filters = (listener(before).json as any).filter_chains[0].filters[0].typed_config.http_filters as Array<{ name: string; disabled?: boolean; typed_config: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any -- reading rendered JSON
    const authzFilters = filters.filter((f) => f.name.startsWith('envoy.filters.http.ext_authz/'));
    expect(authzFilters.map((f) => [f.name, f.disabled, f.typed_config.failure_mode_allow ?? false])).toEqual([
      ['envoy.filters.http.ext_authz/grpc-fail-closed', true, false],
      ['envoy.filters.http.ext_authz/grpc-fail-open', true, true],
      ['envoy.filters.http.ext_authz/http-fail-closed', true, false],
      ['envoy.filters.http.ext_authz/http-fail-open', true, true],
    ]);
    // The placeholder is never rendered: a check that falls back to it fails (Envoy skips the cluster check for ext_authz).
    expect(JSON.stringify(authzFilters)).toContain('edge-authz-unset');
    expect([...before.types.clusters.resources.keys()]).not.toContain('edge-authz-unset');
  });
});
