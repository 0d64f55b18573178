"""The sandbox's upstream trees (real .deb/.rpm, real apt and yum metadata) and node roots."""

import gzip
import hashlib
import os
import pwd
import subprocess
import xml.etree.ElementTree as ET

import pytest
from debian import deb822

import mosmu_catalog
from sandbox import debrepo, inventory, rpmrepo, services
from sandbox.cli import installed_rpms, installed_versions
from sandbox.stack import PACKAGE_VERSIONS, Sandbox, env_rows

CATALOG = mosmu_catalog.Catalog()
REPOMD_NS = {"repo": "http://linux.duke.edu/metadata/repo"}


def _sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _host_rpm_state():
    """What rpm/dnf on a node root must never touch on the host."""
    home = pwd.getpwuid(os.getuid()).pw_dir
    paths = [os.path.join(home, ".rpmdb"), "/var/lib/rpm", "/var/lib/dnf", "/var/cache/dnf",
             "/var/log/dpkg.log", "/var/log/dnf.log", "/var/log/dnf.rpm.log"]
    return {p: os.stat(p).st_mtime_ns if os.path.exists(p) else None for p in paths}


def _packages(suite_dir, component="main"):
    path = os.path.join(suite_dir, component, "binary-amd64", "Packages")
    with open(path, encoding="utf-8") as handle:
        return {p["Package"]: p for p in deb822.Packages.iter_paragraphs(handle, use_apt_pkg=False)}


@pytest.mark.parametrize("version, suites", [
    ("8.0", ["mos8.0-updates", "mos8.0-security", "mos8.0-proposed", "mos8.0-holdback"]),
    ("6.1", ["mos6.1-updates", "mos6.1-security", "mos6.1-proposed", "mos6.1-holdback"]),
    ("5.1.1", ["precise"]),
])
def test_apt_tree_has_release_packages_and_pool_of_the_row(tmp_path, version, suites):
    tree = CATALOG.get("ubuntu", version)
    root = debrepo.build_tree(str(tmp_path), tree)
    assert root == os.path.join(str(tmp_path), tree.upstream)
    assert [tree.suite_of(r) for r in tree.repos] == suites
    for repo, suite in zip(tree.repos, suites):
        dist = os.path.join(root, "dists", suite)
        with open(os.path.join(dist, "Release"), encoding="utf-8") as handle:
            release = deb822.Release(handle)
        assert release["Suite"] == suite and release["Components"] == tree.components
        listed = {e["name"]: e for e in release["SHA256"]}
        expected = {f"{c}/binary-amd64/{n}" for c in tree.components.split()
                    for n in ("Packages", "Packages.gz")}
        assert set(listed) == expected
        for name, entry in listed.items():
            path = os.path.join(dist, name)
            assert int(entry["size"]) == os.path.getsize(path)
            assert entry["sha256"] == _sha256(path)
        with gzip.open(os.path.join(dist, "main/binary-amd64/Packages.gz"), "rt") as handle, \
                open(os.path.join(dist, "main/binary-amd64/Packages"), encoding="utf-8") as p:
            assert handle.read() == p.read()
        packages = _packages(dist)
        assert {n: p["Version"] for n, p in packages.items()} == \
            PACKAGE_VERSIONS["ubuntu"][repo]
        for stanza in packages.values():
            deb = os.path.join(root, stanza["Filename"])
            assert stanza["SHA256"] == _sha256(deb)
            fields = subprocess.run(["dpkg-deb", "-f", deb, "Package", "Version"],
                                    capture_output=True, text=True, check=True).stdout
            assert f"Version: {stanza['Version']}" in fields
        assert _packages(dist, "restricted") == {}


def test_apt_tree_publishes_ga_suite_only_where_the_row_has_a_stem(tmp_path):
    for version, ga in (("8.0", "mos8.0"), ("9.2", "mos9.0"), ("5.1.1", None)):
        tree = CATALOG.get("ubuntu", version)
        root = debrepo.build_tree(str(tmp_path), tree)
        assert debrepo.ga_suite(tree) == ga
        dists = sorted(os.listdir(os.path.join(root, "dists")))
        assert dists == sorted({tree.suite_of(r) for r in tree.repos} | ({ga} if ga else set()))


def test_holdback_version_sorts_below_updates_for_dpkg():
    """Pinning is what must make a node end at the holdback version: by version order alone
    apt would take updates' 1.1 (1.05 would not do: dpkg sorts it above 1.1)."""
    holdback = PACKAGE_VERSIONS["ubuntu"]["holdback"]["neutron-common"]
    updates = PACKAGE_VERSIONS["ubuntu"]["updates"]["neutron-common"]
    assert subprocess.run(["dpkg", "--compare-versions", holdback, "lt", updates],
                          check=False).returncode == 0
    assert subprocess.run(["dpkg", "--compare-versions", holdback, "gt", "1.0"],
                          check=False).returncode == 0


