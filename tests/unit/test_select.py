"""Node selection (DESIGN.md section 5): which nodes of the Fuel inventory an update takes.

Each rule skips the node it is about and nothing else, the first rule that applies wins, and
every skipped node has a reason an operator can act on. Every Nailgun record goes through one
gate (parse_node): a hostile or mistyped field skips the node naming the field, an
untrustworthy cluster list refuses the run. Checked on inventories built like the sandbox's,
on small hand-written records, and on generated (sometimes hostile) inventories.
"""

import copy
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mosmu_catalog
import mosmu_render
import mosmu_request
import mosmu_select
import mosmu_validate
from mosmu_errors import ConfigError, FuelError
from sandbox import inventory as inv
from sandbox import realistic


@pytest.fixture
def fleet():
    """env 1: 2 ready + 1 offline + 1 discover + 1 deploy-error; env 2: 1 ready; 1 unassigned."""
    data = inv.default(2)
    nodes = data["nodes"]
    nodes.append(inv.node(3, roles=["compute"], online=False))
    nodes.append(inv.node(4, status="discover"))
    nodes.append(dict(inv.node(5, roles=["compute"]), status="error", error_type="deploy"))
    nodes.append(inv.node(6, cluster=2))
    nodes.append(inv.node(7, cluster=None, status="discover"))
    data["clusters"].append(inv.cluster(2))
    return data


@pytest.fixture(scope="module")
def real():
    return realistic.realistic()


def _ids(result):
    return sorted(n["id"] for n in result["selected"])


def _reason(result, node_id):
    (reason,) = [s["reason"] for s in result["skipped"] if s["id"] == node_id]
    return reason


def _req(**kwargs):
    return mosmu_request.parse(kwargs, mosmu_request.ALL)


def _complete(result, inventory):
    """Every inventory node selected or skipped, exactly once."""
    ids = [n["id"] for n in result["selected"]] + [s["id"] for s in result["skipped"]]
    return len(ids) == len(inventory["nodes"])


# --- a sandbox-like fleet: env, all_envs, offline, roles and nodes -------------------------

def test_env_selects_deployed_online_nodes_and_says_why_not_the_rest(fleet):
    result = mosmu_select.select(fleet, _req(env=1))
    assert _ids(result) == [1, 2, 5]
    assert "offline" in _reason(result, 3)
    assert _reason(result, 4) == "pending addition: not deployed yet"
    assert _reason(result, 6) == "in environment 2, not selected"
    assert _reason(result, 7) == "unassigned (in no environment)"
    assert _complete(result, fleet)


def test_legacy_keyword_call_still_works(fleet):
    assert _ids(mosmu_select.select(fleet, env=1)) == [1, 2, 5]


def test_offline_includes_offline_nodes_but_never_unassigned(fleet):
    assert _ids(mosmu_select.select(fleet, _req(env=1, offline=True))) == [1, 2, 3, 5]
    result = mosmu_select.select(fleet, _req(all_envs=True, offline=True))
    assert 7 not in _ids(result)


def test_all_envs_takes_operational_envs_only(fleet):
    fleet["clusters"].append(inv.cluster(3))
    fleet["nodes"].append(inv.node(8, cluster=3, status="provisioned"))
    result = mosmu_select.select(fleet, _req(all_envs=True))
    assert result["envs"] == [1, 2]
    assert _ids(result) == [1, 2, 5, 6]
    assert _reason(result, 8) == "in environment 3, not operational (no ready node)"


def test_env_whose_only_ready_node_is_offline_is_operational_with_offline_only(fleet):
    fleet["clusters"].append(inv.cluster(3))
    fleet["nodes"].append(inv.node(8, cluster=3, online=False))
    assert mosmu_select.select(fleet, _req(all_envs=True))["envs"] == [1, 2]
    assert mosmu_select.select(fleet, _req(all_envs=True, offline=True))["envs"] == [1, 2, 3]


def test_several_envs(fleet):
    assert _ids(mosmu_select.select(fleet, _req(env="1,2"))) == [1, 2, 5, 6]
    assert _ids(mosmu_select.select(fleet, _req(env=[2]))) == [6]


def test_roles_and_nodes_filter_within_env(fleet):
    assert _ids(mosmu_select.select(fleet, _req(env=1, roles="compute,cinder"))) == [2, 5]
    assert _ids(mosmu_select.select(fleet, _req(env=1, nodes=["10.20.0.3"]))) == [1]
    result = mosmu_select.select(fleet, _req(env=1, nodes="10.20.0.8"))  # node 6 is in env 2
    assert result["selected"] == [] and _reason(result, 6) == "in environment 2, not selected"


@pytest.mark.parametrize("key", [2, "2", "10.20.0.4", "node-2.test.domain.local",
                                 "NODE-2.test.domain.local", "node-2"])
def test_nodes_accepts_id_ip_fqdn_or_hostname(fleet, key):
    result = mosmu_select.select(fleet, _req(env=1, nodes=key))
    assert _ids(result) == [2]
    assert _reason(result, 1) == f"not in nodes={key}"


@pytest.mark.parametrize("kwargs, words", [
    ({}, "no environment chosen"),
    ({"env": 1, "all_envs": True}, "not both"),
    ({"env": 42}, "environment 42 does not exist"),
    ({"env": "1,42"}, "environment 42 does not exist"),
    ({"env": "abc"}, "is not a number"),
    ({"env": 1, "nodes": "10.20.0.999"}, "not an IPv4 address"),
    ({"env": 1, "roles": "Compute;rm"}, "not a role name"),
])
def test_bad_selection_arguments(fleet, kwargs, words):
    with pytest.raises(ConfigError, match=words):
        mosmu_select.select(fleet, **kwargs)


# --- every rule of the realistic fleet has its own reason -----------------------------------

@pytest.mark.parametrize("node_id, reason", [
    (7, "offline in Nailgun (offline=True includes it)"),
    (9, "status error (error_type provision): no OS installed"),
    (10, "pending deletion"),
    (11, "pending addition: not deployed yet"),
    (13, "status provisioned: OS installed, OpenStack not deployed (statuses= can count it)"),
    (17, "status provisioning: OS being installed"),
    (19, "status deploying: deployment in progress"),
    (20, "pending deletion"),
    (21, "status error (error_type deletion): no OS installed"),
    (26, "status stopped: deployment stopped (statuses= can count it)"),
    (29, "os_platform centos differs from environment 4's release OS ubuntu"),
    (31, "in environment 5, not operational (no ready node)"),
    (33, "unassigned (in no environment)"),
    (36, "unassigned (in no environment)"),
])
def test_realistic_fleet_reasons(real, node_id, reason):
    result = mosmu_select.select(real, _req(all_envs=True))
    assert _reason(result, node_id) == reason


def test_realistic_fleet_selection(real):
    result = mosmu_select.select(real, _req(all_envs=True))
    assert result["envs"] == [1, 2, 3, 4]
    assert _ids(result) == [1, 2, 3, 4, 5, 6, 8, 12, 14, 15, 18, 22, 23, 24, 25, 27, 30]
    assert _complete(result, real)
    # CentOS 6.1 nodes match their CentOS release
    assert {n["os_platform"] for n in result["selected"] if n["cluster"] == 2} == {"centos"}


def test_removing_status_has_its_own_reason(real):
    real = copy.deepcopy(real)
    real["nodes"][19]["pending_deletion"] = False  # node 20, status removing
    result = mosmu_select.select(real, _req(env=3))
    assert _reason(result, 20) == "status removing: being removed"


def test_pending_addition_wins_over_status_and_pending_deletion_over_both(real):
    real = copy.deepcopy(real)
    node = real["nodes"][3]  # node 4, ready
    node.update(pending_addition=True)
    assert _reason(mosmu_select.select(real, _req(env=1)), 4) == \
        "pending addition: not deployed yet"
    node.update(pending_deletion=True)
    assert _reason(mosmu_select.select(real, _req(env=1)), 4) == "pending deletion"


def test_statuses_override(real):
    default = _ids(mosmu_select.select(real, _req(env=4)))
    assert 26 not in default and 27 in default
    wider = _ids(mosmu_select.select(real, _req(env=4, statuses="ready,error,stopped")))
    assert wider == sorted([*default, 26])
    narrower = mosmu_select.select(real, _req(env=4, statuses="ready"))
    assert 27 not in _ids(narrower)
    assert _reason(narrower, 27) == "status error: not counted as deployed (statuses= can count it)"


def test_statuses_never_admits_bootstrap_nodes():
    with pytest.raises(ConfigError, match="'discover' cannot count as deployed"):
        _req(env=1, statuses="ready,discover")


def test_error_with_provision_type_stays_out_even_when_error_counts(real):
    result = mosmu_select.select(real, _req(env=1, statuses="ready,error"))
    assert 9 not in _ids(result) and 8 in _ids(result)


# --- hostile inventories --------------------------------------------------------------------

