import { resourceBaseName } from '../../../model';
import { ServedRoute } from '../context';

export const ANY = 'type.googleapis.com/';
export const ADS_SOURCE = { ads: {}, resource_api_version: 'V3' } as const;

/** A proto3 JSON duration for a number of seconds ("0.25s", "5s"). */
export function seconds(value: number): string {
  return `${Number(value.toFixed(3))}s`;
}

export const clusterName = (route: ServedRoute): string => resourceBaseName(route.instanceId);
export const authzClusterName = (route: ServedRoute): string => `${resourceBaseName(route.instanceId)}-authz`;

export const EDGE_HTTPS_ROUTES = 'edge-https';
export const RATELIMIT_CLUSTER = 'edge-ratelimit';

const IPV4 = /^(\d{1,3}\.){3}\d{1,3}$/;
export const isIpAddress = (address: string): boolean => IPV4.test(address) || address.includes(':');

/** Whether every backend is an IP address (served by EDS); otherwise the cluster resolves DNS itself. */
export const usesEds = (route: ServedRoute): boolean => route.spec.backends.every((b) => isIpAddress(b.address));

/** Whether the backends speak TLS (spec.tls.upstream_tls, default: https backends). */
export function upstreamTls(route: ServedRoute): boolean {
  return route.spec.tls?.upstream_tls ?? route.spec.backends[0]?.protocol === 'https';
}

export const speaksHttp2 = (route: ServedRoute): boolean => ['h2', 'grpc'].includes(route.spec.backends[0]?.protocol ?? 'http');

/** Header map -> HeaderValueOption list (overwrite semantics). */
export function headersToAdd(headers: Readonly<Record<string, string>> | undefined): Array<Record<string, unknown>> | undefined {
  if (!headers) return undefined;
  return Object.entries(headers).map(([key, value]) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }));
}

/** Drops undefined values so that rendered JSON holds only what is set. */
export function compact<T extends Record<string, unknown>>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) if (item !== undefined) out[key] = item;
  return out as T;
}

/** Sum of backend weights grouped by locality region; the node's region first (priority 0), others at priority 1. */
export function localityGroups(route: ServedRoute, nodeRegion: string) {
  const groups = new Map<string, Array<{ address: string; port: number; weight: number }>>();
  for (const backend of route.spec.backends) {
    const region = backend.region ?? '';
    const list = groups.get(region) ?? [];
    list.push({ address: backend.address, port: backend.port, weight: backend.weight ?? 1 });
    groups.set(region, list);
  }
  const hasLocal = groups.has(nodeRegion) || groups.has('');
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([region, endpoints]) => ({
      region,
      endpoints,
      priority: !hasLocal || region === nodeRegion || region === '' ? 0 : 1,
    }));
}
