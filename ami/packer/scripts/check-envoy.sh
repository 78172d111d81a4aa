#!/usr/bin/env bash
# Fails the bake unless Envoy, as installed and hardened by the states, can start and keeps the
# image's promises (docs/ami.md, "Bake check"):
#   1. the binary is the pinned release, the units pass `systemd-analyze verify`;
#   2. edge-write-bootstrap renders a bootstrap from a test bootstrap.env (real IMDSv2, a
#      throwaway token instead of Secrets Manager), and `envoy --mode validate` accepts it;
#   3. envoy.service (the real unit, with its sandboxing) starts edge-envoy and Envoy, after
#      edge-firewall.service loaded the envoy user's packet filter: the envoy user cannot reach the
#      instance metadata service, root still can;
#   4. the admin interface answers on its Unix socket only (admin.sock -> admin.0.sock, group
#      envoy-admin, 0660), /ready is 503 while no control plane configured Envoy, and neither the
#      readiness listener nor the stats port answers 200;
#   5. with a static copy of the bootstrap (no xDS, so Envoy initialises at once): the readiness
#      listener answers 200 through proxy protocol v2 (edge-ready-signal's probe) and plainly,
#      the stats listener serves /stats/prometheus and nothing else, /runtime_modify changes
#      nothing (no admin layer); a hot restart (SIGHUP to edge-envoy) moves admin.sock to
#      epoch 1 while every readiness probe keeps answering 200; /healthcheck/fail turns it 503;
#   6. the throwaway token appears in no log.
# Everything it creates is removed again; envoy.service is left disabled.
set -euo pipefail
: "${ENVOY_VERSION:?ENVOY_VERSION is required}"
: "${EDGE_REGION:?EDGE_REGION is required}"

