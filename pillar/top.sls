# Highstate: give the Fuel nodes the mosmu plan (pillar/mosmu.sls).
base:
  'node-*':
    - mosmu