def _set(field, value):
    def change(node):
        node[field] = value
    return change


def _drop(field):
    def change(node):
        del node[field]
    return change


HOSTILE_NODES = [
    ("ip metacharacters", _set("ip", "10.20.0.3; rm -rf /"), "ip"),
    ("ip command substitution", _set("ip", "$(x)"), "ip"),
    ("ip trailing newline", _set("ip", "10.20.0.3\n"), "ip"),
    ("ip null", _set("ip", None), "ip"),
    ("ip number", _set("ip", 168034307), "ip"),
    ("role metacharacters", _set("roles", ["compute;rm"]), "roles"),
    ("role substitution", _set("roles", ["controller", "$(reboot)"]), "roles"),
    ("role traversal", _set("roles", ["../../etc"]), "roles"),
    ("role trailing newline", _set("roles", ["compute\n"]), "roles"),
    ("roles a string", _set("roles", "controller"), "roles"),
    ("roles a number", _set("roles", 5), "roles"),
    ("roles an object", _set("roles", {"compute": True}), "roles"),
    ("fqdn bad label", _set("fqdn", "node-1.-bad"), "fqdn"),
    ("fqdn traversal", _set("fqdn", "../../etc/passwd"), "fqdn"),
    ("fqdn newline", _set("fqdn", "node-1.test\n"), "fqdn"),
    ("fqdn oversized", _set("fqdn", "a." * 200 + "b"), "fqdn"),
    ("hostname metacharacters", _set("hostname", "node-1;id"), "hostname"),
    ("online a string", _set("online", "yes"), "online"),
    ("online a number", _set("online", 1), "online"),
    ("id a bool", _set("id", True), "id"),
    ("id a string", _set("id", "1"), "id"),
    ("id zero", _set("id", 0), "id"),
    ("cluster a string", _set("cluster", "1"), "cluster"),
    ("cluster a float", _set("cluster", 1.0), "cluster"),
    ("status unknown", _set("status", "rebooting"), "status"),
    ("status a list", _set("status", ["ready"]), "status"),
    ("status upper case", _set("status", "READY"), "status"),
    ("error_type unknown", _set("error_type", "oops"), "error_type"),
    ("os_platform metacharacters", _set("os_platform", "ubuntu;reboot"), "os_platform"),
    ("os_platform trailing newline", _set("os_platform", "ubuntu\n"), "os_platform"),
    ("pending_deletion a string", _set("pending_deletion", "false"), "pending_deletion"),
    ("pending_addition null", _set("pending_addition", None), "pending_addition"),
    ("pending_roles a string", _set("pending_roles", "compute"), "pending_roles"),
    ("no id", _drop("id"), "id"),
    ("no ip", _drop("ip"), "ip"),
    ("no status", _drop("status"), "status"),
    ("no online", _drop("online"), "online"),
    ("no roles", _drop("roles"), "roles"),
    ("no cluster", _drop("cluster"), "cluster"),
    ("no os_platform", _drop("os_platform"), "os_platform"),
    ("no pending_deletion", _drop("pending_deletion"), "pending_deletion"),
]


@pytest.mark.parametrize("name, change, field", HOSTILE_NODES, ids=[h[0] for h in HOSTILE_NODES])
def test_hostile_node_is_skipped_with_the_field_named(fleet, name, change, field):
    change(fleet["nodes"][0])
    result = mosmu_select.select(fleet, _req(env=1))
    bad = [s for s in result["skipped"] if s["reason"].startswith("invalid Nailgun record")]
    assert len(bad) == 1, name
    assert bad[0]["reason"].startswith(f"invalid Nailgun record: {field}")
    assert bad[0]["failed"] is True
    assert 1 not in _ids(result) and _ids(result) == [2, 5]
    assert _complete(result, fleet)
    assert "\n" not in bad[0]["reason"]


def test_a_node_that_is_not_an_object(fleet):
    fleet["nodes"].append("node-9")
    fleet["nodes"].append(None)
    result = mosmu_select.select(fleet, _req(env=1))
    assert _ids(result) == [1, 2, 5]
    assert sum("not an object" in s["reason"] for s in result["skipped"]) == 2
    assert _complete(result, fleet)


@pytest.mark.parametrize("field", ["ip", "fqdn", "id"])
def test_duplicates_skip_both_nodes(fleet, field):
    fleet["nodes"][1][field] = fleet["nodes"][0][field]
    result = mosmu_select.select(fleet, _req(env=1))
    assert _ids(result) == [5]
    dup = [s for s in result["skipped"] if s["reason"].startswith(f"duplicate {field}")]
    assert len(dup) == 2 and all(s["failed"] for s in dup)
    assert _complete(result, fleet)
    ips = [n["ip"] for n in result["selected"]]
    assert len(ips) == len(set(ips))


def test_duplicate_fqdn_is_case_insensitive(fleet):
    fleet["nodes"][1]["fqdn"] = fleet["nodes"][0]["fqdn"].upper()
    assert _ids(mosmu_select.select(fleet, _req(env=1))) == [5]


def test_invalid_record_outside_the_chosen_env_does_not_fail_the_run(fleet):
    fleet["nodes"][5]["roles"] = "controller"  # node 6, env 2
    result = mosmu_select.select(fleet, _req(env=1))
    (bad,) = [s for s in result["skipped"] if s["id"] == 6]
    assert bad["failed"] is False and _ids(result) == [1, 2, 5]


@pytest.mark.parametrize("change, words", [
    (lambda r: r.update(version=8.0), "release 2 is invalid (version: 8.0 is not a string)"),
    (lambda r: r.pop("version"), "release 2 is invalid (version is missing)"),
    (lambda r: r.update(operating_system=["Ubuntu"]), "release 2 is invalid (operating_system"),
    (lambda r: r.update(operating_system="Ubuntu;reboot"), "release 2 is invalid"),
    (lambda r: r.update(id=99), "release 2 is not listed by Nailgun"),
])
def test_broken_release_fails_its_environment(fleet, change, words):
    change(fleet["releases"][1])
    result = mosmu_select.select(fleet, _req(env=1))
    assert result["selected"] == []
    env1 = [s for s in result["skipped"] if s["env"] == 1]
    assert env1 and all(words in s["reason"] or s["reason"].startswith(("pending", "offline",
                                                                         "status"))
                        for s in env1)
    assert any(words in s["reason"] and s["failed"] for s in env1)


@pytest.mark.parametrize("change, words", [
    (lambda c: c.pop("id"), "cluster with id is missing"),
    (lambda c: c.update(id="1"), "cluster with id: id '1' is not a positive integer"),
    (lambda c: c.update(id=True), "cluster with id: id True"),
])
def test_cluster_without_a_valid_id_refuses_the_run(fleet, change, words):
    change(fleet["clusters"][0])
    with pytest.raises(FuelError, match=words):
        mosmu_select.select(fleet, _req(all_envs=True))


def test_duplicate_cluster_ids_refuse_the_run(fleet):
    fleet["clusters"][1]["id"] = 1
    with pytest.raises(FuelError, match="cluster id 1 twice"):
        mosmu_select.select(fleet, _req(env=1))


@pytest.mark.parametrize("inventory", [
    [], {"nodes": {}, "clusters": [], "releases": []}, {"nodes": [], "clusters": None},
])
def test_inventory_of_the_wrong_shape_is_refused(inventory):
    with pytest.raises(FuelError, match="not"):
        mosmu_select.select(inventory, _req(all_envs=True))


def test_release_id_of_the_wrong_type(fleet):
    fleet["clusters"][0]["release_id"] = "2"
    result = mosmu_select.select(fleet, _req(env=1))
    assert result["selected"] == []
    assert "release_id '2' is not a release id" in _reason(result, 1)


def test_selected_nodes_carry_only_validated_values(real):
    result = mosmu_select.select(real, _req(all_envs=True, offline=True))
    for node in result["selected"]:
        assert isinstance(node["roles"], list) and isinstance(node["online"], bool)
        assert set(node) >= {"id", "ip", "fqdn", "hostname", "cluster", "roles",
                             "os_platform", "status", "online"}


def test_render_nodes_table(real):
    result = mosmu_select.select(real, _req(all_envs=True))
    for node in result["selected"]:
        node.update(mos_version="8.0", minion=node["fqdn"] if node["id"] != 2 else None,
                    transport="minion" if node["id"] != 2 else "ssh")
    text = mosmu_render.nodes_table(result)
    lines = text.splitlines()
    assert lines[0] == "environment 1: 8 selected"
    assert lines[1].split() == ["id", "fqdn", "ip", "roles", "status", "online", "version",
                                "transport", "minion"]
    assert lines[2].split() == ["1", "node-1.test.domain.local", "10.20.0.3", "controller",
                                "ready", "yes", "8.0", "minion", "node-1.test.domain.local"]
    assert lines[3].split()[-2:] == ["ssh", "-"]  # node 2: no minion, reached over ssh
    assert "skipped: 19" in lines
    assert any(line.split()[:3] == ["29", "10.20.0.31", "4"] and "os_platform centos" in line
               for line in lines)


