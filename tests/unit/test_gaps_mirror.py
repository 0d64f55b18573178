"""Gaps mutation testing found in the mirror (mosmu issue 10).

Every verification branch of :mod:`mosmu_mirror` on tiny hand-made trees: indices against
Release/repomd.xml, pool files against their indices, signatures with a throwaway key, the
snapshot layout, and :func:`mosmu_mirror.sync_tree` itself with a local directory as upstream
(real rsync, no daemon). Sizes and digests are computed here with :mod:`hashlib`, never by the
module under test.
"""

import bz2
import calendar
import dataclasses
import gzip
import hashlib
import lzma
import os
import stat
import subprocess

import pytest

import mosmu_catalog
import mosmu_gpg
import mosmu_index
import mosmu_mirror
import mosmu_rsync
import mosmu_snapshots
import mosmu_verify
import mosmu_yumindex
from mosmu_errors import MirrorError
from tests.mirror import helpers

APT = mosmu_catalog.Catalog().get("ubuntu", "8.0")
YUM = mosmu_catalog.Catalog().get("centos", "8.0")
UPD, SEC = "mos8.0-updates", "mos8.0-security"
APT_B = mosmu_mirror.INDEX_FORMATS["apt"]
YUM_B = mosmu_mirror.INDEX_FORMATS["yum"]


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path, monkeypatch):
    """Every test runs in an empty working dir that must stay empty: nothing the mirror
    writes may land at a relative path."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield
    assert os.listdir(cwd) == []


# -- building trees independently of the module ----------------------------------------------

def sha(data, algo="sha256"):
    return hashlib.new(algo, data).hexdigest()


def put(path, data):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode())


def get(path):
    with open(path, "rb") as handle:
        return handle.read()


def stanza(name, version, rel, content, arch="all"):
    return (f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\nFilename: {rel}\n"
            f"Size: {len(content)}\nSHA256: {sha(content)}\n")


def release(dist, names, extra=""):
    """Write ``dist/Release`` listing ``names`` (relative to ``dist``) with size + SHA256."""
    lines = []
    for name in names:
        data = get(os.path.join(dist, name))
        lines.append(f" {sha(data)} {len(data)} {name}")
    put(os.path.join(dist, "Release"),
        "Suite: s\nMD5Sum:\n 00 1 x\nSHA256:\n" + "\n".join(lines) + "\n" + extra)


def apt_suite(tree, suite, debs, comp="main", write_pool=True, forms=("", ".gz")):
    """``debs``: ``{name: (version, content)}``; pool files, Packages(.gz), Release."""
    tree = str(tree)
    dist = os.path.join(tree, "dists", suite)
    text = ""
    for name, (version, content) in sorted(debs.items()):
        rel = f"pool/{comp}/{name}_{version}_all.deb"
        if write_pool:
            put(os.path.join(tree, rel), content)
        text += stanza(name, version, rel, content) + "\n"
    names = []
    comp_dir = f"{comp}/binary-amd64"
    packers = {"": lambda b: b, ".gz": gzip.compress, ".xz": lzma.compress,
               ".bz2": bz2.compress}
    for form in forms:
        put(os.path.join(dist, comp_dir, "Packages" + form), packers[form](text.encode()))
        names.append(f"{comp_dir}/Packages{form}")
    release(dist, names)
    return text


def deb_rel(name, version, comp="main"):
    return f"pool/{comp}/{name}_{version}_all.deb"


COMMON = "http://linux.duke.edu/metadata/common"
REPO = "http://linux.duke.edu/metadata/repo"


def pkg_xml(name, ver, href, content, algo="sha256", epoch="0", ctype=None):
    return (f'<package type="rpm"><name>{name}</name><arch>noarch</arch>'
            f'<version epoch="{epoch}" ver="{ver}" rel="1"/>'
            f'<checksum type="{ctype or algo}" pkgid="YES">{sha(content, algo)}</checksum>'
            f'<location href="{href}"/><size package="{len(content)}" installed="1"/>'
            "</package>")


def repomd(repo_dir, entries, with_size=True, algo="sha256"):
    """``entries``: ``{type: href}``; writes repodata/repomd.xml with a digest + size."""
    datas = ""
    for kind, href in entries.items():
        data = get(os.path.join(repo_dir, href))
        size = f"<size>{len(data)}</size>" if with_size else ""
        datas += (f'<data type="{kind}"><checksum type="{algo}">{sha(data, algo)}</checksum>'
                  f'<location href="{href}"/>{size}</data>')
    put(os.path.join(repo_dir, "repodata", "repomd.xml"),
        f'<?xml version="1.0"?><repomd xmlns="{REPO}">{datas}</repomd>')


def yum_repo(tree, unit, rpms, packages_xml=None, algo="sha256"):
    """``rpms``: ``{name: (ver, content)}``; rpm files, primary.xml.gz, repomd.xml."""
    repo_dir = os.path.join(str(tree), unit)
    body = ""
    for name, (ver, content) in sorted(rpms.items()):
        href = f"Packages/{name}-{ver}-1.noarch.rpm"
        put(os.path.join(repo_dir, href), content)
        body += pkg_xml(name, ver, href, content, algo)
    if packages_xml is not None:
        body = packages_xml
    put(os.path.join(repo_dir, "repodata", "primary.xml.gz"), gzip.compress(
        f'<?xml version="1.0"?><metadata xmlns="{COMMON}" packages="1">{body}</metadata>'
        .encode()))
    put(os.path.join(repo_dir, "repodata", "other.xml"), b"<otherdata/>")
    repomd(repo_dir, {"primary": "repodata/primary.xml.gz", "other": "repodata/other.xml"},
           algo="sha1" if algo == "sha1" else "sha512" if algo == "sha512" else "sha256")
    return repo_dir


def rpm_rel(unit, name, ver):
    return f"{unit}/Packages/{name}-{ver}-1.noarch.rpm"


# -- small helpers ---------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, pack", [
    (".gz", gzip.compress), (".xz", lzma.compress), (".bz2", bz2.compress),
    ("", lambda b: b), (".zst", lambda b: b)])
def test_decompress_each_compression_by_name(suffix, pack):
    raw = b"Package: a\n" * 50
    assert mosmu_index.decompress(pack(raw), "dists/s/Packages" + suffix) == raw


@pytest.mark.parametrize("name, data", [
    ("P.gz", gzip.compress(b"x" * 500)[:25]),                    # truncated: EOFError
    ("P.gz", b"not gzip at all"),                               # BadGzipFile: OSError
    ("P.gz", gzip.compress(b"x" * 500)[:10] + b"\xff" * 30),    # broken deflate: zlib.error
    ("P.xz", b"\xfd7zXZ\x00garbage-garbage"),                   # LZMAError
    ("P.xz", lzma.compress(b"x" * 500)[:30]),                   # truncated: EOFError
    ("P.bz2", b"BZh9garbage-garbage-garbage"),                  # OSError
    ("P.bz2", bz2.compress(b"x" * 500)[:20]),                   # truncated
])
def test_corrupt_compressed_data_is_a_mirror_error_naming_the_file(name, data):
    with pytest.raises(MirrorError, match=name.replace(".", r"\.")):
        mosmu_index.decompress(data, name)


@pytest.mark.parametrize("raw", [
    b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><repomd/>',
    b'<repomd><!ENTITY a "b"></repomd>',
    b'<!DOCTYPE r [<!ENTITY a "aaaa">]><repomd>&a;</repomd>',
])
def test_xml_with_a_dtd_or_entity_is_refused(raw):
    with pytest.raises(MirrorError, match=r"u/repodata/repomd\.xml"):
        mosmu_yumindex._xml(raw, "u/repodata/repomd.xml")


def test_xml_invalid_is_refused_and_valid_is_parsed():
    with pytest.raises(MirrorError, match=r"r\.xml"):
        mosmu_yumindex._xml(b"<a><b></a>", "r.xml")
    root = mosmu_yumindex._xml(b"<a><b x='1'/></a>", "r.xml")
    assert root.tag == "a" and root.find("b").get("x") == "1"


@pytest.mark.parametrize("rel", [
    "../x", "/etc/shadow", "..", "", "a\nb", "a\x00b", "a\x7fb", "a\tb", "\x1fa"])
def test_merge_refuses_paths_that_are_not_plain_and_inside(rel):
    pool = {}
    with pytest.raises(MirrorError, match="not a plain path"):
        mosmu_index.merge(pool, rel, (1, "sha256", "ab"), "idx")
    assert pool == {}


@pytest.mark.parametrize("rel", ["pool/a.deb", "..a/b.deb", "a..b", "a b/ü.deb", "x/../y"])
def test_merge_accepts_plain_paths_and_the_same_entry_twice(rel):
    pool = {}
    mosmu_index.merge(pool, rel, (1, "sha256", "ab"), "idx")
    mosmu_index.merge(pool, rel, (1, "sha256", "ab"), "idx2")
    assert pool == {rel: (1, "sha256", "ab")}


@pytest.mark.parametrize("other", [(2, "sha256", "ab"), (1, "sha1", "ab"), (1, "sha256", "cd")])
def test_merge_refuses_one_file_with_two_entries(other):
    pool = {"pool/a.deb": (1, "sha256", "ab")}
    with pytest.raises(MirrorError, match=r"pool/a\.deb"):
        mosmu_index.merge(pool, "pool/a.deb", other, "idx")
    assert pool == {"pool/a.deb": (1, "sha256", "ab")}


def test_same_bytes(tmp_path):
    put(tmp_path / "a", b"x")
    put(tmp_path / "b", b"x")
    put(tmp_path / "c", b"y")
    assert mosmu_mirror._same_bytes(tmp_path / "a", tmp_path / "b")
    assert not mosmu_mirror._same_bytes(tmp_path / "a", tmp_path / "c")
    assert not mosmu_mirror._same_bytes(tmp_path / "a", tmp_path / "none")
    assert not mosmu_mirror._same_bytes(tmp_path / "none", tmp_path / "a")
    assert mosmu_mirror._same_bytes(tmp_path / "none", tmp_path / "none2")


def test_file_digest_reads_big_files_whole(tmp_path):
    data = os.urandom((1 << 20) + 3)
    put(tmp_path / "f", data)
    assert mosmu_index.file_digest(tmp_path / "f") == sha(data)
    assert mosmu_index.file_digest(tmp_path / "f", "sha1") == sha(data, "sha1")


def _at(y, mo, d, h, mi, s, frac):
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + frac


def test_new_id_skips_ids_taken_plain_or_adopted(tmp_path, monkeypatch):
    times = iter([_at(2026, 1, 2, 3, 4, 5, 0.25), _at(2026, 1, 2, 3, 4, 5, 0.5),
                  _at(2026, 1, 2, 3, 4, 6, 0.75)])
    monkeypatch.setattr(mosmu_snapshots.time, "time", lambda: next(times))
    monkeypatch.setattr(mosmu_snapshots.time, "sleep", lambda _s: None)
    os.mkdir(tmp_path / "20260102T030405.250000Z")
    os.mkdir(tmp_path / "20260102T030405.500000Z-adopted")
    assert mosmu_snapshots.new_id(str(tmp_path)) == "20260102T030406.750000Z"


def test_id_time():
    assert mosmu_snapshots.id_time("20260102T030405.250000Z") == "2026-01-02T03:04:05Z"
    assert mosmu_snapshots.id_time("20261231T235959.000001Z-adopted") == "2026-12-31T23:59:59Z"


@pytest.mark.parametrize("new, old, backend, newer", [
    ("0:1.10-1", "0:1.9-1", "yum", True), ("0:1.9-1", "0:1.10-1", "yum", False),
    ("1:1.0-1", "0:2.0-1", "yum", True), ("0:1.0-1", "0:1.0-1", "yum", False),
    ("0:1.0a-1", "0:1.0-1", "yum", True), ("0:1.0-2", "0:1.0-10", "yum", False),
    ("0:1.0-1", "0:1.0a-1", "yum", False), ("0:2-1", "0:10-1", "yum", False),
    ("0:b-1", "0:a-1", "yum", True), ("0:1.1-1", "0:1.a-1", "yum", False),
    ("0:1.0A-1", "0:1.0-1", "yum", True), ("0:1.0-1", "0:1.0Z-1", "yum", False),
    ("1.10", "1.9", "apt", True), ("1.0~rc1", "1.0", "apt", False),
    ("1:0.1", "2.0", "apt", True), ("1.0", "1.0", "apt", False)])
def test_version_order(new, old, backend, newer):
    assert mosmu_mirror.INDEX_FORMATS[backend].newer(new, old) is newer


def test_rpm_key():
    assert mosmu_yumindex._rpm_key("2:1.10a-3") == [2, (0, 1), (0, 10), (1, "a"), (0, 3)]
    assert mosmu_yumindex._rpm_key("0:1.0-1") == [0, (0, 1), (0, 0), (0, 1)]
    assert mosmu_yumindex._rpm_key(":5") == [0, (0, 5)]


def test_units_and_backend():
    assert mosmu_mirror._units(APT, ["updates", "security", "updates"]) == [UPD, SEC]
    assert mosmu_mirror._units(YUM, ("proposed",)) == ["proposed"]
    with pytest.raises(MirrorError, match=r"ubuntu/8\.0"):
        mosmu_mirror._units(APT, [])
    assert mosmu_mirror._backend(APT) is APT_B and mosmu_mirror._backend(YUM) is YUM_B
    with pytest.raises(MirrorError, match="'zypper'"):
        mosmu_mirror._backend(dataclasses.replace(APT, backend="zypper"))


# -- layout ----------------------------------------------------------------------------------

def test_layout_paths(tmp_path):
    www = str(tmp_path / "srv" / "www")
    layout = mosmu_snapshots.Layout(www + "/", APT)
    assert layout.root == www
    assert layout.link == f"{www}/{APT.path}"
    assert layout.snapdir == f"{www}/.snapshots/{APT.path}"
    assert layout.stage == f"{tmp_path}/srv/.mosmu-staging/{APT.path}"
    assert layout.partial == f"{tmp_path}/srv/.mosmu-staging/{APT.path}/partial"
    assert layout.rel("X") == f".snapshots/{APT.path}/X"
    other = mosmu_snapshots.Layout(www, APT, str(tmp_path / "st") + "/")
    assert other.stage == f"{tmp_path}/st/{APT.path}"
    beside = mosmu_snapshots.Layout(www, APT, www + "2")          # a sibling, not inside
    assert beside.stage == f"{www}2/{APT.path}"


@pytest.mark.parametrize("root, staging, match", [
    ("www", None, "mirror_root"), ("", None, "mirror_root"),
    ("/abs/www", "rel/stage", "mosmu:mirror_staging"),
    ("/abs/www", "/abs/www", "inside mirror_root"),
    ("/abs/www", "/abs/www/x/../stage", "inside mirror_root"),
    ("/abs/www/", "/abs/www/.stage", "inside mirror_root")])
def test_layout_refuses(root, staging, match):
    with pytest.raises(MirrorError, match=match):
        mosmu_snapshots.Layout(root, APT, staging)


def _layout(tmp_path, names=(), tree=APT):
    layout = mosmu_snapshots.Layout(str(tmp_path / "www"), tree)
    os.makedirs(layout.snapdir, exist_ok=True)
    os.makedirs(os.path.dirname(layout.link), exist_ok=True)
    for name in names:
        os.mkdir(os.path.join(layout.snapdir, name))
    return layout


IDS = [f"2026010{i}T000000.000000Z" for i in range(1, 6)]


def test_layout_ids_current_and_current_dir(tmp_path):
    layout = mosmu_snapshots.Layout(str(tmp_path / "www"), APT)
    assert layout.ids() == [] and layout.current() is None and layout.current_dir() is None
    layout = _layout(tmp_path, [IDS[2], IDS[0] + "-adopted", "junk", "2026.tmp", IDS[1]])
    assert layout.ids() == [IDS[0] + "-adopted", IDS[1], IDS[2]]
    os.mkdir(layout.link)
    assert layout.current() == "" and layout.current_dir() == layout.link
    os.rmdir(layout.link)
    layout.point(IDS[1])
    assert layout.current() == IDS[1]
    assert layout.current_dir() == os.path.join(layout.snapdir, IDS[1])
    layout.point("junk")
    with pytest.raises(MirrorError, match="not to a mosmu snapshot"):
        layout.current()


def test_point_replaces_a_stale_temp_link_and_is_relative(tmp_path):
    layout = _layout(tmp_path, IDS[:2])
    os.symlink("nowhere", f"{layout.link}.mosmu-link-{os.getpid()}")
    layout.point(IDS[0])
    assert os.readlink(layout.link) == f"../../.snapshots/{APT.path}/{IDS[0]}"
    assert os.listdir(os.path.dirname(layout.link)) == ["8.0"]


def test_adopt_moves_a_plain_dir_into_the_snapshots(tmp_path):
    layout = mosmu_snapshots.Layout(str(tmp_path / "www"), APT)
    put(os.path.join(layout.link, "dists/x/Release"), b"old")
    sid = layout.adopt()
    assert sid.endswith("-adopted") and layout.ids() == [sid]
    assert layout.current() == sid and os.path.islink(layout.link)
    assert get(os.path.join(layout.snapdir, sid, "dists/x/Release")) == b"old"
    assert mosmu_snapshots.current_snapshot(str(tmp_path / "www"), APT) == layout.rel(sid)


def test_current_snapshot(tmp_path):
    www = str(tmp_path / "www")
    assert mosmu_snapshots.current_snapshot(www, APT) is None
    layout = _layout(tmp_path, IDS[:1])
    os.mkdir(layout.link)
    assert mosmu_snapshots.current_snapshot(www, APT) == APT.path
    os.rmdir(layout.link)
    layout.point(IDS[0])
    assert mosmu_snapshots.current_snapshot(www, APT) == f".snapshots/{APT.path}/{IDS[0]}"


def test_lock_names_the_holder_after_the_timeout_and_records_its_own_pid(tmp_path):
    import fcntl
    layout = mosmu_snapshots.Layout(str(tmp_path / "www"), APT)
    with mosmu_snapshots.locked(layout, 0):
        assert get(os.path.join(layout.stage, "lock")) == f"{os.getpid()}\n".encode()
    path = os.path.join(layout.stage, "lock")
    put(path, b"4242\n")
    with open(path, "a+", encoding="utf-8") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(MirrorError, match="pid 4242"), mosmu_snapshots.locked(layout, 0):
            pytest.fail("lock taken twice")
        put(path, b"")
        with pytest.raises(MirrorError, match="pid unknown"), \
                mosmu_snapshots.locked(layout, 0.15):
            pytest.fail("lock taken twice")
        with pytest.raises(MirrorError, match="holds"):
            mosmu_snapshots.rollback(str(tmp_path / "www"), APT, lock_timeout=0)
    # rollback takes the lock where the sync takes it: in the given staging dir
    other = mosmu_snapshots.Layout(str(tmp_path / "www"), APT, str(tmp_path / "st"))
    with mosmu_snapshots.locked(other, 0), pytest.raises(MirrorError, match="holds"):
        mosmu_snapshots.rollback(str(tmp_path / "www"), APT, str(tmp_path / "st"),
                              lock_timeout=0)


def test_prune_keeps_newest_published_and_drops_rolled_back_from(tmp_path):
    layout = _layout(tmp_path, IDS)
    layout.point(IDS[4])
    mosmu_snapshots.prune(layout, 1)
    assert layout.ids() == [IDS[4]]
    layout = _layout(tmp_path / "b", IDS)
    layout.point(IDS[0])
    mosmu_snapshots.prune(layout, 2)
    assert layout.ids() == [IDS[0], IDS[3], IDS[4]]
    layout = _layout(tmp_path / "c", IDS)
    layout.point(IDS[4])                    # published after rolling back from 3 and 2 to 1
    mosmu_snapshots.prune(layout, 5, after=IDS[1])
    assert layout.ids() == [IDS[0], IDS[1], IDS[4]]
    layout = _layout(tmp_path / "d", IDS)
    layout.point(IDS[4])
    mosmu_snapshots.prune(layout, 5, after=IDS[3])
    assert layout.ids() == IDS


def test_rollback(tmp_path):
    www = str(tmp_path / "www")
    with pytest.raises(MirrorError, match="nothing to roll back"):
        mosmu_snapshots.rollback(www, APT)
    layout = _layout(tmp_path, IDS[:3])
    os.mkdir(layout.link)                                     # plain dir: no snapshot
    with pytest.raises(MirrorError, match="no mosmu snapshot"):
        mosmu_snapshots.rollback(www, APT)
    os.rmdir(layout.link)
    layout.point(IDS[2])
    assert mosmu_snapshots.rollback(www, APT) == {"from": IDS[2], "to": IDS[1]}
    assert layout.current() == IDS[1]
    assert mosmu_snapshots.rollback(www, APT) == {"from": IDS[1], "to": IDS[0]}
    with pytest.raises(MirrorError, match="oldest kept"):
        mosmu_snapshots.rollback(www, APT)
    assert layout.current() == IDS[0] and layout.ids() == IDS[:3]


# -- apt indices -----------------------------------------------------------------------------

def test_apt_anchors_present_units_in(tmp_path):
    assert APT_B.anchors("s") == ["dists/s/Release", "dists/s/InRelease", "dists/s/Release.gpg"]
    assert APT_B.units_in(str(tmp_path)) == []
    for suite in ("b", "a", ".hidden"):
        put(tmp_path / "dists" / suite / "Release", b"")
    put(tmp_path / "dists/noRelease/InRelease", b"")
    os.mkdir(tmp_path / "dists/Release")
    assert APT_B.units_in(str(tmp_path)) == ["a", "b"]
    assert APT_B.present(str(tmp_path), "a") and not APT_B.present(str(tmp_path), "noRelease")
    assert not APT_B.present(str(tmp_path), "c")


def test_apt_release_entries_indices_and_malformed_lines(tmp_path):
    dist = tmp_path / "dists/s"
    for name in ("main/binary-amd64/Packages.xz", "main/binary-amd64/Packages.lz4",
                 "main/i18n/Translation-en", "Packages", "main/Contents-amd64.gz",
                 "main/binary-amd64/xPackages", "main/binary-amd64/Packages.bz2"):
        put(dist / name, name.encode())
    release(str(dist), ["main/binary-amd64/Packages.xz", "main/binary-amd64/Packages.lz4",
                        "main/i18n/Translation-en", "Packages", "main/Contents-amd64.gz",
                        "main/binary-amd64/xPackages", "main/binary-amd64/Packages.bz2"])
    assert APT_B.indices(str(tmp_path), "s") == [
        "dists/s/main/binary-amd64/Packages.xz", "dists/s/Packages",
        "dists/s/main/binary-amd64/Packages.bz2"]
    entry = APT_B._release(str(tmp_path), "s")["Packages"]
    assert entry == (len(b"Packages"), sha(b"Packages"))
    put(dist / "Release", "SHA256:\n abcd notanumber main/Packages\n")
    with pytest.raises(MirrorError, match="dists/s/Release"):
        APT_B._release(str(tmp_path), "s")
    with pytest.raises(MirrorError, match="dists/t/Release is missing"):
        APT_B.indices(str(tmp_path), "t")


def test_apt_check_reads_every_present_compression_once(tmp_path):
    a, b = b"deb a" * 10, b"deb b" * 7
    apt_suite(tmp_path, "s", {"a": ("1", a), "b": ("2", b)}, forms=("", ".gz", ".xz", ".bz2"))
    assert APT_B.check(str(tmp_path), "s") == {
        deb_rel("a", "1"): (len(a), "sha256", sha(a)),
        deb_rel("b", "2"): (len(b), "sha256", sha(b))}
    for form in ("", ".gz", ".xz"):
        os.unlink(tmp_path / f"dists/s/main/binary-amd64/Packages{form}")
    assert len(APT_B.check(str(tmp_path), "s")) == 2        # .bz2 alone is enough


def test_apt_check_two_components_and_normalised_lowercase_entries(tmp_path):
    dist = tmp_path / "dists/s"
    a = b"AAAA"
    put(dist / "main/binary-amd64/Packages",
        f"Package: a\nVersion: 1\nFilename: pool/./main//a.deb\nSize: {len(a)}\n"
        f"SHA256:  {sha(a).upper()} \n\nPackage: nofile\nVersion: 1\n\n")
    put(dist / "restricted/binary-amd64/Packages", b"")
    put(dist / "Contents-amd64", b"Filename: pool/c.deb\nSize: 1\nSHA256: ab\n")
    release(str(dist), ["main/binary-amd64/Packages", "restricted/binary-amd64/Packages",
                        "Contents-amd64"])          # sorts first; not an index: skipped
    assert APT_B.check(str(tmp_path), "s") == {"pool/main/a.deb": (4, "sha256", sha(a))}


@pytest.mark.parametrize("damage", ["size", "digest"])
def test_apt_check_refuses_an_index_not_matching_release(tmp_path, damage):
    apt_suite(tmp_path, "s", {"a": ("1", b"aaa")})
    index = tmp_path / "dists/s/main/binary-amd64/Packages"
    data = get(index)
    put(index, data + b"\n" if damage == "size" else data.replace(b"Version: 1", b"Version: 2"))
    with pytest.raises(MirrorError, match="dists/s/main/binary-amd64/Packages does not"):
        APT_B.check(str(tmp_path), "s")
    pool = APT_B.check(str(tmp_path), "s", verify=False)       # trusted snapshot: read only
    assert pool == {deb_rel("a", "1"): (3, "sha256", sha(b"aaa"))}


def test_apt_check_refuses_a_release_without_packages_or_with_one_absent(tmp_path):
    put(tmp_path / "dists/s/main/Contents", b"x")
    release(str(tmp_path / "dists/s"), ["main/Contents"])
    with pytest.raises(MirrorError, match="lists no Packages index"):
        APT_B.check(str(tmp_path), "s")
    assert APT_B.check(str(tmp_path), "s", verify=False) == {}
    apt_suite(tmp_path / "t", "s", {"a": ("1", b"a")})
    apt_suite(tmp_path / "t", "s", {"a": ("1", b"a")}, comp="other")
    release(str(tmp_path / "t/dists/s"), [
        "main/binary-amd64/Packages", "main/binary-amd64/Packages.gz",
        "other/binary-amd64/Packages", "other/binary-amd64/Packages.gz"])
    for form in ("", ".gz"):
        os.unlink(tmp_path / f"t/dists/s/other/binary-amd64/Packages{form}")
    with pytest.raises(MirrorError, match=r"dists/s/other/binary-amd64/Packages \(any"):
        APT_B.check(str(tmp_path / "t"), "s")


@pytest.mark.parametrize("para, match", [
    ("Filename: pool/a.deb\nSize: x\nSHA256: ab\n", "pool/a.deb"),
    ("Filename: pool/a.deb\nSHA256: ab\n", "pool/a.deb"),
    ("Filename: pool/a.deb\nSize: 3\n", "pool/a.deb"),
    ("Filename: ../../etc/shadow\nSize: 3\nSHA256: ab\n", "leaves the tree"),
    ("Filename: pool/../../x\nSize: 3\nSHA256: ab\n", "leaves the tree"),
    ("Filename: /etc/shadow\nSize: 3\nSHA256: ab\n", "leaves the tree"),
    ("Filename: ..\nSize: 3\nSHA256: ab\n", "leaves the tree"),
])
def test_apt_hostile_or_broken_stanzas_are_refused(tmp_path, para, match):
    dist = tmp_path / "dists/s"
    put(dist / "main/binary-amd64/Packages", "Package: a\nVersion: 1\n" + para)
    release(str(dist), ["main/binary-amd64/Packages"])
    with pytest.raises(MirrorError, match=match):
        APT_B.check(str(tmp_path), "s")


def test_apt_two_indices_disagreeing_about_a_file_are_refused(tmp_path):
    dist = tmp_path / "dists/s"
    put(dist / "main/binary-amd64/Packages", stanza("a", "1", "pool/a.deb", b"one"))
    put(dist / "main/binary-i386/Packages", stanza("a", "1", "pool/a.deb", b"two"))
    release(str(dist), ["main/binary-amd64/Packages", "main/binary-i386/Packages"])
    with pytest.raises(MirrorError, match=r"pool/a\.deb"):
        APT_B.check(str(tmp_path), "s")


def test_apt_packages_newest_version_of_every_name_arch(tmp_path):
    apt_suite(tmp_path, UPD, {"a": ("1.10", b"a"), "b": ("1", b"b")})
    dist = tmp_path / "dists" / SEC
    put(dist / "main/binary-amd64/Packages",
        stanza("a", "1.9", "pool/a9.deb", b"a9") + "\n" +
        stanza("a", "2", "pool/a2.deb", b"a2", arch="amd64") + "\n" +
        "Package: c\nVersion: 1\n\nPackage: noversion\n\nVersion: 3\n\n"
        "Package: d\nVersion: 1\nFilename: pool/d.deb\n")
    put(dist / "main/binary-amd64/Contents", b"Package: z\nVersion: 9\n")
    put(dist / "main/binary-i386/Packages.gz", b"")
    release(str(dist), ["main/binary-amd64/Contents", "main/binary-i386/Packages.gz",
                        "main/binary-amd64/Packages"])
    os.unlink(dist / "main/binary-i386/Packages.gz")
    assert APT_B.packages(str(tmp_path)) == {
        "a:all": "1.10", "b:all": "1", "a:amd64": "2", "c:all": "1", "d:all": "1"}


# -- yum indices -----------------------------------------------------------------------------

def test_yum_anchors_present_units_in(tmp_path):
    assert YUM_B.anchors("u") == ["u/repodata/repomd.xml", "u/repodata/repomd.xml.asc"]
    for unit in ("updates", "a/b", "a/b/c/d", "x/y/z", "w/x/y/z"):
        put(tmp_path / unit / "repodata/repomd.xml", b"<repomd/>")
    put(tmp_path / "other/repodata/repomd.xml.asc", b"")
    assert YUM_B.units_in(str(tmp_path)) == ["a/b", "updates", "x/y/z"]
    assert YUM_B.present(str(tmp_path), "a/b") and not YUM_B.present(str(tmp_path), "other")
    assert YUM_B.units_in(str(tmp_path / "none")) == []


def test_yum_check_reads_the_pool_of_primary(tmp_path):
    a, b = b"rpm a" * 9, b"rpm b"
    yum_repo(tmp_path, "updates", {"a": ("1.0", a), "b": ("2", b)})
    assert YUM_B.indices(str(tmp_path), "updates") == [
        "updates/repodata/primary.xml.gz", "updates/repodata/other.xml"]
    assert YUM_B.check(str(tmp_path), "updates") == {
        rpm_rel("updates", "a", "1.0"): (len(a), "sha256", sha(a)),
        rpm_rel("updates", "b", "2"): (len(b), "sha256", sha(b))}
    assert YUM_B.packages(str(tmp_path)) == {"a:noarch": "0:1.0-1", "b:noarch": "0:2-1"}


@pytest.mark.parametrize("ctype, algo", [("sha", "sha1"), ("sha1", "sha1"),
                                          ("sha512", "sha512"), ("SHA256", None)])
def test_yum_checksum_types(tmp_path, ctype, algo):
    a = b"content"
    body = pkg_xml("a", "1", "Packages/a.rpm", a, algo or "sha256", ctype=ctype)
    repo_dir = yum_repo(tmp_path, "u", {}, packages_xml=body)
    put(os.path.join(repo_dir, "Packages/a.rpm"), a)
    if algo is None:
        with pytest.raises(MirrorError, match="package a"):
            YUM_B.check(str(tmp_path), "u")
    else:
        assert YUM_B.check(str(tmp_path), "u") == {"u/Packages/a.rpm": (7, algo, sha(a, algo))}


@pytest.mark.parametrize("body, match", [
    ('<package><name>a</name><version ver="1" rel="1"/><checksum type="sha256">ab</checksum>'
     '<size package="3"/></package>', "package a"),                         # no location
    ('<package><name>a</name><version ver="1" rel="1"/><checksum type="sha256">ab</checksum>'
     '<location href="a.rpm"/></package>', "package a"),                   # no size
    ('<package><name>a</name><version ver="1" rel="1"/><checksum type="sha256">ab</checksum>'
     '<location href="a.rpm"/><size package="x"/></package>', "package a"),
    ('<package><name>a</name><version ver="1" rel="1"/><checksum type="md5">ab</checksum>'
     '<location href="a.rpm"/><size package="3"/></package>', "package a"),
    ('<package><name>a</name><version ver="1" rel="1"/><checksum type="sha256"/>'
     '<location href="a.rpm"/><size package="3"/></package>', "package a"),
    ('<package><name>a</name><version ver="1" rel="1"/>'
     '<location href="a.rpm"/><size package="3"/></package>', "package a"),
    ('<package><name>a</name><checksum type="sha256">ab</checksum>'
     '<location href="a.rpm"/><size package="3"/></package>', "package a"),  # no version
    ('<package><name>a</name><version ver="1" rel="1"/><checksum type="sha256">ab</checksum>'
     '<location/><size package="3"/></package>', "package a"),
    ('<package><name>a</name><version ver="1" rel="1"/><checksum type="sha256">ab</checksum>'
     '<location href="../../x.rpm"/><size package="3"/></package>', "leaves the repo"),
    ('<package><name>a</name><version ver="1" rel="1"/><checksum type="sha256">ab</checksum>'
     '<location href="/etc/x.rpm"/><size package="3"/></package>', "leaves the repo"),
    ('<package><name>a</name><version ver="1" rel="1"/><checksum type="sha256">ab</checksum>'
     '<location href="P/../../x.rpm"/><size package="3"/></package>', "leaves the repo"),
])
def test_yum_broken_or_hostile_primary_is_refused(tmp_path, body, match):
    yum_repo(tmp_path, "u", {}, packages_xml=body)
    with pytest.raises(MirrorError, match=match):
        YUM_B.check(str(tmp_path), "u")


def test_yum_primary_entries(tmp_path):
    a = b"x"
    body = (pkg_xml("a", "1", "Packages/./a.rpm", a, epoch="2").replace(
        sha(a), f" {sha(a).upper()}\n") +
        '<package><name>b</name><arch>x86_64</arch><version ver="3" rel="4"/>'
        f'<checksum type="sha1">{sha(a, "sha1")}</checksum><location href="b.rpm"/>'
        '<size package="1"/></package>')
    yum_repo(tmp_path, "u", {}, packages_xml=body)
    assert YUM_B._primary(str(tmp_path), "u/repodata/primary.xml.gz") == [
        ("Packages/a.rpm", 1, "sha256", sha(a), "a:noarch", "2:1-1"),
        ("b.rpm", 1, "sha1", sha(a, "sha1"), "b:x86_64", "0:3-4")]


@pytest.mark.parametrize("data, match", [
    ('<data type="primary"><checksum type="sha256">ab</checksum></data>', "primary"),
    ('<data type="primary"><location href="p.xml"/></data>', "primary"),
    ('<data type="primary"><checksum type="md5">ab</checksum><location href="p.xml"/></data>',
     "primary"),
    ('<data type="primary"><checksum>ab</checksum><location href="p.xml"/></data>', "primary"),
    ('<data type="primary"><checksum type="sha256">ab</checksum>'
     '<location href="../p.xml"/></data>', "leaves the repo"),
    ('<data type="primary"><checksum type="sha256">ab</checksum>'
     '<location href="/p.xml"/></data>', "leaves the repo"),
    ('<data type="other"><checksum type="sha256">ab</checksum>'
     '<location href="o.xml"/></data>', "lists no primary"),
    ('', "lists no primary"),
])
def test_yum_broken_or_hostile_repomd_is_refused(tmp_path, data, match):
    put(tmp_path / "u/repodata/repomd.xml", f'<repomd xmlns="{REPO}">{data}</repomd>')
    with pytest.raises(MirrorError, match=match):
        YUM_B.check(str(tmp_path), "u")


def test_yum_repomd_entries_and_missing(tmp_path):
    with pytest.raises(MirrorError, match=r"u/repodata/repomd\.xml is missing"):
        YUM_B.indices(str(tmp_path), "u")
    put(tmp_path / "u/repodata/repomd.xml",
        f'<repomd xmlns="{REPO}"><data type="primary"><checksum type="sha">AB </checksum>'
        '<location href="repodata/./p.xml"/></data><data type="x">'
        '<checksum type="sha512"/><location/><size>7</size></data></repomd>')
    assert YUM_B._repomd(str(tmp_path), "u") == {
        "primary": ("u/repodata/p.xml", None, "sha1", "ab"),
        "x": ("u/.", 7, "sha512", "")}


@pytest.mark.parametrize("damage", ["missing", "size", "digest", "digest-nosize"])
def test_yum_check_refuses_metadata_not_matching_repomd(tmp_path, damage):
    repo_dir = yum_repo(tmp_path, "u", {"a": ("1", b"a")})
    other = os.path.join(repo_dir, "repodata/other.xml")
    if damage == "missing":
        os.unlink(other)
    elif damage == "size":
        put(other, b"<otherdata/> ")
    else:
        put(other, b"<otherdata/>".replace(b"other", b"OTHER"))
        if damage == "digest-nosize":
            repomd(repo_dir, {"primary": "repodata/primary.xml.gz",
                              "other": "repodata/other.xml"}, with_size=False)
            put(other, b"<otherdata/>")
            repomd_text = get(os.path.join(repo_dir, "repodata/repomd.xml"))
            put(os.path.join(repo_dir, "repodata/repomd.xml"),
                repomd_text.replace(sha(b"<otherdata/>").encode(), sha(b"x").encode()))
    with pytest.raises(MirrorError, match=r"u/repodata/other\.xml"):
        YUM_B.check(str(tmp_path), "u")
    assert YUM_B.check(str(tmp_path), "u", verify=False) == {
        "u/Packages/a-1-1.noarch.rpm": (1, "sha256", sha(b"a"))}


def test_yum_repomd_without_size_still_checks_the_digest(tmp_path):
    repo_dir = yum_repo(tmp_path, "u", {"a": ("1", b"a")})
    repomd(repo_dir, {"primary": "repodata/primary.xml.gz"}, with_size=False)
    assert YUM_B.check(str(tmp_path), "u") == {
        "u/Packages/a-1-1.noarch.rpm": (1, "sha256", sha(b"a"))}


def test_yum_packages_over_units_skips_missing_primary(tmp_path):
    yum_repo(tmp_path, "updates", {"a": ("1", b"a")})
    yum_repo(tmp_path, "security", {"b": ("2", b"b")})
    os.unlink(tmp_path / "security/repodata/primary.xml.gz")
    put(tmp_path / "o/repodata/repomd.xml", f'<repomd xmlns="{REPO}"/>')
    assert YUM_B.packages(str(tmp_path)) == {"a:noarch": "0:1-1"}


# -- signatures (a throwaway key in its own gpg home) ----------------------------------------

class _Key(helpers.Gpg):
    """The mirror tier's throwaway key, signing any file (not only a suite's Release)."""

    def clearsign(self, src, dest):
        self._gpg("--yes", "--clearsign", "-o", str(dest), str(src))

    def detach(self, src, dest):
        self._gpg("--yes", "-abs", "-o", str(dest), str(src))


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    good = _Key(tmp_path_factory.mktemp("gnupg-good"), "mosmu good <g@mosmu.invalid>")
    evil = _Key(tmp_path_factory.mktemp("gnupg-evil"), "mosmu evil <e@mosmu.invalid>")
    yield good, evil
    good.close()
    evil.close()


def _signed_suite(tmp_path, key, inrelease=True, detached=True, suite="s/x"):
    apt_suite(tmp_path, suite, {"a": ("1", b"a")})
    dist = tmp_path / "dists" / suite
    if inrelease:
        key.clearsign(dist / "Release", dist / "InRelease")
    if detached:
        key.detach(dist / "Release", dist / "Release.gpg")
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return dist, str(work)


@pytest.mark.parametrize("inrelease, detached", [(True, True), (True, False), (False, True)])
def test_apt_signatures_good(tmp_path, keys, inrelease, detached):
    _dist, work = _signed_suite(tmp_path, keys[0], inrelease, detached)
    keyring = mosmu_gpg.keyring(keys[0].public, work)
    assert keyring == os.path.join(work, "keyring.gpg") and os.path.getsize(keyring) > 0
    APT_B.signatures(str(tmp_path), "s/x", keyring, work)
    if inrelease:
        assert os.path.isfile(os.path.join(work, "InRelease-s_x.txt"))


@pytest.mark.parametrize("case", ["none", "tampered-inrelease", "tampered-detached",
                                  "differs", "other-key", "other-key-detached"])
def test_apt_signatures_bad(tmp_path, keys, case):
    good, evil = keys
    signer = evil if case.startswith("other-key") else good
    dist, work = _signed_suite(tmp_path, signer, inrelease=case != "other-key-detached",
                               detached=case not in ("tampered-inrelease", "differs"))
    keyring = mosmu_gpg.keyring(good.public, work)
    if case == "none":
        os.unlink(dist / "InRelease")
        os.unlink(dist / "Release.gpg")
    elif case == "tampered-inrelease":
        put(dist / "InRelease", get(dist / "InRelease").replace(b"Suite: s", b"Suite: t"))
    elif case == "tampered-detached":
        os.unlink(dist / "InRelease")
        put(dist / "Release", get(dist / "Release") + b"Extra: 1\n")
    elif case == "differs":
        put(dist / "Release", get(dist / "Release") + b"Extra: 1\n")
    with pytest.raises(MirrorError, match="dists/s/x"):
        APT_B.signatures(str(tmp_path), "s/x", keyring, work)


def test_apt_inrelease_alone_without_release_is_accepted(tmp_path, keys):
    dist, work = _signed_suite(tmp_path, keys[0], detached=False)
    os.unlink(dist / "Release")
    APT_B.signatures(str(tmp_path), "s/x", mosmu_gpg.keyring(keys[0].public, work), work)


def test_apt_inrelease_must_sign_exactly_the_release_text(tmp_path, keys):
    """Trailing newlines are the only slack between InRelease's text and Release."""
    apt_suite(tmp_path, "s", {"a": ("1", b"a")})
    dist = tmp_path / "dists/s"
    release(str(dist), ["main/binary-amd64/Packages"], extra="Label: X")   # ends in X
    keys[0].clearsign(dist / "Release", dist / "InRelease")
    work = str(tmp_path)
    keyring = mosmu_gpg.keyring(keys[0].public, work)
    APT_B.signatures(str(tmp_path), "s", keyring, work)
    put(dist / "Release", get(dist / "Release") + b"\n\n")
    APT_B.signatures(str(tmp_path), "s", keyring, work)
    for tail in (b"\n ", b"\nX", b"\t"):
        put(dist / "Release", get(dist / "Release").rstrip(b"\n") + tail)
        with pytest.raises(MirrorError, match="dists/s/InRelease and Release differ"):
            APT_B.signatures(str(tmp_path), "s", keyring, work)


