"""Every distro and MOS layout end to end: real minions upgrade from the synced mirror.

Ubuntu nodes for the 6.0 (``fwm/6.0/updates/ubuntu``, suite ``precise``), 6.1 (``mos/ubuntu``),
7.0, 8.0 and 9.2 (``mos-repos/ubuntu/<ver>``) layouts, with holdback pinned above updates;
CentOS nodes for 6.1 and 7.0 with real dnf/rpm in their node roots; highstate from pillar
alone on a CentOS minion; a made-up MOS version added as a catalog row only.

One Ubuntu minion of env 1 and the CentOS minion of env 2 are reused: each case resets the
node root to the GA packages of its layout (``Sandbox.reset_node``). Runs after
test_update.py (file order), and leaves the node roots reset for later files.
"""

import json
import os
import shutil

import pytest
import yaml

import mosmu_catalog
from sandbox.cli import node_packages
from sandbox.stack import PACKAGE_VERSIONS
from tests.integration.helpers import node_entries, salt_cli, status_lines

PIN = {"holdback": 1100}     # Fuel's pinning: every other MU suite 1050


def _expected(distro, repos):
    """What a node ends with: per package the repo with the highest pin, then version.

    Versions are compared as tuples of ints (the sandbox's versions are plain dotted ints).
    """
    def key(repo, version):
        pin = PIN.get(repo, 1050) if distro == "ubuntu" else 1050
        return (pin, tuple(int(x) for x in version.split("-")[0].split(".")))
    best = {}
    for repo in repos:
        for name, version in PACKAGE_VERSIONS[distro].get(repo, {}).items():
            if name not in best or key(repo, version) > best[name][0]:
                best[name] = (key(repo, version), version)
    out = dict(PACKAGE_VERSIONS[distro]["ga"])      # a node without Ceph lacks ceph
    out.update({name: version for name, (_k, version) in best.items() if name in out})
    return out


def _minion(box, distro):
    return sorted(m for m, info in box.state["minions"].items() if info["distro"] == distro)[0]


def _versions(box, minion):
    info = box.state["minions"][minion]
    got = node_packages(box.node_root(minion), info["distro"])
    return {k: v.split("-")[0] if info["distro"] == "centos" else v for k, v in got.items()
            if not k.startswith("gpg-pubkey")}     # rpm's imported signing keys


def _run_layout(box, distro, version, env, repos):
    """sync -> test=True -> update -> second update, for one node; returns the reports."""
    minion = _minion(box, distro)
    box.reset_node(minion, distro, version)
    ip = box.state["minions"][minion]["ip"]
    tree = mosmu_catalog.Catalog().get(distro, version)
    extra = [r for r in repos if r != "updates"]
    args = [f"env={env}", f"nodes={ip}", f"mos_version={version}"] + \
        ([f"repos={','.join(extra)}"] if extra else [])
    dry = salt_cli(box, "salt-run", "mosmu.update", *args, "test=True", "sync=False")
    real = salt_cli(box, "salt-run", "mosmu.update", *args)
    again = salt_cli(box, "salt-run", "mosmu.update", *args)
    return minion, ip, tree, dry, real, again


LAYOUTS = [
    ("ubuntu", "6.0", 1, ["updates"]),
    ("ubuntu", "6.1", 1, ["updates", "holdback", "security"]),
    ("ubuntu", "7.0", 1, ["updates", "holdback"]),
    ("ubuntu", "8.0", 1, ["updates", "holdback", "security", "proposed"]),
    ("ubuntu", "9.2", 1, ["updates", "holdback"]),
    ("centos", "6.1", 2, ["updates", "security"]),
    ("centos", "7.0", 2, ["updates", "proposed"]),
]


def test_mixed_inventory_selects_the_centos_environment(sandbox):
    run = salt_cli(sandbox, "salt-run", "mosmu.nodes", "all_envs=True")
    assert run.returncode == 0, run.data
    centos = {m: i for m, i in sandbox.state["minions"].items() if i["distro"] == "centos"}
    selected = {n["ip"]: n for n in run.data["selected"]}
    assert centos and {i["ip"] for i in centos.values()} <= set(selected)
    for minion, info in centos.items():
        node = selected[info["ip"]]
        assert (node["os_platform"], node["mos_version"], node["minion"]) == \
            ("centos", "6.1", minion)
    assert not [s for s in run.data["skipped"] if "not supported" in s["reason"]]


@pytest.mark.parametrize("distro, version, env, repos", LAYOUTS,
                         ids=[f"{d}-{v}" for d, v, _e, _r in LAYOUTS])
