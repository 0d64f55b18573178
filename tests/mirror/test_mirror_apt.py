"""sync_tree on an apt tree: real .debs, real apt-ftparchive indices, a real rsync daemon."""

import os
import signal
import time

import pytest

import mosmu_mirror
import mosmu_snapshots
import mosmu_verify
from mosmu_errors import MirrorError
from tests.mirror import helpers

UPDATES = "mos8.0-updates"
SECURITY = "mos8.0-security"
PKGS = {"nova-common": "1.1", "python-nova": "1.1", "neutron-common": "1.1"}


@pytest.fixture
def apt(site):
    up = helpers.AptUpstream(site.upstream)
    up.publish(**{UPDATES: dict(PKGS), SECURITY: {"python-nova": "1.1"},
                  "mos8.0-proposed": {"nova-common": "1.2"}})
    return up


@pytest.fixture
def tree():
    return helpers.tree()


def sync(daemon, site, tree, repos=("updates",), **kwargs):
    return mosmu_mirror.sync_tree(daemon.url, site.www, tree, list(repos),
                                  staging_dir=site.staging, **kwargs)


def served(site, rel=""):
    """Path under the published tree (through the symlink, as the web server sees it)."""
    base = os.path.join(site.www, helpers.APT_PATH)
    return os.path.join(base, rel) if rel else base


def deb_rel(name, version):
    return f"pool/main/{name[0]}/{name}/{name}_{version}_all.deb"


def staging_builds(site):
    stage = os.path.join(site.staging, helpers.APT_PATH)
    return [e for e in os.listdir(stage) if e.startswith("build-")] if os.path.isdir(stage) else []


def test_first_sync_publishes_only_what_the_plan_needs_then_noop(apt, daemon, site, tree):
    first = sync(daemon, site, tree)
    assert first["state"] == "updated" and first["suites"] == {UPDATES: "updated"}
    assert os.path.islink(served(site))
    assert os.readlink(served(site)).endswith(first["snapshot_path"])
    assert os.path.isdir(os.path.join(site.www, first["snapshot_path"]))
    assert mosmu_snapshots.current_snapshot(site.www, tree) == first["snapshot_path"]
    debs = sorted(f for _, _, files in os.walk(served(site) + "/") for f in files
                  if f.endswith(".deb"))
    assert debs == sorted(f"{n}_{v}_all.deb" for n, v in PKGS.items())   # no proposed 1.2
    assert sorted(os.listdir(served(site, "dists"))) == [UPDATES]
    assert first["files"] >= 3 and first["bytes"] > 0
    snap = os.path.join(site.www, first["snapshot_path"])
    stats = mosmu_verify.verify_snapshot(mosmu_mirror.INDEX_FORMATS["apt"], snap, [UPDATES])
    assert stats["files"] == 3 and stats["hashed"] == 3

    before = helpers.fingerprint(site.www)
    second = sync(daemon, site, tree)
    assert second["state"] == "unchanged" and second["suites"] == {UPDATES: "unchanged"}
    assert second["snapshot"] == first["snapshot"] and second["files"] == 0
    assert helpers.fingerprint(site.www) == before
    assert staging_builds(site) == []


def test_changed_packages_make_a_new_snapshot_with_unchanged_files_hard_linked(apt, daemon,
                                                                               site, tree):
    first = sync(daemon, site, tree)
    apt.publish(**{UPDATES: dict(PKGS, **{"nova-common": "1.3"})})
    second = sync(daemon, site, tree)
    assert second["state"] == "updated" and second["snapshot"] != first["snapshot"]
    assert second["snapshot"] > first["snapshot"]
    old = os.path.join(site.www, first["snapshot_path"])
    new = os.path.join(site.www, second["snapshot_path"])
    same = deb_rel("python-nova", "1.1")
    assert os.stat(os.path.join(old, same)).st_ino == os.stat(os.path.join(new, same)).st_ino
    assert os.path.isfile(os.path.join(new, deb_rel("nova-common", "1.3")))
    assert not os.path.exists(os.path.join(new, deb_rel("nova-common", "1.1")))
    assert os.path.isfile(os.path.join(old, deb_rel("nova-common", "1.1")))  # old one kept
    # one .deb and the changed indices travelled, not the tree
    assert 1 <= second["files"] <= 6
    history = mosmu_mirror.snapshots(site.www, tree)
    assert [h["id"] for h in history] == [first["snapshot"], second["snapshot"]]
    assert history[1]["current"] and not history[0]["current"]
    assert history[1]["upgraded"] == ["nova-common:all 1.1 -> 1.3"]
    assert history[1]["added"] == [] and history[1]["removed"] == []
    assert len(history[0]["added"]) == 3


