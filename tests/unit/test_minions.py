"""Minion index from a real Salt minion data cache, written with Salt's own cache API."""

import pytest
import salt.cache
import salt.config
from hypothesis import given, settings
from hypothesis import strategies as st

import mosmu_minions


@pytest.fixture
def opts(tmp_path):
    return dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path / "cache"))


def _store(opts, grains_by_minion, legacy=False):
    cache = salt.cache.factory(opts)
    for minion, grains in grains_by_minion.items():
        if legacy:  # Salt < 3007: bank minions/<id>, key data
            cache.store(f"minions/{minion}", "data", {"grains": grains, "pillar": {}})
        else:
            cache.store("grains", minion, grains)
            cache.store("pillar", minion, {"big": "x" * 1000})
    return cache


GRAINS = {
    "node-1.test.domain.local": {"ipv4": ["10.20.0.3", "127.0.0.1"], "id": "node-1",
                                 "os": "Ubuntu"},
    "node-2.test.domain.local": {"ipv4": ["10.20.0.4", "192.168.0.3"]},
    "twin-a": {"ipv4": ["10.20.0.5"]},
    "twin-b": {"ipv4": ["10.20.0.5"]},
    "no-ipv4": {"os": "CentOS"},
    "odd-ipv4": {"ipv4": "10.20.0.9"},
}


@pytest.mark.parametrize("legacy", [False, True])
def test_ip_index_from_the_ipv4_grain_only(opts, legacy):
    _store(opts, GRAINS, legacy=legacy)
    index = mosmu_minions.minion_index(opts, "ip")
    assert index["10.20.0.3"] == ("node-1.test.domain.local",)
    assert index["10.20.0.5"] == ("twin-a", "twin-b")
    assert index["127.0.0.1"] == ("node-1.test.domain.local",)
    assert "10.20.0.9" not in index  # a grain of the wrong type is ignored
    assert set(index) == {"10.20.0.3", "127.0.0.1", "10.20.0.4", "192.168.0.3", "10.20.0.5"}


def test_fqdn_and_hostname_indexes_need_ids_only(opts):
    _store(opts, GRAINS)
    assert mosmu_minions.minion_index(opts, "fqdn")["node-2.test.domain.local"] == \
        ("node-2.test.domain.local",)
    hosts = mosmu_minions.minion_index(opts, "hostname")
    assert hosts["node-1"] == ("node-1.test.domain.local",)
    assert hosts["twin-a"] == ("twin-a",)


def test_empty_cache(opts):
    assert mosmu_minions.minion_index(opts, "ip") == {}


def test_unknown_match(opts):
    with pytest.raises(ValueError, match="match 'mac'"):
        mosmu_minions.minion_index(opts, "mac")


@pytest.mark.parametrize("match, node, expected", [
    ("ip", {"ip": "10.20.0.3"}, ("node-1.test.domain.local", ["node-1.test.domain.local"])),
    ("ip", {"ip": "10.20.0.5"}, (None, ["twin-a", "twin-b"])),
    ("ip", {"ip": "10.20.0.77"}, (None, [])),
    ("fqdn", {"fqdn": "NODE-2.test.domain.local"},
     ("node-2.test.domain.local", ["node-2.test.domain.local"])),
    ("fqdn", {"fqdn": None}, (None, [])),
    ("hostname", {"hostname": "node-1"},
     ("node-1.test.domain.local", ["node-1.test.domain.local"])),
    ("hostname", {"fqdn": "node-1.test.domain.local"},  # Fuel <= 6.1: no hostname field
     ("node-1.test.domain.local", ["node-1.test.domain.local"])),
])
def test_minion_of(opts, match, node, expected):
    _store(opts, GRAINS)
    index = mosmu_minions.minion_index(opts, match)
    assert mosmu_minions.minion_of(node, index, match) == expected


def test_map_nodes_adds_minion_and_candidates(opts):
    _store(opts, GRAINS)
    index = mosmu_minions.minion_index(opts, "ip")
    nodes = [{"id": 1, "ip": "10.20.0.3"}, {"id": 3, "ip": "10.20.0.5"},
             {"id": 9, "ip": "10.20.0.99"}]
    mapped = mosmu_minions.map_nodes(nodes, index, "ip")
    assert [(n["id"], n["minion"], n["candidates"]) for n in mapped] == [
        (1, "node-1.test.domain.local", ["node-1.test.domain.local"]),
        (3, None, ["twin-a", "twin-b"]), (9, None, [])]
    assert "minion" not in nodes[0]  # inputs untouched


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["10.0.0.1", "10.0.0.2", "127.0.0.1"]),
                          st.sampled_from(["m1", "m2", "m3", "a"])), max_size=12))
def test_grouping_gives_each_key_its_sorted_distinct_minions(pairs):
    expected = {}
    for key, minion in pairs:
        expected.setdefault(key, set()).add(minion)
    assert mosmu_minions._grouped(iter(pairs)) == \
        {key: tuple(sorted(minions)) for key, minions in expected.items()}
