"""mosmu_ceph: the Ceph steps around a wave, on a scripted cluster.

Rules (issue 18): an OSD node is updated with noout, noscrub and nodeep-scrub set on the
environment's admin node (its first controller, else the OSD node), every PG active+clean
before the flags are unset; a restarted monitor back in the quorum before the next wave; a
step that fails stops the environment and leaves the flags set, saying how to unset them;
test mode sets and waits for nothing. The end-to-end proof on real nodes is
tests/ssh/test_finishing.py.
"""

import json

import pytest

import mosmu_ceph
import mosmu_finish

CLEAN = "v48213: 576 pgs: 576 active+clean; 2534 MB data, 7748 MB used, 1480 GB / 1488 GB avail"
DEGRADED = ("v48213: 576 pgs: 12 active+degraded, 564 active+clean; 2534 MB data, 7748 MB "
            "used, 1480 GB / 1488 GB avail")
CTL = {"id": 1, "ip": "10.20.0.3", "fqdn": "node-1.test.domain.local", "roles": ["controller"]}
CTL2 = {"id": 2, "ip": "10.20.0.4", "fqdn": "node-2.test.domain.local", "roles": ["controller"]}
OSD = {"id": 7, "ip": "10.20.0.9", "fqdn": "node-7.test.domain.local", "roles": ["ceph-osd"]}
ALL_IN = json.dumps({"quorum_names": ["node-1", "node-2", "node-3"],
                     "monmap": {"mons": [{"name": m} for m in ("node-1", "node-2", "node-3")]}})
COMPUTE = {"id": 5, "ip": "10.20.0.7", "fqdn": "node-5.test.domain.local",
           "roles": ["compute"]}


def quorum(*names, mons=("node-1", "node-2", "node-3")):
    return json.dumps({"quorum_names": list(names),
                       "monmap": {"mons": [{"name": m} for m in mons]}})


class Scripted:
    """A cluster whose reads answer from scripts, one answer per read (the last repeats),
    and whose flag calls and sleeps are recorded; time passes only by sleeping."""

    def __init__(self, pgs=(CLEAN,), quorum_=(ALL_IN,),
                 call_fails=None, lost=None):
        self.answers = {mosmu_finish.CEPH_PGS.name: list(pgs),
                        mosmu_finish.CEPH_QUORUM.name: list(quorum_)}
        self.call_fails, self.lost = call_fails, lost
        self.log, self.now = [], 0.0

    def ask(self, node, check):
        self.log.append(("ask", node["id"], check.name))
        if self.lost:
            return None, self.lost
        script = self.answers[check.name]
        text = script.pop(0) if len(script) > 1 else script[0]
        return {"retcode": 0, "stdout": text, "stderr": ""}, None

    def call(self, node, action, flags):
        self.log.append((action, node["id"], tuple(flags)))
        if self.call_fails:
            return None, self.call_fails
        return [{"flag": f, "ok": True, "detail": ""} for f in flags], None

    def sleep(self, seconds):
        self.log.append(("sleep", seconds))
        self.now += seconds

    def cluster(self):
        return mosmu_ceph.Cluster(self.ask, self.call, self.sleep, lambda: self.now)


def finish(wait=60):
    return mosmu_finish.load("ubuntu", "8.0", {"checks": {"ceph_wait": wait}})


FLAGS = ("noout", "noscrub", "nodeep-scrub")


# -- an OSD node: flags around its wave, PGs clean before they are unset --------------------

def test_an_osd_wave_runs_under_the_flags_set_on_the_first_controller():
    script = Scripted(pgs=(DEGRADED, DEGRADED, CLEAN))
    wave = mosmu_ceph.OsdWave(script.cluster(), finish(), [COMPUTE, CTL, CTL2, OSD], [OSD],
                              test=False)
    step, go = wave.before()
    assert (step, go) == (None, True)
    assert script.log == [("set", 1, FLAGS)]
    step, stop = wave.after()
    assert not stop and step["result"] == "OK"
    assert "every PG active+clean after 10 s" in step["summary"]
    assert script.log[1:] == [("ask", 1, "ceph pg stat"), ("sleep", 5),
                              ("ask", 1, "ceph pg stat"), ("sleep", 5),
                              ("ask", 1, "ceph pg stat"), ("unset", 1, FLAGS)]


def test_without_a_controller_in_the_run_the_osd_node_runs_the_cluster_commands():
    script = Scripted()
    wave = mosmu_ceph.OsdWave(script.cluster(), finish(), [COMPUTE, OSD], [OSD], test=False)
    wave.before()
    wave.after()
    assert {entry[1] for entry in script.log if entry[0] != "sleep"} == {7}


def test_pgs_not_clean_in_time_stop_the_environment_and_leave_the_flags_set():
    script = Scripted(pgs=(DEGRADED,))
    wave = mosmu_ceph.OsdWave(script.cluster(), finish(wait=12), [CTL, OSD], [OSD], test=False)
    wave.before()
    step, stop = wave.after()
    assert stop and step["result"] == "FAILED"
    assert "left set on node-1" in step["summary"]
    problem = step["problems"][0]
    assert "12 active+degraded" in problem and "12 s after the update" in problem
    assert "ceph osd unset noout; ceph osd unset noscrub; ceph osd unset nodeep-scrub" \
        in problem
    assert not [e for e in script.log if e[0] == "unset"]
    assert sum(e[1] for e in script.log if e[0] == "sleep") == 12   # waited ceph_wait