def test_layout_upgrades_for_real_from_the_synced_mirror(sandbox, distro, version, env, repos):
    minion, ip, tree, dry, real, again = _run_layout(sandbox, distro, version, env, repos)
    # test=True ran before any sync of this layout: pre-flight refused it, touching nothing
    assert dry.returncode == 2 and "salt-run mosmu.sync" in dry.data["error"], dry.data
    assert real.returncode == 0, real.data
    expected = _expected(distro, [r for r in repos if r in tree.repos])
    assert _versions(sandbox, minion) == expected
    changes = node_entries(real.data)[ip]["changes"]
    assert {k: v["new"].split("-")[0] for k, v in changes.items()} == \
        {k: v for k, v in expected.items() if v != PACKAGE_VERSIONS[distro]["ga"][k]}
    assert status_lines(sandbox, minion) == ["STARTED", "UPDATE=OK"]
    # the run read its own snapshot of the tree, published under the mirror root
    snap = real.data["mirror"][tree.name]["snapshot_path"]
    assert snap.startswith(".snapshots/") and os.path.isdir(
        os.path.join(sandbox.dir, "www", snap))
    assert node_entries(again.data)[ip]["changes"] == {} and again.returncode == 0


@pytest.mark.parametrize("distro, version, env, repos", [LAYOUTS[1], LAYOUTS[5]],
                         ids=["ubuntu-6.1", "centos-6.1"])
def test_dry_run_and_real_run_agree_on_the_package_list(sandbox, distro, version, env, repos):
    minion = _minion(sandbox, distro)
    sandbox.reset_node(minion, distro, version)
    ip = sandbox.state["minions"][minion]["ip"]
    args = [f"env={env}", f"nodes={ip}", f"mos_version={version}",
            f"repos={','.join(r for r in repos if r != 'updates')}"]
    assert salt_cli(sandbox, "salt-run", "mosmu.sync", f"mos_version={version}",
                    f"distro={distro}", args[-1]).returncode == 0
    before = _versions(sandbox, minion)
    dry = salt_cli(sandbox, "salt-run", "mosmu.update", *args, "test=True")
    assert dry.returncode == 0, dry.data
    assert _versions(sandbox, minion) == before and status_lines(sandbox, minion) is None
    assert not os.path.exists(os.path.join(sandbox.node_root(minion), "etc/mosmu"))
    real = salt_cli(sandbox, "salt-run", "mosmu.update", *args)
    assert real.returncode == 0, real.data
    assert node_entries(dry.data)[ip]["changes"] == node_entries(real.data)[ip]["changes"]
    assert node_entries(real.data)[ip]["changes"]


def test_highstate_from_pillar_alone_on_a_centos_minion(sandbox):
    minion = _minion(sandbox, "centos")
    sandbox.reset_node(minion, "centos", "6.1")
    assert salt_cli(sandbox, "salt-run", "mosmu.sync", "mos_version=6.1",
                    "distro=centos").returncode == 0
    with open(os.path.join(sandbox.config_dir, "master.d", "mosmu.conf"),
              encoding="utf-8") as handle:
        repo_url = yaml.safe_load(handle)["mosmu"]["repo_url"]
    pillar = os.path.join(sandbox.dir, "salt", "pillar")
    with open(os.path.join(pillar, "mosmu.sls"), "w", encoding="utf-8") as handle:
        # no distro: the formula's map.jinja takes it from the minion's os_family grain
        yaml.safe_dump({"mosmu": {"mos_version": "6.1", "repo_url": repo_url,
                                  "trusted": True}}, handle)
    with open(os.path.join(pillar, "top.sls"), "w", encoding="utf-8") as handle:
        handle.write(f"base:\n  '{minion}':\n    - mosmu\n")
    try:
        salt_cli(sandbox, "salt", minion, "saltutil.refresh_pillar", "--static")
        runs = {}
        for test in ("True", "False", "False"):
            run = salt_cli(sandbox, "salt", minion, "state.apply", "mosmu", f"test={test}",
                           "--static")
            (state,) = run.data[minion].values()
            runs.setdefault(test, []).append(state)
        dry, (real, again) = runs["True"][0], runs["False"]
        assert dry["result"] is None and set(dry["changes"]) == set(real["changes"])
        assert real["result"] is True and real["changes"]
        assert again["result"] is True and again["changes"] == {}
        assert _versions(sandbox, minion) == _expected("centos", ["updates"])
    finally:
        with open(os.path.join(pillar, "top.sls"), "w", encoding="utf-8") as handle:
            handle.write("base: {}\n")
        salt_cli(sandbox, "salt", "*", "saltutil.refresh_pillar", "--static")


