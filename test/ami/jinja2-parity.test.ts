import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import YAML from 'yaml';
import { AL2023_AARCH64_GRAINS, renderJinja } from '../../ami/scripts/lib/jinja';
import { amiPaths } from '../../ami/scripts/lib/paths';
import { loadPillar } from '../../ami/scripts/lib/salt-tree';
import { TOOLS, pythonWithJinja2, withTools } from '../support/tools';

/**
 * The offline checks render the tree with nunjucks; Salt renders it with Jinja2. Where Python's
 * jinja2 is installed, every .sls and template is rendered by both and the results compared
 * (as YAML/JSON data where the file is data, as text otherwise).
 */
const describeWithJinja2 = withTools('the Jinja2 parity test', [TOOLS.jinja2]).describe;
const python = pythonWithJinja2();

function templatesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return templatesUnder(path);
    return /\.(sls|j2)$/.test(entry) ? [path] : [];
  });
}

const asData = (name: string, text: string): unknown =>
  name.endsWith('.json.j2') ? JSON.parse(text) : name.endsWith('.sls') || name.endsWith('.yaml.j2') ? YAML.parse(text) : text.trimEnd();

describeWithJinja2('nunjucks renders the Salt tree as Jinja2 does', () => {
  const paths = amiPaths();
  const { pillar } = loadPillar(paths.pillarRoot, AL2023_AARCH64_GRAINS);
  const files = [...templatesUnder(paths.saltRoot), ...templatesUnder(paths.pillarRoot)];
  const saltDir = join(paths.saltRoot, '..');
  const templates = Object.fromEntries(files.map((f) => [relative(saltDir, f), readFileSync(f, 'utf8')]));
  let jinja2: Record<string, { text?: string; error?: string }>;

  beforeAll(() => {
    const result = spawnSync(python as string, [join(__dirname, 'fixtures', 'render_jinja2.py')], {
      input: JSON.stringify({ pillar, grains: AL2023_AARCH64_GRAINS, templates }),
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (result.status !== 0) throw new Error(`render_jinja2.py failed: ${result.stderr}`);
    jinja2 = JSON.parse(result.stdout);
  });

  test('there is something to compare', () => {
    expect(Object.keys(templates).length).toBeGreaterThan(25);
  });

  test.each(files.map((f) => [relative(saltDir, f)]))('%s', (name) => {
    const theirs = jinja2[name];
    expect(theirs.error).toBeUndefined();
    const ours = renderJinja(templates[name], pillar, AL2023_AARCH64_GRAINS, name);
    expect(asData(name, ours)).toEqual(asData(name, theirs.text as string));
  });
});
