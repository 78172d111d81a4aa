# Managed by Salt (salt://envoy/files/edge-lib.sh). Do not edit on the instance.
# shellcheck shell=bash
# shellcheck disable=SC2034 # the patterns and CFG are used by the scripts that source this file
#
# Shared by edge-ready-signal and edge-lifecycle (sourced, never run): JSON logs, the
# bootstrap.env parser (KEY=value tokens, never sourced), IMDSv2 reads and the readiness probe
# through proxy protocol v2. Each script sets EDGE_OP (its name) before sourcing this file.

readonly EDGE_ENV_FILE="${EDGE_BOOTSTRAP_ENV:-/etc/edge/bootstrap.env}"
readonly EDGE_IMDS="${EDGE_IMDS_ENDPOINT:-http://169.254.169.254}"
EDGE_RUN_ID="$(cat /proc/sys/kernel/random/uuid 2>/dev/null || echo "$$")"
readonly EDGE_RUN_ID

# One JSON object per line on stderr (journald).
log() {
  jq -cn --arg level "$1" --arg msg "$2" --arg op "${EDGE_OP:-edge}" --arg run "$EDGE_RUN_ID" \
    '{level: $level, op: $op, run: $run, msg: $msg}' >&2
}
fail() {
  log error "$1"
  exit 1
}

# bootstrap.env -> CFG[KEY]=value; a line that is not KEY=value pairs fails (nothing is executed).
declare -A CFG=()
load_bootstrap_env() {
  local line pair value
  local -a pairs
  [[ -r "$EDGE_ENV_FILE" ]] || fail "cannot read $EDGE_ENV_FILE (the fleet's user data writes it)"
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%%#*}"
    read -ra pairs <<<"$line" # splits on blanks without glob expansion
    for pair in "${pairs[@]}"; do
      [[ "$pair" =~ ^(EDGE_[A-Z0-9_]+)=(.*)$ ]] || fail "$EDGE_ENV_FILE: \"${pair%%=*}\" is not an EDGE_KEY=value pair"
      value="${BASH_REMATCH[2]}"
      value="${value#\"}"
      value="${value%\"}"
      CFG["${BASH_REMATCH[1]}"]="$value"
    done
  done <"$EDGE_ENV_FILE"
}

require() { # key, regex, rule
  local value="${CFG[$1]:-}"
  [[ -n "$value" ]] || fail "$EDGE_ENV_FILE: $1 is required"
  [[ "$value" =~ $2 ]] || fail "$EDGE_ENV_FILE: $1 must be $3, got \"$value\""
}
readonly PORT_RE='^[0-9]{2,5}$'
readonly SECONDS_RE='^[0-9]{1,5}$'
readonly REGION_RE='^[a-z]{2}(-gov)?-[a-z]+-[0-9]$'

# IMDSv2: a session token first, then every read carries it (IMDSv1 is disabled on the fleet).
# Returns 1 when no token could be had (callers decide: fail at start, retry in a loop).
imds_token=""
imds_session() {
  imds_token="$(curl -sSf -X PUT "$EDGE_IMDS/latest/api/token" \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' \
    --retry 10 --retry-delay 1 --retry-connrefused --max-time 5)"
}
# Prints the value; returns 1 when the item is absent or unreadable (callers decide).
imds_get() {
  curl -sSf -H "X-aws-ec2-metadata-token: $imds_token" --max-time 5 "$EDGE_IMDS/latest/meta-data/$1"
}

# One readiness request as the NLB makes it: a proxy protocol v2 header with the LOCAL command
# and no addresses (AWS sends the header on health-check connections, without client
# information), then GET /ready. Prints the HTTP status code, 000 when nothing answered.
# The header (haproxy proxy-protocol.txt, 2.2): the 12-byte signature, 0x20 (version 2, LOCAL),
# 0x00 (AF_UNSPEC, UNSPEC), a zero length.
probe_ready() { # host port
  local host="$1" port="$2" status_line=""
  if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
    echo 000
    return 0
  fi
  printf '\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a\x20\x00\x00\x00' >&3
  printf 'GET /ready HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n' "$host" "$port" "${EDGE_OP:-edge}" >&3
  IFS= read -r -t 5 status_line <&3 || true
  exec 3<&- 3>&-
  if [[ "$status_line" =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]]; then
    echo "${BASH_REMATCH[1]}"
  else
    echo 000
  fi
}
