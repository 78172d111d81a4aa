# The hardened envoy.service. It is enabled by the fleet's user data once bootstrap.env is
# written (systemctl enable --now envoy.service), never in the image itself.
include:
  - envoy.user
  - envoy.install
  - envoy.bootstrap
  - envoy.rollout
  - firewall

/usr/local/bin/edge-envoy:
  file.managed:
    - source: salt://envoy/files/edge-envoy
    - user: root
    - group: root
    - mode: "0755"
    - require:
      - file: /usr/local/lib/edge/edge-lib.sh

/etc/systemd/system/envoy.service:
  file.managed:
    - source: salt://envoy/files/envoy.service.j2
    - template: jinja
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: envoy-link
      - file: /usr/local/bin/edge-envoy
      - user: envoy-user
      - file: /var/log/envoy
      - cmd: envoy-admin-directory
      - file: /etc/systemd/system/edge-firewall.service

envoy-systemd-reload:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: /etc/systemd/system/envoy.service
      - file: /etc/systemd/system/edge-bootstrap.service

# Enabled so a reboot refreshes envoy.yaml; skipped (ConditionPathExists) until user data
# has written /etc/edge/bootstrap.env.
edge-bootstrap:
  service.enabled:
    - name: edge-bootstrap.service
    - require:
      - cmd: envoy-systemd-reload
