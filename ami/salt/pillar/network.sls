# Kernel network tuning for a proxy holding many concurrent connections.
network:
  sysctl:
    # Accept queues and backlogs: bursts of new connections from the NLB.
    net.core.somaxconn: 65535
    net.core.netdev_max_backlog: 65536
    net.ipv4.tcp_max_syn_backlog: 65535
    net.ipv4.tcp_syncookies: 1
    # Upstream connections: a wide ephemeral range that starts above every Envoy listener
    # port (8080-9901), so an outbound connection can never take a listener's port.
    net.ipv4.ip_local_port_range: "10240 65535"
    # Reuse TIME-WAIT sockets for new outbound connections; shorter FIN-WAIT-2.
    net.ipv4.tcp_tw_reuse: 1
    net.ipv4.tcp_fin_timeout: 15
    net.ipv4.tcp_max_tw_buckets: 2000000
    net.ipv4.tcp_slow_start_after_idle: 0
    net.ipv4.tcp_keepalive_time: 300
    net.ipv4.tcp_keepalive_intvl: 30
    net.ipv4.tcp_keepalive_probes: 5
    # Socket buffers: up to 16 MiB per socket for high-bandwidth flows.
    net.core.rmem_max: 16777216
    net.core.wmem_max: 16777216
    net.ipv4.tcp_rmem: "4096 87380 16777216"
    net.ipv4.tcp_wmem: "4096 65536 16777216"
    # File handles: above Envoy's LimitNOFILE.
    fs.file-max: 4194304
    fs.nr_open: 2097152
  # Applied only where the nf_conntrack module is loaded: the envoy user's packet filter is
  # stateless (it judges a connection's first packet only), so nothing in the image loads it.
  conntrack:
    net.netfilter.nf_conntrack_max: 1048576
    net.netfilter.nf_conntrack_tcp_timeout_time_wait: 30
  # Per-process limits for login sessions (Envoy's own come from its systemd unit).
  limits:
    nofile: 1048576
