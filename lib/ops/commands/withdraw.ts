import { OPERATION_TTL_SECONDS } from '../../broker/runtime/settings';
import { newOperationId } from '../../broker/runtime/store/store';
import { OperationRecord } from '../../broker/runtime/store/types';
import { OpsError } from '../errors';
import { Target } from '../target';

export interface WithdrawResult {
  readonly instanceId: string;
  /** The operation that records the withdrawal (the instance's last operation now). */
  readonly operationId: string;
  /** The tombstone's route generation. */
  readonly generation: number;
  readonly description: string;
}

/** What the withdrawal operation records beside the usual operation fields. */
export interface OperatorWithdrawal {
  readonly reason: string;
  readonly by?: string;
  readonly at: string;
}

/**
 * Takes an instance's route out of service now: writes its tombstone (a new generation,
 * exactly as the worker's deprovision and withdrawal steps do, through the same
 * `BrokerStore.writeRoute`), then records a finished operation that says an operator
 * withdrew it and makes it the instance's last operation (what `last_operation` answers).
 *
 * Why a tombstone and not the previous spec: the route must stop hurting traffic now, and
 * only a tombstone is always available (a provision has no previous spec; an update's
 * previous spec lives on an operation that expires) and certain to be harmless (the fault
 * may well be in what did not change, e.g. the backends). DNS records and hostname claims
 * stay, so nobody else can take the names and the owner's next update (which writes a new
 * route generation) puts the service back in one step.
 */
export async function withdrawRoute(target: Target, instanceId: string, reason: string, by: string | undefined): Promise<WithdrawResult> {
  const instance = await target.store.getInstance(instanceId);
  if (!instance) throw new OpsError('not-found', `instance ${instanceId}: not found in table ${target.tableName}`);
  if (instance.state !== 'provisioned') throw new OpsError('not-served', `instance ${instanceId}: is ${instance.state}, not provisioned; only a provisioned instance's route can be withdrawn`);
  if (instance.currentOperationId) {
    throw new OpsError(
      'busy',
      `instance ${instanceId}: operation ${instance.currentOperationId} is in progress (its own gate withdraws a change the edge rejects); wait for it to finish, then withdraw`,
    );
  }
  const route = await target.store.getRoute(instanceId);
  if (!route) throw new OpsError('not-served', `instance ${instanceId}: has no route on the edge`);
  let generation: number;
  if (route.deleted) {
    // A provisioned instance with a tombstone is a withdrawal: either recorded (nothing to do),
    // or cut short between the tombstone and its record (finish the record now).
    const last = instance.lastOperationId ? await target.store.getOperation(instanceId, instance.lastOperationId) : undefined;
    if (last?.withdrawnGeneration === route.generation) {
      throw new OpsError('not-served', `instance ${instanceId}: its route is already out of service (tombstone at generation ${route.generation}, written ${route.updatedAt})`);
    }
    generation = route.generation;
  } else {
    generation = await target.store.writeRoute({ instanceId, plan: route.plan, deleted: true, spec: route.spec });
  }
  await target.store.setResources(instanceId, { routeGeneration: generation });

  const at = new Date().toISOString();
  const who = by ? ` (${by})` : '';
  const description =
    `withdrawn by an operator${who} at ${at}: ${reason}. The route is out of service on the edge (tombstone, generation ${generation}); ` +
    'DNS records and hostname claims are kept. Update the instance to put it back in service.';
  const config = { planId: instance.planId, plan: instance.plan, parameters: instance.parameters };
  const operation: OperationRecord & { readonly operatorWithdrawal: OperatorWithdrawal } = {
    operationId: newOperationId(),
    instanceId,
    type: 'update',
    state: 'failed',
    step: 'operator-withdraw',
    completedSteps: ['withdraw-route'],
    description,
    target: config,
    previous: config,
    attempts: 0,
    instanceUsable: true,
    updateRepeatable: true,
    routeGeneration: generation,
    withdrawnGeneration: generation,
    operatorWithdrawal: { reason, by, at },
    createdAt: at,
    updatedAt: at,
    expiresAt: Math.floor(Date.now() / 1000) + OPERATION_TTL_SECONDS,
  };
  await target.store.putOperation(operation);
  // The instance's last operation becomes the withdrawal, unless an operation started meanwhile.
  if (!(await target.store.recordLastOperation(instanceId, operation.operationId))) {
    // The route is withdrawn all the same; the operation that started will write its own route.
    return { instanceId, operationId: operation.operationId, generation, description: `${description} (an operation started meanwhile and may put a new route in service)` };
  }
  return { instanceId, operationId: operation.operationId, generation, description };
}
