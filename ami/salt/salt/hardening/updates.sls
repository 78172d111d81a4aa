# Security updates only, applied daily by dnf-automatic (within the image's AL2023 release;
# new releases and everything else arrive by baking a new image).
dnf-automatic:
  pkg.installed:
    - name: dnf-automatic

/etc/dnf/automatic.conf:
  ini.options_present:
    - separator: "="
    - sections:
        commands:
          upgrade_type: {{ salt['pillar.get']('hardening:updates:upgrade_type', 'security') }}
          download_updates: "yes"
          apply_updates: "{{ salt['pillar.get']('hardening:updates:apply_updates', 'yes') }}"
          random_sleep: "3600"
        emitters:
          emit_via: stdio
    - require:
      - pkg: dnf-automatic

dnf-automatic-timer:
  service.running:
    - name: dnf-automatic.timer
    - enable: True
    - require:
      - ini: /etc/dnf/automatic.conf
