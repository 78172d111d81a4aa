import { RenderContext } from '../context';
import { Logger } from '../logger';
import { Metrics } from '../metrics';
import { RESOURCE_KINDS } from '../protos';
import { RenderProblem, Snapshot } from '../snapshot';
import { sameVersions, versionsOf } from '../cache/snapshot-cache';
import { ProfileState } from '../cache/types';

/**
 * What a render of a profile gave:
 * - `failed`: validation rejected the render as a whole; the profile keeps its snapshots;
 * - `held-back`: the candidate a canary halted for a template fault, rendered again from an
 *   equal context (not rolled out again);
 * - `unchanged`: the same versions as the profile's newest snapshot (nothing to push);
 * - `candidate`: a new snapshot, for the rollout stage.
 */
export type RenderStageOutcome =
  | { readonly kind: 'failed'; readonly problems: readonly RenderProblem[] }
  | { readonly kind: 'held-back' }
  | { readonly kind: 'unchanged'; readonly snapshot: Snapshot }
  | { readonly kind: 'candidate'; readonly snapshot: Snapshot; readonly renderMs: number };

/**
 * Stage 2 and 3, render and validate: renders a profile from a context with its
 * SnapshotRenderer (snapshot.ts: templates, strict validation, per-instance isolation),
 * counts and logs it, and says whether the result is a failure, a held-back candidate,
 * unchanged, or a new candidate. It changes no profile state.
 */
export class RenderStage {
  lastRender?: { at: string; ms: number; ok: boolean };
  private readonly reportedExclusions = new Set<string>();

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  render(profile: ProfileState, context: RenderContext): RenderStageOutcome {
    const outcome = profile.renderer.render(context, profile.snapshot);
    this.metrics.renders++;
    this.metrics.lastRenderMs = outcome.renderMs;
    this.metrics.renderMsTotal += outcome.renderMs;
    this.lastRender = { at: new Date().toISOString(), ms: Math.round(outcome.renderMs * 10) / 10, ok: outcome.ok };
    if (!outcome.ok) {
      this.metrics.renderFailures++;
      this.logger.log('error', 'render rejected by validation; nodes keep their last good snapshot', {
        profile: profile.key,
        problems: outcome.problems.slice(0, 20),
      });
      return { kind: 'failed', problems: outcome.problems };
    }
    const snapshot = outcome.snapshot;
    for (const ex of snapshot.excluded) {
      const key = `${profile.key}|${ex.instanceId}|${ex.generation}`;
      if (this.reportedExclusions.has(key)) continue;
      this.reportedExclusions.add(key);
      this.logger.log('error', 'instance excluded: its resources failed validation; the rest of the snapshot is served', {
        profile: profile.key,
        instanceId: ex.instanceId,
        generation: ex.generation,
        problems: ex.problems.slice(0, 10),
      });
    }
    // The candidate a canary halted for a template fault, rendered again from the same context: not retried
    // (while nothing else is on its way out; a newer candidate then is replaced by it and canaried as usual).
    if (profile.heldBack && profile.snapshot === profile.stable && sameVersions(snapshot, profile.heldBack)) return { kind: 'held-back' };
    if (profile.snapshot && profile.snapshotOrigin === 'rendered' && sameVersions(snapshot, versionsOf(profile.snapshot))) return { kind: 'unchanged', snapshot };
    this.logger.log('info', 'snapshot rendered', {
      profile: profile.key,
      seq: snapshot.seq,
      ms: Math.round(outcome.renderMs),
      versions: Object.fromEntries(RESOURCE_KINDS.map((k) => [k, snapshot.types[k].version])),
      routes: context.routes.length,
      excluded: snapshot.excluded.length,
    });
    return { kind: 'candidate', snapshot, renderMs: outcome.renderMs };
  }
}
