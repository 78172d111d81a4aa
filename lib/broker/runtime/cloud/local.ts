import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  CertificateRequest,
  CertificateState,
  DistributionRequest,
  DistributionState,
  DnsRecord,
  DomainValidation,
  EdgeCloud,
  ListenerCertificateQuotaError,
  ListenerCertificates,
  OriginHeader,
  SecretValue,
  certificateToken,
  regionOfArn,
} from './types';

/** One thing the local cloud did, as written to the actions file. */
export interface CloudAction {
  readonly at: string;
  readonly action: string;
  readonly [detail: string]: unknown;
}

export interface LocalCloudOptions {
  /** JSON-lines file of every action; replayed on start so state survives a restart. */
  readonly actionsFile?: string;
  /** Polls a new or changed distribution stays `InProgress` before it is `Deployed` (default 0). */
  readonly deployPolls?: number;
  /** How long ACM keeps validating a pending certificate before VALIDATION_TIMED_OUT (default 72 h, as ACM). */
  readonly validationTimeoutMs?: number;
  /** Certificates an edge listener's list may hold besides its default (ELB's "Certificates per NLB", default 25). */
  readonly listenerCertificateQuota?: number;
  /** Regions whose fleet has not published its edge listener yet (phase 2 not deployed there). */
  readonly regionsWithoutListener?: readonly string[];
  /** Clock (tests). */
  readonly now?: () => number;
}

const ACCOUNT = '000000000000';

interface LocalCertificate {
  hostnames: string[];
  status: CertificateState['status'];
  requestedAt: number;
  failure?: string;
}

interface LocalDistribution {
  domainName: string;
  enabled: boolean;
  pendingPolls: number;
  originSecret?: string;
}

interface LocalListener {
  defaultArn: string;
  arns: string[];
}

/**
 * ACM's CertificateArn and CloudFront's distribution Id are required parameters (ACM
 * DescribeCertificate/DeleteCertificate: CertificateArn, required, 20 to 2048 characters;
 * CloudFront GetDistribution/UpdateDistribution/DeleteDistribution: Id, a required URI label):
 * the real services refuse a call without one instead of answering "not found".
 */
function required(what: string, value: string | undefined): void {
  if (!value) throw Object.assign(new Error(`${what} is required`), { name: 'ValidationException' });
}

/**
 * A stand-in for Route 53, ACM, CloudFront, the edge listeners (ELB), SSM, Secrets Manager
 * and public DNS: it keeps what it would have created in memory, records every action (in
 * `actions` and optionally a JSON-lines file), and behaves like the real services where the
 * worker cares:
 * - ACM: a certificate is PENDING_VALIDATION until every validation record exists in DNS
 *   (the platform's zone or a team's own, `publicDns`), then ISSUED; still pending after
 *   the validation window, it is FAILED (VALIDATION_TIMED_OUT). The validation record of a
 *   name is the same for every certificate and region (ACM: one record per domain and account).
 * - ELB: a listener's SNI list takes only issued certificates (CertificateNotFound
 *   otherwise) and at most `listenerCertificateQuota` (TooManyCertificates).
 * - CloudFront: a distribution deploys after a few polls; only a disabled, deployed one
 *   can be deleted.
 * - ACM and CloudFront refuse a call without the certificate ARN or distribution id (`required`).
 */
export class LocalCloud implements EdgeCloud {
  /** The platform's hosted zone (Route 53). */
  readonly records = new Map<string, DnsRecord>();
  /** DNS the teams keep in their own zones (what a tenant creates; tests write it with publish()). */
  readonly publicDns = new Map<string, DnsRecord[]>();
  readonly certificates = new Map<string, LocalCertificate>();
  readonly distributions = new Map<string, LocalDistribution>();
  readonly listeners = new Map<string, LocalListener>();
  readonly secrets = new Map<string, SecretValue>();
  readonly actions: CloudAction[] = [];
  private readonly deployPolls: number;
  private readonly now: () => number;

  constructor(private readonly options: LocalCloudOptions = {}) {
    this.deployPolls = options.deployPolls ?? 0;
    this.now = options.now ?? Date.now;
    if (options.actionsFile) {
      mkdirSync(dirname(options.actionsFile), { recursive: true });
      if (existsSync(options.actionsFile)) this.replay(options.actionsFile);
    }
  }

  // ---- Route 53 and the teams' DNS -----------------------------------------------------

