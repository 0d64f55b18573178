{#- Apply the MOS maintenance update of this node's plan (pillar mosmu:...). -#}
{%- from "mosmu/map.jinja" import mosmu with context %}

mosmu-init-mosmu-updated:
  mosmu.updated:
    - name: mos-{{ mosmu.mos_version }}
    - mos_version: {{ mosmu.mos_version | json }}
    - repo_url: {{ mosmu.repo_url | json }}
    - repos: {{ mosmu.repos | json }}
    - distro: {{ mosmu.distro | json }}
    - trusted: {{ mosmu.trusted | json }}
