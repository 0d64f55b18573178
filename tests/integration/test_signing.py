"""Signed upstream end to end: the sandbox signs its trees with a throwaway key
(``DIR/gpg/upstream.asc`` = ``mosmu:mirror_key``, ``trusted: False``), the master verifies
them with gpgv while syncing, and the nodes' apt and dnf check them again with that key only.

Uses layouts no other integration file syncs (Ubuntu 9.1, CentOS 8.0), so the shared sandbox
is left as later files expect: every node root is reset to its GA layout afterwards (no status
file), and ubuntu/8.0, ubuntu/9.2, centos/6.1 and centos/7.0 stay unsynced.
"""

import hashlib
import os
import subprocess

import pytest

import mosmu_catalog
from sandbox import rpmrepo
from sandbox.signing import Signer
from sandbox.stack import PACKAGE_VERSIONS
from tests.integration.helpers import node_entries, salt_cli, status_lines

UBUNTU, CENTOS = ("ubuntu", "9.1"), ("centos", "8.0")
HOME_LAYOUT = {"ubuntu": "8.0", "centos": "6.1"}      # what later files expect


def _minion(box, distro):
    return sorted(m for m, i in box.state["minions"].items() if i["distro"] == distro)[0]


def _tree(distro, version):
    return mosmu_catalog.Catalog().get(distro, version)


def _repo_files(box, minion):
    """``{path: text}`` of every file under the node's etc/mosmu."""
    out = {}
    for base, _dirs, files in os.walk(os.path.join(box.node_root(minion), "etc/mosmu")):
        for name in files:
            with open(os.path.join(base, name), encoding="utf-8") as handle:
                out[os.path.join(base, name)] = handle.read()
    return out


def _tree_fingerprint(path):
    """Where the published link points and the sha256 of every file below it."""
    real = os.path.realpath(path)
    out = {"->": os.readlink(path) if os.path.islink(path) else None}
    for base, _dirs, files in os.walk(real):
        for name in files:
            full = os.path.join(base, name)
            with open(full, "rb") as handle:
                out[os.path.relpath(full, real)] = hashlib.sha256(handle.read()).hexdigest()
    return out


def _update(box, distro, version, *extra, config_dir=None):
    minion = _minion(box, distro)
    ip = box.state["minions"][minion]["ip"]
    env = box.state["minions"][minion]["env"]
    run = salt_cli(box, "salt-run", "mosmu.update", f"env={env}", f"nodes={ip}",
                   f"mos_version={version}", *extra, config_dir=config_dir)
    return minion, ip, run


@pytest.fixture(scope="module")
def signed_layouts(sandbox):
    """Node roots on the test layouts; afterwards back on the layouts later files expect."""
    for distro, version in (UBUNTU, CENTOS):
        sandbox.reset_node(_minion(sandbox, distro), distro, version)
    yield sandbox
    for distro in ("ubuntu", "centos"):
        sandbox.reset_node(_minion(sandbox, distro), distro, HOME_LAYOUT[distro])


def test_sandbox_master_trusts_only_its_upstream_key(sandbox):
    import yaml  # pylint: disable=import-outside-toplevel
    with open(os.path.join(sandbox.config_dir, "master.d", "mosmu.conf"),
              encoding="utf-8") as handle:
        conf = yaml.safe_load(handle)["mosmu"]
    assert conf["trusted"] is False
    assert conf["mirror_key"] == os.path.join(sandbox.dir, "gpg", "upstream.asc")
    with open(conf["mirror_key"], encoding="ascii") as handle:
        assert "BEGIN PGP PUBLIC KEY BLOCK" in handle.read()


