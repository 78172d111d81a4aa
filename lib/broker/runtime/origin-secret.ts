import type { Logger } from '@aws-lambda-powertools/logger';
import { CDN_ORIGIN_HEADER } from '../../model';
import { EdgeCloud } from './cloud/types';
import { BrokerStore } from './store/store';

/**
 * The cdn plan's origin secret: CloudFront adds `CDN_ORIGIN_HEADER: <value>` to every
 * request it sends the edge, and the edge refuses a cdn hostname without it (phase 2, in
 * the control plane, which accepts the current and the previous value). Rotation (Secrets
 * Manager's four steps, every 30 days) keeps the edge accepting every value a distribution
 * may still send:
 * - createSecret: first bring every distribution to the current value; if one was not on it
 *   yet, refuse to rotate now (the edge will drop the previous value at the next rotation);
 *   otherwise stage a new random value as AWSPENDING;
 * - setSecret, testSecret: nothing (the edge learns values by their stage, not by a call);
 * - finishSecret: make the new value AWSCURRENT (the old one becomes AWSPREVIOUS, which the
 *   edge still accepts), then update every distribution to it (CloudFront deploys within
 *   minutes; during that both values arrive and both are accepted).
 */
export type RotationStep = 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';

/** The Secrets Manager calls a rotation makes. */
export interface RotationSecrets {
  /** Version ids and their stages; whether rotation is enabled. */
  describe(secretId: string): Promise<{ rotationEnabled: boolean; versions: Record<string, readonly string[]> }>;
  /** A version's value (by stage, or by id and stage); undefined when there is none. */
  value(secretId: string, stage: 'AWSCURRENT' | 'AWSPENDING', versionId?: string): Promise<{ value: string; versionId: string } | undefined>;
  randomValue(): Promise<string>;
  putPending(secretId: string, token: string, value: string): Promise<void>;
  /** Moves AWSCURRENT to `token` from `currentVersionId` (which becomes AWSPREVIOUS). */
  promote(secretId: string, token: string, currentVersionId: string): Promise<void>;
}

export interface RotationContext {
  readonly secrets: RotationSecrets;
  readonly store: BrokerStore;
  readonly cloud: EdgeCloud;
  readonly logger: Logger;
}

/** Distributions updated to the current value, and those that were not on it before. */
export interface Propagation {
  readonly current: string;
  readonly updated: readonly string[];
}

/** Brings every cdn distribution to the secret's current value and records its version on the instance. */
export async function propagateOriginSecret(ctx: RotationContext, secretId: string): Promise<Propagation> {
  const current = await ctx.secrets.value(secretId, 'AWSCURRENT');
  if (!current) throw new Error(`secret ${secretId} has no current value`);
  const updated: string[] = [];
  for (const instance of await ctx.store.instancesWithDistributions()) {
    const id = instance.resources.distributionId!;
    const distribution = await ctx.cloud.getDistribution(id);
    if (!distribution) continue;
    if (distribution.originSecret !== current.value) {
      await ctx.cloud.setDistributionOriginHeader(id, { name: CDN_ORIGIN_HEADER, value: current.value });
      updated.push(id);
    }
    if (instance.resources.originSecretVersion !== current.versionId) await ctx.store.setResources(instance.instanceId, { originSecretVersion: current.versionId });
  }
  return { current: current.versionId, updated };
}

/** One step of a rotation, as Secrets Manager invokes it (`ClientRequestToken` is the new version's id). */
export async function rotateOriginSecret(ctx: RotationContext, step: RotationStep, secretId: string, token: string): Promise<void> {
  const { rotationEnabled, versions } = await ctx.secrets.describe(secretId);
  if (!rotationEnabled) throw new Error(`secret ${secretId} does not have rotation enabled`);
  const stages = versions[token];
  if (!stages) throw new Error(`version ${token} is not a version of ${secretId}`);
  if (stages.includes('AWSCURRENT') && step !== 'finishSecret') {
    ctx.logger.info('version already current; nothing to do', { step, token });
    return;
  }
  if (!stages.includes('AWSPENDING') && !stages.includes('AWSCURRENT')) throw new Error(`version ${token} of ${secretId} is not pending`);
  switch (step) {
    case 'createSecret': {
      const before = await propagateOriginSecret(ctx, secretId);
      if (before.updated.length) {
        throw new Error(
          `${before.updated.length} distribution(s) did not send the current origin secret yet (${before.updated.join(', ')}); they were updated now, and the rotation waits for the next attempt so that the edge never stops accepting a value a distribution still sends`,
        );
      }
      if (await ctx.secrets.value(secretId, 'AWSPENDING', token)) return;
      await ctx.secrets.putPending(secretId, token, await ctx.secrets.randomValue());
      ctx.logger.info('new origin secret staged', { token });
      return;
    }
    case 'setSecret':
    case 'testSecret':
      return;
    case 'finishSecret': {
      const current = Object.entries(versions).find(([, s]) => s.includes('AWSCURRENT'))?.[0];
      if (current && current !== token) await ctx.secrets.promote(secretId, token, current);
      const after = await propagateOriginSecret(ctx, secretId);
      ctx.logger.info('origin secret rotated', { token, distributionsUpdated: after.updated.length });
      return;
    }
  }
}
