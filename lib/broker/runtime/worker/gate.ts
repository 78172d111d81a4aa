import { ConvergenceReport, RegionProgress, RejectedChange, regionProgress } from '../../../model';
import { ConvergenceSettings } from '../settings';

/** What the gate asks: has `generation` (which carries the instance's change) reached the edge in `regions`? */
export interface GateQuestion {
  readonly instanceId: string;
  readonly generation: number;
  readonly regions: readonly string[];
  /** Whether a rejection fails the change (a deprovision's tombstone is never rejected). */
  readonly rejectable: boolean;
}

export type GateVerdict =
  | { readonly kind: 'converged'; readonly summary: string }
  | { readonly kind: 'waiting'; readonly progress: string }
  | { readonly kind: 'rejected'; readonly reason: string; readonly region: string; readonly rejection: RejectedChange };

const count = (n: number) => n.toLocaleString('en-US');
const plural = (n: number, one: string, many: string) => `${count(n)} ${n === 1 ? one : many}`;

/** Names a few regions, or counts many. */
function regionList(regions: readonly string[], max = 3): string {
  if (regions.length <= max) return regions.join(', ');
  return plural(regions.length, 'region', 'regions');
}

function describeRejection(region: string, rejected: RejectedChange): string {
  const how =
    rejected.source === 'validation'
      ? 'the control plane refused to render it'
      : rejected.source === 'nack'
        ? `NACKed by ${plural(rejected.nodes, 'proxy', 'proxies')}`
        : `the canary's health dropped on ${plural(rejected.nodes, 'proxy', 'proxies')}`;
  return `rejected by the edge in ${region}: ${rejected.reason} (${how}, generation ${rejected.generation})`;
}

/** Share of connected proxies a region needs; the epsilon keeps 0.1 x 30 from rounding up to 4. */
export function requiredProxies(connected: number, fraction: number): number {
  return Math.ceil(fraction * connected - 1e-9);
}

/** What the edge did with a change that passed the gate, for the operation's final description. */
function convergedSummary(progress: readonly RegionProgress[], accepted: number, connected: number, empty: readonly string[], settings: ConvergenceSettings): string {
  const notes: string[] = [];
  if (connected) {
    const serving = progress.filter((p) => p.connected > 0).map((p) => p.region);
    const where = empty.length ? regionList(serving) : plural(serving.length, 'region', 'regions');
    notes.push(`accepted by ${count(accepted)} of ${plural(connected, 'proxy', 'proxies')} in ${where}`);
    if (settings.fraction < 1) notes.push(`${Math.round(settings.fraction * 1000) / 10}% needed per region`);
  }
  if (empty.length && settings.emptyRegion === 'pass') {
    notes.push(connected ? `no proxies connected yet in ${regionList(empty)} (they get it when they connect)` : 'no proxy is connected in any of them yet (proxies get it when they connect)');
  }
  return notes.join('; ') || 'no regions to wait for';
}

/**
 * The convergence gate, as a pure function of the reports: rejected if any region's
 * fresh reports reject the instance's change at or after `generation`; converged once
 * every region holds it on at least `ceil(fraction x connected)` proxies (a region with
 * no connected proxies passes or waits by the empty-region rule); else waiting, with
 * progress a person can read.
 */
export function judgeConvergence(question: GateQuestion, reports: readonly ConvergenceReport[], settings: ConvergenceSettings, now = new Date()): GateVerdict {
  const progress: RegionProgress[] = question.regions.map((region) => regionProgress(region, reports, question.instanceId, question.generation, now));
  if (question.rejectable) {
    const rejected = progress.find((p) => p.rejection);
    if (rejected?.rejection) return { kind: 'rejected', region: rejected.region, rejection: rejected.rejection, reason: describeRejection(rejected.region, rejected.rejection) };
  }

  let accepted = 0;
  let connected = 0;
  const empty: string[] = [];
  const lagging: string[] = [];
  for (const p of progress) {
    if (p.connected === 0) {
      empty.push(p.region);
      if (settings.emptyRegion === 'wait') lagging.push(`${p.region} (no proxies connected yet)`);
      continue;
    }
    connected += p.connected;
    accepted += Math.min(p.accepted, p.connected);
    const pinned = p.pinned ? `; pinned by an operator since ${p.pinned.since}: ${p.pinned.reason}` : '';
    if (p.accepted < requiredProxies(p.connected, settings.fraction)) lagging.push(`${p.region} (${count(p.accepted)} of ${count(p.connected)}${pinned})`);
  }

  // "accepted by 0 of 0 proxies" says nothing: with no proxies anywhere only the notes speak.
  const notes: string[] = connected ? [`accepted by ${count(accepted)} of ${plural(connected, 'proxy', 'proxies')} in ${plural(question.regions.length, 'region', 'regions')}`] : [];
  if (settings.fraction < 1) notes.push(`${Math.round(settings.fraction * 1000) / 10}% needed per region`);
  if (empty.length && settings.emptyRegion === 'pass') notes.push(`no proxies connected in ${regionList(empty)}`);
  if (!lagging.length) return { kind: 'converged', summary: convergedSummary(progress, accepted, connected, empty, settings) };
  notes.push(lagging.length <= 3 ? `waiting on ${lagging.join(', ')}` : `${count(lagging.length)} regions lagging`);
  return { kind: 'waiting', progress: notes.join('; ') };
}