def test_suites_already_published_are_kept_when_a_plan_needs_fewer(apt, daemon, site, tree):
    sync(daemon, site, tree, repos=("updates", "security"))
    apt.publish(**{UPDATES: dict(PKGS, **{"nova-common": "1.3"})})
    result = sync(daemon, site, tree, repos=("updates",))
    assert result["suites"] == {UPDATES: "updated", SECURITY: "unchanged"}
    assert sorted(os.listdir(served(site, "dists"))) == [SECURITY, UPDATES]
    assert mosmu_mirror.missing(site.www, tree, ["updates", "security"]) == []


def test_corrupt_upstream_copy_is_never_published_and_its_repair_is(apt, daemon, site, tree):
    """Upstream republishes an already-published file (new content, new Release) but its copy
    is corrupt: the sync fails and the published tree stays byte-identical. Upstream then
    repairs it with the same size and mtime as the bad copy: the next sync must fetch and
    publish it (rsync's quick check must not skip it)."""
    sync(daemon, site, tree)
    before = helpers.fingerprint(site.www)
    victim = apt.pool("nova-common", "1.1")
    os.unlink(victim)
    apt.pads["nova-common"] = 300                    # rebuilt: new content and size
    apt.publish(**{UPDATES: dict(PKGS, **{"neutron-common": "1.3"})})
    with open(victim, "rb") as handle:
        good = handle.read()
    with open(victim, "r+b") as handle:
        handle.seek(len(good) - 10)
        handle.write(b"0123456789")
    bad_mtime = os.stat(victim).st_mtime_ns + 100 * 10**9    # as a real re-upload would
    os.utime(victim, ns=(bad_mtime, bad_mtime))
    with pytest.raises(MirrorError, match=r"nova-common_1\.1_all\.deb does not match"):
        sync(daemon, site, tree)
    assert helpers.fingerprint(site.www) == before
    assert staging_builds(site) == []

    with open(victim, "r+b") as handle:
        handle.write(good)
    os.utime(victim, ns=(bad_mtime, bad_mtime))
    result = sync(daemon, site, tree)
    assert result["state"] == "updated"
    with open(served(site, deb_rel("nova-common", "1.1")), "rb") as handle:
        assert handle.read() == good
    with open(served(site, deb_rel("neutron-common", "1.3")), "rb") as handle:
        assert handle.read() == helpers.read_bytes(apt.pool("neutron-common", "1.3"))


def test_a_file_whose_index_entry_did_not_change_is_linked_not_fetched(apt, daemon, site,
                                                                       tree):
    """A published file keeps its verified copy while its index entry is unchanged, even if
    upstream's copy went bad meanwhile: it is not downloaded again."""
    first = sync(daemon, site, tree)
    apt.publish(**{UPDATES: dict(PKGS, **{"neutron-common": "1.3"})})
    victim = apt.pool("nova-common", "1.1")
    with open(victim, "r+b") as handle:
        handle.write(b"garbage!")
    assert sync(daemon, site, tree)["state"] == "updated"
    old = os.path.join(site.www, first["snapshot_path"], deb_rel("nova-common", "1.1"))
    new = served(site, deb_rel("nova-common", "1.1"))
    assert os.stat(old).st_ino == os.stat(new).st_ino
    with open(new, "rb") as handle:
        assert not handle.read().startswith(b"garbage!")


