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
  # Open files for the proxy: one per downstream and upstream connection, with headroom.
  limit_nofile: 1048576
  # Default ports: the platform config's `envoy` block (ami:validate checks they match).
  # At boot the ports come from /etc/edge/bootstrap.env, written by the fleet's user data.
  ports:
    https_traffic: 8443
    http_traffic: 8080
    readiness: 8081
    admin: 9901
