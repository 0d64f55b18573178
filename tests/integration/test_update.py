"""End to end on the sandbox: salt-run mosmu.* against a real master, the Ubuntu minions of
env 1 (MOS 8.0), the Keystone/Nailgun stand-in, a real rsync daemon and HTTP repo, real apt/dpkg
in node roots. (The CentOS environment is covered by test_update_distros.py.)

The tests run in file order and build on each other like an operator's session:
preview -> sync -> dry run -> update -> status -> second run -> failure -> recovery.
"""

import json
import os
import stat
import subprocess

import yaml

import mosmu_code
from sandbox import hostcheck
from tests.integration.helpers import (
    host_fingerprint,
    node_entries,
    node_versions,
    salt_cli,
    status_lines,
)

PACKAGES = {"neutron-common", "nova-common", "python-nova"}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
    for entry in node_entries(run.data).values():
        assert entry["result"] == "OK"
        assert entry["changes"] == {p: {"old": "1.0", "new": "1.1"} for p in PACKAGES}
    for minion in _minions(sandbox):
        assert node_versions(sandbox, minion) == dict.fromkeys(PACKAGES, "1.1")
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


def _extmods(box, minion):
    with open(os.path.join(box.dir, "salt", "minions", minion, "minion"),
              encoding="utf-8") as handle:
        root = yaml.safe_load(handle)["root_dir"]
    return os.path.join(root, "var", "cache", "salt", "minion", "extmods")


def test_only_a_minion_whose_mosmu_code_differs_is_synced(sandbox):
    """Regression: every run did a full saltutil.sync_all on every minion (64% of a small
    run). Now minions that run the master's mosmu code get no sync at all; one whose code
    differs (here: a helper edited on the node) gets mosmu's modules synced back."""
    expected = mosmu_code.local_digest(os.path.join(REPO, "_modules", "mosmu.py"),
                                       os.path.join(REPO, "_states", "mosmu.py"),
                                       os.path.join(REPO, "_utils"))
    versions = salt_cli(sandbox, "salt", "*", "mosmu.version")
    assert {v["digest"] for v in versions.data.values()} == {expected}, versions.data

    def update():       # the default output: its progress lines say what the run does
        proc = subprocess.run(sandbox.salt_argv("salt-run", "mosmu.update", "env=1",
                                                "sync=False"),
                              capture_output=True, text=True, check=False, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    assert "syncing mosmu's modules" not in update()
    minion = _minions(sandbox)[0]
    edited = os.path.join(_extmods(sandbox, minion), "utils", "mosmu_code.py")
    with open(edited, "a", encoding="utf-8") as handle:
        handle.write("# edited on the node\n")
    assert "syncing mosmu's modules to 1 minion(s)" in update()
    with open(edited, encoding="utf-8") as handle, \
            open(os.path.join(REPO, "_utils", "mosmu_code.py"), encoding="utf-8") as source:
        assert handle.read() == source.read()
    again = salt_cli(sandbox, "salt", minion, "mosmu.version")
    assert again.data[minion]["digest"] == expected


def test_a_file_missing_from_the_published_mirror_stops_the_run_before_any_node(sandbox):
    """A package the MU index names was removed from the published snapshot behind mosmu's
    back: the pre-flight names it and the repair command, and no node is touched (nodes
    used to get a 404 in the middle of their upgrade)."""
    sync = salt_cli(sandbox, "salt-run", "mosmu.sync", "mos_version=8.0", "repos=proposed")
    assert sync.returncode == 0, sync.data
    tree = os.path.realpath(os.path.join(sandbox.dir, "www/mos-repos/ubuntu/8.0"))
    deb = next(os.path.join(d, f) for d, _s, fs in os.walk(tree) for f in fs
               if f == "nova-common_1.2_all.deb")
    stamps = {m: os.stat(os.path.join(sandbox.node_root(m), "var/log/mos_apply_mu.status"))
              .st_mtime_ns for m in _minions(sandbox)}
    os.rename(deb, deb + ".hidden")
    try:
        run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", "repos=proposed",
                       "sync=False")
    finally:
        os.rename(deb + ".hidden", deb)
    assert run.returncode == 2 and "nova-common_1.2_all.deb" in run.data["error"], run.data
    assert "verify=True" in run.data["error"] and not node_entries(run.data)
    for minion in _minions(sandbox):
        path = os.path.join(sandbox.node_root(minion), "var/log/mos_apply_mu.status")
        assert os.stat(path).st_mtime_ns == stamps[minion]