def test_rebuilt_file_with_same_size_and_mtime_is_fetched_again(apt, daemon, site, tree):
    """Regression: --link-dest's quick check hard-links an upstream file whose content changed
    but whose size and mtime did not; the new index's SHA256 must make us fetch it again."""
    first = sync(daemon, site, tree)
    victim = apt.pool("python-nova", "1.1")
    stat = os.stat(victim)
    with open(victim, "r+b") as handle:         # same size, new content, index rebuilt
        handle.seek(stat.st_size - 4)
        handle.write(b"XYZW")
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    apt.publish()
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    result = sync(daemon, site, tree)
    assert result["state"] == "updated"
    new = served(site, deb_rel("python-nova", "1.1"))
    with open(new, "rb") as handle:
        assert handle.read().endswith(b"XYZW")
    old = os.path.join(site.www, first["snapshot_path"], deb_rel("python-nova", "1.1"))
    assert os.stat(old).st_ino != os.stat(new).st_ino
    with open(old, "rb") as handle:
        assert not handle.read().endswith(b"XYZW")   # the old snapshot was not written


def test_missing_upstream_file_is_named_and_nothing_published(apt, daemon, site, tree):
    os.unlink(apt.pool("python-nova", "1.1"))
    with pytest.raises(MirrorError, match=r"python-nova_1\.1_all\.deb"):
        sync(daemon, site, tree)
    assert not os.path.lexists(served(site))
    assert staging_builds(site) == []


def test_missing_suite_upstream_is_named(apt, daemon, site, tree):
    with pytest.raises(MirrorError, match=r"dists/mos8\.0-holdback/Release is missing"):
        sync(daemon, site, tree, repos=("updates", "holdback"))
    assert not os.path.lexists(served(site))


