"""A fleet update on a realistic sandbox (mosmu issue 8, "Done when"): waves, the controller
rule and ``interval`` seen in the master's own job timestamps; a failure stops the run and
``retry_failed`` picks up exactly the rest; a master restarted mid-wave, a stopped minion, a
minion killed mid-upgrade and an interrupted runner all end in a truthful report; pre-flight;
``--out=json``; ``--async`` with ``mosmu.status`` polling; the per-node lock.

Every test resets the node roots it uses (``Sandbox.reset_node``: GA packages, no status
file), so the tests do not depend on each other's order. Node work is realistic (50 MB per
node at 100 Mbit/s, see ``conftest.py``), so a node's upgrade lasts seconds: the tests wait
for *conditions* (a node's status file says STARTED, a process ended), never for a time.
"""

import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from sandbox.cli import node_packages
from sandbox.procs import alive, wait_for
from sandbox.stack import PACKAGE_VERSIONS, SandboxError
from tests.fleet.conftest import restart_master
from tests.integration.helpers import json_documents, node_entries, salt_cli, status_lines

INTERVAL = 3                # seconds between waves in the wave test
APPLY_TIMEOUT = 120         # mosmu:apply_timeout for the dead-minion test
RUN_TIMEOUT = 600           # a salt-run that has not ended by then is a hang (a bug)
UPDATED = "1.1"


# -- helpers --------------------------------------------------------------------------------

def node_id(minion):
    return int(re.fullmatch(r"node-([0-9]+)\..*", minion).group(1))


def minions(box, env=None):
    """``{node id: minion}`` of an environment (or of all), in node id order."""
    return dict(sorted((node_id(m), m) for m, info in box.state["minions"].items()
                       if env is None or info["env"] == env))


def ip_of(box, nid):
    return box.state["minions"][minions(box)[nid]]["ip"]


def by_id(box, report):
    """``{node id: entry}`` of a runner report."""
    ids = {info["ip"]: node_id(m) for m, info in box.state["minions"].items()}
    return {ids[ip]: entry for ip, entry in node_entries(report).items()}


def reset(box, env=None):
    for minion in minions(box, env).values():
        box.reset_node(minion)


def last_status(box, nid):
    lines = status_lines(box, minions(box)[nid])
    return lines[-1] if lines else None


def record(box, nid):
    path = os.path.join(box.node_root(minions(box)[nid]), "var/log/mos_apply_mu.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def versions(box, nid):
    """``{package: version}`` of the MU packages in a node root (not ``gpg-pubkey``, the
    key dnf imports into a CentOS root's rpm database)."""
    minion = minions(box)[nid]
    distro = box.state["minions"][minion]["distro"]
    return {name: version for name, version in node_packages(box.node_root(minion),
                                                             distro).items()
            if name in PACKAGE_VERSIONS[distro]["ga"]}


def wait_until(check, what, timeout=RUN_TIMEOUT, every=0.1):
    """Poll a condition (not a timing assumption): fail the test after ``timeout``."""
    try:
        return wait_for(check, what, timeout=timeout, every=every)
    except SandboxError as err:
        pytest.fail(str(err))

def start(box, *args, out="json", config_dir=None):
    """A ``salt-run`` in the background, as an operator's terminal would run it."""
    argv = box.salt_argv("salt-run", f"--out={out}", *args)
    if config_dir:
        argv[2] = config_dir
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def started_on(box, proc, nid):
    """Wait until node ``nid``'s status file says STARTED; fail at once, with the runner's
    output, if the runner ends first."""
    wait_until(lambda: last_status(box, nid) == "STARTED" or proc.poll() is not None,
               f"node-{nid} to start its upgrade")
    if proc.poll() is not None:
        out, err = proc.communicate()
        pytest.fail(f"salt-run ended (exit {proc.returncode}) before node-{nid} started: "
                    f"{out[-1500:]} {err[-1500:]}")


def finish(proc):
    """``(stdout, stderr)`` of a background run; a run that does not end is a hang."""
    try:
        return proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"salt-run did not end within {RUN_TIMEOUT} s")
    return None


def ping_all(box):
    proc = box.run_salt("salt", "*", "test.ping", "--out=json", "--static", "--timeout=5",
                        check=False, timeout=120)
    try:
        answered = {m for m, ok in json.loads(proc.stdout or "{}").items() if ok is True}
    except ValueError:
        return False
    return answered >= set(box.state["minions"])


def lock_files(box):
    locks = os.path.join(box.dir, "salt", "master", "var", "cache", "salt", "master", "mosmu",
                         "locks")
    return sorted(n for n in os.listdir(locks) if n.startswith("node-")) \
        if os.path.isdir(locks) else []


