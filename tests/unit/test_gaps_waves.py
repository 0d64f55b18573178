"""Gaps mutation testing found in the wave planner (mosmu issue 10).

Batch sizes at their bounds (101% refused, an empty environment still one wave), mixed int and
text env / node ids in a stable order, and refusals that name the argument to fix.
"""

import pytest

import mosmu_waves


def _node(node_id, env, roles=("compute",)):
    return {"id": node_id, "ip": f"10.0.{env}.{node_id}", "cluster": env, "roles": list(roles)}


def _ids(waves):
    return [[n["id"] for n in wave] for wave in waves]


@pytest.mark.parametrize("value", ["101%", "1000%", "999999999%", "0%", "-5", "5\t%"])
def test_parse_batch_refuses_out_of_range(value):
    with pytest.raises(ValueError, match=r"^batch=") as err:
        mosmu_waves.parse_batch(value)
    assert repr(value) in str(err.value) and "batch=25%" in str(err.value)


@pytest.mark.parametrize("batch, total, size", [
    (None, 0, 1), (None, 1, 1), (None, 7, 7),
    (5, 10, 5), ("5", 10, 5), ((5, False), 10, 5), (3, 1, 3),
    ("25%", 10, 3), ((25, True), 10, 3), ("50%", 101, 51), ("100%", 101, 101),
    ("1%", 1, 1), ("1%", 0, 1), ("10%", 100, 10), ("99%", 200, 198),
    (" 50 %", 10, 5),                    # as the runner's request reads it (one parser)
])
def test_batch_size(batch, total, size):
    assert mosmu_waves.batch_size(batch, total) == size


def test_batch_size_refuses_what_parse_batch_refuses():
    with pytest.raises(ValueError, match=r"^batch="):
        mosmu_waves.batch_size("0", 10)


def test_mixed_env_ids_ints_first_then_text():
    nodes = [_node(1, "b"), _node(2, "a"), _node(3, 11), _node(4, 3), _node(5, "10")]
    waves = mosmu_waves.plan_waves(nodes)
    assert [w[0]["cluster"] for w in waves] == [3, 11, "10", "a", "b"]


def test_mixed_node_ids_ints_first_then_text():
    nodes = [_node("n-b", 1), _node(10, 1), _node("n-a", 1), _node(9, 1)]
    assert _ids(mosmu_waves.plan_waves(nodes, batch=1)) == [[9], [10], ["n-a"], ["n-b"]]
    assert _ids(mosmu_waves.plan_waves(nodes)) == [[9, 10, "n-a", "n-b"]]


def test_serial_nodes_with_mixed_ids_and_order_last():
    nodes = [_node("c", 1, ["controller"]), _node(2, 1), _node(1, 1, ["controller"]),
             _node(3, 1)]
    assert _ids(mosmu_waves.plan_waves(nodes, order="last")) == [[2, 3], [1], ["c"]]
    assert _ids(mosmu_waves.plan_waves(nodes)) == [[1], ["c"], [2, 3]]


def test_bad_order_names_the_accepted_values():
    with pytest.raises(ValueError, match=r"^order=") as err:
        mosmu_waves.plan_waves([_node(1, 1)], order="middle")
    assert "'middle'" in str(err.value) and "first, last" in str(err.value)


@pytest.mark.parametrize("nodes, text", [
    ("node-1", "not str"), ({"id": 1}, "not dict"), (None, "not NoneType"),
    ([dict(_node(7, 1), roles="controller")], "'controller'"),
    ([_node(8, 1), _node(8, 2)], "8"),
])
def test_bad_nodes_name_what_is_wrong(nodes, text):
    with pytest.raises(ValueError, match=r"^nodes") as err:
        mosmu_waves.plan_waves(nodes)
    assert text in str(err.value)


@pytest.mark.parametrize("args, name", [
    ((-1, 0), "failures_so_far="), ((True, 0), "failures_so_far="),
    ((0, -1), "max_failures="), ((0, 1.5), "max_failures="),
])
def test_should_stop_refusal_names_the_argument(args, name):
    with pytest.raises(ValueError, match="^" + name) as err:
        mosmu_waves.should_stop(*args)
    bad = args[0] if name.startswith("failures") else args[1]
    assert repr(bad) in str(err.value)