@pytest.mark.parametrize("distro, version", [UBUNTU, CENTOS], ids=["ubuntu-9.1", "centos-8.0"])
def test_signed_sync_and_update_without_trust_overrides(signed_layouts, distro, version):
    box = signed_layouts
    sync = salt_cli(box, "salt-run", "mosmu.sync", f"mos_version={version}",
                    f"distro={distro}")
    assert sync.returncode == 0, sync.data
    assert sync.data["mirror"][f"{distro}/{version}"]["state"] in ("updated", "unchanged")
    minion, ip, run = _update(box, distro, version)
    assert run.returncode == 0, repr(node_entries(run.data).get(ip, run.data))
    assert node_entries(run.data)[ip]["result"] == "OK"
    assert status_lines(box, minion) == ["STARTED", "UPDATE=OK"]
    # (rpm's gpg-pubkey record of the imported key is not a package change)
    assert {k: v["new"].split("-")[0]
            for k, v in node_entries(run.data)[ip]["changes"].items()} == \
        {k: v for k, v in PACKAGE_VERSIONS[distro]["updates"].items()
         if k in PACKAGE_VERSIONS[distro]["ga"]}          # a node without Ceph lacks ceph
    files = _repo_files(box, minion)
    key = [t for p, t in files.items() if p.endswith("mosmu-mu.asc")]
    with open(box.signer.public_key, encoding="ascii") as handle:
        assert key == [handle.read()]              # the node holds exactly the master's key
    repo_texts = [t for p, t in files.items() if p.endswith((".list", ".repo"))]
    assert repo_texts
    for text in repo_texts:
        assert "trusted=yes" not in text and "gpgcheck=0" not in text
    if distro == "centos":
        root = box.node_root(minion)
        for text in repo_texts:
            assert "gpgcheck=1\n" in text and "repo_gpgcheck=1\n" in text
            key_path = os.path.join(root, "etc/mosmu/mosmu-mu.asc")
            assert f"gpgkey=file://{key_path}\n" in text
        # dnf imported the key into the node's rpm database: it did check the signatures
        pubkeys = subprocess.run(["rpm", f"--root={root}", "-q", "gpg-pubkey"],
                                 capture_output=True, text=True, check=False,
                                 env=rpmrepo.rpm_env())
        assert pubkeys.returncode == 0 and pubkeys.stdout.startswith("gpg-pubkey-")
    else:
        lists = os.listdir(os.path.join(box.node_root(minion), "var/lib/apt/lists"))
        assert any(n.endswith("_InRelease") for n in lists), lists


@pytest.mark.parametrize("drop, message", [
    ((), "InRelease and Release differ"),
    (("InRelease",), "Release.gpg: bad or unknown signature"),
], ids=["old-inrelease-kept", "only-old-release-gpg"])
def test_tampered_upstream_release_fails_the_sync_and_keeps_the_published_tree(
        signed_layouts, drop, message):
    """Release changed after signing, the old signatures kept (and, in the second case,
    InRelease removed so only the detached signature speaks): one-line error, nothing
    published, the published tree byte-identical."""
    box = signed_layouts
    distro, version = UBUNTU
    tree = _tree(distro, version)
    assert salt_cli(box, "salt-run", "mosmu.sync", f"mos_version={version}").returncode == 0
    published = os.path.join(box.dir, "www", tree.path)
    before = _tree_fingerprint(published)
    dist = os.path.join(box.upstream_dir, tree.upstream, "dists", tree.suite_of("updates"))
    originals = {}
    for name in ("Release", "InRelease", "Release.gpg"):
        with open(os.path.join(dist, name), "rb") as handle:
            originals[name] = handle.read()
    try:
        with open(os.path.join(dist, "Release"), "wb") as handle:
            handle.write(originals["Release"].replace(b"Suite:", b"X-Injected: evil\nSuite:", 1))
        for name in drop:
            os.unlink(os.path.join(dist, name))
        run = salt_cli(box, "salt-run", "mosmu.sync", f"mos_version={version}")
    finally:
        for name, data in originals.items():
            with open(os.path.join(dist, name), "wb") as handle:
                handle.write(data)
    assert run.returncode != 0, run.data
    error = run.data["error"]
    assert "\n" not in error and message in error, error
    assert _tree_fingerprint(published) == before


def test_node_with_the_wrong_key_refuses_the_repo(signed_layouts, broken_config, tmp_path):
    box = signed_layouts
    distro, version = UBUNTU
    minion = _minion(box, distro)
    box.reset_node(minion, distro, version)
    assert salt_cli(box, "salt-run", "mosmu.sync", f"mos_version={version}").returncode == 0
    other = Signer(str(tmp_path / "other")).ensure()
    try:
        with open(other.public_key, encoding="ascii") as handle:
            wrong = handle.read()
    finally:
        other.close()
    config = broken_config(catalog={f"{distro}/{version}": {"key": wrong}})
    # sync=False: the master's own check is not what is tested here, the node's apt is
    _minion_id, ip, run = _update(box, distro, version, "sync=False", config_dir=config)
    assert run.returncode != 0, run.data
    entry = node_entries(run.data)[ip]
    assert entry["result"] == "FAIL", entry
    assert status_lines(box, minion) == ["STARTED", "UPDATE=FAIL"]
    detail = str(entry)
    assert "NO_PUBKEY" in detail or "not signed" in detail or "signature" in detail, entry
    assert PACKAGE_VERSIONS[distro]["ga"] == {
        k: v for k, v in _installed(box, minion).items() if k in PACKAGE_VERSIONS[distro]["ga"]}


def _installed(box, minion):
    from sandbox.cli import installed_versions  # pylint: disable=import-outside-toplevel
    return installed_versions(box.node_root(minion))