def test_apt_tree_rebuild_is_idempotent(tmp_path):
    tree = CATALOG.get("ubuntu", "8.0")
    root = debrepo.build_tree(str(tmp_path), tree)
    stamps = {os.path.join(b, f): os.stat(os.path.join(b, f)).st_mtime_ns
              for b, _d, files in os.walk(root) for f in files}
    debrepo.build_tree(str(tmp_path), tree)
    after = {os.path.join(b, f): os.stat(os.path.join(b, f)).st_mtime_ns
             for b, _d, files in os.walk(root) for f in files}
    assert after == stamps


def _primary(repo_dir):
    repomd = ET.parse(os.path.join(repo_dir, "repodata", "repomd.xml"))  # noqa: S314 - our own
    data = {d.get("type"): d for d in repomd.getroot().findall("repo:data", REPOMD_NS)}
    href = data["primary"].find("repo:location", REPOMD_NS).get("href")
    path = os.path.join(repo_dir, href)
    assert data["primary"].find("repo:checksum", REPOMD_NS).text == _sha256(path)
    ns = {"c": "http://linux.duke.edu/metadata/common"}
    with gzip.open(path) as handle:
        root = ET.parse(handle).getroot()  # noqa: S314 - built by this test
    return {p.find("c:name", ns).text: (p.find("c:version", ns).get("ver"),
                                        p.find("c:location", ns).get("href"))
            for p in root.findall("c:package", ns)}


@pytest.mark.parametrize("version", ["6.1", "5.1.1", "8.0"])
def test_yum_tree_has_repodata_and_real_rpms_per_repo(tmp_path, version):
    tree = CATALOG.get("centos", version)
    before = _host_rpm_state()
    root = rpmrepo.build_tree(str(tmp_path / "up"), tree, pool=str(tmp_path / "pool"))
    assert root == os.path.join(str(tmp_path / "up"), tree.upstream)
    for repo in tree.repos:
        repo_dir = os.path.join(root, tree.suite_of(repo))
        primary = _primary(repo_dir)
        assert {n: v for n, (v, _h) in primary.items()} == PACKAGE_VERSIONS["centos"][repo]
        for name, (ver, href) in primary.items():
            assert rpmrepo.query_package(os.path.join(repo_dir, href)) == (name, f"{ver}-1")
    assert _host_rpm_state() == before


def test_yum_tree_of_61_sits_where_the_catalog_says(tmp_path):
    tree = CATALOG.get("centos", "6.1")
    rpmrepo.build_tree(str(tmp_path), tree, pool=str(tmp_path / "pool"))
    for repo in ("updates", "security", "proposed"):
        assert os.path.isfile(tmp_path / "mos/centos-6/mos6.1" / repo / "repodata/repomd.xml")
    assert not (tmp_path / "mos/centos-6/mos6.1/holdback").exists()


def test_backend_mismatch_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not yum"):
        rpmrepo.build_tree(str(tmp_path), CATALOG.get("ubuntu", "8.0"))
    with pytest.raises(ValueError, match="not apt"):
        debrepo.build_tree(str(tmp_path), CATALOG.get("centos", "6.1"))


def test_centos_node_root_gets_ga_rpms_and_host_stays_untouched(tmp_path):
    before = _host_rpm_state()
    root = str(tmp_path / "node")
    rpmrepo.init_root(root, rpmrepo.build_ga(str(tmp_path / "ga")))
    assert installed_rpms(root) == PACKAGE_VERSIONS["centos"]["ga"]
    out = subprocess.run(["rpm", f"--root={root}", "-q", "python-nova"], capture_output=True,
                         text=True, check=True, env=rpmrepo.rpm_env()).stdout
    assert out.strip() == "python-nova-1.0-1.noarch"
    home = pwd.getpwuid(os.getuid()).pw_dir.lstrip("/")
    assert os.path.isfile(os.path.join(root, home, ".rpmdb", "rpmdb.sqlite"))
    assert _host_rpm_state() == before


