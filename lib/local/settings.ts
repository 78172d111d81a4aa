/** The local platform's settings (DESIGN.md "Local platform"), read from the environment. */
export interface LocalSettings {
  readonly brokerPort: number;
  readonly brokerUser: string;
  readonly brokerPassword: string;
  readonly xdsPort: number;
  readonly controlPlanePort: number;
  /** DynamoDB emulator (dynalite); operator tools (`npm run ops -- --local`) find it here. */
  readonly dynamodbPort: number;
  /** SQS emulator (fauxqs). */
  readonly sqsPort: number;
  readonly xdsAuthToken: string;
  readonly domain: string;
  /** Unset: everything in memory. */
  readonly dataDir?: string;
  /**
   * `EDGE_ALLOW_LOOPBACK_BACKENDS` (default true): the local samples listen on loopback, so
   * backends may be loopback addresses; every other forbidden target is refused as in AWS.
   * Unset here: true.
   */
  readonly allowLoopbackBackends?: boolean;
}

export const LOCAL_DEFAULTS = {
  brokerPort: 8080,
  brokerUser: 'broker',
  brokerPassword: 'edge-local-password',
  xdsPort: 18000,
  controlPlanePort: 18001,
  dynamodbPort: 18002,
  sqsPort: 18003,
  xdsAuthToken: 'edge-local-token',
  domain: 'edge.example.com',
} as const;

/** A bad setting is an error that names the variable and the rule. */
export class SettingsError extends Error {}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new SettingsError(`${name}: must be a port number from 0 to 65535, got "${text}"`);
  }
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const text = env[name]?.trim().toLowerCase();
  if (text === undefined || text === '') return fallback;
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new SettingsError(`${name}: must be true or false, got "${env[name]}"`);
}

function nonEmpty(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const value = env[name];
  if (value === undefined) return fallback;
  if (value.trim() === '') throw new SettingsError(`${name}: must not be empty`);
  return value;
}

export function readLocalSettings(env: NodeJS.ProcessEnv = process.env): LocalSettings {
  const settings: LocalSettings = {
    brokerPort: port(env, 'EDGE_BROKER_PORT', LOCAL_DEFAULTS.brokerPort),
    brokerUser: nonEmpty(env, 'EDGE_BROKER_USER', LOCAL_DEFAULTS.brokerUser),
    brokerPassword: nonEmpty(env, 'EDGE_BROKER_PASSWORD', LOCAL_DEFAULTS.brokerPassword),
    xdsPort: port(env, 'EDGE_XDS_PORT', LOCAL_DEFAULTS.xdsPort),
    controlPlanePort: port(env, 'EDGE_CONTROL_PLANE_PORT', LOCAL_DEFAULTS.controlPlanePort),
    dynamodbPort: port(env, 'EDGE_DYNAMODB_PORT', LOCAL_DEFAULTS.dynamodbPort),
    sqsPort: port(env, 'EDGE_SQS_PORT', LOCAL_DEFAULTS.sqsPort),
    xdsAuthToken: nonEmpty(env, 'EDGE_XDS_AUTH_TOKEN', LOCAL_DEFAULTS.xdsAuthToken),
    domain: nonEmpty(env, 'EDGE_DOMAIN', LOCAL_DEFAULTS.domain),
    dataDir: env.EDGE_DATA_DIR || undefined,
    allowLoopbackBackends: flag(env, 'EDGE_ALLOW_LOOPBACK_BACKENDS', true),
  };
  const ports = [
    ['EDGE_BROKER_PORT', settings.brokerPort],
    ['EDGE_XDS_PORT', settings.xdsPort],
    ['EDGE_CONTROL_PLANE_PORT', settings.controlPlanePort],
    ['EDGE_DYNAMODB_PORT', settings.dynamodbPort],
    ['EDGE_SQS_PORT', settings.sqsPort],
  ] as const;
  ports.forEach(([name, value], i) => {
    const clash = ports.slice(0, i).find(([, other]) => other === value && value !== 0);
    if (clash) throw new SettingsError(`${name}: port ${value} is already used by ${clash[0]}`);
  });
  return settings;
}
