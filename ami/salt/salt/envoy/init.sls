# Envoy: pinned binary, its user and directories, the boot-time bootstrap writer, the unit.
include:
  - envoy.user
  - envoy.install
  - envoy.bootstrap
  - envoy.service
