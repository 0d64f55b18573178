"""The runner's selection, minion mapping, waves and report, against the real Fuel API stand-in.

What a unit test cannot have is replaced: the master's grains cache is a real Salt cache in a
tmp dir (written with Salt's own cache API), LocalClient is an autospec of the real class whose
answers each test scripts (real daemons: tests/integration), the mirror is "published".
"""

import importlib.util
import os
from unittest import mock

import pytest
import salt.cache
import salt.client
import salt.config

import mosmu_lock
import mosmu_plan
from sandbox import fuelapi
from sandbox import inventory as inv
from sandbox.stack import free_ports

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N1, N2, N3 = (f"node-{i}.test.domain.local" for i in (1, 2, 3))
GRAINS = {N1: {"ipv4": ["10.20.0.3"]}, N2: {"ipv4": ["10.20.0.4", "127.0.0.1"]},
          N3: {"ipv4": ["10.20.0.5"]}}
OK = {"mosmu_|-mosmu-init-mosmu-updated_|-mos-8.0_|-updated":
      {"result": True, "changes": {"nova-common": {"old": "1.0", "new": "1.1"}},
       "comment": "upgraded 1 package(s)", "duration": 100}}
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


def _load(api, tmp_path, grains):
    spec = importlib.util.spec_from_file_location("mosmu_runner",
                                                  os.path.join(REPO, "_runners", "mosmu.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    opts = dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path), mosmu=dict(api))
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
    module.mosmu_mirror.current_snapshot.return_value = ".snapshots/mos-repos/ubuntu/8.0/1"
    return module


@pytest.fixture
def runner(api, tmp_path):
    return _load(api, tmp_path, GRAINS)


class Minions:
    """Scripted minions: ``apply`` maps a minion to its state.apply return (absent = silent),
    ``status`` to its mosmu.status return, ``dead`` never answer anything."""

    def __init__(self, apply=None, status=None, dead=(), on_apply=None):
        self.apply, self.status, self.dead = apply or {}, status or {}, set(dead)
        self.on_apply = on_apply
        self.client = mock.create_autospec(salt.client.LocalClient, instance=True)
        self.client.__enter__.return_value = self.client
        self.client.cmd.side_effect = self._cmd
        self.client.cmd_iter_no_block.side_effect = self._iter
        self.waves = []

    def _cmd(self, tgt, fun, *_args, **_kwargs):
        live = [m for m in tgt if m not in self.dead]
        if fun == "saltutil.sync_all":
            return {m: {"ret": {"modules": []}, "retcode": 0} for m in live}
        if fun == "mosmu.status":
            return {m: {"ret": self.status[m], "retcode": 0} for m in live if m in self.status}
        raise AssertionError(f"unexpected {fun}")

    def _iter(self, tgt, fun, *_args, **kwargs):
        assert fun == "state.apply"
        self.waves.append(list(tgt))
        if self.on_apply:
            self.on_apply(list(tgt))
        yield None
        for minion in tgt:
            if minion in self.apply and minion not in self.dead:
                yield {minion: {"ret": self.apply[minion], "retcode": 0}}
        self.pillar = kwargs["kwarg"]["pillar"]["mosmu"]


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
    assert "saltutil.sync_all" in report["10.20.0.5"]["comment"]
    assert minions.waves == [[N1], [N2]]


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


def test_a_dry_run_takes_no_lock_and_clears_none(runner):
    """test=True changes nothing on the master: no lock dir is made, none is cleared."""
    lock_dir = os.path.join(runner.__opts__["cachedir"], "mosmu", "locks")
    report = _update(runner, Minions(apply={N1: OK, N2: OK, N3: OK}), env=1, sync=False,
                     test=True)
    assert report["retcode"] == 0 and not os.path.exists(lock_dir)


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
    minions.client.cmd_iter_no_block.assert_not_called()
