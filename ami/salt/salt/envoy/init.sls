# Envoy: pinned binary, its user and directories, the boot-time bootstrap writer, the unit (with
# hot restart), the rollout's readiness signal and termination drain, and the discovery token's
# refresh.
include:
  - envoy.user
  - envoy.install
  - envoy.bootstrap
  - envoy.service
  - envoy.rollout
  - envoy.token
