"""The ssh transport end to end: nodes with nothing installed, reached over a real sshd,
upgraded by real apt/dpkg and dnf/rpm in their node roots, in the same run and waves as
minion nodes; and every ssh fault a node can show, each with its own result and fix.

Tests run in file order and share the sandbox (``conftest.py``); each one that changes a
node's packages resets its root first.
"""

import glob
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml

from sandbox.cli import json_documents, node_packages
from sandbox.stack import PACKAGE_VERSIONS
from tests.integration.helpers import config_copy, node_entries, salt_cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UBUNTU_SSH = ("node-3.test.domain.local", "node-4.test.domain.local")
CENTOS_SSH = ("node-5.test.domain.local", "node-6.test.domain.local")


def info(box, fqdn):
    return box.ssh_node(fqdn)


def versions(box, fqdn):
    node = info(box, fqdn)
    got = node_packages(node["root"], node["distro"])
    return {k: v.split("-")[0] for k, v in got.items() if not k.startswith("gpg-pubkey")}


def status_file(box, fqdn):
    path = os.path.join(info(box, fqdn)["root"], "var/log/mos_apply_mu.status")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def ga(distro):
    return dict(PACKAGE_VERSIONS[distro]["ga"])


def updated(distro):
    """The node's packages at their updates version (a node without Ceph lacks ceph)."""
    return {name: PACKAGE_VERSIONS[distro]["updates"].get(name, v)
            for name, v in ga(distro).items()}


