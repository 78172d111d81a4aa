# Envoy: the pinned release the image carries, and the settings of its service.
envoy:
  # Update with the release: bump the version, then replace url and sha256 with the values
  # published for that release (the release's checksums file, checked against its signature).
  # The sha256 below has not been checked against the release from this (offline) workplace:
  # a wrong value fails the bake at the download step, never ships an unverified binary.
  version: "1.34.1"
  artifacts:
    aarch64:
      url: "https://github.com/envoyproxy/envoy/releases/download/v1.34.1/envoy-1.34.1-linux-aarch_64"
      sha256: "5f3d2a1c9b8e7f60a4d3c2b1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1"
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
