"""The fast paths in mosmu_select give exactly what the validators they front give."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mosmu_select
import mosmu_validate

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


@settings(max_examples=500, deadline=None)
@given(st.one_of(QUADS, st.text(max_size=20), st.integers(), st.none()))
def test_ipv4_fast_path_equals_the_validator(value):
    assert _outcome(mosmu_select._ipv4, value) == _outcome(mosmu_validate.ipv4, value)


@pytest.mark.parametrize("value", ["compute", "ceph-osd", "Compute", "", 3, None, "a" * 70])
def test_cached_role_and_platform_equal_the_validators(value):
    for _ in range(2):  # the second call may come from the cache
        assert _outcome(lambda v: mosmu_select._cached(mosmu_select._role, v), value) == \
            _outcome(mosmu_validate.role, value)
        assert _outcome(lambda v: mosmu_select._cached(mosmu_select._platform, v), value) == \
            _outcome(lambda v: mosmu_validate.word(v, "os_platform"), value)


def test_duplicate_reasons_keep_their_order_and_text():
    raws = [{"id": 1, "ip": "10.0.0.1", "fqdn": "A.x"}, {"id": 2, "ip": "10.0.0.1"},
            {"id": 1, "ip": "10.0.0.3", "fqdn": "a.x"}, {"id": 4, "ip": "10.0.0.4"}]
    assert mosmu_select._duplicates(raws) == {
        0: "duplicate id 1: shared with node(s) 1",
        2: "duplicate id 1: shared with node(s) 1",
        1: "duplicate ip '10.0.0.1': shared with node(s) 1",
    }


# -- parse_node's one-pass path gives what the field-by-field checks give ---------------------

PLAIN = {"id": 3, "ip": "10.20.0.5", "status": "ready", "online": True, "cluster": 1,
         "roles": ["compute"], "pending_roles": [], "pending_addition": False,
         "pending_deletion": False, "os_platform": "ubuntu", "error_type": None,
         "fqdn": "node-3.test.domain.local", "hostname": "node-3", "meta": None}
NAMES = ["node-1", "node-1.domain.tld", "a" * 63, "a" * 64, "a..b", "-a", "a-", "x." * 126 + "x",
         "x." * 127 + "x", "n\n", "A9.b-c.D", "", ".a", "a."]
ODD = st.one_of(
    st.sampled_from([*mosmu_select.NODE_STATUSES, *mosmu_select.ERROR_TYPES, *NAMES, "ubuntu",
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
