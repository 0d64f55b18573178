"""Finishing an update (issue 18), end to end on environments of a minion controller and ssh
computes: health checks before and after, the services of changed packages restarted (their
pids change, the others' do not), computes before controllers, Pacemaker resources once per
environment, each fault stopping the run at its point, holds kept, local changes shown.

The cloud's tools are the sandbox's stand-ins inside each node root (docs/sandbox.md), printing
the real tools' formats; the services are real processes started by real init scripts that
the MU packages ship. Each test resets the nodes it changes.
"""

import json
import os
import subprocess

import pytest

from sandbox.cli import node_packages
from sandbox.stack import PACKAGE_VERSIONS
from tests.integration.helpers import node_entries, salt_cli

CONTROLLERS = {1: "node-1.test.domain.local", 2: "node-2.test.domain.local"}
COMPUTES = {1: ("node-3.test.domain.local", "node-4.test.domain.local"),
            2: ("node-5.test.domain.local", "node-6.test.domain.local")}
ALL = [CONTROLLERS[1], *COMPUTES[1], CONTROLLERS[2], *COMPUTES[2]]
# what each node's update restarts: the services of its roles whose package changed
RESTARTED = {
    CONTROLLERS[1]: {"nova-api", "neutron-server"},
    CONTROLLERS[2]: {"openstack-nova-api", "neutron-server"},
    **dict.fromkeys(COMPUTES[1], frozenset({"nova-compute"})),
    **dict.fromkeys(COMPUTES[2], frozenset({"openstack-nova-compute"})),
}
# the neutron agents Pacemaker runs as clones: neutron-common (and the 6.1 openstack-neutron)
# changed, so each is restarted once, through its clone
PCS = {1: ["clone_p_neutron-dhcp-agent", "clone_p_neutron-l3-agent",
           "clone_p_neutron-metadata-agent", "clone_p_neutron-plugin-openvswitch-agent"],
       2: ["clone_p_neutron-dhcp-agent", "clone_p_neutron-l3-agent",
           "clone_p_neutron-metadata-agent", "clone_p_neutron-openvswitch-agent"]}


def root(box, fqdn):
    return box.root_of(fqdn)


def ip(box, fqdn):
    return (box.state["ssh_nodes"].get(fqdn) or box.state["minions"][fqdn])["ip"]


def distro(fqdn):
    return "centos" if fqdn in (CONTROLLERS[2], *COMPUTES[2]) else "ubuntu"


def versions(box, fqdn):
    got = node_packages(root(box, fqdn), distro(fqdn))
    return {k: v.split("-")[0] for k, v in got.items() if not k.startswith("gpg-pubkey")}


def ga(fqdn):
    return dict(PACKAGE_VERSIONS[distro(fqdn)]["ga"])


def record(box, fqdn):
    with open(os.path.join(root(box, fqdn), "var/log/mos_apply_mu.json"),
              encoding="utf-8") as handle:
        return json.load(handle)


def has_status(box, fqdn):
    return os.path.exists(os.path.join(root(box, fqdn), "var/log/mos_apply_mu.status"))


def reset(box, *fqdns):
    for fqdn in fqdns or ALL:
        box.reset_node(fqdn)


def update(box, *args):
    return salt_cli(box, "salt-run", "mosmu.update", *args)


def env_steps(run, env):
    data = run.data["envs"][str(env)]
    return data["result"], {s["name"]: s for s in data["steps"]}


@pytest.fixture(scope="module", autouse=True)
def synced(sandbox):
    assert salt_cli(sandbox, "salt-run", "mosmu.sync", "all_envs=True").returncode == 0
    yield
    reset(sandbox)


# -- the whole job ---------------------------------------------------------------------------

def test_checks_pass_the_changed_services_restart_and_the_checks_pass_again(sandbox):
    reset(sandbox)
    before = {f: sandbox.service_pids(f) for f in ALL}
    run = update(sandbox, "all_envs=True", "sync=False")
    assert run.returncode == 0, run.data
    entries = node_entries(run.data)
    for fqdn in ALL:
        after = sandbox.service_pids(fqdn)
        changed = {s for s in after if after[s] != before[fqdn][s]}
        assert changed == RESTARTED[fqdn], (fqdn, before[fqdn], after)
        assert all(after.values())                              # every service runs
        finish = entries[ip(sandbox, fqdn)]["finish"]
        assert {(r["service"], r["old_pid"], r["new_pid"], r["ok"]) for r in
                finish["restarts"]} == {(s, before[fqdn][s], after[s], True)
                                        for s in RESTARTED[fqdn]}
        assert record(sandbox, fqdn)["restarts"] == finish["restarts"]
    for env in (1, 2):
        result, steps = env_steps(run, env)
        assert result == "OK"
        assert [s["result"] for s in steps.values()] == ["passed", "OK", "passed"]
        assert list(steps) == ["health checks before the update", "Pacemaker restarts",
                               "health checks after the update"]
        # once per environment, from its controller, only what the cluster runs
        assert sandbox.pcs_restarts(CONTROLLERS[env]) == PCS[env]
        # computes restart before their controller (controllers go last)
        controller = record(sandbox, CONTROLLERS[env])
        assert all(record(sandbox, c)["finished"] <= controller["started"]
                   for c in COMPUTES[env])