  async upsertRecords(records: readonly DnsRecord[]): Promise<void> {
    if (!records.length) return;
    for (const record of records) this.records.set(record.name, record);
    this.record('route53:UPSERT', { records });
  }

  async deleteRecords(names: readonly string[]): Promise<void> {
    const existing = names.filter((name) => this.records.has(name));
    if (!existing.length) return;
    for (const name of existing) this.records.delete(name);
    this.record('route53:DELETE', { names: existing });
  }

  /** A team creates a record in its own zone (a TXT challenge, an ACM validation CNAME). */
  publish(record: DnsRecord): void {
    const at = (this.publicDns.get(record.name) ?? []).filter((r) => !(r.type === record.type && r.value === record.value));
    this.publicDns.set(record.name, [...at, record]);
    this.record('dns:publish', { record });
  }

  /** A team removes the records at a name of its own zone. */
  unpublish(name: string): void {
    if (this.publicDns.delete(name)) this.record('dns:unpublish', { name });
  }

  async lookupTxt(name: string): Promise<string[]> {
    return (this.publicDns.get(name) ?? []).filter((r) => r.type === 'TXT').map((r) => r.value);
  }

  private resolves(record: DnsRecord): boolean {
    if (this.records.get(record.name)?.value === record.value) return true;
    return (this.publicDns.get(record.name) ?? []).some((r) => r.type === record.type && r.value === record.value);
  }

  // ---- ACM ----------------------------------------------------------------------------

  async requestCertificate(request: CertificateRequest): Promise<string> {
    const id = request.purpose === 'cdn' ? request.instanceId : createHash('sha256').update(certificateToken(request)).digest('hex').slice(0, 32);
    const arn = `arn:aws:acm:${request.region}:${ACCOUNT}:certificate/${id}`;
    if (!this.certificates.has(arn)) {
      this.certificates.set(arn, { hostnames: [...request.hostnames], status: 'PENDING_VALIDATION', requestedAt: this.now() });
      this.record('acm:RequestCertificate', { arn, hostnames: request.hostnames, purpose: request.purpose });
    }
    return arn;
  }

  async describeCertificate(arn: string): Promise<CertificateState | undefined> {
    required('CertificateArn', arn);
    const certificate = this.certificates.get(arn);
    if (!certificate) return undefined;
    const domains: DomainValidation[] = certificate.hostnames.map((domain) => {
      const record = validationRecord(domain);
      const status = certificate.status === 'ISSUED' || this.resolves(record) ? 'SUCCESS' : certificate.status === 'FAILED' ? 'FAILED' : 'PENDING_VALIDATION';
      return { domain, status, record };
    });
    if (certificate.status === 'PENDING_VALIDATION') {
      if (domains.every((d) => d.status === 'SUCCESS')) {
        certificate.status = 'ISSUED';
        this.record('acm:Issued', { arn });
      } else if (this.now() - certificate.requestedAt > (this.options.validationTimeoutMs ?? 72 * 3600 * 1000)) {
        certificate.status = 'FAILED';
        certificate.failure = 'VALIDATION_TIMED_OUT';
        this.record('acm:ValidationTimedOut', { arn });
      }
    }
    const validationRecords: DnsRecord[] = [];
    for (const d of domains) if (d.record && !validationRecords.some((r) => r.name === d.record!.name)) validationRecords.push(d.record);
    return { arn, status: certificate.status, validationRecords, domains, failure: certificate.failure };
  }

  async deleteCertificate(arn: string): Promise<void> {
    required('CertificateArn', arn);
    // ACM refuses to delete a certificate in use (ResourceInUseException).
    for (const [listenerArn, listener] of this.listeners) {
      if (listener.arns.includes(arn)) throw Object.assign(new Error(`certificate ${arn} is in use by ${listenerArn}`), { name: 'ResourceInUseException' });
    }
    if (!this.certificates.delete(arn)) return;
    this.record('acm:DeleteCertificate', { arn });
  }

  // ---- CloudFront ---------------------------------------------------------------------

