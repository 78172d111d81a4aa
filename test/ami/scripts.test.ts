import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { amiPaths } from '../../ami/scripts/lib/paths';
import { TOOLS, withTools } from '../support/tools';

/** The image's shell scripts: bash syntax always, shellcheck where it is installed. */
const paths = amiPaths();
const SCRIPTS = [
  join(paths.packerDir, 'scripts', 'install-salt.sh'),
  join(paths.packerDir, 'scripts', 'check-envoy.sh'),
  join(paths.packerDir, 'scripts', 'cleanup.sh'),
  join(paths.saltRoot, 'envoy', 'files', 'edge-write-bootstrap'),
  join(paths.saltRoot, 'envoy', 'files', 'edge-ready-signal'),
  join(paths.saltRoot, 'envoy', 'files', 'edge-lifecycle'),
  join(paths.saltRoot, 'envoy', 'files', 'edge-lib.sh'),
  join(paths.saltRoot, 'envoy', 'files', 'edge-envoy'),
  join(paths.saltRoot, 'envoy', 'files', 'edge-refresh-token'),
  join(paths.saltRoot, 'firewall', 'files', 'edge-firewall'),
];
const withShellcheck = withTools('the shellcheck lint of the image scripts', [TOOLS.shellcheck]);

describe('image shell scripts', () => {
  test.each(SCRIPTS.map((s) => [s.slice(paths.packerDir.length - 'packer'.length)]))('%s is valid bash', (script) => {
    const file = SCRIPTS.find((s) => s.endsWith(script)) as string;
    const result = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  withShellcheck.test('shellcheck finds nothing', () => {
    // -x: follow the `source` of edge-lib.sh (found next to the scripts, source-path=SCRIPTDIR).
    const result = spawnSync('shellcheck', ['-x', '-s', 'bash', ...SCRIPTS], { encoding: 'utf8' });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });

  test('every bake script stops on the first error', () => {
    // edge-lib.sh is sourced, never run: the scripts that source it set the options.
    for (const file of SCRIPTS.filter((f) => !f.endsWith('edge-lib.sh'))) {
      expect(readFileSync(file, 'utf8')).toMatch(/^#!\/usr\/bin\/env bash\n[\s\S]*^set -euo pipefail$/m);
    }
  });
});
