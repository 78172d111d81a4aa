# The pinned Envoy release, downloaded once and verified against the checksum in pillar.
{%- set version = salt['pillar.get']('envoy:version') %}
{%- set artifact = salt['pillar.get']('envoy:artifacts:' ~ grains['cpuarch']) %}

envoy-binary:
  file.managed:
    - name: /usr/local/bin/envoy-{{ version }}
    - source: {{ artifact['url'] }}
    - source_hash: sha256={{ artifact['sha256'] }}
    - user: root
    - group: root
    - mode: "0755"

# A stable path for the unit and for operators; the versioned file says what is installed.
envoy-link:
  file.symlink:
    - name: /usr/local/bin/envoy
    - target: /usr/local/bin/envoy-{{ version }}
    - force: True
    - require:
      - file: envoy-binary

envoy-version-check:
  cmd.run:
    - name: /usr/local/bin/envoy --version | grep -F "{{ version }}"
    - onchanges:
      - file: envoy-link
      - file: envoy-binary