def test_render_nodes_keeps_hostile_text_on_one_line():
    text = mosmu_render.nodes_table({"selected": [], "skipped": [
        {"id": None, "ip": None, "env": None, "reason": "invalid Nailgun record: fqdn 'a\nb'"},
        {"id": 3, "ip": "10.20.0.5", "reason": "bad\r\nthing"}]})
    assert len(text.splitlines()) == 4
    assert mosmu_render.nodes_table({"selected": [], "skipped": []}) == "no nodes"


@pytest.mark.parametrize("version, expected", [
    ("liberty-8.0", "8.0"), ("mitaka-9.0", "9.0"), ("2014.2.2-6.1", "6.1"), ("2014.1", "5.0"),
])
def test_mos_version_of_release(version, expected):
    assert mosmu_catalog.mos_version_of_release({"version": version}) == expected


# --- nodes= values that name nothing --------------------------------------------------------

@pytest.mark.parametrize("nodes, unmatched", [
    ("10.20.0.99", "10.20.0.99"), (99, "99"), ("node-99", "node-99"),
    ("node-99.test.domain.local", "node-99.test.domain.local"),
    ("1,10.20.0.99", "10.20.0.99"), ("node-1,node-77,77", "node-77,77"),
    ("node-1.test.domain", "node-1.test.domain"),   # a shortened fqdn is no fqdn of a node
])
def test_a_nodes_value_that_matches_no_node_is_refused_naming_it(fleet, nodes, unmatched):
    """A nodes= value naming no node used to be silent: every node was skipped with
    'not in nodes=' and no word said which value matched nothing."""
    with pytest.raises(ConfigError) as err:
        mosmu_select.select(fleet, _req(env=1, nodes=nodes))
    text = str(err.value)
    assert text.startswith(f"nodes={unmatched} matches no node in Nailgun")
    assert "salt-run mosmu.nodes all_envs=True offline=True" in text and "\n" not in text


@pytest.mark.parametrize("nodes, node_id", [
    ("6", 6), ("10.20.0.8", 6), ("NODE-6.test.domain.local", 6), ("node-7", 7), ("3", 3),
    ("4", 4),
])
def test_a_nodes_value_of_a_node_skipped_for_another_reason_is_not_refused(fleet, nodes,
                                                                            node_id):
    """Node 6 is in env 2, 7 unassigned, 3 offline, 4 pending addition: each keeps its own
    reason."""
    result = mosmu_select.select(fleet, _req(env=1, nodes=nodes))
    assert result["selected"] == [] and _complete(result, fleet)
    assert not _reason(result, node_id).startswith("not in nodes=")


def test_a_nodes_value_of_a_broken_record_is_not_refused(fleet):
    fleet["nodes"].append(dict(inv.node(9), roles="compute"))   # invalid: roles not a list
    result = mosmu_select.select(fleet, _req(env=1, nodes="10.20.0.11"))
    assert "roles" in _reason(result, 9)


@pytest.mark.parametrize("nodes, words", [
    ("2", "not in nodes=2"), ("node-2,10.20.0.4", "not in nodes=node-2,10.20.0.4"),
    ("node-2.test.domain.local,node-5.test.domain.local,10.20.0.4,10.20.0.7,2,5",
     "not in nodes=node-2.test.domain.local,node-5.test.domain.local,"),
])
def test_the_not_in_nodes_reason_names_the_values(fleet, nodes, words):
    """The skip reason used to be 'not in nodes=' with no value."""
    reason = _reason(mosmu_select.select(fleet, _req(env=1, nodes=nodes)), 1)
    assert reason.startswith(words) and len(reason) <= len("not in nodes=") + 63


# --- each rule skips its node and only it ---------------------------------------------------
def _fleet(*extra):
    data = inv.default(2)
    data["nodes"].extend(extra)
    return data


def _skipped_ids(result):
    return sorted(s["id"] for s in result["skipped"])


def _selected_ids(result):
    return sorted(n["id"] for n in result["selected"])


@pytest.mark.parametrize("node", [
    inv.node(3, cluster=None, status="discover"),                        # unassigned
    inv.node(3, cluster=9),                                              # unlisted env
    dict(inv.node(3), pending_deletion=True),
    dict(inv.node(3), pending_addition=True),
    inv.node(3, status="provisioned"),
    inv.node(3, status="stopped"),
    dict(inv.node(3), status="error", error_type="provision"),
    inv.node(3, online=False),
    inv.node(3, os_platform="centos"),
])
def test_each_rule_skips_its_node_and_only_it(node):
    result = mosmu_select.select(_fleet(node), _req(env=1))
    assert _selected_ids(result) == [1, 2] and _skipped_ids(result) == [3]
    assert result["skipped"][0]["reason"]


@pytest.mark.parametrize("node, kw", [
    (inv.node(3, online=False), {"offline": True}),
    (inv.node(3, status="stopped"), {"statuses": "ready,stopped"}),
    (inv.node(3, status="provisioned"), {"statuses": "provisioned"}),
    (dict(inv.node(3), status="error", error_type="deploy"), {}),
    (dict(inv.node(3), status="error", error_type="stop_deployment"), {}),
])
def test_overrides_select_the_node(node, kw):
    result = mosmu_select.select(_fleet(node), _req(env=1, **kw))
    assert 3 in _selected_ids(result)


def test_error_not_counted_when_statuses_leave_it_out():
    node = dict(inv.node(3), status="error", error_type="deploy")
    assert 3 not in _selected_ids(mosmu_select.select(_fleet(node), _req(env=1,
                                                                        statuses="ready")))


def test_is_deployed_rules():
    ready, stopped = inv.node(1), inv.node(2, status="stopped")
    err = mosmu_select.parse_node(dict(inv.node(3), status="error", error_type="deploy"))
    bad = mosmu_select.parse_node(dict(inv.node(4), status="error", error_type="provision"))
    assert mosmu_select.is_deployed(mosmu_select.parse_node(ready))
    assert not mosmu_select.is_deployed(mosmu_select.parse_node(stopped))
    assert mosmu_select.is_deployed(mosmu_select.parse_node(stopped), ("stopped",))
    assert mosmu_select.is_deployed(err) and not mosmu_select.is_deployed(bad)
    assert not mosmu_select.is_deployed(err, ("ready",))


@pytest.mark.parametrize("kw, expected", [
    ({"roles": "compute"}, [2]), ({"roles": "controller"}, [1]),
    ({"roles": "cinder,controller"}, [1]),
    ({"nodes": "2"}, [2]), ({"nodes": "10.20.0.3"}, [1]),
    ({"nodes": "NODE-2.test.domain.local"}, [2]),
    ({"nodes": "node-1.test.domain.local,2"}, [1, 2]),
    ({"roles": "compute", "nodes": "1"}, []),
])
def test_roles_and_nodes_filters(kw, expected):
    result = mosmu_select.select(_fleet(), _req(env=1, **kw))
    assert _selected_ids(result) == expected
    assert sorted(_selected_ids(result) + _skipped_ids(result)) == [1, 2]


def test_all_envs_takes_only_envs_with_a_ready_online_node():
    data = _fleet(inv.node(3, cluster=2, online=False))
    data["clusters"].append(inv.cluster(2))
    assert mosmu_select.select(data, _req(all_envs=True))["envs"] == [1]
    assert mosmu_select.select(data, _req(all_envs=True, offline=True))["envs"] == [1, 2]
    assert 3 in _skipped_ids(mosmu_select.select(data, _req(all_envs=True)))


def test_duplicate_ids_skip_every_holder():
    data = _fleet(inv.node(2, cluster=1))
    result = mosmu_select.select(data, _req(env=1))
    assert _selected_ids(result) == [1]


# --- the record gate, field by field, on small hand-written records ------------------------

RELEASES = [{"id": 1, "name": "Liberty on Ubuntu 14.04", "version": "liberty-8.0",
             "operating_system": "Ubuntu"},
            {"id": 2, "name": "Juno on CentOS 6.5", "version": "2014.2.2-6.1",
             "operating_system": "CentOS"}]


def _raw(nid, **over):
    raw = {"id": nid, "ip": f"10.0.0.{nid}", "status": "ready", "online": True, "cluster": 1,
           "roles": ["compute"], "pending_roles": [], "pending_addition": False,
           "pending_deletion": False, "os_platform": "ubuntu", "error_type": None,
           "fqdn": f"node-{nid}.x.local", "hostname": f"node-{nid}"}
    raw.update(over)
    return raw


def _inventory(*nodes, clusters=None, releases=None):
    return {"nodes": list(nodes),
            "clusters": clusters if clusters is not None else
            [{"id": 1, "name": "one", "release_id": 1}, {"id": 2, "name": "two", "release_id": 2}],
            "releases": releases if releases is not None else [dict(r) for r in RELEASES]}


