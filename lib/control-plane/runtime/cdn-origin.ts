/**
 * The cdn plan's origin protection at the edge (issue 12, item 4). A `cdn` instance's
 * CloudFront distribution has the public edge as its origin and adds
 * `x-cdn-origin-verify: <secret>` to every origin request (lib/broker/runtime/origin-secret.ts);
 * without a check anyone could send `Host: <cdn name>` straight to the NLB and skip
 * CloudFront. So the virtual host of every cdn instance carries an RBAC override that allows
 * a request only when the header holds the secret's current or previous value (a rotation
 * makes the new value AWSCURRENT, then moves the distributions to it: both arrive meanwhile),
 * and the header is removed before the request reaches the backend.
 *
 * Envoy (API v3): the shared `envoy.filters.http.rbac` filter of `edge-https` has no rules;
 * a virtual host's `typed_per_filter_config` `RBACPerRoute.rbac` replaces them for that
 * host (extensions/filters/http/rbac/v3/rbac.proto), so nothing on the shared listener
 * changes. `RBAC.action: ALLOW` "allows the request if and only if there is a policy that
 * matches"; a policy matches when a permission and a principal match; `Principal.header`
 * is a HeaderMatcher on the request (`string_match.exact`); `and_ids`/`or_ids` combine
 * principals (config/rbac/v3/rbac.proto). A refused request gets 403 (the RBAC filter's
 * denial). `VirtualHost.request_headers_to_remove` drops the header when the router
 * forwards the request, after the RBAC filter has seen it.
 *
 * The secret is read like any context source: every interval, the last good values kept on
 * failure, a change re-rendering the context. The values ride in the render context
 * (`cdnOrigin`), never in the settings, so a rotation changes only the cdn instances'
 * virtual hosts: the per-instance checks and every other resource keep their versions.
 * Until the secret has been read, cdn hosts refuse every request (fail closed).
 */
import { readFile, stat } from 'node:fs/promises';
import { CDN_ORIGIN_HEADER, RouteDocument } from '../../model';
import { ContextSource, PlatformSettings } from './context';
import { SecretVersions, acceptedValues } from './secret-versions';

export { CDN_ORIGIN_HEADER };

/** The plan whose hostnames must arrive through CloudFront. */
export const CDN_PLAN = 'cdn';

/** What the templates read: the header values a cdn host accepts (current first). */
export interface CdnOrigin {
  readonly values: readonly string[];
}

/** Reads the secret's current and previous values. */
export type OriginSecretReader = () => Promise<SecretVersions>;

/**
 * A local file holding `{"current": "...", "previous": "..."}` (previous optional), for
 * `npm start` and tests (`EDGE_CDN_ORIGIN_SECRET_FILE`).
 */
export function fileOriginSecret(path: string): OriginSecretReader {
  return async () => {
    const text = await readFile(path, 'utf8');
    let doc: { current?: unknown; previous?: unknown };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch (err) {
      throw new Error(`${path}: not JSON: ${(err as Error).message}`);
    }
    if (typeof doc.current !== 'string' || doc.current === '') throw new Error(`${path}: current: must be a non-empty string`);
    if (doc.previous !== undefined && (typeof doc.previous !== 'string' || doc.previous === '')) throw new Error(`${path}: previous: must be a non-empty string when given`);
    const version = String((await stat(path)).mtimeMs);
    return { current: { value: doc.current, versionId: version }, previous: doc.previous ? { value: doc.previous as string, versionId: 'previous' } : undefined };
  };
}

/** The origin secret as a context source: re-read every interval; a change re-renders. */
export class CdnOriginSource implements ContextSource {
  readonly name = 'cdn-origin-secret';
  loaded = false;
  private current?: CdnOrigin;

  constructor(
    private readonly read: OriginSecretReader,
    readonly intervalMs: number,
  ) {}

  async refresh(): Promise<boolean> {
    const values = acceptedValues(await this.read());
    const changed = !this.current || values.join('\n') !== this.current.values.join('\n');
    if (changed) this.current = { values };
    this.loaded = true;
    return changed;
  }

  routes(): readonly RouteDocument[] {
    return [];
  }

  settings(): Partial<PlatformSettings> {
    return {};
  }

  /** The accepted values (undefined until the first successful read). */
  origin(): CdnOrigin | undefined {
    return this.current;
  }
}

/** Whether a route's hostnames must arrive through CloudFront. */
export const isCdn = (route: RouteDocument): boolean => route.plan === CDN_PLAN;

/**
 * The RBAC override of an instance's virtual host, or undefined when it needs none: its
 * `ip_allow_list` (the client address), and for a cdn instance the origin header holding
 * an accepted value; both must hold when both apply.
 */
export function virtualHostRbac(route: RouteDocument, origin: CdnOrigin | undefined): Record<string, unknown> | undefined {
  const allowList = route.spec.ip_allow_list;
  const ips = (allowList ?? []).map((cidr) => {
    const [address, length] = cidr.split('/');
    return { direct_remote_ip: { address_prefix: address, prefix_len: Number(length) } };
  });
  const allow = (name: string, principals: unknown[]) => ({
    '@type': RBAC_PER_ROUTE,
    rbac: { rules: { action: 'ALLOW', policies: { [name]: { permissions: [{ any: true }], principals } } } },
  });
  if (!isCdn(route)) return allowList ? allow('ip-allow-list', ips) : undefined;
  const values = origin?.values ?? [];
  // No value read yet: no policy at all, so ALLOW matches nothing (fail closed).
  if (values.length === 0) return { '@type': RBAC_PER_ROUTE, rbac: { rules: { action: 'ALLOW', policies: {} } } };
  const headers = values.map((value) => ({ header: { name: CDN_ORIGIN_HEADER, string_match: { exact: value } } }));
  if (!allowList) return allow('cdn-origin', headers);
  return allow('cdn-origin-and-ip-allow-list', [{ and_ids: { ids: [{ or_ids: { ids: headers } }, { or_ids: { ids: ips } }] } }]);
}

/** The header a cdn virtual host removes before the backend (none for other plans). */
export function virtualHostHeadersToRemove(route: RouteDocument): string[] | undefined {
  return isCdn(route) ? [CDN_ORIGIN_HEADER] : undefined;
}

const RBAC_PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';
