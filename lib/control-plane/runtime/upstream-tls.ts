/**
 * Verified upstream TLS (issue 13, item 2): every cluster whose backends speak TLS gets an
 * UpstreamTlsContext that checks the backend's certificate against the proxy host's system
 * trust store and the backend's name against the certificate's subject alternative names,
 * with that name as SNI. `backends[].tls.verify: false` (the explicit, per-backend opt-out
 * of the route model) renders a context without validation for that backend only, and
 * /status lists it (`upstreamTls.unverified`).
 *
 * Envoy (API v3, envoy.extensions.transport_sockets.tls.v3):
 * - `UpstreamTlsContext.common_tls_context.validation_context.trusted_ca`: without it "a
 *   presented peer certificate ... will not be verified"; the proto's "attention" note:
 *   "Server certificate verification is not enabled by default. Configure trusted_ca".
 * - `match_typed_subject_alt_names` (SubjectAltNameMatcher: `san_type` DNS or IP_ADDRESS,
 *   `matcher.exact`): "Envoy will verify that the Subject Alternative Name of the presented
 *   certificate matches one of the specified matchers"; a wildcard SAN (`*.example.com`)
 *   matches an exact matcher for `api.example.com`; it "must be used together with
 *   trusted_ca".
 * - `UpstreamTlsContext.sni` (max 255 bytes): SNI carries a host name only (RFC 6066
 *   section 3: "Literal IPv4 and IPv6 addresses are not permitted"), so an IP backend sends
 *   none and its certificate is checked for an IP_ADDRESS SAN.
 * - Backends of one cluster whose names or opt-out differ get their own context through
 *   `Cluster.transport_socket_matches`: each endpoint carries its match key under the
 *   metadata filter `envoy.transport_socket_match`; an endpoint matching none gets the
 *   cluster's `transport_socket` (config/cluster/v3/cluster.proto).
 *
 * The trust store is the proxy image's: Amazon Linux 2023 (ami/packer/envoy.pkr.hcl),
 * whose ca-certificates package extracts the system bundle to
 * /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem and links /etc/pki/tls/certs/ca-bundle.crt
 * to it (the Fedora/RHEL family's location, one of the "common system CA locations" of
 * Envoy's TLS overview); edge-write-bootstrap uses the same file for the control plane's
 * own certificate.
 */
import { Backend } from '../../model';
import { ServedRoute } from './context';

/** The system trust store on the proxy image (Amazon Linux 2023). */
export const SYSTEM_TRUST_STORE = '/etc/pki/tls/certs/ca-bundle.crt';
/** The metadata filter Envoy reads an endpoint's transport socket match from. */
export const TRANSPORT_SOCKET_MATCH = 'envoy.transport_socket_match';

const ANY = 'type.googleapis.com/';
const IPV4 = /^(\d{1,3}\.){3}\d{1,3}$/;
const isIp = (name: string): boolean => IPV4.test(name) || name.includes(':');

/** The name a backend's certificate must carry: `tls.upstream_sni`, else the backend's address. */
export function backendTlsName(route: ServedRoute, backend: Backend): string {
  return route.spec.tls?.upstream_sni ?? backend.address;
}

const verified = (backend: Backend): boolean => backend.tls?.verify !== false;

/** The transport socket for one backend: verified (trust store, SAN, SNI) unless it opted out. */
export function backendTlsSocket(route: ServedRoute, backend: Backend, alpn: readonly string[]): Record<string, unknown> {
  const name = backendTlsName(route, backend);
  const common: Record<string, unknown> = alpn.length > 0 ? { alpn_protocols: [...alpn] } : {};
  if (verified(backend)) {
    common.validation_context = {
      trusted_ca: { filename: SYSTEM_TRUST_STORE },
      match_typed_subject_alt_names: [{ san_type: isIp(name) ? 'IP_ADDRESS' : 'DNS', matcher: { exact: name } }],
    };
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': `${ANY}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
      ...(isIp(name) ? {} : { sni: name }),
      common_tls_context: common,
    },
  };
}

/** The key of a backend's TLS settings; backends with the same key share a context. */
function tlsKey(route: ServedRoute, backend: Backend): string {
  return `${backendTlsName(route, backend)}|${verified(backend) ? 'verify' : 'no-verify'}`;
}

/** Whether the backends of the route need more than one TLS context. */
function needsMatches(route: ServedRoute): boolean {
  return new Set(route.spec.backends.map((b) => tlsKey(route, b))).size > 1;
}

/** The match key of the backend at `index` (its position among the distinct contexts). */
function matchKey(route: ServedRoute, index: number): string {
  const keys = [...new Set(route.spec.backends.map((b) => tlsKey(route, b)))];
  return `tls-${keys.indexOf(tlsKey(route, route.spec.backends[index]))}`;
}

/**
 * The cluster's TLS fields: `transport_socket` (the first backend's context, the fallback)
 * and, when backends differ, `transport_socket_matches`, one per distinct context.
 */
export function clusterTlsFields(route: ServedRoute, alpn: readonly string[]): Record<string, unknown> {
  const backends = route.spec.backends;
  const fields: Record<string, unknown> = { transport_socket: backendTlsSocket(route, backends[0], alpn) };
  if (!needsMatches(route)) return fields;
  const seen = new Set<string>();
  const matches: unknown[] = [];
  backends.forEach((backend, i) => {
    const key = matchKey(route, i);
    if (seen.has(key)) return;
    seen.add(key);
    matches.push({ name: key, match: { edge_tls: key }, transport_socket: backendTlsSocket(route, backend, alpn) });
  });
  fields.transport_socket_matches = matches;
  return fields;
}

/**
 * The metadata of the endpoint of the backend at `address:port` (the first backend with
 * it), or undefined when the cluster has one context for all.
 */
export function endpointTlsMetadata(route: ServedRoute, address: string, port: number, upstreamTls: boolean): Record<string, unknown> | undefined {
  if (!upstreamTls || !needsMatches(route)) return undefined;
  const index = route.spec.backends.findIndex((b) => b.address === address && b.port === port);
  if (index < 0) return undefined;
  return { filter_metadata: { [TRANSPORT_SOCKET_MATCH]: { edge_tls: matchKey(route, index) } } };
}

/** /status: every served instance with a backend reached over TLS without verification. */
export function unverifiedUpstreamTls(routes: readonly ServedRoute[], upstreamTls: (route: ServedRoute) => boolean): Array<{ instanceId: string; backends: string[] }> {
  const out: Array<{ instanceId: string; backends: string[] }> = [];
  for (const route of routes) {
    if (!upstreamTls(route)) continue;
    const backends = route.spec.backends.flatMap((b, i) => (verified(b) ? [] : [`backends[${i}] (${b.address}:${b.port})`]));
    if (backends.length > 0) out.push({ instanceId: route.instanceId, backends });
  }
  return out;
}
