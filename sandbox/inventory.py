"""Sandbox inventory: Nailgun 8.0 objects with their real serializer field sets.

Field sets follow reference/FUEL.md sections 1.2-1.5 (NodeSerializer, ClusterSerializer and
ReleaseSerializer at fuel-web 8.0). Releases and node ``meta`` come from Fuel's own fixtures
in ``data/``: an 8.0 master that also manages a 6.1 environment serves the releases of both
(8.0: ids 1 CentOS, 2 Ubuntu; 6.1: ids 3 CentOS, 4 Ubuntu). Admin IPs (10.20.0.x) are data
only: nothing ever connects to them.
"""

import copy
import json
import os

import yaml

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
DNS_DOMAIN = "test.domain.local"
ROLE_CYCLE = (["controller"], ["compute"], ["compute", "cinder"])
# libyaml's safe loader when PyYAML has it: the release fixtures take ~1 s with the pure one
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

NODE_FIELDS = ("id", "name", "meta", "progress", "kernel_params", "roles", "pending_roles",
               "status", "mac", "fqdn", "hostname", "ip", "manufacturer", "platform_name",
               "pending_addition", "pending_deletion", "os_platform", "error_type", "online",
               "labels", "cluster", "network_data", "group_id")
CLUSTER_FIELDS = ("id", "name", "mode", "changes", "status", "is_customized", "net_provider",
                  "release_id", "fuel_version", "ui_settings", "pending_release_id",
                  "is_locked", "components")
RELEASE_FIELDS = ("id", "name", "version", "can_update_from_versions", "description",
                  "operating_system", "modes_metadata", "roles_metadata", "wizard_metadata",
                  "state", "attributes_metadata", "is_deployable",
                  "vmware_attributes_metadata", "components_metadata")


# Release ids the sandbox gives each fixture's releases (in fixture order: CentOS, Ubuntu).
RELEASE_IDS = {"8.0": (1, 2), "6.1": (3, 4)}
UBUNTU_80_RELEASE = 2       # Liberty on Ubuntu 14.04
CENTOS_61_RELEASE = 3       # Juno on CentOS 6.5 (2014.2.2-6.1)


def _releases(fuel_version):
    """The releases of fuel-web's openstack.yaml fixture at ``fuel_version``."""
    with open(os.path.join(DATA, f"fuel-web_{fuel_version}_openstack.yaml"),
              encoding="utf-8") as handle:
        fixture = yaml.load(handle, Loader=SAFE_LOADER)  # noqa: S506 (a safe loader)
    base = next(e["fields"] for e in fixture if "extend" not in e)
    out = []
    for pk, entry in zip(RELEASE_IDS[fuel_version], (e for e in fixture if "extend" in e)):
        fields = dict(copy.deepcopy(base), **entry["fields"])
        fields.setdefault("state", "available")
        fields.update(id=pk, is_deployable=fields["state"] == "available")
        out.append({k: fields.get(k) for k in RELEASE_FIELDS})
    return out


def releases_80():
    """The two 8.0 releases (CentOS id 1, Ubuntu id 2) from fuel-web's openstack.yaml."""
    return _releases("8.0")


def releases_61():
    """The two 6.1 releases (CentOS id 3, Ubuntu id 4) from fuel-web's 6.1 openstack.yaml."""
    return _releases("6.1")


def releases():
    """Every release the sandbox master knows: 8.0 (ids 1, 2) and 6.1 (ids 3, 4)."""
    return releases_80() + releases_61()


def _sample_metas():
    with open(os.path.join(DATA, "fuel-web_9.0_sample_environment.json"),
              encoding="utf-8") as handle:
        return [n["fields"]["meta"] for n in json.load(handle)]


def _network_data(ip, index):
    return [
        {"name": "public", "cidr": "172.16.0.0/24", "vlan": None, "dev": "eth1",
         "ip": f"172.16.0.{index + 2}/24", "netmask": "255.255.255.0",
         "brd": "172.16.0.255", "gateway": "172.16.0.1"},
        {"name": "management", "cidr": "192.168.0.0/24", "vlan": 101, "dev": "eth0",
         "ip": f"192.168.0.{index + 1}/24", "netmask": "255.255.255.0",
         "brd": "192.168.0.255", "gateway": None},
        {"name": "storage", "cidr": "192.168.1.0/24", "vlan": 102, "dev": "eth0",
         "ip": f"192.168.1.{index + 1}/24", "netmask": "255.255.255.0",
         "brd": "192.168.1.255", "gateway": None},
        {"name": "fuelweb_admin", "cidr": "10.20.0.0/24", "vlan": None, "dev": "eth0",
         "ip": f"{ip}/24", "netmask": "255.255.255.0", "brd": "10.20.0.255",
         "gateway": "10.20.0.2"},
    ]


