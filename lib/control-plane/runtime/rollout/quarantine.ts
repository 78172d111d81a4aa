import { RejectedChange, RouteDocument } from '../../../model';

/**
 * The changes the proxies rejected and what is served instead: a pure record, no timers and
 * no I/O. A rejected instance generation is quarantined: until the instance has a newer
 * generation, its last promoted generation (or the one before, if that is the rejected one)
 * is served, or nothing if it never had one.
 */
export class Quarantine {
  /** Changes the proxies rejected (NACK, canary health), by instance. */
  readonly rejections = new Map<string, RejectedChange>();
  /** Instance generations held back after a rejection. */
  private readonly held = new Map<string, number>();
  /** The route of each instance in the last promoted context, and the one before it. */
  private readonly promoted = new Map<string, { current: RouteDocument; prior?: RouteDocument }>();

  /**
   * The routes to serve: the last promoted generation of each quarantined instance (or none);
   * a newer generation of the instance lifts its quarantine, and its old rejection.
   */
  apply(served: readonly RouteDocument[]): RouteDocument[] {
    const byId = new Map(served.map((r) => [r.instanceId, r]));
    for (const id of [...this.held.keys()]) if (!byId.has(id)) this.held.delete(id);
    for (const [id, rejection] of [...this.rejections]) {
      const route = byId.get(id);
      if (!route || route.generation > rejection.generation) this.rejections.delete(id);
    }
    for (const id of [...this.promoted.keys()]) if (!byId.has(id)) this.promoted.delete(id);
    const out: RouteDocument[] = [];
    for (const route of served) {
      const held = this.held.get(route.instanceId);
      if (held === undefined) out.push(route);
      else if (route.generation > held) {
        this.held.delete(route.instanceId);
        out.push(route);
      } else {
        const promoted = this.promoted.get(route.instanceId);
        const fallback = [promoted?.current, promoted?.prior].find((r) => r !== undefined && r.generation < held);
        if (fallback) out.push(fallback);
      }
    }
    return out;
  }

  /** Records a rejection of the route's generation (counting the nodes that rejected it) and quarantines it. */
  reject(route: RouteDocument, source: RejectedChange['source'], reason: string): RejectedChange {
    const prior = this.rejections.get(route.instanceId);
    const nodes = prior && prior.generation === route.generation ? prior.nodes + 1 : 1;
    const change: RejectedChange = { generation: route.generation, source, reason, nodes };
    this.rejections.set(route.instanceId, change);
    this.held.set(route.instanceId, route.generation);
    return change;
  }

  /** The routes of a promoted context: each instance's fallback if a later generation is rejected. */
  promote(routes: readonly RouteDocument[]): void {
    for (const route of routes) {
      const held = this.promoted.get(route.instanceId);
      if (!held || held.current.generation !== route.generation) this.promoted.set(route.instanceId, { current: route, prior: held?.current });
    }
  }

  /** Seeds the promoted routes (from a persisted snapshot's context, after a restart). */
  remember(routes: readonly RouteDocument[]): void {
    for (const route of routes) this.promoted.set(route.instanceId, { current: route });
  }
}
