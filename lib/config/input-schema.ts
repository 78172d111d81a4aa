/**
 * JSON Schema of the platform config as a person writes it (every field optional;
 * defaults fill the rest). Cross-field rules live in `validate.ts`.
 */
const regionName = { type: 'string', pattern: '^[a-z]{2}(-gov)?-[a-z]+-[1-9]$' };
const port = { type: 'integer', minimum: 1024, maximum: 65535 };
const cidr = { type: 'string', pattern: '^(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}$' };
const fleetSize = {
  type: 'object',
  additionalProperties: false,
  properties: {
    minSize: { type: 'integer', minimum: 1, maximum: 1000 },
    maxSize: { type: 'integer', minimum: 1, maximum: 1000 },
    desiredCapacity: { type: 'integer', minimum: 1, maximum: 1000 },
  },
};

export const PLATFORM_CONFIG_INPUT_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Edge platform configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    platformName: { type: 'string', pattern: '^[a-z][a-z0-9-]{1,19}$' },
    account: { type: 'string', pattern: '^[0-9]{12}$' },
    homeRegion: regionName,
    domain: { type: 'string', format: 'hostname', pattern: '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$' },
    hostedZoneId: { type: 'string', pattern: '^Z[A-Z0-9]{4,32}$' },
    regions: {
      type: 'array',
      minItems: 1,
      maxItems: 30,
      items: {
        oneOf: [
          regionName,
          {
            type: 'object',
            additionalProperties: false,
            required: ['region'],
            properties: {
              region: regionName,
              // AZ IDs (use1-az1), the same zone in every account; names (us-east-1a) are not.
              availabilityZoneIds: {
                type: 'array',
                minItems: 2,
                maxItems: 6,
                uniqueItems: true,
                items: { type: 'string', pattern: '^[a-z]{2,8}[0-9]{1,2}-az[0-9]{1,2}$' },
              },
              vpcCidr: cidr,
              fleet: fleetSize,
            },
          },
        ],
      },
    },
    fleet: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ...fleetSize.properties,
        instanceType: { type: 'string', pattern: '^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[a-z0-9]+$' },
        targetCpuPercent: { type: 'integer', minimum: 10, maximum: 90 },
        // At least the time to boot and configure a proxy; at most 55 minutes, so that the rollout's
        // wait (this plus 5 minutes) stays within CloudFormation's one-hour PauseTime limit.
        healthCheckGraceSeconds: { type: 'integer', minimum: 120, maximum: 3300 },
        drainSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
        rootVolumeGiB: { type: 'integer', minimum: 8, maximum: 1024 },
      },
    },
    envoy: {
      type: 'object',
      additionalProperties: false,
      properties: {
        httpsTrafficPort: port,
        httpTrafficPort: port,
        readinessPort: port,
        adminPort: port,
      },
    },
    controlPlane: {
      type: 'object',
      additionalProperties: false,
      properties: {
        xdsPort: port,
        restPort: port,
        minTasks: { type: 'integer', minimum: 2, maximum: 100 },
        maxTasks: { type: 'integer', minimum: 2, maximum: 100 },
        cpu: { enum: [256, 512, 1024, 2048, 4096, 8192, 16384] },
        memoryMiB: { type: 'integer', minimum: 512, maximum: 122880 },
      },
    },
    amiParameterName: { type: 'string', pattern: '^/[A-Za-z0-9_.\\-/]+$' },
    brokerTableName: { type: 'string', pattern: '^[A-Za-z0-9_.-]{3,255}$' },
    logRetentionDays: { type: 'integer', minimum: 1, maximum: 3653 },
    tags: {
      type: 'object',
      additionalProperties: { type: 'string', maxLength: 256 },
      propertyNames: { type: 'string', minLength: 1, maxLength: 128 },
    },
    alarms: {
      type: 'object',
      additionalProperties: false,
      properties: {
        emails: { type: 'array', maxItems: 20, uniqueItems: true, items: { type: 'string', format: 'email' } },
        topicArns: {
          type: 'object',
          // Keys (regions) and the ARN's region and account are checked in load.ts, with clearer messages.
          additionalProperties: { type: 'string', pattern: '^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$' },
        },
        thresholds: {
          type: 'object',
          additionalProperties: false,
          properties: {
            queueOldestMessageSeconds: { type: 'integer', minimum: 60, maximum: 345600 },
            api5xxPer5Minutes: { type: 'integer', minimum: 1, maximum: 100000 },
            apiLatencyP99Ms: { type: 'integer', minimum: 100, maximum: 29000 },
            sourceStalenessSeconds: { type: 'integer', minimum: 30, maximum: 86400 },
            connectedNodesRatio: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
            proxy5xxPercent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
            proxyMinRequestsPer5Minutes: { type: 'integer', minimum: 0, maximum: 100000000 },
            tlsNegotiationErrorsPer5Minutes: { type: 'integer', minimum: 1, maximum: 100000000 },
            capacityShortfallMinutes: { type: 'integer', minimum: 5, maximum: 1440 },
          },
        },
        allowNoRecipients: { type: 'boolean' },
      },
    },
    pipeline: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        source: {
          type: 'object',
          additionalProperties: false,
          properties: {
            // arn:aws:codestar-connections:<region>:<account>:connection/<id> (AWS CodeStar Connections
            // API reference, Connection); the service was renamed codeconnections, both are accepted.
            connectionArn: { type: 'string', pattern: '^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:[0-9]{12}:connection/[A-Za-z0-9-]+$' },
            repository: { type: 'string', pattern: '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$' },
            branch: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^\\s~^:?*\\[\\\\]+$' },
          },
        },
        // Regions per wave; which regions, and exactly once each, is checked in pipeline.ts.
        waves: { type: 'array', minItems: 1, maxItems: 30, items: { type: 'array', minItems: 1, maxItems: 30, items: regionName } },
        // CodeBuild runs the bake; its timeout is this plus a margin.
        bakeMinutes: { type: 'integer', minimum: 0, maximum: 240 },
      },
    },
  },
} as const;
