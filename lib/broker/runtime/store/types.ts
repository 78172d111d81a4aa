import { ServiceParameters } from '../../../model';
import { PlanName } from '../catalog';
import type { DnsRecord } from '../cloud/types';

export type OperationType = 'provision' | 'update' | 'deprovision';
/** OSB's last_operation states, stored verbatim. */
export type OperationState = 'in progress' | 'succeeded' | 'failed';

/**
 * An instance's lifecycle. `deleted` is a tombstone kept after a finished deprovision so
 * that polls and repeated deletes answer 410 (gone) rather than 404 (never existed).
 */
export type InstanceState = 'provisioning' | 'provisioned' | 'failed' | 'deleted';

/** What the platform sent in X-Broker-API-Originating-Identity (`<platform> <base64 json>`). */
export interface OriginatingIdentity {
  readonly platform: string;
  readonly value: Record<string, unknown>;
}

/** A plan and its parameters: what an instance is, or what an operation makes it. */
export interface InstanceConfig {
  readonly planId: string;
  readonly plan: PlanName;
  readonly parameters: ServiceParameters;
}

/** Cloud resources the worker created for an instance, recorded as soon as they exist. */
export interface InstanceResources {
  /** Route 53 names the worker wrote (service hostnames and certificate validation names). */
  readonly dnsNames?: readonly string[];
  readonly certificateArn?: string;
  readonly distributionId?: string;
  readonly distributionDomain?: string;
  /** The version (Secrets Manager VersionId) of the cdn origin secret the distribution sends. */
  readonly originSecretVersion?: string;
  readonly routeGeneration?: number;
  /** Certificates of the instance's own domains on the edge listeners, one per region (two while one replaces the other). */
  readonly edgeCertificates?: readonly EdgeCertificateRecord[];
}

/**
 * A certificate of an instance's custom domains in one region: DNS-validated by ACM there,
 * attached by SNI to that region's edge NLB TLS listener once issued and the names claimed.
 */
export interface EdgeCertificateRecord {
  readonly region: string;
  readonly arn: string;
  /** The custom names it covers, sorted (a different set means a new certificate). */
  readonly names: readonly string[];
  /** The listener it is attached to, once attached (detaching uses this one). */
  readonly listenerArn?: string;
  /** ACM's DNS validation records, once published: what the team keeps for renewals. */
  readonly validationRecords?: readonly DnsRecord[];
}

export interface InstanceRecord extends InstanceConfig {
  readonly instanceId: string;
  readonly serviceId: string;
  readonly organizationGuid: string;
  readonly spaceGuid: string;
  readonly context?: Record<string, unknown>;
  readonly maintenanceInfoVersion: string;
  readonly state: InstanceState;
  /** The operation in progress, if any (at most one at a time). */
  readonly currentOperationId?: string;
  readonly lastOperationId: string;
  /**
   * How the last operation ended, kept on the instance: operation records expire (TTL), and a
   * platform polling `last_operation` after that must still read a failed deprovision as failed
   * (OSB: "succeeded" for a deprovision means the instance is gone).
   */
  readonly lastOutcome?: OperationOutcome;
  readonly resources: InstanceResources;
  /** The token of the instance's TXT challenge for its own domains (made on first need, kept for the instance's life). */
  readonly ownershipToken?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What `last_operation` answers for an operation that has ended. */
export interface OperationOutcome {
  readonly operationId: string;
  readonly type: OperationType;
  readonly state: 'succeeded' | 'failed';
  readonly description: string;
  readonly instanceUsable?: boolean;
  readonly updateRepeatable?: boolean;
}

export interface OperationRecord {
  readonly operationId: string;
  readonly instanceId: string;
  readonly type: OperationType;
  readonly state: OperationState;
  /** Step being worked on (or the one that failed). */
  readonly step?: string;
  readonly completedSteps: readonly string[];
  /** What a person reads in last_operation. */
  readonly description: string;
  /** The configuration this operation applies (provision, update). */
  readonly target?: InstanceConfig;
  /** The configuration before an update (what a failed update leaves in place). */
  readonly previous?: InstanceConfig;
  /** Deprovision: every hostname the instance may hold (its own and a cancelled operation's). */
  readonly hostnames?: readonly string[];
  /** Deprovision: the provision or update it cancelled, if any. */
  readonly cancelledOperationId?: string;
  readonly originatingIdentity?: OriginatingIdentity;
  readonly requestIdentity?: string;
  /** Epoch ms until which a worker is inside a step of this operation (0 once it left the step). */
  readonly busyUntil?: number;
  /** Failed attempts of the current step. */
  readonly attempts: number;
  readonly instanceUsable?: boolean;
  readonly updateRepeatable?: boolean;
  /** The route generation this operation wrote (write-route, tombstone-route): what the gate waits for. */
  readonly routeGeneration?: number;
  /** Epoch ms when the operation first waited for the owners of its custom domains (their limit counts from here). */
  readonly ownershipStartedAt?: number;
  /** Epoch ms when the convergence gate first looked (its timeout counts from here). */
  readonly convergeStartedAt?: number;
  /** What the gate saw when the edge held the change (appended to the success description). */
  readonly edgeSummary?: string;
  /**
   * Set when the gate failed a provision or update (the edge rejected the change, or it did
   * not converge in time): the withdraw steps run, then the operation fails with `reason`.
   */
  readonly withdrawal?: Withdrawal;
  /** The generation the withdrawal wrote (the tombstone, or the restored previous route). */
  readonly withdrawnGeneration?: number;
  /** When the sweeper last sent the operation to the queue again (its message seemed lost). */
  readonly lastSweptAt?: string;
  /** How many times the sweeper re-enqueued it. */
  readonly sweeps?: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Epoch seconds: DynamoDB TTL of a finished operation. */
  readonly expiresAt?: number;
}

export interface Withdrawal {
  readonly cause: 'rejected' | 'timeout';
  /** A person-readable reason, e.g. `rejected by the edge in eu-west-1: <error_detail>`. */
  readonly reason: string;
}

export interface BindingRecord {
  readonly instanceId: string;
  readonly bindingId: string;
  readonly serviceId: string;
  readonly planId: string;
  readonly appGuid?: string;
  readonly bindResource?: Record<string, unknown>;
  readonly parameters?: Record<string, unknown>;
  readonly context?: Record<string, unknown>;
  readonly credentials: Record<string, unknown>;
  readonly createdAt: string;
}

/** The queue message: which operation to work on, nothing else. */
export interface OperationRef {
  readonly instanceId: string;
  readonly operationId: string;
}