def test_keyring_and_gpgv_stay_in_the_work_dir(tmp_path, keys):
    _dist, work = _signed_suite(tmp_path, keys[0])
    cwd = tmp_path / "cwd"          # the autouse fixture's empty working dir
    keyring = mosmu_gpg.keyring(keys[0].public, work)
    APT_B.signatures(str(tmp_path), "s/x", keyring, work)
    assert os.listdir(cwd) == []
    assert sorted(os.listdir(work)) == ["InRelease-s_x.txt", "gnupg", "key.asc", "keyring.gpg"]
    assert get(os.path.join(work, "key.asc")).decode() == keys[0].public
    assert os.stat(os.path.join(work, "gnupg")).st_mode & 0o777 == 0o700    # private home


def test_yum_signatures(tmp_path, keys):
    good, evil = keys
    yum_repo(tmp_path, "u", {"a": ("1", b"a")})
    md = tmp_path / "u/repodata/repomd.xml"
    work = str(tmp_path)
    keyring = mosmu_gpg.keyring(good.public, work)
    with pytest.raises(MirrorError, match=r"u/repodata/repomd\.xml\.asc is missing"):
        YUM_B.signatures(str(tmp_path), "u", keyring, work)
    good.detach(md, str(md) + ".asc")
    YUM_B.signatures(str(tmp_path), "u", keyring, work)
    put(md, get(md) + b" ")
    with pytest.raises(MirrorError, match=r"u/repodata/repomd\.xml\.asc"):
        YUM_B.signatures(str(tmp_path), "u", keyring, work)
    evil.detach(md, str(md) + ".asc")
    with pytest.raises(MirrorError, match=r"u/repodata/repomd\.xml\.asc"):
        YUM_B.signatures(str(tmp_path), "u", keyring, work)


