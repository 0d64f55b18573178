"""Gaps mutation testing found in mosmu_minions (mosmu issue 10).

The selection rule that maps a node to its minion, the minion-id validation (a hostile id is
never a candidate; a plain one skips the costly ``valid_id``), the stamps that decide whether a
cached ipv4 list may be reused (settled, finite, numeric, of the right entry), and the
persistent index file (its owner, its permissions, written only on change, never half-written).
"""

import logging
import math
import os
import pathlib
import stat
import tempfile

import pytest
import salt.cache
import salt.config
import salt.utils.msgpack
import salt.utils.verify

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


# -- the selection rule ----------------------------------------------------------------------

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
def test_minion_of(match, node, index, expected):
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


# -- grains decoding -------------------------------------------------------------------------

@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("value, expected", [
    ({"ipv4": ["10.0.0.1", 5, None, "10.0.0.2"]}, ["10.0.0.1", "10.0.0.2"]),
    ({"ipv4": "10.0.0.1"}, []), ({"ipv4": None}, []), ({}, []), ("grains", []), (None, []),
    (["10.0.0.1"], []),
])
def test_ipv4_of_any_cached_value(value, expected, legacy):
    stored = {"grains": value, "pillar": {}} if legacy else value
    cache = MemCache({"m1": stored}, legacy=legacy)
    assert mosmu_minions._ipv4(cache, "m1", legacy) == expected


@pytest.mark.parametrize("data", [None, ["grains"], "grains", 5, {"pillar": {}},
                                  {"grains": ["10.0.0.1"]}])
def test_a_legacy_entry_that_is_not_grains_gives_no_address(data):
    cache = MemCache({"m1": data}, legacy=True)
    assert mosmu_minions._ipv4(cache, "m1", True) == []


# -- minion-id validation --------------------------------------------------------------------

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
    assert mosmu_minions._valid_ids(opts, ids) == ["plain", "node-1.x"]
    assert spy_valid_id == ["a/b", "a\\b", "nul\0", ".", "..", "", "linked"]


def test_a_missing_pki_dir_still_skips_valid_id_for_plain_ids(opts, spy_valid_id):
    missing = dict(opts, pki_dir=opts["pki_dir"] + "-missing")
    assert mosmu_minions._valid_ids(missing, ["plain", "a/b"]) == ["plain"]
    assert spy_valid_id == ["a/b"]


def test_a_relative_pki_dir_is_resolved_against_the_working_directory(
        opts, tmp_path, monkeypatch, spy_valid_id):
    monkeypatch.chdir(tmp_path)
    os.symlink("/tmp", os.path.join(opts["pki_dir"], "linked"))
    relative = dict(opts, pki_dir="pki")
    expected = ["plain"] + (["linked"] if salt.utils.verify.valid_id(relative, "linked")
                            else [])
    spy_valid_id.clear()
    assert mosmu_minions._valid_ids(relative, ["plain", "linked"]) == expected == ["plain"]
    assert spy_valid_id == ["linked"]


@pytest.mark.parametrize("bad", [{"pki_dir": None}, {"pki_dir": 5}, "drop"])
def test_an_unusable_pki_dir_refuses_every_id(opts, bad, spy_valid_id):
    if bad == "drop":
        broken = {k: v for k, v in opts.items() if k != "pki_dir"}
    else:
        broken = dict(opts, **bad)
    assert mosmu_minions._valid_ids(broken, ["plain", "node-1.x", "a/b"]) == []
    assert spy_valid_id == ["plain", "node-1.x", "a/b"]


def test_an_invalid_id_is_logged_by_name(opts, caplog):
    caplog.set_level(logging.DEBUG, logger=mosmu_minions.log.name)
    assert mosmu_minions._valid_ids(opts, ["ok", "../etc"]) == ["ok"]
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "'../etc'" in m and "invalid id" in m], messages
    assert not [m for m in messages if "'ok'" in m]


# -- stamps ----------------------------------------------------------------------------------

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
    assert mosmu_minions._stamper(opts, cache, legacy)("m1") == OLD
    assert mosmu_minions._stamper(opts, cache, legacy)("m2") is None


def test_localfs_without_a_cachedir_attribute_uses_opts_cachedir(tmp_path):
    inner = _aged_localfs(tmp_path)
    cache = Wrapped(inner, driver="localfs", updated=False)
    opts = dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path / "salt"))
    assert mosmu_minions._stamper(opts, cache, False)("m1") == OLD


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
    assert mosmu_minions._stamper(opts, cache, legacy)("m1") == OLD
    bank, key = ("minions/m1", "data") if legacy else ("grains", "m1")
    assert cache.calls == [("updated", bank, key)]


