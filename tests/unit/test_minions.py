"""The minion index: which minion a Fuel node is, from the master's minion data cache.

A node maps to a minion by ``ip`` (the ``ipv4`` grain), ``fqdn`` or ``hostname``; only a key
held by exactly one minion selects it, the others are candidates. A hostile minion id is never
a candidate. The ipv4 index persists in ``<cachedir>/mosmu/minion-index.p``: a later run
decodes only the minions whose cache entry changed under a settled, finite stamp, and a stale,
racy, corrupt or foreign index never maps a node to the wrong minion. Caches are real Salt
localfs caches written with Salt's own API, or an in-memory backend with the same methods.
"""

import logging
import math
import os
import pathlib
import stat
import tempfile
import time

import pytest
import salt.cache
import salt.config
import salt.utils.msgpack
import salt.utils.verify
from hypothesis import given, settings
from hypothesis import strategies as st

import mosmu_minions

INDEX = ("mosmu", "minion-index.p")


@pytest.fixture
def opts(tmp_path):
    os.makedirs(tmp_path / "pki")
    return dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path / "cache"),
                pki_dir=str(tmp_path / "pki"))


class MemCache:
    """An in-memory cache backend: ``grains`` bank (or the legacy ``minions/<id>`` banks),
    stamps set by the test, and a record of every decoded entry."""

    def __init__(self, grains, stamps=None, legacy=False, driver="memory"):
        self.banks = {}
        for minion, value in grains.items():
            if legacy:
                self.banks[f"minions/{minion}"] = {"data": value}
            else:
                self.banks.setdefault("grains", {})[minion] = value
        self.stamps = dict(stamps or {})
        self.legacy = legacy
        if driver is not None:      # None: a backend object without a driver attribute
            self.driver = driver
        self.fetched = []

    def list(self, bank):
        if bank == "minions" and self.legacy:
            return [b.split("/", 1)[1] for b in self.banks]
        return list(self.banks.get(bank, {})) if bank == "grains" else []

    def fetch(self, bank, key):
        self.fetched.append((bank, key))
        return self.banks.get(bank, {}).get(key)

    def updated(self, bank, key):
        minion = bank.split("/", 1)[1] if bank.startswith("minions/") else key
        expected = ("data" if self.legacy else minion, f"minions/{minion}" if self.legacy
                    else "grains")
        if (key, bank) != expected:
            raise KeyError(bank)
        return self.stamps.get(minion)


def _index_file(opts):
    with open(os.path.join(opts["cachedir"], *INDEX), "rb") as handle:
        return salt.utils.msgpack.unpackb(handle.read(), raw=False)


OLD = 1_000_000     # a stamp long settled


def _write_index(opts, content):
    """Plant an index file (a stale, foreign or tampered one)."""
    path = os.path.join(opts["cachedir"], *INDEX)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(salt.utils.msgpack.packb(content, use_bin_type=True))


def _stored_entries(opts):
    path = os.path.join(opts["cachedir"], *INDEX)
    return _index_file(opts)["entries"] if os.path.exists(path) else {}


def _by_minion(opts, cache):
    """``{minion: sorted ipv4s}`` as ``minion_index(match="ip")`` sees ``cache``."""
    out = {}
    for addr, minions in mosmu_minions.minion_index(opts, "ip", cache=cache).items():
        for minion in minions:
            out.setdefault(minion, []).append(addr)
    return {minion: sorted(addrs) for minion, addrs in out.items()}


def _valid(opts, ids):
    """The ids ``minion_index`` keeps, sorted (the keys of a ``fqdn`` index are the ids)."""
    cache = MemCache({minion: {} for minion in ids})
    index = mosmu_minions.minion_index(opts, "fqdn", cache=cache)
    return sorted(minion for minions in index.values() for minion in minions)


# --- a real localfs cache, written with Salt's own API ---------------------------------------
def _store_grains(opts, grains_by_minion, legacy=False):
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
def test_the_ip_index_comes_from_the_ipv4_grain_only(opts, legacy):
    _store_grains(opts, GRAINS, legacy=legacy)
    index = mosmu_minions.minion_index(opts, "ip")
    assert index["10.20.0.3"] == ("node-1.test.domain.local",)
    assert index["10.20.0.5"] == ("twin-a", "twin-b")
    assert index["127.0.0.1"] == ("node-1.test.domain.local",)
    assert "10.20.0.9" not in index  # a grain of the wrong type is ignored
    assert set(index) == {"10.20.0.3", "127.0.0.1", "10.20.0.4", "192.168.0.3", "10.20.0.5"}


