import { customNames, edgeListenerParameterName } from '../../../model';
import { CertificateState, DnsRecord, ListenerCertificateQuotaError } from '../cloud/types';
import { challengeRecord } from '../custom-domains';
import { conflictDescription } from '../hostnames';
import { BrokerSettings } from '../settings';
import { EdgeCertificateRecord, InstanceConfig, OperationRecord } from '../store/types';
import { DONE, PermanentError, Step, StepContext, StepResult, routeSpec, target } from './step-kit';

/**
 * Custom domains (names outside the platform domain), in the worker: a certificate of the
 * instance's own names in every region its service targets, proof that the team controls
 * the names (its TXT challenge and ACM's validation records) before any is claimed, the
 * certificates attached by SNI to each region's edge listener, and the old ones detached
 * and deleted when names or regions leave. docs/broker.md, "Custom domains", tells it to a
 * tenant.
 */

/** The custom names of a configuration, sorted (the certificate's names). */
export function customNamesOf(config: InstanceConfig | undefined, settings: BrokerSettings): string[] {
  return config ? customNames(config.parameters.hostnames, settings.domain).sort() : [];
}

const sameNames = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((n, i) => n === b[i]);

/** The certificates a configuration needs: one per region it targets, for its custom names. */
function wanted(config: InstanceConfig | undefined, settings: BrokerSettings): Array<{ region: string; names: string[] }> {
  const names = customNamesOf(config, settings);
  if (!config || !names.length) return [];
  return routeSpec(config, settings).regions.map((region) => ({ region, names }));
}

/** The instance's certificates of its own domains, read once per step and written through. */
class Certificates {
  private list: readonly EdgeCertificateRecord[];

  constructor(private readonly ctx: StepContext) {
    this.list = ctx.instance.resources.edgeCertificates ?? [];
  }

  get all(): readonly EdgeCertificateRecord[] {
    return this.list;
  }

  find(region: string, names: readonly string[]): EdgeCertificateRecord | undefined {
    return this.list.find((c) => c.region === region && sameNames(c.names, names));
  }

  /** Records the whole list (only one operation of an instance runs at a time). */
  async save(next: readonly EdgeCertificateRecord[]): Promise<void> {
    this.list = next;
    await this.ctx.store.setResources(this.ctx.instance.instanceId, { edgeCertificates: next.length ? next : undefined });
  }

  async replace(old: EdgeCertificateRecord, next: EdgeCertificateRecord | undefined): Promise<void> {
    await this.save(next ? this.list.map((c) => (c.arn === old.arn ? next : c)) : this.list.filter((c) => c.arn !== old.arn));
  }
}

async function listenerOf(ctx: StepContext, region: string): Promise<string> {
  const arn = await ctx.cloud.edgeListener(region);
  if (!arn) {
    throw new PermanentError(
      `the edge in ${region} has not published its HTTPS listener yet (SSM parameter ${edgeListenerParameterName(ctx.settings.platformName, region)}), so it cannot serve your own domains there; ask the platform team, or leave ${region} out of regions`,
    );
  }
  return arn;
}

function quotaMessage(region: string, used: number, quota: number): string {
  return (
    `the edge in ${region} holds ${used} of its ${quota} certificates for teams' own domains (Elastic Load Balancing quota "Certificates per Network Load Balancer", ` +
    `default 25, adjustable): ask the platform team to raise it, or serve this instance without its own domains there`
  );
}

const hasCustomTarget = (operation: OperationRecord, settings: BrokerSettings) => customNamesOf(operation.target, settings).length > 0;

/**
 * One certificate per target region for the instance's custom names (a changed set of
 * names gets a new certificate; the old one goes after the change converged). Before a
 * request, the region's listener must have room for one more certificate.
 */
export const requestEdgeCertificates: Step = {
  name: 'edge-certificates',
  appliesTo: hasCustomTarget,
  describe: 'requesting certificates for your own domains in every region',
  async run(ctx) {
    const quota = ctx.settings.customDomains.listenerCertificateQuota;
    const certificates = new Certificates(ctx);
    for (const { region, names } of wanted(target(ctx), ctx.settings)) {
      const recorded = certificates.find(region, names);
      if (recorded) {
        const state = await ctx.cloud.describeCertificate(recorded.arn);
        if (state && state.status !== 'FAILED') continue;
        // Gone, or failed in an earlier attempt (e.g. timed out): ask again, with a fresh validation window.
        if (state && !recorded.listenerArn) await ctx.cloud.deleteCertificate(recorded.arn);
        await certificates.replace(recorded, undefined);
      }
      const listener = await listenerOf(ctx, region);
      const { arns } = await ctx.cloud.listenerCertificates(listener);
      if (arns.length + 1 > quota) throw new PermanentError(quotaMessage(region, arns.length, quota));
      const arn = await ctx.cloud.requestCertificate({ instanceId: ctx.instance.instanceId, hostnames: names, region, purpose: 'edge' });
      await certificates.save([...certificates.all, { region, arn, names }]);
    }
    return DONE;
  },
};

