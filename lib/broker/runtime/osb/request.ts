import { MAX_BODY_BYTES } from '../settings';
import { OriginatingIdentity } from '../store/types';
import { isPlainObject } from '../json';
import { PLANS, PlanName, SERVICE_ID, planById } from '../catalog';
import { OsbError, asyncRequired, badRequest } from './errors';
import { OsbRequest } from './http';

/** OSB versions this broker answers: 2.13 up to 2.17 (minor versions are backward compatible). */
const MIN_MINOR = 13;

/** 412 unless X-Broker-API-Version is 2.13 or later. */
export function checkApiVersion(request: OsbRequest): void {
  const version = request.headers['x-broker-api-version']?.trim();
  if (!version) throw new OsbError(412, 'The X-Broker-API-Version header is required; this broker speaks OSB 2.13 to 2.17.', 'PreconditionFailed');
  const match = /^(\d+)\.(\d+)$/.exec(version);
  if (!match || Number(match[1]) !== 2 || Number(match[2]) < MIN_MINOR) {
    throw new OsbError(412, `X-Broker-API-Version ${JSON.stringify(version)} is not supported; send 2.13 or later (2.17 preferred).`, 'PreconditionFailed');
  }
}

/** `X-Broker-API-Originating-Identity: <platform> <base64(json)>`; absent is fine, malformed is 400. */
export function originatingIdentity(request: OsbRequest): OriginatingIdentity | undefined {
  const header = request.headers['x-broker-api-originating-identity']?.trim();
  if (!header) return undefined;
  const match = /^(\S+)\s+([A-Za-z0-9+/=_-]+)$/.exec(header);
  if (!match) throw badRequest('X-Broker-API-Originating-Identity: must be "<platform> <base64-encoded JSON>"');
  try {
    const value = JSON.parse(Buffer.from(match[2], 'base64').toString('utf8')) as unknown;
    if (!isPlainObject(value)) throw new Error('not an object');
    return { platform: match[1], value };
  } catch {
    throw badRequest('X-Broker-API-Originating-Identity: the value after the platform must be base64-encoded JSON object');
  }
}

export function requireAcceptsIncomplete(request: OsbRequest): void {
  if (request.query.accepts_incomplete !== 'true') throw asyncRequired();
}

/** The request body as a JSON object; 400 naming the problem otherwise, 413 when too large. */
export function jsonBody(request: OsbRequest): Record<string, unknown> {
  const text = request.body ?? '';
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) {
    throw new OsbError(413, `request body: larger than ${MAX_BODY_BYTES} bytes`, 'PayloadTooLarge');
  }
  if (!text.trim()) throw badRequest('request body: a JSON object is required');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw badRequest(`request body: malformed JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(parsed)) throw badRequest('request body: must be a JSON object');
  return parsed;
}

export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !value.trim()) throw badRequest(`${field}: must be a non-empty string`);
  return value;
}

export function requiredString(body: Record<string, unknown>, field: string): string {
  const value = optionalString(body, field);
  if (value === undefined) throw badRequest(`${field}: is required`);
  return value;
}

export function optionalObject(body: Record<string, unknown>, field: string): Record<string, unknown> | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw badRequest(`${field}: must be an object`);
  return value;
}

export function checkServiceId(serviceId: string, field = 'service_id'): void {
  if (serviceId !== SERVICE_ID) throw badRequest(`${field}: unknown service ${JSON.stringify(serviceId)} (this broker offers ${SERVICE_ID})`);
}

export function checkPlanId(planId: string, field = 'plan_id'): PlanName {
  const plan = planById(planId);
  if (!plan) {
    const known = Object.values(PLANS).map((p) => `${p.id} (${p.name})`).join(', ');
    throw badRequest(`${field}: unknown plan ${JSON.stringify(planId)} (plans: ${known})`);
  }
  return plan;
}

/** `maintenance_info.version`, if the request names one. */
export function maintenanceVersion(body: Record<string, unknown>): string | undefined {
  const info = optionalObject(body, 'maintenance_info');
  if (!info) return undefined;
  const version = info.version;
  if (typeof version !== 'string' || !version) throw badRequest('maintenance_info.version: must be a non-empty string');
  return version;
}

/** OSB ids are opaque but land in keys and URLs: keep them sane. */
export function checkId(id: string, what: string): void {
  if (!/^[A-Za-z0-9._~-]{1,128}$/.test(id)) throw badRequest(`${what}: must be 1-128 characters of letters, digits, '.', '_', '~' or '-'`);
}

/** `service_id` of a request body: required, and this broker's service. */
export function requiredServiceId(body: Record<string, unknown>): string {
  const serviceId = requiredString(body, 'service_id');
  checkServiceId(serviceId);
  return serviceId;
}

/** DELETE requests name the service and plan in the query: both required and known (400 otherwise). */
export function checkServiceAndPlanQuery(request: OsbRequest): void {
  const serviceId = request.query.service_id;
  const planId = request.query.plan_id;
  if (!serviceId) throw badRequest('service_id: is required (query parameter)');
  if (!planId) throw badRequest('plan_id: is required (query parameter)');
  checkServiceId(serviceId);
  checkPlanId(planId);
}

/** The head of an asynchronous request with a body (provision, update): accepts_incomplete, originating identity, JSON body. */
export function asyncBodyRequest(request: OsbRequest): { identity: OriginatingIdentity | undefined; body: Record<string, unknown> } {
  requireAcceptsIncomplete(request);
  const identity = originatingIdentity(request);
  return { identity, body: jsonBody(request) };
}