def test_fqdn_and_hostname_indexes_need_only_the_ids(opts):
    _store_grains(opts, GRAINS)
    assert mosmu_minions.minion_index(opts, "fqdn")["node-2.test.domain.local"] == \
        ("node-2.test.domain.local",)
    hosts = mosmu_minions.minion_index(opts, "hostname")
    assert hosts["node-1"] == ("node-1.test.domain.local",)
    assert hosts["twin-a"] == ("twin-a",)


def test_an_empty_cache_gives_an_empty_index(opts):
    assert mosmu_minions.minion_index(opts, "ip") == {}


def test_an_unknown_match_is_refused_naming_it(opts):
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
def test_a_node_maps_to_its_one_minion_or_to_its_candidates(opts, match, node, expected):
    _store_grains(opts, GRAINS)
    index = mosmu_minions.minion_index(opts, match)
    assert mosmu_minions.minion_of(node, index, match) == expected


def test_map_nodes_adds_minion_and_candidates_to_copies(opts):
    _store_grains(opts, GRAINS)
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
def test_each_address_indexes_its_sorted_distinct_minions(tmp_path_factory, pairs):
    grains = {}
    for key, minion in pairs:
        grains.setdefault(minion, {"ipv4": []})["ipv4"].append(key)
    expected = {}
    for key, minion in pairs:
        expected.setdefault(key, set()).add(minion)
    opts = {"pki_dir": str(tmp_path_factory.getbasetemp())}     # no cachedir: nothing stored
    assert mosmu_minions.minion_index(opts, "ip", cache=MemCache(grains)) == \
        {key: tuple(sorted(minions)) for key, minions in expected.items()}


# --- the selection rule: a node's ip, fqdn or hostname names its minion --------------------

@pytest.mark.parametrize("match, node, index, expected", [
    ("ip", {"ip": "10.0.0.1"}, {"10.0.0.1": ("m1",)}, ("m1", ["m1"])),
    ("ip", {"ip": "10.0.0.1"}, {"10.0.0.1": ("m1", "m2")}, (None, ["m1", "m2"])),
    ("ip", {"ip": "10.0.0.1"}, {}, (None, [])),
    ("ip", {"ip": ""}, {"": ("m1",)}, (None, [])),
    ("ip", {"ip": None, "fqdn": "m1"}, {"m1": ("m1",)}, (None, [])),
    ("ip", {"ip": "FE80::A"}, {"fe80::a": ("m1",)}, (None, [])),    # ip keys compared verbatim
    ("ip", {"ip": "FE80::A"}, {"FE80::A": ("m1",)}, ("m1", ["m1"])),
    ("fqdn", {"fqdn": "M1.Example.COM"}, {"m1.example.com": ("m1",)}, ("m1", ["m1"])),
    ("fqdn", {"fqdn": "m1.example.com", "hostname": "m1"}, {"m1": ("m1",)}, (None, [])),
    ("fqdn", {"ip": "10.0.0.1"}, {"10.0.0.1": ("m1",)}, (None, [])),
    ("hostname", {"hostname": "Node-1"}, {"node-1": ("m1",)}, ("m1", ["m1"])),
    ("hostname", {"hostname": "node-1.a.b"}, {"node-1": ("m1",)}, ("m1", ["m1"])),
    ("hostname", {"hostname": None, "fqdn": "Node-2.x"}, {"node-2": ("m2",)}, ("m2", ["m2"])),
    ("hostname", {"hostname": "", "fqdn": None}, {"": ("m1",)}, (None, [])),
])
def test_only_a_key_of_one_minion_selects_it(match, node, index, expected):
    assert mosmu_minions.minion_of(node, index, match) == expected


def test_the_default_match_is_ip(opts):
    cache = MemCache({"m1.example.com": {"ipv4": ["10.0.0.1"]}})
    assert mosmu_minions.minion_index(opts, cache=cache) == {"10.0.0.1": ("m1.example.com",)}
    index = {"10.0.0.1": ("m1",), "m1": ("m2",)}
    node = {"ip": "10.0.0.1", "fqdn": "m1", "hostname": "m1"}
    assert mosmu_minions.minion_of(node, index) == ("m1", ["m1"])
    assert mosmu_minions.map_nodes([node], index) == [dict(node, minion="m1", candidates=["m1"])]