step() { echo "check-envoy: $*"; }
die() {
  echo "check-envoy: $*" >&2
  exit 1
}
readonly ADMIN_SOCKET=/run/envoy-admin/admin.sock
readonly METRICS_PORT=9901
readonly READINESS_PORT=8081
workdir="$(mktemp -d)"
prober=""
cleanup() {
  [[ -z "$prober" ]] || kill "$prober" 2>/dev/null || true
  systemctl stop envoy.service edge-firewall.service >/dev/null 2>&1 || true
  systemctl reset-failed envoy.service edge-firewall.service >/dev/null 2>&1 || true
  nft delete table inet edge_egress >/dev/null 2>&1 || true
  rm -rf -- "$workdir" /etc/envoy/envoy.yaml /etc/edge/bootstrap.env
}
trap cleanup EXIT
admin() { curl -sS --max-time 5 --unix-socket "$ADMIN_SOCKET" "$@"; }
admin_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$ADMIN_SOCKET" "$@" || true; }
# As the NLB asks: a proxy protocol v2 header, then GET /ready (edge-ready-signal's own probe).
readiness_pp() { EDGE_READY_HOST=127.0.0.1 /usr/local/bin/edge-ready-signal --probe; }
readiness_plain() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${READINESS_PORT}/ready" || true; }
wait_for() { # seconds, description, command...
  local seconds="$1" what="$2"
  shift 2
  for _ in $(seq 1 "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  journalctl -u envoy.service -u edge-firewall.service --since "$since" --no-pager | grep -vF "$token" || true
  die "$what did not happen within ${seconds}s"
}

step "binary"
/usr/local/bin/envoy --version | grep -F "$ENVOY_VERSION"

step "units"
systemd-analyze verify /etc/systemd/system/envoy.service /etc/systemd/system/edge-bootstrap.service \
  /etc/systemd/system/edge-ready-signal.service /etc/systemd/system/edge-lifecycle.service \
  /etc/systemd/system/edge-firewall.service /etc/systemd/system/edge-token-refresh.service \
  /etc/systemd/system/edge-token-refresh.timer
if systemctl is-enabled --quiet envoy.service; then
  die "envoy.service must not be enabled in the image (user data enables it)"
fi
systemctl is-enabled --quiet edge-token-refresh.timer || die "edge-token-refresh.timer must be enabled"

step "bootstrap writer"
# bootstrap.env where the units read it (edge-firewall does); the trap removes it again.
cat >/etc/edge/bootstrap.env <<ENV
EDGE_PLATFORM=edge
EDGE_REGION=${EDGE_REGION}
EDGE_NODE_CLUSTER=bake-check
EDGE_CONTROL_PLANE_HOST=127.0.0.1
EDGE_CONTROL_PLANE_PORT=18000
EDGE_CONTROL_PLANE_TLS=false
EDGE_DISCOVERY_TOKEN_SECRET_ARN=arn:aws:secretsmanager:${EDGE_REGION}:000000000000:secret:bake-check
EDGE_VPC_CIDR=10.255.0.0/16
EDGE_HTTPS_TRAFFIC_PORT=8443
EDGE_HTTP_TRAFFIC_PORT=8080
EDGE_READINESS_PORT=${READINESS_PORT}
EDGE_METRICS_PORT=${METRICS_PORT}
ENV
token="bake-check-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s' "$token" >"$workdir/token"
EDGE_DISCOVERY_TOKEN_FILE="$workdir/token" /usr/local/bin/edge-write-bootstrap
[[ "$(stat -c '%a %U:%G' /etc/envoy/envoy.yaml)" == "640 root:envoy" ]] || die "/etc/envoy/envoy.yaml must be 0640 root:envoy"

step "validate"
runuser -u envoy -- /usr/local/bin/envoy --mode validate --config-path /etc/envoy/envoy.yaml

step "start (packet filter first)"
since="$(date '+%Y-%m-%d %H:%M:%S')"
systemctl start envoy.service
systemctl is-active --quiet edge-firewall.service || die "envoy.service started without edge-firewall.service"
nft list table inet edge_egress >/dev/null || die "the envoy user's packet filter is not loaded"
wait_for 60 "the admin interface answering on its socket" admin -f -o "$workdir/server_info.json" http://envoy-admin/server_info
grep -qF "/$ENVOY_VERSION/" "$workdir/server_info.json" || die "/server_info does not report Envoy $ENVOY_VERSION"

step "packet filter"
imds_token() { curl -sSf --max-time 3 -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60'; }
if runuser -u envoy -- bash -c "$(declare -f imds_token); imds_token" >/dev/null 2>&1; then
  die "the envoy user reached the instance metadata service"
fi
imds_token >/dev/null || die "root must still reach the instance metadata service"

step "admin interface: a Unix socket only"
[[ "$(readlink "$ADMIN_SOCKET")" == admin.0.sock ]] || die "$ADMIN_SOCKET must point at epoch 0's socket"
[[ "$(stat -c '%a %G' /run/envoy-admin/admin.0.sock)" == "660 envoy-admin" ]] || die "the admin socket must be 0660, group envoy-admin"
[[ "$(admin_code http://envoy-admin/ready)" == 503 ]] || die "admin /ready must be 503 before xDS has configured Envoy"
# Before Envoy initialised no listener answers; the readiness probe reads nothing (000) or 503.
ready_pp="$(readiness_pp)"
ready_plain="$(readiness_plain)"
[[ "$ready_pp" != 200 && "$ready_plain" != 200 ]] || die "the readiness listener must not answer 200 before xDS configured Envoy, got $ready_pp and $ready_plain"
[[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${METRICS_PORT}/server_info" || true)" != 200 ]] || die "the admin interface must not answer on TCP ${METRICS_PORT}"

step "initialised (a static bootstrap: no xDS)"
jq 'del(.dynamic_resources, .hds_config) | .static_resources.clusters |= map(select(.name != "xds_cluster"))' \
  /etc/envoy/envoy.yaml >"$workdir/static.yaml"
install -m 0640 -o root -g envoy "$workdir/static.yaml" /etc/envoy/envoy.yaml
systemctl restart envoy.service
wait_for 60 "Envoy (static) ready" bash -c "[[ \"\$(curl -s --max-time 5 --unix-socket $ADMIN_SOCKET http://envoy-admin/ready)\" == LIVE* ]]"
ready_pp="$(readiness_pp)"
ready_plain="$(readiness_plain)"
[[ "$ready_pp $ready_plain" == "200 200" ]] || die "the readiness listener must answer /ready 200 through proxy protocol v2 and plainly, got $ready_pp and $ready_plain"
curl -sSf --max-time 5 "http://127.0.0.1:${METRICS_PORT}/stats/prometheus" | grep -q '^envoy_server_live' || die "the stats listener must serve /stats/prometheus"
[[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${METRICS_PORT}/config_dump")" == 404 ]] || die "the stats listener must serve nothing but /stats/prometheus"
[[ "$(admin_code -X POST 'http://envoy-admin/runtime_modify?edge_bake_check=1')" != 200 ]] || die "/runtime_modify must change nothing (no admin runtime layer)"

step "hot restart (SIGHUP to edge-envoy): readiness never fails"
(
  while :; do
    readiness_plain >>"$workdir/readiness-during-restart"
    echo >>"$workdir/readiness-during-restart"
    sleep 0.2
  done
) &
prober=$!
kill -HUP "$(systemctl show --property MainPID --value envoy.service)"
wait_for 120 "epoch 1 serving" bash -c "[[ \"\$(readlink $ADMIN_SOCKET)\" == admin.1.sock ]]"
sleep 2
kill "$prober"
prober=""
if grep -qv '^200$' "$workdir/readiness-during-restart"; then
  die "the readiness listener answered other than 200 during the hot restart: $(sort "$workdir/readiness-during-restart" | uniq -c | tr '\n' ' ')"
fi
systemctl is-active --quiet envoy.service || die "envoy.service stopped during the hot restart"
admin -f -X POST http://envoy-admin/healthcheck/fail >/dev/null
[[ "$(readiness_plain)" == 503 ]] || die "after /healthcheck/fail the readiness listener must answer 503"

step "no secret in logs"
systemctl stop envoy.service
if journalctl --since "$since" --no-pager | grep -qF "$token"; then
  die "the discovery token appeared in the journal"
fi
if grep -rqF "$token" /var/log 2>/dev/null; then
  die "the discovery token appeared under /var/log"
fi
step "ok: Envoy $ENVOY_VERSION validates, starts under envoy.service behind its packet filter, answers on its admin socket only, and hot-restarts without a failed health check"
