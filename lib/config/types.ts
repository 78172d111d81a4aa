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
  /** Usable availability zones, explicit so that synth needs no lookup. */
  readonly availabilityZones: readonly string[];
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
  /** Seconds a new instance gets before ELB health checks count. */
  readonly healthCheckGraceSeconds: number;
  /** Seconds the NLB drains connections of a deregistering proxy. */
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
  /** Envoy admin interface, bound to 127.0.0.1 only. */
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
}
