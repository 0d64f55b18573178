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
