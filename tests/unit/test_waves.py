"""Waves: every node once, controllers alone, environments never mixed, sizes bounded.

The rules :func:`mosmu_waves.plan_waves` promises the runner, the batch grammar operators type
(``batch=5``, ``batch=25%``), the failure threshold and the SKIPPED entries of a stopped run.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mosmu_waves

ROLES = ["controller", "compute", "cinder", "mongo", "ceph-osd"]


def _node(node_id, env, roles=("compute",)):
    return {"id": node_id, "ip": f"10.{env}.0.{node_id}", "cluster": env, "roles": list(roles)}


def _ids(waves):
    return [[n["id"] for n in wave] for wave in waves]


def _serial(node):
    """The default serial roles: controllers and Ceph OSD nodes go alone."""
    return bool({"controller", "ceph-osd"} & set(node["roles"]))


def _rank(node):
    """The order of the default serial roles: controllers (Ceph monitors) before OSD nodes."""
    return 0 if "controller" in node["roles"] else 1


# --- every node exactly once, a controller alone, environments never mixed (property) --------

@st.composite
def fleets(draw):
    ids = draw(st.lists(st.integers(1, 500), unique=True, max_size=40))
    return [_node(i, draw(st.sampled_from([3, 11, 7])),
                  draw(st.lists(st.sampled_from(ROLES), unique=True, max_size=3)))
            for i in ids]


batches = st.one_of(st.none(), st.integers(1, 12),
                    st.integers(1, 100).map(lambda p: f"{p}%"))


@settings(max_examples=200, deadline=None)
@given(fleets(), batches, st.sampled_from(["first", "last"]))
def test_waves_hold_every_node_once_and_a_controller_alone(nodes, batch, order):
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


def test_no_nodes_make_no_waves():
    assert mosmu_waves.plan_waves([]) == []


# --- order: environment after environment, controllers first (or last), ids in order ---------

def test_environments_in_order_controllers_first_then_batches():
    nodes = [_node(9, 11, ["compute"]), _node(2, 11, ["controller"]), _node(4, 3, ["compute"]),
             _node(5, 11, ["compute"]), _node(1, 11, ["controller", "mongo"]),
             _node(7, 11, ["cinder"])]
    waves = mosmu_waves.plan_waves(nodes, batch=2)
    assert _ids(waves) == [[4], [1], [2], [5, 7], [9]]
    waves = mosmu_waves.plan_waves(nodes, batch=None, order="last")
    assert _ids(waves) == [[4], [5, 7, 9], [1], [2]]


def test_int_environment_ids_come_before_text_ones():
    nodes = [_node(1, "b"), _node(2, "a"), _node(3, 11), _node(4, 3), _node(5, "10")]
    waves = mosmu_waves.plan_waves(nodes)
    assert [w[0]["cluster"] for w in waves] == [3, 11, "10", "a", "b"]


def test_int_node_ids_come_before_text_ones():
    nodes = [_node("n-b", 1), _node(10, 1), _node("n-a", 1), _node(9, 1)]
    assert _ids(mosmu_waves.plan_waves(nodes, batch=1)) == [[9], [10], ["n-a"], ["n-b"]]
    assert _ids(mosmu_waves.plan_waves(nodes)) == [[9, 10, "n-a", "n-b"]]


def test_controllers_with_mixed_ids_go_first_or_last_in_id_order():
    nodes = [_node("c", 1, ["controller"]), _node(2, 1), _node(1, 1, ["controller"]),
             _node(3, 1)]
    assert _ids(mosmu_waves.plan_waves(nodes, order="last")) == [[2, 3], [1], ["c"]]
    assert _ids(mosmu_waves.plan_waves(nodes)) == [[1], ["c"], [2, 3]]


def test_without_serial_roles_controllers_share_plain_batches():
    nodes = [_node(i, 11, ["controller"]) for i in range(1, 5)]
    assert [len(w) for w in mosmu_waves.plan_waves(nodes, batch=3, serial_roles=())] == [3, 1]
    assert [len(w) for w in mosmu_waves.plan_waves(nodes, serial_roles="mongo,ceph-osd")] == [4]


# --- batch: a count, or a percentage of the environment rounded up ---------------------------

@pytest.mark.parametrize("value, expected", [
    (None, None), (5, (5, False)), ("5", (5, False)), ("25%", (25, True)),
    ("100%", (100, True)), (" 7 ", (7, False)),
])
def test_batch_is_a_count_or_a_percentage(value, expected):
    assert mosmu_waves.parse_batch(value) == expected


def test_a_percentage_is_of_the_environment_rounded_up():
    nodes = [_node(i, 11, ["compute"]) for i in range(1, 11)]       # 10 nodes
    sizes = [len(w) for w in mosmu_waves.plan_waves(nodes, batch="25%")]
    assert sizes == [3, 3, 3, 1]
    assert [len(w) for w in mosmu_waves.plan_waves(nodes[:3], batch="1%")] == [1, 1, 1]


@pytest.mark.parametrize("batch, total, size", [
    (None, 0, 1), (None, 1, 1), (None, 7, 7),
    (5, 10, 5), ("5", 10, 5), ((5, False), 10, 5), (3, 1, 3),
    ("25%", 10, 3), ((25, True), 10, 3), ("50%", 101, 51), ("100%", 101, 101),
    ("1%", 1, 1), ("1%", 0, 1), ("10%", 100, 10), ("99%", 200, 198),
    (" 50 %", 10, 5),                    # as the runner's request reads it (one parser)
])
def test_a_wave_holds_at_least_one_node_and_at_most_the_batch(batch, total, size):
    assert mosmu_waves.batch_size(batch, total) == size


# --- refusals are one line that names the argument to fix ------------------------------------

@pytest.mark.parametrize("value", ["0", 0, -1, "150%", "0%", "x", "", "5%%", "2.5", 2.0,
                                   True, False, [5], "5\n%", "1e3"])
def test_a_bad_batch_is_refused_in_one_line(value):
    with pytest.raises(ValueError, match=r"^batch=") as err:
        mosmu_waves.parse_batch(value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("value", ["101%", "1000%", "999999999%", "0%", "-5", "5\t%"])
def test_an_out_of_range_batch_is_refused_with_an_example(value):
    with pytest.raises(ValueError, match=r"^batch=") as err:
        mosmu_waves.parse_batch(value)
    assert repr(value) in str(err.value) and "batch=25%" in str(err.value)


def test_batch_size_refuses_what_parse_batch_refuses():
    with pytest.raises(ValueError, match=r"^batch="):
        mosmu_waves.batch_size("0", 10)


@pytest.mark.parametrize("kwargs, name", [
    ({"order": "middle"}, "order="), ({"order": True}, "order="), ({"batch": "150%"}, "batch="),
    ({"batch": True}, "batch="), ({"serial_roles": "ctrl;reboot"}, "serial_roles="),
    ({"serial_roles": [1]}, "serial_roles="),
])
def test_plan_waves_refuses_bad_arguments_by_name(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}"):
        mosmu_waves.plan_waves([_node(1, 11, [])], **kwargs)


def test_a_bad_order_names_the_accepted_values():
    with pytest.raises(ValueError, match=r"^order=") as err:
        mosmu_waves.plan_waves([_node(1, 1)], order="middle")
    assert "'middle'" in str(err.value) and "first, last" in str(err.value)


@pytest.mark.parametrize("nodes, text", [
    ("node-1", "not str"), ({"id": 1}, "not dict"), (None, "not NoneType"),
    ([{"id": 1}], "nodes"),
    ([dict(_node(7, 1), roles="controller")], "'controller'"),
    ([_node(8, 1), _node(8, 2)], "8"),
])
def test_bad_nodes_are_refused_naming_what_is_wrong(nodes, text):
    with pytest.raises(ValueError, match=r"^nodes") as err:
        mosmu_waves.plan_waves(nodes)
    assert text in str(err.value)


# --- stopping: no new wave once failures exceed max_failures ---------------------------------

@pytest.mark.parametrize("failures, limit, stop", [
    (0, 0, False), (1, 0, True), (2, 2, False), (3, 2, True),
])
def test_a_run_stops_once_failures_exceed_max_failures(failures, limit, stop):
    assert mosmu_waves.should_stop(failures, limit) is stop


def test_by_default_the_first_failure_stops_the_run():
    assert mosmu_waves.should_stop(0) is False and mosmu_waves.should_stop(1) is True


@pytest.mark.parametrize("args, name", [
    ((-1, 0), "failures_so_far="), ((True, 0), "failures_so_far="),
    ((0, -1), "max_failures="), ((0, 1.5), "max_failures="), ((0, "1"), "max_failures="),
    ((1.0, 0), "failures_so_far="),
])
def test_should_stop_refuses_a_bad_count_by_name(args, name):
    with pytest.raises(ValueError, match="^" + name) as err:
        mosmu_waves.should_stop(*args)
    bad = args[0] if name.startswith("failures") else args[1]
    assert repr(bad) in str(err.value)


# --- the nodes of waves never started are reported SKIPPED with the reason -------------------

def test_nodes_never_started_are_skipped_with_the_reason():
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
