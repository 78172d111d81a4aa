/**
 * Static checks of the boot-time bootstrap writer (salt://envoy/files/edge-write-bootstrap):
 * it must use IMDSv2, read the token from Secrets Manager, keep it out of logs and argv, and
 * carry no secret of its own. Its behaviour is tested by running it (test/ami).
 */
export function checkBootstrapScript(text: string, name = 'edge-write-bootstrap'): string[] {
  const problems: string[] = [];
  const code = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n');
  const must: Array<[RegExp, string]> = [
    [/set -euo pipefail/, 'must run with set -euo pipefail'],
    [/-X PUT "\$IMDS\/latest\/api\/token"/, 'must get an IMDSv2 session token (PUT /latest/api/token)'],
    [/X-aws-ec2-metadata-token-ttl-seconds/, 'must request an IMDSv2 token TTL'],
    [/-H "X-aws-ec2-metadata-token: \$imds_token"/, 'must send the IMDSv2 token with every metadata read'],
    [/meta-data\/\$1"|meta-data\/instance-id/, 'must read instance metadata'],
    [/imds_get instance-id/, 'must read the instance id'],
    [/imds_get placement\/availability-zone/, 'must read the availability zone'],
    [/aws secretsmanager get-secret-value/, 'must read the token from Secrets Manager'],
    [/EDGE_DISCOVERY_TOKEN_SECRET_ARN/, 'must take the secret ARN from bootstrap.env'],
    [/\$ENV\.EDGE_TOKEN/, 'must hand the token to jq through the environment, not argv'],
    [/chmod 0640/, 'must write envoy.yaml with mode 0640'],
    [/chown "root:\$ENVOY_GROUP"/, 'must write envoy.yaml owned by root:envoy'],
    [/mv -f -- "\$tmp" "\$CONFIG_FILE"/, 'must replace envoy.yaml atomically'],
    [/admin: \{address: \{pipe: \{path: \$admin_socket, mode: 432\}\}\}/, 'must put the admin interface on a Unix socket (pipe, mode 0660), never on a TCP port'],
    [/layered_runtime: \{layers: \[\{name: "static", static_layer: \{\}\}\]\}/, 'must give the runtime one static layer (an empty list gets an admin layer)'],
    [/http_listener\("readiness"/, 'must declare the static readiness listener'],
    [/http_listener\("stats"; socket\("127\.0\.0\.1"; \$metrics_port\)/, 'must serve the stats the CloudWatch agent scrapes on a loopback listener'],
    [/name: "envoy\.filters\.listener\.proxy_protocol"/, 'must put the proxy_protocol listener filter on the readiness listener (the NLB health checks send proxy protocol v2)'],
    [/allow_requests_without_proxy_protocol: true/, 'must let the readiness listener accept plain connections too'],
    [/name: "envoy\.filters\.http\.health_check"[\s\S]*?pass_through_mode: false[\s\S]*?exact: "\/ready"/, 'must answer GET /ready with the health check filter (not through the admin interface)'],
    [/set_node_on_first_message_only: true/, 'must send the node (with the token) on the first message only'],
  ];
  if (!/^#!(\/usr\/bin\/env bash|\/bin\/bash)\n/.test(text)) problems.push(`${name}: must be a bash script (#!/usr/bin/env bash)`);
  for (const [pattern, rule] of must) if (!pattern.test(code)) problems.push(`${name}: ${rule}`);
  const mustNot: Array<[RegExp, string]> = [
    [/set -x|set -o xtrace|bash -x/, 'must not trace commands (the token would be printed)'],
    [/admin_layer/, 'must not give the runtime an admin layer (/runtime_modify would change a limit every tenant shares)'],
    [/admin: \{address: socket\(/, 'must not put the admin interface on a TCP port'],
    [/(echo|printf)[^\n]*\$\{?(token|secret)\b/, 'must not print the token or the secret'],
    [/log [a-z]+ "[^"\n]*\$\{?(token|secret)\b/, 'must not log the token or the secret'],
    [/--arg(json)? \w+ "\$\{?token/, 'must not pass the token on a command line'],
    [/http:\/\/169\.254\.169\.254\/latest\/meta-data\/[^"\s]*"\s*$/m, 'must not read metadata without the IMDSv2 token'],
    [/AKIA[0-9A-Z]{16}|aws_secret_access_key|BEGIN [A-Z ]*PRIVATE KEY/, 'must not contain credentials'],
    [/(token|secret|password)=["']?[A-Za-z0-9+/]{12,}/i, 'must not contain a literal token'],
  ];
  for (const [pattern, rule] of mustNot) if (pattern.test(code)) problems.push(`${name}: ${rule}`);
  return problems;
}
