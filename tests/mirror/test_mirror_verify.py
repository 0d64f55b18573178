"""sync_tree(verify=True) and the update pre-flight on damaged published snapshots: real
.debs and rpms, real indices, a real rsync daemon (issue 16, item 4).

A file deleted or damaged inside the published snapshot on the master (not upstream) is
invisible to a plain sync, which compares only upstream's anchors. ``verify_published``
finds it (by stat alone for the pre-flight, by SHA256 too for ``verify=True``), and
``verify=True`` repairs it through a new snapshot, leaving the damaged one as it was.
"""

import os
import shutil

import pytest

import mosmu_mirror
import mosmu_verify
from mosmu_errors import MirrorError
from tests.mirror import helpers

UPDATES = "mos8.0-updates"
PKGS = {"nova-common": "1.1", "python-nova": "1.1", "neutron-common": "1.1"}
RPMS = {"mos-dummy": "1.1", "nova-common": "1.1"}
DEB = "pool/main/n/nova-common/nova-common_1.1_all.deb"
RPM = "updates/Packages/nova-common-1.1-1.noarch.rpm"
PACKAGES_GZ = f"dists/{UPDATES}/main/binary-amd64/Packages.gz"
HAS_YUM = bool(shutil.which("rpmbuild") and shutil.which("createrepo_c"))


@pytest.fixture
def apt(site):
    up = helpers.AptUpstream(site.upstream)
    up.publish(**{UPDATES: dict(PKGS)})
    return up


@pytest.fixture
def yum(site):
    up = helpers.YumUpstream(site.upstream, site.tmp / "rpmwork")
    os.makedirs(up.work)
    up.publish(dict(RPMS))
    return up


def tree_of(distro):
    return helpers.tree(distro, "8.0")


def sync(daemon, site, distro, **kwargs):
    return mosmu_mirror.sync_tree(daemon.url, site.www, tree_of(distro), ["updates"],
                                  staging_dir=site.staging, **kwargs)


def upstream_tree(site, distro):
    return os.path.join(site.upstream, helpers.APT_PATH if distro == "ubuntu"
                        else helpers.YUM_PATH)


def primary_of(snap):
    repodata = os.path.join(snap, "updates", "repodata")
    return "updates/repodata/" + next(f for f in os.listdir(repodata)
                                      if f.endswith("-primary.xml.gz"))


# -- kinds of damage: each changes one file of a snapshot dir in place -----------------------

def delete(snap, rel):
    os.unlink(os.path.join(snap, rel))


