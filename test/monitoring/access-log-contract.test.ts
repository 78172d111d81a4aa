import { edgeListeners } from '../../lib/control-plane/runtime/templates/edge-listeners';
import { NodeInfo } from '../../lib/control-plane/runtime/templates/types';
import { envoyNode, renderSettings } from '../support/fixtures';

/**
 * The fleet's access-log metric filters read `$.status` as a number (lib/monitoring/fleet-alarms.ts).
 * This holds them to what the edge listeners really log: a renamed or retyped field fails here.
 */
const settings = renderSettings({ accessLogPath: '/var/log/envoy/access.log' });
const node: NodeInfo = envoyNode();

function jsonFormats(value: unknown, found: Array<Record<string, string>> = []): Array<Record<string, string>> {
  if (Array.isArray(value)) value.forEach((v) => jsonFormats(v, found));
  else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'json_format') found.push(v as Record<string, string>);
      else jsonFormats(v, found);
    }
  }
  return found;
}

test('every edge listener logs JSON with status = %RESPONSE_CODE% (a number in Envoy json_format)', () => {
  const listeners = edgeListeners.render({ context: { settings, routes: [] }, node, warn: () => undefined });
  const formats = jsonFormats(listeners);
  expect(formats.length).toBeGreaterThanOrEqual(2);
  for (const format of formats) expect(format.status).toBe('%RESPONSE_CODE%');
});
