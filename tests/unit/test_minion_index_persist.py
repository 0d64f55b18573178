"""The persistent ipv4 index of mosmu_minions (``<cachedir>/mosmu/minion-index.p``): a later
run decodes only the minions whose cache entry changed, and a stale, racy, corrupt or foreign
index never maps a node to the wrong minion."""

import os
import time

import pytest
import salt.cache
import salt.config
import salt.utils.verify

import mosmu_minions


@pytest.fixture
def opts(tmp_path):
    os.makedirs(tmp_path / "pki")
    return dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path / "cache"),
                pki_dir=str(tmp_path / "pki"))


def _age(opts, minion, seconds, legacy=False):
    """Date the minion's cache entry back (as if written ``seconds`` ago)."""
    bank = f"minions/{minion}" if legacy else "grains"
    key = "data" if legacy else minion
    path = os.path.join(opts["cachedir"], bank, f"{key}.p")
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def _store(cache, minion, ips, legacy=False):
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
def test_second_run_decodes_only_changed_minions(opts, legacy):
    cache = salt.cache.factory(opts)
    for i in range(1, 5):
        _store(cache, f"m{i}", [f"10.0.0.{i}"], legacy)
        _age(opts, f"m{i}", 60, legacy)
    first = CountingCache(opts)
    index = mosmu_minions.minion_index(opts, "ip", cache=first)
    assert len(first.fetched) == 4 and index["10.0.0.2"] == ("m2",)
    assert os.path.isfile(os.path.join(opts["cachedir"], "mosmu", "minion-index.p"))

    again = CountingCache(opts)
    assert mosmu_minions.minion_index(opts, "ip", cache=again) == index
    assert again.fetched == []

    _store(cache, "m2", ["10.0.0.99"], legacy)       # the minion got a new address
    _age(opts, "m2", 30, legacy)
    third = CountingCache(opts)
    index = mosmu_minions.minion_index(opts, "ip", cache=third)
    assert len(third.fetched) == 1
    assert index["10.0.0.99"] == ("m2",) and "10.0.0.2" not in index


def test_an_address_moved_between_minions_is_never_mapped_to_the_old_one(opts):
    """Regression guard: m1's old IP now belongs to m2; the stored m1 entry must not win."""
    cache = salt.cache.factory(opts)
    _store(cache, "m1", ["10.0.0.1"])
    _store(cache, "m2", ["10.0.0.2"])
    for minion in ("m1", "m2"):
        _age(opts, minion, 60)
    mosmu_minions.minion_index(opts, "ip")
    _store(cache, "m1", ["10.0.0.7"])
    _store(cache, "m2", ["10.0.0.1"])
    for minion in ("m1", "m2"):
        _age(opts, minion, 10)
    index = mosmu_minions.minion_index(opts, "ip")
    assert index["10.0.0.1"] == ("m2",) and index["10.0.0.7"] == ("m1",)


def test_a_change_within_the_same_second_is_seen(opts):
    """An entry read while its stamp is still 'now' is not kept: a second write in the same
    second (same whole-second mtime) must not hide behind it."""
    cache = salt.cache.factory(opts)
    _store(cache, "m1", ["10.0.0.1"])           # stamp = this second
    assert mosmu_minions.minion_index(opts, "ip")["10.0.0.1"] == ("m1",)
    stamp = cache.updated("grains", "m1")
    _store(cache, "m1", ["10.0.0.5"])
    os.utime(os.path.join(opts["cachedir"], "grains", "m1.p"), (stamp, stamp))  # same stamp
    index = mosmu_minions.minion_index(opts, "ip")
    assert index == {"10.0.0.5": ("m1",)}


def test_removed_minions_leave_the_index(opts):
    cache = salt.cache.factory(opts)
    for minion in ("m1", "m2"):
        _store(cache, minion, [f"10.0.0.{minion[1]}"])
        _age(opts, minion, 60)
    mosmu_minions.minion_index(opts, "ip")
    cache.flush("grains", "m1")
    assert mosmu_minions.minion_index(opts, "ip") == {"10.0.0.2": ("m2",)}