def test_the_table_shows_checks_restarts_and_pacemaker(sandbox):
    reset(sandbox, CONTROLLERS[1], *COMPUTES[1])
    proc = subprocess.run(sandbox.salt_argv("salt-run", "mosmu.update", "env=1", "sync=False"),
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "env 1 health checks before the update: passed" in out
    assert "env 1 Pacemaker restarts: OK (restarted p_neutron-dhcp-agent" in out
    assert "env 1 health checks after the update: passed" in out
    assert "restarted nova-compute (pid " in out and "restarted nova-api (pid " in out


def test_restart_false_restarts_nothing_and_checks_false_runs_no_check(sandbox):
    reset(sandbox, CONTROLLERS[1], *COMPUTES[1])
    before = {f: sandbox.service_pids(f) for f in (CONTROLLERS[1], *COMPUTES[1])}
    run = update(sandbox, "env=1", "sync=False", "restart=False", "checks=False")
    assert run.returncode == 0, run.data
    assert {f: sandbox.service_pids(f) for f in before} == before
    assert sandbox.pcs_restarts(CONTROLLERS[1]) == []
    assert "envs" not in run.data
    assert versions(sandbox, COMPUTES[1][0]) != ga(COMPUTES[1][0])


# -- test mode --------------------------------------------------------------------------------

def test_a_dry_run_runs_the_checks_and_shows_restarts_and_local_changes(sandbox):
    reset(sandbox, CONTROLLERS[1], *COMPUTES[1])
    conf = "etc/nova/nova.conf"
    for fqdn in (CONTROLLERS[1], COMPUTES[1][0]):          # a minion and an ssh node
        with open(os.path.join(root(sandbox, fqdn), conf), "a", encoding="utf-8") as handle:
            handle.write("debug=True\n")
    before = {f: (sandbox.service_pids(f), versions(sandbox, f))
              for f in (CONTROLLERS[1], *COMPUTES[1])}
    run = update(sandbox, "env=1", "test=True")
    assert run.returncode == 0, run.data
    assert {f: (sandbox.service_pids(f), versions(sandbox, f)) for f in before} == before
    assert not any(has_status(sandbox, f) for f in before)
    assert sandbox.pcs_restarts(CONTROLLERS[1]) == []
    entries = node_entries(run.data)
    for fqdn in before:
        finish = entries[ip(sandbox, fqdn)]["finish"]
        assert {r["service"] for r in finish["restarts"]} == RESTARTED[fqdn]
        changed = [c for c in finish.get("local_changes", []) if c["path"] == "/" + conf]
        assert bool(changed) == (fqdn != COMPUTES[1][1]), (fqdn, finish)
        assert all(c["config"] for c in changed)
    result, steps = env_steps(run, 1)
    assert result == "OK"
    assert steps["health checks before the update"]["result"] == "passed"
    assert steps["Pacemaker restarts"]["result"] == "would restart"
    assert "health checks after the update" not in steps


# -- each fault stops the run at its point ------------------------------------------------------

BEFORE = [  # (fault, node, what the reason says)
    ("resource-stopped", CONTROLLERS[1], "pacemaker on node-1"),
    ("resource-unmanaged", CONTROLLERS[1], "unmanaged"),
    ("node-standby", CONTROLLERS[1], "standby"),
    ("nova-down", CONTROLLERS[1], "nova on node-1"),
    ("agent-dead", CONTROLLERS[1], "neutron on node-1"),
    ("cinder-down", CONTROLLERS[1], "cinder on node-1"),
    ("ceph-warn", CONTROLLERS[1], "HEALTH_WARN"),
    ("disk-95", COMPUTES[1][1], "disk on node-4"),
]


@pytest.mark.parametrize("fault, node, says", BEFORE, ids=[b[0] for b in BEFORE])
def test_a_failed_check_before_stops_the_environment_before_any_node(sandbox, fault, node,
                                                                      says):
    reset(sandbox, CONTROLLERS[1], *COMPUTES[1])
    sandbox.set_faults(node, fault)
    pids = {f: sandbox.service_pids(f) for f in (CONTROLLERS[1], *COMPUTES[1])}
    run = update(sandbox, "env=1", "sync=False")
    assert run.returncode == 2, run.data
    entries = node_entries(run.data)
    for fqdn in pids:
        entry = entries[ip(sandbox, fqdn)]
        assert entry["result"] == "SKIPPED"
        assert "the health checks before the update failed" in entry["comment"]
        assert says in entry["comment"], entry["comment"]
        assert versions(sandbox, fqdn) == ga(fqdn) and not has_status(sandbox, fqdn)
        assert sandbox.service_pids(fqdn) == pids[fqdn]
    result, steps = env_steps(run, 1)
    assert result == "FAIL" and list(steps) == ["health checks before the update"]
    assert any(says in p for p in steps["health checks before the update"]["problems"])


def test_a_failed_check_after_the_update_fails_the_environment(sandbox):
    reset(sandbox, CONTROLLERS[1], *COMPUTES[1])
    sandbox.set_faults(COMPUTES[1][0], "disk-95-after-update")
    run = update(sandbox, "env=1", "sync=False")
    assert run.returncode == 2, run.data
    assert {node_entries(run.data)[ip(sandbox, f)]["result"]
            for f in (CONTROLLERS[1], *COMPUTES[1])} == {"OK"}
    result, steps = env_steps(run, 1)
    assert result == "FAIL"
    after = steps["health checks after the update"]
    assert after["result"] == "FAILED"
    assert after["problems"] == ["disk on node-3 (node-3.test.domain.local): /var/log is 95% "
                                 "full (limit 90%)"]


def test_a_failed_pacemaker_restart_fails_the_environment(sandbox):
    reset(sandbox, CONTROLLERS[1], *COMPUTES[1])
    sandbox.set_faults(CONTROLLERS[1], "pcs-restart-fails")
    run = update(sandbox, "env=1", "sync=False")
    assert run.returncode == 2, run.data
    result, steps = env_steps(run, 1)
    assert result == "FAIL" and steps["Pacemaker restarts"]["result"] == "FAILED"
    assert "pcs resource restart p_neutron-dhcp-agent failed (exit 1)" in \
        steps["Pacemaker restarts"]["problems"][0]


def test_a_failed_restart_fails_the_node_stops_the_run_and_is_retried(sandbox):
    reset(sandbox, CONTROLLERS[1], *COMPUTES[1])
    sandbox.set_faults(COMPUTES[1][0], "restart-fails")
    run = update(sandbox, "env=1", "sync=False")
    assert run.returncode == 2, run.data
    entries = node_entries(run.data)
    bad = entries[ip(sandbox, COMPUTES[1][0])]
    assert bad["result"] == "FAIL"
    assert "the packages are upgraded, but restarting 1 service(s) failed: nova-compute " \
           "restart failed (exit 1)" in bad["comment"]
    assert record(sandbox, COMPUTES[1][0])["restart_pending"] == ["nova-compute"]
    # max_failures=0: the controllers' wave (last) does not start
    assert entries[ip(sandbox, CONTROLLERS[1])]["result"] == "SKIPPED"
    sandbox.set_faults(COMPUTES[1][0])
    stopped = sandbox.service_pids(COMPUTES[1][0])["nova-compute"]
    again = update(sandbox, "env=1", "sync=False", "retry_failed=True")
    assert again.returncode == 0, again.data
    finish = node_entries(again.data)[ip(sandbox, COMPUTES[1][0])]["finish"]
    assert [(r["service"], r["package"], r["ok"]) for r in finish["restarts"]] == \
        [("nova-compute", "(previous run)", True)]
    assert sandbox.service_pids(COMPUTES[1][0])["nova-compute"] not in (None, stopped)


# -- holds --------------------------------------------------------------------------------------

def hold(box, fqdn, package):
    path = root(box, fqdn)
    if distro(fqdn) == "ubuntu":
        subprocess.run(["dpkg", f"--root={path}", "--set-selections"], check=True,
                       input=f"{package} hold\n", text=True)
    else:
        lock = os.path.join(path, "etc/yum/pluginconf.d/versionlock.list")
        os.makedirs(os.path.dirname(lock), exist_ok=True)
        with open(lock, "w", encoding="utf-8") as handle:
            handle.write(f"# held by the operator\n0:{package}-1.0-1.*\n")


def held(box, fqdn):
    path = root(box, fqdn)
    if distro(fqdn) == "ubuntu":
        out = subprocess.run(["dpkg", f"--root={path}", "--get-selections"], check=True,
                             capture_output=True, text=True).stdout
        return sorted(line.split()[0] for line in out.splitlines() if line.endswith("hold"))
    with open(os.path.join(path, "etc/yum/pluginconf.d/versionlock.list"),
              encoding="utf-8") as handle:
        return handle.read()


def test_held_packages_are_not_upgraded_and_stay_held_through_a_failed_run(sandbox):
    nodes = (COMPUTES[1][0], COMPUTES[2][0])              # ssh nodes: apt and dnf
    reset(sandbox, CONTROLLERS[1], *COMPUTES[1], CONTROLLERS[2], *COMPUTES[2])
    for fqdn in nodes:
        hold(sandbox, fqdn, "python-nova")
        sandbox.set_faults(fqdn, "restart-fails")          # the run fails after the upgrade
    holds = {f: held(sandbox, f) for f in nodes}
    run = update(sandbox, "all_envs=True", "sync=False", "max_failures=10")
    assert run.returncode == 2, run.data
    entries = node_entries(run.data)
    for fqdn in nodes:
        entry = entries[ip(sandbox, fqdn)]
        assert entry["result"] == "FAIL", entry
        assert entry["finish"]["held"] == ["python-nova"]
        assert versions(sandbox, fqdn)["python-nova"] == ga(fqdn)["python-nova"]
        assert "python-nova" not in entry["changes"]
        assert held(sandbox, fqdn) == holds[fqdn]
