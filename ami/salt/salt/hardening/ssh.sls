# No SSH on a proxy: operators use SSM Session Manager (IAM-authenticated, logged).
# sshd keeps running for the rest of the bake (Packer provisions over it) but is disabled and
# masked, so it never starts on an instance booted from the image; the cleanup step removes
# its host keys and every authorized key.
include:
  - hardening.packages

amazon-ssm-agent:
  service.enabled:
    - name: amazon-ssm-agent.service
    - require:
      - pkg: hardening-packages

sshd-disabled:
  service.disabled:
    - name: sshd.service
    - require:
      - service: amazon-ssm-agent

sshd-masked:
  service.masked:
    - name: sshd.service
    - require:
      - service: sshd-disabled

# If sshd were ever unmasked by hand: keys only, no root, no forwarding.
/etc/ssh/sshd_config.d/10-edge.conf:
  file.managed:
    - source: salt://hardening/files/sshd-edge.conf
    - user: root
    - group: root
    - mode: "0600"
    - makedirs: True
