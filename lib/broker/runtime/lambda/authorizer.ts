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

/** The policy for a caller with valid credentials: the whole API (so a cached answer fits every route). */
export function allowPolicy(methodArn: string, principalId: string): APIGatewayAuthorizerResult {
  const [arnPrefix, stage] = methodArn.split('/');
  const resource = stage ? `${arnPrefix}/${stage}/*` : methodArn;
  return {
    principalId,
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: resource }] },
  };
}

/**
 * The authorizer's decision on already-known credentials: Allow, or the `Unauthorized`
 * error API Gateway turns into a 401 (with the OSB JSON body of the gateway response).
 */
export function authorize(event: APIGatewayRequestAuthorizerEvent, credentials: BrokerCredentials): APIGatewayAuthorizerResult {
  const headers = event.headers ?? {};
  const authorization = headers.Authorization ?? headers.authorization;
  if (!isAuthorized(authorization, credentials)) throw new Error('Unauthorized');
  return allowPolicy(event.methodArn, credentials.username);
}

/** REQUEST authorizer, identity source: the Authorization header. */
export async function handler(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const credentials = await brokerCredentials();
  try {
    return authorize(event, credentials);
  } catch (err) {
    rootLogger().info('basic auth rejected', { requestId: event.requestContext?.requestId });
    throw err;
  }
}
