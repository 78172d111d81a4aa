import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../ami/scripts/lib/paths';

/** `npm run ami:validate` as a person runs it (tsx, the real config loading, the exit code). */
function validate(env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'ami/scripts/validate.ts'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
}

describe('npm run ami:validate', () => {
  test('passes on the repository, with a summary', () => {
    const result = validate();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('salt: 22 sls files rendered');
    expect(result.stdout).toContain('packer: template parses as HCL2; builds in us-east-1');
    expect(result.stdout).toContain('ami:validate: ok (13 regions, parameter /edge/ami/envoy/latest)');
  });

  test('fails, naming the variable, when the platform config has other regions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-ami-config-'));
    const file = join(dir, 'edge.json');
    writeFileSync(file, JSON.stringify({ regions: ['us-east-1', 'eu-west-1'] }));
    const result = validate({ EDGE_CONFIG_FILE: file });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('ami:validate: 1 problem(s):');
    expect(result.stderr).toContain('variable "fleet_regions": default');
    expect(result.stderr).toContain('must equal the config\'s regions ["us-east-1","eu-west-1"]');
  });
});
