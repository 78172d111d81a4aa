# Envoy: the pinned release the image carries, and the settings of its service.
envoy:
  # Update with the release: bump the version, then replace url and sha256 with the values
  # published for that release. 1.39.0's aarch64 value is the one several public projects pin
  # for this release asset and check with `sha256sum -c` (docs/ami.md, "Updating versions");
  # a wrong value fails the bake at the download step, never ships an unverified binary.
  # The image is ARM64 only (the fleet is Graviton): no x86_64 artifact.
  version: "1.39.0"
  artifacts:
    aarch64:
      url: "https://github.com/envoyproxy/envoy/releases/download/v1.39.0/envoy-1.39.0-linux-aarch_64"
      sha256: "ee53a4f5375566f15944dc9cb03afb1fc228df38f61737c677f139213215afcf"
  user: envoy
  group: envoy
  # Members may use Envoy's admin socket (edge-lifecycle); see envoy.user.
  admin_group: envoy-admin
  # Open files for the proxy: one per downstream and upstream connection, with headroom.
  limit_nofile: 1048576
  # Default ports: the platform config's `envoy` block (ami:validate checks they match; `metrics`
  # is the config's adminPort: the admin itself is a Unix socket, this loopback port serves only
  # GET /stats/prometheus to the CloudWatch agent).
  # At boot the ports come from /etc/edge/bootstrap.env, written by the fleet's user data.
  ports:
    https_traffic: 8443
    http_traffic: 8080
    readiness: 8081
    metrics: 9901
  # A new Envoy epoch (hot restart, edge-envoy) not ready within this long is stopped; the
  # serving epoch keeps serving.
  hot_restart_ready_seconds: 300
  # How often edge-token-refresh.timer reads the discovery token again (systemd time spans).
  token_refresh_interval: 5min
  token_refresh_jitter: 60s