def test_parse_node_returns_the_typed_subset():
    raw = _raw(3, roles=["controller", "cinder"], pending_roles=["mongo"], status="error",
               error_type="deploy", online=False, cluster=2, os_platform="centos",
               pending_addition=True, pending_deletion=True, name="Untitled", meta={})
    assert mosmu_select.parse_node(raw) == {
        "id": 3, "ip": "10.0.0.3", "status": "error", "online": False, "cluster": 2,
        "roles": ["controller", "cinder"], "pending_roles": ["mongo"], "pending_addition": True,
        "pending_deletion": True, "os_platform": "centos", "error_type": "deploy",
        "fqdn": "node-3.x.local", "hostname": "node-3"}


def test_parse_node_optional_fields_may_be_absent_or_null():
    raw = _raw(4, cluster=None, fqdn=None, hostname=None)
    for key in ("pending_roles", "error_type"):
        del raw[key]
    node = mosmu_select.parse_node(raw)
    assert node["cluster"] is None and node["fqdn"] is None and node["hostname"] is None
    assert node["pending_roles"] == [] and node["error_type"] is None
    del raw["fqdn"], raw["hostname"]
    node = mosmu_select.parse_node(raw)
    assert node["fqdn"] is None and node["hostname"] is None
    assert isinstance(node["roles"], list) and isinstance(node["pending_roles"], list)


@pytest.mark.parametrize("status", mosmu_select.NODE_STATUSES)
def test_every_nailgun_status_is_accepted(status):
    assert mosmu_select.parse_node(_raw(1, status=status))["status"] == status


@pytest.mark.parametrize("error_type", mosmu_select.ERROR_TYPES)
def test_every_nailgun_error_type_is_accepted(error_type):
    assert mosmu_select.parse_node(_raw(1, error_type=error_type))["error_type"] == error_type


def test_canonical_ip_and_cached_values_are_returned_as_given():
    node = mosmu_select.parse_node(_raw(1, ip="255.249.200.99", roles=["ceph-osd", "compute"],
                                        os_platform="ubuntu"))
    assert node["ip"] == "255.249.200.99" and node["roles"] == ["ceph-osd", "compute"]
    assert mosmu_select.parse_node(_raw(1, ip="0.0.0.0"))["ip"] == "0.0.0.0"  # noqa: S104


MISSING = object()
HOSTILE_FIELDS = [
    ("id", 0), ("id", -1), ("id", True), ("id", "1"), ("id", 1.0), ("id", None), ("id", MISSING),
    ("ip", "10.0.0.256"), ("ip", "10.0.0.1 "), ("ip", None), ("ip", 167772161), ("ip", ""),
    ("ip", "010.0.0.1"), ("ip", "10.0.0"), ("ip", MISSING),
    ("status", "rebooting"), ("status", "READY"), ("status", None), ("status", ["ready"]),
    ("status", 1), ("status", ""), ("status", MISSING),
    ("online", 1), ("online", 0), ("online", "true"), ("online", None), ("online", MISSING),
    ("cluster", 0), ("cluster", "1"), ("cluster", True), ("cluster", 1.0), ("cluster", MISSING),
    ("roles", "compute"), ("roles", None), ("roles", ("compute",)), ("roles", ["Compute"]),
    ("roles", [1]), ("roles", [None]), ("roles", {"compute": 1}), ("roles", MISSING),
    ("pending_roles", "compute"), ("pending_roles", ["bad;x"]), ("pending_roles", 3),
    ("pending_addition", None), ("pending_addition", "false"), ("pending_addition", 0),
    ("pending_addition", MISSING),
    ("pending_deletion", None), ("pending_deletion", "false"), ("pending_deletion", 1),
    ("pending_deletion", MISSING),
    ("os_platform", "Ubuntu"), ("os_platform", "ubuntu\n"), ("os_platform", None),
    ("os_platform", 5), ("os_platform", ""), ("os_platform", ["ubuntu"]), ("os_platform", MISSING),
    ("error_type", "oops"), ("error_type", "DEPLOY"), ("error_type", 5), ("error_type", ["deploy"]),
    ("error_type", ""),
    ("fqdn", "a..b"), ("fqdn", ""), ("fqdn", 5), ("fqdn", "-a.b"), ("fqdn", "a.b\n"),
    ("hostname", "a b"), ("hostname", 5), ("hostname", ""), ("hostname", "node;id"),
]


@pytest.mark.parametrize("field, value", HOSTILE_FIELDS)
def test_parse_node_refuses_a_bad_field_naming_it(field, value):
    raw = _raw(1)
    if value is MISSING:
        del raw[field]
    else:
        raw[field] = value
    with pytest.raises(ValueError) as err:
        mosmu_select.parse_node(raw)
    assert str(err.value).startswith(f"{field}")
    if value is not MISSING:   # names the refused value (or the refused item of a list)
        named = value if not isinstance(value, list) else value[0]
        assert repr(named)[:10] in str(err.value)


@pytest.mark.parametrize("raw", [None, "node-1", [1], 7])
def test_parse_node_refuses_a_record_that_is_not_an_object(raw):
    with pytest.raises(ValueError, match=type(raw).__name__):
        mosmu_select.parse_node(raw)


def test_a_missing_field_is_named_and_a_bad_one_names_its_value():
    raw = _raw(1)
    del raw["ip"]
    with pytest.raises(ValueError, match=r"^ip is missing"):
        mosmu_select.parse_node(raw)
    with pytest.raises(ValueError, match=r"^status: .*'x'") as err:
        mosmu_select.parse_node(_raw(1, status="x"))
    assert isinstance(err.value.__cause__, ValueError)


@pytest.mark.parametrize("value", [True, False])
def test_a_flag_is_a_real_boolean(value):
    assert mosmu_select.parse_node(_raw(1, online=value))["online"] is value


@pytest.mark.parametrize("value", [1, 0, "true", "", None, [True]])
def test_a_flag_that_is_not_a_boolean_is_refused(value):
    with pytest.raises(ValueError, match=r"^online: .* is not a boolean"):
        mosmu_select.parse_node(_raw(1, online=value))


def test_an_optional_field_may_be_null_and_is_checked_otherwise():
    assert mosmu_select.parse_node(_raw(1, cluster=None))["cluster"] is None
    assert mosmu_select.parse_node(_raw(1, cluster=3))["cluster"] == 3
    with pytest.raises(ValueError, match=r"^cluster"):
        mosmu_select.parse_node(_raw(1, cluster=0))


@pytest.mark.parametrize("value, expected", [
    ("a" * 38, repr("a" * 38)),                           # repr of 40 chars: kept whole
    ("a" * 39, repr("a" * 39)[:40] + "..."),
    (7, "7"),
    (list(range(30)), repr(list(range(30)))[:40] + "..."),
])
def test_a_refused_value_is_cut_at_40_characters(value, expected):
    with pytest.raises(ValueError) as err:
        mosmu_select.parse_node(_raw(1, status=value))
    assert str(err.value) == f"status: {expected} is not a Nailgun node status"


def test_roles_status_and_error_type_are_checked():
    assert mosmu_select.parse_node(_raw(1, roles=["a", "b-c"]))["roles"] == ["a", "b-c"]
    assert mosmu_select.parse_node(_raw(1, roles=[]))["roles"] == []
    for bad in ("ab", None, ("a",), ["A"]):
        with pytest.raises(ValueError, match=r"^roles: "):
            mosmu_select.parse_node(_raw(1, roles=bad))
    with pytest.raises(ValueError, match="'ab' is not a list"):
        mosmu_select.parse_node(_raw(1, roles="ab"))
    for bad in ("x", None, 1, "Ready"):
        with pytest.raises(ValueError, match="node status"):
            mosmu_select.parse_node(_raw(1, status=bad))
    for bad in ("x", 1, "Deploy"):
        with pytest.raises(ValueError, match="error type"):
            mosmu_select.parse_node(_raw(1, error_type=bad))


@pytest.mark.parametrize("value", ["10.0.0.1", "1.2.3.4", "255.255.255.255", "199.250.9.0"])
def test_a_canonical_address_is_kept_as_given(value):
    assert mosmu_select.parse_node(_raw(1, ip=value))["ip"] == value


@pytest.mark.parametrize("value", ["256.0.0.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", None, 1,
                                   "1.2.3.4\n"])
def test_anything_but_an_ipv4_address_is_refused(value):
    with pytest.raises(ValueError, match=r"^ip: "):
        mosmu_select.parse_node(_raw(1, ip=value))


