"""Property tests of node selection over generated (sometimes hostile) inventories."""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mosmu_request
import mosmu_select
from sandbox import inventory as inv

RELEASES = [{"id": 1, "name": "Liberty on Ubuntu 14.04", "version": "liberty-8.0",
             "operating_system": "Ubuntu"},
            {"id": 2, "name": "Juno on CentOS 6.5", "version": "2014.2.2-6.1",
             "operating_system": "CentOS"}]
ROLES = ["controller", "compute", "cinder", "ceph-osd"]
HOSTILE = st.sampled_from(["compute;rm", "$(x)", "../etc", "ready\n", 5, None, True, [], {},
                           "controller", 1.5, "10.20.0.3\n"])
FIELDS = ["id", "ip", "status", "online", "cluster", "roles", "os_platform", "error_type",
          "pending_addition", "pending_deletion", "fqdn", "hostname"]


@st.composite
def nodes(draw):
    count = draw(st.integers(0, 25))
    out = []
    for node_id in range(1, count + 1):
        node = {
            "id": node_id, "ip": f"10.20.0.{node_id + 2}",
            "fqdn": f"node-{node_id}.domain.local", "hostname": f"node-{node_id}",
            "status": draw(st.sampled_from(mosmu_select.NODE_STATUSES)),
            "error_type": draw(st.sampled_from((None, *mosmu_select.ERROR_TYPES))),
            "online": draw(st.booleans()),
            "cluster": draw(st.sampled_from([None, 1, 2, 3])),
            "roles": draw(st.lists(st.sampled_from(ROLES), max_size=2, unique=True)),
            "pending_roles": [],
            "os_platform": draw(st.sampled_from(["ubuntu", "ubuntu", "centos"])),
            "pending_addition": draw(st.booleans()),
            "pending_deletion": draw(st.booleans()),
        }
        if draw(st.integers(0, 9)) == 0:  # a hostile field
            node[draw(st.sampled_from(FIELDS))] = draw(HOSTILE)
        if draw(st.integers(0, 14)) == 0 and out:  # a duplicate key
            key = draw(st.sampled_from(["id", "ip", "fqdn"]))
            node[key] = out[draw(st.integers(0, len(out) - 1))][key]
        out.append(node)
    return out


@st.composite
def cases(draw):
    inventory = {"version": inv.version_80(), "releases": RELEASES,
                 "clusters": [{"id": 1, "name": "a", "release_id": 1},
                              {"id": 2, "name": "b", "release_id": 2},
                              {"id": 3, "name": "c", "release_id": 1}],
                 "nodes": draw(nodes())}
    kwargs = {"offline": draw(st.booleans())}
    if draw(st.booleans()):
        kwargs["all_envs"] = True
    else:
        kwargs["env"] = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True))
    if draw(st.booleans()):
        kwargs["statuses"] = draw(st.lists(st.sampled_from(mosmu_request.OVERRIDABLE_STATUSES),
                                           min_size=1, unique=True))
    return inventory, kwargs


def _select(inventory, **kwargs):
    return mosmu_select.select(inventory, mosmu_request.parse(kwargs, mosmu_request.ALL))


def _ids(result):
    return {n["id"] for n in result["selected"]}


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(cases())
def test_never_selects_unassigned_bootstrap_or_pending_deletion(case):
    inventory, kwargs = case
    result = _select(inventory, **kwargs)
    for node in result["selected"]:
        assert node["cluster"] is not None
        assert node["status"] != "discover"  # bootstrap; error_type counts only with "error"
        assert node["status"] != "error" or node["error_type"] in ("deploy", "stop_deployment")
        assert not node["pending_deletion"] and not node["pending_addition"]
        assert node["status"] in ("ready", "error", "provisioned", "stopped")
        assert node["online"] or kwargs["offline"]
        (raw,) = [n for n in inventory["nodes"] if n.get("id") == node["id"]]
        assert raw["cluster"] is not None and raw["status"] != "discover"
        assert raw["pending_deletion"] is False
    ips = [n["ip"] for n in result["selected"]]
    assert len(ips) == len(set(ips))


@PROPS
@given(cases())
def test_every_node_selected_or_skipped_exactly_once(case):
    inventory, kwargs = case
    result = _select(inventory, **kwargs)
    assert len(result["selected"]) + len(result["skipped"]) == len(inventory["nodes"])
    assert all(isinstance(s["reason"], str) and s["reason"] and "\n" not in s["reason"]
               for s in result["skipped"])
    selected = _ids(result)
    assert not selected & {s["id"] for s in result["skipped"]}


@PROPS
@given(cases(), st.lists(st.sampled_from(ROLES), min_size=1, max_size=2),
       st.lists(st.integers(1, 25), min_size=1, max_size=4))
def test_adding_a_filter_never_adds_a_node(case, roles, node_ids):
    inventory, kwargs = case
    before = copy.deepcopy(inventory)
    base = _ids(_select(inventory, **kwargs))
    assert _ids(_select(inventory, **kwargs, roles=roles)) <= base
    # a nodes= value naming no node at all is refused (test_select.py): filter with known ids
    node_ids = [i for i in node_ids if any(isinstance(n, dict) and type(n.get("id")) is int
                                           and n["id"] == i for n in inventory["nodes"])]
    assert _ids(_select(inventory, **kwargs, nodes=node_ids)) <= base
    assert _ids(_select(inventory, **kwargs, roles=roles, nodes=node_ids)) <= base
    if kwargs.get("statuses"):
        assert _ids(_select(inventory, **dict(kwargs, statuses=kwargs["statuses"][:1]))) <= base
    if kwargs["offline"]:
        assert _ids(_select(inventory, **dict(kwargs, offline=False))) <= base
    assert inventory == before  # selection never mutates its input