@pytest.mark.parametrize("match, expected", [("fqdn", "byname"), ("hostname", "byname"),
                                             ("ip", "byip")])
def test_map_nodes_uses_the_given_match(match, expected):
    index = {"10.0.0.1": ("byip",), "node-1.x": ("byname",), "node-1": ("byname",)}
    node = {"id": 1, "ip": "10.0.0.1", "fqdn": "node-1.x", "hostname": "node-1"}
    assert mosmu_minions.map_nodes([node], index, match) == [
        dict(node, minion=expected, candidates=[expected])]


@pytest.mark.parametrize("match", ["", "IP", "id", None, "ip "])
def test_an_unknown_match_is_refused(opts, match):
    with pytest.raises(ValueError) as err:
        mosmu_minions.minion_index(opts, match, cache=MemCache({}))
    assert repr(match) in str(err.value)


# --- addresses: only the str items of a list-valued ipv4 grain --------------------------

@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("value, expected", [
    ({"ipv4": ["10.0.0.1", 5, None, "10.0.0.2"]}, ["10.0.0.1", "10.0.0.2"]),
    ({"ipv4": "10.0.0.1"}, []), ({"ipv4": None}, []), ({}, []), ("grains", []), (None, []),
    (["10.0.0.1"], []),
])
def test_addresses_of_any_cached_value(opts, value, expected, legacy):
    stored = {"grains": value, "pillar": {}} if legacy else value
    cache = MemCache({"m1": stored}, legacy=legacy)
    assert _by_minion(opts, cache).get("m1", []) == expected


@pytest.mark.parametrize("data", [None, ["grains"], "grains", 5, {"pillar": {}},
                                  {"grains": ["10.0.0.1"]}])
def test_a_legacy_entry_that_is_not_grains_gives_no_address(opts, data):
    cache = MemCache({"m1": data}, legacy=True)
    assert _by_minion(opts, cache) == {}


# --- minion ids: a hostile id is never a candidate; a plain one skips the costly valid_id --

@pytest.fixture
def spy_valid_id(monkeypatch):
    seen = []
    real = salt.utils.verify.valid_id

    def spy(opts, minion):
        seen.append(minion)
        return real(opts, minion)

    monkeypatch.setattr(salt.utils.verify, "valid_id", spy)
    return seen


def test_plain_ids_skip_valid_id_and_the_others_go_through_it(opts, spy_valid_id):
    os.symlink("/tmp", os.path.join(opts["pki_dir"], "linked"))
    ids = ["plain", "node-1.x", "a/b", "a\\b", "nul\0", ".", "..", "", "linked", 7, None]
    assert _valid(opts, ids) == ["node-1.x", "plain"]
    assert sorted(spy_valid_id) == sorted(["a/b", "a\\b", "nul\0", ".", "..", "", "linked"])


def test_a_missing_pki_dir_still_skips_valid_id_for_plain_ids(opts, spy_valid_id):
    missing = dict(opts, pki_dir=opts["pki_dir"] + "-missing")
    assert _valid(missing, ["plain", "a/b"]) == ["plain"]
    assert spy_valid_id == ["a/b"]


def test_a_relative_pki_dir_is_resolved_against_the_working_directory(
        opts, tmp_path, monkeypatch, spy_valid_id):
    monkeypatch.chdir(tmp_path)
    os.symlink("/tmp", os.path.join(opts["pki_dir"], "linked"))
    relative = dict(opts, pki_dir="pki")
    expected = ["plain"] + (["linked"] if salt.utils.verify.valid_id(relative, "linked")
                            else [])
    spy_valid_id.clear()
    assert _valid(relative, ["plain", "linked"]) == expected == ["plain"]
    assert spy_valid_id == ["linked"]


@pytest.mark.parametrize("bad", [{"pki_dir": None}, {"pki_dir": 5}, "drop"])
def test_an_unusable_pki_dir_refuses_every_id(opts, bad, spy_valid_id):
    if bad == "drop":
        broken = {k: v for k, v in opts.items() if k != "pki_dir"}
    else:
        broken = dict(opts, **bad)
    assert _valid(broken, ["plain", "node-1.x", "a/b"]) == []
    assert sorted(spy_valid_id) == ["a/b", "node-1.x", "plain"]