def test_a_role_that_is_not_a_string_is_refused_not_cached():
    with pytest.raises(ValueError, match="role"):
        mosmu_select.parse_node(_raw(1, roles=[["x"]]))      # a list is not hashable
    assert mosmu_select.parse_node(_raw(1, roles=["compute"]))["roles"] == ["compute"]
    assert mosmu_select.parse_node(_raw(1, os_platform="centos"))["os_platform"] == "centos"
    with pytest.raises(ValueError, match="os_platform"):
        mosmu_select.parse_node(_raw(1, os_platform="Cent OS"))


# --- releases and clusters: an environment without a good release fails, nothing else -----

def test_parse_release():
    assert mosmu_select.parse_release(dict(RELEASES[0])) == {
        "id": 1, "name": "Liberty on Ubuntu 14.04", "version": "liberty-8.0", "os": "ubuntu"}
    assert mosmu_select.parse_release({"id": 3, "version": "v" * 128,
                                       "operating_system": "CentOS"}) == {
        "id": 3, "name": None, "version": "v" * 128, "os": "centos"}
    assert mosmu_select.parse_release({"id": 3, "name": None, "version": "8.0",
                                       "operating_system": "ubuntu"})["name"] is None


@pytest.mark.parametrize("field, value", [
    ("id", 0), ("id", "1"), ("id", True), ("id", MISSING),
    ("name", ""), ("name", 5), ("name", "n" * 129),
    ("version", ""), ("version", 8.0), ("version", None), ("version", "v" * 129),
    ("version", MISSING),
    ("operating_system", "Ubuntu;reboot"), ("operating_system", ["Ubuntu"]),
    ("operating_system", ""), ("operating_system", None), ("operating_system", MISSING),
    ("operating_system", "o" * 129),
])
def test_parse_release_refuses_a_bad_field_naming_it(field, value):
    raw = dict(RELEASES[0])
    if value is MISSING:
        del raw[field]
    else:
        raw[field] = value
    with pytest.raises(ValueError) as err:
        mosmu_select.parse_release(raw)
    assert str(err.value).startswith(field)


def test_an_environment_name_that_is_not_text_is_shown_as_none():
    clusters = [{"id": 2, "name": "b", "release_id": 1}, {"id": 1, "name": 5}]
    with pytest.raises(ConfigError, match=r"\(environments: 1 \(None\), 2 \(b\)\)"):
        mosmu_select.select(_inventory(_raw(1), clusters=clusters), _req(env=3))
    result = mosmu_select.select(_inventory(_raw(1, cluster=2), _raw(3), clusters=clusters),
                                 _req(env="1,2"))
    assert [n["id"] for n in result["selected"]] == [1]
    assert _skips(result)[3]["reason"] == "environment 1: release_id None is not a release id"


@pytest.mark.parametrize("clusters, words", [
    (["c"], "str"), ([None], "NoneType"), ([{"name": "a"}], "id is missing"),
    ([{"id": "1", "name": "a"}], "'a'"), ([{"id": 0}], "id 0"), ([{"id": True}], "id True"),
    ([{"id": 1}, {"id": 2}, {"id": 1}], "cluster id 1 twice"),
])
def test_an_untrustworthy_cluster_list_refuses_the_run(clusters, words):
    with pytest.raises(FuelError, match=re.escape(words)):
        mosmu_select.select(_inventory(_raw(1), clusters=clusters), _req(env=1))


def test_a_broken_or_twice_listed_release_fails_its_environments_only():
    releases = [
        dict(RELEASES[0]), "junk", dict(RELEASES[1], version=None),
        dict(RELEASES[1], id=True, version=None),
        {"id": 5, "version": "1", "operating_system": "x"},
        {"id": 5, "version": "2", "operating_system": "y"},
        {"id": 6, "version": "1", "operating_system": "x"},
        {"id": 6, "version": "1", "operating_system": "x"},
        {"id": 6, "version": "1", "operating_system": "x"},
        {"id": 7, "version": "1", "operating_system": "x"},
    ]
    envs = (1, 2, 5, 6, 7)
    clusters = [{"id": i, "name": f"e{i}", "release_id": i} for i in envs]
    inventory = _inventory(*[_raw(i, cluster=i) for i in envs], clusters=clusters,
                           releases=releases)
    result = mosmu_select.select(inventory, _req(env="1,2,5,6,7"))
    assert [n["id"] for n in result["selected"]] == [1]
    skips = _skips(result)
    assert skips[2]["reason"] == \
        "environment 2: release 2 is invalid (version: None is not a string)"
    for env in (5, 6):
        assert skips[env]["reason"] == \
            f"environment {env}: release {env} is invalid (release id listed twice)"
        assert skips[env]["failed"] is True
    assert skips[7]["reason"] == "os_platform ubuntu differs from environment 7's release OS x"


def test_a_release_listed_twice_is_broken_whichever_copy_is_good():
    for releases, why in (([dict(RELEASES[0]), dict(RELEASES[0], version=5)],
                           "version: 5 is not a string"),
                          ([dict(RELEASES[0], version=5), dict(RELEASES[0])],
                           "release id listed twice")):
        result = mosmu_select.select(_inventory(_raw(1), releases=releases), _req(env=1))
        assert _skips(result)[1]["reason"] == f"environment 1: release 1 is invalid ({why})"


@pytest.mark.parametrize("release_id, words", [
    (True, "release_id True"), ("1", "release_id '1'"), (0, "release_id 0"),
    (-1, "release_id -1"), (None, "release_id None"), (9, "release 9 is not listed"),
    (3, "release 3 is invalid (version: None is not a string)"),
])
def test_an_environment_without_a_good_release_fails_naming_it(release_id, words):
    releases = [dict(RELEASES[0]), dict(RELEASES[0], id=3, version=None)]
    clusters = [{"id": 4, "name": "e", "release_id": release_id}]
    result = mosmu_select.select(_inventory(_raw(1, cluster=4), clusters=clusters,
                                            releases=releases), _req(env=4))
    reason = _skips(result)[1]["reason"]
    assert reason.startswith("environment 4: ") and words in reason
    assert _skips(result)[1]["failed"] is True


@pytest.mark.parametrize("os_name, expected", [("Ubuntu", None), ("CentOS", "centos"),
                                                ("RedHat", "redhat")])
def test_an_environment_s_os_is_its_release_s(os_name, expected):
    releases = [dict(RELEASES[0], operating_system=os_name)]
    result = mosmu_select.select(_inventory(_raw(1), releases=releases), _req(env=1))
    if expected is None:
        assert [n["id"] for n in result["selected"]] == [1]
    else:
        assert _skips(result)[1]["reason"] == \
            f"os_platform ubuntu differs from environment 1's release OS {expected}"


@pytest.mark.parametrize("inventory, words", [
    (None, "inventory is not"), ([], "inventory is not"),
    ({"clusters": [], "releases": []}, "nodes"), ({"nodes": [], "releases": []}, "clusters"),
    ({"nodes": [], "clusters": []}, "releases"),
    ({"nodes": (), "clusters": [], "releases": []}, "nodes"),
    ({"nodes": [], "clusters": {}, "releases": []}, "clusters"),
    ({"nodes": [], "clusters": [], "releases": "x"}, "releases"),
])
def test_an_inventory_of_the_wrong_shape_refuses_the_run(inventory, words):
    with pytest.raises(FuelError, match=words):
        mosmu_select.select(inventory, _req(all_envs=True))


def test_an_inventory_of_empty_lists_selects_nothing():
    assert mosmu_select.select(_inventory(clusters=[], releases=[]), _req(all_envs=True)) == {
        "envs": [], "selected": [], "skipped": [], "env_nodes": {}}


# --- duplicates: every holder of a shared id, ip or fqdn is skipped ------------------------

def _duplicate_reasons(*nodes):
    """The duplicate reasons of a selection over ``nodes``, in inventory order."""
    result = mosmu_select.select(_inventory(*nodes), _req(env=1))
    return [s["reason"] for s in result["skipped"] if s["reason"].startswith("duplicate")]


@pytest.mark.parametrize("nodes, expected", [
    ([_raw(1), _raw(2)], []),
    ([_raw(1, ip=None), _raw(2, ip=None)], []),               # invalid, not duplicates
    ([_raw(1, ip=[1]), _raw(2, ip=[1])], []),
    ([_raw(1, fqdn={}), _raw(2, fqdn={})], []),
    ([_raw(True), _raw(1)], []),                              # True == 1, but a bool is no id
    ([_raw(1), "x", None, _raw(1)], ["duplicate id 1: shared with node(s) 1"] * 2),
    ([_raw(1, fqdn="A.b"), _raw(2, fqdn="a.B")],
     ["duplicate fqdn 'a.b': shared with node(s) 2",
      "duplicate fqdn 'a.b': shared with node(s) 1"]),
    ([_raw(1, hostname="h"), _raw(2, hostname="h")], []),    # hostname is not a key
    ([_raw(1, ip="10.0.0.9"), _raw(2, ip="10.0.0.9"), _raw(3, ip="10.0.0.9")],
     ["duplicate ip '10.0.0.9': shared with node(s) 2, 3",
      "duplicate ip '10.0.0.9': shared with node(s) 1, 3",
      "duplicate ip '10.0.0.9': shared with node(s) 1, 2"]),
    ([_raw(5, ip="10.0.0.9", fqdn="f.x"), _raw(6, ip="10.0.0.9", fqdn="f.x")],
     ["duplicate ip '10.0.0.9': shared with node(s) 6",
      "duplicate ip '10.0.0.9': shared with node(s) 5"]),
    ([_raw(1, ip="10.0.0.8"), _raw(2, ip="10.0.0.7"), _raw(3, ip="10.0.0.7"),
      _raw(1, ip="10.0.0.8")],
     ["duplicate id 1: shared with node(s) 1", "duplicate ip '10.0.0.7': shared with node(s) 3",
      "duplicate ip '10.0.0.7': shared with node(s) 2", "duplicate id 1: shared with node(s) 1"]),
])
def test_each_holder_of_a_shared_id_ip_or_fqdn_is_skipped_naming_the_others(nodes, expected):
    assert _duplicate_reasons(*nodes) == expected


