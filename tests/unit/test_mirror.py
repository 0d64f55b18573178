"""Mirror sync with real rsync over a real upstream tree of real .deb files."""

import os

import pytest

import mosmu_mirror
from mosmu_errors import MirrorError
from sandbox import debrepo

SUITE = "mos8.0-updates"


@pytest.fixture
def upstream(tmp_path):
    root = tmp_path / "upstream"
    debrepo.build_upstream(str(root), "8.0")
    return root


def _published(mirror):
    return os.path.join(mirror, "mos-repos/ubuntu/8.0/dists", SUITE)


def test_first_sync_publishes_verified_suite_then_noop(upstream, tmp_path):
    mirror = str(tmp_path / "www")
    first = mosmu_mirror.sync_apt(str(upstream), mirror, "8.0", [SUITE])
    assert first["suites"] == {SUITE: "updated"} and first["files"] == 3
    assert os.path.islink(_published(mirror))
    pool = mosmu_mirror.verify_suite(_published(mirror), SUITE)
    assert len(pool) == 3
    mosmu_mirror.verify_pool(os.path.join(mirror, "mos-repos/ubuntu/8.0"), pool)
    # only what the plan needs: no GA (1.0) or proposed (1.2) packages were fetched
    debs = [f for _, _, files in os.walk(mirror) for f in files if f.endswith(".deb")]
    assert sorted(debs) == sorted(os.path.basename(p) for p in pool)
    second = mosmu_mirror.sync_apt(str(upstream), mirror, "8.0", [SUITE])
    assert second["suites"] == {SUITE: "unchanged"} and second["files"] == 0
    assert not os.listdir(os.path.join(mirror, mosmu_mirror.STAGING))


def test_corrupt_upstream_pool_file_is_never_published(upstream, tmp_path):
    mirror = str(tmp_path / "www")
    mosmu_mirror.sync_apt(str(upstream), mirror, "8.0", [SUITE])
    before = os.readlink(_published(mirror))
    # upstream publishes a new suite whose pool file is damaged in transit
    debrepo.build_upstream(str(upstream), "8.0", {"-updates": {"nova-common": "1.3"}})
    deb = upstream / "mos-repos/ubuntu/8.0/pool/main/n/nova/nova-common_1.3_all.deb"
    deb.write_bytes(deb.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(MirrorError, match="failed verification"):
        mosmu_mirror.sync_apt(str(upstream), mirror, "8.0", [SUITE])
    assert os.readlink(_published(mirror)) == before
    assert not os.listdir(os.path.join(mirror, mosmu_mirror.STAGING))


def test_missing_suite_upstream_is_named(upstream, tmp_path):
    with pytest.raises(MirrorError, match="mos8.0-backports"):
        mosmu_mirror.sync_apt(str(upstream), str(tmp_path / "www"), "8.0", ["mos8.0-backports"])


def test_release_entries_skip_other_sections():
    text = ("MD5Sum:\n 00 1 main/x/Packages\nSHA256:\n"
            " ab 12 main/binary-amd64/Packages\n cd 5 main/binary-amd64/Packages.gz\n")
    assert mosmu_mirror.release_entries(text) == {
        "main/binary-amd64/Packages": (12, "ab"), "main/binary-amd64/Packages.gz": (5, "cd")}
