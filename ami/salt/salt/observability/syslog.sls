# AL2023 keeps system logs in the journal only; rsyslog writes them to files the
# CloudWatch agent can ship (/var/log/messages, /var/log/secure). Envoy's own log goes
# to the journal (stderr) and from there to /var/log/messages.
rsyslog:
  pkg.installed:
    - name: rsyslog
  service.running:
    - name: rsyslog.service
    - enable: True
    - require:
      - pkg: rsyslog
