import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What each bake script must do (the provisioners' promises), checked on its text; the
 * scripts themselves only run on a build instance.
 */
const RULES: Readonly<Record<string, ReadonlyArray<readonly [RegExp, string]>>> = {
  'install-salt.sh': [
    [/sha256sum --check --strict/, 'must verify the Salt onedir against SALT_ONEDIR_SHA256 before unpacking it'],
    [/salt-call --version \| grep -F "\$SALT_VERSION"/, 'must check the installed Salt is the pinned version'],
  ],
  'check-envoy.sh': [
    [/envoy --version \| grep -F "\$ENVOY_VERSION"/, 'must check the Envoy binary is the pinned version'],
    [/systemd-analyze verify/, 'must verify the systemd units'],
    [/\/usr\/local\/bin\/edge-write-bootstrap/, 'must render the bootstrap with the image\'s own writer'],
    [/envoy --mode validate/, 'must run envoy --mode validate on the rendered bootstrap'],
    [/systemctl start envoy\.service/, 'must start Envoy through its real (hardened) unit'],
    [/--unix-socket "\$ADMIN_SOCKET"/, 'must reach the admin interface on its Unix socket'],
    [/\/server_info/, 'must see the admin interface answer /server_info'],
    [/runuser -u envoy -- bash -c .*imds_token/, 'must check the envoy user cannot reach the instance metadata service (packet filter)'],
    [/runtime_modify/, 'must check /runtime_modify changes nothing'],
    [/kill -HUP .*MainPID/, 'must hot-restart Envoy (SIGHUP to edge-envoy) and watch readiness through it'],
    [/edge-ready-signal --probe/, 'must check the readiness listener answers through proxy protocol v2 (as the NLB health check)'],
    [/grep -qF "\$token"/, 'must check the token appears in no log'],
  ],
  'cleanup.sh': [
    [/cloud-init clean/, 'must clean cloud-init state'],
    [/rm -f \/etc\/ssh\/ssh_host_\*/, 'must remove SSH host keys'],
    [/authorized_keys/, 'must remove authorized keys'],
    [/bash_history/, 'must remove shell history'],
    [/\/var\/log/, 'must empty the logs'],
    [/\/opt\/saltstack/, 'must remove the Salt onedir'],
    [/"\$BAKE_DIR"/, 'must remove the uploaded Salt tree'],
    [/\/etc\/machine-id/, 'must reset the machine id'],
  ],
};

export function checkBakeScripts(packerDir: string): string[] {
  const problems: string[] = [];
  for (const [script, rules] of Object.entries(RULES)) {
    const file = join(packerDir, 'scripts', script);
    if (!existsSync(file)) {
      problems.push(`scripts/${script}: missing`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    if (!/^set -euo pipefail$/m.test(text)) problems.push(`scripts/${script}: must run with set -euo pipefail`);
    for (const [pattern, rule] of rules) if (!pattern.test(text)) problems.push(`scripts/${script}: ${rule}`);
  }
  return problems;
}
