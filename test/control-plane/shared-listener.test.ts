/**
 * Issue 13, item 5: no tenant setting touches the shared `edge-https` listener, whose change
 * drains every connection of every tenant on every proxy. `rate_limit.global` is switched
 * per virtual host (its `rate_limits`); the listener's rate limit filter and the service's
 * cluster depend only on the platform's settings.
 */
import { RenderContext } from '../../lib/control-plane/runtime/context';
import { SnapshotRenderer } from '../../lib/control-plane/runtime/snapshot';
import { DEFAULT_TEMPLATES, NodeInfo, TemplateRegistry } from '../../lib/control-plane/runtime/templates';
import { RouteDocument } from '../../lib/model';

const settings = { platformName: 'edge', region: 'us-east-1', domain: 'edge.example.com', httpsTrafficPort: 8443, httpTrafficPort: 8080, accessLogPath: '/dev/stdout', rateLimitService: { address: '10.9.9.9', port: 8081 } };
const envoy: NodeInfo = { id: 'n1', cluster: 'fleet', region: 'us-east-1', zone: 'us-east-1a', userAgentName: 'envoy', version: { major: 1, minor: 39, patch: 0 }, metadata: {} };

function route(id: string, generation: number, spec: Partial<RouteDocument['spec']> = {}): RouteDocument {
  return { instanceId: id, plan: 'standard', generation, deleted: false, updatedAt: '', spec: { hostnames: [`${id}.edge.example.com`], backends: [{ address: '203.0.113.5', port: 80, protocol: 'http' }], regions: ['us-east-1'], ...spec } };
}

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
});
