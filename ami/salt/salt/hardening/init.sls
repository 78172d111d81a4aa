# Hardening: SSM instead of SSH, minimal packages, audit, time, security updates, permissions.
include:
  - hardening.packages
  - hardening.ssh
  - hardening.audit
  - hardening.time
  - hardening.updates
  - hardening.kernel
  - hardening.permissions
