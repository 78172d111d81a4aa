import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Listening, listen } from '../../shared/listen';
import { ControlPlane } from './control-plane';
import { nodeFromJson } from './node-info';
import { ResourceKind, TYPE_URLS } from './protos';
import { TypeSnapshot } from './snapshot';

const DISCOVERY_PATHS: Record<string, ResourceKind> = {
  '/v3/discovery:listeners': 'listeners',
  '/v3/discovery:routes': 'routes',
  '/v3/discovery:clusters': 'clusters',
  '/v3/discovery:endpoints': 'endpoints',
};

const MAX_BODY = 1024 * 1024;

/** JSON of every resource of a type snapshot, shared by all pollers until the snapshot changes. */
const allResourcesJson = new WeakMap<TypeSnapshot, string>();

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * REST-JSON discovery (`POST /v3/discovery:<type>`, 304 when the caller's version_info is
 * current) plus /healthz, /readyz, /status and /metrics.
 */
async function handleDiscovery(cp: ControlPlane, kind: ResourceKind, req: IncomingMessage, res: ServerResponse): Promise<void> {
  cp.metrics.restRequests++;
  let request: Record<string, unknown>;
  try {
    request = JSON.parse(await readBody(req)) as Record<string, unknown>;
    if (typeof request !== 'object' || request === null) throw new Error('not an object');
  } catch (err) {
    send(res, 400, { error: 'bad_request', description: `DiscoveryRequest must be a JSON object: ${(err as Error).message}` });
    return;
  }
  const { node, token } = nodeFromJson(request.node as Record<string, unknown> | undefined, cp.region);
  const auth = cp.tokens.check(token);
  if (auth !== 'ok') {
    cp.metrics.authRefusals++;
    cp.logger.log('warn', 'REST discovery refused', { node: node.id, reason: auth });
    send(res, auth === 'missing' ? 401 : 403, { error: auth === 'missing' ? 'unauthenticated' : 'forbidden', description: auth === 'missing' ? 'node.metadata.auth is required' : 'node.metadata.auth is not valid' });
    return;
  }
  const typeUrl = (request.type_url ?? request.typeUrl) as string | undefined;
  if (typeUrl !== undefined && typeUrl !== TYPE_URLS[kind]) {
    send(res, 400, { error: 'bad_request', description: `type_url: must be ${TYPE_URLS[kind]} on this path` });
    return;
  }
  const profile = cp.profileFor(node);
  const snapshot = cp.stableSnapshot(profile);
  if (!snapshot) {
    send(res, 503, { error: 'not_ready', description: 'no snapshot yet' });
    return;
  }
  const ts = snapshot.types[kind];
  const versionInfo = (request.version_info ?? request.versionInfo) as string | undefined;
  const names = (request.resource_names ?? request.resourceNames ?? []) as string[];
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
    send(res, 400, { error: 'bad_request', description: 'resource_names: must be an array of strings' });
    return;
  }
  if (versionInfo === ts.version) {
    res.writeHead(304);
    res.end();
    return;
  }
  const all = names.length === 0 || names.includes('*');
  // The JSON of "everything" is shared by every poller until the snapshot changes.
  let resources = all ? allResourcesJson.get(ts) : undefined;
  if (resources === undefined) {
    const wanted = all ? [...ts.resources.keys()].sort() : names;
    resources = JSON.stringify(wanted.map((n) => ts.resources.get(n)?.json).filter((r) => r !== undefined));
    if (all) allResourcesJson.set(ts, resources);
  }
  const body = `{"version_info":${JSON.stringify(ts.version)},"type_url":${JSON.stringify(ts.typeUrl)},"resources":${resources},"nonce":"${randomUUID()}"}`;
  send(res, 200, body);
}

export type RestServer = Listening;

export async function startRestServer(cp: ControlPlane, port: number, host = '0.0.0.0'): Promise<RestServer> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const kind = DISCOVERY_PATHS[url.pathname];
    if (kind) {
      if (req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed', description: 'use POST' });
      handleDiscovery(cp, kind, req, res).catch((err: Error) => {
        cp.logger.log('error', 'REST discovery failed', { error: err.message });
        if (!res.headersSent) send(res, 500, { error: 'internal', description: 'discovery failed' });
      });
      return;
    }
    if (req.method !== 'GET') return send(res, 405, { error: 'method_not_allowed', description: 'use GET' });
    switch (url.pathname) {
      case '/healthz':
        return send(res, 200, { status: 'ok' });
      case '/readyz':
        return cp.ready() ? send(res, 200, { status: 'ready' }) : send(res, 503, { status: 'not ready', description: 'no snapshot rendered or loaded yet' });
      case '/status':
        return send(res, 200, cp.status({ listNodes: Number(url.searchParams.get('nodes') ?? 200) }));
      case '/metrics':
        return send(res, 200, cp.metricsText(), 'text/plain; version=0.0.4');
      default:
        return send(res, 404, { error: 'not_found', description: `no such path ${url.pathname}` });
    }
  });
  server.keepAliveTimeout = 65_000;
  return listen(server, port, host);
}
