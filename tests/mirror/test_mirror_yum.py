"""sync_tree on a yum tree: real rpms (rpmbuild), real repodata (createrepo_c), rsync daemon."""

import os
import shutil

import pytest

import mosmu_mirror
from mosmu_errors import MirrorError
from tests.mirror import helpers

pytestmark = pytest.mark.skipif(not (shutil.which("rpmbuild") and shutil.which("createrepo_c")),
                                reason="needs rpmbuild and createrepo_c")


@pytest.fixture
def yum(site):
    up = helpers.YumUpstream(site.upstream, site.tmp / "rpmwork")
    os.makedirs(up.work)
    up.publish({"mos-dummy": "1.1", "nova-common": "1.1"})
    return up


@pytest.fixture
def tree():
    return helpers.tree("centos", "8.0")


def sync(daemon, site, tree, **kwargs):
    return mosmu_mirror.sync_tree(daemon.url, site.www, tree, ["updates"],
                                  staging_dir=site.staging, **kwargs)


def served(site, rel):
    return os.path.join(site.www, helpers.YUM_PATH, "updates", rel)


def test_yum_first_sync_then_noop_then_update(yum, daemon, site, tree):
    first = sync(daemon, site, tree)
    assert first["state"] == "updated" and first["suites"] == {"updates": "updated"}
    assert os.path.islink(os.path.join(site.www, helpers.YUM_PATH))
    for name in ("mos-dummy-1.1-1.noarch.rpm", "nova-common-1.1-1.noarch.rpm"):
        assert os.path.isfile(served(site, f"Packages/{name}"))
    assert os.path.isfile(served(site, "repodata/repomd.xml"))
    assert mosmu_mirror.missing(site.www, tree, ["updates"]) == []
    assert sync(daemon, site, tree)["state"] == "unchanged"

    yum.publish({"mos-dummy": "1.2", "nova-common": "1.1"})
    second = sync(daemon, site, tree)
    assert second["state"] == "updated"
    old = os.path.join(site.www, first["snapshot_path"], "updates/Packages")
    new = os.path.join(site.www, second["snapshot_path"], "updates/Packages")
    name = "nova-common-1.1-1.noarch.rpm"
    assert os.stat(os.path.join(old, name)).st_ino == os.stat(os.path.join(new, name)).st_ino
    history = mosmu_mirror.snapshots(site.www, tree)
    assert history[1]["upgraded"] == ["mos-dummy:noarch 0:1.1-1 -> 0:1.2-1"]


def test_yum_corrupt_rpm_is_never_published(yum, daemon, site, tree):
    sync(daemon, site, tree)
    before = helpers.fingerprint(site.www)
    yum.publish({"mos-dummy": "1.2", "nova-common": "1.1"})
    rpm = yum.rpm("mos-dummy", "1.2")
    with open(rpm, "r+b") as handle:
        handle.seek(os.path.getsize(rpm) - 8)
        handle.write(b"garbage!")
    with pytest.raises(MirrorError, match=r"updates/Packages/mos-dummy-1\.2-1\.noarch\.rpm does "
                                          r"not match the sha256"):
        sync(daemon, site, tree)
    assert helpers.fingerprint(site.www) == before


def test_yum_truncated_primary_fails(yum, daemon, site, tree):
    repodata = os.path.join(yum.repo, "repodata")
    primary = next(f for f in os.listdir(repodata) if f.endswith("-primary.xml.gz"))
    with open(os.path.join(repodata, primary), "r+b") as handle:
        handle.truncate(20)
    with pytest.raises(MirrorError, match=r"primary.* does not match repomd\.xml"):
        sync(daemon, site, tree)
    assert not os.path.lexists(os.path.join(site.www, helpers.YUM_PATH))


def test_yum_key_without_repomd_signature_fails(yum, daemon, site, gpg):
    with pytest.raises(MirrorError, match=r"repomd\.xml\.asc is missing"):
        sync(daemon, site, helpers.tree("centos", "8.0", key=gpg.public))


def test_yum_signed_repomd_is_checked(yum, daemon, site, gpg):
    repomd = os.path.join(yum.repo, "repodata", "repomd.xml")
    helpers.run(["gpg", "--batch", "--homedir", gpg.home, "--yes", "-abs", "-o",
                 repomd + ".asc", repomd])
    tree = helpers.tree("centos", "8.0", key=gpg.public)
    assert sync(daemon, site, tree)["state"] == "updated"
    with open(repomd, "a", encoding="utf-8") as handle:
        handle.write("<!-- tampered -->\n")
    with pytest.raises(MirrorError, match=r"repomd\.xml\.asc: bad or unknown signature"):
        sync(daemon, site, tree)