def test_an_invalid_id_is_logged_by_name(opts, caplog):
    caplog.set_level(logging.DEBUG, logger=mosmu_minions.log.name)
    assert _valid(opts, ["ok", "../etc"]) == ["ok"]
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "'../etc'" in m and "invalid id" in m], messages
    assert not [m for m in messages if "'ok'" in m]


# --- stamps: a cached address list is reused only under a settled, finite stamp ----------

class Wrapped:
    """A real localfs cache under another name or without some attributes."""

    def __init__(self, inner, driver=None, cachedir=None, updated=True):
        self._inner = inner
        if driver is not None:
            self.driver = driver
        if cachedir is not None:
            self.cachedir = cachedir
        self.calls = []
        self.updated_allowed = updated

    def list(self, bank):
        return self._inner.list(bank)

    def fetch(self, bank, key):
        self.calls.append(("fetch", bank, key))
        return self._inner.fetch(bank, key)

    def updated(self, bank, key):
        assert self.updated_allowed, "localfs stamps must come from os.stat"
        self.calls.append(("updated", bank, key))
        return self._inner.updated(bank, key)


def _aged_localfs(tmp_path, legacy=False, ips=("10.0.0.1",)):
    """A localfs cache in ``tmp_path/salt`` holding m1, written an hour ago."""
    cache_opts = dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path / "salt"))
    cache = salt.cache.factory(cache_opts)
    if legacy:
        cache.store("minions/m1", "data", {"grains": {"ipv4": list(ips)}})
        path = tmp_path / "salt" / "minions" / "m1" / "data.p"
    else:
        cache.store("grains", "m1", {"ipv4": list(ips)})
        path = tmp_path / "salt" / "grains" / "m1.p"
    then = OLD + 0.7
    os.utime(path, (then, then))
    return cache


@pytest.mark.parametrize("legacy", [False, True])
def test_localfs_stamps_come_from_the_cache_s_own_directory(opts, tmp_path, legacy):
    """The index lives under opts' cachedir, the entries under the cache's: the stamp is
    read from the cache's directory, without calling ``updated``."""
    cache = Wrapped(_aged_localfs(tmp_path, legacy), driver="localfs",
                    cachedir=str(tmp_path / "salt"), updated=False)
    assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]}
    assert _stored_entries(opts) == {"m1": [OLD, ["10.0.0.1"]]}


def test_localfs_without_a_cachedir_attribute_uses_opts_cachedir(tmp_path):
    inner = _aged_localfs(tmp_path)
    cache = Wrapped(inner, driver="localfs", updated=False)
    opts = dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path / "salt"))
    assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]}
    assert _stored_entries(opts) == {"m1": [OLD, ["10.0.0.1"]]}


def test_a_localfs_cache_in_another_directory_is_reused_on_the_next_run(opts, tmp_path):
    inner = _aged_localfs(tmp_path)
    for fetched in ([("fetch", "grains", "m1")], []):
        cache = Wrapped(inner, driver="localfs", cachedir=str(tmp_path / "salt"),
                        updated=False)
        assert mosmu_minions.minion_index(opts, "ip", cache=cache) == {"10.0.0.1": ("m1",)}
        assert cache.calls == fetched


@pytest.mark.parametrize("legacy", [False, True])
def test_other_backends_are_asked_updated_of_the_minion_s_entry(opts, tmp_path, legacy):
    inner = _aged_localfs(tmp_path, legacy)
    cache = Wrapped(inner, driver="other")
    assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]}
    assert _stored_entries(opts)["m1"][0] == OLD
    bank, key = ("minions/m1", "data") if legacy else ("grains", "m1")
    assert [call for call in cache.calls if call[0] == "updated"] == [("updated", bank, key)]


@pytest.mark.parametrize("stamp, expected", [
    (OLD, OLD), (OLD + 0.5, OLD + 0.5), (0, 0), (-5, -5),
    (None, None), (True, None), (False, None), ("1000000", None), ([OLD], None),
    (math.inf, None), (-math.inf, None), (math.nan, None),
])
def test_only_finite_numbers_are_kept_as_stamps(opts, stamp, expected):
    cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": stamp})
    assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]}
    assert _stored_entries(opts).get("m1", [None])[0] == expected


