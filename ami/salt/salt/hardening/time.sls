# Time from the Amazon Time Sync Service (link-local, no internet needed).
chrony:
  pkg.installed:
    - name: chrony

/etc/chrony.conf:
  file.managed:
    - source: salt://hardening/files/chrony.conf.j2
    - template: jinja
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - pkg: chrony

chronyd:
  service.running:
    - name: chronyd.service
    - enable: True
    - watch:
      - file: /etc/chrony.conf
