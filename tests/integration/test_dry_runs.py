"""``test=True`` changes nothing, anywhere: not the mirror, not a lock, not a node.

Every runner function is called the ways an operator would try it first, with ``test=True``
where it takes one (the read-only ones without), and the master's mirror (published
snapshots, symlinks, staging and its lock), the runner's lock dir and node records, and every
node root (packages, repo files, status files) are compared byte for byte before and after.
"""

import hashlib
import os

import pytest

from tests.integration.helpers import node_entries, salt_cli
from tests.integration.test_compat import private_master

UBUNTU = "8.0"


# Written by readers, holding no node state: SQLite's shared-memory index of rpm's database,
# rewritten by every reader (``rpm -qa``; the database and its write-ahead log are compared),
# and the sandbox ceph stand-in's log of every command run, reads included (``ceph health``
# of the checks before; the state it changes, flags and ceph.log, is compared)
READER_STATE = ("-shm", "ceph-commands.log")


def fingerprint(*tops):
    """``{path: (kind, mode, size, content hash or link target)}`` of every entry below
    ``tops`` (missing tops are recorded as missing)."""
    out = {}
    for top in tops:
        if not os.path.lexists(top):
            out[top] = ("missing",)
            continue
        for base, dirs, files in os.walk(top):
            for name in dirs + [f for f in files if not f.endswith(READER_STATE)]:
                path = os.path.join(base, name)
                info = os.lstat(path)
                if os.path.islink(path):
                    out[path] = ("link", os.readlink(path))
                elif os.path.isdir(path):
                    out[path] = ("dir", info.st_mode)
                else:
                    with open(path, "rb") as handle:
                        digest = hashlib.sha256(handle.read()).hexdigest()
                    out[path] = ("file", info.st_mode, info.st_size, info.st_mtime_ns, digest)
    return out


def watched(box, private):
    """The private master's mirror and staging, the master's locks and node records, every
    node root."""
    cache = os.path.join(box.dir, "salt", "master", "var", "cache", "salt", "master", "mosmu")
    return [os.path.join(private, "www"), os.path.join(private, ".mosmu-staging"),
            os.path.join(cache, "locks"), os.path.join(cache, "results"),
            os.path.join(box.dir, "nodes")]


def diff(before, after):
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


@pytest.fixture(scope="module")
def two_snapshots(sandbox, tmp_path_factory):
    """A master with its own mirror (the shared sandbox's is left as it was) where the Ubuntu
    tree was published twice (a rollback has somewhere to go), every node reset to GA and
    env 1 updated once (status files and records exist). Yields ``(box, config dir,
    private dir)``; env 1's node roots are reset afterwards."""
    private = str(tmp_path_factory.mktemp("dry-runs"))
    with private_master(sandbox, private) as etc:
        for minion in sandbox.state["minions"]:
            sandbox.reset_node(minion)
        first = salt_cli(sandbox, "salt-run", "mosmu.sync", f"mos_version={UBUNTU}",
                         config_dir=etc)
        assert first.returncode == 0, first.data
        sandbox.build_tree("ubuntu", UBUNTU, {"updates": {"nova-common": "1.1"}})
        try:
            second = salt_cli(sandbox, "salt-run", "mosmu.sync", f"mos_version={UBUNTU}",
                              config_dir=etc)
            assert second.returncode == 0, second.data
        finally:
            sandbox.build_tree("ubuntu", UBUNTU)
        assert salt_cli(sandbox, "salt-run", "mosmu.sync", "all_envs=True",
                        config_dir=etc).returncode == 0
        run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", "sync=False",
                       "max_failures=9", config_dir=etc)
        assert run.data and node_entries(run.data), run.data
        yield sandbox, etc, private


WALK = [
    ("mosmu.update", "env=1", "test=True"),
    ("mosmu.update", "all_envs=True", "test=True"),
    ("mosmu.update", "env=1", "test=True", "sync=True"),
    ("mosmu.update", "env=1", "test=True", "retry_failed=True"),
    ("mosmu.update", "env=1", "test=True", "batch=1", "max_failures=5"),
    ("mosmu.sync", f"mos_version={UBUNTU}", "test=True"),
    ("mosmu.sync", "mos_version=6.1", "distro=centos", "test=True"),
    ("mosmu.sync", "env=1", "test=True"),
    ("mosmu.sync", "all_envs=True", "test=True"),
    ("mosmu.sync", "rollback=True", f"mos_version={UBUNTU}", "test=True"),
    ("mosmu.sync", "rollback=True", "mos_version=6.1", "distro=centos", "test=True"),
    ("mosmu.nodes", "all_envs=True"),
    ("mosmu.status", "all_envs=True"),
    ("mosmu.snapshots", f"mos_version={UBUNTU}"),
]


@pytest.mark.parametrize("call", WALK, ids=[" ".join(c) for c in WALK])
def test_a_dry_run_of_any_runner_function_changes_nothing(two_snapshots, call):
    box, etc, private = two_snapshots
    before = fingerprint(*watched(box, private))
    run = salt_cli(box, "salt-run", *call, config_dir=etc)
    assert run.data is not None, run.stderr
    assert diff(before, fingerprint(*watched(box, private))) == []


def test_a_dry_run_rollback_says_where_it_would_go_and_stays(two_snapshots):
    """Regression: ``mosmu.sync rollback=True test=True`` really rolled the published
    snapshot back (the rollback branch never read ``test``)."""
    box, etc, private = two_snapshots
    link = os.path.join(private, "www", "mos-repos", "ubuntu", UBUNTU)
    published = os.readlink(link)
    run = salt_cli(box, "salt-run", "mosmu.sync", "rollback=True", f"mos_version={UBUNTU}",
                   "test=True", config_dir=etc)
    assert run.returncode == 0, run.data
    result = run.data["mirror"][f"ubuntu/{UBUNTU}"]
    assert result["state"] == "would roll back" and result["from"] != result["to"]
    assert os.readlink(link) == published and published.endswith(result["from"])
