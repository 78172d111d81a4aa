# Fails the run early on a platform the image does not support, instead of half-applying.
# Supported: Amazon Linux 2023 on aarch64 (Graviton), which has an Envoy artifact in pillar.
{%- set arch = grains['cpuarch'] %}
{%- if grains['os'] == 'Amazon' and grains['osmajorrelease'] | int == 2023 and salt['pillar.get']('envoy:artifacts:' ~ arch) %}
platform-supported:
  test.succeed_without_changes:
    - name: "{{ grains['os'] }} {{ grains['osrelease'] }} on {{ arch }} is supported"
{%- else %}
platform-supported:
  test.fail_without_changes:
    - name: "unsupported platform {{ grains['os'] }} {{ grains['osrelease'] }} on {{ arch }}: the image supports Amazon Linux 2023 with an Envoy artifact for the CPU in pillar envoy:artifacts"
    - failhard: True
{%- endif %}
