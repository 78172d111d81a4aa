# The hardened envoy.service. It is enabled by the fleet's user data once bootstrap.env is
# written (systemctl enable --now envoy.service), never in the image itself.
include:
  - envoy.user
  - envoy.install
  - envoy.bootstrap

/etc/systemd/system/envoy.service:
  file.managed:
    - source: salt://envoy/files/envoy.service.j2
    - template: jinja
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: envoy-link
      - user: envoy-user
      - file: /var/log/envoy

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