@pytest.mark.parametrize("content", [b"", b"\x00garbage\xff", b"\x93\x01\x02\x03"])
def test_a_corrupt_index_file_is_a_cold_start(opts, content):
    cache = salt.cache.factory(opts)
    _store(cache, "m1", ["10.0.0.1"])
    _age(opts, "m1", 60)
    path = os.path.join(opts["cachedir"], "mosmu", "minion-index.p")
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(content)
    assert mosmu_minions.minion_index(opts, "ip") == {"10.0.0.1": ("m1",)}


def test_a_tampered_entry_of_the_wrong_type_is_read_again(opts):
    cache = salt.cache.factory(opts)
    _store(cache, "m1", ["10.0.0.1"])
    _age(opts, "m1", 60)
    mosmu_minions.minion_index(opts, "ip")
    stored = mosmu_minions._Stored(opts, "localfs", False)
    stamp = stored.entries["m1"][0]
    stored.entries["m1"] = [stamp, "10.0.0.9"]      # a str, not a list
    stored.changed = True
    stored.save(["m1"])
    assert mosmu_minions.minion_index(opts, "ip") == {"10.0.0.1": ("m1",)}


def test_another_backend_or_layout_does_not_reuse_the_index(opts):
    cache = salt.cache.factory(opts)
    _store(cache, "m1", ["10.0.0.1"])
    _age(opts, "m1", 60)
    mosmu_minions.minion_index(opts, "ip")
    assert mosmu_minions._Stored(opts, "localfs", False).entries
    assert mosmu_minions._Stored(opts, "redis", False).entries == {}
    assert mosmu_minions._Stored(opts, "localfs", True).entries == {}


class NoUpdated(CountingCache):
    """A backend whose driver has no ``updated``."""

    driver = "nostamp"

    def updated(self, bank, key):
        raise KeyError("nostamp.updated")


def test_a_backend_without_updated_reads_every_minion_every_time(opts):
    cache = salt.cache.factory(opts)
    _store(cache, "m1", ["10.0.0.1"])
    _age(opts, "m1", 60)
    for _ in range(2):
        backend = NoUpdated(opts)
        backend.driver = "nostamp"
        assert mosmu_minions.minion_index(opts, "ip", cache=backend) == {"10.0.0.1": ("m1",)}
        assert backend.fetched == ["m1"]


def test_localfs_stamps_equal_cache_updated(opts):
    """The os.stat shortcut for localfs returns what ``Cache.updated`` returns."""
    cache = salt.cache.factory(opts)
    _store(cache, "m1", ["10.0.0.1"])
    _age(opts, "m1", 3600)
    _store(cache, "m2", ["10.0.0.2"], legacy=True)
    for legacy, minion in ((False, "m1"), (True, "m2")):
        stamp = mosmu_minions._stamper(opts, cache, legacy)(minion)
        bank, key = (f"minions/{minion}", "data") if legacy else ("grains", minion)
        assert stamp == cache.updated(bank, key) and isinstance(stamp, int)
    assert mosmu_minions._stamper(opts, cache, False)("absent") is None


@pytest.mark.parametrize("minion", ["plain", "node-1.test.domain.local", ".", "..", "",
                                    "a/b", "a\\b", "nul\0", "linked", "pki-file"])
def test_valid_ids_agree_with_salt(opts, minion):
    os.symlink("/tmp", os.path.join(opts["pki_dir"], "linked"))
    with open(os.path.join(opts["pki_dir"], "pki-file"), "w", encoding="utf-8"):
        pass
    expected = salt.utils.verify.valid_id(opts, minion)
    assert mosmu_minions._valid_ids(opts, [minion]) == ([minion] if expected else [])
    missing = dict(opts, pki_dir=opts["pki_dir"] + "-missing")
    expected = salt.utils.verify.valid_id(missing, minion)
    assert mosmu_minions._valid_ids(missing, [minion]) == ([minion] if expected else [])
