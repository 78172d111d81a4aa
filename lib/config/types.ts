/** The platform configuration: one typed document that every stack and the runtime read. */

export interface FleetSize {
  /** Smallest number of proxies in a region. */
  readonly minSize: number;
  /** Largest number of proxies in a region. */
  readonly maxSize: number;
  /** Proxies at first deploy; scaling takes over afterwards. */
  readonly desiredCapacity: number;
}

export interface RegionConfig {
  /** AWS region name, e.g. `eu-west-1`. */
  readonly region: string;
  /**
   * Availability zones by AZ ID (`use1-az1`), the same zone in every account; explicit, so synth
   * needs no lookup. The subnets carry them as `AvailabilityZoneId`.
   */
  readonly availabilityZoneIds: readonly string[];
  /** The region's VPC CIDR; must not overlap another region's. */
  readonly vpcCidr: string;
  /** Fleet size for this region (defaults to `fleet` sizes). */
  readonly fleet: FleetSize;
}

export interface FleetConfig extends FleetSize {
  /** EC2 instance type of the proxies; Graviton (ARM64) to match the AMI. */
  readonly instanceType: string;
  /** Target average CPU utilisation for scaling, percent. */
  readonly targetCpuPercent: number;
  /**
   * Seconds a new proxy gets to answer `/ready` (Envoy started and configured over xDS): the Auto
   * Scaling health check grace, and the bound of the health-gated rollout (the proxy signals
   * FAILURE past it, and CloudFormation waits at most this plus a margin for its signal).
   */
  readonly healthCheckGraceSeconds: number;
  /**
   * Seconds the NLB drains connections of a deregistering proxy; the proxy then finishes its own
   * drain and completes the termination lifecycle hook (ami: edge-lifecycle).
   */
  readonly drainSeconds: number;
  /** Root volume size, GiB. */
  readonly rootVolumeGiB: number;
}

export interface EnvoyPorts {
  /** Where the NLB's TLS listener (443) forwards decrypted traffic, with proxy protocol v2. */
  readonly httpsTrafficPort: number;
  /** Where the NLB's port 80 forwards, with proxy protocol v2; answers with a redirect to https. */
  readonly httpTrafficPort: number;
  /** Plain HTTP readiness endpoint (`/ready`) the NLB health check calls. */
  readonly readinessPort: number;
  /**
   * Envoy's loopback stats port (127.0.0.1, `GET /stats/prometheus` only, for the CloudWatch
   * agent). The admin interface itself is a Unix socket, on no TCP port (docs/ami.md).
   */
  readonly adminPort: number;
}

export interface ControlPlaneConfig {
  /** gRPC xDS (ADS, SotW and Delta). */
  readonly xdsPort: number;
  /** REST discovery, `/status`, `/healthz`, `/readyz`, `/metrics`. */
  readonly restPort: number;
  /** ECS tasks per region (at least 2, across zones). */
  readonly minTasks: number;
  readonly maxTasks: number;
  /** Fargate task size. */
  readonly cpu: number;
  readonly memoryMiB: number;
}

/** Alarm thresholds: what counts as broken enough to page someone (docs/monitoring.md says why each). */
export interface AlarmThresholds {
  /** Broker work queue: age of the oldest message, seconds. */
  readonly queueOldestMessageSeconds: number;
  /** Broker API: 5XX responses in 5 minutes. */
  readonly api5xxPer5Minutes: number;
  /** Broker API: p99 latency over 5 minutes, milliseconds. */
  readonly apiLatencyP99Ms: number;
  /** Control plane: seconds a context source may go without a successful refresh. */
  readonly sourceStalenessSeconds: number;
  /** Control plane: connected nodes below this fraction of in-service proxies. */
  readonly connectedNodesRatio: number;
  /** Fleet: Envoy 5xx responses, percent of requests over 5 minutes. */
  readonly proxy5xxPercent: number;
  /** Fleet: fewer requests than this in 5 minutes never alarm on the 5xx rate. */
  readonly proxyMinRequestsPer5Minutes: number;
  /** Fleet: TLS handshakes the edge NLB failed in 5 minutes (scanners cause a steady trickle). */
  readonly tlsNegotiationErrorsPer5Minutes: number;
  /** Fleet: minutes the group may stay below its desired capacity before it alarms. */
  readonly capacityShortfallMinutes: number;
}

/** Where alarms go: one SNS topic per region, created (KMS-encrypted) or imported. */
export interface AlarmsConfig {
  /** Email addresses subscribed to every topic the platform creates (each confirms by mail). */
  readonly emails: readonly string[];
  /** An existing topic per region (`arn:aws:sns:<region>:<account>:<name>`) used instead of a created one. */
  readonly topicArns: Readonly<Record<string, string>>;
  readonly thresholds: AlarmThresholds;
  /**
   * Synth refuses a config in which a region's alarms would reach nobody (no `emails` and no
   * `topicArns[region]`); true lets it through, for a sandbox only: the alarms exist, page nobody.
   */
  readonly allowNoRecipients: boolean;
}

/** Where the delivery pipeline pulls from: a CodeConnections (CodeStar Connections) connection. */
export interface PipelineSource {
  /** `arn:aws:codeconnections:<region>:<account>:connection/<id>` (or the older `codestar-connections`). */
  readonly connectionArn: string;
  /** The repository the connection reads, `owner/name`. */
  readonly repository: string;
  /** The branch whose commits the pipeline deploys. */
  readonly branch: string;
}

/** The delivery pipeline (lib/pipeline, docs/pipeline.md). */
export interface PipelineConfig {
  /** Whether the app includes the `<platform>-pipeline` stack (home region). */
  readonly enabled: boolean;
  readonly source: PipelineSource;
  /**
   * Fleet regions per wave, deployed after the home region's broker, in order; the first wave is
   * the canary. Every fleet region is in exactly one wave (default: 1 → 2 → 4 → the rest).
   */
  readonly waves: readonly (readonly string[])[];
  /** Minutes each wave bakes after its deploy; any of its regions' alarms in ALARM fails the wave. */
  readonly bakeMinutes: number;
}

export interface PlatformConfig {
  /** Short lowercase name used in resource names, tags and SSM paths. */
  readonly platformName: string;
  /** Target AWS account; unset: account-agnostic stacks (the deploying credentials' account). */
  readonly account?: string;
  /** Region of the broker and of everything global. */
  readonly homeRegion: string;
  /** The platform domain: `<region>.<domain>` per region and `<domain>` as the global latency name. */
  readonly domain: string;
  /** Public hosted zone of `domain` (imported, never looked up at synth). */
  readonly hostedZoneId: string;
  /** Fleet regions, in deployment order. */
  readonly regions: readonly RegionConfig[];
  readonly fleet: FleetConfig;
  readonly envoy: EnvoyPorts;
  readonly controlPlane: ControlPlaneConfig;
  /** SSM parameter (same name in every region) holding the baked Envoy AMI id. */
  readonly amiParameterName: string;
  /** DynamoDB global table of the broker (instances, operations, routes). */
  readonly brokerTableName: string;
  /** Days to keep NLB access logs and VPC flow logs. */
  readonly logRetentionDays: number;
  /** Extra tags on every resource. */
  readonly tags: Readonly<Record<string, string>>;
  /** Alarm topics and thresholds (lib/monitoring). */
  readonly alarms: AlarmsConfig;
  /** The delivery pipeline. */
  readonly pipeline: PipelineConfig;
}
