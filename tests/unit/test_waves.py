"""Waves: every node once, controllers alone, environments never mixed, sizes bounded."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mosmu_waves

ROLES = ["controller", "compute", "cinder", "mongo", "ceph-osd"]


def _node(node_id, env, roles):
    return {"id": node_id, "ip": f"10.{env}.0.{node_id}", "cluster": env, "roles": roles}


@st.composite
def fleets(draw):
    ids = draw(st.lists(st.integers(1, 500), unique=True, max_size=40))
    return [_node(i, draw(st.sampled_from([3, 11, 7])),
                  draw(st.lists(st.sampled_from(ROLES), unique=True, max_size=3)))
            for i in ids]


batches = st.one_of(st.none(), st.integers(1, 12),
                    st.integers(1, 100).map(lambda p: f"{p}%"))


def _serial(node):
    return bool({"controller", "ceph-osd"} & set(node["roles"]))


def _rank(node):
    """The order of the default serial roles: controllers (Ceph monitors) before OSD nodes."""
    return 0 if "controller" in node["roles"] else 1


@settings(max_examples=200, deadline=None)
@given(fleets(), batches, st.sampled_from(["first", "last"]))
def test_wave_properties(nodes, batch, order):
    waves = mosmu_waves.plan_waves(nodes, batch=batch, order=order)
    flat = [n["id"] for wave in waves for n in wave]
    assert sorted(flat) == sorted(n["id"] for n in nodes)          # each node exactly once
    assert all(wave for wave in waves)
    for wave in waves:
        assert sum(map(_serial, wave)) <= 1                          # never two controllers
        assert len({n["cluster"] for n in wave}) == 1                # never mixes envs
        if any(map(_serial, wave)):
            assert len(wave) == 1
        env_size = sum(1 for n in nodes if n["cluster"] == wave[0]["cluster"])
        if isinstance(batch, int):
            assert len(wave) <= batch
        elif isinstance(batch, str):
            assert len(wave) <= max(1, math.ceil(env_size * int(batch[:-1]) / 100))
    envs = [wave[0]["cluster"] for wave in waves]
    assert envs == sorted(envs)                                      # env after env, in order
    for env in set(envs):
        mine = [w for w in waves if w[0]["cluster"] == env]
        kinds = [_serial(w[0]) for w in mine]
        expected = sorted(kinds, reverse=(order == "first"))
        assert kinds == expected                                     # serial first / last
        ids = [n["id"] for w in mine for n in w]
        serial_ids = [i for i in ids if any(_serial(n) for n in nodes if n["id"] == i)]
        rest_ids = [i for i in ids if i not in serial_ids]
        by_id = {n["id"]: n for n in nodes}
        assert serial_ids == sorted(serial_ids, key=lambda i: (_rank(by_id[i]), i))
        assert rest_ids == sorted(rest_ids)


def test_example_env_order_and_batches():
    nodes = [_node(9, 11, ["compute"]), _node(2, 11, ["controller"]), _node(4, 3, ["compute"]),
             _node(5, 11, ["compute"]), _node(1, 11, ["controller", "mongo"]),
             _node(7, 11, ["cinder"])]
    waves = mosmu_waves.plan_waves(nodes, batch=2)
    assert [[n["id"] for n in w] for w in waves] == [[4], [1], [2], [5, 7], [9]]
    waves = mosmu_waves.plan_waves(nodes, batch=None, order="last")
    assert [[n["id"] for n in w] for w in waves] == [[4], [5, 7, 9], [1], [2]]


def test_percent_is_of_the_env_rounded_up():
    nodes = [_node(i, 11, ["compute"]) for i in range(1, 11)]       # 10 nodes
    sizes = [len(w) for w in mosmu_waves.plan_waves(nodes, batch="25%")]
    assert sizes == [3, 3, 3, 1]
    assert [len(w) for w in mosmu_waves.plan_waves(nodes[:3], batch="1%")] == [1, 1, 1]


def test_no_serial_roles_means_plain_batches():
    nodes = [_node(i, 11, ["controller"]) for i in range(1, 5)]
    assert [len(w) for w in mosmu_waves.plan_waves(nodes, batch=3, serial_roles=())] == [3, 1]
    assert [len(w) for w in mosmu_waves.plan_waves(nodes, serial_roles="mongo,ceph-osd")] == [4]


def test_empty():
    assert mosmu_waves.plan_waves([]) == []


@pytest.mark.parametrize("value, expected", [
    (None, None), (5, (5, False)), ("5", (5, False)), ("25%", (25, True)),
    ("100%", (100, True)), (" 7 ", (7, False)),
])
def test_parse_batch(value, expected):
    assert mosmu_waves.parse_batch(value) == expected


@pytest.mark.parametrize("value", ["0", 0, -1, "150%", "0%", "x", "", "5%%", "2.5", 2.0,
                                   True, False, [5], "5\n%", "1e3"])
def test_parse_batch_rejects(value):
    with pytest.raises(ValueError, match=r"^batch=") as err:
        mosmu_waves.parse_batch(value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs, name", [
    ({"order": "middle"}, "order="), ({"order": True}, "order="), ({"batch": "150%"}, "batch="),
    ({"batch": True}, "batch="), ({"serial_roles": "ctrl;reboot"}, "serial_roles="),
    ({"serial_roles": [1]}, "serial_roles="),
])
def test_plan_waves_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}"):
        mosmu_waves.plan_waves([_node(1, 11, [])], **kwargs)


@pytest.mark.parametrize("nodes", [
    [_node(1, 11, []), _node(1, 11, [])], [{"id": 1}], "node-1",
    [dict(_node(1, 11, []), roles="controller")],
])
def test_plan_waves_rejects_bad_nodes(nodes):
    with pytest.raises(ValueError, match=r"^nodes"):
        mosmu_waves.plan_waves(nodes)


@pytest.mark.parametrize("failures, limit, stop", [
    (0, 0, False), (1, 0, True), (2, 2, False), (3, 2, True),
])
def test_should_stop(failures, limit, stop):
    assert mosmu_waves.should_stop(failures, limit) is stop


def test_should_stop_default_stops_at_first_failure():
    assert mosmu_waves.should_stop(0) is False and mosmu_waves.should_stop(1) is True


@pytest.mark.parametrize("args", [(-1, 0), (0, -1), (True, 0), (0, "1"), (1.0, 0)])
def test_should_stop_rejects(args):
    with pytest.raises(ValueError):
        mosmu_waves.should_stop(*args)


def test_skipped_entries():
    waves = [[_node(5, 11, ["compute"]), _node(6, 11, ["compute"])],
             [_node(2, 12, ["controller"])]]
    out = mosmu_waves.skipped_entries(waves, "not started: 1 node failed (max_failures=0)")
    assert list(out) == ["10.11.0.5", "10.11.0.6", "10.12.0.2"]
    assert {e["result"] for e in out.values()} == {"SKIPPED"}
    assert out["10.12.0.2"]["env"] == 12 and out["10.12.0.2"]["roles"] == ["controller"]
    assert out["10.11.0.5"]["comment"] == "not started: 1 node failed (max_failures=0)"
    assert mosmu_waves.skipped_entries([], "x") == {}


def test_serial_nodes_go_in_the_order_of_their_roles_then_by_id():
    nodes = [_node(3, 1, ["ceph-osd"]), _node(2, 1, ["ceph-osd", "compute"]),
             _node(9, 1, ["controller"]), _node(4, 1, ["compute"]),
             _node(1, 1, ["controller", "ceph-osd"])]
    waves = mosmu_waves.plan_waves(nodes, order="last")
    assert [[n["id"] for n in w] for w in waves] == [[4], [1], [9], [2], [3]]
    waves = mosmu_waves.plan_waves(nodes, serial_roles="ceph-osd,controller", order="first")
    assert [[n["id"] for n in w] for w in waves] == [[1], [2], [3], [9], [4]]
