# The proxy side of a discovery token rotation (docs/runbooks/procedure-rotate-discovery-token.md):
# edge-token-refresh.timer runs edge-refresh-token every few minutes, which rewrites envoy.yaml
# when the secret changed and asks edge-envoy for a hot restart onto it. Enabled in the image; the
# service is skipped (ConditionPathExists) until user data has written /etc/edge/bootstrap.env.
include:
  - envoy.bootstrap
  - envoy.rollout
  - envoy.service

/usr/local/bin/edge-refresh-token:
  file.managed:
    - source: salt://envoy/files/edge-refresh-token
    - user: root
    - group: root
    - mode: "0755"
    - require:
      - file: /usr/local/bin/edge-write-bootstrap
      - file: /usr/local/lib/edge/edge-lib.sh

/etc/systemd/system/edge-token-refresh.service:
  file.managed:
    - source: salt://envoy/files/edge-token-refresh.service
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: /usr/local/bin/edge-refresh-token

/etc/systemd/system/edge-token-refresh.timer:
  file.managed:
    - source: salt://envoy/files/edge-token-refresh.timer.j2
    - template: jinja
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: /etc/systemd/system/edge-token-refresh.service

edge-token-refresh-systemd-reload:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: /etc/systemd/system/edge-token-refresh.service
      - file: /etc/systemd/system/edge-token-refresh.timer

edge-token-refresh-timer:
  service.enabled:
    - name: edge-token-refresh.timer
    - require:
      - cmd: edge-token-refresh-systemd-reload