@pytest.mark.parametrize("error", [KeyError, AttributeError, NotImplementedError, TypeError])
def test_a_backend_that_cannot_stamp_reads_every_minion(opts, error):
    class Failing(MemCache):
        def updated(self, bank, key):
            raise error("no updated")

    for _ in range(2):
        cache = Failing({"m1": {"ipv4": ["10.0.0.1"]}}, driver="failing")
        assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]}
        assert cache.fetched == [("grains", "m1")]


@pytest.mark.parametrize("stamp", [-math.inf, math.inf, math.nan, "5", True])
def test_an_odd_stamp_is_never_trusted(opts, stamp):
    for _ in range(2):
        cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": stamp})
        assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]}
        assert cache.fetched == [("grains", "m1")]


@pytest.mark.parametrize("legacy", [False, True])
def test_a_settled_stamp_is_reused_by_any_backend(opts, legacy):
    grains = {"m1": {"ipv4": ["10.0.0.1"]}, "m2": {"ipv4": ["10.0.0.2"]}}
    if legacy:
        grains = {m: {"grains": g} for m, g in grains.items()}
    stamps = {"m1": OLD, "m2": OLD + 1}
    first = MemCache(grains, stamps, legacy=legacy)
    expected = {"m1": ["10.0.0.1"], "m2": ["10.0.0.2"]}
    assert _by_minion(opts, first) == expected
    assert len(first.fetched) == 2
    again = MemCache(grains, stamps, legacy=legacy)
    assert _by_minion(opts, again) == expected
    assert again.fetched == []
    changed = MemCache(grains, dict(stamps, m2=OLD + 2), legacy=legacy)
    assert _by_minion(opts, changed) == expected
    assert [key if not legacy else bank for bank, key in changed.fetched] == \
        (["minions/m2"] if legacy else ["m2"])


@pytest.mark.parametrize("age, kept", [(mosmu_minions.SETTLE + 1, True),
                                       (mosmu_minions.SETTLE, False), (0, False),
                                       (-10, False)])
def test_only_stamps_older_than_settle_seconds_are_kept(opts, monkeypatch, age, kept):
    now = 2_000_000.75
    monkeypatch.setattr(mosmu_minions.time, "time", lambda: now)
    stamps = {"m1": math.floor(now) - age}
    first = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, stamps)
    _by_minion(opts, first)
    again = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, stamps)
    _by_minion(opts, again)
    assert again.fetched == ([] if kept else [("grains", "m1")])


def test_an_entry_stored_without_a_stamp_is_never_used(opts):
    """A tampered index entry with a None stamp must not answer for a backend without
    stamps."""
    _write_index(opts, {"format": mosmu_minions.INDEX_FORMAT, "owner": ["memory", "grains"],
                        "entries": {"m1": [None, ["10.9.9.9"]]}})
    cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": None})
    assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]}


def test_without_a_cachedir_nothing_is_stored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inner = _aged_localfs(tmp_path)
    cache = Wrapped(inner, driver="localfs", cachedir=str(tmp_path / "salt"), updated=False)
    opts = {"pki_dir": str(tmp_path), "cache": "localfs"}
    for _ in range(2):
        cache.calls.clear()
        assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]}
        assert cache.calls == [("fetch", "grains", "m1")]
    assert sorted(os.listdir(tmp_path)) == ["salt"]


def test_the_number_of_decoded_minions_is_logged(opts, caplog):
    caplog.set_level(logging.DEBUG, logger=mosmu_minions.log.name)
    grains = {m: {"ipv4": [f"10.0.0.{i}"]} for i, m in enumerate(("m1", "m2", "m3"))}
    _by_minion(opts, MemCache(grains, {"m1": OLD, "m2": OLD}))
    caplog.clear()
    _by_minion(opts, MemCache(grains, {"m1": OLD, "m2": OLD + 5}))
    counts = [r.args for r in caplog.records if "read from the cache" in r.msg]
    assert counts == [(3, 2)]


# --- the index file: its owner, private, written only on change, never half-written ------

