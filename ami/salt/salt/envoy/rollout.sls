# The proxy's part of the fleet's health-gated rollout and of its drain on termination:
# edge-ready-signal (signals CloudFormation once /ready answers through proxy protocol) and
# edge-lifecycle (drains Envoy and completes the termination lifecycle hook), with the shell
# library they share. The fleet's user data starts both (docs/ami.md, "Boot").
include:
  - envoy.bootstrap

/usr/local/lib/edge:
  file.directory:
    - user: root
    - group: root
    - mode: "0755"

/usr/local/lib/edge/edge-lib.sh:
  file.managed:
    - source: salt://envoy/files/edge-lib.sh
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: /usr/local/lib/edge
      - pkg: envoy-bootstrap-tools

/usr/local/bin/edge-ready-signal:
  file.managed:
    - source: salt://envoy/files/edge-ready-signal
    - user: root
    - group: root
    - mode: "0755"
    - require:
      - file: /usr/local/lib/edge/edge-lib.sh

/usr/local/bin/edge-lifecycle:
  file.managed:
    - source: salt://envoy/files/edge-lifecycle
    - user: root
    - group: root
    - mode: "0755"
    - require:
      - file: /usr/local/lib/edge/edge-lib.sh

/etc/systemd/system/edge-ready-signal.service:
  file.managed:
    - source: salt://envoy/files/edge-ready-signal.service
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: /usr/local/bin/edge-ready-signal

/etc/systemd/system/edge-lifecycle.service:
  file.managed:
    - source: salt://envoy/files/edge-lifecycle.service
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: /usr/local/bin/edge-lifecycle

edge-rollout-systemd-reload:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: /etc/systemd/system/edge-ready-signal.service
      - file: /etc/systemd/system/edge-lifecycle.service
