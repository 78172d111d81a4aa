import { StrictJsonError, strictFromJson } from '../../lib/control-plane/runtime/proto-json';
import { edgeListeners } from '../../lib/control-plane/runtime/templates/edge-listeners';
import { NodeInfo } from '../../lib/control-plane/runtime/templates/types';
import { envoyNode, renderSettings } from '../support/fixtures';

/**
 * Issue 11, item 8: a client that sends `Host: name:443` (gRPC clients, curl with an explicit
 * port) must reach the virtual host of `name`. Envoy matches virtual host domains against the
 * whole Host header unless the connection manager strips the port (HttpConnectionManager
 * `strip_port_mode`). `strip_matching_host_port` strips it only when it equals the listener's
 * local port, and the edge listeners listen on 8443/8080 behind an NLB that clients reach on
 * 443/80, so it would leave `:443` in place; `strip_any_host_port` strips whatever port the
 * client sent (Envoy v3 API, http_connection_manager.proto, `strip_matching_host_port` and
 * `strip_any_host_port`; the two are mutually exclusive).
 */
const settings = renderSettings({ accessLogPath: '/var/log/envoy/access.log' });
const node: NodeInfo = envoyNode();

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
type Listener = { name: string; filter_chains: Array<{ filters: Array<{ typed_config: Record<string, unknown> }> }> };

function connectionManagers(): Array<[string, Record<string, unknown>]> {
  const listeners = edgeListeners.render({ context: { settings, routes: [] }, node, warn: () => undefined });
  return listeners.flatMap(({ resource }) => {
    const listener = resource as unknown as Listener;
    return listener.filter_chains.flatMap((chain) => chain.filters.filter((f) => f.typed_config['@type'] === HCM).map((f) => [listener.name, f.typed_config] as [string, Record<string, unknown>]));
  });
}

test('every edge connection manager strips any port from Host/:authority before routing', () => {
  const managers = connectionManagers();
  expect(managers.map(([name]) => name).sort()).toEqual(['edge-http', 'edge-https']);
  for (const [name, manager] of managers) {
    expect([name, manager.strip_any_host_port]).toEqual([name, true]);
    // Mutually exclusive with strip_any_host_port, and wrong behind the NLB (443 != 8443).
    expect([name, manager.strip_matching_host_port]).toEqual([name, undefined]);
  }
});

test('the listeners stay valid Envoy v3 Listeners, strictly, with no deprecated field', () => {
  const listeners = edgeListeners.render({ context: { settings, routes: [] }, node, warn: () => undefined });
  for (const { name, resource } of listeners) {
    let problems: string[] = [];
    try {
      strictFromJson('envoy.config.listener.v3.Listener', resource, { rejectDeprecated: true });
    } catch (error) {
      if (!(error instanceof StrictJsonError)) throw error;
      problems = error.problems.map((p) => `${p.field}: ${p.message}`);
    }
    expect([name, problems]).toEqual([name, []]);
  }
});
