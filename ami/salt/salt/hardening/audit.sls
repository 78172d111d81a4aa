# auditd records changes to identity, privilege, time, kernel modules and the proxy's files.
include:
  - hardening.packages

/etc/audit/rules.d/50-edge.rules:
  file.managed:
    - source: salt://hardening/files/audit-edge.rules
    - user: root
    - group: root
    - mode: "0600"
    - require:
      - pkg: hardening-packages

auditd:
  service.running:
    - name: auditd.service
    - enable: True
    - require:
      - pkg: hardening-packages

# auditd refuses a systemctl restart; augenrules loads the rules into the running kernel.
audit-rules-load:
  cmd.run:
    - name: augenrules --load
    - onchanges:
      - file: /etc/audit/rules.d/50-edge.rules
    - require:
      - service: auditd
