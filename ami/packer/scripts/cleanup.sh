#!/usr/bin/env bash
# Removes everything instance-specific or bake-only, so each instance boots as new:
# cloud-init state, SSH host keys and authorized keys, the machine id, logs, shell history,
# package caches, the Salt tree and the Salt onedir (no Salt at runtime).
set -euo pipefail
: "${BAKE_DIR:?BAKE_DIR is required}"

rm -rf -- "$BAKE_DIR" /opt/saltstack /etc/salt /var/cache/salt /var/log/salt /srv/salt /srv/pillar
rm -f /etc/envoy/envoy.yaml /etc/edge/bootstrap.env

dnf clean all -q
rm -rf /var/cache/dnf/*

cloud-init clean --logs
rm -f /etc/ssh/ssh_host_*
find /root /home -name authorized_keys -type f -delete
truncate -s 0 /etc/machine-id
rm -f /var/lib/systemd/random-seed

journalctl --rotate >/dev/null 2>&1 || true
journalctl --vacuum-time=1s >/dev/null 2>&1 || true
rm -rf /var/log/journal/*
find /var/log -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*-[0-9]*' \) -delete
find /var/log -type f -exec truncate -s 0 {} +

rm -f /root/.bash_history /home/*/.bash_history
rm -rf /tmp/* /var/tmp/*
unset HISTFILE
history -c || true
sync
echo "cleanup: done"
