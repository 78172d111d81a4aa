import type { Logger } from '@aws-lambda-powertools/logger';
import { checkParameters } from '../catalog';
import { EdgeCloud } from '../cloud/types';
import { hostnameProblems, managedDnsNames } from '../hostnames';
import { BrokerSettings } from '../settings';
import { BrokerStore } from '../store/store';
import { InstanceConfig, InstanceRecord, OperationRecord } from '../store/types';

/** A failure no retry can fix (a taken hostname, invalid parameters): the operation fails now. */
export class PermanentError extends Error {}

export interface StepContext {
  readonly settings: BrokerSettings;
  readonly store: BrokerStore;
  readonly cloud: EdgeCloud;
  readonly logger: Logger;
  /** Seconds between polls while waiting on ACM or CloudFront. */
  readonly waitSeconds: number;
  readonly operation: OperationRecord;
  /** Re-read before every step. */
  readonly instance: InstanceRecord;
}

/** A step is done, or must be polled again later (e.g. a distribution still deploying). */
export type StepResult = { readonly done: true } | { readonly done: false; readonly waitSeconds: number; readonly waitingFor: string };

export interface Step {
  readonly name: string;
  /** Whether the step has anything to do for this operation (skipped steps cost nothing). */
  readonly appliesTo?: (operation: OperationRecord) => boolean;
  /** What last_operation says while this step runs. */
  readonly describe: string;
  run(ctx: StepContext): Promise<StepResult>;
}

const DONE: StepResult = { done: true };
const wait = (ctx: StepContext, waitingFor: string): StepResult => ({ done: false, waitSeconds: ctx.waitSeconds, waitingFor });

function target(ctx: StepContext): InstanceConfig {
  if (!ctx.operation.target) throw new PermanentError(`operation ${ctx.operation.operationId} has no target configuration`);
  return ctx.operation.target;
}

async function addDnsNames(ctx: StepContext, names: readonly string[]): Promise<void> {
  const known = new Set(ctx.instance.resources.dnsNames ?? []);
  if (names.every((n) => known.has(n))) return;
  for (const n of names) known.add(n);
  await ctx.store.setResources(ctx.instance.instanceId, { dnsNames: [...known] });
}

async function dropDnsNames(ctx: StepContext, names: readonly string[]): Promise<void> {
  const gone = new Set(names);
  const left = (ctx.instance.resources.dnsNames ?? []).filter((n) => !gone.has(n));
  await ctx.store.setResources(ctx.instance.instanceId, { dnsNames: left.length ? left : undefined });
}

// ---- provision / update -------------------------------------------------------------

const validate: Step = {
  name: 'validate',
  describe: 'validating parameters',
  async run(ctx) {
    const t = target(ctx);
    const check = checkParameters(t.parameters, ctx.settings.regions, 'create');
    if (!check.ok) throw new PermanentError(check.description);
    const problems = hostnameProblems(t.parameters, t.plan, ctx.settings);
    if (problems.length) throw new PermanentError(problems.join('; '));
    return DONE;
  },
};

const claimHostnames: Step = {
  name: 'claim-hostnames',
  describe: 'claiming hostnames',
  async run(ctx) {
    const hostnames = target(ctx).parameters.hostnames;
    for (const [i, hostname] of hostnames.entries()) {
      const claim = await ctx.store.claimHostname(hostname, ctx.instance.instanceId);
      if (!claim.claimed) throw new PermanentError(`hostnames[${i}]: ${hostname} is already served by another instance`);
    }
    return DONE;
  },
};

const writeRoute: Step = {
  name: 'write-route',
  describe: 'publishing the route to the edge control planes',
  async run(ctx) {
    const t = target(ctx);
    const regions = t.parameters.regions?.length ? t.parameters.regions : ctx.settings.regions;
    const generation = await ctx.store.writeRoute({
      instanceId: ctx.instance.instanceId,
      plan: t.plan,
      deleted: false,
      spec: { ...t.parameters, regions: [...regions] },
    });
    await ctx.store.setResources(ctx.instance.instanceId, { routeGeneration: generation });
    return DONE;
  },
};

const onCdn = (operation: OperationRecord) => operation.target?.plan === 'cdn';

