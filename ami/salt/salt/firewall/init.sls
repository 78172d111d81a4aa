# The proxy host's packet filter for the envoy user (docs/threat-model.md): nftables, the ruleset
# (pillar firewall:*), the script that loads it with this instance's values, and its unit, which
# envoy.service requires. Loaded at boot, not in the image (nftables rules do not persist).
include:
  - envoy.user
  - envoy.rollout

nftables:
  pkg.installed:
    - name: nftables

/etc/nftables:
  file.directory:
    - user: root
    - group: root
    - mode: "0755"

/etc/nftables/edge-egress.nft:
  file.managed:
    - source: salt://firewall/files/edge-egress.nft.j2
    - template: jinja
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: /etc/nftables
      - pkg: nftables

/usr/local/bin/edge-firewall:
  file.managed:
    - source: salt://firewall/files/edge-firewall
    - user: root
    - group: root
    - mode: "0755"
    - require:
      - file: /etc/nftables/edge-egress.nft
      - file: /usr/local/lib/edge/edge-lib.sh
      - user: envoy-user

/etc/systemd/system/edge-firewall.service:
  file.managed:
    - source: salt://firewall/files/edge-firewall.service
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: /usr/local/bin/edge-firewall

edge-firewall-systemd-reload:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: /etc/systemd/system/edge-firewall.service
