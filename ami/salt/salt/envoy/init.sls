# Envoy: pinned binary, its user and directories, the boot-time bootstrap writer, the unit,
# and the rollout's readiness signal and termination drain.
include:
  - envoy.user
  - envoy.install
  - envoy.bootstrap
  - envoy.service
  - envoy.rollout
