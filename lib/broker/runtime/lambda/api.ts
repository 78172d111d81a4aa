import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ApiContext } from '../context';
import { rootLogger } from '../log';
import { OsbRequest, OsbResponse, lowerCaseHeaders } from '../osb/http';
import { handleOsbRequest } from '../osb/router';
import { SqsOperationQueue } from '../queue';
import { settingsFromEnv } from '../settings';
import { BrokerStore } from '../store/store';

/** Builds the transport-neutral request from an API Gateway (REST, proxy integration) event. */
export function requestFromEvent(event: APIGatewayProxyEvent): OsbRequest {
  const query: Record<string, string | undefined> = { ...(event.queryStringParameters ?? {}) };
  return {
    method: event.httpMethod,
    // A custom domain's base path mapping (`/broker/v2/...`) is not part of the OSB path.
    path: event.path.replace(/^.*?(?=\/v2(\/|$))/, ''),
    query,
    headers: lowerCaseHeaders(event.headers),
    body: event.body == null ? undefined : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body,
    requestId: event.requestContext?.requestId ?? 'unknown',
  };
}

export function resultFromResponse(response: OsbResponse): APIGatewayProxyResult {
  return { statusCode: response.status, headers: response.headers, body: JSON.stringify(response.body) };
}

let context: ApiContext | undefined;

function apiContext(): ApiContext {
  if (!context) {
    const settings = settingsFromEnv(process.env, { requireFleetCidrs: true });
    context = {
      settings,
      store: new BrokerStore(new DynamoDBClient({}), settings.tableName),
      queue: new SqsOperationQueue(new SQSClient({}), settings.queueUrl),
      logger: rootLogger(),
      retryAfterSeconds: 10,
    };
  }
  return context;
}

/** The API handler over a given context: what Lambda runs, and what the local broker runs. */
export function createApiHandler(ctx: () => ApiContext): (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult> {
  return async (event) => resultFromResponse(await handleOsbRequest(ctx(), requestFromEvent(event)));
}

/** Every OSB route (API Gateway Lambda proxy integration). */
export const handler = createApiHandler(apiContext);
