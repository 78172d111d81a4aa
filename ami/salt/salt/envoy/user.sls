# A dedicated system account that owns nothing but Envoy's logs and state, and its directories.
{%- set user = salt['pillar.get']('envoy:user', 'envoy') %}
{%- set group = salt['pillar.get']('envoy:group', 'envoy') %}
{%- set admin_group = salt['pillar.get']('envoy:admin_group', 'envoy-admin') %}

envoy-group:
  group.present:
    - name: {{ group }}
    - system: True

envoy-user:
  user.present:
    - name: {{ user }}
    - gid: {{ group }}
    - system: True
    - home: /var/lib/envoy
    - createhome: False
    - shell: /sbin/nologin
    - fullname: Envoy proxy
    - require:
      - group: envoy-group

# Config: written by root at boot, readable by the envoy group only (it holds the token).
/etc/envoy:
  file.directory:
    - user: root
    - group: {{ group }}
    - mode: "0750"
    - require:
      - group: envoy-group

# Boot settings from the fleet's user data (no secrets).
/etc/edge:
  file.directory:
    - user: root
    - group: root
    - mode: "0755"

/var/log/envoy:
  file.directory:
    - user: {{ user }}
    - group: {{ group }}
    - mode: "0750"
    - require:
      - user: envoy-user

/var/lib/envoy:
  file.directory:
    - user: {{ user }}
    - group: {{ group }}
    - mode: "0750"
    - require:
      - user: envoy-user

# Envoy's admin interface is a Unix socket in /run/envoy-admin (never a TCP port): the directory
# is setgid envoy-admin, so every socket Envoy binds there belongs to that group (mode 0660). Its
# members (edge-lifecycle's SupplementaryGroups) may use the admin; the group reads nothing else.
envoy-admin-group:
  group.present:
    - name: {{ admin_group }}
    - system: True

/etc/tmpfiles.d/envoy-admin.conf:
  file.managed:
    - contents: |
        # Managed by Salt (envoy.user). Envoy's admin sockets (docs/ami.md, "Envoy's admin interface").
        d /run/envoy-admin 2750 {{ user }} {{ admin_group }} -
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - user: envoy-user
      - group: envoy-admin-group

# tmpfiles creates it at every boot; now too, for the bake check.
envoy-admin-directory:
  cmd.run:
    - name: systemd-tmpfiles --create /etc/tmpfiles.d/envoy-admin.conf
    - onchanges:
      - file: /etc/tmpfiles.d/envoy-admin.conf
