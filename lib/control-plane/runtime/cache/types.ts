import { RenderContext } from '../context';
import { ResourceKind } from '../protos';
import { RenderProblem, Snapshot, SnapshotRenderer } from '../snapshot';
import { NodeInfo } from '../templates';
import { RolloutHealth } from '../canary-health';

/** What the control plane knows about one connected node (shown in /status). */
export interface NodeRecord {
  readonly node: NodeInfo;
  readonly protocol: 'sotw' | 'delta' | 'rest';
  readonly connectedAt: string;
  readonly profile: string;
  /** Version each type was last acknowledged at. */
  readonly acked: Partial<Record<ResourceKind, string>>;
  /** Version each type was last sent at. */
  readonly sent: Partial<Record<ResourceKind, string>>;
  lastNack?: { kind: ResourceKind; version: string; message: string; at: string };
  /** Route generation of the newest snapshot the node was seen to hold in full. */
  heldGeneration?: number;
}

/** A stream that wants to hear about new snapshots of its profile. */
export interface Session {
  readonly record: NodeRecord;
  onSnapshot(): void;
}

/** A new snapshot of a profile on its way out: served to `canaries` only until promoted. */
export interface Rollout {
  generation: number;
  /** Set on a follower of the region's leader: no canary here, promoted once the leader promoted the generation. */
  readonly follows?: string;
  /** The canaries: a canary that leaves is replaced by another node of the profile. */
  readonly canaries: Set<NodeRecord>;
  readonly startedAt: string;
  state: 'waiting-for-acks' | 'soaking';
  timer?: NodeJS.Timeout;
  /** The canaries' health of the changed clusters over HDS (undefined: not health-gated). */
  health?: RolloutHealth;
}

export interface ProfileState {
  readonly key: string;
  readonly node: NodeInfo;
  readonly renderer: SnapshotRenderer;
  /** The newest good snapshot: the candidate while a rollout is under way. */
  snapshot?: Snapshot;
  /** The context `snapshot` was rendered from. */
  rendered?: RenderContext;
  /** What every node outside a rollout's canaries is served (the promoted snapshot, or the persisted one after a restart). */
  stable?: Snapshot;
  stableContext?: RenderContext;
  stableOrigin?: 'rendered' | 'persisted';
  rollout?: Rollout;
  snapshotOrigin?: 'rendered' | 'persisted';
  lastFailure?: { at: string; problems: readonly RenderProblem[] };
  /**
   * The versions of a candidate halted on the canaries with no route change to blame (a
   * template or settings fault): rendering the same candidate again does not roll it out again.
   */
  heldBack?: Readonly<Record<ResourceKind, string>>;
  /** Ends the wait of a candidate for a canary after a restart (see RESTART_CANARY_WAIT_MS). */
  canaryWait?: NodeJS.Timeout;
  /**
   * Set when the context changed while a rollout was under way: the rollout keeps its fixed
   * candidate, and the changes board the next train (rendered when the rollout ends).
   */
  nextTrain?: boolean;
  /** When a node last used the profile (connected, left or polled): idle profiles are dropped. */
  lastUsedAt: number;
  readonly sessions: Set<Session>;
}

/**
 * What the stages share: the current context (from the sources, or the persisted one after a
 * restart), whether the control plane is stopping, and when it started.
 */
export interface CoreState {
  context?: RenderContext;
  contextOrigin?: 'sources' | 'persisted';
  stopped: boolean;
  startedAt: number;
}