def test_keyring_refuses_a_bad_key_and_missing_tools(tmp_path, monkeypatch):
    with pytest.raises(MirrorError, match="mosmu:catalog key"):
        mosmu_gpg.keyring("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!\n", str(tmp_path))
    real = mosmu_gpg.shutil.which
    for tool in ("gpg", "gpgv"):
        monkeypatch.setattr(mosmu_gpg.shutil, "which",
                            lambda name, tool=tool: None if name == tool else real(name))
        with pytest.raises(MirrorError, match=f"^{tool} is not installed"):
            mosmu_gpg.keyring("x", str(tmp_path / tool))
        assert not os.path.exists(tmp_path / tool)


def test_gpgv_failure_without_output(tmp_path, monkeypatch):
    monkeypatch.setattr(mosmu_gpg.subprocess, "run", lambda *a, **k:
                        subprocess.CompletedProcess(a[0], 2, "", ""))
    with pytest.raises(MirrorError, match=r"^what: .*\(no output\)"):
        mosmu_gpg.gpgv("k", str(tmp_path), [], "what")


# -- pools and verification ------------------------------------------------------------------

def test_pool_of_merges_suites_and_refuses_conflicts(tmp_path):
    apt_suite(tmp_path, UPD, {"a": ("1", b"a"), "b": ("1", b"b")})
    apt_suite(tmp_path, SEC, {"a": ("1", b"a")})
    assert mosmu_verify.pool_of(APT_B, str(tmp_path), [UPD, SEC]) == {
        deb_rel("a", "1"): (1, "sha256", sha(b"a")),
        deb_rel("b", "1"): (1, "sha256", sha(b"b"))}
    apt_suite(tmp_path / "x", UPD, {"a": ("1", b"a")})
    apt_suite(tmp_path / "x", SEC, {"a": ("1", b"A")}, write_pool=False)
    with pytest.raises(MirrorError, match=f"the index of {SEC}"):
        mosmu_verify.pool_of(APT_B, str(tmp_path / "x"), [UPD, SEC])


