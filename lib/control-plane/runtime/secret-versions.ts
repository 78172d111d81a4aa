import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * The two versions of a rotated secret the control plane accepts: AWSCURRENT and, during
 * and after a rotation, AWSPREVIOUS (Secrets Manager moves AWSPREVIOUS to the version that
 * was current when a new version becomes AWSCURRENT). Used for the discovery token and the
 * cdn origin secret.
 *
 * `GetSecretValue` with `VersionStage` returns the version that carries the label; a label no
 * version carries answers `ResourceNotFoundException` ("Secrets Manager can't find the
 * specified secret value for staging label: AWSPREVIOUS"), which is the normal state of a
 * secret that was never rotated: no previous value.
 */
export interface SecretVersion {
  readonly value: string;
  readonly versionId: string;
}

export interface SecretVersions {
  readonly current: SecretVersion;
  readonly previous?: SecretVersion;
}

async function stage(client: SecretsManagerClient, secretId: string, versionStage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<SecretVersion | undefined> {
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: versionStage }));
    const value = out.SecretString?.trim();
    if (!value) throw new Error(`secret ${secretId} (${versionStage}) has no string value`);
    return { value, versionId: out.VersionId ?? versionStage };
  } catch (err) {
    if (versionStage === 'AWSPREVIOUS' && (err as { name?: string }).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

/** AWSCURRENT (required) and AWSPREVIOUS (when a version carries it) of a secret. */
export async function readSecretVersions(client: SecretsManagerClient, secretId: string): Promise<SecretVersions> {
  const current = await stage(client, secretId, 'AWSCURRENT');
  if (!current) throw new Error(`secret ${secretId} has no current value`);
  const previous = await stage(client, secretId, 'AWSPREVIOUS');
  return { current, previous: previous && previous.value !== current.value ? previous : undefined };
}

/** The values a reader accepts, current first. */
export const acceptedValues = (versions: SecretVersions): string[] => [versions.current.value, ...(versions.previous ? [versions.previous.value] : [])];