def mosmu_ssh_processes(box):
    """This sandbox's ssh clients and connection masters of mosmu runs (their ControlPath is
    in a private ``/tmp/mosmu-ssh-*`` dir, their known_hosts this sandbox's) and the sshd
    sessions still open on its nodes (found from each node's sshd, never by name: other
    sandboxes may run on this machine at the same time)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmd = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        argv0 = cmd.split(" ", 1)[0]
        if os.path.basename(argv0) == "ssh" and "ControlPath=/tmp/mosmu-ssh-" in cmd \
                and box.state["ssh"]["known_hosts"] in cmd:
            out.append(cmd)                          # a client or mux of a mosmu run
    for fqdn in box.state.get("ssh_nodes", {}):
        out += [f"sshd session {pid} on {fqdn}" for pid in sorted(box.sshd_sessions(fqdn))]
    return out


def reset_all(box):
    for fqdn in UBUNTU_SSH + CENTOS_SSH:
        box.reset_node(fqdn)
    for minion in box.state["minions"]:
        box.reset_node(minion)


# -- the main job ------------------------------------------------------------------------------

def test_nodes_shows_each_nodes_transport(sandbox):
    run = salt_cli(sandbox, "salt-run", "mosmu.nodes", "all_envs=True")
    assert run.returncode == 0, run.data
    got = {n["fqdn"]: (n["transport"], n["minion"]) for n in run.data["selected"]}
    for fqdn in UBUNTU_SSH + CENTOS_SSH:
        assert got[fqdn] == ("ssh", None)
    for minion in sandbox.state["minions"]:
        assert got[minion] == ("minion", minion)


def test_dry_run_and_real_run_agree_and_a_second_run_changes_nothing(sandbox):
    """Minion and ssh nodes of both environments in one run; the ssh computes first, then the
    controller (a minion) alone in the last wave of each environment."""
    assert salt_cli(sandbox, "salt-run", "mosmu.sync", "all_envs=True").returncode == 0
    before = {f: versions(sandbox, f) for f in UBUNTU_SSH + CENTOS_SSH}
    dry = salt_cli(sandbox, "salt-run", "mosmu.update", "all_envs=True", "test=True")
    assert dry.returncode == 0, dry.data
    assert {f: versions(sandbox, f) for f in before} == before
    for fqdn in UBUNTU_SSH + CENTOS_SSH:
        assert status_file(sandbox, fqdn) is None
        assert not os.path.exists(os.path.join(info(sandbox, fqdn)["root"], "etc/mosmu"))
    real = salt_cli(sandbox, "salt-run", "mosmu.update", "all_envs=True")
    assert real.returncode == 0, real.data
    entries = node_entries(real.data)
    dry_entries = node_entries(dry.data)
    for fqdn in UBUNTU_SSH + CENTOS_SSH:
        node = info(sandbox, fqdn)
        entry = entries[node["ip"]]
        assert (entry["result"], entry["transport"]) == ("OK", "ssh"), entry
        assert versions(sandbox, fqdn) == updated(node["distro"])
        assert status_file(sandbox, fqdn) == ["STARTED", "UPDATE=OK"]
        # what the dry run offered is what the real run did
        assert {k: v["new"].split("-")[0] for k, v in dry_entries[node["ip"]]["changes"]
                .items()} == {k: v["new"].split("-")[0] for k, v in entry["changes"].items()}
        assert entry["changes"] and entry["duration"] is not None
    again = salt_cli(sandbox, "salt-run", "mosmu.update", "all_envs=True", "sync=False")
    assert again.returncode == 0, again.data
    for fqdn in UBUNTU_SSH + CENTOS_SSH:
        assert node_entries(again.data)[info(sandbox, fqdn)["ip"]]["changes"] == {}
        assert status_file(sandbox, fqdn) == ["STARTED", "UPDATE=OK"]
    assert mosmu_ssh_processes(sandbox) == []


def record(root):
    with open(os.path.join(root, "var/log/mos_apply_mu.json"), encoding="utf-8") as handle:
        return json.load(handle)


def test_the_controller_goes_alone_after_its_ssh_computes(sandbox):
    """serial_roles, in each environment: the minion controller's run starts after both ssh
    computes ended (controllers last, so computes restart first); the two ssh computes run
    at the same time (one wave)."""
    reset_all(sandbox)
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "all_envs=True", "sync=False")
    assert run.returncode == 0, run.data
    for controller_fqdn, ssh_nodes in (("node-1.test.domain.local", UBUNTU_SSH),
                                       ("node-2.test.domain.local", CENTOS_SSH)):
        controller = record(sandbox.node_root(controller_fqdn))
        computes = [record(info(sandbox, f)["root"]) for f in ssh_nodes]
        assert all(c["finished"] <= controller["started"] for c in computes)
        assert computes[0]["started"] <= computes[1]["finished"] and \
            computes[1]["started"] <= computes[0]["finished"]
        assert [controller["transport"], *(c["transport"] for c in computes)] == \
            ["minion", "ssh", "ssh"]
        assert controller["run_id"] == computes[0]["run_id"] == computes[1]["run_id"]


def test_status_reads_ssh_nodes(sandbox):
    run = salt_cli(sandbox, "salt-run", "mosmu.status", "all_envs=True")
    assert run.returncode == 0, run.data
    for fqdn in UBUNTU_SSH + CENTOS_SSH:
        entry = node_entries(run.data)[info(sandbox, fqdn)["ip"]]
        assert (entry["result"], entry["line"], entry["transport"]) == \
            ("OK", "UPDATE=OK", "ssh")
        assert entry["record"]["transport"] == "ssh" and entry["record"]["run_id"]
    assert mosmu_ssh_processes(sandbox) == []


def test_mos_apply_mu_check_reads_ssh_nodes(sandbox):
    proc = subprocess.run([sys.executable, "-m", "mosmu_salt.compat", "-c", sandbox.config_dir,
                           "--env-id=2", "--check"], capture_output=True, text=True,
                          check=False, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for fqdn in CENTOS_SSH:
        assert info(sandbox, fqdn)["ip"] in proc.stdout, proc.stdout + proc.stderr


def test_an_ubuntu_6_0_layout_is_upgraded_over_ssh(sandbox):
    fqdn = UBUNTU_SSH[0]
    sandbox.reset_node(fqdn, "ubuntu", "6.0")
    ip = info(sandbox, fqdn)["ip"]
    args = ["env=1", f"nodes={ip}", "mos_version=6.0"]
    run = salt_cli(sandbox, "salt-run", "mosmu.update", *args)
    assert run.returncode == 0, run.data
    assert node_entries(run.data)[ip]["result"] == "OK"
    assert versions(sandbox, fqdn) == updated("ubuntu")
    sandbox.reset_node(fqdn, "ubuntu", "8.0")


def test_a_hostile_status_line_is_read_back_as_data(sandbox, tmp_path):
    fqdn = UBUNTU_SSH[1]
    canary = tmp_path / "canary"
    path = os.path.join(info(sandbox, fqdn)["root"], "var/log/mos_apply_mu.status")
    hostile = f"$(touch {canary}); `touch {canary}`; @@mosmu - end"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(hostile + "\n")
    run = salt_cli(sandbox, "salt-run", "mosmu.status", "env=1")
    entry = node_entries(run.data)[info(sandbox, fqdn)["ip"]]
    assert entry["line"] == hostile and entry["result"] == "UNKNOWN"
    assert not canary.exists()
    sandbox.reset_node(fqdn)


# -- faults ------------------------------------------------------------------------------------

def test_a_wrong_key_is_auth_refused_for_every_ssh_node(sandbox, tmp_path):
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                   env=dict(os.environ, HOME=str(tmp_path)))
    with open(os.path.join(sandbox.config_dir, "master.d", "mosmu.conf"),
              encoding="utf-8") as handle:
        ssh = dict(yaml.safe_load(handle)["mosmu"]["ssh"], priv=str(key))
    etc = config_copy(sandbox, tmp_path / "etc", ssh=ssh)
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=2", "sync=False", config_dir=etc)
    assert run.returncode == 2
    for fqdn in CENTOS_SSH:
        entry = node_entries(run.data)[info(sandbox, fqdn)["ip"]]
        assert entry["result"] == "UNREACHABLE" and f"refused the key {key}" in entry["comment"]
    assert "BEGIN OPENSSH" not in json.dumps(run.data)


def test_a_changed_host_key_is_refused_naming_the_file(sandbox):
    fqdn = CENTOS_SSH[0]
    known = sandbox.state["ssh"]["known_hosts"]
    with open(known, "rb") as handle:
        before = handle.read()
    sandbox.rotate_host_key(fqdn)
    try:
        run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=2", "sync=False")
        entry = node_entries(run.data)[info(sandbox, fqdn)["ip"]]
        assert entry["result"] == "UNREACHABLE" and "host key changed" in entry["comment"]
        assert known in entry["comment"]
        other = node_entries(run.data)[info(sandbox, CENTOS_SSH[1])["ip"]]
        assert other["result"] == "OK"        # the other nodes go on
        with open(known, "rb") as handle:
            assert handle.read() == before    # never accepted
    finally:
        sandbox.stop_sshd(fqdn)
        sandbox._sshd(fqdn).prepare(trust=True)   # pylint: disable=protected-access
        sandbox.start_sshd(fqdn)


def test_an_sshd_stopped_before_the_wave_is_unreachable_and_the_others_go_on(sandbox):
    reset_all(sandbox)
    down = UBUNTU_SSH[0]
    sandbox.stop_sshd(down)
    try:
        run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", "sync=False",
                       "max_failures=5")
        assert run.returncode == 2
        entries = node_entries(run.data)
        entry = entries[info(sandbox, down)["ip"]]
        assert entry["result"] == "UNREACHABLE" and "unreachable" in entry["comment"]
        assert entries[info(sandbox, UBUNTU_SSH[1])["ip"]]["result"] == "OK"
        assert versions(sandbox, down) == ga("ubuntu")
    finally:
        sandbox.start_sshd(down)
    again = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", "sync=False",
                     "retry_failed=True")
    assert again.returncode == 0, again.data
    assert node_entries(again.data)[info(sandbox, down)["ip"]]["result"] == "OK"
    assert versions(sandbox, down) == updated("ubuntu")


def test_sshd_killed_during_the_upgrade_the_package_manager_completes(sandbox):
    """dpkg is slowed by a hook in the node root; sshd (listener and sessions) is killed
    while the upgrade runs detached; the upgrade finishes anyway, and once sshd is back the
    same run reconnects and reports the node OK with its changes."""
    reset_all(sandbox)
    fqdn = UBUNTU_SSH[1]
    root = info(sandbox, fqdn)["root"]
    hook = os.path.join(root, "etc/apt/apt.conf.d/99slow")
    with open(hook, "w", encoding="utf-8") as handle:
        handle.write('DPkg::Pre-Invoke { "sleep 4"; };\n')
    argv = sandbox.salt_argv("salt-run", "--out=json", "mosmu.update", "env=1",
                             f"nodes={info(sandbox, fqdn)['ip']}", "sync=False")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"),
                                                            proc.communicate())))
    reader.start()
    try:
        jobs = os.path.join(root, "var/lib/mosmu/jobs")
        deadline = time.monotonic() + 240
        while not glob.glob(os.path.join(jobs, "upgrade-*", "pid")):
            assert time.monotonic() < deadline and proc.poll() is None, out
            time.sleep(0.2)
        killed = sandbox.kill_sshd(fqdn)
        assert killed
        while not glob.glob(os.path.join(jobs, "upgrade-*", "rc")):   # completes unwatched
            assert time.monotonic() < deadline, "the upgrade died with its connection"
            time.sleep(0.2)
        assert versions(sandbox, fqdn) == updated("ubuntu")
    finally:
        sandbox.start_sshd(fqdn)
        reader.join(timeout=600)
        os.unlink(hook)
    report = [d for d in json_docs(out.get("stdout", "")) if "retcode" in d][-1]
    entry = node_entries(report)[info(sandbox, fqdn)["ip"]]
    assert entry["result"] == "OK", entry
    assert entry["changes"] and status_file(sandbox, fqdn) == ["STARTED", "UPDATE=OK"]
    assert mosmu_ssh_processes(sandbox) == []


def json_docs(text):
    return [d for d in json_documents([text]) if isinstance(d, dict)]


@pytest.mark.parametrize("transport", ["minion"])
def test_transport_minion_reports_ssh_only_nodes_as_no_minion(sandbox, transport):
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=2", "test=True",
                   f"transport={transport}")
    for fqdn in CENTOS_SSH:
        assert node_entries(run.data)[info(sandbox, fqdn)["ip"]]["result"] == "NO_MINION"


# -- OK means verified, over both transports ---------------------------------------------------

def minion_of(box, env):
    return next(m for m, i in box.state["minions"].items() if i["env"] == env)


def node(box, name):
    """``(ip, root)`` of a minion or an ssh node."""
    entry = box.state["minions"].get(name) or info(box, name)
    return entry["ip"], entry["root"]


def lines(root):
    path = os.path.join(root, "var/log/mos_apply_mu.status")
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


BROKEN = {"updates": {"openstack-nova-common": "1.1", "python-nova": "1.1",
                      "openstack-neutron": ("1.3", "mosmu-sandbox-missing")}}


def test_a_package_skipped_by_the_upgrade_makes_the_node_partial(sandbox):
    """Regression: yum/dnf ``update --skip-broken`` skipped an MU package whose dependency is
    missing, exited 0, and the node was reported OK with retcode 0. Now the installed
    versions are compared with what check-update offered: PARTIAL, over the minion and over
    ssh, on the node (UPDATE=FAIL, record PARTIAL) and in mosmu.status; accept_partial=True
    lets the run pass and keeps the nodes PARTIAL."""
    names = [minion_of(sandbox, 2), CENTOS_SSH[0]]
    for name in names:
        sandbox.reset_node(name)
    sandbox.build_tree("centos", "6.1", BROKEN)
    try:
        ips = ",".join(node(sandbox, n)[0] for n in names)
        run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=2", f"nodes={ips}",
                       "max_failures=5")
        assert run.returncode == 2, run.data
        entries = node_entries(run.data)
        for name in names:
            ip, root = node(sandbox, name)
            entry = entries[ip]
            assert entry["result"] == "PARTIAL", entry
            assert "openstack-neutron 1.0-1 (offered 1.3-1)" in entry["comment"], entry
            assert "--skip-broken" in entry["comment"]
            assert set(entry["changes"]) == {"openstack-nova-common", "python-nova"}
            assert lines(root) == ["STARTED", "UPDATE=FAIL"]
            assert record(root)["state"] == "PARTIAL"
            assert set(record(root)["short"]) == {"openstack-neutron"}
        status = salt_cli(sandbox, "salt-run", "mosmu.status", "env=2", f"nodes={ips}")
        assert status.returncode == 2
        assert {e["result"] for e in node_entries(status.data).values()} == {"PARTIAL"}
        accepted = salt_cli(sandbox, "salt-run", "mosmu.update", "env=2", f"nodes={ips}",
                            "sync=False", "accept_partial=True")
        assert accepted.returncode == 0, accepted.data
        assert {e["result"] for e in node_entries(accepted.data).values()} == {"PARTIAL"}
    finally:
        sandbox.build_tree("centos", "6.1")
        assert salt_cli(sandbox, "salt-run", "mosmu.sync", "mos_version=6.1",
                        "distro=centos").returncode == 0


def chattr(flag, root):
    log = os.path.join(root, "var/log")
    paths = [os.path.join(log, f) for f in ("mos_apply_mu.status", "mos_apply_mu.json")]
    for path in [*paths, log] if flag == "+i" else [log, *paths]:
        subprocess.run(["chattr", flag, path], check=True)


def test_a_node_that_cannot_write_its_status_is_failed_everywhere(sandbox):
    """Regression: a node whose /var/log could not be written, holding an earlier UPDATE=OK
    for the same plan, was reported with a comment saying UPDATE=FAIL had been written;
    mosmu.status then said OK and retry_failed=True found nothing to do, while every package
    was still at the old version. (chattr +i: root cannot write there, as on a read-only
    or full /var/log.)"""
    names = [minion_of(sandbox, 1), UBUNTU_SSH[0]]
    ips = ",".join(node(sandbox, n)[0] for n in names)
    for name in names:
        root = node(sandbox, name)[1]
        sandbox.reset_node(name)
        os.makedirs(os.path.join(root, "var/log"), exist_ok=True)
        with open(os.path.join(root, "var/log/mos_apply_mu.status"), "w",
                  encoding="utf-8") as handle:
            handle.write("STARTED\nUPDATE=OK\n")
        with open(os.path.join(root, "var/log/mos_apply_mu.json"), "w",
                  encoding="utf-8") as handle:
            json.dump({"state": "OK", "mos_version": "8.0", "repos": ["updates"],
                       "run_id": "20200101000000000000"}, handle)
    roots = [node(sandbox, n)[1] for n in names]
    try:
        for root in roots:
            chattr("+i", root)
        run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", f"nodes={ips}",
                       "max_failures=5")
        assert run.returncode == 2, run.data
        for entry in node_entries(run.data).values():
            assert entry["result"] == "FAIL", entry
            assert "could not record UPDATE=FAIL" in entry["comment"], entry
            assert "status UPDATE=FAIL" not in entry["comment"]
        status = salt_cli(sandbox, "salt-run", "mosmu.status", "env=1", f"nodes={ips}")
        assert status.returncode == 2
        for entry in node_entries(status.data).values():
            assert entry["result"] == "FAIL" and "could not record" in entry["comment"], entry
        retry = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", f"nodes={ips}",
                         "sync=False", "retry_failed=True", "max_failures=5")
        assert retry.returncode == 2 and len(node_entries(retry.data)) == 2, retry.data
    finally:
        for root in roots:
            chattr("-i", root)
    for name in names:
        assert versions_of(sandbox, name) == ga("ubuntu")
    fixed = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", f"nodes={ips}",
                     "sync=False", "retry_failed=True")
    assert fixed.returncode == 0, fixed.data
    assert {e["result"] for e in node_entries(fixed.data).values()} == {"OK"}
    status = salt_cli(sandbox, "salt-run", "mosmu.status", "env=1", f"nodes={ips}")
    assert status.returncode == 0, status.data


def versions_of(box, name):
    entry = box.state["minions"].get(name) or info(box, name)
    got = node_packages(entry["root"], entry["distro"])
    return {k: v.split("-")[0] for k, v in got.items() if not k.startswith("gpg-pubkey")}


def test_a_package_moved_down_by_the_pins_is_shown_as_a_downgrade(sandbox):
    """Regression: nova-common 1.2 -> 1.1 (``proposed`` dropped from the repos, the MU pin
    moves it down) was reported only as "OK, 1 package(s)". Now the dry run and the run flag
    it, over the minion and over ssh, and the table names it."""
    names = [minion_of(sandbox, 1), UBUNTU_SSH[0]]
    ips = ",".join(node(sandbox, n)[0] for n in names)
    for name in names:
        sandbox.reset_node(name)
    assert salt_cli(sandbox, "salt-run", "mosmu.sync", "mos_version=8.0",
                    "repos=proposed").returncode == 0
    proposed = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", f"nodes={ips}",
                        "repos=proposed", "sync=False")
    assert proposed.returncode == 0, proposed.data
    assert {versions_of(sandbox, n)["nova-common"] for n in names} == {"1.2"}
    args = ("mosmu.update", "env=1", f"nodes={ips}", "sync=False")
    table = subprocess.run(sandbox.salt_argv("salt-run", *args, "test=True"),
                           capture_output=True, text=True, check=False, timeout=600)
    for ip in ips.split(","):
        assert f"{ip} would downgrade: nova-common 1.2 -> 1.1" in table.stdout, table.stdout
    dry = salt_cli(sandbox, "salt-run", *args, "test=True")
    real = salt_cli(sandbox, "salt-run", *args)
    assert real.returncode == 0, real.data
    for run in (dry, real):
        for entry in node_entries(run.data).values():
            assert entry["changes"]["nova-common"] == {"old": "1.2", "new": "1.1",
                                                       "downgrade": True}, entry
            assert not any(c.get("downgrade") for n, c in entry["changes"].items()
                           if n != "nova-common")
    assert {versions_of(sandbox, n)["nova-common"] for n in names} == {"1.1"}


def test_a_wave_of_minions_and_ssh_nodes_reports_every_node(sandbox, tmp_path):
    """Regression: in a wave holding both minion and ssh nodes, the run stopped waiting for
    its ssh nodes once it had as many entries as ssh nodes (the minions' entries counted
    too), and ended in "internal error ... KeyError" for an ssh node still running."""
    reset_all(sandbox)
    config = config_copy(sandbox, tmp_path / "etc", serial_roles=[])    # one wave per env
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "all_envs=True", config_dir=config)
    assert run.returncode == 0, run.data
    entries = node_entries(run.data)
    assert [len(w["nodes"]) for w in run.data["waves"]] == [3, 3]
    assert {e["transport"] for e in entries.values()} == {"minion", "ssh"}
    assert {e["result"] for e in entries.values()} == {"OK"} and len(entries) == 6