@pytest.mark.parametrize("legacy, layout", [(False, "grains"), (True, "minions")])
def test_the_index_file_names_its_cache_and_layout(opts, legacy, layout):
    grains = {"m1": {"ipv4": ["10.0.0.1"]}}
    if legacy:
        grains = {"m1": {"grains": grains["m1"]}}
    _by_minion(opts, MemCache(grains, {"m1": OLD}, legacy, driver="redis"))
    assert _index_file(opts) == {"format": mosmu_minions.INDEX_FORMAT,
                                 "owner": ["redis", layout],
                                 "entries": {"m1": [OLD, ["10.0.0.1"]]}}


def test_the_owner_of_a_cache_without_a_driver_is_the_cache_option(opts):
    cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": OLD}, driver=None)
    _by_minion(dict(opts, cache="consul"), cache)
    assert _index_file(opts)["owner"] == ["consul", "grains"]


def test_the_index_directory_is_private(opts):
    umask = os.umask(0o022)
    try:
        _by_minion(opts, MemCache({"m1": {"ipv4": []}}, {"m1": OLD}))
    finally:
        os.umask(umask)
    mode = stat.S_IMODE(os.stat(os.path.join(opts["cachedir"], INDEX[0])).st_mode)
    assert mode == 0o700


def test_an_unchanged_index_is_not_rewritten(opts):
    path = os.path.join(opts["cachedir"], *INDEX)
    grains = {"m1": {"ipv4": ["10.0.0.1"]}, "m2": {"ipv4": ["10.0.0.2"]}}
    _by_minion(opts, MemCache(grains, {"m1": OLD, "m2": OLD}))
    first = os.stat(path).st_ino
    _by_minion(opts, MemCache(grains, {"m1": OLD, "m2": OLD}))
    assert os.stat(path).st_ino == first
    _by_minion(opts, MemCache({"m1": grains["m1"]}, {"m1": OLD, "m2": OLD}))
    assert os.stat(path).st_ino != first                   # m2 left: written
    assert _index_file(opts)["entries"] == {"m1": [OLD, ["10.0.0.1"]]}


def test_only_settled_entries_are_stored_and_an_unstamped_one_is_forgotten(opts):
    grains = {"m1": {"ipv4": ["10.0.0.1"]}, "m2": {"ipv4": ["10.0.0.2"]}}
    _by_minion(opts, MemCache(grains, {"m1": OLD, "m2": None}))
    assert _stored_entries(opts) == {"m1": [OLD, ["10.0.0.1"]]}
    _by_minion(opts, MemCache(grains, {"m1": None, "m2": None}))     # m1 lost its stamp
    assert _stored_entries(opts) == {}


def test_the_temporary_file_is_made_beside_the_index(opts, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    _by_minion(opts, MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": OLD}))
    assert _index_file(opts)["entries"] == {"m1": [OLD, ["10.0.0.1"]]}


def test_a_failed_write_leaves_no_file_and_is_logged(opts, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=mosmu_minions.log.name)
    error = OSError(28, "No space left on device")

    def full(src, dst):
        raise error

    monkeypatch.setattr(os, "replace", full)
    cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": OLD})
    assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]}
    directory = os.path.join(opts["cachedir"], INDEX[0])
    assert os.listdir(directory) == []
    path = os.path.join(opts["cachedir"], *INDEX)
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if path in m and str(error) in m], messages


def test_an_unreadable_index_is_logged_and_a_cold_start(opts, caplog):
    caplog.set_level(logging.INFO, logger=mosmu_minions.log.name)
    path = os.path.join(opts["cachedir"], *INDEX)
    os.makedirs(path)                               # a directory where the file belongs
    with pytest.raises(OSError) as err:
        pathlib.Path(path).read_bytes()
    cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": OLD})
    assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]} and cache.fetched
    messages = [r.getMessage() for r in caplog.records]
    cause = str(err.value)                          # names the path as well
    assert [m for m in messages if path in m.replace(cause, "")
            and err.value.__class__.__name__ in m and cause in m], messages


@pytest.mark.parametrize("content", [
    {"format": 2, "owner": ["memory", "grains"], "entries": {}},
    {"format": 1, "owner": ["memory", "minions"], "entries": {"m1": [OLD, ["10.0.0.9"]]}},
    {"format": 1, "owner": ["memory", "grains"], "entries": [["m1", OLD]]},
    ["format", 1],
])
def test_a_foreign_index_is_logged_and_a_cold_start(opts, caplog, content):
    caplog.set_level(logging.INFO, logger=mosmu_minions.log.name)
    path = os.path.join(opts["cachedir"], *INDEX)
    _write_index(opts, content)
    cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": OLD})
    assert _by_minion(opts, cache) == {"m1": ["10.0.0.1"]} and cache.fetched
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if path in m and "every minion" in m], messages


