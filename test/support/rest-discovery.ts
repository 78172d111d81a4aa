/**
 * One REST discovery request (`POST /v3/discovery:<kind>`, docs/control-plane.md "REST"), as a
 * fleet node sends it: the node (`user_agent_name: envoy`, the discovery token in
 * `metadata.auth`) and, when given, the resource names. Tests of the protocol itself
 * (xds-protocol.test.ts) spell their requests out.
 */
export interface RestDiscoveryOptions {
  /** The discovery token; `null` sends none. */
  readonly token: string | null;
  readonly nodeId?: string;
  /** More fields of the node (`cluster`, `locality`, ...). */
  readonly node?: Record<string, unknown>;
  readonly resourceNames?: readonly string[];
}

export function restDiscovery(baseUrl: string, kind: string, options: RestDiscoveryOptions): Promise<Response> {
  const node = { id: options.nodeId ?? 'rest-node', user_agent_name: 'envoy', ...options.node, metadata: options.token === null ? {} : { auth: options.token } };
  return fetch(`${baseUrl}/v3/discovery:${kind}`, {
    method: 'POST',
    body: JSON.stringify({ node, ...(options.resourceNames ? { resource_names: options.resourceNames } : {}) }),
    signal: AbortSignal.timeout(5000),
  });
}

/** The resources a REST discovery request answers, or undefined when the answer is not 200. */
export async function restResources<T = { name: string }>(baseUrl: string, kind: string, options: RestDiscoveryOptions): Promise<T[] | undefined> {
  const response = await restDiscovery(baseUrl, kind, options);
  if (response.status !== 200) return undefined;
  return ((await response.json()) as { resources?: T[] }).resources ?? [];
}