def test_a_node_sharing_two_keys_is_named_for_the_first_one_seen():
    nodes = [_raw(9, ip="10.0.0.9", fqdn="f.x"), _raw(8, fqdn="f.x"), _raw(7, ip="10.0.0.9")]
    assert _duplicate_reasons(*nodes) == [
        "duplicate ip '10.0.0.9': shared with node(s) 7",
        "duplicate fqdn 'f.x': shared with node(s) 9",
        "duplicate ip '10.0.0.9': shared with node(s) 9"]


# --- the rules in order, on one environment ------------------------------------------------

@pytest.mark.parametrize("status, error_type, statuses, deployed", [
    ("ready", None, ("ready", "error"), True),
    ("ready", None, ("error",), False),
    ("error", "deploy", ("ready", "error"), True),
    ("error", "stop_deployment", ("ready", "error"), True),
    ("error", "provision", ("ready", "error"), False),
    ("error", None, ("ready", "error"), False),
    ("error", "deploy", ("ready",), False),
    ("stopped", None, ("ready", "error"), False),
    ("stopped", None, ("stopped",), True),
    ("provisioned", None, ("provisioned",), True),
    ("discover", None, ("ready", "error"), False),
])
def test_is_deployed(status, error_type, statuses, deployed):
    node = {"status": status, "error_type": error_type}
    assert mosmu_select.is_deployed(node, statuses) is deployed
    if statuses == ("ready", "error"):
        assert mosmu_select.is_deployed(node) is deployed


@pytest.mark.parametrize("status, error_type, statuses, words, fix", [
    ("error", "provision", ("ready", "error"), "status error (error_type provision)", False),
    ("error", "deploy", ("ready",), "status error:", True),
    ("discover", None, ("ready",), "status discover: bootstrap", False),
    ("provisioning", None, ("ready",), "status provisioning: OS being installed", False),
    ("provisioned", None, ("ready",), "status provisioned: OS installed", True),
    ("deploying", None, ("ready",), "status deploying: deployment", False),
    ("removing", None, ("ready",), "status removing: being removed", False),
    ("stopped", None, ("ready",), "status stopped: deployment stopped", True),
    ("ready", None, ("error",), "status ready:", True),
])
def test_a_not_deployed_node_s_reason_names_its_status_and_whether_statuses_helps(
        status, error_type, statuses, words, fix):
    result = mosmu_select.select(_inventory(_raw(1, status=status, error_type=error_type)),
                                 _req(env=1, statuses=",".join(statuses)))
    reason = _skips(result)[1]["reason"]
    assert reason.startswith(words)
    assert ("statuses=" in reason) is fix


def _sel(*nodes, **kw):
    return mosmu_select.select(_inventory(*nodes), _req(**kw))


def _skips(result):
    return {s["id"]: s for s in result["skipped"]}


def test_env_picks_the_given_envs_and_all_envs_the_operational_ones():
    clusters = [{"id": i, "name": name, "release_id": 1}
                for i, name in ((1, "one"), (2, "two"), (3, "three"))]
    nodes = (_raw(1, cluster=3), _raw(2, cluster=2, online=False),
             _raw(3, cluster=1, status="stopped"), _raw(4, cluster=None), _raw(5, cluster=9))

    def envs(inventory_clusters, **kw):
        return mosmu_select.select(_inventory(*nodes, clusters=inventory_clusters),
                                   _req(**kw))["envs"]

    assert envs(clusters, env="3,1") == [1, 3]
    assert envs(clusters, all_envs=True) == [3]
    assert envs(clusters, all_envs=True, offline=True) == [2, 3]
    assert envs([], all_envs=True) == []


@pytest.mark.parametrize("clusters, env, words", [
    ([{"id": 1, "name": "one", "release_id": 1}, {"id": 2, "name": "two", "release_id": 1}],
     "2,4,5", "environment 4 does not exist"),
    ([{"id": 2, "name": "two", "release_id": 1}, {"id": 1, "name": None, "release_id": 1}], "3",
     "(environments: 1 (None), 2 (two))"),
    ([], "1", "(environments: none)"),
])
def test_unknown_env_is_refused_listing_the_known_ones(clusters, env, words):
    with pytest.raises(ConfigError) as err:
        mosmu_select.select(_inventory(_raw(1), clusters=clusters), _req(env=env))
    assert words in str(err.value) and "env=" in str(err.value)


def test_every_rule_in_order_on_one_environment():
    nodes = [
        _raw(1),
        _raw(2, cluster=None),
        _raw(3, cluster=9),
        _raw(4, cluster=2, os_platform="centos"),
        _raw(5, pending_deletion=True, pending_addition=True, status="discover", online=False),
        _raw(6, pending_addition=True, status="discover", online=False),
        _raw(7, status="stopped", online=False),
        _raw(8, online=False),
        _raw(9, os_platform="centos", online=False),
        _raw(10, roles=["controller"]),
        _raw(11, status="error", error_type="deploy"),
        _raw(12, status="error", error_type="deletion"),
    ]
    result = _sel(*nodes, env=1)
    assert result["envs"] == [1]
    assert [n["id"] for n in result["selected"]] == [1, 10, 11]
    assert result["selected"][0] == mosmu_select.parse_node(_raw(1))
    skips = _skips(result)
    assert sorted(skips) == [2, 3, 4, 5, 6, 7, 8, 9, 12]
    assert all(s["failed"] is False for s in skips.values())
    assert {i: (s["ip"], s["env"]) for i, s in skips.items()} == {
        i: (f"10.0.0.{i}", nodes[i - 1]["cluster"]) for i in skips}
    expect = {2: "unassigned", 3: "in environment 9, which Nailgun does not list",
              4: "in environment 2, not selected", 5: "pending deletion",
              6: "pending addition", 7: "status stopped", 8: "offline",
              9: "offline", 12: "status error (error_type deletion)"}
    for node_id, words in expect.items():
        assert skips[node_id]["reason"].startswith(words), node_id
    assert "statuses=" in skips[7]["reason"] and "offline=True" in skips[8]["reason"]


def test_offline_and_os_rule():
    result = _sel(_raw(8, online=False), _raw(9, os_platform="centos", online=False),
                  env=1, offline=True)
    assert [n["id"] for n in result["selected"]] == [8]
    reason = _skips(result)[9]["reason"]
    assert reason.startswith("os_platform centos differs") and "ubuntu" in reason
    assert "environment 1" in reason
    result = _sel(_raw(4, cluster=2, os_platform="centos"), _raw(5, cluster=2), env=2)
    assert [n["id"] for n in result["selected"]] == [4]
    assert _skips(result)[5]["reason"].startswith("os_platform ubuntu differs")


def test_all_envs_names_the_not_operational_env():
    result = _sel(_raw(1), _raw(4, cluster=2, os_platform="centos", status="stopped"),
                  all_envs=True)
    assert result["envs"] == [1]
    assert _skips(result)[4]["reason"].startswith("in environment 2, not operational")
    result = _sel(_raw(1), _raw(4, cluster=2, os_platform="centos", status="stopped"),
                  all_envs=True, statuses="stopped,ready")
    assert result["envs"] == [1]    # statuses= does not make an environment operational


def test_statuses_override_selects_and_default_skips():
    nodes = (_raw(1, status="stopped"), _raw(2, status="provisioned"), _raw(3),
             _raw(4, status="error", error_type="deploy"))
    assert [n["id"] for n in _sel(*nodes, env=1)["selected"]] == [3, 4]
    assert [n["id"] for n in _sel(*nodes, env=1, statuses="stopped")["selected"]] == [1]
    assert [n["id"] for n in _sel(*nodes, env=1, statuses="provisioned,ready")["selected"]] == \
        [2, 3]


