"""Pure parts of the mirror: ids, layout rules, index parsing, pruning, version order.

The syncs themselves (real rsync daemon, real .debs/rpms) are in tests/mirror/."""

import gzip
import hashlib
import os
import re
import sys

import pytest

import mosmu_catalog
import mosmu_index
import mosmu_mirror
import mosmu_snapshots
import mosmu_yumindex
from mosmu_errors import MirrorError, MissingDependency

TREE = mosmu_catalog.Catalog().get("ubuntu", "8.0")


def test_snapshot_ids_sort_by_time_and_are_unique_within_a_second(tmp_path):
    ids = []
    for _ in range(50):
        sid = mosmu_snapshots.new_id(str(tmp_path))
        os.mkdir(tmp_path / sid)
        ids.append(sid)
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert all(re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z", sid) for sid in ids)


def test_staging_inside_the_web_root_or_relative_is_refused(tmp_path):
    with pytest.raises(MirrorError, match="inside mirror_root"):
        mosmu_snapshots.Layout(str(tmp_path / "www"), TREE, str(tmp_path / "www" / ".stage"))
    with pytest.raises(MirrorError, match="absolute"):
        mosmu_snapshots.Layout("www", TREE)
    layout = mosmu_snapshots.Layout(str(tmp_path / "www"), TREE)
    assert layout.stage == str(tmp_path / mosmu_snapshots.STAGING / TREE.path)
    assert layout.snapdir == str(tmp_path / "www" / mosmu_snapshots.SNAPSHOTS / TREE.path)


def test_a_foreign_symlink_is_not_taken_for_a_snapshot(tmp_path):
    www = tmp_path / "www"
    (www / "mos-repos/ubuntu").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", www / TREE.path)
    with pytest.raises(MirrorError, match="not to a mosmu snapshot"):
        mosmu_snapshots.current_snapshot(str(www), TREE)


def _snapshots(tmp_path, names):
    layout = mosmu_snapshots.Layout(str(tmp_path / "www"), TREE)
    os.makedirs(layout.snapdir)
    os.makedirs(os.path.dirname(layout.link), exist_ok=True)
    for name in names:
        os.mkdir(os.path.join(layout.snapdir, name))
    return layout


def test_prune_keeps_the_newest_and_the_published_one(tmp_path):
    names = [f"20260101T00000{i}.000000Z" for i in range(5)]
    layout = _snapshots(tmp_path, names)
    layout.point(names[1])
    mosmu_snapshots.prune(layout, 2)
    assert layout.ids() == [names[1], names[3], names[4]]


def test_prune_after_a_rollback_drops_the_snapshots_rolled_back_from(tmp_path):
    names = [f"20260101T00000{i}.000000Z" for i in range(4)]
    layout = _snapshots(tmp_path, names)
    layout.point(names[3])            # synced after rolling back from 2 to 1
    mosmu_snapshots.prune(layout, 3, after=names[1])
    assert layout.ids() == [names[0], names[1], names[3]]


def test_point_swaps_the_link_atomically_and_relatively(tmp_path):
    names = ["20260101T000000.000000Z", "20260101T000001.000000Z"]
    layout = _snapshots(tmp_path, names)
    layout.point(names[0])
    layout.point(names[1])
    assert os.readlink(layout.link) == f"../../.snapshots/{TREE.path}/{names[1]}"
    assert sorted(os.listdir(os.path.dirname(layout.link))) == ["8.0"]   # no temp link left


def _write_suite(root, suite, packages_text, release_names=None):
    dist = root / "dists" / suite / "main" / "binary-amd64"
    dist.mkdir(parents=True)
    raw = packages_text.encode()
    (dist / "Packages").write_bytes(raw)
    (dist / "Packages.gz").write_bytes(gzip.compress(raw))
    lines = []
    for name in release_names or ("main/binary-amd64/Packages", "main/binary-amd64/Packages.gz"):
        data = (root / "dists" / suite / name).read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    (root / "dists" / suite / "Release").write_text(
        "Suite: s\nMD5Sum:\n 00 1 main/binary-amd64/Packages\nSHA256:\n" + "\n".join(lines) + "\n")


def test_apt_check_reads_pool_entries_from_every_present_index(tmp_path):
    digest = "ab" * 32
    _write_suite(tmp_path, "s", f"Package: a\nVersion: 1\nFilename: pool/a_1.deb\nSize: 3\n"
                                f"SHA256: {digest}\n\n")
    pool = mosmu_mirror.INDEX_FORMATS["apt"].check(str(tmp_path), "s")
    assert pool == {"pool/a_1.deb": (3, "sha256", digest)}


def test_apt_check_rejects_a_stanza_without_sha256_and_paths_leaving_the_tree(tmp_path):
    _write_suite(tmp_path, "s", "Package: a\nVersion: 1\nFilename: pool/a.deb\nSize: 3\n\n")
    with pytest.raises(MirrorError, match="no valid Size/SHA256"):
        mosmu_mirror.INDEX_FORMATS["apt"].check(str(tmp_path), "s")
    _write_suite(tmp_path / "b", "s", f"Package: a\nVersion: 1\nFilename: ../../etc/x\n"
                                      f"Size: 3\nSHA256: {'ab' * 32}\n\n")
    with pytest.raises(MirrorError, match="leaves the tree"):
        mosmu_mirror.INDEX_FORMATS["apt"].check(str(tmp_path / "b"), "s")


def test_apt_check_fails_when_every_compression_of_a_listed_index_is_absent(tmp_path):
    _write_suite(tmp_path, "s", "")
    os.unlink(tmp_path / "dists/s/main/binary-amd64/Packages")     # .gz alone is fine
    assert mosmu_mirror.INDEX_FORMATS["apt"].check(str(tmp_path), "s") == {}
    os.unlink(tmp_path / "dists/s/main/binary-amd64/Packages.gz")
    with pytest.raises(MirrorError, match=r"main/binary-amd64/Packages \(any "
                                          r"compression\) is missing"):
        mosmu_mirror.INDEX_FORMATS["apt"].check(str(tmp_path), "s")


def test_corrupt_compressed_index_is_named():
    with pytest.raises(MirrorError, match=r"dists/s/Packages\.gz is truncated"):
        mosmu_index.decompress(gzip.compress(b"x" * 100)[:20], "dists/s/Packages.gz")


def test_rpm_version_order():
    assert mosmu_mirror.INDEX_FORMATS["yum"].newer("0:1.10-1", "0:1.9-1")
    assert mosmu_mirror.INDEX_FORMATS["yum"].newer("1:1.0-1", "0:2.0-1")
    assert mosmu_mirror.INDEX_FORMATS["apt"].newer("1.0~rc1+1", "1.0~rc1")
    assert not mosmu_mirror.INDEX_FORMATS["apt"].newer("1.0~rc1", "1.0")


@pytest.mark.parametrize("kwargs, match", [
    ({"keep": 0}, "keep=0"), ({"timeout": 0}, "timeout=0"), ({"bwlimit": -1}, "bwlimit=-1"),
    ({"repos": []}, "no repos given")])
def test_arguments_are_checked_before_any_side_effect(tmp_path, kwargs, match):
    args = {"upstream": str(tmp_path), "mirror_root": str(tmp_path / "www"), "tree": TREE,
            "repos": ["updates"], **kwargs}
    with pytest.raises(MirrorError, match=match):
        mosmu_mirror.sync_tree(**args)
    assert sorted(os.listdir(tmp_path)) == []


def test_upstream_must_be_rsync_url_or_absolute_dir(tmp_path):
    with pytest.raises(MirrorError, match="neither rsync://"):
        mosmu_mirror.sync_tree("http://x/y", str(tmp_path / "www"), TREE, ["updates"])
    with pytest.raises(MirrorError, match="does not exist"):
        mosmu_mirror.sync_tree(str(tmp_path / "nope"), str(tmp_path / "www"), TREE, ["updates"])


def test_a_filename_with_a_newline_cannot_smuggle_a_path_into_files_from():
    with pytest.raises(MirrorError, match="not a plain path"):
        mosmu_index.merge({}, "pool/a.deb\netc/shadow", (1, "sha256", "ab"), "Packages")
    with pytest.raises(MirrorError, match="another size or digest"):
        mosmu_index.merge({"pool/a.deb": (1, "sha256", "ab")}, "pool/a.deb",
                            (2, "sha256", "ab"), "Packages")


def test_repo_metadata_with_a_dtd_is_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><repomd>&a;</repomd>'
    with pytest.raises(MirrorError, match="contains a DTD"):
        mosmu_yumindex._xml(bomb, "updates/repodata/repomd.xml")


# -- verifying a published snapshot against its own indices (issue 16, item 4) ---------------

SID = "20260101T000000.000000Z"
DEBS = {"pool/a_1.deb": b"first package", "pool/b_1.deb": b"second package!",
        "pool/c_1.deb": b"third"}


def _published(tmp_path, plain=False):
    """A web root whose ubuntu/8.0 tree is published (snapshot ``SID``, or a plain dir) with
    suite mos8.0-updates naming the three ``DEBS``; returns ``(www, snapshot dir)``."""
    www = tmp_path / "www"
    layout = mosmu_snapshots.Layout(str(www), TREE)
    snap = www / TREE.path if plain else www / mosmu_snapshots.SNAPSHOTS / TREE.path / SID
    stanzas = "".join(f"Package: {rel[5]}\nVersion: 1\nFilename: {rel}\nSize: {len(data)}\n"
                      f"SHA256: {hashlib.sha256(data).hexdigest()}\n\n"
                      for rel, data in DEBS.items())
    _write_suite(snap, "mos8.0-updates", stanzas)
    for rel, data in DEBS.items():
        (snap / rel).parent.mkdir(exist_ok=True)
        (snap / rel).write_bytes(data)
    if not plain:
        os.makedirs(os.path.dirname(layout.link), exist_ok=True)
        layout.point(SID)
    return str(www), snap


def _same_size_garbage(path):
    path.write_bytes(b"x" * path.stat().st_size)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _to_dir(path):
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize("rel, damage, hashed, by_stat", [
    ("pool/b_1.deb", os.unlink, "missing", "missing"),
    ("pool/b_1.deb", _truncate, "size", "size"),
    ("pool/b_1.deb", _same_size_garbage, "digest", None),
    ("pool/b_1.deb", _to_dir, "type", "type"),
    ("dists/mos8.0-updates/main/binary-amd64/Packages.gz", _truncate, "size", "size"),
    ("dists/mos8.0-updates/main/binary-amd64/Packages.gz", _same_size_garbage, "digest",
     "unreadable"),
    ("dists/mos8.0-updates/main/binary-amd64/Packages.gz", os.unlink, None, None),
    ("pool/stray.deb", lambda path: path.write_bytes(b"no index names me"), None, None),
])
def test_verify_published_names_each_damaged_file_below_the_mirror_root(tmp_path, rel, damage,
                                                                        hashed, by_stat):
    www, snap = _published(tmp_path)
    damage(snap / rel)
    path = f"{mosmu_snapshots.SNAPSHOTS}/{TREE.path}/{SID}/{rel}"
    for hashing, kind in ((True, hashed), (False, by_stat)):
        found = mosmu_mirror.verify_published(www, TREE, ["updates"], hashing=hashing)
        assert [(p["path"], p["problem"]) for p in found] == ([] if kind is None
                                                              else [(path, kind)])


def test_verify_published_reports_every_problem_not_only_the_first(tmp_path):
    www, snap = _published(tmp_path)
    os.unlink(snap / "pool/a_1.deb")
    _truncate(snap / "pool/c_1.deb")
    os.unlink(snap / "dists/mos8.0-updates/main/binary-amd64/Packages")
    os.unlink(snap / "dists/mos8.0-updates/main/binary-amd64/Packages.gz")
    found = mosmu_mirror.verify_published(www, TREE)
    # the index is gone in every compression: its packages cannot be checked
    assert [(p["path"].rsplit(SID + "/", 1)[1], p["problem"]) for p in found] == [
        ("dists/mos8.0-updates/main/binary-amd64/Packages", "missing")]
    www, snap = _published(tmp_path / "again")
    os.unlink(snap / "pool/a_1.deb")
    _truncate(snap / "pool/c_1.deb")
    found = mosmu_mirror.verify_published(www, TREE, hashing=False)
    assert [p["path"].rsplit("/", 1)[1] for p in found] == ["a_1.deb", "c_1.deb"]
    assert found[1]["detail"] == "has 2 bytes, its index says 5"


def test_verify_published_of_nothing_published_or_a_suite_not_published_is_empty(tmp_path):
    assert mosmu_mirror.verify_published(str(tmp_path / "www"), TREE) == []
    www, snap = _published(tmp_path)
    os.unlink(snap / "pool/a_1.deb")
    assert mosmu_mirror.verify_published(www, TREE, ["security"]) == []   # missing() says it


def test_verify_published_of_a_plain_dir_names_paths_under_the_tree(tmp_path):
    www, snap = _published(tmp_path, plain=True)
    os.unlink(snap / "pool/a_1.deb")
    assert [p["path"] for p in mosmu_mirror.verify_published(www, TREE)] == [
        f"{TREE.path}/pool/a_1.deb"]


@pytest.mark.parametrize("count, shown_paths, more", [
    (1, 1, ""), (3, 3, ""), (4, 3, "; and 1 more"), (40, 3, "; and 37 more")])
def test_the_damage_message_names_the_first_paths_the_count_and_the_repair(count, shown_paths,
                                                                           more):
    problems = [{"path": f"x/f{i}.deb", "problem": "missing",
                 "detail": "is missing though its index lists it"} for i in range(count)]
    message = mosmu_mirror.damaged_message("/var/www/nailgun", TREE, problems)
    assert f"has {count} missing or damaged file(s)" in message
    assert [f"x/f{i}.deb" in message for i in range(count)] == \
        [True] * shown_paths + [False] * (count - shown_paths)
    assert more in message and "\n" not in message
    assert message.endswith(f"salt-run mosmu.sync mos_version={TREE.version} "
                            f"distro={TREE.distro} verify=True")


@pytest.mark.parametrize("damage, linked", [
    (lambda path: None, True), (os.unlink, False), (_truncate, False),
    (lambda path: path.write_bytes(path.read_bytes() + b"+"), False)])
def test_a_trusted_file_is_linked_only_while_its_size_is_intact(tmp_path, damage, linked):
    prev, new = tmp_path / "prev", tmp_path / "new"
    (prev / "pool").mkdir(parents=True)
    (prev / "pool/a.deb").write_bytes(b"abc")
    entry = (3, "sha256", hashlib.sha256(b"abc").hexdigest())
    damage(prev / "pool/a.deb")
    fetch = mosmu_mirror._link_known(str(prev), str(new), {"pool/a.deb": entry},
                                     {"pool/a.deb": entry})
    assert fetch == ([] if linked else ["pool/a.deb"])
    assert (new / "pool/a.deb").exists() is linked


def test_verify_must_be_a_boolean_before_any_side_effect(tmp_path):
    with pytest.raises(MirrorError, match="verify='yes' must be True or False"):
        mosmu_mirror.sync_tree(str(tmp_path), str(tmp_path / "www"), TREE, ["updates"],
                               verify="yes")
    assert sorted(os.listdir(tmp_path)) == []


# -- without python-debian ---------------------------------------------------------------------

def test_without_python_debian_the_module_loads_and_apt_indices_name_the_fix(
        monkeypatch, tmp_path):
    """The runner imports mosmu_mirror: without python-debian every mosmu.* runner function
    used to be "not available" (and salt-run exited 0). Now only reading an apt index fails,
    naming the package to install."""
    import importlib  # pylint: disable=import-outside-toplevel
    monkeypatch.setitem(sys.modules, "debian", None)
    # (under mutmut the helpers are also loaded as _utils.mosmu_*: forget those too)
    for name in ("mosmu_mirror", "mosmu_aptindex", "_utils.mosmu_mirror",
                 "_utils.mosmu_aptindex"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.import_module("mosmu_mirror")
    bare = sys.modules["mosmu_aptindex"]
    assert bare.deb822 is None
    release = tmp_path / "dists" / "mos8.0-updates" / "Release"
    release.parent.mkdir(parents=True)
    release.write_text("Suite: mos8.0-updates\n")
    with pytest.raises(MissingDependency, match="salt-pip install python-debian"):
        bare.Apt._release(str(tmp_path), "mos8.0-updates")  # pylint: disable=protected-access
