# Kernel and per-process limits for a busy edge proxy (values in pillar network:*).
{%- set sysctls = salt['pillar.get']('network:sysctl', {}) %}
{%- set conntrack = salt['pillar.get']('network:conntrack', {}) %}

{%- for key, value in sysctls | dictsort %}
network-sysctl-{{ key }}:
  sysctl.present:
    - name: {{ key }}
    - value: "{{ value }}"
    - config: /etc/sysctl.d/90-edge-network.conf
{%- endfor %}

# Only where connection tracking is in use: the keys exist only once nf_conntrack is loaded.
{%- for key, value in conntrack | dictsort %}
network-conntrack-{{ key }}:
  sysctl.present:
    - name: {{ key }}
    - value: "{{ value }}"
    - config: /etc/sysctl.d/91-edge-conntrack.conf
    - onlyif: test -d /proc/sys/net/netfilter
{%- endfor %}

/etc/security/limits.d/90-edge-nofile.conf:
  file.managed:
    - source: salt://network/files/limits.conf.j2
    - template: jinja
    - user: root
    - group: root
    - mode: "0644"
