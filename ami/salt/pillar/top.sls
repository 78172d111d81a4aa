# Pillar defaults for the masterless bake: every minion gets every file.
base:
  '*':
    - envoy
    - firewall
    - network
    - hardening
    - observability
