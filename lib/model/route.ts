import { ServiceParameters } from './service-parameters';

/**
 * How one provisioned instance is served: what the broker's worker writes and every
 * regional control plane reads. `spec` holds parameters that passed the published
 * schema, with `regions` resolved (never empty).
 */
export interface RouteDocument {
  readonly instanceId: string;
  /** Catalog plan name: `standard` or `cdn`. */
  readonly plan: string;
  /** Advances on every write of any route (see table.ts); the control plane's change cursor. */
  readonly generation: number;
  /** A deleted route stays as a tombstone so that readers by generation see the removal. */
  readonly deleted: boolean;
  readonly spec: ServiceParameters & { readonly regions: readonly string[] };
  /** ISO-8601 time of the write. */
  readonly updatedAt: string;
}

/** The name every xDS resource of an instance derives from: stable across renders. */
export function resourceBaseName(instanceId: string): string {
  return `svc-${instanceId.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`;
}
