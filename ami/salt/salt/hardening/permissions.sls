# File permissions: credential files closed to everyone but root, a restrictive default umask.
{%- set modes = {
  '/etc/passwd': '0644',
  '/etc/group': '0644',
  '/etc/shadow': '0000',
  '/etc/gshadow': '0000',
  '/etc/crontab': '0600'
} %}
{%- for path, mode in modes | dictsort %}
permissions-{{ path }}:
  file.managed:
    - name: {{ path }}
    - replace: False
    - create: False
    - user: root
    - group: root
    - mode: "{{ mode }}"
{%- endfor %}

/etc/profile.d/edge-umask.sh:
  file.managed:
    - contents: |
        # Managed by Salt: files created by login shells are not world-readable.
        umask 027
    - user: root
    - group: root
    - mode: "0644"
