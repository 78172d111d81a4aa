# The proxy's packet filter (firewall state): what the envoy user, so Envoy and every route and
# auth target a tenant can declare, may not open a connection to, whatever a name resolves to
# (docs/threat-model.md). The fleet VPC's CIDR and the control plane's port come from
# /etc/edge/bootstrap.env at boot (edge-firewall).
firewall:
  table: edge_egress
  # Refused to the envoy user, and the VPC CIDR: loopback (the admin socket is a pipe, so Envoy
  # needs no loopback port), the unspecified address (Linux connects it to the host), link-local
  # (169.254.169.254 is the metadata service: the instance role's credentials; .170.2 ECS
  # metadata, .169.123 time), multicast, reserved and broadcast.
  forbidden_ipv4:
    - 0.0.0.0/8
    - 127.0.0.0/8
    - 169.254.0.0/16
    - 224.0.0.0/4
    - 240.0.0.0/4
  # The same for IPv6: unspecified, loopback, link-local, the Nitro instance services
  # (fd00:ec2::254 metadata, ::253 DNS, ::123 time) and multicast. IPv4-mapped addresses leave as
  # IPv4 packets and meet the IPv4 rules.
  forbidden_ipv6:
    - "::/128"
    - "::1/128"
    - "fe80::/10"
    - "fd00:ec2::/32"
    - "ff00::/8"
  # DNS (port 53, UDP and TCP) Envoy may ask, besides the VPC resolver (the VPC CIDR's base + 2):
  # systemd-resolved's stub, and the Amazon DNS server's link-local addresses.
  dns_ipv4:
    - 127.0.0.53
    - 169.254.169.253
  dns_ipv6:
    - "fd00:ec2::253"
  # Refused connection attempts are logged (kernel log, shipped with /var/log/messages), at most this often.
  log_rate: 10/minute