@pytest.mark.parametrize("kw, expected, reasons", [
    ({}, [1, 2, 3], {}),
    ({"roles": "compute"}, [1, 2], {3: "roles controller not in roles=compute"}),
    ({"roles": "cinder"}, [2], {1: "roles compute not in roles=cinder",
                                3: "roles controller not in roles=cinder"}),
    ({"roles": "mongo,controller"}, [3], {1: "roles compute not in roles=mongo,controller",
                                          2: "roles compute,cinder not in roles=mongo,controller"}),
    ({"nodes": "1"}, [1], {2: "not in nodes=", 3: "not in nodes="}),
    ({"nodes": 2}, [2], {1: "not in nodes=", 3: "not in nodes="}),
    ({"nodes": "10.0.0.3"}, [3], {1: "not in nodes=", 2: "not in nodes="}),
    ({"nodes": "NODE-2.X.local"}, [2], {1: "not in nodes=", 3: "not in nodes="}),
    ({"nodes": "node-3"}, [3], {1: "not in nodes=", 2: "not in nodes="}),
    ({"roles": "compute", "nodes": "3,2"}, [2], {1: "not in nodes=",
                                                 3: "roles controller not in roles=compute"}),
])
def test_roles_and_nodes_filters_on_each_key(kw, expected, reasons):
    nodes = (_raw(1), _raw(2, roles=["compute", "cinder"]), _raw(3, roles=["controller"]))
    result = _sel(*nodes, env=1, **kw)
    assert [n["id"] for n in result["selected"]] == expected
    skips = _skips(result)
    assert sorted(skips) == sorted(reasons)
    for node_id, words in reasons.items():
        assert skips[node_id]["reason"].startswith(words)
        assert skips[node_id]["failed"] is False and skips[node_id]["env"] == 1


def test_roles_reason_names_the_node_roles():
    result = _sel(_raw(1, roles=["controller", "mongo"]), _raw(2, roles=[]), env=1,
                  roles="compute,cinder")
    skips = _skips(result)
    assert skips[1]["reason"].startswith("roles controller,mongo not in roles=compute,cinder")
    assert skips[2]["reason"].startswith("roles (none) not in roles=compute,cinder")


@pytest.mark.parametrize("node, nodes, selected", [
    ({}, "1", [1]),
    ({}, "10.0.0.1", [1]),
    ({}, "2,10.0.0.1", [1, 2]),                               # any key of a node selects it
    ({"fqdn": "A.b"}, "a.B", [1]),                            # fqdns compare without case
    ({"hostname": "h"}, "h", [1]),
    ({"fqdn": None, "hostname": None}, "node-2.x.local", [2]),
])
def test_a_node_is_selected_by_its_id_ip_fqdn_or_hostname(node, nodes, selected):
    result = mosmu_select.select(_inventory(_raw(1, **node), _raw(2)), _req(env=1, nodes=nodes))
    assert [n["id"] for n in result["selected"]] == selected


@pytest.mark.parametrize("node, nodes", [({"hostname": "h"}, "H"), ({"fqdn": "a.b"}, "a.c"),
                                         ({"fqdn": None, "hostname": None}, "node-1.x.local")])
def test_a_key_that_matches_no_node_is_refused(node, nodes):
    with pytest.raises(ConfigError, match=f"^nodes={re.escape(nodes)} matches no node"):
        mosmu_select.select(_inventory(_raw(1, **node), _raw(2)), _req(env=1, nodes=nodes))


def test_broken_release_fails_only_its_own_chosen_environment():
    releases = [dict(RELEASES[0], version=None), dict(RELEASES[1])]
    inventory = _inventory(_raw(1, pending_deletion=True), _raw(2),
                           _raw(4, cluster=2, os_platform="centos"), releases=releases)
    result = mosmu_select.select(inventory, _req(env="1,2"))
    assert [n["id"] for n in result["selected"]] == [4]
    skips = _skips(result)
    for node_id in (1, 2):
        assert skips[node_id]["reason"].startswith("environment 1: release 1 is invalid")
        assert skips[node_id]["failed"] is True and skips[node_id]["env"] == 1
    result = mosmu_select.select(inventory, _req(env=2))
    assert _skips(result)[2]["failed"] is False


def test_invalid_records_are_reported_with_what_can_be_trusted():
    long_ip = "1" * 65
    nodes = [_raw(1, roles="controller"), _raw(2, cluster=2, roles="controller"),
             _raw(3, cluster=True, online=None), _raw(4, cluster="1", online=None),
             "junk", _raw(True, cluster=None), _raw(6, ip=long_ip), _raw(7, ip=12),
             _raw("x" * 64, ip=["a"]), _raw(9), _raw(9), _raw(10, cluster=None, online=None)]
    result = _sel(*nodes, env=1)
    assert result["selected"] == []
    assert result["skipped"] == [
        {"id": 1, "ip": "10.0.0.1", "env": 1, "reason": result["skipped"][0]["reason"],
         "failed": True},
        {"id": 2, "ip": "10.0.0.2", "env": 2, "reason": result["skipped"][1]["reason"],
         "failed": False},
        {"id": 3, "ip": "10.0.0.3", "env": None, "reason": result["skipped"][2]["reason"],
         "failed": True},
        {"id": 4, "ip": "10.0.0.4", "env": None, "reason": result["skipped"][3]["reason"],
         "failed": True},
        {"id": None, "ip": None, "env": None, "reason": result["skipped"][4]["reason"],
         "failed": True},
        {"id": None, "ip": "10.0.0.True", "env": None, "reason": result["skipped"][5]["reason"],
         "failed": True},
        {"id": 6, "ip": None, "env": 1, "reason": result["skipped"][6]["reason"], "failed": True},
        {"id": 7, "ip": 12, "env": 1, "reason": result["skipped"][7]["reason"], "failed": True},
        {"id": "x" * 64, "ip": None, "env": 1, "reason": result["skipped"][8]["reason"],
         "failed": True},
        {"id": 9, "ip": "10.0.0.9", "env": 1, "reason": result["skipped"][9]["reason"],
         "failed": True},
        {"id": 9, "ip": "10.0.0.9", "env": 1, "reason": result["skipped"][10]["reason"],
         "failed": True},
        {"id": 10, "ip": "10.0.0.10", "env": None, "reason": result["skipped"][11]["reason"],
         "failed": True},
    ]
    reasons = [s["reason"] for s in result["skipped"]]
    for index, field in ((0, "roles"), (1, "roles"), (2, "online"), (3, "online"),
                         (6, "ip"), (7, "ip"), (8, "id"), (11, "online")):
        assert reasons[index].startswith(f"invalid Nailgun record: {field}"), index
    assert reasons[4].startswith("invalid Nailgun record: ") and "str" in reasons[4]
    assert reasons[9].startswith("duplicate id 9") and reasons[10].startswith("duplicate id 9")


@pytest.mark.parametrize("node_id, shown", [
    (5, 5), ("a" * 64, "a" * 64), ("a" * 65, None), (10 ** 64, None), (10 ** 63, 10 ** 63),
    (True, None), (1.5, None), (None, None),
])
def test_an_invalid_record_shows_its_id_only_when_short_and_plain(node_id, shown):
    result = _sel(_raw(1, id=node_id, ip=[1]), env=1)       # invalid: ip is not a string
    assert [(s["id"], s["ip"]) for s in result["skipped"]] == [(shown, None)]


def test_an_invalid_record_shows_no_ip_unless_it_has_a_plain_one():
    without_ip = {k: v for k, v in _raw(3).items() if k != "ip"}
    result = _sel(_raw(1, ip=[1]), "x", None, without_ip, env=1)
    assert [(s["id"], s["ip"]) for s in result["skipped"]] == [
        (1, None), (None, None), (None, None), (3, None)]


def test_request_and_keyword_arguments_are_exclusive():
    with pytest.raises(TypeError, match="Request or keyword arguments"):   # names the fix
        mosmu_select.select(_inventory(_raw(1)), _req(env=1), env=1)
    assert [n["id"] for n in mosmu_select.select(_inventory(_raw(1)), env=1,
                                                 roles="compute")["selected"]] == [1]
    with pytest.raises(ConfigError):
        mosmu_select.select(_inventory(_raw(1)), env=1, batch=2, bogus=1)


def test_selection_does_not_change_the_inventory():
    inventory = _inventory(_raw(1), _raw(2, cluster=None), _raw(3, roles="x"), _raw(4), _raw(4))
    before = copy.deepcopy(inventory)
    mosmu_select.select(inventory, _req(all_envs=True))
    assert inventory == before


def test_canonical_addresses_take_the_fast_path(monkeypatch):
    def validator_not_expected(value):
        raise AssertionError(f"validator called for {value!r}")

    monkeypatch.setattr(mosmu_select.mosmu_validate, "ipv4", validator_not_expected)
    assert mosmu_select.parse_node(_raw(1, ip="10.20.0.3"))["ip"] == "10.20.0.3"
    with pytest.raises(AssertionError):
        mosmu_select.parse_node(_raw(1, ip="10.20.0.03"))   # not canonical: the validator decides