# --- the persistent index over a real localfs cache: only changed minions are decoded -----
def _age(opts, minion, seconds, legacy=False):
    """Date the minion's cache entry back (as if written ``seconds`` ago)."""
    bank = f"minions/{minion}" if legacy else "grains"
    key = "data" if legacy else minion
    path = os.path.join(opts["cachedir"], bank, f"{key}.p")
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def _put_grains(cache, minion, ips, legacy=False):
    if legacy:
        cache.store(f"minions/{minion}", "data", {"grains": {"ipv4": ips}, "pillar": {}})
    else:
        cache.store("grains", minion, {"ipv4": ips, "os": "Ubuntu"})


class CountingCache:
    """A real localfs cache that counts the grains it decodes."""

    def __init__(self, opts):
        self.inner = salt.cache.factory(opts)
        self.driver, self.cachedir = self.inner.driver, self.inner.cachedir
        self.fetched = []

    def list(self, bank):
        return self.inner.list(bank)

    def updated(self, bank, key):
        return self.inner.updated(bank, key)

    def fetch(self, bank, key):
        self.fetched.append(key if bank == "grains" else bank)
        return self.inner.fetch(bank, key)


@pytest.mark.parametrize("legacy", [False, True])
def test_a_second_run_decodes_only_the_changed_minions(opts, legacy):
    cache = salt.cache.factory(opts)
    for i in range(1, 5):
        _put_grains(cache, f"m{i}", [f"10.0.0.{i}"], legacy)
        _age(opts, f"m{i}", 60, legacy)
    first = CountingCache(opts)
    index = mosmu_minions.minion_index(opts, "ip", cache=first)
    assert len(first.fetched) == 4 and index["10.0.0.2"] == ("m2",)
    assert os.path.isfile(os.path.join(opts["cachedir"], "mosmu", "minion-index.p"))

    again = CountingCache(opts)
    assert mosmu_minions.minion_index(opts, "ip", cache=again) == index
    assert again.fetched == []

    _put_grains(cache, "m2", ["10.0.0.99"], legacy)       # the minion got a new address
    _age(opts, "m2", 30, legacy)
    third = CountingCache(opts)
    index = mosmu_minions.minion_index(opts, "ip", cache=third)
    assert len(third.fetched) == 1
    assert index["10.0.0.99"] == ("m2",) and "10.0.0.2" not in index


def test_an_address_moved_between_minions_is_never_mapped_to_the_old_one(opts):
    """Regression guard: m1's old IP now belongs to m2; the stored m1 entry must not win."""
    cache = salt.cache.factory(opts)
    _put_grains(cache, "m1", ["10.0.0.1"])
    _put_grains(cache, "m2", ["10.0.0.2"])
    for minion in ("m1", "m2"):
        _age(opts, minion, 60)
    mosmu_minions.minion_index(opts, "ip")
    _put_grains(cache, "m1", ["10.0.0.7"])
    _put_grains(cache, "m2", ["10.0.0.1"])
    for minion in ("m1", "m2"):
        _age(opts, minion, 10)
    index = mosmu_minions.minion_index(opts, "ip")
    assert index["10.0.0.1"] == ("m2",) and index["10.0.0.7"] == ("m1",)


def test_a_change_within_the_same_second_is_seen(opts):
    """An entry read while its stamp is still 'now' is not kept: a second write in the same
    second (same whole-second mtime) must not hide behind it."""
    cache = salt.cache.factory(opts)
    _put_grains(cache, "m1", ["10.0.0.1"])           # stamp = this second
    assert mosmu_minions.minion_index(opts, "ip")["10.0.0.1"] == ("m1",)
    stamp = cache.updated("grains", "m1")
    _put_grains(cache, "m1", ["10.0.0.5"])
    os.utime(os.path.join(opts["cachedir"], "grains", "m1.p"), (stamp, stamp))  # same stamp
    index = mosmu_minions.minion_index(opts, "ip")
    assert index == {"10.0.0.5": ("m1",)}