def test_failed_node_update_stops_the_run_and_is_recorded(sandbox):
    """The compute's package manager fails (a dpkg hook in its root exits 1): its upgrade
    fails in wave 1 (computes go first), the run stops there (max_failures=0), the
    controller is SKIPPED, and the failed node records UPDATE=FAIL."""
    preview = salt_cli(sandbox, "salt-run", "mosmu.nodes", "env=1")
    broken_minion = next(n["minion"] for n in preview.data["selected"]
                         if "controller" not in n["roles"])
    hook = os.path.join(sandbox.node_root(broken_minion), "etc/apt/apt.conf.d/99broken")
    with open(hook, "w", encoding="utf-8") as handle:
        handle.write('DPkg::Pre-Invoke { "exit 1"; };\n')
    try:
        run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", "repos=proposed",
                       "sync=False")
    finally:
        os.unlink(hook)
    assert run.returncode == 2 and run.data["retcode"] == 2
    entries = node_entries(run.data)
    broken = sandbox.state["minions"][broken_minion]["ip"]
    assert entries[broken]["result"] == "FAIL"
    assert "apt upgrade failed (exit 100)" in entries[broken]["comment"]
    assert "Pre-Invoke" in entries[broken]["comment"]
    others = {ip: e for ip, e in entries.items() if ip != broken}
    assert others and {e["result"] for e in others.values()} == {"SKIPPED"}
    assert all("controller" in e["roles"] for e in others.values())
    assert all("max_failures=0" in e["comment"] for e in others.values())
    for minion in _minions(sandbox):
        failed = sandbox.state["minions"][minion]["ip"] == broken
        assert status_lines(sandbox, minion)[-1] == ("UPDATE=FAIL" if failed else "UPDATE=OK")
        assert node_versions(sandbox, minion)["nova-common"] == "1.1"
    status = salt_cli(sandbox, "salt-run", "mosmu.status", "env=1")
    assert status.returncode == 2
    assert node_entries(status.data)[broken]["result"] == "FAIL"


def test_retry_failed_updates_only_the_failed_and_skipped_nodes(sandbox):
    """The skipped node's last OK was for other repos, so it is retried too."""
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", "repos=proposed",
                   "retry_failed=True")
    assert run.returncode == 0, run.data
    entries = node_entries(run.data)
    assert set(entries) == _env1_ips(sandbox)
    for entry in entries.values():
        assert entry["changes"]["nova-common"] == {"old": "1.1", "new": "1.2"}
    again = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", "repos=proposed",
                     "retry_failed=True")
    assert again.returncode == 0 and node_entries(again.data) == {}
    assert {s["reason"] for s in again.data["skipped"] if s["ip"] in _env1_ips(sandbox)} == \
        {"last status UPDATE=OK (retry_failed=True skips it)"}


def test_default_output_is_progress_lines_then_a_table(sandbox):
    proc = subprocess.run(sandbox.salt_argv("salt-run", "mosmu.update", "env=1",
                                            "repos=proposed"),
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("job ") and "selected" in lines[0]
    assert any(line.startswith("env 1 wave 1/2: starting 1 node(s)") for line in lines)
    assert any(line.startswith("env 1 wave 2/2") for line in lines)
    assert "{" not in proc.stdout                     # text, not event dicts
    assert any(line.startswith(f"{len(_minions(sandbox))} OK") and "retcode 0" in line
               for line in lines)


def test_json_output_is_exactly_one_document(sandbox):
    proc = subprocess.run(sandbox.salt_argv("salt-run", "--out=json", "mosmu.update", "env=1",
                                            "repos=proposed"),
                          capture_output=True, text=True, check=False, timeout=600)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["retcode"] == 0 and "outputter" not in report
    assert set(node_entries(report)) == _env1_ips(sandbox)


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
    """salt 'node-*' state.apply mosmu with the plan in pillar (highstate path, no runner).

    The repos are those of the last runner runs (updates + proposed): with Fuel's pins above
    1000, dropping proposed would move its packages back to the updates versions."""
    import yaml  # pylint: disable=import-outside-toplevel
    with open(os.path.join(sandbox.config_dir, "master.d", "mosmu.conf"),
              encoding="utf-8") as handle:
        repo_url = yaml.safe_load(handle)["mosmu"]["repo_url"]
    pillar = os.path.join(sandbox.dir, "salt", "pillar")
    with open(os.path.join(pillar, "mosmu.sls"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"mosmu": {"mos_version": "8.0", "repo_url": repo_url,
                                  "repos": ["updates", "proposed"], "trusted": True}}, handle)
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
    """The integration tier's own window (the session check in tests/conftest.py covers the
    whole run); each changed path is named."""
    assert hostcheck.diff(host_before, host_fingerprint()) == []


def test_printed_status_command_pastes_into_a_shell(sandbox, tmp_path):
    """Regression: `mosmu-sandbox up` printed the status command with an unquoted `*`, which
    the shell expanded to the file names of the current directory."""
    (tmp_path / "some-file").write_text("")
    command = sandbox.state["commands"]["status"] + " --out=json --static"
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(json.loads(proc.stdout)) == set(sandbox.state["minions"])
