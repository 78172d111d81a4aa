# The CloudWatch agent ships the Envoy access log and the system logs, and publishes Envoy's
# stats (Prometheus format, scraped from the loopback stats listener) plus host metrics as
# CloudWatch metrics.
{%- set agent_dir = '/opt/aws/amazon-cloudwatch-agent' %}
amazon-cloudwatch-agent:
  pkg.installed:
    - name: amazon-cloudwatch-agent

{{ agent_dir }}/etc/prometheus.yaml:
  file.managed:
    - source: salt://observability/files/prometheus.yaml.j2
    - template: jinja
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - pkg: amazon-cloudwatch-agent

{{ agent_dir }}/etc/amazon-cloudwatch-agent.json:
  file.managed:
    - source: salt://observability/files/cloudwatch-agent.json.j2
    - template: jinja
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - pkg: amazon-cloudwatch-agent
      - file: {{ agent_dir }}/etc/prometheus.yaml

# Validates the JSON and translates it into the agent's TOML; the agent starts at boot.
cloudwatch-agent-config:
  cmd.run:
    - name: {{ agent_dir }}/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -c file:{{ agent_dir }}/etc/amazon-cloudwatch-agent.json
    - onchanges:
      - file: {{ agent_dir }}/etc/amazon-cloudwatch-agent.json
      - file: {{ agent_dir }}/etc/prometheus.yaml

cloudwatch-agent-enabled:
  service.enabled:
    - name: amazon-cloudwatch-agent.service
    - require:
      - cmd: cloudwatch-agent-config
