import { join, resolve } from 'node:path';

/** Where the image's sources live, relative to the repository root. */
export interface AmiPaths {
  readonly packerDir: string;
  readonly saltRoot: string;
  readonly pillarRoot: string;
}

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** The AMI tree under `root` (the repository's `ami/` by default; tests pass a copy). */
export function amiPaths(root = join(REPO_ROOT, 'ami')): AmiPaths {
  return {
    packerDir: join(root, 'packer'),
    saltRoot: join(root, 'salt', 'salt'),
    pillarRoot: join(root, 'salt', 'pillar'),
  };
}
