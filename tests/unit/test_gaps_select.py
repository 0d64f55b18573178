"""Gaps mutation testing found in the selection rules (mosmu issue 10): each rule skips the
node it is about and nothing else, and the first rule that applies wins."""

import copy

import pytest

import mosmu_request
import mosmu_select
from mosmu_errors import ConfigError, FuelError
from sandbox import inventory as inv


def _req(**kw):
    return mosmu_request.parse(kw, mosmu_request.ALL)


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


# -- the record gate, rule by rule, on small hand-written records (fast: mutmut runs these) ---

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
        assert mosmu_select._short(named)[:10] in str(err.value)


@pytest.mark.parametrize("raw", [None, "node-1", [1], 7])
def test_parse_node_refuses_a_record_that_is_not_an_object(raw):
    with pytest.raises(ValueError, match=type(raw).__name__):
        mosmu_select.parse_node(raw)


def test_field_helper():
    assert mosmu_select._field({"a": 2}, "a", lambda v: v * 2) == 4
    assert mosmu_select._field({}, "a", int, required=False) is None
    assert mosmu_select._field({"a": None}, "a", lambda v: v, required=False) is None
    with pytest.raises(ValueError, match=r"^a is missing"):
        mosmu_select._field({}, "a", int)
    with pytest.raises(ValueError, match=r"^a: .*'x'") as err:
        mosmu_select._field({"a": "x"}, "a", int)
    assert isinstance(err.value.__cause__, ValueError)


@pytest.mark.parametrize("value", [True, False])
def test_bool_accepts_booleans_only(value):
    assert mosmu_select._bool(value) is value


@pytest.mark.parametrize("value", [1, 0, "true", "", None, [True]])
def test_bool_refuses_the_rest(value):
    with pytest.raises(ValueError, match="boolean"):
        mosmu_select._bool(value)


def test_optional_passes_none_and_checks_the_rest():
    check = mosmu_select._optional(lambda v: v + 1)
    assert check(None) is None and check(1) == 2
    assert mosmu_select._OPTIONAL_ID(None) is None and mosmu_select._OPTIONAL_ID(3) == 3
    with pytest.raises(ValueError):
        mosmu_select._OPTIONAL_ID(0)


@pytest.mark.parametrize("value, expected", [
    ("a" * 38, repr("a" * 38)),                           # repr of 40 chars: kept whole
    ("a" * 39, repr("a" * 39)[:40] + "..."),
    (7, "7"),
    (list(range(30)), repr(list(range(30)))[:40] + "..."),
])
def test_short_cuts_long_values_at_40_characters(value, expected):
    assert mosmu_select._short(value) == expected
    assert mosmu_select._short("abcdef", limit=3) == "'ab..."


def test_roles_status_and_error_type_checkers():
    assert mosmu_select._roles(["a", "b-c"]) == ("a", "b-c") and mosmu_select._roles([]) == ()
    for bad in ("ab", None, ("a",), ["A"]):
        with pytest.raises(ValueError):
            mosmu_select._roles(bad)
    with pytest.raises(ValueError, match="'ab' is not a list"):
        mosmu_select._roles("ab")
    for bad in ("x", None, 1, "Ready"):
        with pytest.raises(ValueError, match="node status"):
            mosmu_select._status(bad)
        with pytest.raises(ValueError, match="error type"):
            mosmu_select._error_type(bad)


@pytest.mark.parametrize("value", ["10.0.0.1", "1.2.3.4", "255.255.255.255", "199.250.9.0"])
def test_ipv4_fast_path_keeps_canonical_addresses(value):
    assert mosmu_select._ipv4(value) == value


@pytest.mark.parametrize("value", ["256.0.0.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", None, 1,
                                   "1.2.3.4\n"])
def test_ipv4_refuses_non_addresses(value):
    with pytest.raises(ValueError, match="ip"):
        mosmu_select._ipv4(value)


def test_cached_validators_go_around_the_cache_for_non_strings():
    with pytest.raises(ValueError, match="role"):
        mosmu_select._cached(mosmu_select._role, ["x"])   # a list is not hashable
    assert mosmu_select._cached(mosmu_select._role, "compute") == "compute"
    assert mosmu_select._cached(mosmu_select._platform, "centos") == "centos"
    with pytest.raises(ValueError, match="os_platform"):
        mosmu_select._cached(mosmu_select._platform, "Cent OS")