def node(node_id, cluster=1, roles=("controller",), status="ready", online=True,
         os_platform="ubuntu", metas=None):
    """One Nailgun 8.0 node object; IP ``10.20.0.<id+2>`` (data only)."""
    ip = f"10.20.0.{node_id + 2}" if node_id < 250 else \
        f"10.20.{node_id // 250}.{node_id % 250 + 2}"
    mac = f"52:54:00:{node_id >> 16 & 255:02x}:{node_id >> 8 & 255:02x}:{node_id & 255:02x}"
    meta = copy.deepcopy((metas or _sample_metas())[node_id % 8])
    meta["system"]["fqdn"] = f"node-{node_id}.{DNS_DOMAIN}"
    deployed = status == "ready"
    return {
        "id": node_id, "name": f"Untitled ({mac[-5:]})", "meta": meta,
        "progress": 100 if deployed else 0, "kernel_params": None,
        "roles": list(roles) if cluster and status != "discover" else [],
        "pending_roles": [] if deployed or not cluster else list(roles),
        "status": status, "mac": mac, "fqdn": f"node-{node_id}.{DNS_DOMAIN}",
        "hostname": f"node-{node_id}", "ip": ip, "manufacturer": "KVM", "platform_name": None,
        "pending_addition": bool(cluster) and status == "discover", "pending_deletion": False,
        "os_platform": os_platform, "error_type": None, "online": online, "labels": {},
        "cluster": cluster, "network_data": _network_data(ip, node_id) if cluster else [],
        "group_id": cluster,
    }


def cluster(cluster_id=1, release_id=2, name=None, status="operational", fuel_version="8.0"):
    """One Nailgun 8.0 cluster (environment) object (``fuel_version``: the Fuel version that
    created it)."""
    return {
        "id": cluster_id, "name": name or f"env-{cluster_id}", "mode": "ha_compact",
        "changes": [], "status": status, "is_customized": False, "net_provider": "neutron",
        "release_id": release_id, "fuel_version": fuel_version,
        "ui_settings": {"view_mode": "standard", "filter": {}, "sort": [{"roles": "asc"}],
                        "filter_by_labels": {}, "sort_by_labels": [], "search": ""},
        "pending_release_id": None, "is_locked": True,
        "components": ["hypervisor:qemu", "network:neutron:core:ml2",
                       "network:neutron:ml2:vlan", "storage:block:lvm"],
    }


def version_80():
    """``GET /api/v1/version`` of an 8.0 master (settings.VERSION + auth_required)."""
    return {"release": "8.0", "api": "1", "feature_groups": ["mirantis"],
            "openstack_version": "liberty-8.0", "auth_required": True}


def default(nodes=3, centos_nodes=0, ssh_nodes=0):
    """Environment 1: MOS 8.0 (Liberty on Ubuntu 14.04) of ``nodes`` Ubuntu nodes (ids
    1..nodes); with ``centos_nodes``, environment 2: MOS 6.1 (Juno on CentOS 6.5) of that many
    CentOS nodes (ids nodes+1..). All ready and online; roles cycle controller / compute /
    compute+cinder per environment. The releases of 8.0 and 6.1 are always listed.

    ``ssh_nodes`` adds that many more nodes to each environment (env 2 only when it exists),
    with ids after all the others (env 1's first, then env 2's), their roles continuing their
    environment's cycle: the sandbox reaches them over ssh, without a minion. They are
    ordinary Nailgun nodes here; ``sandbox.sshnodes.ssh_choice`` picks them as the last
    ``ssh_nodes`` nodes of each environment.

    The sandbox's own default is both environments (``Sandbox.up(nodes=3, centos_nodes=2)``);
    this function keeps ``centos_nodes=0`` so that callers adding their own clusters and node
    ids after ``default(n)`` keep working.
    """
    metas = _sample_metas()
    clusters = [cluster(1, release_id=UBUNTU_80_RELEASE)]
    out = [node(i, roles=ROLE_CYCLE[(i - 1) % 3], metas=metas) for i in range(1, nodes + 1)]
    if centos_nodes:
        clusters.append(cluster(2, release_id=CENTOS_61_RELEASE, fuel_version="6.1"))
        out += [node(nodes + i, cluster=2, roles=ROLE_CYCLE[(i - 1) % 3], os_platform="centos",
                     metas=metas) for i in range(1, centos_nodes + 1)]
    first = nodes + centos_nodes + 1
    out += [node(first + i, roles=ROLE_CYCLE[(nodes + i) % 3], metas=metas)
            for i in range(ssh_nodes)]
    if centos_nodes:
        first += ssh_nodes
        out += [node(first + i, cluster=2, roles=ROLE_CYCLE[(centos_nodes + i) % 3],
                     os_platform="centos", metas=metas) for i in range(ssh_nodes)]
    return {"version": version_80(), "releases": releases(), "clusters": clusters,
            "nodes": out}