def test_trusted_pool(tmp_path):
    prev = tmp_path / IDS[0]
    apt_suite(prev, UPD, {"a": ("1", b"a")})
    apt_suite(prev, SEC, {"b": ("1", b"b")})
    put(prev / f"dists/{UPD}/main/binary-amd64/Packages.gz", b"corrupt, but trusted")
    put(prev / f"dists/{UPD}/main/binary-amd64/Packages", b"")     # never re-verified
    apt_suite(prev / "x", UPD, {"a": ("1", b"a")})                  # content from .gz only
    os.unlink(prev / f"x/dists/{UPD}/main/binary-amd64/Packages")
    os.replace(prev / f"x/dists/{UPD}/main/binary-amd64/Packages.gz",
               prev / f"dists/{UPD}/main/binary-amd64/Packages.gz")
    assert mosmu_verify.trusted_pool(APT_B, str(prev), [UPD, "gone"]) == {
        deb_rel("a", "1"): (1, "sha256", sha(b"a"))}
    assert mosmu_verify.trusted_pool(APT_B, str(prev), [UPD, SEC]) == {
        deb_rel("a", "1"): (1, "sha256", sha(b"a")),
        deb_rel("b", "1"): (1, "sha256", sha(b"b"))}
    assert mosmu_verify.trusted_pool(APT_B, None, [UPD]) == {}
    assert mosmu_verify.trusted_pool(APT_B, "", [UPD]) == {}
    adopted = tmp_path / (IDS[1] + "-adopted")
    apt_suite(adopted, UPD, {"a": ("1", b"a")})
    assert mosmu_verify.trusted_pool(APT_B, str(adopted), [UPD]) == {}
    put(prev / f"dists/{SEC}/main/binary-amd64/Packages", b"Filename: /etc/x\n")
    put(prev / f"dists/{SEC}/main/binary-amd64/Packages.gz",
        gzip.compress(b"Filename: /etc/x\n"))
    assert mosmu_verify.trusted_pool(APT_B, str(prev), [UPD, SEC]) == {}


