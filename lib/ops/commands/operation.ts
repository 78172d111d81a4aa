import { RegionProgress, RouteDocument, regionProgress } from '../../model';
import { InstanceRecord, OperationRecord } from '../../broker/runtime/store/types';
import { OpsError } from '../errors';
import { Target } from '../target';
import { readPins } from './pin';

export interface OperationView {
  readonly instance: InstanceRecord;
  /** Every operation still on record (finished ones expire after their TTL), oldest first. */
  readonly operations: readonly OperationRecord[];
  readonly route?: Pick<RouteDocument, 'generation' | 'deleted' | 'plan' | 'updatedAt'> & { readonly regions: readonly string[] };
  /** Per region of the route: proxies connected, proxies holding the route's generation, a rejection, a pin. */
  readonly convergence: ReadonlyArray<RegionProgress & { readonly pinned?: { readonly reason: string; readonly since: string } }>;
}

export async function inspectOperation(target: Target, instanceId: string): Promise<OperationView> {
  const instance = await target.store.getInstance(instanceId);
  if (!instance) throw new OpsError('not-found', `instance ${instanceId}: not found in table ${target.tableName}`);
  const operations = await target.store.operationsOf(instanceId);

  const route = await target.store.getRoute(instanceId);
  const reports = await target.store.convergenceReports();
  const pins = new Map((await readPins(target)).map((p) => [p.region, p]));
  const convergence = (route?.spec.regions ?? []).map((region) => {
    const pin = pins.get(region);
    const progress = regionProgress(region, reports, instanceId, route!.generation);
    return pin ? { ...progress, pinned: { reason: pin.reason, since: pin.since } } : progress;
  });
  return {
    instance,
    operations,
    route: route && { generation: route.generation, deleted: route.deleted, plan: route.plan, updatedAt: route.updatedAt, regions: route.spec.regions },
    convergence,
  };
}

export function formatOperation(view: OperationView): string {
  const { instance } = view;
  const lines = [
    `instance ${instance.instanceId}: ${instance.state}, plan ${instance.plan}, hostnames ${instance.parameters.hostnames.join(', ')}`,
    `  created ${instance.createdAt}, updated ${instance.updatedAt}; current operation ${instance.currentOperationId ?? 'none'}, last ${instance.lastOperationId}`,
    '',
    `operations (${view.operations.length} on record, oldest first):`,
  ];
  for (const op of view.operations) {
    lines.push(`  ${op.operationId}  ${op.type}  ${op.state}  created ${op.createdAt}  updated ${op.updatedAt}`);
    lines.push(`    ${op.description}`);
    lines.push(`    steps done: ${op.completedSteps.length ? op.completedSteps.join(' > ') : 'none'}${op.state === 'in progress' && op.step ? `; now: ${op.step}` : ''}`);
    const extras = [
      op.attempts ? `failed attempts of this step: ${op.attempts}` : '',
      op.routeGeneration !== undefined ? `route generation ${op.routeGeneration}` : '',
      op.convergeStartedAt ? `gate started ${new Date(op.convergeStartedAt).toISOString()}` : '',
      op.busyUntil && op.busyUntil > Date.now() ? `a worker is in the step until ${new Date(op.busyUntil).toISOString()}` : '',
      op.withdrawal ? `withdrawn (${op.withdrawal.cause}): ${op.withdrawal.reason}` : '',
      op.expiresAt ? `expires ${new Date(op.expiresAt * 1000).toISOString().slice(0, 10)}` : '',
    ].filter(Boolean);
    if (extras.length) lines.push(`    ${extras.join('; ')}`);
  }
  lines.push('');
  if (!view.route) lines.push('route: none written');
  else {
    const r = view.route;
    lines.push(`route: generation ${r.generation}${r.deleted ? ' (TOMBSTONE: not served)' : ''}, plan ${r.plan}, written ${r.updatedAt}, regions ${r.regions.join(', ')}`);
    lines.push('convergence of this generation:');
    for (const p of view.convergence) {
      const rejection = p.rejection ? `; REJECTED (${p.rejection.source}, generation ${p.rejection.generation}): ${p.rejection.reason}` : '';
      const pinned = p.pinned ? `; PINNED since ${p.pinned.since}: ${p.pinned.reason}` : '';
      lines.push(`  ${p.region}: ${p.accepted} of ${p.connected} connected proxies hold it${rejection}${pinned}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
