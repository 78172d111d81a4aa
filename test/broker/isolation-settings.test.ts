/**
 * Where the targets rule gets the platform's settings: the api function's environment
 * (EDGE_FLEET_CIDRS, required: without it the fleet rule would be silently off) and the
 * local platform's EDGE_ALLOW_LOOPBACK_BACKENDS (default true, never read in AWS).
 */
import { fleetCidrsFromEnv, settingsFromEnv, targetPolicy } from '../../lib/broker/runtime/settings';
import { readLocalSettings } from '../../lib/local/settings';

const ENV = { EDGE_TABLE_NAME: 't', EDGE_QUEUE_URL: 'q', EDGE_DOMAIN: 'Edge.Example.com', EDGE_REGIONS: 'us-east-1,eu-west-1' };

describe('EDGE_FLEET_CIDRS', () => {
  test('the api requires it; the worker and the sweeper do not need it', () => {
    expect(() => settingsFromEnv(ENV, { requireFleetCidrs: true })).toThrow('environment variable EDGE_FLEET_CIDRS is required');
    expect(settingsFromEnv(ENV).fleetCidrs).toEqual([]);
  });

  test('a list of IPv4 CIDRs, each checked, naming the bad one', () => {
    expect(fleetCidrsFromEnv({ EDGE_FLEET_CIDRS: '10.1.0.0/16, 10.7.0.0/16' }, true)).toEqual(['10.1.0.0/16', '10.7.0.0/16']);
    expect(() => fleetCidrsFromEnv({ EDGE_FLEET_CIDRS: '10.1.0.0/16,10.7.0.0' }, true)).toThrow('EDGE_FLEET_CIDRS[1]: "10.7.0.0" is not an IPv4 CIDR (a.b.c.d/n)');
    expect(() => fleetCidrsFromEnv({ EDGE_FLEET_CIDRS: '10.1.0.300/16' }, true)).toThrow('EDGE_FLEET_CIDRS[0]');
    expect(() => fleetCidrsFromEnv({ EDGE_FLEET_CIDRS: '10.1.0.0/33' }, true)).toThrow('EDGE_FLEET_CIDRS[0]');
  });

  test('in AWS loopback backends are never allowed, whatever the environment says', () => {
    const settings = settingsFromEnv({ ...ENV, EDGE_FLEET_CIDRS: '10.1.0.0/16', EDGE_ALLOW_LOOPBACK_BACKENDS: 'true' }, { requireFleetCidrs: true });
    expect(targetPolicy(settings)).toEqual({ domain: 'edge.example.com', fleetCidrs: ['10.1.0.0/16'], allowLoopbackBackends: false });
  });
});

describe('EDGE_ALLOW_LOOPBACK_BACKENDS (local platform)', () => {
  test('defaults to true; true or false in any case; anything else names the variable', () => {
    expect(readLocalSettings({}).allowLoopbackBackends).toBe(true);
    expect(readLocalSettings({ EDGE_ALLOW_LOOPBACK_BACKENDS: 'false' }).allowLoopbackBackends).toBe(false);
    expect(readLocalSettings({ EDGE_ALLOW_LOOPBACK_BACKENDS: 'TRUE' }).allowLoopbackBackends).toBe(true);
    expect(() => readLocalSettings({ EDGE_ALLOW_LOOPBACK_BACKENDS: 'yes' })).toThrow('EDGE_ALLOW_LOOPBACK_BACKENDS: must be true or false, got "yes"');
  });
});
