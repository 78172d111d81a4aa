import { ServiceParameters, unverifiedTlsBackends } from '../../../model';
import { MAINTENANCE_INFO, PLANS, PlanName, SERVICE_ID, checkParameters } from '../catalog';
import { ApiContext } from '../context';
import { customDomainAttributes } from '../custom-domains';
import { assertHostnamesFree, hostnameProblems } from '../hostnames';
import { isPlainObject, sameJson } from '../json';
import { BrokerSettings, OPERATION_TTL_SECONDS, targetPolicy } from '../settings';
import { newOperationId } from '../store/store';
import { InstanceConfig, InstanceRecord, OperationRecord, OperationType, OriginatingIdentity } from '../store/types';
import { OsbError, badRequest, concurrencyError, conflict, maintenanceInfoConflict, notFound } from './errors';
import { OsbRequest } from './http';
import {
  asyncBodyRequest,
  checkId,
  checkPlanId,
  checkServiceAndPlanQuery,
  maintenanceVersion,
  optionalObject,
  optionalString,
  originatingIdentity,
  requireAcceptsIncomplete,
  requiredServiceId,
  requiredString,
} from './request';

/** A handler's answer before headers are added. */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
  /** A repeated request for an operation in progress wakes the worker again (see wakeAgain). */
  readonly requeue?: string;
}

/**
 * A platform repeats a request after a timeout or a 5xx. If the first attempt's message
 * was lost (SendMessage failed after the table write), the repeat heals it: every step
 * is idempotent, so an extra wake-up does no harm.
 */
async function wakeAgain(ctx: ApiContext, instanceId: string, answer: Answer): Promise<Answer> {
  if (answer.requeue) await ctx.queue.enqueue({ instanceId, operationId: answer.requeue });
  return answer;
}

const nowIso = () => new Date().toISOString();

function checkMaintenance(version: string | undefined): void {
  if (version !== undefined && version !== MAINTENANCE_INFO.version) {
    throw maintenanceInfoConflict(`maintenance_info.version: ${JSON.stringify(version)} does not match the catalog's ${MAINTENANCE_INFO.version}; fetch the catalog again`);
  }
}

function validParameters(input: unknown, plan: PlanName, ctx: ApiContext, mode: 'create' | 'update'): ServiceParameters {
  const check = checkParameters(input, ctx.settings.regions, mode, targetPolicy(ctx.settings));
  if (!check.ok) throw badRequest(check.description.replace(/^Invalid parameters: /, 'parameters: invalid: '));
  if (mode === 'create') {
    const problems = hostnameProblems(check.parameters, plan, ctx.settings);
    if (problems.length) throw badRequest(`parameters: invalid: ${problems.join('; ')}`);
  }
  return check.parameters;
}

function newOperation(
  instanceId: string,
  type: OperationType,
  request: OsbRequest,
  identity: OriginatingIdentity | undefined,
  extra: Partial<OperationRecord> = {},
): OperationRecord {
  const now = nowIso();
  return {
    operationId: newOperationId(),
    instanceId,
    type,
    state: 'in progress',
    step: 'queued',
    completedSteps: [],
    description: `${type}: queued`,
    originatingIdentity: identity,
    requestIdentity: request.headers['x-broker-api-request-identity'],
    attempts: 0,
    createdAt: now,
    updatedAt: now,
    ...extra,
  };
}

function isLive(instance: InstanceRecord | undefined): instance is InstanceRecord {
  return Boolean(instance && instance.state !== 'deleted');
}

// ---- PUT /v2/service_instances/:id ------------------------------------------------

