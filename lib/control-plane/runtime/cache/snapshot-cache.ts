import { Logger } from '../logger';
import { RESOURCE_KINDS, ResourceKind } from '../protos';
import { Snapshot, SnapshotRenderer } from '../snapshot';
import { SharedUnits } from '../render/shared-units';
import { NodeInfo, TemplateRegistry } from '../templates';
import { NodeRecord, ProfileState, Session } from './types';

/** A profile no node has used for this long is dropped (rendered again if a node of it comes back). */
export const PROFILE_IDLE_MS = 5 * 60_000;
/** Past this many profiles, the idle ones are dropped first, longest idle first. */
export const MAX_PROFILES = 64;

export interface SnapshotCacheOptions {
  readonly registry: TemplateRegistry;
  readonly logger: Logger;
  /** Default PROFILE_IDLE_MS. */
  readonly profileIdleMs?: number;
  /** Default MAX_PROFILES. */
  readonly maxProfiles?: number;
}

/**
 * Stage 4, the snapshot cache: the node profiles (nodes that get the same snapshot), each with
 * its newest snapshot and the stable one, the sessions attached to them, which snapshot a node
 * is served, and the dropping of idle profiles. It decides nothing about rollouts: the
 * rollout stage sets `rollout`, `stable` and `snapshot` on a profile.
 */
export class SnapshotCache {
  readonly profiles = new Map<string, ProfileState>();
  readonly sessions = new Set<Session>();
  /** What the profiles' renderers share (render/shared-units.ts). */
  private readonly shared = new SharedUnits();

  constructor(private readonly options: SnapshotCacheOptions) {}

  /** The profile of a node; a new one is created (and `created` called to render it). */
  profileFor(node: NodeInfo, created: (profile: ProfileState) => void): ProfileState {
    const key = this.options.registry.profileOf(node);
    let profile = this.profiles.get(key);
    if (profile) profile.lastUsedAt = Date.now();
    if (!profile) {
      this.dropIdleProfiles(1);
      profile = this.create(key, node);
      created(profile);
    }
    return profile;
  }

  /** A new, empty profile (in the cache). */
  create(key: string, node: NodeInfo): ProfileState {
    const profile: ProfileState = { key, node, renderer: new SnapshotRenderer(this.options.registry, key, node, this.shared), sessions: new Set(), lastUsedAt: Date.now() };
    this.profiles.set(key, profile);
    return profile;
  }

  attach(session: Session, profile: ProfileState): void {
    this.sessions.add(session);
    profile.sessions.add(session);
    profile.lastUsedAt = Date.now();
  }

  /** Removes a session; returns its profile (if still cached). */
  detach(session: Session): ProfileState | undefined {
    this.sessions.delete(session);
    const profile = this.profiles.get(session.record.profile);
    profile?.sessions.delete(session);
    if (profile) profile.lastUsedAt = Date.now();
    return profile;
  }

  /**
   * Drops the profiles no node has used for PROFILE_IDLE_MS, and, to make room for `adding`
   * more within MAX_PROFILES, the longest idle ones (a profile with a node connected is kept).
   */
  dropIdleProfiles(adding = 0): void {
    const now = Date.now();
    const idle = [...this.profiles.values()].filter((p) => p.sessions.size === 0 && !p.rollout).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    let excess = this.profiles.size + adding - (this.options.maxProfiles ?? MAX_PROFILES);
    for (const profile of idle) {
      if (excess <= 0 && now - profile.lastUsedAt < (this.options.profileIdleMs ?? PROFILE_IDLE_MS)) continue;
      clearTimeout(profile.canaryWait);
      this.profiles.delete(profile.key);
      excess--;
      this.options.logger.log('info', 'idle profile dropped', { profile: profile.key, idleSeconds: Math.round((now - profile.lastUsedAt) / 1000) });
    }
  }

  /** The snapshot a node is served: the candidate for a canary, else the stable one (the newest when there is none yet). */
  servedSnapshot(record: NodeRecord): Snapshot | undefined {
    const profile = this.profiles.get(record.profile);
    if (!profile) return undefined;
    if (profile.rollout?.canaries.has(record)) return profile.snapshot;
    return profile.stable ?? profile.snapshot;
  }

  /** The snapshot pollers (REST) and non-canaries get. */
  stableSnapshot(profile: ProfileState): Snapshot | undefined {
    return profile.stable ?? profile.snapshot;
  }

  /**
   * The route generation a node holds: that of the stable snapshot once the node ACKed it
   * in full (a canary holding only the candidate keeps its older generation until promotion).
   */
  heldGeneration(record: NodeRecord): number | undefined {
    const profile = this.profiles.get(record.profile);
    const stable = profile && this.stableSnapshot(profile);
    if (stable && this.isCurrent(record, stable)) record.heldGeneration = stable.generation;
    return record.heldGeneration;
  }

  /** Whether a node has acknowledged every type it was sent at its profile's current versions. */
  isCurrent(record: NodeRecord, snapshot: Snapshot | undefined = this.servedSnapshot(record)): boolean {
    const kinds = Object.keys(record.sent) as ResourceKind[];
    return (
      snapshot !== undefined &&
      kinds.length > 0 &&
      kinds.every((k) => record.acked[k] === snapshot.types[k].version || (k === 'clusters' && record.acked[k] === snapshot.transitionalClusters?.version))
    );
  }

  /** Whether the profile has a candidate that is neither promoted nor under a rollout (waiting for a node to canary it). */
  waitingForCanary(profile: ProfileState): boolean {
    return !profile.rollout && profile.stable !== undefined && profile.snapshot !== undefined && profile.snapshot !== profile.stable;
  }
}

export function versionsOf(snapshot: Snapshot): Record<ResourceKind, string> {
  return Object.fromEntries(RESOURCE_KINDS.map((k) => [k, snapshot.types[k].version])) as Record<ResourceKind, string>;
}

export function sameVersions(snapshot: Snapshot, versions: Readonly<Record<ResourceKind, string>>): boolean {
  return RESOURCE_KINDS.every((k) => snapshot.types[k].version === versions[k]);
}
