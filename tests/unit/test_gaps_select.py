"""Gaps mutation testing found in the selection rules (mosmu issue 10): each rule skips the
node it is about and nothing else, and the first rule that applies wins."""

import pytest

import mosmu_request
import mosmu_select
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
    ({"nodes": "node-1.test.domain.local,2"}, [1, 2]), ({"nodes": "node-9"}, []),
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