def _snap(tmp_path, name, debs):
    root = tmp_path / name
    apt_suite(root, UPD, debs)
    return str(root)


def test_verify_snapshot_hashes_every_file_without_a_previous(tmp_path):
    snap = _snap(tmp_path, "new", {"a": ("1", b"aa"), "b": ("1", b"bbb")})
    assert mosmu_verify.verify_snapshot(APT_B, snap, [UPD]) == {
        "files": 2, "hashed": 2, "bytes_hashed": 5, "linked_bad": []}


@pytest.mark.parametrize("damage, match", [
    ("missing", "is missing"), ("dir", "not a regular file"),
    ("symlink", "not a regular file"), ("size", "has 3 bytes, its index says 2"),
    ("digest", "does not match the sha256")])
def test_verify_snapshot_refuses(tmp_path, damage, match):
    snap = _snap(tmp_path, "new", {"a": ("1", b"aa"), "b": ("1", b"bbb")})
    path = os.path.join(snap, deb_rel("a", "1"))
    os.unlink(path)
    if damage == "dir":
        os.mkdir(path)
    elif damage == "symlink":
        os.symlink(os.path.join(snap, deb_rel("b", "1")), path)
    elif damage == "size":
        put(path, b"aaa")
    elif damage == "digest":
        put(path, b"ab")
    with pytest.raises(MirrorError, match=deb_rel("a", "1") + ".*" + match):
        mosmu_verify.verify_snapshot(APT_B, snap, [UPD])


def _linked_pair(tmp_path, old_debs, new_debs, link=("a",)):
    prev = _snap(tmp_path, IDS[0], old_debs)
    new = str(tmp_path / "new")
    apt_suite(new, UPD, new_debs, write_pool=False)
    for name, (version, content) in new_debs.items():
        dest = os.path.join(new, deb_rel(name, version))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if name in link:
            os.link(os.path.join(prev, deb_rel(name, old_debs[name][0])), dest)
        else:
            put(dest, content)
    return prev, new


def test_verify_snapshot_skips_hashing_only_a_trusted_same_inode(tmp_path):
    prev, new = _linked_pair(tmp_path, {"a": ("1", b"aaaa"), "b": ("1", b"bb")},
                             {"a": ("1", b"aaaa"), "b": ("1", b"bb")})
    assert mosmu_verify.verify_snapshot(APT_B, new, [UPD], prev) == {
        "files": 2, "hashed": 1, "bytes_hashed": 2, "linked_bad": []}   # b is a copy
    # adopted (never verified) previous: hash everything
    adopted = prev + "-adopted"
    os.rename(prev, adopted)
    assert mosmu_verify.verify_snapshot(APT_B, new, [UPD], adopted) == {
        "files": 2, "hashed": 2, "bytes_hashed": 6, "linked_bad": []}
    # an explicitly given trusted pool that says otherwise: hash it
    assert mosmu_verify.verify_snapshot(APT_B, new, [UPD], adopted, trusted={
        deb_rel("a", "1"): (4, "sha256", "00")})["hashed"] == 2
    assert mosmu_verify.verify_snapshot(APT_B, new, [UPD], adopted, trusted={
        deb_rel("a", "1"): (4, "sha256", sha(b"aaaa"))})["hashed"] == 1
    # an explicitly given pool is used instead of the indices
    assert mosmu_verify.verify_snapshot(APT_B, new, [UPD], None, pool={
        deb_rel("b", "1"): (2, "sha256", sha(b"bb"))}) == {
            "files": 1, "hashed": 1, "bytes_hashed": 2, "linked_bad": []}