def test_flags_that_cannot_be_set_keep_the_wave_from_running():
    script = Scripted(call_fails="no answer from node-1")
    wave = mosmu_ceph.OsdWave(script.cluster(), finish(), [CTL, OSD], [OSD], test=False)
    step, go = wave.before()
    assert not go and step["result"] == "FAILED"
    assert step["problems"][0] == "ceph osd set on node-1: no answer from node-1"


def test_flags_that_cannot_be_unset_fail_the_step_and_name_the_commands():
    script = Scripted()
    wave = mosmu_ceph.OsdWave(script.cluster(), finish(), [CTL, OSD], [OSD], test=False)
    script.call_fails = "no answer from node-1"
    step, stop = wave.after()
    assert stop and step["result"] == "FAILED"
    assert "ceph osd unset noout" in step["problems"][-1]


def test_an_admin_node_that_cannot_be_asked_is_a_failure_not_clean_pgs():
    script = Scripted(lost="node-1.test.domain.local did not answer")
    wave = mosmu_ceph.OsdWave(script.cluster(), finish(wait=0), [CTL, OSD], [OSD], test=False)
    step, stop = wave.after()
    assert stop and "node-1 could not be asked" in step["problems"][0]


def test_an_interrupted_osd_wave_says_the_flags_are_left_set():
    wave = mosmu_ceph.OsdWave(Scripted().cluster(), finish(), [CTL, OSD], [OSD], test=False)
    step = wave.interrupted()
    assert step["result"] == "FAILED" and "ceph osd unset noout" in step["problems"][0]


def test_test_mode_sets_and_waits_for_nothing():
    script = Scripted(pgs=(DEGRADED,))
    wave = mosmu_ceph.OsdWave(script.cluster(), finish(), [CTL, OSD], [OSD], test=True)
    step, go = wave.before()
    assert go and step["result"] == "would" and "noout, noscrub, nodeep-scrub" in \
        step["summary"]
    assert wave.after() == (None, False) and wave.interrupted() is None
    assert script.log == []


# -- monitors: back in the quorum before the next wave ---------------------------------------

def restarted(*services):
    return {"finish": {"restarts": [{"service": s, "ok": True} for s in services]}}


def test_a_restarted_monitor_is_waited_for_until_it_rejoins_the_quorum():
    script = Scripted(quorum_=(quorum("node-2", "node-3"), quorum("node-1", "node-2",
                                                                  "node-3")))
    steps, stop = mosmu_ceph.monitor_steps(script.cluster(), finish(), [CTL],
                                           {CTL["ip"]: restarted("nova-api", "ceph-mon-all")},
                                           test=False)
    assert not stop
    assert [(s["name"], s["result"]) for s in steps] == [("Ceph monitor of node-1", "OK")]
    assert "monitor node-1 back in the quorum after 5 s" in steps[0]["summary"]
    assert script.log == [("ask", 1, "ceph quorum_status"), ("sleep", 5),
                          ("ask", 1, "ceph quorum_status")]


def test_a_monitor_out_of_the_quorum_stops_the_environment():
    script = Scripted(quorum_=(quorum("node-2", "node-3"),))
    steps, stop = mosmu_ceph.monitor_steps(script.cluster(), finish(wait=20), [CTL],
                                           {CTL["ip"]: restarted("ceph-mon-all")}, test=False)
    assert stop and steps[0]["result"] == "FAILED"
    assert steps[0]["problems"][0].startswith(
        "monitor node-1 is not in the quorum (node-2, node-3; in the monitor map)")


@pytest.mark.parametrize("node, entry", [
    (CTL, restarted("nova-api")),                     # the monitor did not restart
    (CTL, {}),                                         # no finishing data (a failed node)
    (COMPUTE, restarted("ceph-mon-all")),              # not a controller
])
def test_no_restarted_monitor_no_quorum_wait(node, entry):
    script = Scripted()
    assert mosmu_ceph.monitor_steps(script.cluster(), finish(), [node], {node["ip"]: entry},
                                    test=False) == ([], False)
    assert script.log == []


def test_test_mode_says_which_monitor_it_would_wait_for():
    script = Scripted()
    steps, stop = mosmu_ceph.monitor_steps(script.cluster(), finish(), [CTL],
                                           {CTL["ip"]: restarted("ceph-mon-all")}, test=True)
    assert not stop and steps[0]["result"] == "would" and "node-1" in steps[0]["summary"]
    assert script.log == []


@pytest.mark.parametrize("node, name", [
    (CTL, "node-1"), ({"id": 4, "fqdn": "", "roles": []}, "node-4"),
    ({"id": 4, "fqdn": "ctl-a", "roles": []}, "ctl-a"),
])
def test_a_monitor_is_named_after_the_short_host_name(node, name):
    assert mosmu_ceph.monitor(node) == name