def truncate(snap, rel):
    with open(os.path.join(snap, rel), "r+b") as handle:
        handle.truncate(os.path.getsize(os.path.join(snap, rel)) // 2)


def corrupt_same_size_and_mtime(snap, rel):
    """The nastiest: rsync's quick check (size + mtime) cannot tell it from the good copy."""
    path = os.path.join(snap, rel)
    st = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(st.st_size - 8)
        handle.write(b"garbage!")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def add_stray(snap, rel):
    with open(os.path.join(snap, os.path.dirname(rel), "stray-file.deb"), "wb") as handle:
        handle.write(b"not named by any index")


# -- the named defect ------------------------------------------------------------------------

@pytest.mark.skipif(not HAS_YUM, reason="needs rpmbuild and createrepo_c")
def test_a_deleted_deb_and_a_truncated_rpm_are_found_and_repaired_through_a_new_snapshot(
        apt, yum, daemon, site):
    """Regression (issue 16): a .deb deleted from the published snapshot (nodes get a 404)
    and a truncated .rpm were never noticed: mosmu.sync compared only upstream's anchors,
    said "unchanged (0 file(s))", and the runbook's fix (sync again) changed nothing."""
    first = {d: sync(daemon, site, d) for d in ("ubuntu", "centos")}
    old = {d: os.path.join(site.www, first[d]["snapshot_path"]) for d in first}
    delete(old["ubuntu"], DEB)
    truncate(old["centos"], RPM)
    before = {d: helpers.full_fingerprint(old[d]) for d in old}

    # a plain sync still only compares upstream's anchors: it need not verify
    for distro in old:
        plain = sync(daemon, site, distro)
        assert plain["state"] == "unchanged" and plain["files"] == 0

    # the update pre-flight (stat only) finds both and names the repair command
    apt_damage = mosmu_mirror.verify_published(site.www, tree_of("ubuntu"), ["updates"],
                                               hashing=False)
    assert apt_damage == [{"path": f"{first['ubuntu']['snapshot_path']}/{DEB}",
                           "problem": "missing",
                           "detail": "is missing though its index lists it"}]
    yum_damage = mosmu_mirror.verify_published(site.www, tree_of("centos"), ["updates"],
                                               hashing=False)
    assert [(p["path"], p["problem"]) for p in yum_damage] == [
        (f"{first['centos']['snapshot_path']}/{RPM}", "size")]
    message = mosmu_mirror.damaged_message(site.www, tree_of("ubuntu"), apt_damage)
    assert f"{first['ubuntu']['snapshot_path']}/{DEB}" in message
    assert "has 1 missing or damaged file(s)" in message
    assert message.endswith("salt-run mosmu.sync mos_version=8.0 distro=ubuntu verify=True")

    for distro, rel in (("ubuntu", DEB), ("centos", RPM)):
        repaired = sync(daemon, site, distro, verify=True)
        assert repaired["state"] == "repaired"
        assert repaired["snapshot"] > first[distro]["snapshot"]
        assert repaired["repaired"] == [f"{repaired['snapshot_path']}/{rel}"]
        assert [p["path"] for p in repaired["problems"]] == [
            f"{first[distro]['snapshot_path']}/{rel}"]
        link = os.path.join(site.www, tree_of(distro).path)
        assert os.readlink(link).endswith(repaired["snapshot_path"])
        new = os.path.join(site.www, repaired["snapshot_path"])
        backend = mosmu_mirror.INDEX_FORMATS[tree_of(distro).backend]
        unit = UPDATES if distro == "ubuntu" else "updates"
        assert repaired["files"] == len(backend.indices(new, unit)) + 1   # not the pool
        assert helpers.read_bytes(os.path.join(new, rel)) == helpers.read_bytes(
            os.path.join(upstream_tree(site, distro), rel))
        assert mosmu_mirror.verify_published(site.www, tree_of(distro)) == []
        assert helpers.full_fingerprint(old[distro]) == before[distro]   # never written

        again = sync(daemon, site, distro, verify=True)
        assert again["state"] == "verified" and again["problems"] == []
        assert again["snapshot"] == repaired["snapshot"] and again["files"] == 0


def test_verify_in_test_mode_reports_the_problems_and_changes_nothing_on_disk(apt, daemon,
                                                                             site):
    first = sync(daemon, site, "ubuntu")
    snap = os.path.join(site.www, first["snapshot_path"])
    delete(snap, DEB)
    corrupt_same_size_and_mtime(snap, "pool/main/p/python-nova/python-nova_1.1_all.deb")
    srv = site.tmp / "srv"                      # the web root and the staging dir
    before = helpers.full_fingerprint(srv)
    would = sync(daemon, site, "ubuntu", verify=True, test=True)
    assert helpers.full_fingerprint(srv) == before
    assert would["state"] == "would repair" and would["snapshot"] == first["snapshot"]
    assert sorted((p["path"], p["problem"]) for p in would["problems"]) == [
        (f"{first['snapshot_path']}/{DEB}", "missing"),
        (f"{first['snapshot_path']}/pool/main/p/python-nova/python-nova_1.1_all.deb",
         "digest")]
    assert would["would_repair"] == [
        f"{helpers.APT_PATH}/{DEB}",
        f"{helpers.APT_PATH}/pool/main/p/python-nova/python-nova_1.1_all.deb"]
    assert would["files"] >= 2 and would["bytes"] > 0      # the two files (and the indices)
    assert os.listdir(os.path.join(site.www, ".snapshots", helpers.APT_PATH)) == [
        first["snapshot"]]


def test_verify_when_upstream_lacks_the_damaged_file_says_so_and_publishes_nothing(
        apt, daemon, site):
    first = sync(daemon, site, "ubuntu")
    delete(os.path.join(site.www, first["snapshot_path"]), DEB)
    os.unlink(apt.pool("nova-common", "1.1"))              # upstream lost it too
    srv = site.tmp / "srv"
    before = helpers.full_fingerprint(site.www)
    for test in (True, False):
        with pytest.raises(MirrorError, match=rf"upstream lacks {helpers.APT_PATH}/{DEB}, "
                                              r"missing or damaged in the published snapshot"):
            sync(daemon, site, "ubuntu", verify=True, test=test)
        assert helpers.full_fingerprint(site.www) == before
    stage = os.path.join(srv, "staging", helpers.APT_PATH)
    assert [e for e in os.listdir(stage) if e.startswith("build-")] == []


def test_verify_with_upstream_changed_too_repairs_and_updates_in_one_snapshot(apt, daemon,
                                                                             site):
    first = sync(daemon, site, "ubuntu")
    truncate(os.path.join(site.www, first["snapshot_path"]), DEB)
    apt.publish(**{UPDATES: dict(PKGS, **{"neutron-common": "1.3"})})
    result = sync(daemon, site, "ubuntu", verify=True)
    assert result["state"] == "repaired" and result["suites"] == {UPDATES: "updated"}
    assert mosmu_mirror.verify_published(site.www, tree_of("ubuntu")) == []
    new = os.path.join(site.www, result["snapshot_path"])
    assert os.path.isfile(os.path.join(new, "pool/main/n/neutron-common/"
                                            "neutron-common_1.3_all.deb"))


def test_verify_on_an_empty_mirror_is_a_plain_first_sync(apt, daemon, site):
    result = sync(daemon, site, "ubuntu", verify=True)
    assert result["state"] == "updated" and result["problems"] == []
    assert sync(daemon, site, "ubuntu", verify=True)["state"] == "verified"


def test_a_plain_sync_does_not_link_a_truncated_published_copy_into_the_next_snapshot(
        apt, daemon, site):
    """Regression: a plain sync after upstream changed hard-linked every file whose index
    entry did not change from the published snapshot, damaged or not; a truncated copy then
    failed the new snapshot's check with "... has N bytes, its index says M (truncated or
    mid-update); nothing was published", blaming upstream, sync after sync."""
    first = sync(daemon, site, "ubuntu")
    old = os.path.join(site.www, first["snapshot_path"])
    truncate(old, DEB)
    apt.publish(**{UPDATES: dict(PKGS, **{"neutron-common": "1.3"})})
    result = sync(daemon, site, "ubuntu")
    assert result["state"] == "updated"
    new = os.path.join(site.www, result["snapshot_path"])
    assert helpers.read_bytes(os.path.join(new, DEB)) == helpers.read_bytes(
        apt.pool("nova-common", "1.1"))
    assert os.stat(os.path.join(new, DEB)).st_ino != os.stat(os.path.join(old, DEB)).st_ino


# -- every kind of damage, both backends -----------------------------------------------------

def _yum_case(*args):
    return pytest.param(*args, marks=pytest.mark.skipif(not HAS_YUM,
                                                        reason="needs rpmbuild and createrepo_c"))


@pytest.mark.parametrize("distro, damage, rel, problem, preflight", [
    # problem: what verify=True finds; preflight: what the stat-only pre-flight finds
    ("ubuntu", delete, DEB, "missing", "missing"),
    ("ubuntu", truncate, DEB, "size", "size"),
    ("ubuntu", corrupt_same_size_and_mtime, DEB, "digest", None),   # stat cannot see it
    ("ubuntu", delete, PACKAGES_GZ, "missing", None),   # Packages is there: apt falls back
    ("ubuntu", truncate, PACKAGES_GZ, "size", "size"),
    ("ubuntu", corrupt_same_size_and_mtime, PACKAGES_GZ, "digest", "unreadable"),
    ("ubuntu", add_stray, DEB, None, None),
    _yum_case("centos", delete, RPM, "missing", "missing"),
    _yum_case("centos", truncate, RPM, "size", "size"),
    _yum_case("centos", corrupt_same_size_and_mtime, RPM, "digest", None),
    _yum_case("centos", delete, "primary", "missing", "missing"),
    _yum_case("centos", truncate, "primary", "size", "size"),
    _yum_case("centos", add_stray, RPM, None, None),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_each_kind_of_damage_is_found_and_repaired_and_test_mode_changes_nothing(
        request, daemon, site, distro, damage, rel, problem, preflight):
    request.getfixturevalue("apt" if distro == "ubuntu" else "yum")
    first = sync(daemon, site, distro)
    old = os.path.join(site.www, first["snapshot_path"])
    rel = primary_of(old) if rel == "primary" else rel
    damage(old, rel)
    damaged = helpers.full_fingerprint(old)
    path = f"{first['snapshot_path']}/{rel}"
    expected = [] if problem is None else [(path, problem)]

    seen = mosmu_mirror.verify_published(site.www, tree_of(distro), ["updates"],
                                         hashing=False)
    assert [(p["path"], p["problem"]) for p in seen] == ([] if preflight is None
                                                         else [(path, preflight)])
    hashed = mosmu_mirror.verify_published(site.www, tree_of(distro), ["updates"])
    if problem == "missing" and rel == PACKAGES_GZ:
        assert hashed == []           # only upstream knows it should be there: verify=True
    else:
        assert [(p["path"], p["problem"]) for p in hashed] == expected

    srv = site.tmp / "srv"
    before = helpers.full_fingerprint(srv)
    would = sync(daemon, site, distro, verify=True, test=True)
    assert helpers.full_fingerprint(srv) == before
    assert [(p["path"], p["problem"]) for p in would["problems"]] == expected
    assert would["state"] == ("verified" if problem is None else "would repair")

    result = sync(daemon, site, distro, verify=True)
    assert [(p["path"], p["problem"]) for p in result["problems"]] == expected
    assert helpers.full_fingerprint(old) == damaged          # the damaged one: as it was
    if problem is None:
        assert result["state"] == "verified" and result["snapshot"] == first["snapshot"]
        return
    assert result["state"] == "repaired" and result["snapshot"] != first["snapshot"]
    new = os.path.join(site.www, result["snapshot_path"])
    assert os.readlink(os.path.join(site.www, tree_of(distro).path)).endswith(
        result["snapshot_path"])
    assert helpers.read_bytes(os.path.join(new, rel)) == helpers.read_bytes(
        os.path.join(upstream_tree(site, distro), rel))
    if os.path.exists(os.path.join(old, rel)):              # a fresh copy, never a link
        assert os.stat(os.path.join(new, rel)).st_ino != os.stat(os.path.join(old, rel)).st_ino
    backend = mosmu_mirror.INDEX_FORMATS["apt" if distro == "ubuntu" else "yum"]
    stats = mosmu_verify.verify_snapshot(backend, new, [UPDATES if distro == "ubuntu"
                                                        else "updates"])
    assert stats["hashed"] == stats["files"] > 0
    assert sync(daemon, site, distro, verify=True)["state"] == "verified"
