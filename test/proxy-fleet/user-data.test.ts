import { BOOTSTRAP_ENV_PATH, bootstrapEnv, proxyUserData, ProxyBootstrap } from '../../lib/proxy-fleet/user-data';

const bootstrap: ProxyBootstrap = {
  platformName: 'edge',
  region: 'eu-west-1',
  nodeCluster: 'edge-fleet-eu-west-1',
  controlPlaneHost: 'cp.internal.example',
  controlPlanePort: 18000,
  controlPlaneTls: true,
  discoveryTokenSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:token-AbCdEf',
  vpcCidr: '10.4.0.0/16',
  ports: { httpsTrafficPort: 8443, httpTrafficPort: 8080, readinessPort: 8081, adminPort: 9901 },
  rollout: { stackName: 'edge-fleet-eu-west-1', resource: 'FleetProxiesASG1234', readyTimeoutSeconds: 240 },
  termination: { autoScalingGroupName: 'edge-proxies', lifecycleHookName: 'drain', drainSeconds: 60 },
};

describe('proxy user data (boot contract)', () => {
  test('bootstrap.env carries exactly the contract keys, in order', () => {
    expect(bootstrapEnv(bootstrap)).toEqual([
      ['EDGE_PLATFORM', 'edge'],
      ['EDGE_REGION', 'eu-west-1'],
      ['EDGE_NODE_CLUSTER', 'edge-fleet-eu-west-1'],
      ['EDGE_CONTROL_PLANE_HOST', 'cp.internal.example'],
      ['EDGE_CONTROL_PLANE_PORT', '18000'],
      ['EDGE_CONTROL_PLANE_TLS', 'true'],
      ['EDGE_DISCOVERY_TOKEN_SECRET_ARN', bootstrap.discoveryTokenSecretArn],
      // The packet filter keeps Envoy out of its own VPC but for the control plane (edge-firewall).
      ['EDGE_VPC_CIDR', '10.4.0.0/16'],
      ['EDGE_HTTPS_TRAFFIC_PORT', '8443'],
      ['EDGE_HTTP_TRAFFIC_PORT', '8080'],
      ['EDGE_READINESS_PORT', '8081'],
      // Envoy's admin is a Unix socket; this loopback port serves only the stats the agent scrapes.
      ['EDGE_METRICS_PORT', '9901'],
      ['EDGE_CFN_STACK', 'edge-fleet-eu-west-1'],
      ['EDGE_CFN_RESOURCE', 'FleetProxiesASG1234'],
      ['EDGE_READY_TIMEOUT_SECONDS', '240'],
      ['EDGE_ASG_NAME', 'edge-proxies'],
      ['EDGE_LIFECYCLE_HOOK', 'drain'],
      ['EDGE_DRAIN_SECONDS', '60'],
    ]);
  });

  test('the script writes the file through a quoted heredoc, starts the drain agent and the readiness signal, then the bootstrap and Envoy', () => {
    const script = proxyUserData(bootstrap).render();
    expect(script.startsWith('#!/bin/bash\nset -euo pipefail\n')).toBe(true);
    const lines = script.split('\n');
    const start = lines.indexOf(`cat > ${BOOTSTRAP_ENV_PATH} <<'EDGE_BOOTSTRAP_ENV'`);
    const end = lines.indexOf('EDGE_BOOTSTRAP_ENV');
    expect(start).toBeGreaterThan(0);
    expect(lines.slice(start + 1, end)).toEqual(bootstrapEnv(bootstrap).map(([k, v]) => `${k}=${v}`));
    // The readiness signal starts before anything that can fail, so a broken bootstrap still
    // ends in a FAILURE signal at the deadline (and the rollout rolls back early).
    expect(lines.slice(-4)).toEqual([
      'systemctl enable --now edge-lifecycle.service',
      'systemctl start --no-block edge-ready-signal.service',
      'systemctl restart edge-bootstrap.service',
      'systemctl enable --now envoy.service',
    ]);
  });

  test('plaintext control plane is written as false', () => {
    expect(Object.fromEntries(bootstrapEnv({ ...bootstrap, controlPlaneTls: false })).EDGE_CONTROL_PLANE_TLS).toBe('false');
  });
});
