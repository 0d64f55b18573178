"""Sandbox inventory: Nailgun 8.0 objects with their real serializer field sets.

Field sets follow reference/FUEL.md sections 1.2-1.5 (NodeSerializer, ClusterSerializer and
ReleaseSerializer at fuel-web 8.0). Releases and node ``meta`` come from Fuel's own fixtures
in ``data/``. Admin IPs (10.20.0.x) are data only: nothing ever connects to them.
"""

import copy
import json
import os

import yaml

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
DNS_DOMAIN = "test.domain.local"
ROLE_CYCLE = (["controller"], ["compute"], ["compute", "cinder"])

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


def releases_80():
    """The two 8.0 releases (CentOS id 1, Ubuntu id 2) from fuel-web's openstack.yaml."""
    with open(os.path.join(DATA, "fuel-web_8.0_openstack.yaml"), encoding="utf-8") as handle:
        fixture = yaml.safe_load(handle)
    base = next(e["fields"] for e in fixture if "extend" not in e)
    out = []
    for pk, entry in enumerate((e for e in fixture if "extend" in e), 1):
        fields = dict(copy.deepcopy(base), **entry["fields"])
        fields.setdefault("state", "available")
        fields.update(id=pk, is_deployable=fields["state"] == "available")
        out.append({k: fields.get(k) for k in RELEASE_FIELDS})
    return out


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


def cluster(cluster_id=1, release_id=2, name=None, status="operational"):
    """One Nailgun 8.0 cluster (environment) object."""
    return {
        "id": cluster_id, "name": name or f"env-{cluster_id}", "mode": "ha_compact",
        "changes": [], "status": status, "is_customized": False, "net_provider": "neutron",
        "release_id": release_id, "fuel_version": "8.0",
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


def default(nodes=3):
    """One MOS 8.0 environment (id 1) of ``nodes`` Ubuntu nodes, ready and online."""
    metas = _sample_metas()
    return {
        "version": version_80(),
        "releases": releases_80(),
        "clusters": [cluster(1)],
        "nodes": [node(i, roles=ROLE_CYCLE[(i - 1) % 3], metas=metas)
                  for i in range(1, nodes + 1)],
    }
