import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { EnvoyPorts } from '../config';

/** What a proxy needs to build its Envoy bootstrap; all of it is public (no secret values). */
export interface ProxyBootstrap {
  readonly platformName: string;
  readonly region: string;
  /** Envoy `node.cluster`: the fleet name, `<platform>-fleet-<region>`. */
  readonly nodeCluster: string;
  readonly controlPlaneHost: string;
  readonly controlPlanePort: number;
  readonly controlPlaneTls: boolean;
  /** ARN of the discovery-token secret; the instance fetches the value at boot. */
  readonly discoveryTokenSecretArn: string;
  readonly ports: EnvoyPorts;
}

export const BOOTSTRAP_ENV_PATH = '/etc/edge/bootstrap.env';

/** The `/etc/edge/bootstrap.env` variables of the boot contract (CONTRACTS.md), in file order. */
export function bootstrapEnv(b: ProxyBootstrap): ReadonlyArray<readonly [string, string]> {
  return [
    ['EDGE_PLATFORM', b.platformName],
    ['EDGE_REGION', b.region],
    ['EDGE_NODE_CLUSTER', b.nodeCluster],
    ['EDGE_CONTROL_PLANE_HOST', b.controlPlaneHost],
    ['EDGE_CONTROL_PLANE_PORT', String(b.controlPlanePort)],
    ['EDGE_CONTROL_PLANE_TLS', String(b.controlPlaneTls)],
    ['EDGE_DISCOVERY_TOKEN_SECRET_ARN', b.discoveryTokenSecretArn],
    ['EDGE_HTTPS_TRAFFIC_PORT', String(b.ports.httpsTrafficPort)],
    ['EDGE_HTTP_TRAFFIC_PORT', String(b.ports.httpTrafficPort)],
    ['EDGE_READINESS_PORT', String(b.ports.readinessPort)],
    ['EDGE_ADMIN_PORT', String(b.ports.adminPort)],
  ];
}

/**
 * User data of a proxy: writes the bootstrap env file, then lets the AMI's
 * `edge-bootstrap.service` render Envoy's config (it fetches the token from Secrets Manager)
 * and starts Envoy. The heredoc is quoted, so the shell expands nothing in the values.
 */
export function proxyUserData(b: ProxyBootstrap): ec2.UserData {
  const userData = ec2.UserData.forLinux();
  userData.addCommands(
    'set -euo pipefail',
    'install -d -m 0755 /etc/edge',
    `cat > ${BOOTSTRAP_ENV_PATH} <<'EDGE_BOOTSTRAP_ENV'`,
    ...bootstrapEnv(b).map(([key, value]) => `${key}=${value}`),
    'EDGE_BOOTSTRAP_ENV',
    `chmod 0644 ${BOOTSTRAP_ENV_PATH}`,
    'systemctl restart edge-bootstrap.service',
    'systemctl enable --now envoy.service',
  );
  return userData;
}
