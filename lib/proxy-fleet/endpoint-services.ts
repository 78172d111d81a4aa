/**
 * The AWS services the region's VPC reaches through interface endpoints (the proxies' and the
 * control plane's AWS calls), by construct id and endpoint service suffix
 * (`com.amazonaws.<region>.<suffix>`). Plain data, no CDK: the network builds its endpoints from
 * it and `npm run preflight` checks every configured zone offers each of them.
 */
export const INTERFACE_ENDPOINT_SERVICES: Readonly<Record<string, string>> = {
  Ssm: 'ssm',
  SsmMessages: 'ssmmessages',
  Ec2Messages: 'ec2messages',
  SecretsManager: 'secretsmanager',
  Logs: 'logs',
  Monitoring: 'monitoring',
  EcrApi: 'ecr.api',
  EcrDocker: 'ecr.dkr',
};

/** `com.amazonaws.<region>.<suffix>`: the endpoint service name in a region. */
export function endpointServiceName(region: string, suffix: string): string {
  return `com.amazonaws.${region}.${suffix}`;
}