# -- releases and clusters ---------------------------------------------------------------------

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


def test_clusters_by_id():
    out = mosmu_select._clusters([{"id": 2, "name": "b", "release_id": 1},
                                  {"id": 1, "name": 5}])
    assert out == {2: {"id": 2, "name": "b", "release_id": 1, "error": None},
                   1: {"id": 1, "name": None, "release_id": None, "error": None}}
    assert mosmu_select._clusters([]) == {}


@pytest.mark.parametrize("clusters, words", [
    (["c"], "str"), ([None], "NoneType"), ([{"name": "a"}], "id is missing"),
    ([{"id": "1", "name": "a"}], "'a'"), ([{"id": 0}], "id 0"),
    ([{"id": 1}, {"id": 2}, {"id": 1}], "cluster id 1 twice"),
])
def test_untrustworthy_cluster_list_is_refused(clusters, words):
    with pytest.raises(FuelError, match=words):
        mosmu_select._clusters(clusters)


def test_releases_split_into_good_and_broken():
    good, bad = mosmu_select._releases([
        dict(RELEASES[0]), "junk", dict(RELEASES[1], version=None), dict(RELEASES[1], id=True,
                                                                         version=None),
        {"id": 5, "version": "1", "operating_system": "x"},
        {"id": 5, "version": "2", "operating_system": "y"},
        {"id": 6, "version": "1", "operating_system": "x"},
        {"id": 6, "version": "1", "operating_system": "x"},
        {"id": 6, "version": "1", "operating_system": "x"},
        {"id": 7, "version": "1", "operating_system": "x"},
    ])
    assert good == {1: {"id": 1, "name": "Liberty on Ubuntu 14.04", "version": "liberty-8.0",
                        "os": "ubuntu"},
                    7: {"id": 7, "name": None, "version": "1", "os": "x"}}
    assert set(bad) == {2, 5, 6}
    assert bad[2].startswith("version") and bad[5] == bad[6] and "twice" in bad[5]


def test_broken_release_listed_after_a_good_copy_is_broken():
    good, bad = mosmu_select._releases([dict(RELEASES[0]), dict(RELEASES[0], version=5)])
    assert good == {1: mosmu_select.parse_release(dict(RELEASES[0]))} and bad[1]
    good, bad = mosmu_select._releases([dict(RELEASES[0], version=5), dict(RELEASES[0])])
    assert good == {} and "twice" in bad[1]


@pytest.mark.parametrize("release_id, words", [
    (True, "release_id True"), ("1", "release_id '1'"), (0, "release_id 0"),
    (-1, "release_id -1"), (None, "release_id None"), (9, "release 9 is not listed"),
    (3, "release 3 is invalid (broken)"),
])
def test_env_problems_name_the_release(release_id, words):
    clusters = {4: {"id": 4, "name": "e", "release_id": release_id, "error": None}}
    mosmu_select._env_problems(clusters, {1: {"os": "ubuntu"}}, {3: "broken"})
    assert clusters[4]["error"].startswith("environment 4: ") and words in clusters[4]["error"]
    assert "os" not in clusters[4]


@pytest.mark.parametrize("os_name, expected", [("ubuntu", "ubuntu"), ("centos", "centos"),
                                                ("redhat", "redhat")])
def test_env_problems_give_the_release_os(os_name, expected):
    clusters = {1: {"id": 1, "name": "e", "release_id": 1, "error": None}}
    mosmu_select._env_problems(clusters, {1: {"os": os_name}}, {})
    assert clusters[1] == {"id": 1, "name": "e", "release_id": 1, "error": None, "os": expected}


