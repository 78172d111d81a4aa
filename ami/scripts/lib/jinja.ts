import nunjucks from 'nunjucks';

/**
 * Salt renders .sls files and `template: jinja` sources with Jinja2. nunjucks implements the
 * Jinja2 syntax the tree uses (set, for/dictsort, if, ~, filters, whitespace control), so the
 * tree is rendered offline with it, with the Salt globals the tree uses: `pillar`, `grains`
 * and `salt['pillar.get']`. Undefined names throw, like Salt's StrictUndefined.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Grains = Record<string, string | number>;

/** Grains of the image's one supported platform: Amazon Linux 2023 on Graviton. */
export const AL2023_AARCH64_GRAINS: Grains = {
  os: 'Amazon',
  os_family: 'RedHat',
  osrelease: '2023',
  osmajorrelease: 2023,
  osfinger: 'Amazon Linux-2023',
  cpuarch: 'aarch64',
  kernel: 'Linux',
  init: 'systemd',
};

/** A platform the tree must refuse (render to a failing guard state, not half-apply). */
export const UBUNTU_AMD64_GRAINS: Grains = {
  os: 'Ubuntu',
  os_family: 'Debian',
  osrelease: '24.04',
  osmajorrelease: 24,
  osfinger: 'Ubuntu-24.04',
  cpuarch: 'x86_64',
  kernel: 'Linux',
  init: 'systemd',
};

/** salt['pillar.get']('a:b:c', default): colon-delimited lookup, default when missing. */
export function pillarGet(pillar: Json, key: string, fallback: Json = ''): Json {
  let node: Json | undefined = pillar;
  for (const part of key.split(':')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !(part in node)) return fallback;
    node = node[part];
  }
  return node === undefined ? fallback : node;
}

const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true, trimBlocks: false });
env.addFilter('tojson', (value: unknown) => JSON.stringify(value));

/** Renders one Jinja template as Salt would, for a minion with `grains` and `pillar`. */
export function renderJinja(source: string, pillar: Json, grains: Grains, name = 'template'): string {
  const context = {
    pillar,
    grains,
    salt: { 'pillar.get': (key: string, fallback?: Json) => pillarGet(pillar, key, fallback ?? '') },
  };
  try {
    return env.renderString(source, context);
  } catch (err) {
    throw new Error(`${name}: Jinja render failed: ${(err as Error).message}`);
  }
}