def test_truncated_index_fails_and_keeps_the_published_tree(apt, daemon, site, tree):
    sync(daemon, site, tree)
    before = helpers.fingerprint(site.www)
    apt.publish(**{UPDATES: dict(PKGS, **{"nova-common": "1.3"})})
    index = os.path.join(apt.tree, "dists", UPDATES, "main/binary-amd64/Packages.gz")
    with open(index, "r+b") as handle:
        handle.truncate(os.path.getsize(index) // 2)
    with pytest.raises(MirrorError, match=r"main/binary-amd64/Packages\.gz does not match"):
        sync(daemon, site, tree)
    assert helpers.fingerprint(site.www) == before


def test_release_without_packages_index_fails(apt, daemon, site, tree):
    apt.release(UPDATES, patterns="Contents*")
    with pytest.raises(MirrorError, match="lists no Packages index"):
        sync(daemon, site, tree)


def test_signed_tree_syncs_and_a_tampered_release_does_not(site, daemon, gpg):
    up = helpers.AptUpstream(site.upstream, gpg=gpg)
    up.publish(**{UPDATES: dict(PKGS)})
    tree = helpers.tree(key=gpg.public)
    assert sync(daemon, site, tree)["state"] == "updated"
    before = helpers.fingerprint(site.www)
    # upstream adds a package to Release without re-signing it
    up.gpg = None
    inrelease = helpers.read_bytes(os.path.join(up.tree, "dists", UPDATES, "InRelease"))
    detached = helpers.read_bytes(os.path.join(up.tree, "dists", UPDATES, "Release.gpg"))
    up.publish(**{UPDATES: dict(PKGS, **{"nova-common": "1.3"})})
    with open(os.path.join(up.tree, "dists", UPDATES, "Release.gpg"), "wb") as handle:
        handle.write(detached)
    with pytest.raises(MirrorError, match=r"Release\.gpg: bad or unknown signature"):
        sync(daemon, site, tree)
    with open(os.path.join(up.tree, "dists", UPDATES, "InRelease"), "wb") as handle:
        handle.write(inrelease)
    with pytest.raises(MirrorError, match=r"InRelease and Release differ|bad or unknown"):
        sync(daemon, site, tree)
    assert helpers.fingerprint(site.www) == before


def test_signature_by_another_key_or_none_fails(site, daemon, gpg, tmp_path):
    other = helpers.Gpg(tmp_path / "other", uid="someone else <x@mosmu.invalid>")
    try:
        up = helpers.AptUpstream(site.upstream, gpg=other)
        up.publish(**{UPDATES: dict(PKGS)})
        with pytest.raises(MirrorError, match="InRelease: bad or unknown signature"):
            sync(daemon, site, helpers.tree(key=gpg.public))
        up.gpg = None
        up.release(UPDATES)
        with pytest.raises(MirrorError, match=r"neither InRelease nor Release\.gpg"):
            sync(daemon, site, helpers.tree(key=gpg.public))
        assert not os.path.lexists(served(site))
    finally:
        other.close()


def test_rollback_and_pruning_to_keep(apt, daemon, site, tree):
    ids = [sync(daemon, site, tree, keep=2)["snapshot"]]
    for version in ("1.3", "1.4", "1.5"):
        apt.publish(**{UPDATES: dict(PKGS, **{"nova-common": version})})
        ids.append(sync(daemon, site, tree, keep=2)["snapshot"])
    kept = [h["id"] for h in mosmu_mirror.snapshots(site.www, tree)]
    assert kept == ids[-2:]
    assert os.path.isfile(served(site, deb_rel("nova-common", "1.5")))
    assert mosmu_snapshots.rollback(site.www, tree, staging_dir=site.staging) == {
        "from": ids[-1], "to": ids[-2]}
    assert os.path.isfile(served(site, deb_rel("nova-common", "1.4")))
    assert not os.path.exists(served(site, deb_rel("nova-common", "1.5")))
    with pytest.raises(MirrorError, match="oldest kept"):
        mosmu_snapshots.rollback(site.www, tree, staging_dir=site.staging)
    # a sync after a rollback republishes upstream and discards the snapshot rolled back
    # from, so the next rollback returns to the one the operator chose
    result = sync(daemon, site, tree, keep=2)
    assert result["state"] == "updated"
    assert os.path.isfile(served(site, deb_rel("nova-common", "1.5")))
    assert [h["id"] for h in mosmu_mirror.snapshots(site.www, tree)] == [ids[-2],
                                                                          result["snapshot"]]


def test_a_plain_directory_from_an_older_mirror_is_adopted_without_download(apt, daemon,
                                                                            site, tree):
    os.makedirs(served(site))
    helpers.run(["rsync", "-a", f"{apt.tree}/dists", f"{apt.tree}/pool", served(site) + "/"])
    inode = os.stat(served(site, deb_rel("nova-common", "1.1"))).st_ino
    result = sync(daemon, site, tree)
    assert result["state"] == "unchanged" and result["snapshot"].endswith("-adopted")
    assert os.path.islink(served(site))
    assert os.stat(served(site, deb_rel("nova-common", "1.1"))).st_ino == inode
    apt.publish(**{UPDATES: dict(PKGS, **{"nova-common": "1.3"})})
    result = sync(daemon, site, tree)
    assert result["state"] == "updated"
    # an adopted snapshot was never verified by mosmu: everything in the next one is hashed
    assert os.stat(served(site, deb_rel("python-nova", "1.1"))).st_nlink == 2


def test_missing_lists_what_the_published_tree_lacks(apt, daemon, site, tree):
    assert mosmu_mirror.missing(site.www, tree, ["updates", "security"]) == [UPDATES, SECURITY]
    sync(daemon, site, tree)
    assert mosmu_mirror.missing(site.www, tree, ["updates", "security"]) == [SECURITY]
    assert mosmu_snapshots.current_snapshot(site.www, helpers.tree(version="7.0")) is None


def test_test_mode_reports_and_writes_nothing(apt, daemon, site, tree):
    os.makedirs(site.www)
    before = helpers.fingerprint(site.tmp / "srv")
    would = sync(daemon, site, tree, test=True)
    assert would["state"] == "would update" and would["suites"] == {UPDATES: "updated"}
    assert would["files"] >= 3
    assert helpers.fingerprint(site.tmp / "srv") == before
    sync(daemon, site, tree)
    apt.publish(**{UPDATES: dict(PKGS, **{"nova-common": "1.3"})})
    before = helpers.fingerprint(site.tmp / "srv")
    would = sync(daemon, site, tree, test=True)
    assert would["state"] == "would update"
    assert would["files"] == 5      # one .deb + Packages, Packages.gz x2 components changed
    assert helpers.fingerprint(site.tmp / "srv") == before


def test_unreachable_upstream_names_the_cause(site, tree):
    url = f"rsync://127.0.0.1:{helpers.free_port()}/mirror"
    with pytest.raises(MirrorError, match=r"exit 10.*cannot connect"):
        mosmu_mirror.sync_tree(url, site.www, tree, ["updates"], staging_dir=site.staging,
                               timeout=5)


def test_staging_inside_the_web_root_is_refused(site, tree):
    with pytest.raises(MirrorError, match="inside mirror_root"):
        mosmu_mirror.sync_tree(site.upstream, site.www, tree, ["updates"],
                               staging_dir=os.path.join(site.www, "stage"))


def test_local_directory_upstream(apt, site, tree):
    result = mosmu_mirror.sync_tree(site.upstream, site.www, tree, ["updates"],
                                    staging_dir=site.staging)
    assert result["state"] == "updated"
    assert os.path.isfile(served(site, deb_rel("nova-common", "1.1")))


def _wait_for(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _big_transfer_started(site):
    """A build dir holds part of the big .deb (rsync's temp file or the file itself)."""
    stage = os.path.join(site.staging, helpers.APT_PATH)
    for top, _dirs, files in os.walk(stage):
        if "build-" in top and any("python-nova" in f and
                                   os.path.getsize(os.path.join(top, f)) > 0 for f in files):
            return True
    return False


def test_sync_killed_mid_transfer_leaves_the_mirror_intact_and_the_next_sync_recovers(
        site, daemon, tree):
    up = helpers.AptUpstream(site.upstream)
    up.publish(**{UPDATES: {"nova-common": "1.1"}})
    sync(daemon, site, tree)
    before = helpers.fingerprint(site.www)
    up.pads["python-nova"] = 4 << 20                  # 4 MiB at 512 KiB/s: an 8 s window
    up.publish(**{UPDATES: {"nova-common": "1.1", "python-nova": "1.1"}})
    proc = helpers.subprocess_sync(daemon.url, site.www, site.staging, bwlimit=512)
    try:
        _wait_for(lambda: _big_transfer_started(site) or proc.poll() is not None,
                  "the big transfer to start")
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert helpers.fingerprint(site.www) == before      # no temp file, nothing half-published
    result = sync(daemon, site, tree)
    assert result["state"] == "updated"
    assert os.path.getsize(served(site, deb_rel("python-nova", "1.1"))) > 4 << 20
    assert staging_builds(site) == []


def test_two_concurrent_syncs_never_overlap(site, daemon, tree):
    up = helpers.AptUpstream(site.upstream)
    up.pads["python-nova"] = 1 << 20                  # 1 MiB at 512 KiB/s: ~2 s of transfer
    up.publish(**{UPDATES: {"nova-common": "1.1", "python-nova": "1.1"}})
    proc = helpers.subprocess_sync(daemon.url, site.www, site.staging, bwlimit=512)
    try:
        lock = os.path.join(site.staging, helpers.APT_PATH, "lock")
        _wait_for(lambda: os.path.exists(lock) and helpers.read_bytes(lock).strip()
                  == str(proc.pid).encode(), "the first sync to take the lock")
        with pytest.raises(MirrorError, match=rf"pid {proc.pid}\)"):
            sync(daemon, site, tree, lock_timeout=0.2)
        waited = sync(daemon, site, tree, lock_timeout=60)   # waits for the first one
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, err
    assert '"state": "updated"' in out
    assert waited["state"] == "unchanged"
    assert len(mosmu_mirror.snapshots(site.www, tree)) == 1


def test_unknown_rsync_module_names_the_cause(daemon, site, tree):
    url = daemon.url.rsplit("/", 1)[0] + "/nosuchmodule"
    with pytest.raises(MirrorError, match=r"exit 5.*module or path does not exist"):
        mosmu_mirror.sync_tree(url, site.www, tree, ["updates"], staging_dir=site.staging)
    assert not os.path.lexists(served(site))
