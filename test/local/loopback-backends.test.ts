/**
 * `npm start` and EDGE_ALLOW_LOOPBACK_BACKENDS (issue 13): the local platform's samples
 * listen on loopback, so loopback backends are allowed unless the variable says false;
 * every other forbidden target (here: the fleet network of the platform config's first
 * region) is refused locally as in AWS.
 */
import { LocalPlatform, startLocalPlatform } from '../../lib/local/platform';
import { catalogIds, finishOperation, osbClient, provisionBody, testSettings } from '../e2e/support/platform';

const ASYNC = '?accepts_incomplete=true';

describe.each([
  ['EDGE_ALLOW_LOOPBACK_BACKENDS unset', undefined, 202],
  ['EDGE_ALLOW_LOOPBACK_BACKENDS=false', false, 400],
])('the local platform with %s', (_what, allowLoopbackBackends, loopbackStatus) => {
  let platform: LocalPlatform;
  beforeAll(async () => {
    platform = await startLocalPlatform(testSettings({ allowLoopbackBackends }), { quiet: true });
  });
  afterAll(() => platform?.stop());

  test(`a loopback backend answers ${loopbackStatus}; a backend in the fleet network answers 400`, async () => {
    const call = osbClient(platform.brokerUrl);
    const ids = await catalogIds(call);
    const loopback = await call('PUT', `/v2/service_instances/loopback-1${ASYNC}`, provisionBody(ids, { hostnames: ['loop.edge.example.com'], backends: [{ address: '127.0.0.1', port: 9000, protocol: 'http' }] }));
    expect(loopback.status).toBe(loopbackStatus);
    if (loopbackStatus === 202) expect((await finishOperation(call, 'loopback-1')).body.state).toBe('succeeded');
    else expect(loopback.body.description).toContain('backends[0].address: "127.0.0.1" is a loopback address');

    const fleetCidr = platform.config.regions[0].vpcCidr;
    const inFleet = fleetCidr.replace(/0\/\d+$/, '9');
    const fleet = await call('PUT', `/v2/service_instances/fleet-1${ASYNC}`, provisionBody(ids, { hostnames: ['fleet.edge.example.com'], backends: [{ address: inFleet, port: 80, protocol: 'http' }] }));
    expect(fleet.status).toBe(400);
    expect(fleet.body.description).toContain(`is in the fleet network ${fleetCidr}`);
  });
});
