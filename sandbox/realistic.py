"""Realistic Nailgun inventories: several MOS versions and distros, every node state.

Releases are built from Fuel's own ``openstack.yaml`` fixtures of 6.1, 7.0, 8.0 and 9.0
(``reference/fuel-data``, resolved like Nailgun does: an entry ``extend``s its base); nodes
and clusters come from :mod:`sandbox.inventory` (Nailgun's serializer field sets), then get
the statuses, flags and OS a real fleet shows. Admin IPs (10.20.x.y) are data only.

:func:`realistic` is one master with 5 environments and 36 nodes; :func:`big` is a fleet of
any size (10,000 nodes for ``benchmarks/bench_inventory.py``).
"""

import copy
import functools
import os

import yaml

from sandbox import inventory as inv

FUEL_DATA = os.environ.get("MOSMU_FUEL_DATA", inv.DATA)   # copies of Fuel's files, with provenance
VERSIONS = ("6.1", "7.0", "8.0", "9.0")


def _resolve(entry):
    """An openstack.yaml entry's fields with its ``extend`` chain merged in (base first)."""
    base = _resolve(entry["extend"]) if isinstance(entry.get("extend"), dict) else {}
    return dict(copy.deepcopy(base), **copy.deepcopy(entry.get("fields") or {}))


@functools.cache
def _releases(data_dir):
    out, pk = [], 0
    for version in VERSIONS:
        with open(os.path.join(data_dir, f"fuel-web_{version}_openstack.yaml"),
                  encoding="utf-8") as handle:
            fixture = yaml.safe_load(handle)
        for entry in fixture:
            if "extend" not in entry:
                continue
            fields = _resolve(entry)
            pk += 1
            fields.setdefault("state", "available")
            if version != "9.0":  # releases of older MOS on an upgraded master (FUEL.md 1.4)
                fields["state"] = "manageonly" if fields["state"] != "unavailable" \
                    else "unavailable"
            fields.update(id=pk, is_deployable=fields["state"] == "available")
            out.append({k: fields.get(k) for k in inv.RELEASE_FIELDS})
    return out


def releases(data_dir=FUEL_DATA):
    """Every release of MOS 6.1, 7.0, 8.0 and 9.0 (ids 1-9), as a 9.0 master lists them."""
    return copy.deepcopy(_releases(data_dir))


def release_id(rels, version, distro):
    """Id of the first release with ``-<version>`` and ``operating_system`` ``distro``."""
    return next(r["id"] for r in rels if r["version"].endswith(f"-{version}")
                and (r["operating_system"] or "").lower() == distro)


def version_90():
    """``GET /api/v1/version`` of a 9.0 master."""
    return {"release": "9.0", "api": "1", "feature_groups": ["mirantis"],
            "openstack_version": "mitaka-9.0", "auth_required": True}


def _node(node_id, cluster, roles=("compute",), status="ready", online=True,
          os_platform="ubuntu", error_type=None, pending_addition=None,
          pending_deletion=False, metas=None):
    node = inv.node(node_id, cluster=cluster, roles=roles, status=status, online=online,
                    os_platform=os_platform, metas=metas)
    deployed = status in ("ready", "error", "stopped", "deploying", "removing") and \
        error_type not in ("provision",)
    if cluster is not None:
        node["roles"] = list(roles) if deployed else []
        node["pending_roles"] = [] if deployed else list(roles)
    node["error_type"] = error_type
    node["pending_addition"] = (status == "discover" and cluster is not None) \
        if pending_addition is None else pending_addition
    node["pending_deletion"] = pending_deletion
    node["progress"] = 100 if status == "ready" else 0
    return node


def _cluster(cluster_id, release, name, fuel_version, status="operational"):
    out = inv.cluster(cluster_id, release_id=release, name=name, status=status)
    out["fuel_version"] = fuel_version
    if fuel_version < "8.0":
        out["components"] = []  # clusters created before 8.0 (FUEL.md 1.3)
    return out


