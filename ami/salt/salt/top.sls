# The Envoy proxy image, applied masterless at bake time (salt-call --local state.apply).
base:
  '*':
    - platform
    - envoy
    - firewall
    - network
    - hardening
    - observability