class EventLog:
    """``salt-run state.event`` in the background: every master bus event with its tag and
    data (``_stamp`` is the master's time of the event)."""

    def __init__(self, box, path):
        self.box, self.path = box, path

    def __enter__(self):
        self.handle = open(self.path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(
            self.box.salt_argv("salt-run", "state.event", "tagmatch=*"), stdout=self.handle,
            stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        wait_until(self._ready, "the event listener", timeout=120, every=0.5)
        return self

    def _ready(self):
        self.box.run_salt("salt-run", "event.send", "mosmu/fleet-test/ready", check=False)
        return any(tag == "mosmu/fleet-test/ready" for tag, _ in self.events())

    def events(self):
        out = []
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                tag, _, data = line.partition("\t")
                try:
                    out.append((tag, json.loads(data)))
                except ValueError:
                    continue
        return out

    def __exit__(self, *_exc):
        os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.handle.close()
        return False


def stamp(data):
    return datetime.datetime.fromisoformat(data["_stamp"])


def state_apply_waves(events):
    """``[(started, ended, [node ids])]`` of every ``state.apply`` job the master published,
    in publish order: started = the job's ``new`` event, ended = its last return."""
    jobs = {}
    for tag, data in events:
        if re.fullmatch(r"salt/job/[0-9]+/new", tag) and data.get("fun") == "state.apply":
            jobs[data["jid"]] = {"start": stamp(data), "minions": data["minions"], "rets": []}
    for tag, data in events:
        match = re.fullmatch(r"salt/job/([0-9]+)/ret/.+", tag)
        if match and match.group(1) in jobs:
            jobs[match.group(1)]["rets"].append(stamp(data))
    waves = sorted(jobs.values(), key=lambda j: j["start"])
    return [(j["start"], max(j["rets"]) if j["rets"] else None,
             sorted(node_id(m) for m in j["minions"])) for j in waves]


# -- tests ----------------------------------------------------------------------------------

def test_preflight_stops_an_unsynced_mirror_before_any_node(fleet, fleet_config, tmp_path):
    """The master's mirror lacks the trees (an empty web root) and ``sync=False``: the run
    stops at pre-flight, names the fix, and no node gets a status file or repo files."""
    reset(fleet)
    empty = tmp_path / "www"
    empty.mkdir()
    run = salt_cli(fleet, "salt-run", "mosmu.update", "all_envs=True", "sync=False",
                   config_dir=fleet_config(mirror_root=str(empty)))
    assert run.returncode == 2, run.stderr
    assert "lacks" in run.data["error"] and "no node was touched" in run.data["error"]
    assert "salt-run mosmu.sync" in run.data["error"]
    assert not node_entries(run.data)
    for nid, minion in minions(fleet).items():
        assert last_status(fleet, nid) is None
        assert not os.path.exists(os.path.join(fleet.node_root(minion), "etc/mosmu"))
        assert set(versions(fleet, nid).values()) == {"1.0"}


def test_waves_computes_first_controllers_alone_last_and_interval_between_waves(fleet,
                                                                               tmp_path):
    """env 1 with ``batch=2 interval=3``: the master publishes ``state.apply`` to node-2+3,
    then node-5, then node-1, then node-4 (the controllers, alone, last: computes restart
    before controllers); each wave starts only after the previous one's last return, and at
    least ``interval`` s later."""
    reset(fleet, env=1)
    with EventLog(fleet, tmp_path / "events.log") as log:
        run = salt_cli(fleet, "salt-run", "mosmu.update", "env=1", "batch=2",
                       f"interval={INTERVAL}")
        events = log.events()
    assert run.returncode == 0, run.data
    assert {nid: e["result"] for nid, e in by_id(fleet, run.data).items()} == \
        dict.fromkeys(minions(fleet, 1), "OK")

    waves = state_apply_waves(events)
    assert [ids for _s, _e, ids in waves] == [[2, 3], [5], [1], [4]]
    for (_s1, ended, _ids), (started, _e2, _ids2) in zip(waves, waves[1:]):
        assert ended is not None and started > ended
        assert (started - ended).total_seconds() >= INTERVAL
    gaps = [round((b[0] - a[1]).total_seconds(), 2) for a, b in zip(waves, waves[1:])]
    print(f"\nwaves {[w[2] for w in waves]}; gaps between waves {gaps} s "
          f"(interval={INTERVAL})")

    # the bus tells reactors the same story: start, one event per node, done
    tags = [tag for tag, _data in events if tag.startswith("mosmu/update/1/")]
    assert tags[0] == "mosmu/update/1/start" and tags[-1] == "mosmu/update/1/done"
    assert sorted(tags[1:-1]) == sorted(f"mosmu/update/1/node/{n}/OK" for n in minions(fleet, 1))


def test_failure_in_wave_one_skips_the_rest_and_retry_failed_takes_only_them(
        fleet, fleet_config):
    """Without serial roles and ``batch=2`` env 1 runs [1, 2], [3, 4], [5]; node-2 cannot get
    its repo files (``etc/mosmu/sources.list.d`` is a file), so wave 1 ends 1 OK + 1 FAIL and
    the run stops: 3, 4, 5 SKIPPED, exit code 2. ``--out=json`` prints exactly one JSON
    document. Fixed, ``retry_failed=True`` updates node-2..5 and leaves node-1 alone."""
    reset(fleet, env=1)
    broken = os.path.join(fleet.node_root(minions(fleet)[2]), "etc/mosmu/sources.list.d")
    os.makedirs(os.path.dirname(broken))
    with open(broken, "w", encoding="utf-8") as handle:
        handle.write("not a directory\n")

    argv = fleet.salt_argv("salt-run", "--out=json", "mosmu.update", "env=1", "batch=2")
    argv[2] = fleet_config(serial_roles=[])
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          timeout=RUN_TIMEOUT)
    report = json.loads(proc.stdout)          # one document, nothing else on stdout
    assert proc.returncode == 2 and report["retcode"] == 2, proc.stderr
    results = {nid: e["result"] for nid, e in by_id(fleet, report).items()}
    assert results == {1: "OK", 2: "FAIL", 3: "SKIPPED", 4: "SKIPPED", 5: "SKIPPED"}
    entries = by_id(fleet, report)
    assert "max_failures=0" in entries[3]["comment"]
    assert "retry_failed=True" in entries[3]["comment"]
    assert last_status(fleet, 2) == "UPDATE=FAIL"
    for nid in (3, 4, 5):
        assert last_status(fleet, nid) is None and set(versions(fleet, nid).values()) == {"1.0"}
    assert report["summary"] == {"OK": 1, "FAIL": 1, "SKIPPED": 3}

    os.unlink(broken)
    first = record(fleet, 1)
    run = salt_cli(fleet, "salt-run", "mosmu.update", "env=1", "retry_failed=True")
    assert run.returncode == 0, run.data
    assert {nid: e["result"] for nid, e in by_id(fleet, run.data).items()} == \
        {2: "OK", 3: "OK", 4: "OK", 5: "OK"}
    assert [s["id"] for s in run.data["skipped"] if "retry_failed" in s["reason"]] == [1]
    assert record(fleet, 1) == first          # node-1 was not run again
    for nid in minions(fleet, 1):
        assert set(versions(fleet, nid).values()) == {UPDATED}
        assert last_status(fleet, nid) == "UPDATE=OK"


def test_master_restarted_mid_wave_ends_with_a_truthful_report(fleet):
    """The salt-master is stopped while node-1 (wave 1) upgrades and started again: the run
    ends, and every node's result agrees with the node's own status file."""
    reset(fleet, env=1)
    proc = start(fleet, "mosmu.update", "env=1")
    started_on(fleet, proc, 1)
    restart_master(fleet)
    out, err = finish(proc)
    ended = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    wait_until(lambda: ping_all(fleet), "every minion to reconnect", timeout=180, every=1)

    docs = list(json_documents([out]))
    assert docs, f"no report; exit {proc.returncode}; stderr: {err[:5000]}"
    report = docs[-1]
    entries = by_id(fleet, report)
    assert set(entries) == set(minions(fleet, 1)), report
    truth = {"UPDATE=OK": "OK", "UPDATE=FAIL": "FAIL"}
    for nid, entry in entries.items():
        line = last_status(fleet, nid)
        if entry["result"] in ("OK", "FAIL"):
            assert truth.get(line) == entry["result"], (nid, entry, line)
        elif entry["result"] == "SKIPPED":
            assert line is None, (nid, entry, line)
        else:   # TIMEOUT: only for a node whose run had not ended when the runner gave up
            assert entry["result"] == "TIMEOUT", (nid, entry)
            finished = (record(fleet, nid) or {}).get("finished")
            assert finished is None or finished >= ended, (nid, entry, record(fleet, nid))
    # node-1 finished its upgrade while the master was away: the report says so
    wait_until(lambda: last_status(fleet, 1) in ("UPDATE=OK", "UPDATE=FAIL"), "node-1's end")
    assert entries[1]["result"] == truth[last_status(fleet, 1)], entries[1]
    assert proc.returncode == report["retcode"]


def test_stopped_minion_is_no_minion_and_killed_minion_is_timeout_within_a_minute(
        fleet, fleet_config):
    """node-2's salt-minion is stopped before the run; node-3's is killed (with its job and
    apt) while it upgrades in the first wave (computes go first). The run ends on its own
    well before ``apply_timeout``: node-2 NO_MINION, node-3 TIMEOUT, node-5 OK, and the
    controllers' waves (node-1, node-4) do not start (max_failures=0): SKIPPED."""
    reset(fleet, env=1)
    stopped, killed = minions(fleet)[2], minions(fleet)[3]
    pid = fleet.state["pids"][f"minion-{stopped}"]
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not alive(pid), "node-2's minion to stop", timeout=60)
    try:
        started = time.monotonic()
        proc = start(fleet, "mosmu.update", "env=1",
                     config_dir=fleet_config(apply_timeout=APPLY_TIMEOUT))
        started_on(fleet, proc, 3)
        os.killpg(fleet.state["pids"][f"minion-{killed}"], signal.SIGKILL)
        killed_at = time.monotonic()
        out, err = finish(proc)
        ended = time.monotonic()
    finally:
        for minion in (stopped, killed):
            fleet._restart_minion(minion)  # pylint: disable=protected-access
    report = json.loads(out)
    results = {nid: e["result"] for nid, e in by_id(fleet, report).items()}
    assert results == {1: "SKIPPED", 2: "NO_MINION", 3: "TIMEOUT", 4: "SKIPPED", 5: "OK"}, err
    assert proc.returncode == 2
    print(f"\nrun wall time {ended - started:.1f} s (apply_timeout={APPLY_TIMEOUT}); "
          f"node-3 killed -> run ended in {ended - killed_at:.1f} s")
    assert ended - started < APPLY_TIMEOUT


