import { checkParameters } from '../catalog';
import { conflictDescription, hostnameProblems, managedDnsNames } from '../hostnames';
import { BrokerSettings, targetPolicy } from '../settings';
import { InstanceResources, OperationRecord } from '../store/types';
import { GateQuestion, judgeConvergence } from './gate';
import { CDN_ORIGIN_HEADER } from '../../../model';
import { attachEdgeCertificates, proveOwnership, releaseOldEdgeCertificates, removeEdgeCertificates, requestEdgeCertificates, withdrawEdgeCertificates } from './custom-domains';
import { DONE, PermanentError, Step, StepContext, StepResult, routeSpec, target, wait } from './step-kit';

export { PermanentError } from './step-kit';
export type { Step, StepContext, StepResult } from './step-kit';

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

type ResourceFields = Partial<Record<keyof InstanceResources, unknown>>;

/**
 * The cloud resource a step works on: the one recorded on the instance, else a new one
 * (recorded the moment it exists). A recorded one that has disappeared loses its record
 * and the step fails, so the retry creates it afresh.
 */
async function ensureResource<State>(
  ctx: StepContext,
  resource: {
    readonly recorded: string | undefined;
    create(): Promise<{ id: string; record: ResourceFields }>;
    look(id: string): Promise<State | undefined>;
    readonly forget: ResourceFields;
    gone(id: string): string;
  },
): Promise<{ id: string; state: State }> {
  let id = resource.recorded;
  if (!id) {
    const created = await resource.create();
    id = created.id;
    await ctx.store.setResources(ctx.instance.instanceId, created.record);
  }
  const state = await resource.look(id);
  if (!state) {
    await ctx.store.setResources(ctx.instance.instanceId, resource.forget);
    throw new Error(resource.gone(id));
  }
  return { id, state };
}

// ---- provision / update -------------------------------------------------------------

const validate: Step = {
  name: 'validate',
  describe: 'validating parameters',
  async run(ctx) {
    const t = target(ctx);
    const check = checkParameters(t.parameters, ctx.settings.regions, 'create', targetPolicy(ctx.settings));
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
      if (!claim.claimed) throw new PermanentError(conflictDescription(`hostnames[${i}]`, hostname, claim.conflict));
    }
    return DONE;
  },
};

