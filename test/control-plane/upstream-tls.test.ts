/**
 * Issue 13, item 2: the rendered clusters of TLS backends verify the backend: the proxy
 * host's system trust store (trusted_ca), the backend's name as SNI and as the subject
 * alternative name its certificate must carry (match_typed_subject_alt_names, exact);
 * `tls.verify: false` renders no validation for that backend only, and /status lists it.
 * Every rendered resource passes the strict validation against Envoy's protos.
 */
import { ContextSource, RenderContext } from '../../lib/control-plane/runtime/context';
import { ControlPlane } from '../../lib/control-plane/runtime/control-plane';
import { SnapshotRenderer } from '../../lib/control-plane/runtime/snapshot';
import { DEFAULT_TEMPLATES, NodeInfo, TemplateRegistry } from '../../lib/control-plane/runtime/templates';
import { Backend, RouteDocument } from '../../lib/model';
import { waitFor } from './support';
import { envoyNode, renderSettings, routeDocument } from '../support/fixtures';

/* eslint-disable @typescript-eslint/no-explicit-any -- reading rendered JSON */

const settings = renderSettings();
const envoy: NodeInfo = envoyNode({ id: 'n1', cluster: 'fleet', version: { major: 1, minor: 39, patch: 0 } });
const TRUST_STORE = '/etc/pki/tls/certs/ca-bundle.crt'; // Amazon Linux 2023's system bundle

const https = (address: string, extra: Partial<Backend> = {}): Backend => ({ address, port: 443, protocol: 'https', ...extra });
const route = (id: string, backends: Backend[], spec: Partial<RouteDocument['spec']> = {}): RouteDocument => routeDocument(id, { spec: { backends, ...spec } });

function render(...routes: RouteDocument[]) {
  const outcome = new SnapshotRenderer(new TemplateRegistry(DEFAULT_TEMPLATES), 'p', envoy).render({ settings, routes } as RenderContext);
  if (!outcome.ok) throw new Error(JSON.stringify(outcome.problems));
  expect(outcome.snapshot.excluded).toEqual([]);
  return {
    cluster: (name: string) => outcome.snapshot.types.clusters.resources.get(name)!.json as Record<string, any>,
    endpoints: (name: string) => outcome.snapshot.types.endpoints.resources.get(name)?.json as Record<string, any>,
  };
}

const verifiedContext = (name: string, sanType = 'DNS') => ({
  trusted_ca: { filename: TRUST_STORE },
  match_typed_subject_alt_names: [{ san_type: sanType, matcher: { exact: name } }],
});

describe('verified upstream TLS in the rendered clusters', () => {
  it('an https backend: trust store, SNI and the SAN its certificate must carry', () => {
    const tls = render(route('api', [https('api.example.org')])).cluster('svc-api').transport_socket;
    expect(tls.name).toBe('envoy.transport_sockets.tls');
    expect(tls.typed_config).toEqual({
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: 'api.example.org',
      common_tls_context: { validation_context: verifiedContext('api.example.org') },
    });
  });

  it('tls.upstream_sni names what is sent and checked; h2 keeps its ALPN', () => {
    const tls = render(route('h2', [{ address: 'lb-1.example.org', port: 443, protocol: 'h2' }], { tls: { upstream_tls: true, upstream_sni: 'api.example.org' } })).cluster('svc-h2').transport_socket;
    expect(tls.typed_config.sni).toBe('api.example.org');
    expect(tls.typed_config.common_tls_context).toEqual({ alpn_protocols: ['h2'], validation_context: verifiedContext('api.example.org') });
  });

  it('an IP backend sends no SNI (RFC 6066) and its certificate must name the address', () => {
    const tls = render(route('ip', [https('203.0.113.7')])).cluster('svc-ip').transport_socket;
    expect(tls.typed_config.sni).toBeUndefined();
    expect(tls.typed_config.common_tls_context.validation_context).toEqual(verifiedContext('203.0.113.7', 'IP_ADDRESS'));
  });

  it('tls.verify: false renders no validation for that backend only', () => {
    const tls = render(route('legacy', [https('legacy.example.org', { tls: { verify: false } })])).cluster('svc-legacy').transport_socket;
    expect(tls.typed_config).toEqual({ '@type': expect.any(String), sni: 'legacy.example.org', common_tls_context: {} });
  });

  it('backends with different names or opt-outs each get their own context (transport_socket_matches and endpoint metadata)', () => {
    const rendered = render(
      route('mixed', [https('a.example.org'), https('b.example.org', { tls: { verify: false } }), https('a.example.org', { region: 'eu-west-1' })]),
      route('mixed-ip', [https('203.0.113.1'), https('203.0.113.2', { tls: { verify: false } })]),
    );
    const dns = rendered.cluster('svc-mixed');
    expect(dns.transport_socket.typed_config.common_tls_context.validation_context).toEqual(verifiedContext('a.example.org'));
    expect(dns.transport_socket_matches.map((m: any) => [m.name, m.match, m.transport_socket.typed_config.sni, m.transport_socket.typed_config.common_tls_context.validation_context?.match_typed_subject_alt_names[0].matcher.exact])).toEqual([
      ['tls-0', { edge_tls: 'tls-0' }, 'a.example.org', 'a.example.org'],
      ['tls-1', { edge_tls: 'tls-1' }, 'b.example.org', undefined],
    ]);
    const inline = dns.load_assignment.endpoints.flatMap((l: any) => l.lb_endpoints.map((e: any) => [e.endpoint.address.socket_address.address, e.metadata.filter_metadata['envoy.transport_socket_match'].edge_tls]));
    expect(inline.sort()).toEqual([['a.example.org', 'tls-0'], ['a.example.org', 'tls-0'], ['b.example.org', 'tls-1']]);
    const eds = rendered.endpoints('svc-mixed-ip').endpoints.flatMap((l: any) => l.lb_endpoints.map((e: any) => [e.endpoint.address.socket_address.address, e.metadata.filter_metadata['envoy.transport_socket_match'].edge_tls]));
    expect(eds).toEqual([['203.0.113.1', 'tls-0'], ['203.0.113.2', 'tls-1']]);
  });

  it('plain http backends get no transport socket and no endpoint metadata', () => {
    const rendered = render(route('plain', [{ address: '203.0.113.9', port: 80, protocol: 'http' }]));
    expect(rendered.cluster('svc-plain').transport_socket).toBeUndefined();
    expect(rendered.endpoints('svc-plain').endpoints[0].lb_endpoints[0].metadata).toBeUndefined();
  });

  it('/status lists the instances with unverified TLS backends', async () => {
    const routes = [route('legacy', [https('legacy.example.org', { tls: { verify: false } }), https('ok.example.org')]), route('api', [https('api.example.org')])];
    const source: ContextSource = { name: 'static', intervalMs: 60_000, loaded: true, refresh: async () => true, routes: () => routes, settings: () => ({}) };
    const cp = new ControlPlane({ region: 'us-east-1', authToken: 't', settings, sources: [source] });
    await cp.start();
    try {
      const status = await waitFor('the context', () => (cp.ready() ? cp.status() : undefined));
      expect(status.upstreamTls).toEqual({ trustStore: TRUST_STORE, unverified: [{ instanceId: 'legacy', backends: ['backends[0] (legacy.example.org:443)'] }] });
    } finally {
      await cp.stop();
    }
  });
});