const certificate: Step = {
  name: 'certificate',
  appliesTo: onCdn,
  describe: 'issuing the CloudFront certificate (ACM, DNS validation)',
  async run(ctx) {
    const t = target(ctx);
    if (t.plan !== 'cdn') return DONE;
    let arn = ctx.instance.resources.certificateArn;
    if (!arn) {
      arn = await ctx.cloud.requestCertificate(ctx.instance.instanceId, t.parameters.hostnames);
      await ctx.store.setResources(ctx.instance.instanceId, { certificateArn: arn });
    }
    const state = await ctx.cloud.describeCertificate(arn);
    if (!state) {
      await ctx.store.setResources(ctx.instance.instanceId, { certificateArn: undefined });
      throw new Error(`certificate ${arn} disappeared; requesting a new one`);
    }
    if (state.status === 'ISSUED') return DONE;
    if (state.status === 'FAILED') throw new PermanentError(`ACM could not issue the certificate for ${t.parameters.hostnames.join(', ')}`);
    if (!state.validationRecords.length) return wait(ctx, 'ACM to publish the DNS validation records');
    await addDnsNames(ctx, state.validationRecords.map((r) => r.name));
    await ctx.cloud.upsertRecords(state.validationRecords);
    const again = await ctx.cloud.describeCertificate(arn);
    return again?.status === 'ISSUED' ? DONE : wait(ctx, 'ACM to validate the certificate');
  },
};

const distribution: Step = {
  name: 'distribution',
  appliesTo: onCdn,
  describe: 'creating the CloudFront distribution',
  async run(ctx) {
    const t = target(ctx);
    if (t.plan !== 'cdn') return DONE;
    let id = ctx.instance.resources.distributionId;
    if (!id) {
      const arn = ctx.instance.resources.certificateArn;
      if (!arn) throw new Error('no certificate recorded for the distribution');
      const created = await ctx.cloud.createDistribution({
        instanceId: ctx.instance.instanceId,
        hostnames: t.parameters.hostnames,
        certificateArn: arn,
        originDomain: ctx.settings.domain,
      });
      id = created.id;
      await ctx.store.setResources(ctx.instance.instanceId, { distributionId: created.id, distributionDomain: created.domainName });
    }
    const state = await ctx.cloud.getDistribution(id);
    if (!state) {
      await ctx.store.setResources(ctx.instance.instanceId, { distributionId: undefined, distributionDomain: undefined });
      throw new Error(`distribution ${id} disappeared; creating a new one`);
    }
    return state.deployed ? DONE : wait(ctx, 'CloudFront to deploy the distribution');
  },
};

const dnsRecords: Step = {
  name: 'dns-records',
  describe: 'writing DNS records',
  async run(ctx) {
    const t = target(ctx);
    const names = managedDnsNames(t.parameters.hostnames, ctx.settings.domain);
    const value = t.plan === 'cdn' ? ctx.instance.resources.distributionDomain : ctx.settings.domain;
    if (!value) throw new Error('no CloudFront domain recorded for the cdn plan');
    await addDnsNames(ctx, names);
    await ctx.cloud.upsertRecords(names.map((name) => ({ name, type: 'CNAME' as const, value })));
    return DONE;
  },
};

/** Update: hostnames the instance no longer serves lose their records and claims. */
const releaseOldHostnames: Step = {
  name: 'release-old-hostnames',
  appliesTo: (operation) => operation.type === 'update',
  describe: 'releasing hostnames no longer served',
  async run(ctx) {
    const keep = new Set(target(ctx).parameters.hostnames);
    const old = (ctx.operation.previous?.parameters.hostnames ?? []).filter((h) => !keep.has(h));
    if (!old.length) return DONE;
    const names = managedDnsNames(old, ctx.settings.domain);
    await ctx.cloud.deleteRecords(names);
    await dropDnsNames(ctx, names);
    for (const hostname of old) await ctx.store.releaseHostname(hostname, ctx.instance.instanceId);
    return DONE;
  },
};

/** Disables, then deletes the distribution, then the certificate and its validation records. */
async function removeCdn(ctx: StepContext): Promise<StepResult> {
  const { distributionId, certificateArn } = ctx.instance.resources;
  if (distributionId) {
    await ctx.cloud.disableDistribution(distributionId);
    if ((await ctx.cloud.deleteDistribution(distributionId)) === 'retry-later') return wait(ctx, 'CloudFront to disable the distribution');
    await ctx.store.setResources(ctx.instance.instanceId, { distributionId: undefined, distributionDomain: undefined });
  }
  if (certificateArn) {
    const state = await ctx.cloud.describeCertificate(certificateArn);
    const validationNames = state?.validationRecords.map((r) => r.name) ?? [];
    await ctx.cloud.deleteCertificate(certificateArn);
    await ctx.cloud.deleteRecords(validationNames);
    await dropDnsNames(ctx, validationNames);
    await ctx.store.setResources(ctx.instance.instanceId, { certificateArn: undefined });
  }
  return DONE;
}