const writeRoute: Step = {
  name: 'write-route',
  describe: 'publishing the route to the edge control planes',
  async run(ctx) {
    // The last good configuration (what a withdrawal restores) is already on the
    // operation: `previous`, recorded by the API when it accepted the update.
    const t = target(ctx);
    const generation = await ctx.store.writeRoute({ instanceId: ctx.instance.instanceId, plan: t.plan, deleted: false, spec: routeSpec(t, ctx.settings) });
    await ctx.store.setResources(ctx.instance.instanceId, { routeGeneration: generation });
    return { done: true, record: { routeGeneration: generation } };
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
    const { id: arn, state } = await ensureResource(ctx, {
      recorded: ctx.instance.resources.certificateArn,
      async create() {
        const created = await ctx.cloud.requestCertificate({ instanceId: ctx.instance.instanceId, hostnames: t.parameters.hostnames, region: 'us-east-1', purpose: 'cdn' });
        return { id: created, record: { certificateArn: created } };
      },
      look: (id) => ctx.cloud.describeCertificate(id),
      forget: { certificateArn: undefined },
      gone: (id) => `certificate ${id} disappeared; requesting a new one`,
    });
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
    const { state } = await ensureResource(ctx, {
      recorded: ctx.instance.resources.distributionId,
      async create() {
        const arn = ctx.instance.resources.certificateArn;
        if (!arn) throw new Error('no certificate recorded for the distribution');
        const secret = ctx.settings.cdnOriginSecretArn ? await ctx.cloud.secretValue(ctx.settings.cdnOriginSecretArn) : undefined;
        const created = await ctx.cloud.createDistribution({
          instanceId: ctx.instance.instanceId,
          hostnames: t.parameters.hostnames,
          certificateArn: arn,
          originDomain: ctx.settings.domain,
          originHeader: secret ? { name: CDN_ORIGIN_HEADER, value: secret.value } : undefined,
        });
        return { id: created.id, record: { distributionId: created.id, distributionDomain: created.domainName, originSecretVersion: secret?.versionId } };
      },
      look: (id) => ctx.cloud.getDistribution(id),
      forget: { distributionId: undefined, distributionDomain: undefined, originSecretVersion: undefined },
      gone: (id) => `distribution ${id} disappeared; creating a new one`,
    });
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
    await ctx.store.setResources(ctx.instance.instanceId, { distributionId: undefined, distributionDomain: undefined, originSecretVersion: undefined });
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
 * The convergence gate: the operation succeeds only once the edge holds its route's
 * generation. It reads every control plane task's report and asks the gate (gate.ts);
 * while waiting it re-enqueues itself every `pollSeconds` (never sleeps). A rejection,
 * or no convergence within the timeout, records a withdrawal: the withdraw steps then
 * undo the change and the operation fails with the reason.
 */
const converge: Step = {
  name: 'converge',
  describe: 'waiting for the edge',
  async run(ctx) {
    const question = await gateQuestion(ctx);
    if (!question) return DONE;
    const settings = ctx.settings.convergence;
    const startedAt = ctx.operation.convergeStartedAt ?? Date.now();
    const verdict = judgeConvergence(question, await ctx.store.convergenceReports(), settings);
    if (verdict.kind === 'converged') return { done: true, record: { edgeSummary: verdict.summary } };
    if (verdict.kind === 'rejected') {
      ctx.logger.warn('the edge rejected the change', { generation: question.generation, region: verdict.region, rejection: verdict.rejection });
      return { done: true, record: { withdrawal: { cause: 'rejected', reason: verdict.reason } } };
    }
    const elapsedMs = Date.now() - startedAt;
    if (elapsedMs > settings.timeoutSeconds * 1000) {
      const reason = `the edge did not take the change within ${settings.timeoutSeconds} s: ${verdict.progress}`;
      if (ctx.operation.type === 'deprovision') throw new PermanentError(reason);
      ctx.logger.warn('the edge did not converge in time', { generation: question.generation, progress: verdict.progress });
      return { done: true, record: { withdrawal: { cause: 'timeout', reason } } };
    }
    return {
      done: false,
      waitSeconds: settings.pollSeconds,
      waitingFor: 'the edge',
      progress: `waiting for the edge: ${verdict.progress}`,
      record: ctx.operation.convergeStartedAt ? undefined : { convergeStartedAt: startedAt },
    };
  },
};

/** Which generation the gate waits for, in which regions (undefined: nothing to wait for). */
async function gateQuestion(ctx: StepContext): Promise<GateQuestion | undefined> {
  const { operation, instance } = ctx;
  if (operation.type === 'deprovision') {
    const generation = operation.routeGeneration;
    const route = generation === undefined ? undefined : await ctx.store.getRoute(instance.instanceId);
    if (generation === undefined || !route) return undefined;
    return { instanceId: instance.instanceId, generation, regions: route.spec.regions, rejectable: false };
  }
  // Operations written before the gate existed recorded the generation on the instance only.
  const generation = operation.routeGeneration ?? instance.resources.routeGeneration;
  if (generation === undefined) return undefined;
  // An update that drops a region waits there too: its proxies must stop serving the old route.
  const regions = new Set(routeSpec(target(ctx), ctx.settings).regions);
  if (operation.type === 'update' && operation.previous) for (const region of routeSpec(operation.previous, ctx.settings).regions) regions.add(region);
  return { instanceId: instance.instanceId, generation, regions: [...regions], rejectable: true };
}

// ---- withdrawal (after the gate failed a provision or update) --------------------------

/**
 * Provision: tombstone the route. Update: write the previous configuration back as a
 * NEW generation, so every control plane moves forward to the last good route.
 */
const withdrawRoute: Step = {
  name: 'withdraw-route',
  describe: 'withdrawing the change from the edge',
  async run(ctx) {
    const { instanceId } = ctx.instance;
    let generation: number;
    if (ctx.operation.type === 'provision') {
      const route = await ctx.store.getRoute(instanceId);
      if (!route) return DONE;
      generation = route.deleted ? route.generation : await ctx.store.writeRoute({ instanceId, plan: route.plan, deleted: true, spec: route.spec });
    } else {
      const previous = ctx.operation.previous;
      if (!previous) throw new PermanentError('no previous configuration recorded to restore');
      generation = await ctx.store.writeRoute({ instanceId, plan: previous.plan, deleted: false, spec: routeSpec(previous, ctx.settings) });
    }
    await ctx.store.setResources(instanceId, { routeGeneration: generation });
    return { done: true, record: { withdrawnGeneration: generation } };
  },
};

/**
 * Provision: delete the DNS records it wrote. Update: delete the records of names it
 * added, and point the names it kept back at what the previous plan used.
 */
const withdrawDns: Step = {
  name: 'withdraw-dns',
  describe: 'restoring DNS records',
  async run(ctx) {
    if (ctx.operation.type === 'provision') return deleteDnsRecords.run(ctx);
    const t = target(ctx);
    const previous = ctx.operation.previous;
    if (!previous) return DONE;
    const before = new Set(previous.parameters.hostnames);
    const added = managedDnsNames(t.parameters.hostnames.filter((h) => !before.has(h)), ctx.settings.domain);
    if (added.length) {
      await ctx.cloud.deleteRecords(added);
      await dropDnsNames(ctx, added);
    }
    if (t.plan !== previous.plan) {
      const value = previous.plan === 'cdn' ? (ctx.instance.resources.distributionDomain ?? ctx.settings.domain) : ctx.settings.domain;
      const kept = managedDnsNames(t.parameters.hostnames.filter((h) => before.has(h)), ctx.settings.domain);
      await ctx.cloud.upsertRecords(kept.map((name) => ({ name, type: 'CNAME' as const, value })));
    }
    return DONE;
  },
};

/** Releases the claims the change made (all of a provision's; the names an update added). */
const withdrawHostnames: Step = {
  name: 'withdraw-hostnames',
  describe: 'releasing the hostnames of the withdrawn change',
  async run(ctx) {
    const before = new Set(ctx.operation.type === 'update' ? (ctx.operation.previous?.parameters.hostnames ?? []) : []);
    for (const hostname of target(ctx).parameters.hostnames) {
      if (!before.has(hostname)) await ctx.store.releaseHostname(hostname, ctx.instance.instanceId);
    }
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
    const candidates = [...new Set([...managedDnsNames(cleanupHostnames(ctx), ctx.settings.domain), ...(ctx.instance.resources.dnsNames ?? [])])];
    // A name this instance released (a failed or withdrawn provision) may belong to another
    // instance by now: its record is that instance's.
    const names: string[] = [];
    for (const name of candidates) {
      const owner = await ctx.store.hostnameOwner(name);
      if (!owner || owner === ctx.instance.instanceId) names.push(name);
    }
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
    if (!route) return DONE;
    if (route.deleted) return { done: true, record: { routeGeneration: route.generation } };
    const generation = await ctx.store.writeRoute({ instanceId: route.instanceId, plan: route.plan, deleted: true, spec: route.spec });
    await ctx.store.setResources(ctx.instance.instanceId, { routeGeneration: generation });
    return { done: true, record: { routeGeneration: generation } };
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

/** The steps of an operation, in order (they depend on what it has recorded: a withdrawal adds steps). */
export function stepsFor(operation: OperationRecord, settings: BrokerSettings): readonly Step[] {
  // Custom domains: certificates requested and control proven before any name is claimed
  // (a pending name blocks nobody), certificates attached before the route is published.
  // cdn: certificate and distribution exist before DNS points at CloudFront;
  // cdn -> standard: DNS points back at the edge before CloudFront goes away.
  // The gate comes before an update drops anything (old names, certificates, CloudFront),
  // so a withdrawn update only has to undo what it added.
  let all: Step[];
  if (operation.type === 'deprovision') all = [haltCancelled, deleteDnsRecords, removeCdnAll, tombstoneRoute, releaseHostnames, removeEdgeCertificates, converge];
  else {
    const applying = [validate, requestEdgeCertificates, proveOwnership, claimHostnames, attachEdgeCertificates, writeRoute, certificate, distribution, dnsRecords, converge];
    all = operation.withdrawal
      ? [...applying, withdrawRoute, withdrawDns, withdrawHostnames, withdrawEdgeCertificates]
      : [...applying, releaseOldHostnames, releaseOldEdgeCertificates, removeCdnIfStandard];
  }
  return all.filter((step) => step.appliesTo?.(operation, settings) ?? true);
}
