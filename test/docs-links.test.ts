import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * Docs describe what exists: every file a page links to, and every `*.md` file it names, is in
 * the repository (issue 11: pages named CONTRACTS.md and DESIGN.md, which the repository never had).
 */
const ROOT = join(__dirname, '..');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.') || name === 'cdk.out' || name.startsWith('cdk.out.')) return [];
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

const pages = [join(ROOT, 'README.md'), ...markdownFiles(join(ROOT, 'docs'))];
const allMarkdown = new Set(markdownFiles(ROOT).map((p) => p.split('/').pop()));

test.each(pages.map((p) => [relative(ROOT, p)]))('%s links only to files that exist', (page) => {
  const text = readFileSync(join(ROOT, page), 'utf8');
  const broken: string[] = [];
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^(https?:|mailto:|#)/.test(target)) continue;
    const path = target.split('#')[0];
    if (path && !existsSync(join(dirname(join(ROOT, page)), path))) broken.push(target);
  }
  for (const [name] of text.matchAll(/\b[A-Za-z0-9_-]+\.md\b/g)) {
    if (!allMarkdown.has(name)) broken.push(name);
  }
  expect(broken).toEqual([]);
});
