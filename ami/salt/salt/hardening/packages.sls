# Only what the proxy needs is installed; tools for remote login or clear-text protocols are not.
hardening-packages:
  pkg.installed:
    - pkgs: {{ salt['pillar.get']('hardening:packages', []) | tojson }}

hardening-removed-packages:
  pkg.removed:
    - pkgs: {{ salt['pillar.get']('hardening:removed_packages', []) | tojson }}
