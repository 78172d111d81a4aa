# A dedicated system account that owns nothing but Envoy's logs and state, and its directories.
{%- set user = salt['pillar.get']('envoy:user', 'envoy') %}
{%- set group = salt['pillar.get']('envoy:group', 'envoy') %}

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