def test_sandbox_builds_made_up_row_and_resets_node_roots(tmp_path, request):
    """build_tree accepts a Tree from a catalog with overrides; make_node_root logs dpkg
    inside the node root, never to the host's /var/log/dpkg.log."""
    before = _host_rpm_state()
    box = Sandbox(str(tmp_path / "box"))
    request.addfinalizer(lambda: box.signer.close())     # the gpg-agent signing started
    tree = mosmu_catalog.Catalog({"ubuntu/9.9": {
        "base": "ubuntu/9.2", "upstream": "mos-repos/ubuntu/9.9", "path": "mos-repos/ubuntu/9.9",
        "suite": "mos9.9-{repo}"}}).get("ubuntu", "9.9")
    path = box.build_tree(tree)
    assert os.path.isfile(os.path.join(path, "dists/mos9.9-holdback/Release"))
    assert os.path.isfile(os.path.join(path, "dists/mos9.9-holdback/InRelease"))
    assert not os.path.exists(box.state_path)     # a sandbox that is not up stays not up
    ubuntu, centos = str(tmp_path / "u"), str(tmp_path / "c")
    for root in (ubuntu, centos):            # make_node_root starts the roots' services
        request.addfinalizer(lambda r=root: services.stop_all(r))
    box.make_node_root(ubuntu, tree)
    box.make_node_root(centos, "centos", "6.1")
    assert installed_versions(ubuntu) == PACKAGE_VERSIONS["ubuntu"]["ga"]
    assert installed_rpms(centos) == PACKAGE_VERSIONS["centos"]["ga"]
    with open(os.path.join(ubuntu, "var/log/dpkg.log"), encoding="utf-8") as handle:
        assert "status installed python-nova:all 1.0" in handle.read()
    assert _host_rpm_state() == before


def test_default_inventory_has_two_envs_with_their_releases():
    inv = inventory.default(3, centos_nodes=2)
    assert env_rows(inv) == [("ubuntu", "8.0"), ("centos", "6.1")]
    releases = {r["id"]: r for r in inv["releases"]}
    assert len(releases) == len(inv["releases"]) == 4
    env2 = next(c for c in inv["clusters"] if c["id"] == 2)
    assert releases[env2["release_id"]]["name"] == "Juno on CentOS 6.5"
    assert releases[env2["release_id"]]["version"] == "2014.2.2-6.1"
    nodes = inv["nodes"]
    assert len({n["id"] for n in nodes}) == len({n["ip"] for n in nodes}) == 5
    assert {n["os_platform"] for n in nodes if n["cluster"] == 2} == {"centos"}
    assert {n["os_platform"] for n in nodes if n["cluster"] == 1} == {"ubuntu"}
    assert all(n["ip"].startswith("10.20.0.") for n in nodes)
    assert inventory.default(2)["clusters"] == [inventory.cluster(1)]


# -- signing ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    """One throwaway key for the module (its own gpg home; the agent is stopped after)."""
    from sandbox.signing import Signer  # pylint: disable=import-outside-toplevel
    key = Signer(str(tmp_path_factory.mktemp("gpg") / "g")).ensure()
    yield key
    key.close()


def _gpgv(tmp_path, public_key, *args):
    keyring = str(tmp_path / "keyring.gpg")
    subprocess.run(["gpg", "--batch", "--homedir", str(tmp_path / "kh"), "--yes", "--dearmor",
                    "-o", keyring, public_key], check=True, capture_output=True)
    return subprocess.run(["gpgv", "--homedir", str(tmp_path / "kh"), "--keyring", keyring,
                           *args], capture_output=True, text=True, check=False)


def test_signer_makes_an_armoured_key_in_its_own_home(signer):
    with open(signer.public_key, encoding="ascii") as handle:
        assert handle.read().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert stat_mode(signer.home) == 0o700
    assert len(signer.fingerprint) == 40


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_signed_apt_tree_verifies_and_rebuild_keeps_signatures(tmp_path, signer):
    tree = CATALOG.get("ubuntu", "9.2")
    os.makedirs(tmp_path / "kh", mode=0o700)
    root = debrepo.build_tree(str(tmp_path / "up"), tree, signer=signer)
    for suite in [tree.suite_of(r) for r in tree.repos] + ["mos9.0"]:
        dist = os.path.join(root, "dists", suite)
        release = os.path.join(dist, "Release")
        assert _gpgv(tmp_path, signer.public_key, os.path.join(dist, "Release.gpg"),
                     release).returncode == 0
        out = str(tmp_path / f"{suite}.txt")
        assert _gpgv(tmp_path, signer.public_key, "--output", out,
                     os.path.join(dist, "InRelease")).returncode == 0
        with open(out, "rb") as signed, open(release, "rb") as plain:
            assert signed.read() == plain.read()
        with open(os.path.join(dist, "Release.gpg"), encoding="ascii") as handle:
            assert handle.read().startswith("-----BEGIN PGP SIGNATURE-----")
    stamps = {os.path.join(b, f): _sha256(os.path.join(b, f))
              for b, _d, files in os.walk(root) for f in files}
    debrepo.build_tree(str(tmp_path / "up"), tree, signer=signer)
    assert {p: _sha256(p) for p in stamps} == stamps
    # a changed index re-signs: the old signature no longer matches the new Release
    debrepo.build_tree(str(tmp_path / "up"), tree, signer=signer,
                       repo_versions={"updates": {"nova-common": "1.3"}})
    dist = os.path.join(root, "dists", "mos9.0-updates")
    assert _gpgv(tmp_path, signer.public_key, os.path.join(dist, "Release.gpg"),
                 os.path.join(dist, "Release")).returncode == 0
    assert _sha256(os.path.join(dist, "InRelease")) != stamps[os.path.join(dist, "InRelease")]


