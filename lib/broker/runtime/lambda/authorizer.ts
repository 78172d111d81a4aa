import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { BrokerCredentials, isAuthorized } from '../auth';
import { rootLogger } from '../log';

const CACHE_MS = 5 * 60 * 1000;
let cached: { credentials: BrokerCredentials; at: number } | undefined;
const secrets = new SecretsManagerClient({});

async function brokerCredentials(): Promise<BrokerCredentials> {
  if (cached && Date.now() - cached.at < CACHE_MS) return cached.credentials;
  const arn = process.env.EDGE_BROKER_SECRET_ARN;
  if (!arn) throw new Error('EDGE_BROKER_SECRET_ARN is not set');
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
  const parsed = JSON.parse(out.SecretString ?? '{}') as Partial<BrokerCredentials>;
  if (!parsed.username || !parsed.password) throw new Error('broker secret must be JSON {"username","password"}');
  cached = { credentials: { username: parsed.username, password: parsed.password }, at: Date.now() };
  return cached.credentials;
}

/** The caller's policy on the whole API (so a cached answer fits every route of the stage). */
function policy(effect: 'Allow' | 'Deny', methodArn: string, principalId: string): APIGatewayAuthorizerResult {
  const [arnPrefix, stage] = methodArn.split('/');
  const resource = stage ? `${arnPrefix}/${stage}/*` : methodArn;
  return {
    principalId,
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] },
  };
}

/** The policy for a caller with valid credentials. */
export function allowPolicy(methodArn: string, principalId: string): APIGatewayAuthorizerResult {
  return policy('Allow', methodArn, principalId);
}

/** The principal a denied caller is reported as (API Gateway requires one). */
export const DENIED_PRINCIPAL = 'unauthenticated';

/**
 * The authorizer's decision on already-known credentials: Allow, or Deny. A Deny is an answer,
 * not a failure: API Gateway turns it into its ACCESS_DENIED gateway response, which the broker
 * API answers as a 401 with `WWW-Authenticate` and the OSB body (lib/broker/broker-api.ts).
 * Throwing `Unauthorized` would give the same 401, but Lambda counts every such throw as a
 * function error, so the authorizer's errors alarm would page on any wrong password
 * (API Gateway Developer Guide, "Gateway response types"; Lambda, "Errors" metric).
 */
export function authorize(event: APIGatewayRequestAuthorizerEvent, credentials: BrokerCredentials): APIGatewayAuthorizerResult {
  const headers = event.headers ?? {};
  const authorization = headers.Authorization ?? headers.authorization;
  if (!isAuthorized(authorization, credentials)) return policy('Deny', event.methodArn, DENIED_PRINCIPAL);
  return allowPolicy(event.methodArn, credentials.username);
}

/** Whether the authorizer's answer lets the request through (an Allow and no Deny). */
export function allows(result: APIGatewayAuthorizerResult): boolean {
  const effects = result.policyDocument.Statement.map((s) => s.Effect);
  return effects.includes('Allow') && !effects.includes('Deny');
}

/**
 * REQUEST authorizer, identity source: the Authorization header. Only a real failure (the
 * credentials cannot be read) throws: API Gateway then answers 500 and the errors alarm pages.
 */
export async function handler(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const credentials = await brokerCredentials();
  const decision = authorize(event, credentials);
  if (!allows(decision)) rootLogger().info('basic auth rejected', { requestId: event.requestContext?.requestId });
  return decision;
}
