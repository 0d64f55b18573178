"""The runner's selection, minion mapping, waves and report, against the real Fuel API stand-in.

What a unit test cannot have is replaced: the master's grains cache is a real Salt cache in a
tmp dir (written with Salt's own cache API), LocalClient is an autospec of the real class whose
answers each test scripts (real daemons: tests/integration), the mirror is "published".
"""

import importlib.util
import logging
import os
import shutil
import signal
import threading
import time
from unittest import mock

import pytest
import salt.cache
import salt.client
import salt.config
import salt.exceptions
import salt.utils.event
import yaml
from salt.exceptions import SaltClientError

import mosmu_code
import mosmu_config
import mosmu_lock
import mosmu_plan
import mosmu_request
from sandbox import fuelapi
from sandbox import inventory as inv
from sandbox.procs import free_ports

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N1, N2, N3 = (f"node-{i}.test.domain.local" for i in (1, 2, 3))
GRAINS = {N1: {"ipv4": ["10.20.0.3"]}, N2: {"ipv4": ["10.20.0.4", "127.0.0.1"]},
          N3: {"ipv4": ["10.20.0.5"]}}
OK = {"mosmu_|-mosmu-init-mosmu-updated_|-mos-8.0_|-updated":
      {"result": True, "changes": {"nova-common": {"old": "1.0", "new": "1.1"}},
       "comment": "upgraded 1 package(s)", "duration": 100}}
DF_OK = ("Filesystem     1024-blocks    Used Available Capacity Mounted on\n"
         "/dev/sda1         10000000 5000000   5000000      50% /\n")
FAILED = {"mosmu_|-mosmu-init-mosmu-updated_|-mos-8.0_|-updated":
          {"result": False, "changes": {}, "comment": "apt-get update failed", "duration": 9}}


@pytest.fixture(scope="module")
def api():
    keystone, nailgun = free_ports(2)
    creds = {"tenant": "admin", "username": "admin", "password": "pw"}
    servers = fuelapi.serve(inv.default(3), creds, keystone, nailgun)
    yield {"fuel_url": f"http://127.0.0.1:{nailgun}",
           "keystone_url": f"http://127.0.0.1:{keystone}/v2.0", "password": "pw",
           "master_ip": "127.0.0.1", "timeout": 5}
    for server in servers:
        server.shutdown()
        server.server_close()


