import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CertificateState, DistributionRequest, DistributionState, DnsRecord, EdgeCloud } from './types';

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
}

interface LocalCertificate {
  hostnames: string[];
  status: CertificateState['status'];
}

interface LocalDistribution {
  domainName: string;
  enabled: boolean;
  pendingPolls: number;
}

/**
 * A stand-in for Route 53, ACM and CloudFront: it keeps what it would have created in
 * memory, records every action (in `actions` and optionally a JSON-lines file), and
 * behaves like the real services where the worker cares: a certificate issues once its
 * validation records exist, a distribution deploys after a few polls, and only a
 * disabled, deployed distribution can be deleted.
 */
export class LocalCloud implements EdgeCloud {
  readonly records = new Map<string, DnsRecord>();
  readonly certificates = new Map<string, LocalCertificate>();
  readonly distributions = new Map<string, LocalDistribution>();
  readonly actions: CloudAction[] = [];
  private readonly deployPolls: number;

  constructor(private readonly options: LocalCloudOptions = {}) {
    this.deployPolls = options.deployPolls ?? 0;
    if (options.actionsFile) {
      mkdirSync(dirname(options.actionsFile), { recursive: true });
      if (existsSync(options.actionsFile)) this.replay(options.actionsFile);
    }
  }

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

  async requestCertificate(instanceId: string, hostnames: readonly string[]): Promise<string> {
    const arn = `arn:aws:acm:us-east-1:000000000000:certificate/${instanceId}`;
    if (!this.certificates.has(arn)) {
      this.certificates.set(arn, { hostnames: [...hostnames], status: 'PENDING_VALIDATION' });
      this.record('acm:RequestCertificate', { arn, hostnames });
    }
    return arn;
  }

  async describeCertificate(arn: string): Promise<CertificateState | undefined> {
    const certificate = this.certificates.get(arn);
    if (!certificate) return undefined;
    const validationRecords = certificate.hostnames.map((name) => validationRecord(name));
    if (certificate.status === 'PENDING_VALIDATION' && validationRecords.every((r) => this.records.get(r.name)?.value === r.value)) {
      certificate.status = 'ISSUED';
      this.record('acm:Issued', { arn });
    }
    return { arn, status: certificate.status, validationRecords };
  }

  async deleteCertificate(arn: string): Promise<void> {
    if (!this.certificates.delete(arn)) return;
    this.record('acm:DeleteCertificate', { arn });
  }

  async createDistribution(request: DistributionRequest): Promise<DistributionState> {
    const id = `E${createHash('sha256').update(request.instanceId).digest('hex').slice(0, 13).toUpperCase()}`;
    let distribution = this.distributions.get(id);
    if (!distribution) {
      distribution = { domainName: `${id.toLowerCase()}.cloudfront.net`, enabled: true, pendingPolls: this.deployPolls };
      this.distributions.set(id, distribution);
      this.record('cloudfront:CreateDistribution', { id, aliases: request.hostnames, origin: request.originDomain, certificateArn: request.certificateArn });
    }
    return this.state(id, distribution);
  }

  async getDistribution(id: string): Promise<DistributionState | undefined> {
    const distribution = this.distributions.get(id);
    if (!distribution) return undefined;
    const state = this.state(id, distribution);
    if (distribution.pendingPolls > 0) distribution.pendingPolls--;
    return state;
  }

  async disableDistribution(id: string): Promise<void> {
    const distribution = this.distributions.get(id);
    if (!distribution || !distribution.enabled) return;
    distribution.enabled = false;
    distribution.pendingPolls = this.deployPolls;
    this.record('cloudfront:DisableDistribution', { id });
  }

  async deleteDistribution(id: string): Promise<'deleted' | 'retry-later'> {
    const distribution = this.distributions.get(id);
    if (!distribution) return 'deleted';
    if (distribution.enabled || distribution.pendingPolls > 0) return 'retry-later';
    this.distributions.delete(id);
    this.record('cloudfront:DeleteDistribution', { id });
    return 'deleted';
  }

  private state(id: string, distribution: LocalDistribution): DistributionState {
    return { id, domainName: distribution.domainName, deployed: distribution.pendingPolls === 0, enabled: distribution.enabled };
  }

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
      switch (entry.action) {
        case 'route53:UPSERT':
          for (const r of entry.records as DnsRecord[]) this.records.set(r.name, r);
          break;
        case 'route53:DELETE':
          for (const n of entry.names as string[]) this.records.delete(n);
          break;
        case 'acm:RequestCertificate':
          this.certificates.set(entry.arn as string, { hostnames: entry.hostnames as string[], status: 'PENDING_VALIDATION' });
          break;
        case 'acm:Issued': {
          const c = this.certificates.get(entry.arn as string);
          if (c) c.status = 'ISSUED';
          break;
        }
        case 'acm:DeleteCertificate':
          this.certificates.delete(entry.arn as string);
          break;
        case 'cloudfront:CreateDistribution':
          this.distributions.set(entry.id as string, { domainName: `${(entry.id as string).toLowerCase()}.cloudfront.net`, enabled: true, pendingPolls: 0 });
          break;
        case 'cloudfront:DisableDistribution': {
          const d = this.distributions.get(entry.id as string);
          if (d) d.enabled = false;
          break;
        }
        case 'cloudfront:DeleteDistribution':
          this.distributions.delete(entry.id as string);
          break;
      }
    }
  }
}

/** The DNS validation record ACM would ask for (deterministic per name, like ACM's). */
function validationRecord(hostname: string): DnsRecord {
  const token = createHash('sha256').update(hostname).digest('hex');
  const base = hostname.replace(/^\*\./, '');
  return { name: `_${token.slice(0, 32)}.${base}`, type: 'CNAME', value: `_${token.slice(32, 64)}.acm-validations.aws` };
}
