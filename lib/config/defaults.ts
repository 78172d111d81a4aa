import { DEFAULT_FLEET_REGIONS, KNOWN_AVAILABILITY_ZONE_IDS } from './regions';

/** Default platform settings; any of them can be overridden (see `load.ts`). */
export const DEFAULTS = {
  platformName: 'edge',
  homeRegion: 'us-east-1',
  domain: 'edge.example.com',
  hostedZoneId: 'Z0EXAMPLE0EDGE0ZONE',
  regions: DEFAULT_FLEET_REGIONS,
  fleet: {
    instanceType: 'c7g.large',
    minSize: 2,
    maxSize: 20,
    desiredCapacity: 3,
    targetCpuPercent: 50,
    // Boot, bootstrap, Envoy start and the first xDS push; the rollout waits for it (issue 11).
    healthCheckGraceSeconds: 300,
    drainSeconds: 60,
    rootVolumeGiB: 20,
  },
  envoy: {
    httpsTrafficPort: 8443,
    httpTrafficPort: 8080,
    readinessPort: 8081,
    adminPort: 9901,
  },
  controlPlane: {
    xdsPort: 18000,
    restPort: 18001,
    minTasks: 2,
    maxTasks: 10,
    cpu: 1024,
    memoryMiB: 2048,
  },
  logRetentionDays: 90,
  tags: {} as Record<string, string>,
  alarms: {
    emails: [] as string[],
    topicArns: {} as Record<string, string>,
    thresholds: {
      queueOldestMessageSeconds: 900,
      api5xxPer5Minutes: 5,
      apiLatencyP99Ms: 5000,
      sourceStalenessSeconds: 300,
      connectedNodesRatio: 0.8,
      proxy5xxPercent: 5,
      proxyMinRequestsPer5Minutes: 100,
      tlsNegotiationErrorsPer5Minutes: 1000,
      capacityShortfallMinutes: 15,
    },
    allowNoRecipients: false,
  },
};

/**
 * A stable default VPC CIDR per known region (10.<n>.0.0/16), so adding or removing
 * a region never renumbers (and so replaces) another region's VPC.
 */
export function defaultVpcCidr(region: string): string | undefined {
  const index = Object.keys(KNOWN_AVAILABILITY_ZONE_IDS).indexOf(region);
  return index < 0 ? undefined : `10.${index + 1}.0.0/16`;
}
