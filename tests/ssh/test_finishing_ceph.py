"""Finishing an update on an environment with Ceph (issue 18), end to end: the controller's
monitor restarts and is back in the quorum before the next wave; the ceph-osd nodes go one
at a time, each under noout/noscrub/nodeep-scrub set on the controller, every PG active+clean
before the flags are unset and the next node starts; a Ceph step that fails stops the
environment there, leaving the flags set and saying how to unset them; a dry run sets nothing.

Env 1 of the ssh tier's sandbox with Ceph: node-1 (controller, a minion: the monitor and the
admin node), node-3 (ceph-osd) and node-4 (compute + ceph-osd), both over ssh. Their roots
have the sandbox's ``ceph`` package (its monitor and OSD daemons are real processes started by
its init scripts) and the ``ceph`` stand-in, which logs every command with its time.
"""

import os

import pytest

from tests.integration.helpers import config_copy, node_entries, salt_cli

CTL = "node-1.test.domain.local"
OSDS = ("node-3.test.domain.local", "node-4.test.domain.local")
NODES = (CTL, *OSDS)
CEPH_ROLES = {OSDS[0]: ["ceph-osd"], OSDS[1]: ["compute", "ceph-osd"]}
FLAGS = ("noout", "noscrub", "nodeep-scrub")
SET = [f"osd set {f}" for f in FLAGS]
UNSET = [f"osd unset {f}" for f in FLAGS]


def reset(box):
    for fqdn in NODES:
        box.reset_node(fqdn)


def ip(box, fqdn):
    return (box.state["ssh_nodes"].get(fqdn) or box.state["minions"][fqdn])["ip"]


def update(box, *args, config_dir=None):
    return salt_cli(box, "salt-run", "mosmu.update", "env=1", "sync=False", *args,
                    config_dir=config_dir)


def steps_of(run):
    data = run.data["envs"]["1"]
    return data["result"], {s["name"]: s for s in data["steps"]}


def started(box, fqdn, service):
    """When the service's running daemon started (its pid file is written at start)."""
    return os.stat(os.path.join(box.root_of(fqdn), f"var/run/{service}.pid")).st_mtime


def faulted_update(box, tmp_path, fault):
    """A real update of env 1 with ``fault`` on the controller and a 2 s Ceph wait; it must
    exit 2. Returns the run and its node entries."""
    reset(box)
    box.set_faults(CTL, fault)
    config = config_copy(box, tmp_path / "etc", finish={"checks": {"ceph_wait": 2}})
    run = update(box, config_dir=config)
    assert run.returncode == 2, run.data
    return run, node_entries(run.data)


@pytest.fixture(scope="module", autouse=True)
def ceph_env(sandbox):
    assert salt_cli(sandbox, "salt-run", "mosmu.sync", "env=1").returncode == 0
    old = {fqdn: sandbox.set_roles(fqdn, roles) for fqdn, roles in CEPH_ROLES.items()}
    yield
    for fqdn, roles in old.items():
        sandbox.set_roles(fqdn, roles)
    reset(sandbox)


