# Kernel hardening: no pointer leaks, no ptrace of other users' processes, no ICMP redirects
# or source routing, reverse-path filtering, no core dumps of setuid programs.
{%- for key, value in salt['pillar.get']('hardening:sysctl', {}) | dictsort %}
hardening-sysctl-{{ key }}:
  sysctl.present:
    - name: {{ key }}
    - value: "{{ value }}"
    - config: /etc/sysctl.d/80-edge-hardening.conf
{%- endfor %}

/etc/modprobe.d/edge-blacklist.conf:
  file.managed:
    - source: salt://hardening/files/modprobe-blacklist.conf
    - user: root
    - group: root
    - mode: "0644"