@pytest.mark.parametrize("inventory, words", [
    (None, "inventory is not"), ([], "inventory is not"),
    ({"clusters": [], "releases": []}, "nodes"), ({"nodes": [], "releases": []}, "clusters"),
    ({"nodes": [], "clusters": []}, "releases"),
    ({"nodes": (), "clusters": [], "releases": []}, "nodes"),
    ({"nodes": [], "clusters": {}, "releases": []}, "clusters"),
    ({"nodes": [], "clusters": [], "releases": "x"}, "releases"),
])
def test_inventory_shape_is_checked(inventory, words):
    with pytest.raises(FuelError, match=words):
        mosmu_select._check_inventory(inventory)
    with pytest.raises(FuelError, match=words):
        mosmu_select.select(inventory, _req(all_envs=True))


def test_inventory_of_empty_lists_is_fine():
    assert mosmu_select._check_inventory(_inventory(clusters=[], releases=[])) is None
    assert mosmu_select.select(_inventory(clusters=[], releases=[]), _req(all_envs=True)) == {
        "envs": [], "selected": [], "skipped": [], "env_nodes": {}}


# -- duplicates --------------------------------------------------------------------------------

@pytest.mark.parametrize("raws, expected", [
    ([{"id": 1}, {"id": 2}], {}),
    ([{"id": 1, "ip": None}, {"id": 2, "ip": None}], {}),
    ([{"id": 1, "ip": [1]}, {"id": 2, "ip": [1]}], {}),
    ([{"id": 1, "fqdn": {}}, {"id": 2, "fqdn": {}}], {}),
    ([{"id": True}, {"id": 1}], {}),                    # True == 1, but a bool is no id
    ([{"id": 1}, "x", None, {"id": 1}], {0: "duplicate id 1: shared with node(s) 1",
                                         3: "duplicate id 1: shared with node(s) 1"}),
    ([{"id": 1, "fqdn": "A.b"}, {"id": 2, "fqdn": "a.B"}],
     {0: "duplicate fqdn 'a.b': shared with node(s) 2",
      1: "duplicate fqdn 'a.b': shared with node(s) 1"}),
    ([{"id": 1, "hostname": "h"}, {"id": 2, "hostname": "h"}], {}),   # hostname is not a key
    ([{"id": 1, "ip": "a"}, {"id": 2, "ip": "a"}, {"id": 3, "ip": "a"}],
     {0: "duplicate ip 'a': shared with node(s) 2, 3",
      1: "duplicate ip 'a': shared with node(s) 1, 3",
      2: "duplicate ip 'a': shared with node(s) 1, 2"}),
    ([{"id": 5, "ip": "b", "fqdn": "f"}, {"id": 6, "ip": "b", "fqdn": "f"}],
     {0: "duplicate ip 'b': shared with node(s) 6", 1: "duplicate ip 'b': shared with node(s) 5"}),
    ([{"id": 1, "ip": "z"}, {"id": 2, "ip": "y"}, {"id": 3, "ip": "y"}, {"id": 1, "ip": "z"}],
     {0: "duplicate id 1: shared with node(s) 1", 3: "duplicate id 1: shared with node(s) 1",
      1: "duplicate ip 'y': shared with node(s) 3", 2: "duplicate ip 'y': shared with node(s) 2"}),
])
def test_duplicates(raws, expected):
    assert mosmu_select._duplicates(raws) == expected


def test_duplicate_order_follows_first_sight_then_key():
    raws = [{"id": 9, "ip": "i", "fqdn": "f"}, {"id": 8, "fqdn": "f"}, {"id": 7, "ip": "i"}]
    assert mosmu_select._duplicates(raws) == {
        0: "duplicate ip 'i': shared with node(s) 7",
        2: "duplicate ip 'i': shared with node(s) 9",
        1: "duplicate fqdn 'f': shared with node(s) 9"}
    assert list(mosmu_select._duplicates(raws)) == [0, 2, 1]


# -- rules ---------------------------------------------------------------------------------

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
def test_not_deployed_reason_names_the_status_and_whether_statuses_helps(status, error_type,
                                                                         statuses, words, fix):
    reason = mosmu_select._not_deployed_reason({"status": status, "error_type": error_type},
                                               statuses)
    assert reason.startswith(words)
    assert ("statuses=" in reason) is fix


def _sel(*nodes, **kw):
    return mosmu_select.select(_inventory(*nodes), _req(**kw))