def test_interrupted_runner_prints_the_partial_report_and_exits_non_zero(fleet):
    """SIGINT to ``salt-run`` while wave 2 (node-1, the first controller) upgrades: the
    computes node-2/3/5 OK, node-1 TIMEOUT (may still be running), node-4 SKIPPED,
    ``interrupted``, a non-zero exit code."""
    reset(fleet, env=1)
    proc = start(fleet, "mosmu.update", "env=1")
    started_on(fleet, proc, 1)
    os.kill(proc.pid, signal.SIGINT)
    out, err = finish(proc)
    assert proc.returncode != 0
    report = json.loads(out)
    results = {nid: e["result"] for nid, e in by_id(fleet, report).items()}
    assert results == {2: "OK", 3: "OK", 5: "OK", 1: "TIMEOUT", 4: "SKIPPED"}, err
    assert report["interrupted"] == "SIGINT" and report["retcode"] == 2
    assert "interrupted" in by_id(fleet, report)[1]["comment"]
    # the minion's job was not interrupted: node-1 ends on its own
    wait_until(lambda: last_status(fleet, 1) == "UPDATE=OK", "node-1's job to end")
    assert not lock_files(fleet)


def test_async_update_polled_with_status_and_a_concurrent_run_is_refused(fleet):
    """``--async`` returns the job id before any node has finished; ``mosmu.status`` polled
    meanwhile shows each node STARTED then OK, never back; a second ``mosmu.update`` of the
    same nodes while it runs is refused naming its job id; in the end all are OK."""
    reset(fleet, env=2)
    nodes = list(minions(fleet, 2))
    proc = subprocess.run(fleet.salt_argv("salt-run", "mosmu.update", "env=2", "--async"),
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert all(last_status(fleet, nid) != "UPDATE=OK" for nid in nodes)   # returned at once
    jid = re.search(r"\b([0-9]{20})\b", proc.stdout + proc.stderr).group(1)

    seen, refused = {nid: [] for nid in nodes}, None

    def poll():
        nonlocal refused
        run = salt_cli(fleet, "salt-run", "mosmu.status", "env=2")
        for nid, entry in by_id(fleet, run.data).items():
            if not seen[nid] or seen[nid][-1] != entry["result"]:
                seen[nid].append(entry["result"])
        if refused is None and any("STARTED" in s for s in seen.values()):
            refused = salt_cli(fleet, "salt-run", "mosmu.update", "env=2")
        return run.returncode == 0 and run.data["summary"] == {"OK": len(nodes)}

    wait_until(poll, "every env 2 node to be OK", every=0)
    wait_until(lambda: not lock_files(fleet), "the async run to release its locks")
    print(f"\nstatus seen per node while job {jid} ran: {seen}")
    assert any("STARTED" in s for s in seen.values()), seen
    for history in seen.values():
        assert history[-1] == "OK"
        assert "OK" not in history[:-1]          # never OK and then not OK again
        assert set(history) <= {"NONE", "STARTED", "OK"}
    assert refused is not None and refused.returncode == 2, refused and refused.data
    assert f"jid {jid}" in refused.data["error"], refused.data
    for nid in nodes:
        assert set(versions(fleet, nid).values()) == {UPDATED}


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
