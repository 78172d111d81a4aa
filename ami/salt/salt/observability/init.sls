# Observability: system logs on disk, the CloudWatch agent, log rotation.
include:
  - observability.syslog
  - observability.cloudwatch
  - observability.logrotate
