import { ApiContext } from '../context';
import { isUnderDomain } from '../hostnames';
import { isPlainObject, sameJson } from '../json';
import { InstanceRecord } from '../store/types';
import { OsbError, badRequest, concurrencyError, conflict, notFound } from './errors';
import { OsbRequest } from './http';
import { checkPlanId, checkServiceAndPlanQuery, jsonBody, optionalObject, optionalString, requiredServiceId, requiredString } from './request';
import { Answer } from './instances';

/**
 * Bindings are synchronous: a binding is a read-only view of the instance (what a
 * consuming app needs to reach it), so there is nothing to wait for.
 */
export function credentialsFor(instance: InstanceRecord, domain: string): Record<string, unknown> {
  const hostnames = [...instance.parameters.hostnames];
  const cnameTarget = instance.plan === 'cdn' && instance.resources.distributionDomain ? instance.resources.distributionDomain : domain;
  return {
    hostnames,
    endpoint: `https://${hostnames.find((h) => !h.startsWith('*.')) ?? hostnames[0].replace(/^\*\./, 'www.')}`,
    endpoints: hostnames.map((h) => `https://${h}`),
    edge_domain: domain,
    plan: instance.plan,
    regions: instance.parameters.regions ?? 'all',
    // Names outside the platform domain are the team's DNS to point (CNAME) at this target.
    cname_target: cnameTarget,
    dns_managed_by_platform: hostnames.filter((h) => isUnderDomain(h, domain)),
  };
}

async function usableInstance(ctx: ApiContext, instanceId: string): Promise<InstanceRecord> {
  const instance = await ctx.store.getInstance(instanceId);
  if (!instance || instance.state === 'deleted') throw notFound(`instance ${instanceId} does not exist`);
  if (instance.state === 'provisioning') throw concurrencyError(`instance ${instanceId} is still being provisioned`);
  if (instance.state === 'failed') throw new OsbError(422, `instance ${instanceId} failed to provision and cannot be bound`, 'InstanceNotUsable');
  return instance;
}

/** OSB's binding `endpoints`: where the app's traffic goes (platforms derive network policy from it). */
function endpointsFor(credentials: Record<string, unknown>): Array<{ host: string; ports: string[]; protocol: 'tcp' }> {
  return ((credentials.hostnames as string[]) ?? []).map((host) => ({ host, ports: ['443'], protocol: 'tcp' }));
}

export async function bind(ctx: ApiContext, request: OsbRequest, instanceId: string, bindingId: string): Promise<Answer> {
  const body = jsonBody(request);
  const serviceId = requiredServiceId(body);
  const planId = requiredString(body, 'plan_id');
  checkPlanId(planId);
  const appGuid = optionalString(body, 'app_guid');
  const bindResource = optionalObject(body, 'bind_resource');
  const context = optionalObject(body, 'context');
  const parameters = body.parameters ?? {};
  if (!isPlainObject(parameters)) throw badRequest('parameters: must be an object');
  const unknown = Object.keys(parameters);
  if (unknown.length) throw badRequest(`parameters.${unknown[0]}: is not a known parameter (bindings take no parameters)`);

  const instance = await usableInstance(ctx, instanceId);
  const existing = await ctx.store.getBinding(instanceId, bindingId);
  if (existing) return answerExisting(existing, { serviceId, planId, appGuid, bindResource });
  if (instance.currentOperationId) {
    const current = await ctx.store.getOperation(instanceId, instance.currentOperationId);
    if (current?.type === 'deprovision') throw concurrencyError(`instance ${instanceId} is being deprovisioned`);
  }
  const credentials = credentialsFor(instance, ctx.settings.domain);
  const created = await ctx.store.createBinding({
    instanceId,
    bindingId,
    serviceId,
    planId,
    appGuid,
    bindResource,
    context,
    parameters,
    credentials,
    createdAt: new Date().toISOString(),
  });
  if (!created) {
    const raced = await ctx.store.getBinding(instanceId, bindingId);
    if (raced) return answerExisting(raced, { serviceId, planId, appGuid, bindResource });
  }
  ctx.logger.info('binding created', { instanceId, bindingId });
  return { status: 201, body: { credentials, endpoints: endpointsFor(credentials) } };
}

function answerExisting(
  existing: { serviceId: string; planId: string; appGuid?: string; bindResource?: Record<string, unknown>; credentials: Record<string, unknown>; bindingId: string },
  asked: { serviceId: string; planId: string; appGuid?: string; bindResource?: Record<string, unknown> },
): Answer {
  const same =
    existing.serviceId === asked.serviceId &&
    existing.planId === asked.planId &&
    existing.appGuid === asked.appGuid &&
    sameJson(existing.bindResource, asked.bindResource);
  if (!same) throw conflict(`binding ${existing.bindingId} already exists with different attributes`);
  return { status: 200, body: { credentials: existing.credentials, endpoints: endpointsFor(existing.credentials) } };
}

export async function fetchBinding(ctx: ApiContext, _request: OsbRequest, instanceId: string, bindingId: string): Promise<Answer> {
  const binding = await ctx.store.getBinding(instanceId, bindingId);
  if (!binding) throw notFound(`binding ${bindingId} of instance ${instanceId} does not exist`);
  return { status: 200, body: { credentials: binding.credentials, endpoints: endpointsFor(binding.credentials), parameters: binding.parameters ?? {} } };
}

export async function unbind(ctx: ApiContext, request: OsbRequest, instanceId: string, bindingId: string): Promise<Answer> {
  checkServiceAndPlanQuery(request);
  const deleted = await ctx.store.deleteBinding(instanceId, bindingId);
  if (!deleted) return { status: 410, body: {} };
  ctx.logger.info('binding deleted', { instanceId, bindingId });
  return { status: 200, body: {} };
}

export async function bindingLastOperation(ctx: ApiContext, _request: OsbRequest, instanceId: string, bindingId: string): Promise<Answer> {
  const binding = await ctx.store.getBinding(instanceId, bindingId);
  if (binding) return { status: 200, body: { state: 'succeeded', description: 'bindings are created synchronously' } };
  const instance = await ctx.store.getInstance(instanceId);
  if (!instance) throw notFound(`instance ${instanceId} does not exist`);
  return { status: 410, body: {} };
}