def _load(api, tmp_path, grains, **config):
    spec = importlib.util.spec_from_file_location("mosmu_runner",
                                                  os.path.join(REPO, "_runners", "mosmu.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    roots = tmp_path / "file_roots"        # the master's fileserver: mosmu's code, as synced
    for sub in ("_modules", "_states", "_utils"):
        shutil.copytree(os.path.join(REPO, sub), roots / sub)
    opts = salt.config.apply_master_config(
        # these tests were written for controllers first; the default order has its own test
        {"cachedir": str(tmp_path), "mosmu": dict(api, **{"serial_order": "first", **config}),
         "file_roots": {"base": [str(roots)]}},
        salt.config.DEFAULT_MASTER_OPTS)
    cache = salt.cache.factory(opts)
    for minion, data in grains.items():
        cache.store("grains", minion, data)
    module.__opts__ = opts
    module.__context__ = {}
    module.__jid__ = "20261125120000000000"
    module.__jid_event__ = mock.Mock()
    module.__salt__ = {"event.send": mock.Mock()}
    # a published mirror: pre-flight passes, plans point at the tree's current snapshot
    module.mosmu_mirror = mock.Mock(wraps=module.mosmu_mirror)
    module.mosmu_mirror.missing.return_value = []
    module.mosmu_snapshots = mock.Mock(wraps=module.mosmu_snapshots)
    module.mosmu_snapshots.current_snapshot.return_value = ".snapshots/mos-repos/ubuntu/8.0/1"
    return module


@pytest.fixture
def runner(api, tmp_path):
    return _load(api, tmp_path, GRAINS)


class Minions:
    """Scripted minions: ``apply`` maps a minion to its state.apply return (absent = silent),
    ``status`` to its mosmu.status return, ``dead`` never answer anything."""

    def __init__(self, apply=None, status=None, dead=(), on_apply=None, code=None,
                 sync_fails=()):
        self.apply, self.status, self.dead = apply or {}, status or {}, set(dead)
        self.on_apply = on_apply
        self.code = code or {}                 # minion -> its mosmu.version return
        self.sync_fails, self.synced = set(sync_fails), []
        self.checked, self.check_outputs = [], {}      # minion -> {check: raw output}
        self.asked_checks = []
        self.silent_on_checks = set()
        self.client = mock.create_autospec(salt.client.LocalClient, instance=True)
        self.client.__enter__.return_value = self.client
        self.client.cmd.side_effect = self._cmd
        self.client.run_job.side_effect = self._publish
        self.client.get_iter_returns.side_effect = self._returns
        self.client.event = mock.create_autospec(salt.utils.event.SaltEvent, instance=True)
        self.client.event.cpub = False
        self.waves = []

    def _cmd(self, tgt, fun, *_args, **_kwargs):
        live = [m for m in tgt if m not in self.dead]
        if fun == "mosmu.version":
            return {m: {"ret": self.code.get(m, {"digest": "same"}), "retcode": 0} for m in live}
        if fun == ["saltutil.sync_utils", "saltutil.sync_modules", "saltutil.sync_states"]:
            self.synced += live
            return {m: {"ret": "ERROR: no space left" if m in self.sync_fails else
                        {f: [] for f in fun}, "retcode": 0} for m in live}
        if fun == "mosmu.status":
            return {m: {"ret": self.status[m], "retcode": 0} for m in live if m in self.status}
        if fun == "mosmu.checks":        # healthy disks; the cloud's tools are not installed
            checks = _args[0][0]
            self.checked.append((list(live), [c["name"] for c in checks]))
            self.asked_checks += list(tgt)           # dead minions included
            live = [m for m in live if m not in self.silent_on_checks]
            return {m: {"ret": {c["name"]: self.check_outputs.get(m, {}).get(c["name"]) or (
                {"retcode": 0, "stdout": DF_OK, "stderr": ""} if c["name"] == "disk" else
                {"missing": c["argv"][0]}) for c in checks}, "retcode": 0} for m in live}
        raise AssertionError(f"unexpected {fun}")

    def _publish(self, tgt, fun, *_args, **kwargs):
        """``run_job``: the wave's ``state.apply`` published, ``{"jid", "minions"}``."""
        assert fun == "state.apply"
        self.waves.append(list(tgt))
        if self.on_apply:
            self.on_apply(list(tgt))
        self.pillar = kwargs["kwarg"]["pillar"]["mosmu"]
        return {"jid": f"2026112512{len(self.waves):010d}", "minions": list(tgt)}

    def _returns(self, _jid, minions, **_kwargs):
        """``get_iter_returns``: None (nothing yet), then each live minion's return."""
        yield None
        for minion in minions:
            if minion in self.apply and minion not in self.dead:
                yield {minion: {"ret": self.apply[minion], "retcode": 0}}


def _update(runner, minions, **kwargs):
    with mock.patch.object(runner.salt.client, "get_local_client",
                           return_value=minions.client):
        return runner.update(**kwargs)


def test_nodes_maps_by_ipv4_grain_and_leaves_ambiguous_unmapped(api, tmp_path):
    runner = _load(api, tmp_path, dict(GRAINS, **{"twin-a": {"ipv4": ["10.20.0.5"]}}))
    result = runner.nodes(env=1)
    minions = {n["ip"]: n["minion"] for n in result["selected"]}
    assert minions == {"10.20.0.3": N1, "10.20.0.4": N2, "10.20.0.5": None}
    assert next(n for n in result["selected"] if n["ip"] == "10.20.0.5")["candidates"] == \
        ["node-3.test.domain.local", "twin-a"]


def test_update_reports_no_minion_and_silent_minions(api, tmp_path):
    runner = _load(api, tmp_path, dict(GRAINS, **{"twin-a": {"ipv4": ["10.20.0.5"]}}))
    minions = Minions(apply={N1: OK})
    report = _update(runner, minions, env=1, sync=False)
    assert report["10.20.0.3"]["result"] == "OK"
    assert report["10.20.0.4"]["result"] == "TIMEOUT"
    assert "mosmu.status" in report["10.20.0.4"]["comment"]
    assert report["10.20.0.5"]["result"] == "NO_MINION"
    assert "node-3.test.domain.local, twin-a" in report["10.20.0.5"]["comment"]
    assert report["summary"] == {"OK": 1, "TIMEOUT": 1, "NO_MINION": 1}
    assert report["retcode"] == 2 and runner.__context__["retcode"] == 2
    # the whole plan, reading the snapshot of this run, not the moving published path
    plan = mosmu_plan.Plan.from_pillar(minions.pillar)
    assert plan.path == ".snapshots/mos-repos/ubuntu/8.0/1" and plan.repo_names == ["updates"]
    assert "password" not in str(minions.client.mock_calls)


def test_controllers_go_alone_then_the_rest_in_batches(runner):
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    report = _update(runner, minions, env=1, sync=False)
    assert minions.waves == [[N1], [N2, N3]]        # node-1 is the controller
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    _update(runner, minions, env=1, sync=False, batch=1)
    assert minions.waves == [[N1], [N2], [N3]]
    assert report["retcode"] == 0 and report["summary"] == {"OK": 3}


def test_a_node_the_checks_cannot_reach_leaves_the_run_and_the_others_go_on(runner):
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    minions.silent_on_checks = {N3}
    report = _update(runner, minions, env=1, sync=False, max_failures=1)
    assert report["10.20.0.5"]["result"] == "TIMEOUT"
    assert "did not answer the health checks" in report["10.20.0.5"]["comment"]
    assert minions.waves == [[N1], [N2]]
    assert (report["10.20.0.3"]["result"], report["10.20.0.4"]["result"]) == ("OK", "OK")
    assert report["retcode"] == 2
    # it counts as a failure of the run, as if its wave had found it: max_failures=0 stops
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    minions.silent_on_checks = {N3}
    report = _update(runner, minions, env=1, sync=False)
    assert minions.waves == [[N1]] and report["10.20.0.4"]["result"] == "SKIPPED"


def test_the_controller_of_the_cloud_checks_out_of_reach_stops_the_environment(runner):
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    minions.silent_on_checks = {N1}
    report = _update(runner, minions, env=1, sync=False)
    assert minions.waves == []
    assert report["10.20.0.3"]["result"] == "TIMEOUT"
    assert {report[ip]["result"] for ip in ("10.20.0.4", "10.20.0.5")} == {"SKIPPED"}
    assert "the cloud-wide checks did not run" in report["10.20.0.4"]["comment"]
    assert report["envs"][1]["result"] == "FAIL" and report["retcode"] == 2


def test_by_default_computes_go_first_and_controllers_last_so_they_restart_last(api, tmp_path):
    runner = _load(api, tmp_path, GRAINS, serial_order=mosmu_config.DEFAULTS["serial_order"])
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    report = _update(runner, minions, env=1, sync=False)
    assert minions.waves == [[N2, N3], [N1]] and report["retcode"] == 0


def test_a_failed_wave_stops_the_run_and_the_rest_is_skipped(runner):
    minions = Minions(apply={N1: FAILED, N2: OK, N3: OK})
    report = _update(runner, minions, env=1, sync=False)
    assert minions.waves == [[N1]]
    assert report["10.20.0.3"]["result"] == "FAIL"
    assert {report[ip]["result"] for ip in ("10.20.0.4", "10.20.0.5")} == {"SKIPPED"}
    assert "max_failures=0" in report["10.20.0.4"]["comment"]
    assert report["retcode"] == 2
    minions = Minions(apply={N1: FAILED, N2: OK, N3: OK})
    report = _update(runner, minions, env=1, sync=False, max_failures=1)
    assert minions.waves == [[N1], [N2, N3]] and report["summary"] == {"OK": 2, "FAIL": 1}


def test_a_run_stopped_inside_an_environment_still_checks_what_its_waves_touched(runner):
    minions = Minions(apply={N1: FAILED, N2: OK, N3: OK})
    report = _update(runner, minions, env=1, sync=False)
    assert minions.waves == [[N1]]
    assert [s["name"] for s in report["envs"][1]["steps"]] == [
        "health checks before the update", "health checks after the update"]


def test_the_checks_after_the_update_do_not_wait_again_for_a_node_that_did_not_answer(runner):
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    asked_before = []

    def kill_n2(wave):                       # node-2's minion dies as its wave starts
        if N2 in wave:
            minions.dead.add(N2)
            asked_before.append(len(minions.asked_checks))
    minions.on_apply = kill_n2
    report = _update(runner, minions, env=1, sync=False, max_failures=5)
    assert report["10.20.0.4"]["result"] == "TIMEOUT"
    after = set(minions.asked_checks[asked_before[0]:])     # the checks after the update
    assert after == {N1, N3}
    assert [s["name"] for s in report["envs"][1]["steps"]][-1] == \
        "health checks after the update"


def test_retry_failed_updates_only_nodes_not_ok(runner):
    ok = {"state": "OK", "line": "UPDATE=OK",
          "record": {"mos_version": "8.0", "repos": ["updates"]}}
    bad = dict(ok, state="FAIL", line="UPDATE=FAIL")
    # node-3's last OK was a run with other repos: it did not get this plan, so it is retried
    other = dict(ok, record={"mos_version": "8.0", "repos": ["updates", "proposed"]})
    minions = Minions(apply={N1: OK, N2: OK, N3: OK}, status={N1: ok, N2: bad, N3: other})
    report = _update(runner, minions, env=1, sync=False, retry_failed=True)
    assert minions.waves == [[N2, N3]]
    assert {s["ip"] for s in report["skipped"] if "retry_failed" in s["reason"]} == \
        {"10.20.0.3"}


def test_a_lost_job_return_is_read_back_from_this_runs_status_record(runner):
    """A salt-master restart mid-wave loses the job returns although the nodes finished:
    the report comes from their status records instead of TIMEOUT."""
    record = {"state": "OK", "line": "UPDATE=OK",
              "record": {"run_id": runner.__jid__, "changes": {}}}
    minions = Minions(apply={N1: OK, N3: OK}, status={N2: record})
    report = _update(runner, minions, env=1, sync=False)
    assert report["10.20.0.4"]["result"] == "OK"
    assert "job return was lost" in report["10.20.0.4"]["comment"]


@pytest.mark.parametrize("record", [
    {"run_id": "20200101000000000000", "finished": "2999-01-01T00:00:00+00:00"},
    {"finished": "2999-01-01T00:00:00+00:00"},
    {"run_id": None},
], ids=["other-run-later-clock", "old-tool-or-no-id", "null-id"])
def test_a_lost_job_return_is_never_resolved_by_another_runs_record(runner, record):
    """Regression: a lost return used to be resolved by any record whose "finished" time
    (the node's clock) was later than the wave's start (the master's clock), so an older
    run's OK on a node with a clock ahead was reported as this run's result."""
    status = {"state": "OK", "line": "UPDATE=OK", "record": dict(record, changes={})}
    minions = Minions(apply={N1: OK, N3: OK}, status={N2: status})
    report = _update(runner, minions, env=1, sync=False)
    assert report["10.20.0.4"]["result"] == "TIMEOUT"


# -- OK means verified: PARTIAL nodes ----------------------------------------------------------

PARTIAL = {"mosmu_|-mosmu-init-mosmu-updated_|-mos-8.0_|-updated":
           {"result": False, "mosmu_result": "PARTIAL", "duration": 100,
            "changes": {"nova-common": {"old": "1.0", "new": "1.1"}},
            "comment": "PARTIAL: 1 offered package(s) did not reach their MU version: "
                       "python-nova 1.0 (offered 1.1) (...); status UPDATE=FAIL"}}


def test_a_partial_node_is_its_own_result_and_fails_the_run(runner):
    minions = Minions(apply={N1: OK, N2: PARTIAL, N3: OK})
    report = _update(runner, minions, env=1, sync=False)
    assert report["10.20.0.4"]["result"] == "PARTIAL"
    assert "python-nova 1.0 (offered 1.1)" in report["10.20.0.4"]["comment"]
    assert report["summary"] == {"OK": 2, "PARTIAL": 1} and report["retcode"] == 2


def test_accept_partial_lets_partial_nodes_pass_and_keeps_them_partial(runner):
    minions = Minions(apply={N1: PARTIAL, N2: OK, N3: OK})
    report = _update(runner, minions, env=1, sync=False, accept_partial=True)
    assert minions.waves == [[N1], [N2, N3]]        # not counted by max_failures=0
    assert report["10.20.0.3"]["result"] == "PARTIAL" and report["retcode"] == 0
    minions = Minions(apply={N1: PARTIAL, N2: OK, N3: OK})
    report = _update(runner, minions, env=1, sync=False)
    assert minions.waves == [[N1]] and report["retcode"] == 2


# -- the master's record of each node's last run (mosmu_ledger) -------------------------------

STALE_OK = {"state": "OK", "line": "UPDATE=OK",
            "record": {"mos_version": "8.0", "repos": ["updates"], "run_id": "older"}}
COULD_NOT_RECORD = {"mosmu_|-mosmu-init-mosmu-updated_|-mos-8.0_|-updated":
                    {"result": False, "changes": {}, "duration": 9,
                     "comment": "could not record UPDATE=FAIL in /var/log/mos_apply_mu.status: "
                                "Read-only file system"}}


def test_a_node_that_could_not_record_its_failure_is_not_ok_for_status_or_retry(runner):
    """Regression: a node whose /var/log could not be written kept an older UPDATE=OK;
    mosmu.status then said OK and retry_failed=True found nothing to do, while every
    package was still at the old version."""
    minions = Minions(apply={N1: OK, N2: COULD_NOT_RECORD, N3: OK},
                      status={N1: STALE_OK, N2: STALE_OK, N3: STALE_OK})
    report = _update(runner, minions, env=1, sync=False, max_failures=1)
    assert report["10.20.0.4"]["result"] == "FAIL"
    with mock.patch.object(runner.salt.client, "get_local_client",
                           return_value=minions.client):
        status = runner.status(env=1)
    assert status["10.20.0.4"]["result"] == "FAIL"
    assert "Read-only file system" in status["10.20.0.4"]["comment"]
    assert "UPDATE=OK" in status["10.20.0.4"]["comment"]          # what the node still says
    assert status["10.20.0.3"]["result"] == "OK" and status["retcode"] == 2
    runner.__jid__ = "20261125130000000000"
    minions = Minions(apply={N2: OK}, status={N1: STALE_OK, N2: STALE_OK, N3: STALE_OK})
    report = _update(runner, minions, env=1, sync=False, retry_failed=True)
    assert minions.waves == [[N2]] and report["10.20.0.4"]["result"] == "OK"


def test_the_node_file_is_the_truth_once_the_last_run_wrote_it(runner):
    minions = Minions(apply={N1: OK, N2: FAILED, N3: OK})
    _update(runner, minions, env=1, sync=False, max_failures=1)
    fixed = dict(STALE_OK, record=dict(STALE_OK["record"], run_id=runner.__jid__))
    with mock.patch.object(runner.salt.client, "get_local_client",
                           return_value=Minions(status={N1: fixed, N2: fixed, N3: fixed}).client):
        status = runner.status(env=1)
    assert {e["result"] for e in runner.mosmu_report.entries_of(status)} == {"OK"}


def test_test_mode_records_nothing_on_the_master(runner):
    minions = Minions(apply={N1: FAILED, N2: OK, N3: OK})
    _update(runner, minions, env=1, sync=False, test=True)
    assert not os.path.exists(os.path.join(runner.__opts__["cachedir"], "mosmu", "results"))


def test_a_dead_minion_is_no_minion_before_any_wave(runner):
    minions = Minions(apply={N1: OK, N2: OK, N3: OK}, dead={N3})
    report = _update(runner, minions, env=1, sync=False)
    assert report["10.20.0.5"]["result"] == "NO_MINION"
    assert "did not answer mosmu.version" in report["10.20.0.5"]["comment"]
    assert minions.waves == [[N1], [N2]]


# -- the fixed cost of a run: mosmu's modules synced only where they differ --------------------

def test_minions_that_run_the_masters_code_get_no_sync(runner):
    """Regression: every run did a full saltutil.sync_all on every selected minion (64% of a
    small run's time) although nothing had changed."""
    runner._master_digest = lambda: "same"  # pylint: disable=protected-access
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    report = _update(runner, minions, env=1, sync=False, checks=False)
    assert report["retcode"] == 0 and minions.synced == []
    funs = [c.args[1] for c in minions.client.cmd.call_args_list]
    assert funs == ["mosmu.version"]                  # one publish before the first wave


def test_the_health_checks_cost_a_publish_per_check_list_before_and_after(runner):
    runner._master_digest = lambda: "same"  # pylint: disable=protected-access
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    report = _update(runner, minions, env=1, sync=False)
    assert report["retcode"] == 0
    funs = [c.args[1] for c in minions.client.cmd.call_args_list]
    assert funs == ["mosmu.version"] + ["mosmu.checks"] * 4
    # the computes check their disks, the controller its disk and the cloud, before and after
    assert minions.checked == [([N1], ["disk", "pacemaker", "nova", "neutron", "cinder", "ceph"]),
                               ([N2, N3], ["disk"])] * 2


def test_only_minions_whose_code_differs_are_synced_and_a_failed_sync_is_named(runner):
    runner._master_digest = lambda: "new"  # pylint: disable=protected-access
    minions = Minions(apply={N1: OK, N2: OK, N3: OK}, sync_fails={N3},
                      code={N1: {"digest": "new"}, N2: {"digest": "old"},
                            N3: "'mosmu.version' is not available."})
    report = _update(runner, minions, env=1, sync=False, max_failures=5)
    assert sorted(minions.synced) == [N2, N3]
    assert report["10.20.0.4"]["result"] == "OK"
    assert report["10.20.0.5"]["result"] == "FAIL"
    assert "syncing mosmu's modules to node-3.test.domain.local failed: ERROR: no space left" \
        in report["10.20.0.5"]["comment"]
    assert "saltutil.sync_all" in report["10.20.0.5"]["comment"]
    assert minions.waves == [[N1], [N2]]


def test_the_master_and_a_minion_compute_the_same_digest_of_the_same_code(runner):
    """The master hashes what its fileserver would sync; a minion hashes what it loaded
    (its module, state and helpers): for the same files, the same digest."""
    minion_side = mosmu_code.local_digest(os.path.join(REPO, "_modules", "mosmu.py"),
                                          os.path.join(REPO, "_states", "mosmu.py"),
                                          os.path.join(REPO, "_utils"))
    assert runner._master_digest() == minion_side  # pylint: disable=protected-access
    roots = runner.__opts__["file_roots"]["base"][0]
    with open(os.path.join(roots, "_utils", "mosmu_apt.py"), "a", encoding="utf-8") as handle:
        handle.write("# changed\n")
    runner.__opts__["fileserver_list_cache_time"] = 0
    assert runner._master_digest() != minion_side  # pylint: disable=protected-access


def test_without_mosmu_code_in_the_fileserver_nothing_is_synced(runner):
    """mosmu pip-installed on the nodes: the master's fileserver serves none of it."""
    runner._master_digest = lambda: None  # pylint: disable=protected-access
    minions = Minions(apply={N1: OK, N2: OK, N3: OK}, code={N2: {"digest": "whatever"}})
    assert _update(runner, minions, env=1, sync=False)["retcode"] == 0
    assert minions.synced == []


def test_an_interrupted_run_reports_what_finished_and_exits_non_zero(runner):
    """Ctrl-C used to exit 0 through salt-run's own handler and lose the finished waves."""
    def interrupt(wave):
        if wave == [N2, N3]:
            raise runner._Interrupted("SIGINT")  # pylint: disable=protected-access
    minions = Minions(apply={N1: OK, N2: OK, N3: OK}, on_apply=interrupt)
    report = _update(runner, minions, env=1, sync=False)
    assert report["10.20.0.3"]["result"] == "OK"
    assert report["10.20.0.4"]["result"] == "TIMEOUT" and report["interrupted"] == "SIGINT"
    assert report["retcode"] == 2


def test_a_second_run_touching_the_same_nodes_is_refused_naming_the_job(runner, tmp_path):
    lock_dir = os.path.join(runner.__opts__["cachedir"], "mosmu", "locks")
    with mosmu_lock.locked(lock_dir, [2], "20261125110000000000"):
        report = _update(runner, Minions(apply={N1: OK, N2: OK, N3: OK}), env=1, sync=False)
    assert report["retcode"] == 2 and "20261125110000000000" in report["error"]


def test_each_node_reports_its_own_time_and_each_wave_its_wall_time(runner):
    """Regression: every node of a wave showed the wave's wall time as its duration (8 nodes
    all 2.8 s while their states took 1.0-1.2 s)."""
    slow = {k: dict(v, duration=2500) for k, v in OK.items()}
    report = _update(runner, Minions(apply={N1: OK, N2: OK, N3: slow}), env=1, sync=False)
    assert [report[ip]["duration"] for ip in ("10.20.0.3", "10.20.0.4", "10.20.0.5")] == \
        [0.1, 0.1, 2.5]
    assert [(w["wave"], w["nodes"]) for w in report["waves"]] == [(1, [1]), (2, [2, 3])]
    assert all(isinstance(w["seconds"], float) for w in report["waves"])
    said = [str(c.args[0].get("message")) for c in runner.__jid_event__.fire_event.call_args_list]
    assert any(m.startswith("env 1 wave 2/2 done in ") for m in said)


def test_a_dry_run_takes_no_lock_and_clears_none(runner):
    """test=True changes nothing on the master: no lock dir is made, none is cleared."""
    lock_dir = os.path.join(runner.__opts__["cachedir"], "mosmu", "locks")
    report = _update(runner, Minions(apply={N1: OK, N2: OK, N3: OK}), env=1, sync=False,
                     test=True)
    assert report["retcode"] == 0 and not os.path.exists(lock_dir)


def _said(runner):
    return [str(c.args[0].get("message")) for c in runner.__jid_event__.fire_event.call_args_list
            if isinstance(c.args[0], dict)]


def test_a_slow_phase_says_what_the_run_waits_for(runner):
    """Regression: without a reachable minion a run sat silent for ~30 s before the first
    wave. A phase that takes longer than PHASE_QUIET now says what it waits for."""
    runner.PHASE_QUIET = 0.0
    said = threading.Event()
    runner.__jid_event__.fire_event.side_effect = lambda data, _tag: said.set() if \
        "asking 3 minion(s) which mosmu code they run" in str(data.get("message")) else None
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    scripted = minions.client.cmd.side_effect

    def slow(tgt, fun, *args, **kwargs):
        if fun == "mosmu.version":       # a minion that does not answer: the run waits
            assert said.wait(10), "no progress line while the module sync waits"
        return scripted(tgt, fun, *args, **kwargs)

    minions.client.cmd.side_effect = slow
    assert _update(runner, minions, env=1, sync=False)["retcode"] == 0


def test_phases_within_their_quiet_time_say_nothing(runner):
    runner.PHASE_QUIET = 3600.0
    _update(runner, Minions(apply={N1: OK, N2: OK, N3: OK}), env=1, sync=False)
    assert not [m for m in _said(runner) if m.startswith(("asking", "reading", "mapping",
                                                          "checking"))]


def test_without_python_debian_an_update_runs_and_says_the_files_were_not_checked(runner):
    runner.mosmu_mirror.verify_published.side_effect = runner.MissingDependency(
        "python-debian is not installed in the salt-master's Python")
    report = _update(runner, Minions(apply={N1: OK, N2: OK, N3: OK}), env=1, sync=False)
    assert report["retcode"] == 0
    assert any("the published files were not checked: python-debian is not installed" in m
               for m in _said(runner))


def test_a_client_the_restarted_master_refuses_authenticates_again(runner):
    """Regression (Salt 3006): after a salt-master restart mid-run, the run's LocalClient
    was refused (AuthenticationError) and no later wave could start."""
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    scripted = minions.client.run_job.side_effect
    refusals = []

    def refused_once(tgt, *args, **kwargs):
        if tgt == [N2, N3] and not refusals:      # the master restarted during wave 1
            refusals.append(tgt)
            raise salt.exceptions.AuthenticationError("Authentication error occurred.")
        return scripted(tgt, *args, **kwargs)

    minions.client.run_job.side_effect = refused_once
    report = _update(runner, minions, env=1, sync=False)
    assert refusals and report["retcode"] == 0 and report["summary"] == {"OK": 3}
    assert any("authenticating again" in m for m in _said(runner))


def test_returns_whose_reading_breaks_are_read_again_on_a_new_client(runner):
    """Regression (Salt 3007.16, the salt-master restarted mid-wave): the event bus
    connection the run read job returns from kept a closed stream, every read raised
    ValueError 'Invalid file object: None' and the run ended with no node entry. The job's
    returns are read again, by its jid, on a new client, for the minions that have not
    returned; nothing is published twice."""
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    scripted = minions.client.get_iter_returns.side_effect
    reads = []

    def breaks_once(jid, waiting, **kwargs):
        reads.append((jid, list(waiting)))
        if len(reads) == 2:         # wave 2: node-2 returns, then the stream is gone
            yield {N2: {"ret": OK, "retcode": 0}}
            raise ValueError("Invalid file object: None")
        yield from scripted(jid, waiting, **kwargs)

    minions.client.get_iter_returns.side_effect = breaks_once
    with mock.patch.object(runner.salt.client, "get_local_client",
                           return_value=minions.client) as made:
        report = runner.update(env=1, sync=False)
    assert report["retcode"] == 0 and report["summary"] == {"OK": 3}
    assert minions.waves == [[N1], [N2, N3]]
    wave2 = reads[1][0]
    assert reads[1:] == [(wave2, [N2, N3]), (wave2, [N3])]
    assert made.call_count == 2
    assert any("reading them again on a new connection" in m for m in _said(runner))


def test_a_valueerror_from_salt_is_an_internal_error_not_a_wrong_argument(runner, caplog):
    """Regression: the boundary read every ValueError as '...; fix the argument', so one
    from Salt's client (Salt 3007.16 with the salt-master restarted: 'Invalid file object:
    None') blamed the operator's arguments. It is the internal-error line with the traceback
    in the master log, and the finished wave stays in the report."""
    caplog.set_level(logging.DEBUG)
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    scripted = minions.client.get_iter_returns.side_effect

    def broken(jid, waiting, **kwargs):
        if N1 not in waiting:       # wave 2, read again too: the bus stays gone
            raise ValueError("Invalid file object: None")
        return scripted(jid, waiting, **kwargs)

    minions.client.get_iter_returns.side_effect = broken
    result = _update(runner, minions, env=1, sync=False)
    assert result["error"] == ("internal error in mosmu.update: ValueError: Invalid file "
                               "object: None; rerun with salt-run -l info for the traceback, "
                               "and report it")
    assert result["10.20.0.3"]["result"] == "OK" and result["retcode"] == 2
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("Traceback" in m and "ValueError: Invalid file object: None" in m
               for m in logged)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_signal_while_salt_reads_the_bus_ends_the_run_with_the_partial_report(runner):
    """Regression (Salt 3007): the signal handler raised where the main thread was, inside
    Salt's event bus read, and Salt put another exception in its place (LocalClient's
    cleanup: RuntimeError 'Cannot close a running event loop'): the report lost the
    interrupted wave's TIMEOUT and the nodes not started. The signal is recorded and the run
    stops at its next step."""
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    scripted = minions.client.get_iter_returns.side_effect

    def salt_like(jid, waiting, **kwargs):
        if waiting != [N2]:
            yield from scripted(jid, waiting, **kwargs)
            return
        try:
            os.kill(os.getpid(), signal.SIGINT)     # Ctrl-C while Salt reads the bus
            yield None
        except Exception as err:                    # what Salt 3007's cleanup did
            raise RuntimeError("Cannot close a running event loop") from err

    minions.client.get_iter_returns.side_effect = salt_like
    handler = signal.getsignal(signal.SIGINT)
    report = _update(runner, minions, env=1, sync=False, batch=1)
    assert minions.waves == [[N1], [N2]]
    assert [report[ip]["result"] for ip in ("10.20.0.3", "10.20.0.4", "10.20.0.5")] == \
        ["OK", "TIMEOUT", "SKIPPED"]
    assert "interrupted" in report["10.20.0.4"]["comment"]
    assert report["interrupted"] == "SIGINT" and report["retcode"] == 2
    assert signal.getsignal(signal.SIGINT) is handler


def test_a_signal_between_waves_ends_the_wait_at_once(runner):
    """interval=600: a signal while the run waits for the next wave ends the wait; the nodes
    not started are SKIPPED."""
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    with mock.patch.object(runner, "time", wraps=time) as clock:
        clock.sleep.side_effect = lambda _seconds: os.kill(os.getpid(), signal.SIGTERM)
        report = _update(runner, minions, env=1, sync=False, interval=600)
    clock.sleep.assert_called_once_with(600)
    assert minions.waves == [[N1]]
    assert [report[ip]["result"] for ip in ("10.20.0.3", "10.20.0.4", "10.20.0.5")] == \
        ["OK", "SKIPPED", "SKIPPED"]
    assert report["interrupted"] == "SIGTERM" and report["retcode"] == 2


def test_a_closed_event_bus_loses_neither_progress_nor_the_report(runner):
    """Regression (Salt 3006, the salt-master restarted mid-wave): an event sent on the
    closed bus connection raised, ended the run in an internal error or made salt-run's own
    return event raise, and the report was lost. A progress line that cannot be sent is
    dropped, and the connection is closed before the return so that salt-run's return event
    connects anew."""
    runner.__jid_event__.fire_event.side_effect = OSError("Stream is closed")
    runner.__jid_event__.event.close_pull.side_effect = OSError("Stream is closed")
    report = _update(runner, Minions(apply={N1: OK, N2: OK, N3: OK}), env=1, sync=False)
    assert report["retcode"] == 0 and report["summary"] == {"OK": 3}
    runner.__jid_event__.event.close_pull.assert_called_once()


def test_events_for_reactors_and_no_progress_with_json_output(runner):
    runner.__opts__["output"] = "json"
    _update(runner, Minions(apply={N1: OK, N2: OK, N3: OK}), env=1, sync=False)
    runner.__jid_event__.fire_event.assert_not_called()   # one JSON document on stdout
    tags = [c.args[0] for c in runner.__salt__["event.send"].call_args_list]
    assert tags[0] == "mosmu/update/1/start" and tags[-1] == "mosmu/update/1/done"
    assert "mosmu/update/1/node/1/OK" in tags
    assert "pw" not in str(runner.__salt__["event.send"].call_args_list)


@pytest.mark.parametrize("kwargs, words", [
    ({"enviroment": 1}, "enviroment (did you mean env?)"),
    ({"env": "abc"}, "env="),
    ({"env": 1, "all_envs": True}, "not both"),
    ({"env": 1, "batch": "150%"}, "batch="),
    ({"env": 1, "max_failures": -1}, "max_failures"),
])
def test_bad_arguments_fail_before_any_request(runner, kwargs, words):
    runner.__opts__["mosmu"]["fuel_url"] = "http://127.0.0.1:9"   # nothing listens there
    report = _update(runner, Minions(), **kwargs)
    assert report["retcode"] == 2 and words in report["error"]


@pytest.mark.parametrize("config, words", [
    (None, "no mosmu: section"),
    ({"password": "x"}, "mosmu:fuel_url is not set"),
    ({"fuel_url": "http://h:8000"}, "mosmu:password is not set"),
    ({"fuel_url": "http://h:8000", "password": "x", "master_ip": "1.2.3.4", "pasword": "y"},
     "unknown key(s) in the mosmu: master config: pasword"),
    ({"fuel_url": "http://h:8000", "password": "x", "master_ip": "1.2.3.4",
      "serial_roles": "controller;rm"}, "mosmu:serial_roles"),
])
def test_config_errors_are_one_line(runner, config, words):
    runner.__opts__ = dict(runner.__opts__, mosmu=config)
    result = runner.nodes(env=1)
    assert result["retcode"] == 2 and words in result["error"]


def test_unexpected_errors_end_as_one_line_not_a_traceback(runner):
    with mock.patch.object(runner.mosmu_select, "select", side_effect=KeyError("id")):
        result = runner.nodes(env=1)
    assert result["retcode"] == 2 and result["error"].startswith("internal error in mosmu.nodes")


def test_preflight_stops_an_unsynced_mirror_before_any_node(runner):
    """A first test=True (or sync=False) on a fresh master used to send every node to an apt
    404 and leave them UPDATE=FAIL; now the run stops before any node is touched."""
    runner.mosmu_mirror.missing.return_value = ["mos8.0-updates"]
    minions = Minions()
    for kwargs in ({"sync": False}, {"test": True}):
        report = _update(runner, minions, env=1, **kwargs)
        assert report["retcode"] == 2 and "mos8.0-updates" in report["error"]
        assert "salt-run mosmu.sync mos_version=8.0" in report["error"]
    minions.client.cmd.assert_not_called()
    minions.client.run_job.assert_not_called()


# -- no traceback, whatever fails (issue 15 part 3, issue 16 item 6) -------------------------

@pytest.fixture
def offline_runner(runner):
    """A runner whose Fuel API is a closed port: any call that gets past the argument gate
    fails differently (cannot connect), so an argument error is proven to come first."""
    runner.__opts__["mosmu"]["fuel_url"] = "http://127.0.0.1:9"
    return runner


@pytest.mark.parametrize("function", sorted(mosmu_request.FUNCTIONS))
def test_every_function_refuses_an_unknown_argument_naming_the_accepted_ones(offline_runner,
                                                                             function):
    """mosmu.sync and mosmu.snapshots took named parameters: salt-run mosmu.sync bogus=1
    printed their docstring and exited 0 (Salt's signature check)."""
    result = getattr(offline_runner, function)(zzzzzz=1)
    assert result["retcode"] == 2 and offline_runner.__context__["retcode"] == 2
    assert result["error"] == (
        "unknown argument(s): zzzzzz; known: "
        f"{', '.join(sorted(mosmu_request.FUNCTIONS[function]))}")


@pytest.mark.parametrize("function, args", [
    (function, args) for function in sorted(mosmu_request.FUNCTIONS)
    for args in ((1,), ("8.0", "x"), ([1, 2],))])
def test_every_function_refuses_a_positional_argument_in_one_line(offline_runner, function,
                                                                  args):
    """salt-run mosmu.update 1 ended in a traceback and 'internal error' (Salt passes a
    positional argument as *args, which the function does not take)."""
    result = getattr(offline_runner, function)(*args, env=1)
    assert result["retcode"] == 2 and set(result) <= {"error", "retcode", "outputter"}
    assert result["error"].startswith(f"positional argument '{args[0]}': give name=value, e.g. ")
    assert "internal error" not in result["error"]


def test_sync_and_snapshots_keep_their_accepted_forms(runner):
    runner.mosmu_mirror.sync_tree = mock.Mock(return_value={
        "state": "unchanged", "suites": {}, "files": 0, "seconds": 0})
    runner.mosmu_mirror.snapshots = mock.Mock(return_value=[])
    result = runner.sync(mos_version=8.0, repos="security", test=True, __pub_user="root")
    assert result["retcode"] == 0 and list(result["mirror"]) == ["ubuntu/8.0"]
    assert runner.mosmu_mirror.sync_tree.call_args.kwargs["test"] is True
    assert runner.mosmu_mirror.sync_tree.call_args.args[3] == ["updates", "security"]
    assert runner.snapshots(mos_version="6.1", distro="centos")["tree"] == "centos/6.1"


def test_an_interval_beyond_a_day_is_refused_before_any_node(runner):
    """interval=99999999999 was accepted; time.sleep then raised OverflowError after wave 1
    and the results of wave 1 were lost."""
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    report = _update(runner, minions, env=1, sync=False, interval=99999999999)
    assert report["error"] == ("interval=99999999999 must be a whole number >= 0 and <= 86400 "
                               "(seconds)")
    minions.client.run_job.assert_not_called()


ENOSPC = OSError(28, "No space left on device", "/srv/mirror/.mosmu-staging/mos-repos")


@pytest.mark.parametrize("code, fix", [
    (28, "free space on the filesystem of /srv/x (df -h)"),
    (122, "free space on the filesystem of /srv/x (df -h)"),
    (30, "remount the filesystem of /srv/x read-write"),
    (13, "check permissions of /srv/x"), (1, "check permissions of /srv/x"),
])
@pytest.mark.parametrize("call", ["update", "sync"])
def test_an_oserror_of_the_mirror_is_one_line_with_cause_path_and_fix(runner, code, fix, call):
    """mirror_root on a full filesystem ended in 'internal error ... OSError: [Errno 28]' with
    a traceback in the log."""
    runner.mosmu_mirror.sync_tree = mock.Mock(side_effect=OSError(code, os.strerror(code),
                                                                  "/srv/x"))
    minions = Minions()
    with mock.patch.object(runner.salt.client, "get_local_client",
                           return_value=minions.client):
        result = runner.update(env=1) if call == "update" else runner.sync(mos_version="8.0")
    assert result["retcode"] == 2 and "internal error" not in result["error"]
    assert result["error"].startswith(f"{os.strerror(code)} (")
    assert ": /srv/x; " in result["error"] and fix in result["error"]
    minions.client.run_job.assert_not_called()


def test_a_lock_dir_under_a_regular_file_is_one_line_naming_it(runner):
    """A real ENOTDIR: <cachedir>/mosmu is a file, so the lock dir cannot be made."""
    with open(os.path.join(runner.__opts__["cachedir"], "mosmu"), "w", encoding="utf-8"):
        pass
    minions = Minions(apply={N1: OK, N2: OK, N3: OK})
    result = _update(runner, minions, env=1, sync=False)
    lock_dir = os.path.join(runner.__opts__["cachedir"], "mosmu", "locks")
    assert result["error"].startswith(f"Not a directory (ENOTDIR): {lock_dir}; ")
    assert "is a file where a directory is expected" in result["error"]
    assert result["retcode"] == 2 and minions.waves == []


def test_a_lock_dir_failure_after_the_waves_keeps_the_report(runner):
    """An error after nodes were updated (here: the lock dir's .lock replaced by a directory
    while the waves ran, so releasing is refused) used to drop every finished node's result."""
    lock = os.path.join(runner.__opts__["cachedir"], "mosmu", "locks", ".lock")

    def swap(wave):
        if wave == [N2, N3]:
            os.unlink(lock)
            os.mkdir(lock)
    minions = Minions(apply={N1: OK, N2: OK, N3: OK}, on_apply=swap)
    result = _update(runner, minions, env=1, sync=False)
    assert result["error"].startswith(f"lock file {lock} is not a regular file")
    assert {ip: result[ip]["result"] for ip in ("10.20.0.3", "10.20.0.4", "10.20.0.5")} == \
        dict.fromkeys(("10.20.0.3", "10.20.0.4", "10.20.0.5"), "OK")
    assert result["summary"] == {"OK": 3} and result["retcode"] == 2


@pytest.mark.parametrize("error, words", [
    (OSError(30, "Read-only file system", "/c/mosmu/locks/node-2.lock"),
     "Read-only file system (EROFS): /c/mosmu/locks/node-2.lock; remount"),
    (SaltClientError("publish timed out"), "the salt-master did not answer"),
    (salt.exceptions.AuthenticationError("Authentication error occurred."),
     "the salt-master refused this run's authentication"),
    (OverflowError("timestamp too large"), "internal error in mosmu.update: OverflowError"),
])
def test_an_error_in_a_later_wave_keeps_the_finished_waves(runner, error, words):
    """Wave 1's results were lost when wave 2 failed on the master (an OSError, a salt-master
    that stopped answering, time.sleep overflowing)."""
    def fail(wave):
        if wave == [N2, N3]:
            raise error
    minions = Minions(apply={N1: OK, N2: OK, N3: OK}, on_apply=fail)
    result = _update(runner, minions, env=1, sync=False)
    assert result["error"].startswith(words) and "\n" not in result["error"]
    assert result["10.20.0.3"]["result"] == "OK" and result["summary"] == {"OK": 1}
    assert result["retcode"] == 2 and "10.20.0.4" not in result


def test_an_error_is_logged_below_the_console_level(offline_runner, caplog):
    """Errors were printed twice: '[ERROR ] mosmu: ...' from the log and the 'error:' line."""
    caplog.set_level(logging.DEBUG)
    for call in (lambda: offline_runner.nodes(env=1, zzzzzz=1), lambda: offline_runner.nodes(1),
                 lambda: offline_runner.nodes(env=1)):
        result = call()
        assert result["retcode"] == 2
        assert any(r.getMessage() == f"mosmu: {result['error']}" for r in caplog.records)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def _master_config(tmp_path, password):
    """A real master config dir (master + master.d/mosmu.conf) loaded as salt-run loads it."""
    conf = tmp_path / "etc"
    (conf / "master.d").mkdir(parents=True)
    (conf / "master").write_text("secrets:\n  driver: env\n", encoding="utf-8")
    (conf / "master.d" / "mosmu.conf").write_text(yaml.safe_dump({"mosmu": {
        "fuel_url": "http://127.0.0.1:9", "master_ip": "127.0.0.1", "password": password}}),
        encoding="utf-8")
    return salt.config.master_config(str(conf / "master"))


def test_a_typo_in_an_sdb_key_names_the_uri_that_returned_nothing(runner, tmp_path,
                                                                  monkeypatch):
    """Salt resolves sdb:// URIs while it loads the master config: a key that returns nothing
    arrived as None and the runner said 'mosmu:password is not set'."""
    monkeypatch.setenv("MOSMU_TEST_PASSWORD", "pw")
    monkeypatch.delenv("MOSMU_TEST_PASWORD", raising=False)
    opts = _master_config(tmp_path, "sdb://secrets/MOSMU_TEST_PASWORD")
    assert opts["mosmu"]["password"] is None             # what Salt hands the runner
    runner.__opts__ = dict(runner.__opts__, conf_file=opts["conf_file"], mosmu=opts["mosmu"],
                           secrets=opts["secrets"])
    result = runner.nodes(env=1)
    assert result["error"].startswith("mosmu:password is sdb://secrets/MOSMU_TEST_PASWORD in the "
                                      "master config, but that sdb URI returned nothing")
    assert "sdb profile secrets" in result["error"] and "pw" not in result["error"]
    unset = _master_config(tmp_path / "2", None)
    runner.__opts__ = dict(runner.__opts__, conf_file=unset["conf_file"], mosmu=unset["mosmu"])
    assert runner.nodes(env=1)["error"].startswith("mosmu:password is not set")


def test_a_profile_typo_in_an_sdb_uri_names_the_uri(runner):
    runner.__opts__["mosmu"]["password"] = "sdb://nosuchprofile/key"
    result = runner.nodes(env=1)
    assert result["error"].startswith("mosmu:password is sdb://nosuchprofile/key in the master "
                                      "config, but that sdb URI returned nothing")


def test_a_nodes_value_that_matches_no_node_is_named(runner):
    result = runner.nodes(env=1, nodes="10.20.0.3,10.20.0.99")
    assert result["error"].startswith("nodes=10.20.0.99 matches no node in Nailgun")


def test_the_no_node_advice_is_a_preview_command_that_works(api, tmp_path):
    """The advice 'see salt-run mosmu.nodes with the same arguments' failed when the
    arguments included retry_failed (mosmu.nodes refuses update-only arguments)."""
    runner = _load(api, tmp_path, GRAINS)
    report = _update(runner, Minions(), env=1, roles="mongo", retry_failed=True, batch=2,
                     interval=5, max_failures=1)
    assert report["error"].endswith("see why each node is skipped: salt-run mosmu.nodes env=1 "
                                    "roles=mongo")
    args = dict(a.split("=", 1) for a in report["error"].split("mosmu.nodes ")[1].split())
    preview = runner.nodes(**args)
    assert preview["retcode"] == 0 and preview["selected"] == []
    assert all(s["reason"].endswith(" not in roles=mongo") for s in preview["skipped"])


def test_an_error_before_any_wave_is_the_error_line_alone(api, tmp_path):
    """Nodes without a minion are in the report before any wave; an error then (here: a held
    lock) is not a partial report of work done: the return stays the one error line."""
    runner = _load(api, tmp_path, {N1: GRAINS[N1], N2: GRAINS[N2]})
    lock_dir = os.path.join(runner.__opts__["cachedir"], "mosmu", "locks")
    with mosmu_lock.locked(lock_dir, [2], "20261125110000000000"):
        result = _update(runner, Minions(apply={N1: OK, N2: OK}), env=1, sync=False)
    assert set(result) == {"error", "retcode", "outputter"}
    assert "20261125110000000000" in result["error"]



def test_each_runner_function_documents_its_arguments_from_the_table(runner):
    """What ``salt-run -d mosmu.<function>`` prints: the rows of mosmu_request.ARGS."""
    for function in mosmu_request.FUNCTIONS:
        doc = getattr(runner, function).__doc__
        assert mosmu_request.describe(function) in doc, function
        assert doc.index(mosmu_request.describe(function)) < doc.index("CLI Example:")
