"""Node selection (DESIGN.md section 5) on inventories built like the sandbox's, and on
hostile ones: every rule, every wrong type, and nothing bad ever reaches the selected set."""

import copy

import pytest

import mosmu_catalog
import mosmu_render
import mosmu_request
import mosmu_select
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


# -- every rule of the realistic fleet has its own reason ----------------------------------

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


# -- hostile inventories --------------------------------------------------------------------

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


# -- nodes= values that name nothing ----------------------------------------------------------

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
