# The boot-time bootstrap writer (proxy boot contract): bootstrap.env + IMDSv2 + Secrets
# Manager -> /etc/envoy/envoy.yaml, run by edge-bootstrap.service before envoy.service.
include:
  - envoy.user

envoy-bootstrap-tools:
  pkg.installed:
    - pkgs:
      - jq
      - awscli-2

/usr/local/bin/edge-write-bootstrap:
  file.managed:
    - source: salt://envoy/files/edge-write-bootstrap
    - user: root
    - group: root
    - mode: "0755"
    - require:
      - pkg: envoy-bootstrap-tools
      - file: /etc/envoy
      - file: /etc/edge

/etc/systemd/system/edge-bootstrap.service:
  file.managed:
    - source: salt://envoy/files/edge-bootstrap.service
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: /usr/local/bin/edge-write-bootstrap