interface RecordCheck {
  readonly record: DnsRecord;
  readonly found: boolean;
  readonly why: string;
}

/**
 * Waits until the team has proven control of every custom name not yet claimed by this
 * instance (its TXT challenge resolves with the instance's token) and ACM has issued the
 * certificate in every target region (the validation CNAMEs resolve). Until then the names
 * are pending: not claimed, not served, blocking nobody. Past the configured limit the
 * operation fails, naming every record still missing.
 */
export const proveOwnership: Step = {
  name: 'prove-ownership',
  appliesTo: hasCustomTarget,
  describe: 'checking the DNS records that prove you control your own domains',
  async run(ctx) {
    const { instanceId } = ctx.instance;
    const hostnames = target(ctx).parameters.hostnames;
    const names = customNamesOf(target(ctx), ctx.settings);
    const token = ctx.instance.ownershipToken ?? (await ctx.store.ownershipToken(instanceId));
    const checks: RecordCheck[] = [];

    // A name another instance claimed meanwhile (its owner proved control first) cannot be ours.
    const pending: string[] = [];
    for (const name of names) {
      const conflict = await ctx.store.hostnameConflict(name, instanceId);
      if (conflict) throw new PermanentError(conflictDescription(`hostnames[${hostnames.indexOf(name)}]`, name, conflict));
      if ((await ctx.store.hostnameOwner(name)) !== instanceId) pending.push(name);
    }
    for (const record of uniqueRecords(pending.map((name) => challengeRecord(ctx.settings.platformName, name, token)))) {
      const found = (await ctx.cloud.lookupTxt(record.name)).includes(record.value);
      checks.push({ record, found, why: 'proves you control the name' });
    }

    const certificates = new Certificates(ctx);
    const states: Array<{ region: string; state: CertificateState }> = [];
    for (const { region, names: certNames } of wanted(target(ctx), ctx.settings)) {
      const recorded = certificates.find(region, certNames);
      if (!recorded) throw new PermanentError(`no certificate of ${certNames.join(', ')} is recorded for ${region}; repeat the request`);
      const state = await ctx.cloud.describeCertificate(recorded.arn);
      if (!state) {
        await certificates.replace(recorded, undefined);
        throw new PermanentError(`the certificate of ${certNames.join(', ')} in ${region} disappeared (deleted outside the platform); repeat the request`);
      }
      if (state.status === 'FAILED') {
        const why = state.failure === 'VALIDATION_TIMED_OUT' ? 'its DNS validation timed out (ACM tries for 72 hours)' : `ACM says ${state.failure ?? 'FAILED'}`;
        throw new PermanentError(`ACM could not issue the certificate for ${certNames.join(', ')} in ${region}: ${why}`);
      }
      if (state.validationRecords.length && !sameRecords(recorded.validationRecords ?? [], state.validationRecords)) {
        await certificates.replace(recorded, { ...recorded, validationRecords: state.validationRecords });
      }
      states.push({ region, state });
    }
    // ACM asks for the same CNAME for a name in every region: one line per record, found once every region saw it.
    for (const record of uniqueRecords(states.flatMap(({ state }) => state.validationRecords))) {
      const found = states.every(({ state }) => state.status === 'ISSUED' || state.domains.filter((d) => d.record?.name === record.name).every((d) => d.status === 'SUCCESS'));
      checks.push({ record, found, why: 'lets ACM issue and renew the certificate' });
    }
    const acmPreparing = states.some(({ state }) => state.status !== 'ISSUED' && !state.validationRecords.length);
    if (!acmPreparing && checks.every((c) => c.found) && states.every(({ state }) => state.status === 'ISSUED')) return DONE;

    const startedAt = ctx.operation.ownershipStartedAt ?? Date.now();
    const limit = ctx.settings.customDomains.ownershipTimeoutSeconds;
    const missing = checks.filter((c) => !c.found).map((c) => recordLine(c.record));
    if (Date.now() - startedAt > limit * 1000) {
      const what = missing.length ? `these DNS records are still missing: ${missing.join('; ')}` : 'ACM has not issued the certificates yet';
      throw new PermanentError(`you did not prove control of ${names.join(', ')} within ${hours(limit)}: ${what}`);
    }
    const lines = checks.map((c) => `${recordLine(c.record)} (${c.found ? 'found' : 'missing'}: ${c.why})`);
    const until = new Date(startedAt + limit * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const progress =
      `waiting for you to prove control of ${names.join(', ')}: create these DNS records in your zone: ${lines.join('; ')}` +
      `${acmPreparing ? '; ACM is still preparing its validation records' : ''}. ` +
      `Then point each name at ${ctx.settings.domain} (CNAME). Waiting until ${until} (${hours(limit)}); the names are pending and block nobody meanwhile.`;
    return { done: false, waitSeconds: ctx.waitSeconds, waitingFor: 'the owner of the custom domains', progress, record: ctx.operation.ownershipStartedAt ? undefined : { ownershipStartedAt: startedAt } };
  },
};

/** Attaches each target region's certificate to that region's edge listener (SNI), once the names are claimed. */
export const attachEdgeCertificates: Step = {
  name: 'attach-certificates',
  appliesTo: hasCustomTarget,
  describe: 'attaching the certificates of your own domains to the edge',
  async run(ctx) {
    const quota = ctx.settings.customDomains.listenerCertificateQuota;
    const certificates = new Certificates(ctx);
    for (const { region, names } of wanted(target(ctx), ctx.settings)) {
      const recorded = certificates.find(region, names);
      if (!recorded) throw new PermanentError(`no certificate of ${names.join(', ')} is recorded for ${region}; repeat the request`);
      if (recorded.listenerArn) continue;
      const listener = await listenerOf(ctx, region);
      try {
        await ctx.cloud.addListenerCertificate(listener, recorded.arn);
      } catch (err) {
        if (!(err instanceof ListenerCertificateQuotaError)) throw err;
        const { arns } = await ctx.cloud.listenerCertificates(listener);
        throw new PermanentError(quotaMessage(region, arns.length, quota));
      }
      await certificates.replace(recorded, { ...recorded, listenerArn: listener });
    }
    return DONE;
  },
};

/**
 * Detaches and deletes every recorded certificate the configuration `keep` does not use
 * (other names, a region it no longer targets, no custom names left). A certificate ACM
 * still sees in use right after its removal from the listener is tried again later.
 */
async function releaseCertificates(ctx: StepContext, keep: InstanceConfig | undefined): Promise<StepResult> {
  const kept = wanted(keep, ctx.settings);
  const certificates = new Certificates(ctx);
  for (let certificate of [...certificates.all]) {
    if (kept.some((w) => w.region === certificate.region && sameNames(w.names, certificate.names))) continue;
    if (certificate.listenerArn) {
      await ctx.cloud.removeListenerCertificate(certificate.listenerArn, certificate.arn);
      const detached = { ...certificate, listenerArn: undefined };
      await certificates.replace(certificate, detached);
      certificate = detached;
    }
    try {
      await ctx.cloud.deleteCertificate(certificate.arn);
    } catch (err) {
      if ((err as { name?: string }).name === 'ResourceInUseException') return { done: false, waitSeconds: ctx.waitSeconds, waitingFor: 'the edge listener to let go of the certificate' };
      throw err;
    }
    await certificates.replace(certificate, undefined);
  }
  return DONE;
}

const hadCustomNames = (operation: OperationRecord, settings: BrokerSettings) => hasCustomTarget(operation, settings) || customNamesOf(operation.previous, settings).length > 0;

/** After a successful change: the certificates of names or regions that left go. */
export const releaseOldEdgeCertificates: Step = {
  name: 'release-old-certificates',
  appliesTo: hadCustomNames,
  describe: 'removing the certificates of names or regions no longer served',
  run: (ctx) => releaseCertificates(ctx, target(ctx)),
};

/** A withdrawn change: a provision keeps no certificate; an update keeps the previous configuration's. */
export const withdrawEdgeCertificates: Step = {
  name: 'withdraw-certificates',
  appliesTo: hadCustomNames,
  describe: 'removing the certificates of the withdrawn change',
  run: (ctx) => releaseCertificates(ctx, ctx.operation.type === 'update' ? ctx.operation.previous : undefined),
};

/** Deprovision: every certificate of the instance's own domains is detached and deleted. */
export const removeEdgeCertificates: Step = {
  name: 'remove-edge-certificates',
  appliesTo: (operation, settings) => customNames(operation.hostnames ?? [], settings.domain).length > 0,
  describe: 'removing the certificates of your own domains from the edge',
  run: (ctx) => releaseCertificates(ctx, undefined),
};

// ---- words -----------------------------------------------------------------------------

export function recordLine(record: DnsRecord): string {
  return `${record.name} ${record.type} ${record.type === 'TXT' ? JSON.stringify(record.value) : record.value}`;
}

function uniqueRecords(records: readonly DnsRecord[]): DnsRecord[] {
  const seen = new Map<string, DnsRecord>();
  for (const r of records) seen.set(`${r.name} ${r.type} ${r.value}`, r);
  return [...seen.values()];
}

function sameRecords(a: readonly DnsRecord[], b: readonly DnsRecord[]): boolean {
  return a.length === b.length && a.every((r, i) => r.name === b[i].name && r.value === b[i].value);
}

function hours(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600} h` : seconds >= 60 ? `${Math.round(seconds / 60)} min` : `${seconds} s`;
}