export async function provision(ctx: ApiContext, request: OsbRequest, instanceId: string): Promise<Answer> {
  const { identity, body } = asyncBodyRequest(request);
  const serviceId = requiredServiceId(body);
  const planId = requiredString(body, 'plan_id');
  const plan = checkPlanId(planId);
  const context = optionalObject(body, 'context');
  const organizationGuid = optionalString(body, 'organization_guid') ?? contextString(context, 'organization_guid');
  if (!organizationGuid) throw badRequest('organization_guid: is required (in the body or in context)');
  const spaceGuid = optionalString(body, 'space_guid') ?? contextString(context, 'space_guid');
  if (!spaceGuid) throw badRequest('space_guid: is required (in the body or in context)');
  const requestedVersion = maintenanceVersion(body);
  checkMaintenance(requestedVersion);
  const rawParameters = body.parameters ?? {};
  if (!isPlainObject(rawParameters)) throw badRequest('parameters: must be an object');
  const parameters = validParameters(rawParameters, plan, ctx, 'create');

  const asked = { serviceId, planId, organizationGuid, spaceGuid, parameters };
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await ctx.store.getInstance(instanceId);
    if (isLive(existing)) {
      const current = existing.currentOperationId ? await ctx.store.getOperation(instanceId, existing.currentOperationId) : undefined;
      return wakeAgain(ctx, instanceId, answerExisting(existing, asked, current));
    }

    await assertHostnamesFree(ctx.store, parameters.hostnames, instanceId);
    const target: InstanceConfig = { planId, plan, parameters };
    const operation = newOperation(instanceId, 'provision', request, identity, { target, description: 'provision: queued' });
    await ctx.store.putOperation(operation);
    const now = nowIso();
    const created = await ctx.store.createInstance({
      instanceId,
      serviceId,
      planId,
      plan,
      parameters,
      organizationGuid,
      spaceGuid,
      context,
      maintenanceInfoVersion: MAINTENANCE_INFO.version,
      state: 'provisioning',
      currentOperationId: operation.operationId,
      lastOperationId: operation.operationId,
      resources: {},
      createdAt: now,
      updatedAt: now,
    });
    if (!created) {
      // Another request created it between our read and write: answer against that one.
      await markSuperseded(ctx, instanceId, operation.operationId);
      continue;
    }
    await ctx.queue.enqueue({ instanceId, operationId: operation.operationId });
    ctx.logger.info('provision accepted', { instanceId, operationId: operation.operationId, plan, originatingIdentity: identity });
    return { status: 202, body: { operation: operation.operationId } };
  }
  throw changedConcurrently(instanceId);
}

/**
 * A request that lost the instance's conditional write to another request: its own operation
 * fails and expires within the hour (no platform was given its id; left in progress, the
 * sweeper would re-send it). docs/broker.md, "Races on one instance".
 */
async function markSuperseded(ctx: ApiContext, instanceId: string, operationId: string): Promise<void> {
  await ctx.store.updateOperation(instanceId, operationId, { state: 'failed', description: 'superseded by a concurrent request', expiresAt: nowSeconds() + 3600 });
}

const changedConcurrently = (instanceId: string) => concurrencyError(`instance ${instanceId} is being changed by another request; retry`);

function contextString(context: Record<string, unknown> | undefined, field: string): string | undefined {
  const value = context?.[field];
  return typeof value === 'string' && value.trim() ? value : undefined;
}

function answerExisting(
  existing: InstanceRecord,
  asked: { serviceId: string; planId: string; organizationGuid: string; spaceGuid: string; parameters: ServiceParameters },
  current: OperationRecord | undefined,
): Answer {
  const differences = [
    existing.serviceId !== asked.serviceId && 'service_id',
    existing.planId !== asked.planId && 'plan_id',
    existing.organizationGuid !== asked.organizationGuid && 'organization_guid',
    existing.spaceGuid !== asked.spaceGuid && 'space_guid',
    !sameJson(existing.parameters, asked.parameters) && 'parameters',
  ].filter(Boolean);
  if (differences.length) throw conflict(`instance ${existing.instanceId} already exists with a different ${differences.join(', ')}`);
  if (current?.type === 'deprovision') throw concurrencyError(`instance ${existing.instanceId} is being deprovisioned`);
  if (existing.state === 'provisioning' && current?.type === 'provision') return { status: 202, body: { operation: current.operationId }, requeue: current.operationId };
  if (existing.state === 'failed') throw conflict(`instance ${existing.instanceId} exists but its provisioning failed; deprovision it, then provision again`);
  return { status: 200, body: {} };
}

// ---- PATCH /v2/service_instances/:id ----------------------------------------------

