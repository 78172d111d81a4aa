import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { Grains, Json, renderJinja } from './jinja';

/**
 * Offline model of a Salt state tree: renders top.sls and every state it reaches (Jinja, then
 * YAML), the way `salt-call --local state.apply` would, and checks what can be checked without
 * Salt: state functions, requisites, includes, `salt://` sources and the managed templates.
 */

/** Real Salt state functions the tree may use (module -> functions). */
export const STATE_FUNCTIONS: Readonly<Record<string, readonly string[]>> = {
  archive: ['extracted'],
  cmd: ['run', 'script', 'wait'],
  file: ['managed', 'directory', 'symlink', 'absent', 'append', 'replace', 'line', 'recurse', 'exists', 'copy', 'comment'],
  group: ['present', 'absent'],
  ini: ['options_present', 'options_absent', 'sections_present', 'sections_absent'],
  kmod: ['present', 'absent'],
  module: ['run', 'wait'],
  pkg: ['installed', 'removed', 'purged', 'latest', 'uptodate'],
  service: ['running', 'dead', 'enabled', 'disabled', 'masked', 'unmasked'],
  sysctl: ['present'],
  test: ['succeed_without_changes', 'fail_without_changes', 'succeed_with_changes', 'nop'],
  user: ['present', 'absent'],
};

const REQUISITES = ['require', 'watch', 'onchanges', 'onfail', 'prereq', 'use', 'listen'];
const REQUISITE_KEYS = new Set([...REQUISITES, ...REQUISITES.map((r) => `${r}_in`)]);

export interface StateCall {
  readonly module: string;
  readonly fn: string;
  readonly args: Readonly<Record<string, Json>>;
}

export interface SaltState {
  readonly id: string;
  readonly sls: string;
  readonly file: string;
  readonly calls: readonly StateCall[];
}

/** A file a state manages, with the text it would have on the instance (templates rendered). */
export interface ManagedFile {
  readonly path: string;
  readonly source: string;
  readonly text: string;
  readonly stateId: string;
}

export interface SaltTree {
  readonly sls: readonly string[];
  readonly states: readonly SaltState[];
  readonly files: ReadonlyMap<string, ManagedFile>;
  readonly problems: readonly string[];
}