def test_verify_snapshot_reports_a_linked_file_whose_entry_changed_in_place(tmp_path):
    """Upstream rebuilt a with the same size (and mtime): rsync linked the old inode."""
    prev, new = _linked_pair(tmp_path, {"a": ("1", b"aaaa"), "b": ("1", b"bb"),
                                        "c": ("1", b"c")},
                             {"a": ("1", b"AAAA"), "b": ("1", b"BB"), "c": ("1", b"c")},
                             link=("a", "b", "c"))
    assert mosmu_verify.verify_snapshot(APT_B, new, [UPD], prev) == {
        "files": 3, "hashed": 2, "bytes_hashed": 6,
        "linked_bad": [deb_rel("a", "1"), deb_rel("b", "1")]}
    # the same wrong content as a copy (not the trusted inode) is refused outright
    path = os.path.join(new, deb_rel("a", "1"))
    os.unlink(path)
    put(path, b"aaaa")
    with pytest.raises(MirrorError, match=deb_rel("a", "1")):
        mosmu_verify.verify_snapshot(APT_B, new, [UPD], prev)
    # a linked file whose trusted entry still matches is not hashed even if it were damaged
    # (the previous snapshot verified that inode); but its size is always checked
    with pytest.raises(MirrorError, match="has 4 bytes, its index says 5"):
        mosmu_verify.verify_snapshot(APT_B, new, [UPD], prev, pool={
            deb_rel("a", "1"): (5, "sha256", sha(b"aaaaa"))})


def test_verify_snapshot_with_a_previous_missing_the_file_hashes_it(tmp_path):
    prev, new = _linked_pair(tmp_path, {"b": ("1", b"bb")},
                             {"a": ("1", b"aaaa"), "b": ("1", b"bb")}, link=("b",))
    assert mosmu_verify.verify_snapshot(APT_B, new, [UPD], prev) == {
        "files": 2, "hashed": 1, "bytes_hashed": 4, "linked_bad": []}


@pytest.mark.parametrize("algo", ["sha256", "sha1", "sha512"])
def test_verify_snapshot_yum_with_the_digest_its_index_names(tmp_path, algo):
    yum_repo(tmp_path, "u", {"a": ("1", b"abc")}, algo=algo)
    assert mosmu_verify.verify_snapshot(YUM_B, str(tmp_path), ["u"]) == {
        "files": 1, "hashed": 1, "bytes_hashed": 3, "linked_bad": []}
    put(tmp_path / rpm_rel("u", "a", "1"), b"abd")
    with pytest.raises(MirrorError, match=algo):
        mosmu_verify.verify_snapshot(YUM_B, str(tmp_path), ["u"])


def test_link_known(tmp_path):
    prev = _snap(tmp_path, IDS[0], {"a": ("1", b"a"), "b": ("1", b"b")})
    new = str(tmp_path / "new")
    pool = {deb_rel("a", "1"): (1, "sha256", sha(b"a")),
            deb_rel("b", "1"): (1, "sha256", sha(b"B")),
            deb_rel("c", "1"): (1, "sha256", sha(b"c")),
            deb_rel("d", "1"): (1, "sha256", sha(b"d"))}
    trusted = {deb_rel("a", "1"): (1, "sha256", sha(b"a")),
               deb_rel("b", "1"): (1, "sha256", sha(b"b")),
               deb_rel("d", "1"): (1, "sha256", sha(b"d"))}      # d: not in previous
    assert mosmu_mirror._link_known(prev, new, pool, trusted) == [
        deb_rel("b", "1"), deb_rel("c", "1"), deb_rel("d", "1")]
    assert os.stat(os.path.join(new, deb_rel("a", "1"))).st_ino == \
        os.stat(os.path.join(prev, deb_rel("a", "1"))).st_ino
    assert sorted(os.listdir(os.path.join(new, "pool/main"))) == ["a_1_all.deb"]


# -- missing, history ------------------------------------------------------------------------

def test_missing(tmp_path):
    www = str(tmp_path / "www")
    assert mosmu_mirror.missing(www, APT, ["updates", "security"]) == [UPD, SEC]
    layout = _layout(tmp_path, IDS[:1])
    apt_suite(os.path.join(layout.snapdir, IDS[0]), UPD, {"a": ("1", b"a")})
    layout.point(IDS[0])
    assert mosmu_mirror.missing(www, APT, ["updates", "security", "updates"]) == [SEC]
    assert mosmu_mirror.missing(www, APT, ["updates"]) == []


def test_snapshots_history(tmp_path):
    layout = _layout(tmp_path, IDS[:3])
    versions = [{"a": "1", "b": "1.10", "c": "1"}, {"a": "2", "b": "1.9", "d": "1"},
                {"a": "2", "b": "1.9", "d": "1"}]
    for sid, pkgs in zip(IDS[:3], versions):
        apt_suite(os.path.join(layout.snapdir, sid), UPD,
                  {n: (v, f"{n}{v}".encode()) for n, v in pkgs.items()})
    layout.point(IDS[1])
    out = mosmu_mirror.snapshots(str(tmp_path / "www"), APT)
    base = {"upgraded": [], "downgraded": [], "removed": [], "added": []}
    assert out == [
        dict(base, id=IDS[0], time="2026-01-01T00:00:00Z", path=layout.rel(IDS[0]),
             current=False, added=["a:all 1", "b:all 1.10", "c:all 1"]),
        dict(base, id=IDS[1], time="2026-01-02T00:00:00Z", path=layout.rel(IDS[1]),
             current=True, added=["d:all 1"], upgraded=["a:all 1 -> 2"],
             downgraded=["b:all 1.10 -> 1.9"], removed=["c:all 1"]),
        dict(base, id=IDS[2], time="2026-01-03T00:00:00Z", path=layout.rel(IDS[2]),
             current=False)]


def test_snapshots_history_yum(tmp_path):
    layout = _layout(tmp_path, IDS[:2], tree=YUM)
    yum_repo(os.path.join(layout.snapdir, IDS[0]), "updates", {"a": ("1.9", b"a")})
    yum_repo(os.path.join(layout.snapdir, IDS[1]), "updates", {"a": ("1.10", b"a")})
    out = mosmu_mirror.snapshots(str(tmp_path / "www"), YUM)
    assert [row["upgraded"] for row in out] == [[], ["a:noarch 0:1.9-1 -> 0:1.10-1"]]
    assert [row["current"] for row in out] == [False, False]


# -- rsync -----------------------------------------------------------------------------------

def test_source():
    assert mosmu_rsync.source("rsync://h/m//") == "rsync://h/m/"
    assert mosmu_rsync.source("/") == "/"
    with pytest.raises(MirrorError, match="'rel/dir'"):
        mosmu_rsync.source("rel/dir")
    with pytest.raises(MirrorError, match="/no/such/dir"):
        mosmu_rsync.source("/no/such/dir")


class _FakeRun:
    def __init__(self, *results):
        self.results = list(results)
        self.calls = []

    def __call__(self, argv, **kwargs):
        listing = next(a for a in argv if a.startswith("--files-from="))[13:]
        self.calls.append((list(argv), get(listing).decode(), kwargs))
        code, out, err = self.results.pop(0)
        return subprocess.CompletedProcess(argv, code, out, err)


def _fake_rsync(tmp_path, monkeypatch, *results, **kwargs):
    fake = _FakeRun(*results)
    monkeypatch.setattr(mosmu_rsync.subprocess, "run", fake)
    os.makedirs(tmp_path / "stage/partial", exist_ok=True)
    args = {"timeout": 7, "partial": str(tmp_path / "stage/partial"), **kwargs}
    upstream = kwargs.pop("upstream", "rsync://h/m")
    args.pop("upstream", None)
    return fake, mosmu_rsync.rsync(upstream, str(tmp_path / "dest") + "/", ["b", "a"], "what",
                                     **args)


OUT = (">f+++++++++|100|60|a\ncd+++++++++|0|0|dir\n>f.st......|7|3|b\n<f+++++++++|5|5|c\n"
       ">f|1|1\nhL+++++++++|9|0|d\n")


def test_rsync_argv_and_counts(tmp_path, monkeypatch):
    fake, result = _fake_rsync(tmp_path, monkeypatch, (0, OUT, ""))
    assert result == (2, 63)
    argv, listing, kwargs = fake.calls[0]
    stage = str(tmp_path / "stage")
    assert argv[:7] == ["rsync", "-rlptH", "--safe-links", "--chmod=D755,F644", "--timeout=7",
                        f"--partial-dir={stage}/partial", argv[6]]
    assert argv[6].startswith(f"--files-from={stage}/files-from-")
    assert argv[7:] == ["--out-format=%i|%l|%b|%n", "--contimeout=7", "rsync://h/m/",
                        f"{tmp_path}/dest/"]
    assert listing == "a\nb\n"
    assert kwargs == {"capture_output": True, "text": True, "check": False}
    assert os.listdir(stage) == ["partial"]                 # the listing is removed


def test_rsync_options(tmp_path, monkeypatch):
    fake, result = _fake_rsync(tmp_path, monkeypatch, (0, OUT, ""), upstream=str(tmp_path),
                               link_dest="/l", missing_ok=True, dry_run=True,
                               ignore_times=True, bwlimit=50)
    assert result == (2, 107)                               # dry run: would-be sizes
    argv = fake.calls[0][0]
    assert argv[7:] == ["--out-format=%i|%l|%b|%n", "--link-dest=/l", "--bwlimit=50",
                        "--ignore-missing-args", "--dry-run", "--ignore-times",
                        f"{tmp_path}/", f"{tmp_path}/dest/"]


def test_rsync_retries_a_vanished_file_once(tmp_path, monkeypatch):
    fake, result = _fake_rsync(tmp_path, monkeypatch, (24, "", "vanished"), (0, OUT, ""))
    assert result == (2, 63) and len(fake.calls) == 2
    with pytest.raises(MirrorError, match=r"exit 24: file has vanished: \"x\"\); files "
                                          "vanished upstream twice"):
        _fake_rsync(tmp_path, monkeypatch, (24, "", "a\nfile has vanished: \"x\"\nb\n"),
                    (24, "", "a\nfile has vanished: \"x\"\nb\n"))


@pytest.mark.parametrize("code, err, detail, hint", [
    (5, "@ERROR: Unknown module 'x'\nrsync error: error starting client-server protocol",
     "rsync error: error starting", "mosmu:mirror_upstream and the catalog row"),
    (10, "", "no output", "RSYNC_PROXY"),
    (23, 'rsync: [sender] link_stat "/x/y" failed: No such file\nrsync error: some files',
     'rsync: [sender] link_stat "/x/y" failed', "files are missing upstream"),
    (30, "  timeout  \n", "timeout", "raise the timeout"),
    (35, "x", "x", "timed out connecting"),
    (12, "protocol\n", "protocol", "see the rsync message")])
def test_rsync_failures_name_the_cause(tmp_path, monkeypatch, code, err, detail, hint):
    with pytest.raises(MirrorError) as exc:
        _fake_rsync(tmp_path, monkeypatch, (code, "", err))
    assert f"(exit {code}: {detail}" in str(exc.value) and hint in str(exc.value)
    assert "rsync of what failed" in str(exc.value)


