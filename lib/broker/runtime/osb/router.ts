import { catalog } from '../catalog';
import { ApiContext } from '../context';
import { bind, bindingLastOperation, fetchBinding, unbind } from './bindings';
import { OsbError } from './errors';
import { OsbRequest, OsbResponse } from './http';
import { Answer, deprovision, fetchInstance, lastOperation, provision, update } from './instances';
import { checkApiVersion, checkId } from './request';

type Handler = (ctx: ApiContext, request: OsbRequest, ...ids: string[]) => Promise<Answer>;

interface Route {
  readonly pattern: RegExp;
  readonly methods: Readonly<Record<string, Handler>>;
  readonly ids: readonly string[];
}

const ID = '([^/]+)';
const ROUTES: readonly Route[] = [
  { pattern: /^\/v2\/catalog$/, ids: [], methods: { GET: async (ctx) => ({ status: 200, body: catalog(ctx.settings.regions) }) } },
  {
    pattern: new RegExp(`^/v2/service_instances/${ID}$`),
    ids: ['instance_id'],
    methods: { PUT: provision, PATCH: update, DELETE: deprovision, GET: fetchInstance },
  },
  { pattern: new RegExp(`^/v2/service_instances/${ID}/last_operation$`), ids: ['instance_id'], methods: { GET: lastOperation } },
  {
    pattern: new RegExp(`^/v2/service_instances/${ID}/service_bindings/${ID}$`),
    ids: ['instance_id', 'binding_id'],
    methods: { PUT: bind, GET: fetchBinding, DELETE: unbind },
  },
  {
    pattern: new RegExp(`^/v2/service_instances/${ID}/service_bindings/${ID}/last_operation$`),
    ids: ['instance_id', 'binding_id'],
    methods: { GET: bindingLastOperation },
  },
];

/**
 * The whole OSB API: routes a request, applies the rules every endpoint shares
 * (API version, request identity echo), and turns every failure into an OSB JSON error.
 * Bad input is always a 4xx; only a fault of ours or of AWS is a 500, without details.
 */
export async function handleOsbRequest(ctx: ApiContext, request: OsbRequest): Promise<OsbResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const requestIdentity = request.headers['x-broker-api-request-identity'];
  if (requestIdentity) headers['x-broker-api-request-identity'] = requestIdentity;
  const logger = ctx.logger.createChild({ persistentKeys: { requestId: request.requestId } });
  const started = Date.now();
  let answer: Answer;
  try {
    answer = await route({ ...ctx, logger }, request);
  } catch (err) {
    if (err instanceof OsbError) {
      answer = { status: err.status, body: err.body() };
    } else {
      logger.error('request failed', { method: request.method, path: request.path, error: err as Error });
      answer = { status: 500, body: { error: 'InternalError', description: `The broker could not complete the request (request id ${request.requestId}); retry later.` } };
    }
  }
  logger.info('request', { method: request.method, path: request.path, status: answer.status, ms: Date.now() - started });
  return { status: answer.status, headers: { ...headers, ...(answer.headers ?? {}) }, body: answer.body };
}

async function route(ctx: ApiContext, request: OsbRequest): Promise<Answer> {
  const path = request.path.replace(/\/+$/, '') || '/';
  for (const candidate of ROUTES) {
    const match = candidate.pattern.exec(path);
    if (!match) continue;
    const handler = candidate.methods[request.method.toUpperCase()];
    if (!handler) {
      throw new OsbError(405, `${request.method} is not allowed on ${path}; allowed: ${Object.keys(candidate.methods).join(', ')}`, 'MethodNotAllowed');
    }
    checkApiVersion(request);
    const ids = match.slice(1).map((raw, i) => {
      let id: string;
      try {
        id = decodeURIComponent(raw);
      } catch {
        throw new OsbError(400, `${candidate.ids[i]}: is not a valid URL segment`, 'BadRequest');
      }
      checkId(id, candidate.ids[i]);
      return id;
    });
    return handler(ctx, request, ...ids);
  }
  throw new OsbError(404, `no such endpoint: ${request.method} ${path}`, 'NotFound');
}
