import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { resolveConfig } from '../../lib/config';
import { PreflightContext } from '../../lib/preflight/types';

/**
 * Shared fixtures of the preflight tests. AWS services with no emulator here (EC2, IAM, SSM,
 * Route 53, STS, CloudFormation; DynamoDB's DescribeTable replicas too) are stubbed at the SDK
 * client with aws-sdk-client-mock; errors are the SDK's own exception classes where the client
 * has one, or a service exception with the code AWS documents for the API.
 */
export const ACCOUNT = '123456789012';
export const REAL_CONFIG = {
  account: ACCOUNT,
  domain: 'edge.corp-example.net',
  hostedZoneId: 'Z0123456789ABCDEFGHIJ',
  regions: ['us-east-1', 'eu-west-1'],
};

export function context(overrides: Record<string, unknown> = {}, more: Partial<PreflightContext> = {}): PreflightContext {
  return {
    config: resolveConfig({ ...REAL_CONFIG, ...overrides }),
    zoneNames: new Map(),
    disabledRegions: new Set(),
    runCommand: async () => ({ code: 0, stdout: '', stderr: '' }),
    resolveNs: async () => [],
    docker: 'docker',
    ...more,
  };
}

/** An EC2-style service error (EC2 errors have no class per code; the SDK sets `name` to the code). */
export function ec2Error(code: string, message = code): EC2ServiceException {
  return new EC2ServiceException({ name: code, $fault: 'client', $metadata: { httpStatusCode: 400 }, message });
}

/** What the SDK's default credential chain throws when it finds nothing. */
export function noCredentials(): Error {
  return Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
}

export function throttled(name = 'ThrottlingException'): Error {
  return Object.assign(new Error('Rate exceeded'), { name, $retryable: { throttling: true }, $metadata: { httpStatusCode: 400 } });
}

/** The region a stubbed call was made in (clients are per region). */
export async function regionOf(getClient: () => { config: { region: unknown } }): Promise<string> {
  const region = getClient().config.region;
  return typeof region === 'function' ? ((await (region as () => Promise<string>)()) as string) : (region as string);
}