def test_rsync_not_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(mosmu_rsync.shutil, "which", lambda name: None)
    fake = _FakeRun()
    monkeypatch.setattr(mosmu_rsync.subprocess, "run", fake)
    with pytest.raises(MirrorError, match="install it"):
        mosmu_rsync.rsync("/", str(tmp_path), ["a"], "w", timeout=1,
                            partial=str(tmp_path / "p"))
    assert fake.calls == [] and os.listdir(tmp_path) == ["cwd"]


def test_real_rsync_of_a_local_dir_and_a_missing_path(tmp_path):
    put(tmp_path / "up/t/a", b"12345")
    put(tmp_path / "up/t/b", b"xy")
    os.makedirs(tmp_path / "stage/partial")
    args = {"timeout": 5, "partial": str(tmp_path / "stage/partial")}
    count, size = mosmu_rsync.rsync(str(tmp_path / "up"), str(tmp_path / "dest"),
                                      ["t/a", "t/b"], "w", **args)
    assert count == 2 and size >= 7                          # %b: bytes on the wire
    assert get(tmp_path / "dest/t/a") == b"12345"
    assert mosmu_rsync.rsync(str(tmp_path / "up"), str(tmp_path / "dest"), ["t/a"], "w",
                               **args) == (0, 0)
    assert mosmu_rsync.rsync(str(tmp_path / "up"), str(tmp_path / "dest"), ["t/zz"], "w",
                               missing_ok=True, **args) == (0, 0)
    with pytest.raises(MirrorError, match=r"exit 23: .*t/zz.*files are missing upstream"):
        mosmu_rsync.rsync(str(tmp_path / "up"), str(tmp_path / "dest"), ["t/zz"], "w",
                            **args)
    assert os.listdir(tmp_path / "stage") == ["partial"]


# -- the sync, with a local directory as upstream --------------------------------------------

class Site:
    def __init__(self, tmp_path, tree=APT):
        self.up = str(tmp_path / "up")
        self.tree_dir = os.path.join(self.up, tree.upstream)
        self.www = str(tmp_path / "srv" / "www")
        self.staging = str(tmp_path / "srv" / "staging")
        self.tree = tree
        os.makedirs(self.tree_dir)

    def sync(self, repos=("updates",), **kwargs):
        return mosmu_mirror.sync_tree(self.up, self.www, self.tree, list(repos),
                                      staging_dir=self.staging, **kwargs)

    @property
    def link(self):
        return os.path.join(self.www, self.tree.path)

    def snaps(self):
        return sorted(os.listdir(os.path.join(self.www, ".snapshots", self.tree.path)))

    def stage(self):
        return sorted(os.listdir(os.path.join(self.staging, self.tree.path)))

    def served(self, rel):
        return get(os.path.join(self.link, rel))


def fingerprint(root):
    out = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            if os.path.islink(path):
                out[path] = os.readlink(path)
            elif os.path.isfile(path):
                out[path] = (get(path), os.stat(path).st_ino)
    return out


PKGS = {"a": ("1", b"a" * 10), "b": ("1", b"b" * 20)}


def test_sync_publishes_then_noop_then_updates_with_links(tmp_path):
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS)
    apt_suite(site.tree_dir, "mos8.0-proposed", {"p": ("1", b"p")})
    first = site.sync()
    sid = first.pop("snapshot")
    assert first.pop("seconds") >= 0
    pkgs_size = sum(os.path.getsize(os.path.join(site.tree_dir, f"dists/{UPD}/{n}"))
                    for n in ("main/binary-amd64/Packages", "main/binary-amd64/Packages.gz"))
    assert first == {"tree": "ubuntu/8.0", "path": APT.path, "state": "updated",
                     "snapshot_path": f".snapshots/{APT.path}/{sid}",
                     "suites": {UPD: "updated"}, "files": 4, "bytes": first["bytes"]}
    assert first["bytes"] >= pkgs_size + 30
    assert os.readlink(site.link) == f"../../.snapshots/{APT.path}/{sid}"
    assert site.served(deb_rel("a", "1")) == b"a" * 10
    assert sorted(os.listdir(os.path.join(site.link, "dists"))) == [UPD]
    assert not os.path.exists(os.path.join(site.link, "pool/main/p_1_all.deb"))
    assert site.stage() == ["lock", "partial"]
    before = fingerprint(site.www)
    again = site.sync()
    assert again["state"] == "unchanged" and again["snapshot"] == sid
    assert again["suites"] == {UPD: "unchanged"} and again["files"] == 0
    assert again["snapshot_path"] == first["snapshot_path"]
    assert fingerprint(site.www) == before and site.stage() == ["lock", "partial"]
    # a new package: a new snapshot, the unchanged file hard-linked, not fetched
    apt_suite(site.tree_dir, UPD, dict(PKGS, c=("1", b"c" * 5)))
    third = site.sync()
    assert third["state"] == "updated" and third["snapshot"] > sid
    assert third["files"] == 3                               # Packages, Packages.gz, c
    new = os.path.join(site.www, third["snapshot_path"])
    old = os.path.join(site.www, first["snapshot_path"])
    assert os.stat(os.path.join(new, deb_rel("a", "1"))).st_ino == \
        os.stat(os.path.join(old, deb_rel("a", "1"))).st_ino
    assert site.snaps() == [sid, third["snapshot"]]
    assert mosmu_mirror.missing(site.www, APT, ["updates", "proposed"]) == ["mos8.0-proposed"]


def test_sync_never_publishes_a_corrupt_pool_file(tmp_path):
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS)
    first = site.sync()
    before = fingerprint(site.www)
    apt_suite(site.tree_dir, UPD, dict(PKGS, c=("1", b"c" * 5)))
    put(os.path.join(site.tree_dir, deb_rel("c", "1")), b"C" * 5)   # corrupt copy upstream
    with pytest.raises(MirrorError, match=deb_rel("c", "1")):
        site.sync()
    assert fingerprint(site.www) == before and site.snaps() == [first["snapshot"]]
    assert site.stage() == ["lock", "partial"]
    put(os.path.join(site.tree_dir, deb_rel("c", "1")), b"c" * 5)   # repaired
    assert site.sync()["state"] == "updated"
    assert site.served(deb_rel("c", "1")) == b"c" * 5


def test_sync_refetches_a_file_rebuilt_with_the_same_size_and_mtime(tmp_path):
    site = Site(tmp_path)
    pkgs = dict(PKGS, a=("1", b"a" * 6000))
    apt_suite(site.tree_dir, UPD, pkgs)
    site.sync()
    path = os.path.join(site.tree_dir, deb_rel("a", "1"))
    mtime = os.stat(path).st_mtime_ns
    apt_suite(site.tree_dir, UPD, dict(pkgs, a=("1", b"A" * 6000)))
    os.utime(path, ns=(mtime, mtime))
    result = site.sync()
    assert result["state"] == "updated" and result["files"] == 3    # 2 indices + a again
    assert result["bytes"] >= 6000 + sum(
        os.path.getsize(os.path.join(site.tree_dir, f"dists/{UPD}/main/binary-amd64/{n}"))
        for n in ("Packages", "Packages.gz"))
    assert site.served(deb_rel("a", "1")) == b"A" * 6000
    assert site.stage() == ["lock", "partial"]


def test_sync_test_mode_writes_nothing(tmp_path):
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS)
    result = site.sync(test=True)
    assert result.pop("seconds") >= 0
    idx = sum(os.path.getsize(os.path.join(site.tree_dir, f"dists/{UPD}/{n}"))
              for n in ("main/binary-amd64/Packages", "main/binary-amd64/Packages.gz"))
    assert result == {"tree": "ubuntu/8.0", "path": APT.path, "state": "would update",
                      "snapshot": None, "snapshot_path": None, "suites": {UPD: "updated"},
                      "files": 4, "bytes": result["bytes"]}
    assert result["bytes"] >= idx + 30
    assert sorted(os.listdir(tmp_path)) == ["cwd", "up"]
    first = site.sync()
    before = fingerprint(tmp_path)
    assert site.sync(test=True)["state"] == "unchanged"
    apt_suite(site.tree_dir, UPD, dict(PKGS, c=("1", b"c" * 5)))
    before = fingerprint(str(tmp_path / "srv"))
    result = site.sync(test=True)
    assert (result["state"], result["snapshot"], result["files"]) == \
        ("would update", first["snapshot"], 3)
    assert fingerprint(str(tmp_path / "srv")) == before
    with pytest.raises(MirrorError, match=f"{APT.upstream}/dists/{SEC}/Release is missing"):
        site.sync(["security"], test=True)


def test_sync_keep_prunes_old_snapshots(tmp_path):
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS)
    site.sync(keep=1)
    apt_suite(site.tree_dir, UPD, dict(PKGS, c=("1", b"c")))
    second = site.sync(keep=1)
    assert site.snaps() == [second["snapshot"]]
    apt_suite(site.tree_dir, UPD, dict(PKGS, d=("1", b"d")))
    third = site.sync(keep=2)
    assert site.snaps() == [second["snapshot"], third["snapshot"]]
    assert mosmu_snapshots.rollback(site.www, APT, staging_dir=site.staging) == {
        "from": third["snapshot"], "to": second["snapshot"]}


def test_sync_missing_suite_carried_and_dropped_suites(tmp_path):
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS)
    with pytest.raises(MirrorError, match=f"{APT.upstream}/dists/{SEC}/Release is missing"):
        site.sync(["updates", "security"])
    assert not os.path.lexists(site.link)
    apt_suite(site.tree_dir, SEC, {"s": ("1", b"s")})
    site.sync(["updates", "security"])
    apt_suite(site.tree_dir, UPD, dict(PKGS, c=("1", b"c")))
    result = site.sync()
    assert result["suites"] == {UPD: "updated", SEC: "unchanged"}
    assert site.served(deb_rel("s", "1")) == b"s"
    for name in os.listdir(os.path.join(site.tree_dir, "dists", SEC)):
        if name == "Release":
            os.unlink(os.path.join(site.tree_dir, "dists", SEC, name))
    result = site.sync()
    assert result["suites"] == {UPD: "unchanged", SEC: "dropped"}
    assert result["state"] == "updated"
    assert sorted(os.listdir(os.path.join(site.link, "dists"))) == [UPD]


