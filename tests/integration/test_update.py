"""End to end on the sandbox: salt-run mosmu.* against a real master, the Ubuntu minions of
env 1 (MOS 8.0), the Keystone/Nailgun stand-in, a real rsync daemon and HTTP repo, real apt/dpkg
in node roots. (The CentOS environment is covered by test_update_distros.py.)

The tests run in file order and build on each other like an operator's session:
preview -> sync -> dry run -> update -> status -> second run -> failure -> recovery.
"""

import os
import stat

from tests.integration.helpers import (host_fingerprint, node_entries, node_versions,
                                       salt_cli, status_lines)

PACKAGES = {"neutron-common", "nova-common", "python-nova"}


def _minions(box):
    return sorted(m for m, info in box.state["minions"].items() if info["env"] == 1)


def _env1_ips(box):
    return {box.state["minions"][m]["ip"] for m in _minions(box)}


def test_nodes_preview_maps_every_node_to_its_minion(sandbox):
    run = salt_cli(sandbox, "salt-run", "mosmu.nodes", "env=1")
    assert run.returncode == 0, run.stderr
    selected = {n["ip"]: n for n in run.data["selected"]}
    assert set(selected) == _env1_ips(sandbox)
    for minion in _minions(sandbox):
        info = sandbox.state["minions"][minion]
        node = selected[info["ip"]]
        assert node["minion"] == minion
        assert node["mos_version"] == "8.0"
        assert node["status"] == "ready" and node["online"] is True
    assert {s["reason"] for s in run.data["skipped"]} == {"in environment 2, not selected"}


def test_sync_publishes_the_updates_suite(sandbox):
    run = salt_cli(sandbox, "salt-run", "mosmu.sync", "env=1")
    assert run.returncode == 0, run.data
    result = run.data["mirror"]["ubuntu/8.0"]
    assert result["state"] == "updated" and result["suites"]["mos8.0-updates"] == "updated"
    tree = os.path.join(sandbox.dir, "www/mos-repos/ubuntu/8.0")
    assert os.path.islink(tree)          # published by an atomic symlink swap
    assert os.path.realpath(tree) == os.path.realpath(
        os.path.join(sandbox.dir, "www", result["snapshot_path"]))
    assert os.path.isfile(os.path.join(tree, "dists/mos8.0-updates/Release"))


def test_dry_run_reports_pending_packages_and_changes_nothing(sandbox):
    before = {m: node_versions(sandbox, m) for m in _minions(sandbox)}
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", "test=True")
    assert run.returncode == 0, run.data
    entries = node_entries(run.data)
    assert len(entries) == len(before)
    for entry in entries.values():
        assert entry["result"] == "OK" and entry["test"] is True
        assert set(entry["changes"]) == PACKAGES
        assert all(c == {"old": "1.0", "new": "1.1"} for c in entry["changes"].values())
    for minion in _minions(sandbox):
        assert node_versions(sandbox, minion) == before[minion]
        assert status_lines(sandbox, minion) is None
        assert not os.path.exists(os.path.join(sandbox.node_root(minion), "etc/mosmu"))


def test_update_upgrades_every_node(sandbox):
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1")
    assert run.returncode == 0, run.data
    assert run.data["retcode"] == 0 and run.data["summary"] == {"OK": len(_minions(sandbox))}
    assert any("wave 1/1" in msg for msg in run.progress)
    for entry in node_entries(run.data).values():
        assert entry["result"] == "OK"
        assert entry["changes"] == {p: {"old": "1.0", "new": "1.1"} for p in PACKAGES}
    for minion in _minions(sandbox):
        assert node_versions(sandbox, minion) == {p: "1.1" for p in PACKAGES}
        assert status_lines(sandbox, minion) == ["STARTED", "UPDATE=OK"]


def test_minions_report_ok_status(sandbox):
    run = salt_cli(sandbox, "salt", "-L", ",".join(_minions(sandbox)), "mosmu.status",
                   "--static")
    assert run.returncode == 0
    assert set(run.data) == set(_minions(sandbox))
    for ret in run.data.values():
        assert ret["state"] == "OK" and ret["line"] == "UPDATE=OK"
        assert set(ret["record"]["changes"]) == PACKAGES
    runner = salt_cli(sandbox, "salt-run", "mosmu.status", "env=1")
    assert runner.returncode == 0
    assert {e["result"] for e in node_entries(runner.data).values()} == {"OK"}


def test_second_run_changes_nothing(sandbox):
    stamps = {m: os.stat(os.path.join(sandbox.node_root(m), "var/log/mos_apply_mu.status"))
              .st_mtime_ns for m in _minions(sandbox)}
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1")
    assert run.returncode == 0, run.data
    assert run.data["mirror"]["ubuntu/8.0"]["state"] == "unchanged"
    for entry in node_entries(run.data).values():
        assert entry["result"] == "OK" and entry["changes"] == {}
    for minion in _minions(sandbox):
        path = os.path.join(sandbox.node_root(minion), "var/log/mos_apply_mu.status")
        assert os.stat(path).st_mtime_ns == stamps[minion]


