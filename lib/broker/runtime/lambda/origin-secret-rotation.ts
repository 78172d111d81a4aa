import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { AwsCloud } from '../cloud/aws';
import { rootLogger } from '../log';
import { RotationContext, RotationSecrets, RotationStep, rotateOriginSecret } from '../origin-secret';
import { settingsFromEnv } from '../settings';
import { BrokerStore } from '../store/store';

/** The event Secrets Manager sends a rotation function. */
export interface RotationEvent {
  readonly Step: RotationStep;
  readonly SecretId: string;
  readonly ClientRequestToken: string;
}

/** Secrets Manager, through SDK v3, as a rotation needs it. */
export class SecretsManagerRotation implements RotationSecrets {
  constructor(private readonly client = new SecretsManagerClient({})) {}

  async describe(secretId: string) {
    const out = await this.client.send(new DescribeSecretCommand({ SecretId: secretId }));
    return { rotationEnabled: Boolean(out.RotationEnabled), versions: out.VersionIdsToStages ?? {} };
  }

  async value(secretId: string, stage: 'AWSCURRENT' | 'AWSPENDING', versionId?: string) {
    try {
      const out = await this.client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage, VersionId: versionId }));
      return out.SecretString && out.VersionId ? { value: out.SecretString, versionId: out.VersionId } : undefined;
    } catch (err) {
      if ((err as { name?: string }).name === 'ResourceNotFoundException') return undefined;
      throw err;
    }
  }

  async randomValue() {
    // Letters and digits only: a header value, URL- and shell-safe.
    const out = await this.client.send(new GetRandomPasswordCommand({ PasswordLength: 48, ExcludePunctuation: true }));
    if (!out.RandomPassword) throw new Error('Secrets Manager returned no random value');
    return out.RandomPassword;
  }

  async putPending(secretId: string, token: string, value: string) {
    await this.client.send(new PutSecretValueCommand({ SecretId: secretId, ClientRequestToken: token, SecretString: value, VersionStages: ['AWSPENDING'] }));
  }

  async promote(secretId: string, token: string, currentVersionId: string) {
    await this.client.send(new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: currentVersionId }));
  }
}

let context: RotationContext | undefined;

function rotationContext(): RotationContext {
  if (!context) {
    const settings = settingsFromEnv();
    context = {
      secrets: new SecretsManagerRotation(),
      store: new BrokerStore(new DynamoDBClient({}), settings.tableName),
      cloud: new AwsCloud({ hostedZoneId: settings.hostedZoneId, platformName: settings.platformName }),
      logger: rootLogger(),
    };
  }
  return context;
}

/** Secrets Manager's rotation of the cdn origin secret (lib/broker/runtime/origin-secret.ts). */
export async function handler(event: RotationEvent): Promise<void> {
  await rotateOriginSecret(rotationContext(), event.Step, event.SecretId, event.ClientRequestToken);
}
