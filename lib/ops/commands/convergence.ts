import { CONVERGENCE_REPORT_TTL_SECONDS, CanaryState, RegionPin, RejectedChange } from '../../model';
import { Target } from '../target';
import { readPins } from './pin';

/** How often a control plane task rewrites its report when nothing changes (the reporter's default heartbeat). */
export const REPORT_HEARTBEAT_SECONDS = 10;

export interface TaskView {
  readonly taskId: string;
  readonly reportedAt: string;
  readonly ageSeconds: number;
  /** Older than the heartbeat: the task may be gone or unable to write. */
  readonly late: boolean;
  /** Older than CONVERGENCE_REPORT_TTL_SECONDS: the broker's gate ignores it. */
  readonly ignoredByGate: boolean;
  readonly stableGeneration: number;
  readonly connectedNodes: number;
  /** Nodes per generation they hold, `[generation, nodes]`, lowest first. */
  readonly nodesByGeneration: ReadonlyArray<readonly [number, number]>;
  readonly canary?: CanaryState;
  readonly rejected: Readonly<Record<string, RejectedChange>>;
  readonly pinned?: { readonly reason: string; readonly since: string };
}

export interface RegionView {
  readonly region: string;
  /** The pin in the table (what the tasks obey from their next poll). */
  readonly pin?: RegionPin;
  /** Connected nodes over the tasks the gate still counts. */
  readonly connectedNodes: number;
  readonly tasks: readonly TaskView[];
}

export async function convergence(target: Target, only: string | undefined, heartbeatSeconds = REPORT_HEARTBEAT_SECONDS, now = Date.now()): Promise<RegionView[]> {
  const reports = await target.store.convergenceReports();
  const pins = await readPins(target);
  const regions = new Map<string, { pin?: RegionPin; tasks: TaskView[] }>();
  const regionOf = (name: string) => {
    let entry = regions.get(name);
    if (!entry) regions.set(name, (entry = { tasks: [] }));
    return entry;
  };
  for (const pin of pins) regionOf(pin.region).pin = pin;
  for (const report of reports) {
    const ageSeconds = Math.max(0, Math.round((now - Date.parse(report.reportedAt)) / 100) / 10);
    regionOf(report.region).tasks.push({
      taskId: report.taskId,
      reportedAt: report.reportedAt,
      ageSeconds,
      late: ageSeconds > heartbeatSeconds,
      ignoredByGate: ageSeconds > CONVERGENCE_REPORT_TTL_SECONDS,
      stableGeneration: report.stableGeneration,
      connectedNodes: report.connectedNodes,
      nodesByGeneration: [...report.ackedGenerations].sort((a, b) => a[0] - b[0]),
      canary: report.canary,
      rejected: report.rejected,
      pinned: report.pinned,
    });
  }
  return [...regions.entries()]
    .filter(([region]) => only === undefined || region === only)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([region, entry]) => ({
      region,
      pin: entry.pin,
      connectedNodes: entry.tasks.filter((t) => !t.ignoredByGate).reduce((sum, t) => sum + t.connectedNodes, 0),
      tasks: entry.tasks.sort((a, b) => (a.taskId < b.taskId ? -1 : 1)),
    }));
}

export function formatConvergence(regions: readonly RegionView[], only: string | undefined): string {
  if (!regions.length) return only ? `${only}: no control plane report and no pin\n` : 'no control plane reports and no pins\n';
  const lines: string[] = [];
  for (const region of regions) {
    const pin = region.pin ? `  PINNED since ${region.pin.since}${region.pin.by ? ` by ${region.pin.by}` : ''}: ${region.pin.reason}` : '';
    lines.push(`${region.region}: ${region.connectedNodes} connected node(s), ${region.tasks.length} task report(s)${pin}`);
    if (!region.tasks.length) lines.push('  no task has reported (no control plane running, or none able to write)');
    for (const task of region.tasks) {
      const flag = task.ignoredByGate ? '  STALE: ignored by the gate' : task.late ? '  LATE: older than the heartbeat' : '';
      lines.push(`  task ${task.taskId}: reported ${task.ageSeconds}s ago${flag}`);
      const held = task.nodesByGeneration.length ? task.nodesByGeneration.map(([g, n]) => `gen ${g}: ${n}`).join(', ') : 'none';
      lines.push(`    ${task.connectedNodes} connected, stable generation ${task.stableGeneration}, nodes per generation: ${held}`);
      if (task.canary) {
        const c = task.canary;
        lines.push(`    canary: generation ${c.generation} ${c.state}, ${c.acked} of ${c.nodes} canaries ACKed, since ${c.startedAt}${c.reason ? ` (${c.reason})` : ''}`);
      }
      if (task.pinned) lines.push(`    serving its last good snapshot: pinned since ${task.pinned.since}: ${task.pinned.reason}`);
      else if (region.pin) lines.push('    not yet obeying the pin (takes effect at its next poll)');
      for (const [instanceId, r] of Object.entries(task.rejected)) {
        lines.push(`    rejected ${instanceId} generation ${r.generation} (${r.source}, ${r.nodes} node(s)): ${r.reason}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
