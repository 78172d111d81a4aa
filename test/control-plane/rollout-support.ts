/**
 * Hand-built profiles, snapshots and nodes for the rollout stage's unit tests (no renderer, no
 * streams): a snapshot is only what the rollout reads of it (each type's version and its
 * resources' names, versions and owners).
 */
import { RouteDocument } from '../../lib/model';
import { NodeRecord, ProfileState, Session } from '../../lib/control-plane/runtime/cache/types';
import { RenderContext } from '../../lib/control-plane/runtime/context';
import { RESOURCE_KINDS, ResourceKind } from '../../lib/control-plane/runtime/protos';
import { Snapshot } from '../../lib/control-plane/runtime/snapshot';
import { envoyNode, routeDocument } from '../support/fixtures';

export const PROFILE = 'p';

/** A resource of a snapshot: its name, version and the instances it is rendered from. */
export type FakeResource = readonly [name: string, version: string, instanceIds: readonly string[]];

/** A snapshot of route generation `generation` with these resources (each type's version: its resources' names and versions). */
export function snapshot(generation: number, resources: Partial<Record<ResourceKind, readonly FakeResource[]>> = {}): Snapshot {
  const types = Object.fromEntries(
    RESOURCE_KINDS.map((kind) => {
      const list = resources[kind] ?? [];
      const map = new Map(list.map(([name, version, instanceIds]) => [name, { name, version, json: {}, any: new Uint8Array(), deltaEntry: new Uint8Array(), template: `${kind}.tpl`, instanceIds }]));
      return [kind, { kind, typeUrl: kind, version: list.map(([n, v]) => `${n}@${v}`).join(',') || 'empty', resources: map, cache: new Map() }];
    }),
  );
  return { profile: PROFILE, seq: generation, createdAt: '', generation, types, excluded: [], warnings: [] } as unknown as Snapshot;
}

/** A context with these routes ([instance id, generation]). */
export function context(...routes: ReadonlyArray<readonly [string, number]>): RenderContext {
  return { settings: {} as RenderContext['settings'], routes: routes.map(([id, generation]) => routeDocument(id, { generation })) };
}

export function route(id: string, generation: number): RouteDocument {
  return routeDocument(id, { generation });
}

export function record(id: string, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return { node: envoyNode({ id }), protocol: 'sotw', connectedAt: '', profile: PROFILE, acked: {}, sent: {}, ...overrides };
}

export interface FakeSession extends Session {
  readonly onSnapshot: jest.Mock;
}

export function session(rec: NodeRecord): FakeSession {
  return { record: rec, onSnapshot: jest.fn() };
}

/** Makes the node hold `snap` in full: every type sent and ACKed at its version. */
export function hold(rec: NodeRecord, snap: Snapshot): void {
  for (const kind of RESOURCE_KINDS) {
    (rec.sent as Record<string, string>)[kind] = snap.types[kind].version;
    (rec.acked as Record<string, string>)[kind] = snap.types[kind].version;
  }
}

export function profile(fields: Partial<ProfileState> = {}): ProfileState {
  return { key: PROFILE, node: envoyNode(), renderer: undefined as unknown as ProfileState['renderer'], sessions: new Set(), lastUsedAt: 0, ...fields };
}
