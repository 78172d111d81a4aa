import { Logger } from '@aws-lambda-powertools/logger';

/** One structured JSON logger per process; children add request or operation ids. */
let root: Logger | undefined;

export function rootLogger(): Logger {
  root ??= new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'edge-broker' });
  return root;
}