def test_the_monitor_then_each_osd_node_alone_under_noout_with_clean_pgs_between(sandbox):
    reset(sandbox)
    before = {f: sandbox.service_pids(f) for f in NODES}
    run = update(sandbox)
    assert run.returncode == 0, run.data
    assert [w["nodes"] for w in run.data["waves"]] == [[1], [3], [4]]   # monitor first
    result, steps = steps_of(run)
    assert result == "OK"
    assert list(steps) == ["health checks before the update", "Ceph monitor of node-1",
                           "Ceph OSDs of node-3", "Ceph OSDs of node-4", "Pacemaker restarts",
                           "health checks after the update"]
    assert {s["result"] for s in steps.values()} == {"passed", "OK"}
    # the monitor restarted on the controller, the OSDs on their nodes, nothing else of Ceph
    changed = {f: {s for s, pid in sandbox.service_pids(f).items() if pid != before[f][s]}
               for f in NODES}
    assert "ceph-mon-all" in changed[CTL] and "ceph-osd-all" not in changed[CTL]
    for osd in OSDS:
        assert changed[osd] & {"ceph-mon-all", "ceph-osd-all", "ceph"} == {"ceph-osd-all"}
    # the flags: set and unset around each OSD node, on the controller only
    assert sandbox.ceph_log(CTL) == (SET + UNSET) * 2
    assert sandbox.ceph_log(OSDS[0]) == sandbox.ceph_log(OSDS[1]) == []
    # the timeline on the controller: quorum read after the monitor's restart; each OSD
    # node's daemons restarted inside its own window, a clean pg stat read before its unset
    cmds = sandbox.ceph_commands(CTL)
    quorum = [t for t, c in cmds if c.startswith("quorum_status")]
    assert quorum and started(sandbox, CTL, "ceph-mon-all") < quorum[-1] < \
        next(t for t, c in cmds if c == "osd set noout")
    sets = [t for t, c in cmds if c == SET[-1]]
    unsets = [t for t, c in cmds if c == UNSET[0]]
    for window, osd in enumerate(OSDS):
        restart = started(sandbox, osd, "ceph-osd-all")
        assert sets[window] < restart < unsets[window]
        assert any(restart < t < unsets[window] for t, c in cmds if c == "pg stat")
    assert unsets[0] < sets[1]
    entries = node_entries(run.data)
    assert {entries[ip(sandbox, f)]["result"] for f in NODES} == {"OK"}


def test_pgs_not_clean_after_an_osd_node_stop_the_environment_with_the_flags_left_set(
        sandbox, tmp_path):
    run, entries = faulted_update(sandbox, tmp_path, "pgs-stuck")
    assert entries[ip(sandbox, OSDS[0])]["result"] == "OK"
    second = entries[ip(sandbox, OSDS[1])]
    assert second["result"] == "SKIPPED" and "a Ceph step of this environment failed" in \
        second["comment"]
    result, steps = steps_of(run)
    step = steps["Ceph OSDs of node-3"]
    assert result == "FAIL" and step["result"] == "FAILED"
    assert "12 active+degraded" in step["problems"][0]
    assert "ceph osd unset noout; ceph osd unset noscrub; ceph osd unset nodeep-scrub" in \
        step["problems"][0]
    assert sandbox.ceph_log(CTL) == SET                  # left set, on purpose
    assert "Ceph OSDs of node-4" not in steps
    # the health checks after the update say so too
    assert any("noout flag(s) set" in p
               for p in steps["health checks after the update"]["problems"])


def test_a_monitor_out_of_the_quorum_stops_the_environment_before_any_osd_node(sandbox,
                                                                                 tmp_path):
    run, entries = faulted_update(sandbox, tmp_path, "mon-out-of-quorum-after-update")
    assert entries[ip(sandbox, CTL)]["result"] == "OK"
    assert {entries[ip(sandbox, f)]["result"] for f in OSDS} == {"SKIPPED"}
    result, steps = steps_of(run)
    step = steps["Ceph monitor of node-1"]
    assert result == "FAIL" and step["result"] == "FAILED"
    assert step["problems"][0].startswith("monitor node-1 is not in the quorum (none")
    assert sandbox.ceph_log(CTL) == []                   # no OSD flag was ever set


def test_a_dry_run_says_the_ceph_steps_and_sets_nothing(sandbox):
    reset(sandbox)
    before = {f: sandbox.service_pids(f) for f in NODES}
    run = update(sandbox, "test=True")
    assert run.returncode == 0, run.data
    result, steps = steps_of(run)
    assert result == "OK"
    assert steps["Ceph monitor of node-1"]["result"] == "would"
    for name in ("node-3", "node-4"):
        step = steps[f"Ceph OSDs of {name}"]
        assert step["result"] == "would" and "noout, noscrub, nodeep-scrub" in step["summary"]
    assert {f: sandbox.service_pids(f) for f in NODES} == before
    assert all(sandbox.ceph_log(f) == [] for f in NODES)
    assert not [c for _t, c in sandbox.ceph_commands(CTL) if c.startswith(("osd", "pg"))]
