#!/usr/bin/env bash
# Installs a pinned Salt onedir (self-contained Python + Salt) for the masterless apply.
# Verified by sha256 before it is unpacked; no minion service is installed or started, and
# cleanup.sh removes the whole tree from the image.
set -euo pipefail
: "${SALT_VERSION:?SALT_VERSION is required}"
: "${SALT_ONEDIR_SHA256:?SALT_ONEDIR_SHA256 is required}"

arch="$(uname -m)"
[[ "$arch" == "aarch64" ]] || { echo "install-salt: expected an aarch64 build instance, got $arch" >&2; exit 1; }
tarball="salt-${SALT_VERSION}-onedir-linux-${arch}.tar.xz"
url="https://packages.broadcom.com/artifactory/saltproject-generic/onedir/${SALT_VERSION}/${tarball}"

if ! command -v xz >/dev/null || ! command -v tar >/dev/null; then
  dnf install -y -q tar xz
fi
workdir="$(mktemp -d)"
trap 'rm -rf -- "$workdir"' EXIT
curl -sSfL --retry 5 --retry-connrefused -o "$workdir/$tarball" "$url"
echo "${SALT_ONEDIR_SHA256}  $workdir/$tarball" | sha256sum --check --strict -
mkdir -p /opt/saltstack
tar -xJf "$workdir/$tarball" -C /opt/saltstack
/opt/saltstack/salt/salt-call --version | grep -F "$SALT_VERSION"
echo "install-salt: Salt $SALT_VERSION onedir installed in /opt/saltstack/salt"
