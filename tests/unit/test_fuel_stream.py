"""The streaming collection decoder of mosmu_fuel: whatever the chunking, it returns what
``json.loads`` returns (with the trimmed fields set to None) and refuses what the whole-body
path refuses; the node list arrives trimmed from the sandbox's Nailgun."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mosmu_fuel
from sandbox import fuelapi
from sandbox import inventory as inv
from sandbox.procs import free_ports


def _decode(body, cuts, trim=(), max_depth=mosmu_fuel.MAX_DEPTH):
    """Feed ``body`` split at ``cuts``; the list, or the raw bytes for the whole-body path."""
    dec = mosmu_fuel._Collection(trim=trim, max_depth=max_depth)
    start = 0
    for cut in [*sorted(set(cuts)), len(body)]:
        dec.feed(body[start:cut])
        start = cut
    out = dec.close()
    return out if out is not None else ("raw", bytes(dec.raw))


def _kind(body, cuts, **kw):
    with pytest.raises(mosmu_fuel._BadJSON) as err:
        _decode(body, cuts, **kw)
    return err.value.kind


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12)
OBJECTS = st.lists(st.dictionaries(st.sampled_from(["id", "meta", "ip", "é", "x y"]),
                                   JSON_VALUES, max_size=5), max_size=6)


@settings(max_examples=300, deadline=None)
@given(OBJECTS, st.lists(st.integers(0, 4000), max_size=12), st.sampled_from(["", " ", "\n  "]))
def test_any_chunking_gives_what_json_loads_gives(objects, cuts, blank):
    body = (blank + json.dumps(objects, indent=1 if blank else None) + blank).encode()
    cuts = [c % (len(body) + 1) for c in cuts]
    expected = json.loads(body)
    for obj in expected:
        if "meta" in obj:
            obj["meta"] = None
    assert _decode(body, cuts, trim=("meta",)) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(JSON_VALUES, min_size=1, max_size=5), st.lists(st.integers(0, 400), max_size=8))
def test_a_list_of_other_values_is_the_wrong_shape_or_decodes(values, cuts):
    body = json.dumps(values).encode()
    cuts = [c % (len(body) + 1) for c in cuts]
    if all(isinstance(v, dict) for v in values):
        assert _decode(body, cuts) == values
    else:
        assert _kind(body, cuts) == "shape"


def test_a_number_cut_between_chunks_is_not_taken_early():
    """``[12`` then ``3]`` must not decode as 12 followed by garbage."""
    assert _kind(b"[123]", [3]) == "shape"          # decoded whole: a list of numbers
    assert _decode(b'[{"id": 123}]', [9, 10]) == [{"id": 123}]


@pytest.mark.parametrize("body", [
    b'[{"a": 1},]', b'[{"a": 1} {"b": 2}]', b'[{"a": 1}] x', b'[{"a": 1}', b'[{"a": tru}]',
    b'[{"a": "\xff"}]', b'[{"a": "\xc3"}]', b'[,]', b'[ ',
])
def test_malformed_bodies_are_refused_at_any_chunking(body):
    for cut in range(len(body) + 1):
        assert _kind(body, [cut]) == "malformed", (body, cut)
    with pytest.raises(ValueError):
        json.loads(body)


@pytest.mark.parametrize("body", [b"", b"  ", b"[", b'{"nodes": []}', b"<html></html>",
                                  b'\xef\xbb\xbf[{"a": 1}]', '[{"a": 1}]'.encode("utf-16-le"),
                                  '[{"a": 1}]'.encode("utf-16")])
def test_bodies_not_starting_with_a_utf8_bracket_go_to_the_whole_body_path(body):
    assert _decode(body, [1]) == ("raw", body)


def test_depth_limit_applies_to_what_is_kept():
    deep = {"a": [[[[1]]]]}                                     # depth 5 inside the list
    body = json.dumps([deep]).encode()
    assert _decode(body, [], max_depth=6) == [deep]
    assert _kind(body, [], max_depth=5) == "depth"
    trimmed = json.dumps([{"meta": deep, "id": 1}]).encode()    # the deep part is dropped
    assert _decode(trimmed, [], trim=("meta",), max_depth=3) == [{"meta": None, "id": 1}]
    assert _kind(b"[" * 3000 + b"]" * 3000, [7]) == "recursion"


def test_a_large_element_in_small_chunks_is_decoded_once_complete():
    big = [{"id": 1, "blob": "x" * 200000, "meta": {"k": list(range(5000))}}]
    body = json.dumps(big).encode()
    out = _decode(body, list(range(0, len(body), 997)), trim=("meta",))
    assert out == [{"id": 1, "blob": "x" * 200000, "meta": None}]


@pytest.fixture(scope="module")
def nailgun():
    creds = {"tenant": "admin", "username": "admin", "password": "pw"}
    data = inv.default(4)
    keystone, port = free_ports(2)
    servers = fuelapi.serve(data, creds, keystone, port)
    yield data, mosmu_fuel.FuelClient(f"http://127.0.0.1:{port}", "admin", "pw",
                                      keystone_url=f"http://127.0.0.1:{keystone}/v2.0",
                                      timeout=10, backoff=0)
    for server in servers:
        server.shutdown()
        server.server_close()


def test_inventory_nodes_come_without_meta_and_network_data(nailgun):
    data, client = nailgun
    got = client.inventory()
    assert len(got["nodes"]) == 4
    for raw, node in zip(json.loads(json.dumps(data["nodes"])), got["nodes"]):
        assert raw["meta"] and raw["network_data"]              # there was something to drop
        assert node == dict(raw, meta=None, network_data=None)
    sent = json.loads(json.dumps(data))                         # as it travels
    assert got["clusters"] == sent["clusters"]
    assert sorted(got["releases"], key=lambda r: r["id"]) == sent["releases"]  # untrimmed
    assert client.get("/api/v1/nodes/") == sent["nodes"]        # get() without trim: whole