def test_failed_node_update_is_reported_and_recorded(sandbox):
    """A package the MU index names cannot be downloaded (removed from the published snapshot
    behind mosmu's back): the upgrade fails, the run says FAIL, the node records it."""
    sync = salt_cli(sandbox, "salt-run", "mosmu.sync", "mos_version=8.0", "repos=proposed")
    assert sync.returncode == 0, sync.data
    tree = os.path.realpath(os.path.join(sandbox.dir, "www/mos-repos/ubuntu/8.0"))
    deb = next(os.path.join(d, f) for d, _s, fs in os.walk(tree) for f in fs
               if f == "nova-common_1.2_all.deb")
    os.rename(deb, deb + ".hidden")
    try:
        run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", "repos=proposed",
                       "sync=False")
    finally:
        os.rename(deb + ".hidden", deb)
    assert run.returncode == 2 and run.data["retcode"] == 2
    for entry in node_entries(run.data).values():
        assert entry["result"] == "FAIL"
        assert "nova-common_1.2" in entry["comment"] and "404" in entry["comment"]
    for minion in _minions(sandbox):
        assert status_lines(sandbox, minion) == ["STARTED", "UPDATE=FAIL"]
        assert node_versions(sandbox, minion)["nova-common"] == "1.1"
    status = salt_cli(sandbox, "salt-run", "mosmu.status", "env=1")
    assert status.returncode == 2
    assert {e["result"] for e in node_entries(status.data).values()} == {"FAIL"}


def test_next_good_run_records_ok_again(sandbox):
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1")
    assert run.returncode == 0, run.data
    for entry in node_entries(run.data).values():
        assert entry["changes"] == {"/var/log/mos_apply_mu.status":
                                    {"old": "UPDATE=FAIL", "new": "UPDATE=OK"}}
    for minion in _minions(sandbox):
        assert status_lines(sandbox, minion) == ["STARTED", "UPDATE=OK"]


def test_fuel_password_stays_out_of_job_cache_and_logs(sandbox):
    """The password lives in master.d/mosmu.conf only: never in job data, events or logs."""
    import yaml  # pylint: disable=import-outside-toplevel
    conf = os.path.join(sandbox.config_dir, "master.d", "mosmu.conf")
    with open(conf, encoding="utf-8") as handle:
        password = yaml.safe_load(handle)["mosmu"]["password"].encode()
    leaks, scanned = [], 0
    for base in (os.path.join(sandbox.dir, "salt"), os.path.join(sandbox.dir, "logs")):
        for path, _dirs, files in os.walk(base):
            if path.startswith(sandbox.config_dir):
                continue
            for name in files:
                if not stat.S_ISREG(os.lstat(os.path.join(path, name)).st_mode):
                    continue  # sockets of the running daemons
                scanned += 1
                with open(os.path.join(path, name), "rb") as handle:
                    if password in handle.read():
                        leaks.append(os.path.join(path, name))
    assert scanned > 20 and leaks == []


def test_formula_applies_from_static_pillar(sandbox):
    """salt 'node-*' state.apply mosmu with the plan in pillar (highstate path, no runner)."""
    import yaml  # pylint: disable=import-outside-toplevel
    with open(os.path.join(sandbox.config_dir, "master.d", "mosmu.conf"),
              encoding="utf-8") as handle:
        repo_url = yaml.safe_load(handle)["mosmu"]["repo_url"]
    pillar = os.path.join(sandbox.dir, "salt", "pillar")
    with open(os.path.join(pillar, "mosmu.sls"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"mosmu": {"mos_version": "8.0", "repo_url": repo_url,
                                  "repos": ["updates"], "trusted": True}}, handle)
    with open(os.path.join(pillar, "top.sls"), "w", encoding="utf-8") as handle:
        handle.write("base:\n" + "".join(f"  '{m}':\n    - mosmu\n"
                                          for m in _minions(sandbox)))
    try:
        salt_cli(sandbox, "salt", "*", "saltutil.refresh_pillar", "--static")
        for test in ("True", "False"):
            run = salt_cli(sandbox, "salt", "-L", ",".join(_minions(sandbox)), "state.apply",
                           "mosmu", f"test={test}", "--static")
            assert run.returncode == 0, run.data
            for minion, states in run.data.items():
                (state,) = states.values()
                assert state["result"] is True and state["changes"] == {}, (minion, state)
                assert "up to date" in state["comment"]
    finally:
        with open(os.path.join(pillar, "top.sls"), "w", encoding="utf-8") as handle:
            handle.write("base: {}\n")
        salt_cli(sandbox, "salt", "*", "saltutil.refresh_pillar", "--static")


def test_host_is_untouched(sandbox, host_before):
    assert host_fingerprint() == host_before
