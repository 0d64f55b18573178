{#- Orchestrate a mosmu update from the master:

      salt-run state.orchestrate orch.mosmu_update pillar='{ "mosmu_orch": { "env": 11 } }'
      salt-run state.orchestrate orch.mosmu_update \
          pillar='{ "mosmu_orch": { "all_envs": true, "roles": "compute", "batch": 5, "interval": 60 } }'

    Steps: preview (mosmu.nodes), update (mosmu.update), then every node's status
    (mosmu.status; not after a dry run). Each step runs only when the one before succeeded. Pillar
    mosmu_orch carries the runner arguments (docs/orchestrate.md); never put credentials
    there: they belong in the master config (mosmu:password, or sdb://).
-#}
{%- set orch = salt['pillar.get']('mosmu_orch', {}) %}
{%- set select = {} %}
{%- for key in ('env', 'all_envs', 'roles', 'nodes', 'offline', 'master_ip', 'statuses', 'transport') %}
{%-   if key in orch %}{%- do select.update({key: orch[key]}) %}{%- endif %}
{%- endfor %}
{#- every argument goes to mosmu.update whole: it refuses one it does not know, by name #}
{%- set update = dict(orch) %}

mosmu-orch-preview:
  salt.runner:
    - name: mosmu.nodes
{%- for key, value in select.items() %}
    - {{ key }}: {{ value | json }}
{%- endfor %}

mosmu-orch-update:
  salt.runner:
    - name: mosmu.update
{%- for key, value in update.items() %}
    - {{ key }}: {{ value | json }}
{%- endfor %}
    - require:
      - salt: mosmu-orch-preview

{#- after a dry run the nodes have no new status to read: the status step would only fail #}
{%- if not update.get('test') %}

mosmu-orch-status:
  salt.runner:
    - name: mosmu.status
{%- for key, value in select.items() %}
    - {{ key }}: {{ value | json }}
{%- endfor %}
    - require:
      - salt: mosmu-orch-update
{%- endif %}