# --- the fast paths give exactly what the validators they front give -----------------------

QUADS = st.builds(lambda parts, sep: sep.join(parts),
                  st.lists(st.one_of(st.integers(0, 300).map(str),
                                     st.sampled_from(["00", "01", "007", "", " 1", "1\n",
                                                      "٣", "-1", "0x1"])),
                           min_size=3, max_size=5),
                  st.sampled_from([".", ",", ". "]))


def _outcome(check, value):
    try:
        return ("ok", check(value))
    except ValueError as err:
        return ("error", str(err))


def _verdict(check, value):
    """``check(value)``, or ``"refused"``: whatever the wording of the refusal."""
    try:
        return check(value)
    except ValueError:
        return "refused"


@settings(max_examples=500, deadline=None)
@given(st.one_of(QUADS, st.text(max_size=20), st.integers(), st.none()))
def test_a_node_s_ip_is_accepted_exactly_when_the_validator_accepts_it(value):
    assert _verdict(lambda v: mosmu_select.parse_node(dict(PLAIN, ip=v))["ip"], value) == \
        _verdict(mosmu_validate.ipv4, value)


@pytest.mark.parametrize("value", ["compute", "ceph-osd", "Compute", "", 3, None, "a" * 70])
def test_roles_and_platform_are_accepted_exactly_when_the_validators_accept_them(value):
    for _ in range(2):  # the second time may come from a cache
        assert _verdict(lambda v: mosmu_select.parse_node(dict(PLAIN, roles=[v]))["roles"],
                        value) == _verdict(lambda v: [mosmu_validate.role(v)], value)
        assert _verdict(lambda v: mosmu_select.parse_node(dict(PLAIN, os_platform=v))[
            "os_platform"], value) == _verdict(lambda v: mosmu_validate.word(v, "os_platform"),
                                               value)


# _plain_node (one pass over a plainly valid record), _unique (no duplicates, without the
# full comparison) and the role/platform caches are optimisations whose contract, in their
# docstrings, is "the same result as the checks they front, at a fraction of the cost"; only
# the private paths themselves can be compared.

def test_role_and_platform_strings_are_validated_once_per_distinct_value():
    for cached in (mosmu_select._role, mosmu_select._platform):
        cached.cache_clear()
        for _ in range(3):
            assert mosmu_select._cached(cached, "compute") == "compute"
        assert cached.cache_info().hits == 2 and cached.cache_info().misses == 1

PLAIN = {"id": 3, "ip": "10.20.0.5", "status": "ready", "online": True, "cluster": 1,
         "roles": ["compute"], "pending_roles": [], "pending_addition": False,
         "pending_deletion": False, "os_platform": "ubuntu", "error_type": None,
         "fqdn": "node-3.test.domain.local", "hostname": "node-3", "meta": None}
FQDNS = ["node-1", "node-1.domain.tld", "a" * 63, "a" * 64, "a..b", "-a", "a-", "x." * 126 + "x",
         "x." * 127 + "x", "n\n", "A9.b-c.D", "", ".a", "a."]
ODD = st.one_of(
    st.sampled_from([*mosmu_select.NODE_STATUSES, *mosmu_select.ERROR_TYPES, *FQDNS, "ubuntu",
                     "centos", "Ubuntu", "10.20.0.7", "010.0.0.1", ["compute", "cinder"],
                     ["Compute"], ["compute", 1], ("compute",), [], 1, 2, 0, -1, 1.0, True,
                     False, None, {"a": 1}]),
    QUADS, st.text(max_size=6), st.integers(-2, 10001))
# a plain node, then up to three fields changed to odd values and up to two removed
RAW_NODES = st.builds(
    lambda changes, gone: {k: v for k, v in {**PLAIN, **changes}.items() if k not in gone},
    st.dictionaries(st.sampled_from(sorted(PLAIN)), ODD, max_size=3),
    st.sets(st.sampled_from(sorted(PLAIN)), max_size=2))


@settings(max_examples=800, deadline=None)
@given(RAW_NODES)
def test_plain_node_path_equals_the_field_by_field_checks(raw):
    plain = mosmu_select._plain_node(raw)
    checked = _outcome(mosmu_select._checked_node, raw)
    if plain is not None:       # where the fast path answers, it answers the same dict
        assert checked == ("ok", plain)
        assert list(plain) == list(checked[1])
    assert _outcome(mosmu_select.parse_node, raw) == checked


def test_plain_node_path_takes_the_records_of_a_plain_fleet():
    """The fast path is not dead code: a well-formed node takes it, values unchanged."""
    raw = dict(PLAIN)
    node = mosmu_select._plain_node(raw)
    assert node == mosmu_select._checked_node(raw)
    assert node["roles"] is not raw["roles"]     # a copy, as the checked path makes


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.integers(1, 4), st.booleans(), st.none(), st.just([1])),
    "ip": st.sampled_from(["10.0.0.1", "10.0.0.2", None]),
    "fqdn": st.sampled_from(["a.x", "A.x", "b.x", None, 5])}), st.none()), max_size=6))
def test_no_duplicates_shortcut_agrees_with_the_full_comparison(raws):
    assert mosmu_select._unique(raws) == (mosmu_select._shared(raws) == {})
    assert mosmu_select._duplicates(raws) == mosmu_select._shared(raws)


# --- properties over generated, sometimes hostile, inventories ------------------------------

PROP_ROLES = ["controller", "compute", "cinder", "ceph-osd"]
HOSTILE_VALUES = st.sampled_from(["compute;rm", "$(x)", "../etc", "ready\n", 5, None, True, [], {},
                           "controller", 1.5, "10.20.0.3\n"])
NODE_FIELDS = ["id", "ip", "status", "online", "cluster", "roles", "os_platform", "error_type",
          "pending_addition", "pending_deletion", "fqdn", "hostname"]


@st.composite
def node_lists(draw):
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
            "roles": draw(st.lists(st.sampled_from(PROP_ROLES), max_size=2, unique=True)),
            "pending_roles": [],
            "os_platform": draw(st.sampled_from(["ubuntu", "ubuntu", "centos"])),
            "pending_addition": draw(st.booleans()),
            "pending_deletion": draw(st.booleans()),
        }
        if draw(st.integers(0, 9)) == 0:  # a hostile field
            node[draw(st.sampled_from(NODE_FIELDS))] = draw(HOSTILE_VALUES)
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
                 "nodes": draw(node_lists())}
    kwargs = {"offline": draw(st.booleans())}
    if draw(st.booleans()):
        kwargs["all_envs"] = True
    else:
        kwargs["env"] = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True))
    if draw(st.booleans()):
        kwargs["statuses"] = draw(st.lists(st.sampled_from(mosmu_request.OVERRIDABLE_STATUSES),
                                           min_size=1, unique=True))
    return inventory, kwargs


def _select_kw(inventory, **kwargs):
    return mosmu_select.select(inventory, mosmu_request.parse(kwargs, mosmu_request.ALL))


def _id_set(result):
    return {n["id"] for n in result["selected"]}


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(cases())
def test_never_selects_unassigned_bootstrap_or_pending_deletion(case):
    inventory, kwargs = case
    result = _select_kw(inventory, **kwargs)
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
    result = _select_kw(inventory, **kwargs)
    assert len(result["selected"]) + len(result["skipped"]) == len(inventory["nodes"])
    assert all(isinstance(s["reason"], str) and s["reason"] and "\n" not in s["reason"]
               for s in result["skipped"])
    selected = _id_set(result)
    assert not selected & {s["id"] for s in result["skipped"]}


@PROPS
@given(cases(), st.lists(st.sampled_from(PROP_ROLES), min_size=1, max_size=2),
       st.lists(st.integers(1, 25), min_size=1, max_size=4))
def test_adding_a_filter_never_adds_a_node(case, roles, node_ids):
    inventory, kwargs = case
    before = copy.deepcopy(inventory)
    base = _id_set(_select_kw(inventory, **kwargs))
    assert _id_set(_select_kw(inventory, **kwargs, roles=roles)) <= base
    # a nodes= value naming no node at all is refused (above): filter with known ids
    node_ids = [i for i in node_ids if any(isinstance(n, dict) and type(n.get("id")) is int
                                           and n["id"] == i for n in inventory["nodes"])]
    assert _id_set(_select_kw(inventory, **kwargs, nodes=node_ids)) <= base
    assert _id_set(_select_kw(inventory, **kwargs, roles=roles, nodes=node_ids)) <= base
    if kwargs.get("statuses"):
        fewer = dict(kwargs, statuses=kwargs["statuses"][:1])
        assert _id_set(_select_kw(inventory, **fewer)) <= base
    if kwargs["offline"]:
        assert _id_set(_select_kw(inventory, **dict(kwargs, offline=False))) <= base
    assert inventory == before  # selection never mutates its input