@pytest.mark.parametrize("stamp, expected", [
    (OLD, OLD), (OLD + 0.5, OLD + 0.5), (0, 0), (-5, -5),
    (None, None), (True, None), (False, None), ("1000000", None), ([OLD], None),
    (math.inf, None), (-math.inf, None), (math.nan, None),
])
def test_only_finite_numbers_are_stamps(opts, stamp, expected):
    cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": stamp})
    assert mosmu_minions._stamper(opts, cache, False)("m1") == expected


@pytest.mark.parametrize("error", [KeyError, AttributeError, NotImplementedError, TypeError])
def test_a_backend_that_cannot_stamp_reads_every_minion(opts, error):
    class Failing(MemCache):
        def updated(self, bank, key):
            raise error("no updated")

    for _ in range(2):
        cache = Failing({"m1": {"ipv4": ["10.0.0.1"]}}, driver="failing")
        assert mosmu_minions._ip_index(opts, cache, ["m1"], False) == {"m1": ["10.0.0.1"]}
        assert cache.fetched == [("grains", "m1")]


@pytest.mark.parametrize("stamp", [-math.inf, math.inf, math.nan, "5", True])
def test_an_odd_stamp_is_never_trusted(opts, stamp):
    for _ in range(2):
        cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": stamp})
        assert mosmu_minions._ip_index(opts, cache, ["m1"], False) == {"m1": ["10.0.0.1"]}
        assert cache.fetched == [("grains", "m1")]


@pytest.mark.parametrize("legacy", [False, True])
def test_a_settled_stamp_is_reused_by_any_backend(opts, legacy):
    grains = {"m1": {"ipv4": ["10.0.0.1"]}, "m2": {"ipv4": ["10.0.0.2"]}}
    if legacy:
        grains = {m: {"grains": g} for m, g in grains.items()}
    stamps = {"m1": OLD, "m2": OLD + 1}
    first = MemCache(grains, stamps, legacy=legacy)
    expected = {"m1": ["10.0.0.1"], "m2": ["10.0.0.2"]}
    assert mosmu_minions._ip_index(opts, first, ["m1", "m2"], legacy) == expected
    assert len(first.fetched) == 2
    again = MemCache(grains, stamps, legacy=legacy)
    assert mosmu_minions._ip_index(opts, again, ["m1", "m2"], legacy) == expected
    assert again.fetched == []
    changed = MemCache(grains, dict(stamps, m2=OLD + 2), legacy=legacy)
    assert mosmu_minions._ip_index(opts, changed, ["m1", "m2"], legacy) == expected
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
    mosmu_minions._ip_index(opts, first, ["m1"], False)
    again = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, stamps)
    mosmu_minions._ip_index(opts, again, ["m1"], False)
    assert again.fetched == ([] if kept else [("grains", "m1")])


def test_an_entry_stored_without_a_stamp_is_never_used(opts):
    """A tampered index entry with a None stamp must not answer for a backend without
    stamps."""
    stored = mosmu_minions._Stored(opts, "memory", False)
    stored.entries["m1"] = [None, ["10.9.9.9"]]
    stored.changed = True
    stored.save(["m1"])
    cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": None})
    assert mosmu_minions._ip_index(opts, cache, ["m1"], False) == {"m1": ["10.0.0.1"]}


def test_without_a_cachedir_nothing_is_stored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inner = _aged_localfs(tmp_path)
    cache = Wrapped(inner, driver="localfs", cachedir=str(tmp_path / "salt"), updated=False)
    opts = {"pki_dir": str(tmp_path), "cache": "localfs"}
    for _ in range(2):
        cache.calls.clear()
        assert mosmu_minions._ip_index(opts, cache, ["m1"], False) == {"m1": ["10.0.0.1"]}
        assert cache.calls == [("fetch", "grains", "m1")]
    assert sorted(os.listdir(tmp_path)) == ["salt"]


def test_the_number_of_decoded_minions_is_logged(opts, caplog):
    caplog.set_level(logging.DEBUG, logger=mosmu_minions.log.name)
    grains = {m: {"ipv4": [f"10.0.0.{i}"]} for i, m in enumerate(("m1", "m2", "m3"))}
    mosmu_minions._ip_index(opts, MemCache(grains, {"m1": OLD, "m2": OLD}), list(grains), False)
    caplog.clear()
    mosmu_minions._ip_index(opts, MemCache(grains, {"m1": OLD, "m2": OLD + 5}), list(grains),
                            False)
    counts = [r.args for r in caplog.records if "read from the cache" in r.msg]
    assert counts == [(3, 2)]


