import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AmiPaths, REPO_ROOT, amiPaths } from '../../ami/scripts/lib/paths';

/** A throwaway copy of ami/ that a test may break; remove() deletes it. */
export interface AmiCopy extends AmiPaths {
  readonly root: string;
  edit(relative: string, change: (text: string) => string): void;
  remove(): void;
}

export function copyAmiTree(): AmiCopy {
  const root = join(mkdtempSync(join(tmpdir(), 'edge-ami-test-')), 'ami');
  cpSync(join(REPO_ROOT, 'ami'), root, { recursive: true });
  return {
    ...amiPaths(root),
    root,
    edit(relative, change) {
      const file = join(root, relative);
      const before = readFileSync(file, 'utf8');
      const after = change(before);
      if (after === before) throw new Error(`test edit of ${relative} changed nothing`);
      writeFileSync(file, after);
    },
    remove() {
      rmSync(join(root, '..'), { recursive: true, force: true });
    },
  };
}