def test_sync_adopts_a_plain_dir_and_cleans_leftovers(tmp_path):
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS)
    apt_suite(site.link, UPD, PKGS)                       # an older mirror's plain dir
    apt_suite(site.link, "mos8.0", {"o": ("1", b"o")})    # with a suite no repo names
    stage = os.path.join(site.staging, APT.path)
    put(os.path.join(stage, "build-x/root/f"), b"")
    put(os.path.join(stage, "files-from-x"), b"")
    put(os.path.join(stage, "keepme"), b"")
    os.symlink("nowhere", site.link + ".mosmu-link-1")
    result = site.sync()
    assert result["state"] == "unchanged" and result["snapshot"].endswith("-adopted")
    assert site.snaps() == [result["snapshot"]] and os.path.islink(site.link)
    assert site.stage() == ["keepme", "lock", "partial"]
    assert sorted(os.listdir(os.path.dirname(site.link))) == ["8.0"]
    # the adopted files were never verified: a damaged one (same size and mtime, so rsync
    # links it) is hashed, found bad and fetched again
    snap = os.path.join(site.www, result["snapshot_path"])
    put(os.path.join(snap, deb_rel("a", "1")), b"X" * 10)
    apt_suite(site.tree_dir, UPD, dict(PKGS, c=("1", b"c")))
    for name in ("a", "b"):
        mtime = os.stat(os.path.join(site.tree_dir, deb_rel(name, "1"))).st_mtime_ns
        os.utime(os.path.join(snap, deb_rel(name, "1")), ns=(mtime, mtime))
    second = site.sync()
    assert second["files"] == 4                             # 2 indices, c, a again
    assert site.served(deb_rel("a", "1")) == b"a" * 10


def test_sync_signed_tree(tmp_path, keys):
    good, evil = keys
    tree = dataclasses.replace(APT, key=good.public)
    site = Site(tmp_path, tree)
    apt_suite(site.tree_dir, UPD, PKGS)
    dist = os.path.join(site.tree_dir, "dists", UPD)
    good.clearsign(os.path.join(dist, "Release"), os.path.join(dist, "InRelease"))
    assert site.sync()["state"] == "updated"
    apt_suite(site.tree_dir, UPD, dict(PKGS, c=("1", b"c")))
    evil.clearsign(os.path.join(dist, "Release"), os.path.join(dist, "InRelease"))
    before = fingerprint(site.www)
    with pytest.raises(MirrorError, match="InRelease"):
        site.sync()
    assert fingerprint(site.www) == before and site.stage() == ["lock", "partial"]


def test_sync_yum(tmp_path):
    site = Site(tmp_path, YUM)
    yum_repo(site.tree_dir, "updates", {"a": ("1", b"abc")})
    result = site.sync()
    assert result["state"] == "updated" and result["suites"] == {"updates": "updated"}
    assert result["files"] == 3                            # primary, other, the rpm
    assert get(os.path.join(site.link, rpm_rel("updates", "a", "1"))) == b"abc"
    assert site.sync()["state"] == "unchanged"


def test_sync_staging_on_another_filesystem_or_uncreatable(tmp_path, monkeypatch):
    site = Site(tmp_path)
    put(tmp_path / "file", b"")
    with pytest.raises(MirrorError, match="cannot create"):
        mosmu_mirror.sync_tree(site.up, str(tmp_path / "file/www"), APT, ["updates"])
    real = os.stat
    stage = os.path.join(site.staging, APT.path)

    def fake_stat(path, *args, **kwargs):
        st = real(path, *args, **kwargs)
        if str(path) == stage:
            return os.stat_result((st[0], st[1], st[2] + 1, *st[3:]))
        return st
    monkeypatch.setattr(mosmu_mirror.os, "stat", fake_stat)
    with pytest.raises(MirrorError, match="another filesystem"):
        site.sync()


@pytest.mark.parametrize("kwargs, match", [
    ({"keep": True}, "keep=True"), ({"keep": 1.5}, "keep=1.5"), ({"keep": "3"}, "keep='3'"),
    ({"timeout": True}, "timeout=True"), ({"timeout": 0.5}, "timeout=0.5"),
    ({"timeout": "9"}, "timeout='9'"), ({"bwlimit": 0}, "bwlimit=0"),
    ({"bwlimit": True}, "bwlimit=True"), ({"bwlimit": 1.5}, "bwlimit=1.5"),
    ({"tree": dataclasses.replace(APT, backend="x")}, "'x'")])
def test_sync_arguments_are_refused_before_any_side_effect(tmp_path, kwargs, match):
    site = Site(tmp_path)
    args = {"upstream": site.up, "mirror_root": site.www, "tree": APT, "repos": ["updates"],
            **kwargs}
    with pytest.raises(MirrorError, match=match):
        mosmu_mirror.sync_tree(**args)
    assert sorted(os.listdir(tmp_path)) == ["cwd", "up"]


def test_sync_timeout_and_bwlimit_reach_rsync(tmp_path, monkeypatch):
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS)
    seen = []
    real = mosmu_rsync.subprocess.run

    def spy(argv, **kwargs):
        seen.append(argv)
        return real(argv, **kwargs)
    monkeypatch.setattr(mosmu_rsync.subprocess, "run", spy)
    site.sync(timeout=1.9, bwlimit=100, keep=1)
    assert all("--timeout=1" in argv and "--bwlimit=100" in argv for argv in seen)
    assert len(seen) == 3


def test_sync_test_mode_counts_what_would_travel(tmp_path):
    """An older mirror's plain dir holds a and b exactly as upstream (size, mtime): test mode
    neither adopts it nor counts a and b (rsync would link them), only the indices and c."""
    site = Site(tmp_path)
    big = {"a": ("1", b"a" * 3000), "b": ("1", b"b" * 5000)}
    apt_suite(site.link, UPD, big)
    apt_suite(site.tree_dir, UPD, dict(big, c=("1", b"c" * 7000)))
    for name in ("a", "b"):
        mtime = os.stat(os.path.join(site.tree_dir, deb_rel(name, "1"))).st_mtime_ns
        os.utime(os.path.join(site.link, deb_rel(name, "1")), ns=(mtime, mtime))
    before = fingerprint(str(tmp_path))
    result = site.sync(test=True)
    assert (result["state"], result["snapshot"], result["files"]) == ("would update", None, 3)
    assert result["bytes"] >= 7000 + sum(
        os.path.getsize(os.path.join(site.tree_dir, f"dists/{UPD}/main/binary-amd64/{n}"))
        for n in ("Packages", "Packages.gz"))
    assert fingerprint(str(tmp_path)) == before


def test_sync_test_mode_unchanged_and_indices_only(tmp_path):
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS)
    first = site.sync()
    result = site.sync(test=True)
    assert result.pop("seconds") >= 0
    assert result == {"tree": "ubuntu/8.0", "path": APT.path, "state": "unchanged",
                      "snapshot": first["snapshot"], "snapshot_path": first["snapshot_path"],
                      "suites": {UPD: "unchanged"}, "files": 0, "bytes": 0}
    apt_suite(site.tree_dir, UPD, {"a": PKGS["a"]})              # b removed: nothing to fetch
    result = site.sync(test=True)
    assert (result["state"], result["files"]) == ("would update", 2)


def test_an_index_release_lists_but_upstream_lacks_is_skipped(tmp_path):
    """Release may list compressions upstream does not ship (Packages.xz): rsync must not
    fail on them, in test mode or for real."""
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS, forms=("", ".gz", ".xz"))
    os.unlink(os.path.join(site.tree_dir, f"dists/{UPD}/main/binary-amd64/Packages.xz"))
    assert site.sync(test=True)["files"] == 4
    assert site.sync()["files"] == 4
    assert site.served(deb_rel("b", "1")) == b"b" * 20


def test_test_mode_counts_a_trusted_file_upstream_touched_as_not_travelling(tmp_path):
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS)
    site.sync()
    os.utime(os.path.join(site.tree_dir, deb_rel("a", "1")), (1_000_000, 1_000_000))
    apt_suite(site.tree_dir, UPD, {"a": PKGS["a"]})
    assert site.sync(test=True)["files"] == 2            # the indices; a is linked, not sent
    assert site.sync()["files"] == 2


def test_sync_hashes_indices_once_and_only_pool_files_not_verified_before(tmp_path, monkeypatch):
    site = Site(tmp_path)
    apt_suite(site.tree_dir, UPD, PKGS)
    site.sync()
    apt_suite(site.tree_dir, UPD, dict(PKGS, c=("1", b"c" * 5)))
    hashed = []
    real = mosmu_index.file_digest

    def spy(path, algo="sha256"):
        hashed.append(os.path.relpath(str(path), os.path.join(site.staging, APT.path)))
        return real(path, algo)
    monkeypatch.setattr(mosmu_index, "file_digest", spy)
    site.sync()
    assert sorted(h.split(f"/{APT.upstream}/", 1)[1] for h in hashed) == [
        f"dists/{UPD}/main/binary-amd64/Packages", f"dists/{UPD}/main/binary-amd64/Packages.gz",
        deb_rel("c", "1")]


def test_apt_release_without_a_sha256_field_lists_nothing(tmp_path):
    put(tmp_path / "dists/s/Release", "Suite: s\nMD5Sum:\n 00 1 main/binary-amd64/Packages\n")
    assert APT_B.indices(str(tmp_path), "s") == []
    with pytest.raises(MirrorError, match="lists no Packages index"):
        APT_B.check(str(tmp_path), "s")


def test_apt_packages_keeps_the_highest_version_whichever_suite_comes_first(tmp_path):
    apt_suite(tmp_path, UPD, {"e": ("1", b"e1"), "f": ("3", b"f3")})
    apt_suite(tmp_path, SEC, {"e": ("2", b"e2"), "f": ("2", b"f2")})
    assert APT_B.packages(str(tmp_path)) == {"e:all": "2", "f:all": "3"}


def test_apt_check_reads_stanzas_after_one_without_a_filename(tmp_path):
    dist = tmp_path / "dists" / UPD
    put(tmp_path / "pool/b.deb", b"bb")
    put(dist / "main/binary-amd64/Packages",
        "Package: a\nVersion: 1\n\n" + stanza("b", "1", "pool/b.deb", b"bb"))
    release(str(dist), ["main/binary-amd64/Packages"])
    assert APT_B.check(str(tmp_path), UPD) == {"pool/b.deb": (2, "sha256", sha(b"bb"))}


def test_link_known_makes_directories_the_web_server_can_traverse(tmp_path):
    prev = _snap(tmp_path, IDS[0], {"a": ("1", b"a")})
    new = str(tmp_path / "new")
    entry = {deb_rel("a", "1"): (1, "sha256", sha(b"a"))}
    old = os.umask(0)
    try:
        assert mosmu_mirror._link_known(prev, new, entry, entry) == []
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(os.path.join(new, "pool/main")).st_mode) == 0o755