export async function update(ctx: ApiContext, request: OsbRequest, instanceId: string): Promise<Answer> {
  const { identity, body } = asyncBodyRequest(request);
  requiredServiceId(body);
  const askedPlanId = optionalString(body, 'plan_id');
  if (askedPlanId) checkPlanId(askedPlanId);
  checkMaintenance(maintenanceVersion(body));
  const patch = body.parameters ?? {};
  if (!isPlainObject(patch)) throw badRequest('parameters: must be an object');

  const instance = await ctx.store.getInstance(instanceId);
  if (!isLive(instance)) throw notFound(`instance ${instanceId} does not exist`);
  if (instance.currentOperationId) throw concurrencyError(`instance ${instanceId} has an operation in progress (${instance.currentOperationId}); retry when it has finished`);
  if (instance.state === 'failed') throw new OsbError(422, `instance ${instanceId} failed to provision and cannot be updated; deprovision it`, 'InstanceNotUsable');

  const planId = askedPlanId ?? instance.planId;
  const plan = checkPlanId(planId);
  // null removes an optional setting; everything given replaces the current value.
  const removals = Object.keys(patch).filter((k) => patch[k] === null);
  const given = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== null));
  validParameters(given, plan, ctx, 'update');
  const merged: Record<string, unknown> = { ...instance.parameters, ...given };
  for (const key of removals) delete merged[key];
  const parameters = validParameters(merged, plan, ctx, 'create');

  if (instance.plan === 'cdn' && plan === 'cdn' && !sameJson([...instance.parameters.hostnames].sort(), [...parameters.hostnames].sort())) {
    throw new OsbError(
      422,
      'parameters.hostnames: cannot change in place on the cdn plan (the CloudFront certificate and aliases are bound to them); change the plan to standard first, or provision a new instance',
      'NotUpdatable',
    );
  }
  if (planId === instance.planId && sameJson(parameters, instance.parameters)) return { status: 200, body: {} };
  await assertHostnamesFree(ctx.store, parameters.hostnames, instanceId);

  const operation = newOperation(instanceId, 'update', request, identity, {
    target: { planId, plan, parameters },
    previous: { planId: instance.planId, plan: instance.plan, parameters: instance.parameters },
  });
  await ctx.store.putOperation(operation);
  if (!(await ctx.store.startOperation(instanceId, operation.operationId, undefined, ['provisioned']))) {
    await markSuperseded(ctx, instanceId, operation.operationId);
    throw changedConcurrently(instanceId);
  }
  await ctx.queue.enqueue({ instanceId, operationId: operation.operationId });
  ctx.logger.info('update accepted', { instanceId, operationId: operation.operationId, plan, originatingIdentity: identity });
  return { status: 202, body: { operation: operation.operationId } };
}

// ---- DELETE /v2/service_instances/:id ---------------------------------------------

export async function deprovision(ctx: ApiContext, request: OsbRequest, instanceId: string): Promise<Answer> {
  checkServiceAndPlanQuery(request);
  requireAcceptsIncomplete(request);
  const identity = originatingIdentity(request);

  for (let attempt = 0; attempt < 3; attempt++) {
    const instance = await ctx.store.getInstance(instanceId);
    if (!isLive(instance)) return { status: 410, body: {} };
    const current = instance.currentOperationId ? await ctx.store.getOperation(instanceId, instance.currentOperationId) : undefined;
    if (current?.type === 'deprovision') return wakeAgain(ctx, instanceId, { status: 202, body: { operation: current.operationId }, requeue: current.operationId });

    const hostnames = new Set([...instance.parameters.hostnames, ...(current?.target?.parameters.hostnames ?? [])]);
    const operation = newOperation(instanceId, 'deprovision', request, identity, {
      previous: { planId: instance.planId, plan: instance.plan, parameters: instance.parameters },
      hostnames: [...hostnames],
      cancelledOperationId: current?.operationId,
    });
    await ctx.store.putOperation(operation);
    if (!(await ctx.store.startOperation(instanceId, operation.operationId, instance.currentOperationId, ['provisioning', 'provisioned', 'failed']))) {
      await markSuperseded(ctx, instanceId, operation.operationId);
      continue;
    }
    if (current) {
      // The running provision or update halts at its next step; the deprovision cleans up after it.
      await ctx.store.updateOperation(instanceId, current.operationId, {
        state: 'failed',
        description: `${current.type} cancelled: the instance is being deprovisioned (${operation.operationId})`,
        expiresAt: nowSeconds() + OPERATION_TTL_SECONDS,
      });
    }
    await ctx.queue.enqueue({ instanceId, operationId: operation.operationId });
    ctx.logger.info('deprovision accepted', { instanceId, operationId: operation.operationId, cancelled: current?.operationId, originatingIdentity: identity });
    return { status: 202, body: { operation: operation.operationId } };
  }
  throw changedConcurrently(instanceId);
}

// ---- GET /v2/service_instances/:id ------------------------------------------------