def realistic(data_dir=FUEL_DATA):
    """A 9.0 master with 5 environments (6.1 CentOS, 7.0, 8.0, 9.0, a new 9.0) and 36 nodes.

    Every node status, online and offline nodes, error types, pending additions and
    deletions, an OS mismatch and unassigned (bootstrap) nodes.
    """
    rels = releases(data_dir)
    metas = inv._sample_metas()  # pylint: disable=protected-access
    env80, env61, env70 = (release_id(rels, "8.0", "ubuntu"), release_id(rels, "6.1", "centos"),
                           release_id(rels, "7.0", "ubuntu"))
    env90 = release_id(rels, "9.0", "ubuntu")
    clusters = [
        _cluster(1, env80, "prod-liberty", "8.0"),
        _cluster(2, env61, "legacy-juno-centos", "6.1"),
        _cluster(3, env70, "kilo", "7.0", status="partially_deployed"),
        _cluster(4, env90, "mitaka", "9.0"),
        _cluster(5, env90, "mitaka-new", "9.0", status="new"),
    ]
    n = functools.partial(_node, metas=metas)
    nodes = [
        # env 1, MOS 8.0 Ubuntu: the everyday fleet
        n(1, 1, ["controller"]), n(2, 1, ["controller"]), n(3, 1, ["controller", "mongo"]),
        n(4, 1, ["compute"]), n(5, 1, ["compute"]), n(6, 1, ["compute", "cinder"]),
        n(7, 1, ["compute"], online=False),
        n(8, 1, ["compute"], status="error", error_type="deploy"),
        n(9, 1, ["cinder"], status="error", error_type="provision"),
        n(10, 1, ["compute"], pending_deletion=True),
        n(11, 1, ["compute"], status="discover"),                     # pending addition
        n(12, 1, ["ceph-osd"]),
        n(13, 1, ["compute"], status="provisioned"),
        # env 2, MOS 6.1 CentOS
        n(14, 2, ["controller"], os_platform="centos"),
        n(15, 2, ["compute"], os_platform="centos"),
        n(16, 2, ["compute"], os_platform="centos", online=False),
        n(17, 2, ["cinder"], os_platform="centos", status="provisioning"),
        # env 3, MOS 7.0 Ubuntu, partially deployed
        n(18, 3, ["controller"]),
        n(19, 3, ["compute"], status="deploying"),
        n(20, 3, ["compute"], status="removing", pending_deletion=True),
        n(21, 3, ["compute"], status="error", error_type="deletion"),
        n(22, 3, ["compute-vmware"]),
        # env 4, MOS 9.0 Ubuntu
        n(23, 4, ["controller"]), n(24, 4, ["controller"]), n(25, 4, ["controller"]),
        n(26, 4, ["compute"], status="stopped"),
        n(27, 4, ["compute"], status="error", error_type="stop_deployment"),
        n(28, 4, ["compute"], online=False),
        n(29, 4, ["compute"], os_platform="centos"),                  # OS mismatch
        n(30, 4, ["compute", "ironic"]),
        # env 5, new 9.0 env: nodes added, never deployed
        n(31, 5, ["controller"], status="discover"),
        n(32, 5, ["compute"], status="discover", online=False),
        # unassigned: bootstrap nodes, one with a failed discovery
        n(33, None, status="discover"),
        n(34, None, status="discover", os_platform="centos"),
        n(35, None, status="discover", online=False),
        n(36, None, status="error", error_type="discover"),
    ]
    return {"version": version_90(), "releases": rels, "clusters": clusters, "nodes": nodes}


# A fleet pattern: per 20 nodes of an env, what each one is.
_PATTERN = (
    [dict(roles=["controller"])] * 3 + [dict(roles=["compute"])] * 10
    + [dict(roles=["compute", "cinder"])] * 2
    + [dict(roles=["compute"], online=False),
       dict(roles=["compute"], status="error", error_type="deploy"),
       dict(roles=["compute"], pending_deletion=True),
       dict(roles=["compute"], status="discover"),
       dict(roles=["ceph-osd"], status="provisioned")])


def big(nodes=10000, envs=20, unassigned=0.05, data_dir=FUEL_DATA):
    """A master with ``nodes`` nodes in ``envs`` environments (8.0 and 9.0, Ubuntu), plus a
    share of unassigned bootstrap nodes; statuses follow a fixed, realistic pattern."""
    rels = releases(data_dir)
    metas = inv._sample_metas()  # pylint: disable=protected-access
    r80, r90 = release_id(rels, "8.0", "ubuntu"), release_id(rels, "9.0", "ubuntu")
    clusters = [_cluster(i, r80 if i % 2 else r90, f"env-{i}", "8.0" if i % 2 else "9.0")
                for i in range(1, envs + 1)]
    free = int(nodes * unassigned)
    out = []
    for node_id in range(1, nodes + 1):
        if node_id > nodes - free:
            out.append(_node(node_id, None, status="discover", metas=metas,
                             online=node_id % 7 != 0))
            continue
        env = (node_id - 1) % envs + 1
        kind = _PATTERN[((node_id - 1) // envs) % len(_PATTERN)]
        out.append(_node(node_id, env, metas=metas, **kind))
    return {"version": version_90(), "releases": rels, "clusters": clusters, "nodes": out}