  async createDistribution(request: DistributionRequest): Promise<DistributionState> {
    const id = `E${createHash('sha256').update(request.instanceId).digest('hex').slice(0, 13).toUpperCase()}`;
    let distribution = this.distributions.get(id);
    if (!distribution) {
      distribution = { domainName: `${id.toLowerCase()}.cloudfront.net`, enabled: true, pendingPolls: this.deployPolls, originSecret: request.originHeader?.value };
      this.distributions.set(id, distribution);
      this.record('cloudfront:CreateDistribution', {
        id,
        aliases: request.hostnames,
        origin: request.originDomain,
        certificateArn: request.certificateArn,
        originHeader: request.originHeader?.name,
        originSecret: request.originHeader?.value,
      });
    }
    return this.state(id, distribution);
  }

  async getDistribution(id: string): Promise<DistributionState | undefined> {
    required('Id', id);
    const distribution = this.distributions.get(id);
    if (!distribution) return undefined;
    const state = this.state(id, distribution);
    if (distribution.pendingPolls > 0) distribution.pendingPolls--;
    return state;
  }

  async setDistributionOriginHeader(id: string, header: OriginHeader): Promise<void> {
    const distribution = this.distributions.get(id);
    if (!distribution || distribution.originSecret === header.value) return;
    distribution.originSecret = header.value;
    distribution.pendingPolls = this.deployPolls;
    this.record('cloudfront:UpdateOriginHeader', { id, originSecret: header.value });
  }

  async disableDistribution(id: string): Promise<void> {
    required('Id', id);
    const distribution = this.distributions.get(id);
    if (!distribution || !distribution.enabled) return;
    distribution.enabled = false;
    distribution.pendingPolls = this.deployPolls;
    this.record('cloudfront:DisableDistribution', { id });
  }

  async deleteDistribution(id: string): Promise<'deleted' | 'retry-later'> {
    required('Id', id);
    const distribution = this.distributions.get(id);
    if (!distribution) return 'deleted';
    if (distribution.enabled || distribution.pendingPolls > 0) return 'retry-later';
    this.distributions.delete(id);
    this.record('cloudfront:DeleteDistribution', { id });
    return 'deleted';
  }

  private state(id: string, distribution: LocalDistribution): DistributionState {
    return { id, domainName: distribution.domainName, deployed: distribution.pendingPolls === 0, enabled: distribution.enabled, originSecret: distribution.originSecret };
  }

  // ---- the edge listeners (SSM, ELB) ---------------------------------------------------

  async edgeListener(region: string): Promise<string | undefined> {
    if (this.options.regionsWithoutListener?.includes(region)) return undefined;
    const arn = localListenerArn(region);
    if (!this.listeners.has(arn)) this.listeners.set(arn, { defaultArn: `arn:aws:acm:${region}:${ACCOUNT}:certificate/edge-default`, arns: [] });
    return arn;
  }

  async listenerCertificates(listenerArn: string): Promise<ListenerCertificates> {
    const listener = this.listener(listenerArn);
    return { defaultArn: listener.defaultArn, arns: [...listener.arns] };
  }

  async addListenerCertificate(listenerArn: string, certificateArn: string): Promise<void> {
    const listener = this.listener(listenerArn);
    if (listener.arns.includes(certificateArn)) return;
    const certificate = this.certificates.get(certificateArn);
    if (!certificate || certificate.status !== 'ISSUED' || regionOfArn(certificateArn) !== regionOfArn(listenerArn)) {
      throw Object.assign(new Error(`certificate ${certificateArn} not found (or not issued) in ${regionOfArn(listenerArn)}`), { name: 'CertificateNotFoundException' });
    }
    const quota = this.options.listenerCertificateQuota ?? 25;
    if (listener.arns.length >= quota) throw new ListenerCertificateQuotaError(`the load balancer of ${listenerArn} already has ${listener.arns.length} certificates (quota ${quota})`);
    listener.arns.push(certificateArn);
    this.record('elb:AddListenerCertificates', { listenerArn, certificateArn });
  }

  async removeListenerCertificate(listenerArn: string, certificateArn: string): Promise<void> {
    const listener = this.listeners.get(listenerArn);
    if (!listener || !listener.arns.includes(certificateArn)) return;
    listener.arns = listener.arns.filter((a) => a !== certificateArn);
    this.record('elb:RemoveListenerCertificates', { listenerArn, certificateArn });
  }

  private listener(listenerArn: string): LocalListener {
    const listener = this.listeners.get(listenerArn);
    if (!listener) throw Object.assign(new Error(`listener ${listenerArn} not found`), { name: 'ListenerNotFoundException' });
    return listener;
  }

  // ---- Secrets Manager ----------------------------------------------------------------

