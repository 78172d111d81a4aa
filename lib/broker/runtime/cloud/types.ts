/**
 * The narrow interface to the AWS services that have no local emulator: Route 53, ACM
 * (us-east-1 for CloudFront, every fleet region for the edge listeners), CloudFront,
 * Elastic Load Balancing (the edge listeners' certificate lists), SSM (where each region
 * publishes its listener), Secrets Manager (the cdn origin secret) and public DNS (the TXT
 * challenge of custom domains). `aws.ts` implements it with SDK v3; `local.ts` behaves like
 * the services where the worker cares. Every call is idempotent and every delete tolerates
 * a resource that is already gone (deprovision may run over half-created state).
 */

/** A DNS record in the platform's hosted zone, or one a team creates in its own zone. */
export interface DnsRecord {
  readonly name: string;
  readonly type: 'CNAME' | 'TXT';
  readonly value: string;
}

export type CertificateStatus = 'PENDING_VALIDATION' | 'ISSUED' | 'FAILED' | 'OTHER';

/** ACM's view of one name of a certificate (DomainValidationOptions). */
export interface DomainValidation {
  readonly domain: string;
  readonly status: 'PENDING_VALIDATION' | 'SUCCESS' | 'FAILED';
  /** The CNAME ACM asks for; may be missing right after the request. */
  readonly record?: DnsRecord;
}

export interface CertificateState {
  readonly arn: string;
  /** FAILED includes VALIDATION_TIMED_OUT (ACM gives up on a pending certificate after 72 hours). */
  readonly status: CertificateStatus;
  /** The CNAME records ACM asks for (DNS validation), one per base name; may be empty right after the request. */
  readonly validationRecords: readonly DnsRecord[];
  readonly domains: readonly DomainValidation[];
  /** Why it failed: ACM's FailureReason, or VALIDATION_TIMED_OUT. */
  readonly failure?: string;
}

/** What a certificate is for: CloudFront (ACM in us-east-1) or an edge listener (ACM in the listener's region). */
export type CertificatePurpose = 'cdn' | 'edge';

export interface CertificateRequest {
  readonly instanceId: string;
  readonly hostnames: readonly string[];
  /** ACM's region; a certificate's ARN names it, so describe and delete need no region. */
  readonly region: string;
  readonly purpose: CertificatePurpose;
}

export interface DistributionState {
  readonly id: string;
  readonly domainName: string;
  /** `Deployed` once CloudFront has propagated the last change. */
  readonly deployed: boolean;
  readonly enabled: boolean;
  /** The value of the origin header the distribution sends (CDN_ORIGIN_HEADER), if any. */
  readonly originSecret?: string;
}

export interface OriginHeader {
  readonly name: string;
  readonly value: string;
}

export interface DistributionRequest {
  readonly instanceId: string;
  readonly hostnames: readonly string[];
  readonly certificateArn: string;
  /** The edge's global name: CloudFront's origin. */
  readonly originDomain: string;
  /** The secret header CloudFront adds to every origin request (the edge refuses cdn names without it). */
  readonly originHeader?: OriginHeader;
}

/** A listener's certificates: its default one, and the list SNI picks from (without the default). */
export interface ListenerCertificates {
  readonly defaultArn?: string;
  readonly arns: readonly string[];
}

/** The listener (its load balancer) holds as many certificates as its quota allows. */
export class ListenerCertificateQuotaError extends Error {}

export interface SecretValue {
  readonly value: string;
  readonly versionId: string;
}

export interface EdgeCloud {
  upsertRecords(records: readonly DnsRecord[]): Promise<void>;
  /** Deletes whatever records exist under these names (missing names are fine). */
  deleteRecords(names: readonly string[]): Promise<void>;
  /** Requests (or finds the earlier request of) a DNS-validated certificate. */
  requestCertificate(request: CertificateRequest): Promise<string>;
  describeCertificate(arn: string): Promise<CertificateState | undefined>;
  deleteCertificate(arn: string): Promise<void>;
  createDistribution(request: DistributionRequest): Promise<DistributionState>;
  getDistribution(id: string): Promise<DistributionState | undefined>;
  /** Sets the origin header's value (a rotation); a distribution that is gone is fine. */
  setDistributionOriginHeader(id: string, header: OriginHeader): Promise<void>;
  /** Disables the distribution (CloudFront deletes only disabled, deployed ones). */
  disableDistribution(id: string): Promise<void>;
  /** Deletes a disabled, deployed distribution; `retry-later` while it is not yet. */
  deleteDistribution(id: string): Promise<'deleted' | 'retry-later'>;
  /** The ARN of a region's edge HTTPS listener, as its fleet stack publishes it; undefined before it does. */
  edgeListener(region: string): Promise<string | undefined>;
  listenerCertificates(listenerArn: string): Promise<ListenerCertificates>;
  /** Adds a certificate to the listener's SNI list (already there is fine); ListenerCertificateQuotaError at the quota. */
  addListenerCertificate(listenerArn: string, certificateArn: string): Promise<void>;
  /** Removes a certificate from the listener's list; already gone (or the listener gone) is fine. */
  removeListenerCertificate(listenerArn: string, certificateArn: string): Promise<void>;
  /** The TXT values at a public DNS name (each record's strings joined); none: []. */
  lookupTxt(name: string): Promise<string[]>;
  /** The current value of a secret and its version (Secrets Manager, AWSCURRENT). */
  secretValue(secretId: string): Promise<SecretValue>;
}

/** The region an ACM certificate or ELB listener ARN names (`arn:aws:acm:<region>:...`). */
export function regionOfArn(arn: string): string {
  return arn.split(':')[3] ?? '';
}

/**
 * What makes two certificate requests the same request (ACM's idempotency token is derived
 * from it): the instance for a cdn certificate; the instance, region and names for an edge one.
 */
export function certificateToken(request: CertificateRequest): string {
  if (request.purpose === 'cdn') return request.instanceId;
  return `edge|${request.instanceId}|${request.region}|${[...request.hostnames].sort().join(',')}`;
}
