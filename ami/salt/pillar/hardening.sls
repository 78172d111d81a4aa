# Hardening: what runs, who can get in, what is recorded.
hardening:
  # Installed for operation: SSM is the only way in (no SSH).
  packages:
    - amazon-ssm-agent
    - audit
  # Never on a proxy.
  removed_packages:
    - ec2-instance-connect
    - telnet
    - ftp
    - rsh
    - tftp
  time:
    # Amazon Time Sync Service, link-local on every instance (IPv4 and Nitro IPv6).
    servers:
      - 169.254.169.123
      - fd00:ec2::123
  updates:
    # dnf-automatic applies security updates only, within the image's pinned AL2023 release.
    upgrade_type: security
    apply_updates: "yes"
  sysctl:
    kernel.kptr_restrict: 2
    kernel.dmesg_restrict: 1
    kernel.yama.ptrace_scope: 1
    fs.suid_dumpable: 0
    fs.protected_hardlinks: 1
    fs.protected_symlinks: 1
    net.ipv4.conf.all.accept_redirects: 0
    net.ipv4.conf.default.accept_redirects: 0
    net.ipv4.conf.all.send_redirects: 0
    net.ipv4.conf.default.send_redirects: 0
    net.ipv4.conf.all.accept_source_route: 0
    net.ipv4.conf.all.rp_filter: 2
    net.ipv4.conf.all.log_martians: 1
    net.ipv6.conf.all.accept_redirects: 0
