import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { EnvoyPorts } from '../config';

/** How a new proxy reports its readiness to the stack's health-gated rollout. */
export interface ProxyRollout {
  /** The stack to signal (`AWS::StackName` at deploy time). */
  readonly stackName: string;
  /** Logical id of the Auto Scaling group in that stack: the resource whose signals CloudFormation awaits. */
  readonly resource: string;
  /** Seconds the proxy waits for `/ready` before it signals FAILURE. */
  readonly readyTimeoutSeconds: number;
}

/** What a proxy needs to complete its own termination lifecycle hook. */
export interface ProxyTermination {
  readonly autoScalingGroupName: string;
  readonly lifecycleHookName: string;
  /** At most this many seconds waiting for Envoy's connections to end. */
  readonly drainSeconds: number;
}

/** What a proxy needs to build its Envoy bootstrap; all of it is public (no secret values). */
export interface ProxyBootstrap {
  readonly platformName: string;
  readonly region: string;
  /** Envoy `node.cluster`: the fleet name, `<platform>-fleet-<region>`. */
  readonly nodeCluster: string;
  readonly controlPlaneHost: string;
  readonly controlPlanePort: number;
  readonly controlPlaneTls: boolean;
  /** ARN of the discovery-token secret; the instance fetches the value at boot (and on rotation). */
  readonly discoveryTokenSecretArn: string;
  /** The fleet VPC's CIDR: the proxy's packet filter keeps Envoy out of it but for the control plane and DNS. */
  readonly vpcCidr: string;
  readonly ports: EnvoyPorts;
  readonly rollout: ProxyRollout;
  readonly termination: ProxyTermination;
}

export const BOOTSTRAP_ENV_PATH = '/etc/edge/bootstrap.env';

/**
 * The `/etc/edge/bootstrap.env` variables of the proxy boot contract (docs/ami.md, "Boot"), in
 * file order. The AMI's edge-write-bootstrap reads the first twelve, edge-firewall the VPC CIDR
 * and the control plane port; edge-ready-signal the rollout ones, edge-lifecycle the termination
 * ones. `EDGE_METRICS_PORT` is the config's `envoy.adminPort`: Envoy's admin interface is a Unix
 * socket now, and that loopback port serves only `GET /stats/prometheus` for the CloudWatch agent.
 */
export function bootstrapEnv(b: ProxyBootstrap): ReadonlyArray<readonly [string, string]> {
  return [
    ['EDGE_PLATFORM', b.platformName],
    ['EDGE_REGION', b.region],
    ['EDGE_NODE_CLUSTER', b.nodeCluster],
    ['EDGE_CONTROL_PLANE_HOST', b.controlPlaneHost],
    ['EDGE_CONTROL_PLANE_PORT', String(b.controlPlanePort)],
    ['EDGE_CONTROL_PLANE_TLS', String(b.controlPlaneTls)],
    ['EDGE_DISCOVERY_TOKEN_SECRET_ARN', b.discoveryTokenSecretArn],
    ['EDGE_VPC_CIDR', b.vpcCidr],
    ['EDGE_HTTPS_TRAFFIC_PORT', String(b.ports.httpsTrafficPort)],
    ['EDGE_HTTP_TRAFFIC_PORT', String(b.ports.httpTrafficPort)],
    ['EDGE_READINESS_PORT', String(b.ports.readinessPort)],
    ['EDGE_METRICS_PORT', String(b.ports.adminPort)],
    ['EDGE_CFN_STACK', b.rollout.stackName],
    ['EDGE_CFN_RESOURCE', b.rollout.resource],
    ['EDGE_READY_TIMEOUT_SECONDS', String(b.rollout.readyTimeoutSeconds)],
    ['EDGE_ASG_NAME', b.termination.autoScalingGroupName],
    ['EDGE_LIFECYCLE_HOOK', b.termination.lifecycleHookName],
    ['EDGE_DRAIN_SECONDS', String(b.termination.drainSeconds)],
  ];
}

/**
 * User data of a proxy: writes the bootstrap env file, starts the drain agent and the readiness
 * signal (first, so that a failure of anything after it still ends in a FAILURE signal at the
 * deadline rather than a silent timeout), then lets the AMI's `edge-bootstrap.service` render
 * Envoy's config (it fetches the token from Secrets Manager) and starts Envoy. The heredoc is
 * quoted, so the shell expands nothing in the values.
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
    'systemctl enable --now edge-lifecycle.service',
    'systemctl start --no-block edge-ready-signal.service',
    'systemctl restart edge-bootstrap.service',
    'systemctl enable --now envoy.service',
  );
  return userData;
}
