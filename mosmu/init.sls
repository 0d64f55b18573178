{#- Apply the MOS maintenance update of this node's plan (pillar mosmu:..., passed whole). -#}
{%- from "mosmu/map.jinja" import mosmu with context %}
{%- set plan = {} %}
{%- for key, value in mosmu.items() if key != 'lookup' %}
{%-   do plan.update({key: value}) %}
{%- endfor %}

mosmu-init-mosmu-updated:
  mosmu.updated:
    - name: mos-{{ mosmu.mos_version }}
    - plan: {{ plan | json }}