def test_removed_minions_leave_the_index(opts):
    cache = salt.cache.factory(opts)
    for minion in ("m1", "m2"):
        _put_grains(cache, minion, [f"10.0.0.{minion[1]}"])
        _age(opts, minion, 60)
    mosmu_minions.minion_index(opts, "ip")
    cache.flush("grains", "m1")
    assert mosmu_minions.minion_index(opts, "ip") == {"10.0.0.2": ("m2",)}


@pytest.mark.parametrize("content", [b"", b"\x00garbage\xff", b"\x93\x01\x02\x03"])
def test_a_corrupt_index_file_is_a_cold_start(opts, content):
    cache = salt.cache.factory(opts)
    _put_grains(cache, "m1", ["10.0.0.1"])
    _age(opts, "m1", 60)
    path = os.path.join(opts["cachedir"], "mosmu", "minion-index.p")
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(content)
    assert mosmu_minions.minion_index(opts, "ip") == {"10.0.0.1": ("m1",)}


def test_a_tampered_entry_of_the_wrong_type_is_read_again(opts):
    cache = salt.cache.factory(opts)
    _put_grains(cache, "m1", ["10.0.0.1"])
    _age(opts, "m1", 60)
    mosmu_minions.minion_index(opts, "ip")
    index = _index_file(opts)
    index["entries"]["m1"][1] = "10.0.0.9"          # a str, not a list
    _write_index(opts, index)
    assert mosmu_minions.minion_index(opts, "ip") == {"10.0.0.1": ("m1",)}


def test_another_backend_or_layout_does_not_reuse_the_index(opts):
    cache = salt.cache.factory(opts)
    _put_grains(cache, "m1", ["10.0.0.1"])
    _age(opts, "m1", 60)
    mosmu_minions.minion_index(opts, "ip")
    stamp = _index_file(opts)["entries"]["m1"][0]
    for other in (MemCache({"m1": {"ipv4": ["10.0.0.8"]}}, {"m1": stamp}, driver="redis"),
                  MemCache({"m1": {"grains": {"ipv4": ["10.0.0.8"]}}}, {"m1": stamp},
                           legacy=True, driver="localfs")):
        assert _by_minion(opts, other) == {"m1": ["10.0.0.8"]} and other.fetched


class NoUpdated(CountingCache):
    """A backend whose driver has no ``updated``."""

    driver = "nostamp"

    def updated(self, bank, key):
        raise KeyError("nostamp.updated")


def test_a_backend_without_updated_reads_every_minion_every_time(opts):
    cache = salt.cache.factory(opts)
    _put_grains(cache, "m1", ["10.0.0.1"])
    _age(opts, "m1", 60)
    for _ in range(2):
        backend = NoUpdated(opts)
        backend.driver = "nostamp"
        assert mosmu_minions.minion_index(opts, "ip", cache=backend) == {"10.0.0.1": ("m1",)}
        assert backend.fetched == ["m1"]


@pytest.mark.parametrize("legacy", [False, True])
def test_localfs_stamps_equal_cache_updated(opts, legacy):
    """The os.stat shortcut for localfs stores what ``Cache.updated`` returns."""
    cache = salt.cache.factory(opts)
    _put_grains(cache, "m1", ["10.0.0.1"], legacy)
    _age(opts, "m1", 3600, legacy)
    mosmu_minions.minion_index(opts, "ip")
    bank, key = ("minions/m1", "data") if legacy else ("grains", "m1")
    stamp = _index_file(opts)["entries"]["m1"][0]
    assert stamp == cache.updated(bank, key) and isinstance(stamp, int)


@pytest.mark.parametrize("minion", ["plain", "node-1.test.domain.local", ".", "..", "",
                                    "a/b", "a\\b", "nul\0", "linked", "pki-file"])
def test_the_ids_kept_are_the_ones_salt_s_valid_id_accepts(opts, minion):
    os.symlink("/tmp", os.path.join(opts["pki_dir"], "linked"))
    with open(os.path.join(opts["pki_dir"], "pki-file"), "w", encoding="utf-8"):
        pass
    expected = salt.utils.verify.valid_id(opts, minion)
    assert _valid(opts, [minion]) == ([minion] if expected else [])
    missing = dict(opts, pki_dir=opts["pki_dir"] + "-missing")
    expected = salt.utils.verify.valid_id(missing, minion)
    assert _valid(missing, [minion]) == ([minion] if expected else [])
