import { EncodedResource } from '../snapshot';

type Warning = { instanceId?: string; template: string; message: string };

/** What one per-instance template rendered for one instance revision, validated and encoded. */
export interface SharedRender {
  /** The instance revision, settings and served hostnames it was rendered from (the unit key). */
  readonly key: string;
  readonly resources: readonly EncodedResource[];
  readonly warnings: readonly Warning[];
}

/**
 * Profiles share rendered resources: the resources a per-instance template rendered for an
 * instance revision, kept for every profile of the control plane. A template renders from
 * the context and the node's region only (templates/types.ts: nodes with the same templates
 * and region share a snapshot), so a profile of the same region that applies the same
 * template (Envoy on SotW and on Delta: clusters and endpoints) takes the same encoded
 * resources instead of rendering and validating them again, and both snapshots hold the
 * same objects.
 */
export class SharedUnits {
  /** Instance id -> `template|region` -> its render. */
  private readonly renders = new Map<string, Map<string, SharedRender>>();

  get(template: string, region: string, instanceId: string, key: string): SharedRender | undefined {
    const found = this.renders.get(instanceId)?.get(`${template}|${region}`);
    return found?.key === key ? found : undefined;
  }

  set(template: string, region: string, instanceId: string, render: SharedRender): void {
    let slots = this.renders.get(instanceId);
    if (!slots) this.renders.set(instanceId, (slots = new Map()));
    slots.set(`${template}|${region}`, render);
  }

  /** Forgets an instance that no longer exists (every template and region). */
  forget(instanceId: string): void {
    this.renders.delete(instanceId);
  }

  /** How many instances have renders kept. */
  get size(): number {
    return this.renders.size;
  }
}
