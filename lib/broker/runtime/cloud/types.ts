/**
 * The narrow interface to the AWS services that have no local emulator: Route 53, ACM
 * (us-east-1, for CloudFront) and CloudFront. `aws.ts` implements it with SDK v3;
 * `local.ts` records what it would do. Every call is idempotent and every delete
 * tolerates a resource that is already gone (deprovision may run over half-created state).
 */

/** A DNS record in the platform's hosted zone. */
export interface DnsRecord {
  readonly name: string;
  readonly type: 'CNAME';
  readonly value: string;
}

export type CertificateStatus = 'PENDING_VALIDATION' | 'ISSUED' | 'FAILED' | 'OTHER';

export interface CertificateState {
  readonly arn: string;
  readonly status: CertificateStatus;
  /** The CNAME records ACM asks for (DNS validation); may be empty right after the request. */
  readonly validationRecords: readonly DnsRecord[];
}

export interface DistributionState {
  readonly id: string;
  readonly domainName: string;
  /** `Deployed` once CloudFront has propagated the last change. */
  readonly deployed: boolean;
  readonly enabled: boolean;
}

export interface DistributionRequest {
  readonly instanceId: string;
  readonly hostnames: readonly string[];
  readonly certificateArn: string;
  /** The edge's global name: CloudFront's origin. */
  readonly originDomain: string;
}

export interface EdgeCloud {
  upsertRecords(records: readonly DnsRecord[]): Promise<void>;
  /** Deletes whatever records exist under these names (missing names are fine). */
  deleteRecords(names: readonly string[]): Promise<void>;
  /** Requests (or finds the earlier request of) the instance's certificate. */
  requestCertificate(instanceId: string, hostnames: readonly string[]): Promise<string>;
  describeCertificate(arn: string): Promise<CertificateState | undefined>;
  deleteCertificate(arn: string): Promise<void>;
  createDistribution(request: DistributionRequest): Promise<DistributionState>;
  getDistribution(id: string): Promise<DistributionState | undefined>;
  /** Disables the distribution (CloudFront deletes only disabled, deployed ones). */
  disableDistribution(id: string): Promise<void>;
  /** Deletes a disabled, deployed distribution; `retry-later` while it is not yet. */
  deleteDistribution(id: string): Promise<'deleted' | 'retry-later'>;
}