# -- the index file --------------------------------------------------------------------------

@pytest.mark.parametrize("legacy, layout", [(False, "grains"), (True, "minions")])
def test_the_index_file_names_its_cache_and_layout(opts, legacy, layout):
    grains = {"m1": {"ipv4": ["10.0.0.1"]}}
    if legacy:
        grains = {"m1": {"grains": grains["m1"]}}
    mosmu_minions._ip_index(opts, MemCache(grains, {"m1": OLD}, legacy, driver="redis"),
                            ["m1"], legacy)
    assert _index_file(opts) == {"format": mosmu_minions.INDEX_FORMAT,
                                 "owner": ["redis", layout],
                                 "entries": {"m1": [OLD, ["10.0.0.1"]]}}


def test_the_owner_of_a_cache_without_a_driver_is_the_cache_option(opts):
    cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": OLD}, driver=None)
    mosmu_minions._ip_index(dict(opts, cache="consul"), cache, ["m1"], False)
    assert _index_file(opts)["owner"] == ["consul", "grains"]


def test_the_index_directory_is_private(opts):
    umask = os.umask(0o022)
    try:
        mosmu_minions._ip_index(opts, MemCache({"m1": {"ipv4": []}}, {"m1": OLD}), ["m1"],
                                False)
    finally:
        os.umask(umask)
    mode = stat.S_IMODE(os.stat(os.path.join(opts["cachedir"], INDEX[0])).st_mode)
    assert mode == 0o700


def test_an_unchanged_index_is_not_rewritten(opts):
    path = os.path.join(opts["cachedir"], *INDEX)
    grains = {"m1": {"ipv4": ["10.0.0.1"]}, "m2": {"ipv4": ["10.0.0.2"]}}
    mosmu_minions._ip_index(opts, MemCache(grains, {"m1": OLD, "m2": OLD}), ["m1", "m2"], False)
    first = os.stat(path).st_ino
    mosmu_minions._ip_index(opts, MemCache(grains, {"m1": OLD, "m2": OLD}), ["m1", "m2"], False)
    assert os.stat(path).st_ino == first
    mosmu_minions._ip_index(opts, MemCache(grains, {"m1": OLD, "m2": OLD}), ["m1"], False)
    assert os.stat(path).st_ino != first                   # m2 left: written
    assert _index_file(opts)["entries"] == {"m1": [OLD, ["10.0.0.1"]]}


def test_put_and_save(opts):
    stored = mosmu_minions._Stored(opts, "memory", False)
    assert (stored.entries, stored.changed) == ({}, False)
    stored.put("m1", OLD, ["10.0.0.1"])
    stored.put("m2", None, ["10.0.0.2"])            # unsettled and not stored: nothing to do
    assert stored.changed is True
    stored.save(["m1", "m2"])
    stored = mosmu_minions._Stored(opts, "memory", False)
    assert (stored.entries, stored.changed) == ({"m1": [OLD, ["10.0.0.1"]]}, False)
    stored.put("m1", OLD, ["10.0.0.1"])             # the same again: no change
    assert stored.changed is False
    stored.put("m3", None, [])
    assert stored.changed is False
    stored.put("m1", None, ["10.0.0.1"])            # unsettled now: forgotten
    assert stored.changed is True and stored.entries == {}
    stored.save(["m1"])
    assert mosmu_minions._Stored(opts, "memory", False).entries == {}


def test_the_temporary_file_is_made_beside_the_index(opts, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    stored = mosmu_minions._Stored(opts, "memory", False)
    stored.put("m1", OLD, ["10.0.0.1"])
    stored.save(["m1"])
    assert _index_file(opts)["entries"] == {"m1": [OLD, ["10.0.0.1"]]}


def test_a_failed_write_leaves_no_file_and_is_logged(opts, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=mosmu_minions.log.name)
    error = OSError(28, "No space left on device")

    def full(src, dst):
        raise error

    monkeypatch.setattr(os, "replace", full)
    cache = MemCache({"m1": {"ipv4": ["10.0.0.1"]}}, {"m1": OLD})
    assert mosmu_minions._ip_index(opts, cache, ["m1"], False) == {"m1": ["10.0.0.1"]}
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
    assert mosmu_minions._Stored(opts, "memory", False).entries == {}
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
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(salt.utils.msgpack.packb(content, use_bin_type=True))
    assert mosmu_minions._Stored(opts, "memory", False).entries == {}
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if path in m and "every minion" in m], messages