def test_signed_apt_tree_fails_gpgv_when_release_is_changed_after_signing(tmp_path, signer):
    os.makedirs(tmp_path / "kh", mode=0o700)
    root = debrepo.build_tree(str(tmp_path / "up"), CATALOG.get("ubuntu", "9.2"),
                              signer=signer)
    dist = os.path.join(root, "dists", "mos9.0-updates")
    with open(os.path.join(dist, "Release"), "a", encoding="utf-8") as handle:
        handle.write("X-Tampered: yes\n")
    proc = _gpgv(tmp_path, signer.public_key, os.path.join(dist, "Release.gpg"),
                 os.path.join(dist, "Release"))
    assert proc.returncode != 0 and "BAD signature" in proc.stderr


def test_signed_yum_tree_has_signed_repomd_and_signed_rpms(tmp_path, signer):
    before = _host_rpm_state()
    os.makedirs(tmp_path / "kh", mode=0o700)
    tree = CATALOG.get("centos", "6.1")
    root = rpmrepo.build_tree(str(tmp_path / "up"), tree, pool=str(tmp_path / "pool"),
                              signer=signer)
    dbpath = str(tmp_path / "rpmdb")
    rpm = ["rpm", "--define", f"_dbpath {dbpath}"]
    subprocess.run([*rpm, "--initdb"], check=True, capture_output=True)
    rpms = [os.path.join(b, f) for b, _d, files in os.walk(root) for f in files
            if f.endswith(".rpm")]
    unsigned = subprocess.run([*rpm, "-K", rpms[0]], capture_output=True, text=True,
                              check=False)
    assert unsigned.returncode != 0            # signed, and the key is not imported yet
    subprocess.run([*rpm, "--import", signer.public_key], check=True, capture_output=True)
    for repo in tree.repos:
        repodata = os.path.join(root, tree.suite_of(repo), "repodata")
        assert _gpgv(tmp_path, signer.public_key, os.path.join(repodata, "repomd.xml.asc"),
                     os.path.join(repodata, "repomd.xml")).returncode == 0
    checked = subprocess.run([*rpm, "-K", *rpms], capture_output=True, text=True, check=True)
    assert checked.stdout.count("digests signatures OK") == len(rpms) > 0
    assert _host_rpm_state() == before


def test_mirror_sync_accepts_the_sandbox_signature_and_refuses_another_key(tmp_path, signer):
    import mosmu_mirror  # pylint: disable=import-outside-toplevel
    from mosmu_errors import MirrorError  # pylint: disable=import-outside-toplevel
    from sandbox.signing import Signer  # pylint: disable=import-outside-toplevel
    up = str(tmp_path / "up")
    with open(signer.public_key, encoding="ascii") as handle:
        key = handle.read()
    apt = mosmu_catalog.Catalog(default_key=key).get("ubuntu", "9.2")
    yum = mosmu_catalog.Catalog(default_key=key).get("centos", "6.1")
    debrepo.build_tree(up, apt, signer=signer)
    rpmrepo.build_tree(up, yum, pool=str(tmp_path / "pool"), signer=signer)
    www, staging = str(tmp_path / "www"), str(tmp_path / "staging")
    for tree in (apt, yum):
        result = mosmu_mirror.sync_tree(up, www, tree, ["updates"], staging_dir=staging)
        assert result["state"] == "updated"
    other = Signer(str(tmp_path / "other")).ensure()
    try:
        with open(other.public_key, encoding="ascii") as handle:
            wrong = mosmu_catalog.Catalog({"ubuntu/9.2": {"key": handle.read()}}).get(
                "ubuntu", "9.2")
    finally:
        other.close()
    debrepo.build_tree(up, apt, signer=signer, repo_versions={"updates": {"nova-common": "2"}})
    with pytest.raises(MirrorError, match="bad or unknown signature"):
        mosmu_mirror.sync_tree(up, www, wrong, ["updates"], staging_dir=staging)


def test_stop_command_names_the_module_not_its_main_file(monkeypatch):
    """Regression: `python -m sandbox up` printed its stop command as `__main__.py down`."""
    from sandbox import cli  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(cli.sys, "argv", ["/work/main/sandbox/__main__.py", "up"])
    assert cli._prog() == "python -m sandbox"  # pylint: disable=protected-access
    monkeypatch.setattr(cli.sys, "argv", ["/usr/bin/mosmu-sandbox", "up"])
    assert cli._prog() == "mosmu-sandbox"  # pylint: disable=protected-access
