# Envoy's log files rotate by size (checked hourly) and by day, and Envoy reopens them.
include:
  - envoy.user

logrotate:
  pkg.installed:
    - name: logrotate

/etc/logrotate.d/envoy:
  file.managed:
    - source: salt://observability/files/logrotate-envoy.j2
    - template: jinja
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - pkg: logrotate
      - file: /var/log/envoy

# Hourly instead of daily, so maxsize is honoured on a busy proxy.
/etc/systemd/system/logrotate.timer.d/10-hourly.conf:
  file.managed:
    - source: salt://observability/files/logrotate-hourly.conf
    - user: root
    - group: root
    - mode: "0644"
    - makedirs: True
    - require:
      - pkg: logrotate

logrotate-timer:
  cmd.run:
    - name: systemctl daemon-reload && systemctl enable logrotate.timer
    - onchanges:
      - file: /etc/systemd/system/logrotate.timer.d/10-hourly.conf
