"""Node selection and plans (DESIGN.md section 5), on inventories built like the sandbox's."""

import pytest

import mosmu_catalog
import mosmu_select
from mosmu_errors import ConfigError
from sandbox import inventory as inv


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


def _ids(result):
    return sorted(n["id"] for n in result["selected"])


def _reason(result, node_id):
    return next(s["reason"] for s in result["skipped"] if s["id"] == node_id)


def test_env_selects_deployed_online_nodes_and_says_why_not_the_rest(fleet):
    result = mosmu_select.select(fleet, env=1)
    assert _ids(result) == [1, 2, 5]
    assert "offline" in _reason(result, 3)
    assert _reason(result, 4) == "status discover: not deployed"
    assert _reason(result, 6) == "in environment 2, not selected"
    assert _reason(result, 7) == "unassigned (in no environment)"
    assert len(result["selected"]) + len(result["skipped"]) == len(fleet["nodes"])


def test_offline_includes_offline_nodes_but_never_unassigned(fleet):
    assert _ids(mosmu_select.select(fleet, env=1, offline=True)) == [1, 2, 3, 5]
    result = mosmu_select.select(fleet, all_envs=True, offline=True)
    assert 7 not in _ids(result)


def test_all_envs_takes_operational_envs_only(fleet):
    fleet["clusters"].append(inv.cluster(3))
    fleet["nodes"].append(inv.node(8, cluster=3, status="provisioned"))
    result = mosmu_select.select(fleet, all_envs=True)
    assert result["envs"] == [1, 2]
    assert _ids(result) == [1, 2, 5, 6]


def test_roles_and_nodes_filter_within_env(fleet):
    assert _ids(mosmu_select.select(fleet, env=1, roles="compute,cinder")) == [2, 5]
    assert _ids(mosmu_select.select(fleet, env=1, nodes=["10.20.0.3"])) == [1]
    result = mosmu_select.select(fleet, env=1, nodes="10.20.0.8")  # node 6 is in env 2
    assert result["selected"] == [] and _reason(result, 6) == "in environment 2, not selected"


@pytest.mark.parametrize("kwargs, words", [
    ({}, "no environment chosen"),
    ({"env": 1, "all_envs": True}, "not both"),
    ({"env": 42}, "environment 42 does not exist"),
    ({"env": "abc"}, "not an environment id"),
    ({"env": 1, "nodes": "10.20.0.999"}, "not an IPv4 address"),
    ({"env": 1, "roles": "Compute;rm"}, "not a role name"),
])
def test_bad_selection_arguments(fleet, kwargs, words):
    with pytest.raises(ConfigError, match=words):
        mosmu_select.select(fleet, **kwargs)


@pytest.mark.parametrize("field, value", [
    ("ip", "10.20.0.3; rm -rf /"), ("ip", None), ("fqdn", "node-1.-bad"), ("online", "yes"),
    ("roles", ["controller", "$(reboot)"]), ("id", True),
])
def test_invalid_records_are_skipped_with_the_field_named(fleet, field, value):
    fleet["nodes"][0][field] = value
    result = mosmu_select.select(fleet, env=1)
    bad = [s for s in result["skipped"] if s["reason"].startswith("invalid Nailgun record")]
    assert len(bad) == 1 and 1 not in _ids(result)


def test_plan_takes_version_from_release_and_override():
    data = inv.default(1)
    plan = mosmu_select.env_plan(data, 1, repos="security,updates,security")
    assert plan["mos_version"] == "8.0" and plan["distro"] == "ubuntu"
    assert plan["repos"] == ["updates", "security"]
    assert plan["suites"] == ["mos8.0-updates", "mos8.0-security"]
    assert mosmu_select.env_plan(data, 1, mos_version=9.2)["suites"] == ["mos9.0-updates"]


def test_plan_rejects_centos_and_unknown_versions():
    data = inv.default(1)
    data["clusters"][0]["release_id"] = 1   # Liberty on CentOS 6.5
    with pytest.raises(ConfigError, match="centos nodes are not supported"):
        mosmu_select.env_plan(data, 1)
    data["clusters"][0]["release_id"] = 2
    with pytest.raises(ConfigError, match="MOS 6.1 is not supported"):
        mosmu_select.env_plan(data, 1, mos_version="6.1")


@pytest.mark.parametrize("version, expected", [
    ("liberty-8.0", "8.0"), ("mitaka-9.0", "9.0"), ("2014.2.2-6.1", "6.1"), ("2014.1", "5.0"),
])
def test_mos_version_of_release(version, expected):
    assert mosmu_catalog.mos_version_of_release({"version": version}) == expected


@pytest.mark.parametrize("value, expected", [
    (None, []), ("", []), ("a,b", ["a", "b"]), (["a", " b "], ["a", "b"]), (11, ["11"]),
])
def test_as_list(value, expected):
    assert mosmu_select.as_list(value) == expected