  async secretValue(secretId: string): Promise<SecretValue> {
    let secret = this.secrets.get(secretId);
    if (!secret) {
      secret = { value: randomBytes(24).toString('hex'), versionId: 'v1' };
      this.secrets.set(secretId, secret);
    }
    return secret;
  }

  // ---- the actions log ----------------------------------------------------------------

  private record(action: string, detail: Record<string, unknown>): void {
    const entry: CloudAction = { at: new Date().toISOString(), action, ...detail };
    this.actions.push(entry);
    if (this.options.actionsFile) appendFileSync(this.options.actionsFile, `${JSON.stringify(entry)}\n`);
  }

  /** Rebuilds the recorded state from an earlier run's actions file. */
  private replay(file: string): void {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // a torn last line from a crash
      }
      const at = Date.parse(String(entry.at)) || this.now();
      switch (entry.action) {
        case 'route53:UPSERT':
          for (const r of entry.records as DnsRecord[]) this.records.set(r.name, r);
          break;
        case 'route53:DELETE':
          for (const n of entry.names as string[]) this.records.delete(n);
          break;
        case 'dns:publish': {
          const record = entry.record as DnsRecord;
          this.publicDns.set(record.name, [...(this.publicDns.get(record.name) ?? []).filter((r) => !(r.type === record.type && r.value === record.value)), record]);
          break;
        }
        case 'dns:unpublish':
          this.publicDns.delete(entry.name as string);
          break;
        case 'acm:RequestCertificate':
          this.certificates.set(entry.arn as string, { hostnames: entry.hostnames as string[], status: 'PENDING_VALIDATION', requestedAt: at });
          break;
        case 'acm:Issued': {
          const c = this.certificates.get(entry.arn as string);
          if (c) c.status = 'ISSUED';
          break;
        }
        case 'acm:ValidationTimedOut': {
          const c = this.certificates.get(entry.arn as string);
          if (c) Object.assign(c, { status: 'FAILED', failure: 'VALIDATION_TIMED_OUT' });
          break;
        }
        case 'acm:DeleteCertificate':
          this.certificates.delete(entry.arn as string);
          break;
        case 'cloudfront:CreateDistribution':
          this.distributions.set(entry.id as string, { domainName: `${(entry.id as string).toLowerCase()}.cloudfront.net`, enabled: true, pendingPolls: 0, originSecret: entry.originSecret as string | undefined });
          break;
        case 'cloudfront:UpdateOriginHeader': {
          const d = this.distributions.get(entry.id as string);
          if (d) d.originSecret = entry.originSecret as string;
          break;
        }
        case 'cloudfront:DisableDistribution': {
          const d = this.distributions.get(entry.id as string);
          if (d) d.enabled = false;
          break;
        }
        case 'cloudfront:DeleteDistribution':
          this.distributions.delete(entry.id as string);
          break;
        case 'elb:AddListenerCertificates': {
          const listenerArn = entry.listenerArn as string;
          const listener = this.listeners.get(listenerArn) ?? { defaultArn: `arn:aws:acm:${regionOfArn(listenerArn)}:${ACCOUNT}:certificate/edge-default`, arns: [] };
          if (!listener.arns.includes(entry.certificateArn as string)) listener.arns.push(entry.certificateArn as string);
          this.listeners.set(listenerArn, listener);
          break;
        }
        case 'elb:RemoveListenerCertificates': {
          const listener = this.listeners.get(entry.listenerArn as string);
          if (listener) listener.arns = listener.arns.filter((a) => a !== entry.certificateArn);
          break;
        }
      }
    }
  }
}

/** The listener ARN the local fleet of a region "publishes". */
export function localListenerArn(region: string): string {
  return `arn:aws:elasticloadbalancing:${region}:${ACCOUNT}:listener/net/edge-${region}/0123456789abcdef/fedcba9876543210`;
}

/**
 * The DNS validation record ACM would ask for: deterministic per name, the same for every
 * certificate and region (ACM: "created specifically for your domain and your account";
 * "the CNAME validation token works for any AWS Region"); a wildcard shares its base's.
 */
export function validationRecord(hostname: string): DnsRecord {
  const base = hostname.replace(/^\*\./, '');
  const token = createHash('sha256').update(base).digest('hex');
  return { name: `_${token.slice(0, 32)}.${base}`, type: 'CNAME', value: `_${token.slice(32, 64)}.acm-validations.aws` };
}