def _skips(result):
    return {s["id"]: s for s in result["skipped"]}


def test_env_ids_for_env_and_all_envs():
    clusters = {1: {"name": "one"}, 2: {"name": "two"}, 3: {"name": "three"}}
    nodes = [mosmu_select.parse_node(n) for n in (
        _raw(1, cluster=3), _raw(2, cluster=2, online=False), _raw(3, cluster=1, status="stopped"),
        _raw(4, cluster=None), _raw(5, cluster=9))]
    assert mosmu_select._env_ids(clusters, nodes, _req(env="3,1")) == [1, 3]
    assert mosmu_select._env_ids(clusters, nodes, _req(all_envs=True)) == [3]
    assert mosmu_select._env_ids(clusters, nodes, _req(all_envs=True, offline=True)) == [2, 3]
    assert mosmu_select._env_ids({}, nodes, _req(all_envs=True)) == []


@pytest.mark.parametrize("clusters, env, words", [
    ({1: {"name": "one"}, 2: {"name": "two"}}, "2,4,5", "environment 4 does not exist"),
    ({2: {"name": "two"}, 1: {"name": None}}, "3", "(environments: 1 (None), 2 (two))"),
    ({}, "1", "(environments: none)"),
])
def test_unknown_env_is_refused_listing_the_known_ones(clusters, env, words):
    with pytest.raises(ConfigError) as err:
        mosmu_select._env_ids(clusters, [], _req(env=env))
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


@pytest.mark.parametrize("node, keys, matched", [
    ({"id": 1, "ip": "i", "fqdn": None, "hostname": None}, {"id": {1}}, True),
    ({"id": 1, "ip": "i", "fqdn": None, "hostname": None}, {"id": {2}, "ip": {"i"}}, True),
    ({"id": 1, "ip": "i", "fqdn": "A.b", "hostname": None}, {"fqdn": {"a.B"}}, True),
    ({"id": 1, "ip": "i", "fqdn": None, "hostname": "h"}, {"hostname": {"h"}}, True),
    ({"id": 1, "ip": "i", "fqdn": None, "hostname": None}, {"fqdn": {"a.b"}}, False),
    ({"id": 1, "ip": "i", "fqdn": "a.b", "hostname": "h"}, {"id": {2}, "ip": {"j"},
                                                            "fqdn": {"a.c"},
                                                            "hostname": {"H"}}, False),
    ({"id": 1, "ip": "i", "fqdn": None, "hostname": None}, {}, False),
])
def test_matches(node, keys, matched):
    keys = dict({"id": set(), "ip": set(), "fqdn": set(), "hostname": set()}, **keys)
    assert mosmu_select._matches(node, keys) is matched


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


@pytest.mark.parametrize("raw, key, expected", [
    ({"id": 5}, "id", 5), ({"id": "a" * 64}, "id", "a" * 64), ({"id": "a" * 65}, "id", None),
    ({"id": 10 ** 64}, "id", None), ({"id": 10 ** 63}, "id", 10 ** 63),
    ({"id": True}, "id", None), ({"id": 1.5}, "id", None), ({"id": None}, "id", None),
    ({}, "ip", None), ("x", "id", None), (None, "ip", None), ({"ip": [1]}, "ip", None),
])
def test_ident(raw, key, expected):
    assert mosmu_select._ident(raw, key) == expected


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


def test_role_and_platform_strings_are_validated_once_per_distinct_value():
    for cached in (mosmu_select._role, mosmu_select._platform):
        cached.cache_clear()
        for _ in range(3):
            assert mosmu_select._cached(cached, "compute") == "compute"
        assert cached.cache_info().hits == 2 and cached.cache_info().misses == 1


def test_canonical_addresses_take_the_fast_path(monkeypatch):
    def validator_not_expected(value):
        raise AssertionError(f"validator called for {value!r}")

    monkeypatch.setattr(mosmu_select.mosmu_validate, "ipv4", validator_not_expected)
    assert mosmu_select._ipv4("10.20.0.3") == "10.20.0.3"
    with pytest.raises(AssertionError):
        mosmu_select._ipv4("10.20.0.03")   # not canonical: the validator decides
