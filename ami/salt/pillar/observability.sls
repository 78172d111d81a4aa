# Observability: logs and metrics to CloudWatch, log rotation on the instance.
observability:
  # Log groups: <prefix>/<name>, one stream per instance. The agent creates a missing group
  # (without retention); the fleet stack should create them with the platform's retention.
  log_group_prefix: /edge/proxy
  metrics_namespace: Edge/Proxy
  prometheus:
    # Envoy's stats, scraped on the instance only (a loopback listener forwards GET /stats/prometheus
    # to the admin's Unix socket; the envoy user's packet filter keeps Envoy itself off loopback).
    scrape_interval: 30s
    metrics_path: /stats/prometheus
  log_files:
    - name: envoy-access
      path: /var/log/envoy/access.log
    - name: system
      path: /var/log/messages
    - name: secure
      path: /var/log/secure
    - name: audit
      path: /var/log/audit/audit.log
    - name: cloud-init
      path: /var/log/cloud-init-output.log
  logrotate:
    rotate: 7
    maxsize: 512M