type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `envoy.user` -> envoy/user.sls or envoy/user/init.sls under root. */
export function slsFile(root: string, sls: string): string | undefined {
  const base = join(root, ...sls.split('.'));
  for (const candidate of [`${base}.sls`, join(base, 'init.sls')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** Reads and renders a .sls into its YAML document. */
function renderSls(file: string, label: string, pillar: Json, grains: Grains): unknown {
  const text = renderJinja(readFileSync(file, 'utf8'), pillar, grains, label);
  try {
    return YAML.parse(text) ?? {};
  } catch (err) {
    throw new Error(`${label}: not valid YAML after rendering: ${(err as Error).message}`);
  }
}

/** The sls names a top file assigns (every environment and target: the bake is masterless). */
export function topSls(root: string, pillar: Json, grains: Grains, problems: string[]): string[] {
  const file = join(root, 'top.sls');
  if (!existsSync(file)) {
    problems.push(`${file}: missing top.sls`);
    return [];
  }
  const doc = renderSls(file, 'top.sls', pillar, grains);
  const names: string[] = [];
  if (!isObject(doc)) {
    problems.push('top.sls: must map environments to targets');
    return names;
  }
  for (const [envName, targets] of Object.entries(doc)) {
    if (!isObject(targets)) {
      problems.push(`top.sls: environment ${envName} must map targets to lists of sls`);
      continue;
    }
    for (const [target, list] of Object.entries(targets)) {
      if (!Array.isArray(list)) problems.push(`top.sls: ${envName}/${target} must be a list of sls names`);
      else for (const item of list) if (typeof item === 'string') names.push(item);
    }
  }
  return names;
}

/** Deep merge for pillar data: objects merge key by key, anything else replaces. */
function mergePillar(base: JsonObject, extra: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? mergePillar(current, value) : value;
  }
  return out;
}

/** Renders the pillar tree (top.sls and the files it lists) into one pillar dictionary. */
export function loadPillar(pillarRoot: string, grains: Grains): { pillar: JsonObject; problems: string[] } {
  const problems: string[] = [];
  let pillar: JsonObject = {};
  try {
    for (const name of topSls(pillarRoot, {}, grains, problems)) {
      const file = slsFile(pillarRoot, name);
      if (!file) {
        problems.push(`pillar top.sls: pillar "${name}" has no file under ${pillarRoot}`);
        continue;
      }
      const doc = renderSls(file, `pillar ${name}`, pillar, grains);
      if (!isObject(doc)) problems.push(`pillar ${name}: must be a mapping`);
      else pillar = mergePillar(pillar, doc);
    }
  } catch (err) {
    problems.push((err as Error).message);
  }
  return { pillar, problems };
}

function resolveInclude(from: string, fromFile: string, name: string): string {
  if (!name.startsWith('.')) return name;
  const pkg = fromFile.endsWith('init.sls') ? from : from.split('.').slice(0, -1).join('.');
  return [pkg, name.replace(/^\.+/, '')].filter(Boolean).join('.');
}

/** Parses one state declaration (`id: {module.fn: [args]}` or `id: {module: [fn, args]}`). */
function parseState(id: string, body: Json, label: string, problems: string[]): StateCall[] {
  if (!isObject(body)) {
    problems.push(`${label}: state "${id}" must be a mapping of module.function to arguments`);
    return [];
  }
  const calls: StateCall[] = [];
  for (const [key, rawArgs] of Object.entries(body)) {
    if (key.startsWith('__')) continue;
    const list = rawArgs === null ? [] : rawArgs;
    if (!Array.isArray(list)) {
      problems.push(`${label}: state "${id}" ${key}: arguments must be a list`);
      continue;
    }
    const [module, declaredFn] = key.split('.', 2);
    let fn = declaredFn;
    const args: Record<string, Json> = {};
    for (const item of list) {
      if (typeof item === 'string' && !fn) fn = item;
      else if (isObject(item) && Object.keys(item).length === 1) Object.assign(args, item);
      else problems.push(`${label}: state "${id}" ${key}: argument ${JSON.stringify(item)} must be a one-key mapping`);
    }
    const known = STATE_FUNCTIONS[module];
    if (!fn) problems.push(`${label}: state "${id}": "${key}" names no function`);
    else if (!known) problems.push(`${label}: state "${id}": "${module}" is not an allowed Salt state module`);
    else if (!known.includes(fn)) problems.push(`${label}: state "${id}": "${module}.${fn}" is not a Salt state function`);
    calls.push({ module, fn: fn ?? '', args });
  }
  return calls;
}

function stateNames(state: SaltState, call: StateCall): string[] {
  const names = [state.id];
  if (typeof call.args.name === 'string') names.push(call.args.name);
  if (Array.isArray(call.args.names)) for (const n of call.args.names) if (typeof n === 'string') names.push(n);
  return names;
}

/** Checks every requisite names a state that exists (by id or name, or an sls). */
function checkRequisites(states: readonly SaltState[], slsNames: ReadonlySet<string>, problems: string[]): void {
  const matches = (module: string | undefined, target: string): boolean =>
    states.some((s) =>
      s.calls.some((c) => (module === undefined || c.module === module) && stateNames(s, c).includes(target)),
    );
  for (const state of states) {
    for (const call of state.calls) {
      for (const [key, value] of Object.entries(call.args)) {
        if (!REQUISITE_KEYS.has(key)) continue;
        const items = Array.isArray(value) ? value : [value];
        for (const item of items) {
          const where = `${state.file}: state "${state.id}" ${key}`;
          if (typeof item === 'string') {
            if (!matches(undefined, item)) problems.push(`${where}: no state with id or name "${item}"`);
          } else if (isObject(item) && Object.keys(item).length === 1) {
            const [module, target] = Object.entries(item)[0];
            if (typeof target !== 'string') problems.push(`${where}: ${module} target must be a string`);
            else if (module === 'sls') {
              if (!slsNames.has(target)) problems.push(`${where}: sls "${target}" is not part of the run`);
            } else if (!matches(module, target)) {
              problems.push(`${where}: no ${module} state with id or name "${target}"`);
            }
          } else {
            problems.push(`${where}: ${JSON.stringify(item)} is not a requisite (id, or module: id-or-name)`);
          }
        }
      }
    }
  }
}

/** Checks sources and renders the files the states manage. */
function checkSources(
  saltRoot: string,
  states: readonly SaltState[],
  pillar: Json,
  grains: Grains,
  problems: string[],
): Map<string, ManagedFile> {
  const files = new Map<string, ManagedFile>();
  for (const state of states) {
    for (const call of state.calls) {
      const where = `${state.file}: state "${state.id}"`;
      const raw = call.args.source;
      const sources = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
      for (const source of sources) {
        if (typeof source !== 'string') {
          problems.push(`${where}: source must be a string`);
          continue;
        }
        if (source.startsWith('salt://')) {
          const rel = source.slice('salt://'.length).split('?')[0];
          const file = join(saltRoot, rel);
          if (!existsSync(file)) {
            problems.push(`${where}: ${source} does not exist (${file})`);
            continue;
          }
          if (call.module === 'file' && call.fn === 'managed') {
            const target = typeof call.args.name === 'string' ? call.args.name : state.id;
            let text = readFileSync(file, 'utf8');
            if (call.args.template === 'jinja') {
              try {
                text = renderJinja(text, pillar, grains, source);
              } catch (err) {
                problems.push(`${where}: ${(err as Error).message}`);
                continue;
              }
            } else if (call.args.template !== undefined) {
              problems.push(`${where}: template "${String(call.args.template)}" is not supported (use jinja)`);
            }
            files.set(target, { path: target, source, text, stateId: state.id });
          }
        } else if (/^https:\/\//.test(source)) {
          const hash = call.args.source_hash;
          if (typeof hash !== 'string' || !/^sha(256|512)=[0-9a-f]{64,128}$/.test(hash)) {
            problems.push(`${where}: remote source ${source} needs source_hash sha256=<64 hex> (or sha512)`);
          }
        } else {
          problems.push(`${where}: source "${source}" must be salt:// or https:// with a source_hash`);
        }
      }
      if (call.module === 'file' && call.fn === 'managed' && typeof call.args.contents === 'string') {
        const target = typeof call.args.name === 'string' ? call.args.name : state.id;
        files.set(target, { path: target, source: '(contents)', text: call.args.contents, stateId: state.id });
      }
    }
  }
  return files;
}

/** Renders the whole state tree for a minion with `grains` and checks it. */
export function renderSaltTree(saltRoot: string, pillar: Json, grains: Grains): SaltTree {
  const problems: string[] = [];
  const states: SaltState[] = [];
  const rendered: string[] = [];
  const seen = new Set<string>();

  const visit = (sls: string, from: string): void => {
    if (seen.has(sls)) return;
    seen.add(sls);
    const file = slsFile(saltRoot, sls);
    if (!file) {
      problems.push(`${from}: sls "${sls}" has no file (${sls.split('.').join('/')}.sls or .../init.sls)`);
      return;
    }
    const label = file.slice(saltRoot.length + 1);
    let doc: unknown;
    try {
      doc = renderSls(file, label, pillar, grains);
    } catch (err) {
      problems.push((err as Error).message);
      return;
    }
    rendered.push(sls);
    if (!isObject(doc)) {
      problems.push(`${label}: must be a mapping of state ids`);
      return;
    }
    const includes = doc.include ?? [];
    if (!Array.isArray(includes)) problems.push(`${label}: include must be a list`);
    else for (const inc of includes) {
      if (typeof inc === 'string') visit(resolveInclude(sls, file, inc), label);
      else problems.push(`${label}: include ${JSON.stringify(inc)} must be an sls name`);
    }
    for (const [id, body] of Object.entries(doc)) {
      if (id === 'include' || id === 'extend') continue;
      const clash = states.find((s) => s.id === id);
      if (clash) problems.push(`${label}: state id "${id}" is already declared in ${clash.file}`);
      states.push({ id, sls, file: label, calls: parseState(id, body, label, problems) });
    }
  };

  try {
    for (const sls of topSls(saltRoot, pillar, grains, problems)) visit(sls, 'top.sls');
  } catch (err) {
    problems.push((err as Error).message);
  }
  checkRequisites(states, new Set(rendered), problems);
  const files = checkSources(saltRoot, states, pillar, grains, problems);
  return { sls: rendered, states, files, problems };
}

/** Every call of a given `module.fn` in the tree, with its state. */
export function callsOf(tree: SaltTree, module: string, fn: string): Array<{ state: SaltState; call: StateCall }> {
  return tree.states.flatMap((state) =>
    state.calls.filter((c) => c.module === module && c.fn === fn).map((call) => ({ state, call })),
  );
}
