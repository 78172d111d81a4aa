#!/usr/bin/env bash
# Fails the bake unless Envoy, as installed and hardened by the states, can start:
#   1. the binary is the pinned release, the units pass `systemd-analyze verify`;
#   2. edge-write-bootstrap renders a bootstrap from a test bootstrap.env (real IMDSv2, a
#      throwaway token instead of Secrets Manager), and `envoy --mode validate` accepts it;
#   3. envoy.service (the real unit, with its sandboxing) starts, the admin interface answers
#      /server_info on 127.0.0.1, and /ready says 503 while no control plane has configured it,
#      on the admin port and on the readiness listener, both through proxy protocol v2 (as the
#      NLB health check sends it, with edge-ready-signal's own probe) and plainly;
#   4. the throwaway token appears in no log.
# Everything it creates is removed again; envoy.service is left disabled.
set -euo pipefail
: "${ENVOY_VERSION:?ENVOY_VERSION is required}"
: "${EDGE_REGION:?EDGE_REGION is required}"

step() { echo "check-envoy: $*"; }
workdir="$(mktemp -d)"
cleanup() {
  systemctl stop envoy.service >/dev/null 2>&1 || true
  systemctl reset-failed envoy.service >/dev/null 2>&1 || true
  rm -rf -- "$workdir" /etc/envoy/envoy.yaml
}
trap cleanup EXIT

step "binary"
/usr/local/bin/envoy --version | grep -F "$ENVOY_VERSION"

step "units"
systemd-analyze verify /etc/systemd/system/envoy.service /etc/systemd/system/edge-bootstrap.service \
  /etc/systemd/system/edge-ready-signal.service /etc/systemd/system/edge-lifecycle.service
if systemctl is-enabled --quiet envoy.service; then
  echo "check-envoy: envoy.service must not be enabled in the image (user data enables it)" >&2
  exit 1
fi

step "bootstrap writer"
admin_port=9901
readiness_port=8081
cat >"$workdir/bootstrap.env" <<ENV
EDGE_PLATFORM=edge
EDGE_REGION=${EDGE_REGION}
EDGE_NODE_CLUSTER=bake-check
EDGE_CONTROL_PLANE_HOST=127.0.0.1
EDGE_CONTROL_PLANE_PORT=18000
EDGE_CONTROL_PLANE_TLS=false
EDGE_DISCOVERY_TOKEN_SECRET_ARN=arn:aws:secretsmanager:${EDGE_REGION}:000000000000:secret:bake-check
EDGE_HTTPS_TRAFFIC_PORT=8443
EDGE_HTTP_TRAFFIC_PORT=8080
EDGE_READINESS_PORT=${readiness_port}
EDGE_ADMIN_PORT=${admin_port}
ENV
token="bake-check-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s' "$token" >"$workdir/token"
EDGE_BOOTSTRAP_ENV="$workdir/bootstrap.env" EDGE_DISCOVERY_TOKEN_FILE="$workdir/token" \
  /usr/local/bin/edge-write-bootstrap
[[ "$(stat -c '%a %U:%G' /etc/envoy/envoy.yaml)" == "640 root:envoy" ]] || {
  echo "check-envoy: /etc/envoy/envoy.yaml must be 0640 root:envoy" >&2
  exit 1
}

step "validate"
runuser -u envoy -- /usr/local/bin/envoy --mode validate --config-path /etc/envoy/envoy.yaml

step "start"
since="$(date '+%Y-%m-%d %H:%M:%S')"
systemctl start envoy.service
ok=""
for _ in $(seq 1 60); do
  if curl -sSf "http://127.0.0.1:${admin_port}/server_info" -o "$workdir/server_info.json" 2>/dev/null; then
    ok=yes
    break
  fi
  sleep 1
done
if [[ -z "$ok" ]]; then
  journalctl -u envoy.service --since "$since" --no-pager | grep -vF "$token" || true
  echo "check-envoy: envoy.service did not answer on its admin interface within 60s" >&2
  exit 1
fi
grep -qF "/$ENVOY_VERSION/" "$workdir/server_info.json" || {
  echo "check-envoy: /server_info does not report Envoy $ENVOY_VERSION" >&2
  exit 1
}
ready="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${admin_port}/ready")"
[[ "$ready" == "503" ]] || {
  echo "check-envoy: /ready must be 503 before xDS has configured Envoy, got $ready" >&2
  exit 1
}
# The readiness listener the NLB checks: through proxy protocol v2 (edge-ready-signal's probe)
# and plainly. Both reach the admin's /ready, so both must say 503 too.
ready_pp="$(EDGE_BOOTSTRAP_ENV="$workdir/bootstrap.env" EDGE_READY_HOST=127.0.0.1 /usr/local/bin/edge-ready-signal --probe)"
ready_plain="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${readiness_port}/ready")"
[[ "$ready_pp $ready_plain" == "503 503" ]] || {
  echo "check-envoy: the readiness listener must answer /ready (503 now) through proxy protocol v2 and plainly, got $ready_pp and $ready_plain" >&2
  exit 1
}
systemctl is-active --quiet envoy.service

step "no secret in logs"
systemctl stop envoy.service
if journalctl --since "$since" --no-pager | grep -qF "$token"; then
  echo "check-envoy: the discovery token appeared in the journal" >&2
  exit 1
fi
if grep -rqF "$token" /var/log 2>/dev/null; then
  echo "check-envoy: the discovery token appeared under /var/log" >&2
  exit 1
fi
step "ok: Envoy $ENVOY_VERSION validates, starts under envoy.service and answers on 127.0.0.1:${admin_port}"