def test_a_made_up_mos_version_is_a_catalog_row_plus_sandbox_data(sandbox, broken_config):
    """No code change: a row in the master config, the sandbox builds its tree, nodes update."""
    row = {"base": "ubuntu/8.0", "upstream": "mos-repos/ubuntu/8.7",
           "path": "mos-repos/ubuntu/8.7", "suite": "mos8.7-{repo}",
           "repos": ["updates", "security"]}
    config = broken_config(catalog={"ubuntu/8.7": row})
    tree = mosmu_catalog.Catalog({"ubuntu/8.7": row}).get("ubuntu", "8.7")
    minion = _minion(sandbox, "ubuntu")
    sandbox.reset_node(minion, tree)
    ip = sandbox.state["minions"][minion]["ip"]
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", f"nodes={ip}",
                   "mos_version=8.7", "repos=security", config_dir=config)
    assert run.returncode == 0, run.data
    assert run.data["mirror"]["ubuntu/8.7"]["state"] == "updated"
    assert _versions(sandbox, minion) == _expected("ubuntu", ["updates", "security"])
    sources = os.path.join(sandbox.node_root(minion), "etc/mosmu/sources.list.d")
    text = ""
    for name in sorted(os.listdir(sources)):
        with open(os.path.join(sources, name), encoding="utf-8") as handle:
            text += handle.read()
    assert " mos8.7-updates main restricted" in text and " mos8.7-security " in text


def test_failure_before_the_upgrade_is_recorded_as_fail(sandbox):
    """Regression: a run that failed before the upgrade (the MU sources could not be
    written) used to leave the previous UPDATE=OK, so mosmu.status hid the failure."""
    minion = _minion(sandbox, "ubuntu")
    sandbox.reset_node(minion, "ubuntu", "8.0")
    ip = sandbox.state["minions"][minion]["ip"]
    assert salt_cli(sandbox, "salt-run", "mosmu.update", "env=1",
                    f"nodes={ip}").returncode == 0
    assert status_lines(sandbox, minion)[-1] == "UPDATE=OK"
    sources = os.path.join(sandbox.node_root(minion), "etc/mosmu/sources.list.d")
    shutil.rmtree(sources)
    with open(sources, "w", encoding="utf-8") as handle:   # a file where the dir must be
        handle.write("")
    try:
        run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", f"nodes={ip}")
        assert run.returncode == 2 and node_entries(run.data)[ip]["result"] == "FAIL"
        assert status_lines(sandbox, minion) == ["STARTED", "UPDATE=FAIL"]
        with open(os.path.join(sandbox.node_root(minion), "var/log/mos_apply_mu.json"),
                  encoding="utf-8") as handle:
            record = json.load(handle)
        assert record["failed_step"] == "write repo files" and record["state"] == "FAIL"
    finally:
        os.unlink(sources)


def test_interrupted_dpkg_is_completed_first_and_recorded(sandbox):
    """A killed earlier run left a package unpacked but not configured: the next run
    completes it (dpkg --configure -a) instead of failing every rerun."""
    import subprocess  # pylint: disable=import-outside-toplevel
    minion = _minion(sandbox, "ubuntu")
    sandbox.reset_node(minion, "ubuntu", "8.0")
    root = sandbox.node_root(minion)
    ip = sandbox.state["minions"][minion]["ip"]
    deb = next(os.path.join(d, f) for d, _s, fs in os.walk(sandbox.upstream_dir)
               for f in fs if f == "nova-common_1.2_all.deb")
    subprocess.run(["dpkg", f"--root={root}", f"--log={root}/var/log/dpkg.log", "--unpack",
                    deb], check=True, capture_output=True)
    audit = subprocess.run(["dpkg", f"--root={root}", "--audit"], capture_output=True,
                           text=True, check=False)
    assert "nova-common" in audit.stdout
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", f"nodes={ip}")
    assert run.returncode == 0, run.data
    assert subprocess.run(["dpkg", f"--root={root}", "--audit"], capture_output=True,
                          text=True, check=False).stdout == ""
    with open(os.path.join(root, "var/log/mos_apply_mu.json"), encoding="utf-8") as handle:
        record = json.load(handle)
    assert any("nova-common" in line for line in record["recovered"])
    assert status_lines(sandbox, minion) == ["STARTED", "UPDATE=OK"]


def test_reset_node_roots_for_later_tests(sandbox):
    for minion, info in sorted(sandbox.state["minions"].items()):
        sandbox.reset_node(minion, info["distro"], "8.0" if info["distro"] == "ubuntu" else "6.1")
        assert status_lines(sandbox, minion) is None
