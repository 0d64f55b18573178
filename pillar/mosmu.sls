# Static plan for highstate (salt 'node-*' state.apply mosmu, or state.highstate with the
# formula in the state top). salt-run mosmu.update passes the same keys as inline pillar.
mosmu:
  mos_version: "8.0"
  repo_url: http://10.20.0.2:8080
  repos:
    - updates
    - security
