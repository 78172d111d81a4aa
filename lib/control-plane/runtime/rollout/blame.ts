import { RouteDocument, resourceBaseName } from '../../../model';
import { NodeRecord, ProfileState } from '../cache/types';

/**
 * Who is to blame for a rejection (pure: reads the profile, changes nothing):
 * - `render-fault`: no route change explains it (a template or settings fault);
 * - `changes`: these instances' changes (possibly none: nobody to blame).
 */
export type Verdict = { readonly kind: 'render-fault' } | { readonly kind: 'changes'; readonly routes: readonly RouteDocument[] };

/** Each instance's route generation in the stable context. */
function stableGenerations(profile: ProfileState): Map<string, number> {
  return new Map((profile.stableContext?.routes ?? []).map((r) => [r.instanceId, r.generation]));
}

/**
 * The instances a message names. An instance's resources are named `svc-<id>` and
 * `svc-<id>-<suffix>` (`-<n>` routes, `-authz`), and ids may hold '-': each `svc-...` word is
 * read as the longest base name of an instance of the context that is the word or starts it
 * before a '-' (`svc-a-b` names instance `a-b` when there is one, else `a`).
 */
function namedInstances(message: string, routes: readonly RouteDocument[]): Set<string> {
  // Two ids can share a base name (resourceBaseName lowercases and replaces other characters): both are named.
  const byBase = new Map<string, string[]>();
  for (const r of routes) {
    const base = resourceBaseName(r.instanceId);
    byBase.set(base, [...(byBase.get(base) ?? []), r.instanceId]);
  }
  const named = new Set<string>();
  for (const [word] of message.matchAll(/(?<![a-z0-9-])svc-[a-z0-9-]+/g)) {
    for (let end = word.length; end > 'svc-'.length; end = word.lastIndexOf('-', end - 1)) {
      const ids = byBase.get(word.slice(0, end));
      if (ids) {
        for (const id of ids) named.add(id);
        break;
      }
    }
  }
  return named;
}

/**
 * A node NACKed a response. Blame is per resource: the changed instances the error_detail
 * names; else the owners of the resources of the rejected type that changed in what the node
 * was sent. A canary's rejection no changed instance explains is a render fault. A node that
 * is not a canary blames the changes newer than what it holds in full (none if it never held
 * a snapshot in full: then it is the node's problem).
 */
export function nackVerdict(profile: ProfileState, record: NodeRecord, message: string): Verdict {
  const canary = profile.rollout?.canaries.has(record) ?? false;
  const held = record.heldGeneration;
  const context = canary ? profile.rendered : (profile.stableContext ?? profile.rendered);
  const stable = stableGenerations(profile);
  const candidates = (context?.routes ?? []).filter((r) => (canary ? stable.get(r.instanceId) !== r.generation : held === undefined || r.generation > held));
  const names = namedInstances(message, context?.routes ?? []);
  const named = candidates.filter((r) => names.has(r.instanceId));
  if (!canary) return { kind: 'changes', routes: held === undefined ? [] : named.length > 0 ? named : candidates };
  const kind = record.lastNack?.kind;
  const owners = new Set<string>();
  if (kind && profile.snapshot) {
    for (const res of profile.snapshot.types[kind].resources.values())
      if (profile.stable?.types[kind].resources.get(res.name)?.version !== res.version) for (const id of res.instanceIds) owners.add(id);
  }
  const blamed = named.length > 0 ? named : candidates.filter((r) => owners.has(r.instanceId));
  if (profile.rollout && blamed.length === 0) return { kind: 'render-fault' };
  return { kind: 'changes', routes: blamed };
}

/**
 * A canary's health dropped: the changed instances among `blamed` (when it names any), else
 * every change of the candidate. Unhealthy clusters of instances whose route did not change
 * (or no route change at all): the render is at fault.
 */
export function healthVerdict(profile: ProfileState, blamed?: ReadonlySet<string>): Verdict {
  const stable = stableGenerations(profile);
  const routes = profile.rendered?.routes ?? [];
  const all = routes.filter((r) => stable.get(r.instanceId) !== r.generation);
  if (all.length === 0 || routes.some((r) => blamed?.has(r.instanceId) && stable.get(r.instanceId) === r.generation)) return { kind: 'render-fault' };
  const named = blamed ? all.filter((r) => blamed.has(r.instanceId)) : [];
  return { kind: 'changes', routes: named.length > 0 ? named : all };
}