const removeCdnIfStandard: Step = {
  name: 'remove-cdn',
  // An update to standard also clears what a failed earlier move to cdn may have left.
  appliesTo: (operation) => operation.type === 'update' && operation.target?.plan !== 'cdn',
  describe: 'removing the CloudFront distribution and certificate (plan changed to standard)',
  async run(ctx) {
    return target(ctx).plan === 'cdn' ? DONE : removeCdn(ctx);
  },
};

/**
 * The hook for the convergence gate (issue 6): once it exists, this step waits until
 * the regional control planes report the route's generation as served, re-enqueueing
 * itself like the CloudFront wait does. Today it succeeds at once.
 */
const converge: Step = {
  name: 'converge',
  describe: 'waiting for the edge fleets to converge',
  async run() {
    return DONE;
  },
};

// ---- deprovision --------------------------------------------------------------------

/**
 * A deprovision that cancelled a running provision or update first waits until that
 * operation's worker has left its current step (or its lease has expired), so that no
 * resource it was creating appears after the cleanup.
 */
const haltCancelled: Step = {
  name: 'halt-cancelled',
  appliesTo: (operation) => Boolean(operation.cancelledOperationId),
  describe: 'halting the cancelled operation',
  async run(ctx) {
    const cancelledId = ctx.operation.cancelledOperationId;
    if (!cancelledId) return DONE;
    const cancelled = await ctx.store.getOperation(ctx.instance.instanceId, cancelledId);
    if (cancelled?.busyUntil && cancelled.busyUntil > Date.now()) return wait(ctx, `the cancelled ${cancelled.type} to finish its current step`);
    return DONE;
  },
};

function cleanupHostnames(ctx: StepContext): string[] {
  return [...new Set([...(ctx.operation.hostnames ?? []), ...ctx.instance.parameters.hostnames])];
}

const deleteDnsRecords: Step = {
  name: 'delete-dns-records',
  describe: 'deleting DNS records',
  async run(ctx) {
    const names = [...new Set([...managedDnsNames(cleanupHostnames(ctx), ctx.settings.domain), ...(ctx.instance.resources.dnsNames ?? [])])];
    // Validation records go with the certificate (remove-cdn) so ACM can still see them until then.
    const { certificateArn } = ctx.instance.resources;
    const validation = certificateArn ? ((await ctx.cloud.describeCertificate(certificateArn))?.validationRecords.map((r) => r.name) ?? []) : [];
    const service = names.filter((n) => !validation.includes(n));
    await ctx.cloud.deleteRecords(service);
    await dropDnsNames(ctx, service);
    return DONE;
  },
};

const removeCdnAll: Step = { name: 'remove-cdn', describe: 'removing the CloudFront distribution and certificate', run: removeCdn };

const tombstoneRoute: Step = {
  name: 'tombstone-route',
  describe: 'withdrawing the route from the edge control planes',
  async run(ctx) {
    const route = await ctx.store.getRoute(ctx.instance.instanceId);
    if (!route || route.deleted) return DONE;
    const generation = await ctx.store.writeRoute({ instanceId: route.instanceId, plan: route.plan, deleted: true, spec: route.spec });
    await ctx.store.setResources(ctx.instance.instanceId, { routeGeneration: generation });
    return DONE;
  },
};

const releaseHostnames: Step = {
  name: 'release-hostnames',
  describe: 'releasing hostnames',
  async run(ctx) {
    for (const hostname of cleanupHostnames(ctx)) await ctx.store.releaseHostname(hostname, ctx.instance.instanceId);
    return DONE;
  },
};

/** The steps of an operation, in order. */
export function stepsFor(operation: OperationRecord): readonly Step[] {
  // cdn: certificate and distribution exist before DNS points at CloudFront;
  // cdn -> standard: DNS points back at the edge before CloudFront goes away.
  const all =
    operation.type === 'deprovision'
      ? [haltCancelled, deleteDnsRecords, removeCdnAll, tombstoneRoute, releaseHostnames, converge]
      : [validate, claimHostnames, writeRoute, certificate, distribution, dnsRecords, releaseOldHostnames, removeCdnIfStandard, converge];
  return all.filter((step) => step.appliesTo?.(operation) ?? true);
}