export async function fetchInstance(ctx: ApiContext, _request: OsbRequest, instanceId: string): Promise<Answer> {
  const instance = await ctx.store.getInstance(instanceId);
  if (!isLive(instance)) throw notFound(`instance ${instanceId} does not exist`);
  if (instance.state === 'provisioning') throw notFound(`instance ${instanceId} is still being provisioned`);
  if (instance.state === 'failed') throw notFound(`instance ${instanceId} failed to provision`);
  // OSB 2.17 "Fetching a Service Instance": 422 ConcurrencyError while it is being updated
  // (its parameters are changing: the old ones would be a wrong answer). That lasts until the
  // instance no longer names the update, as last_operation answers ("finishing").
  const current = instance.currentOperationId ? await ctx.store.getOperation(instanceId, instance.currentOperationId) : undefined;
  if (current?.type === 'update') {
    throw concurrencyError(`instance ${instanceId} is being updated (operation ${current.operationId}); fetch it when the update has finished`);
  }
  return {
    status: 200,
    body: {
      service_id: SERVICE_ID,
      plan_id: instance.planId,
      parameters: instance.parameters,
      maintenance_info: { version: instance.maintenanceInfoVersion },
      metadata: instanceMetadata(instance, ctx.settings),
    },
  };
}

/**
 * Labels for people; attributes (strings, as OSB platforms such as Cloud Foundry store them):
 * each custom domain's state and the DNS records its team keeps, and the instance's security
 * status, the backends whose TLS certificate the edge does not check (`tls.verify: false`).
 */
function instanceMetadata(instance: InstanceRecord, settings: BrokerSettings): Record<string, unknown> {
  const unverified = unverifiedTlsBackends(instance.parameters);
  const attributes: Record<string, string> = {
    ...customDomainAttributes(instance, settings),
    ...(unverified.length ? { 'edge.tls.unverified_backends': unverified.join('\n') } : {}),
  };
  return { labels: { plan: PLANS[instance.plan].name }, ...(Object.keys(attributes).length ? { attributes } : {}) };
}

// ---- GET /v2/service_instances/:id/last_operation ---------------------------------

export async function lastOperation(ctx: ApiContext, request: OsbRequest, instanceId: string): Promise<Answer> {
  const instance = await ctx.store.getInstance(instanceId);
  if (!instance) throw notFound(`instance ${instanceId} does not exist`);
  // An empty `operation=` names no operation: answer for the last one (not "succeeded" from the instance's state).
  const asked = request.query.operation || undefined;
  // It becomes part of a table key: a huge or odd one is the caller's error (400), not a DynamoDB fault (500).
  if (asked) checkId(asked, 'operation');
  const operation = await ctx.store.getOperation(instanceId, asked ?? instance.lastOperationId);
  if (instance.state === 'deleted') {
    // The operation is kept until its TTL: answer what the platform polls for, then 410 (gone).
    if (operation) return { status: 200, body: operationBody(operation) };
    return { status: 410, body: {} };
  }
  if (!operation) {
    // The operation's record expired (TTL): the instance keeps how its last operation ended, so a
    // failed deprovision still reads as failed (a "succeeded" would make the platform forget an
    // instance whose resources still exist).
    const outcome = instance.lastOutcome;
    if (outcome && (!asked || asked === outcome.operationId)) return { status: 200, body: operationBody(outcome) };
    if (asked) throw badRequest(`operation: ${asked} is not an operation of instance ${instanceId} (or has expired)`);
    // Instances written before outcomes were kept: the instance's state says how it ended.
    return {
      status: 200,
      body: instance.state === 'failed' ? { state: 'failed', description: 'provisioning failed' } : { state: 'succeeded', description: `instance is ${instance.state}` },
    };
  }
  // The worker ends an operation in two writes: the operation, then the instance. Until the
  // instance no longer names it as current (or after a crash between them, until redelivery
  // finishes it), the operation is not over: a deprovision's "succeeded" would have the platform
  // find an instance that still answers 200.
  if (operation.state !== 'in progress' && instance.currentOperationId === operation.operationId) {
    return { status: 200, body: { state: 'in progress', description: `${operation.type}: finishing` }, headers: { 'retry-after': String(ctx.retryAfterSeconds) } };
  }
  const headers: Record<string, string> = operation.state === 'in progress' ? { 'retry-after': String(ctx.retryAfterSeconds) } : {};
  return { status: 200, body: operationBody(operation), headers };
}

function operationBody(operation: Pick<OperationRecord, 'type' | 'state' | 'description' | 'instanceUsable' | 'updateRepeatable'>): Record<string, unknown> {
  const body: Record<string, unknown> = { state: operation.state, description: operation.description };
  if (operation.type === 'update' && operation.state === 'failed') {
    body.instance_usable = operation.instanceUsable ?? true;
    body.update_repeatable = operation.updateRepeatable ?? true;
  }
  if (operation.type === 'deprovision' && operation.state === 'failed') body.instance_usable = operation.instanceUsable ?? false;
  return body;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
