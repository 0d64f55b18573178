"""The state ``mosmu.updated`` with the loader's dunders injected (no minion).

Its contract, the one every Salt state keeps: the return is ``{name, changes, result,
comment}``; ``changes`` is ``{package: {old, new}}`` and empty when nothing changed; in test
mode nothing on the node changes (``mosmu.upgrade`` is never called), ``result`` is None with a
"would …" comment when something would change and True when nothing would; a bad argument is
``result: False`` with the reason, before any look at the node. ``mosmu.plan`` and
``mosmu.root`` are the execution module's real functions; ``mosmu.preview`` and
``mosmu.upgrade`` are mocks spec'd from theirs.
"""

from unittest.mock import create_autospec

import pytest
from salt.exceptions import CommandExecutionError

import mosmu_noderun
from tests.unit import loader_support

module = loader_support.load("_modules/mosmu.py", "mosmu_module_for_state_tests")
state = loader_support.load("_states/mosmu.py", "mosmu_state_under_test")

URL = "http://10.20.0.2:8080"
PLAN = {"mos_version": "8.0", "repo_url": URL}
TODO = {"nova-common": {"old": "2:12.0.0-1", "new": "2:12.0.6-1~u14.04+mos27"}}
RESTART = {"services": ["nova-api"], "pacemaker": []}


@pytest.fixture
def node(monkeypatch):
    """Injects the dunders; ``node(test=..., preview=..., upgrade=...)`` returns the mocks."""
    def configure(test=False, preview=None, upgrade=None, pillar=None):
        mocks = {
            "mosmu.preview": create_autospec(module.preview, **(preview or {})),
            "mosmu.upgrade": create_autospec(module.upgrade, **(upgrade or {})),
        }
        opts = {"id": "node-1", "test": test, "mosmu": {"root": "/srv/node-1"}}
        grains = {"os_family": "Debian"}
        loader_support.configure(monkeypatch, module, opts=opts, grains=grains)
        loader_support.configure(
            monkeypatch, state, opts=opts, grains=grains, pillar=pillar or {},
            salt={"mosmu.plan": module.plan, "mosmu.root": module.root, **mocks})
        return mocks
    return configure


def _done(changes=None, **more):
    return {"changes": changes or {}, "kept_back": [], "recovered": [], "files": {},
            "short": {}, **more}


def _assert_a_state_return(ret):
    assert set(ret) >= {"name", "changes", "result", "comment"}
    assert ret["name"] == "mos-8.0" and isinstance(ret["comment"], str)
    assert isinstance(ret["changes"], dict)


# --- a bad argument fails the state with the reason, before any look at the node -------------

@pytest.mark.parametrize("test", [True, False])
def test_an_invalid_plan_fails_with_the_key_to_fix_and_touches_nothing(node, test):
    mocks = node(test=test)
    ret = state.updated("mos-8.0", plan={"mos_version": "8.0"})
    _assert_a_state_return(ret)
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].startswith("invalid plan: ") and "repo_url is missing" in ret["comment"]
    mocks["mosmu.preview"].assert_not_called()
    mocks["mosmu.upgrade"].assert_not_called()


def test_a_relative_root_fails_naming_it(node):
    mocks = node()
    ret = state.updated("mos-8.0", plan=PLAN, root="srv/node-1")
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == "mosmu root 'srv/node-1' must be an absolute path"
    mocks["mosmu.upgrade"].assert_not_called()


def test_the_short_form_may_come_as_keyword_arguments(node):
    mocks = node(upgrade={"return_value": _done()})
    ret = state.updated("mos-8.0", mos_version="8.0", repo_url=URL)
    assert ret["result"] is True
    (plan, root), _ = mocks["mosmu.upgrade"].call_args
    assert plan["repo_url"] == URL and plan["distro"] == "ubuntu" and root == "/srv/node-1"


# --- test mode: says what would change, changes nothing ---------------------------------------

def test_in_test_mode_pending_packages_are_the_changes_and_nothing_is_upgraded(node):
    mocks = node(test=True, preview={"return_value": {"todo": dict(TODO), "held": ["ceph"]}})
    ret = state.updated("mos-8.0", plan=PLAN)
    _assert_a_state_return(ret)
    assert ret["result"] is None
    assert ret["changes"] == TODO
    assert ret["comment"].startswith("would upgrade 1 package(s): nova-common 2:12.0.0-1 -> ")
    assert ret["mosmu_finish"] == {"held": ["ceph"]}
    mocks["mosmu.upgrade"].assert_not_called()


def test_in_test_mode_an_up_to_date_node_is_true_without_changes(node):
    mocks = node(test=True, preview={"return_value": {"todo": {}}})
    ret = state.updated("mos-8.0", plan=PLAN)
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == "MOS 8.0 (ubuntu) MU packages are up to date"
    mocks["mosmu.upgrade"].assert_not_called()


def test_in_test_mode_a_failed_look_fails_with_its_reason(node):
    mocks = node(test=True, preview={
        "side_effect": CommandExecutionError("apt-get update failed: E: 404")})
    ret = state.updated("mos-8.0", plan=PLAN)
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == "apt-get update failed: E: 404"
    mocks["mosmu.upgrade"].assert_not_called()


def test_test_mode_previews_with_this_node_s_restart_rules(node):
    rules = {"node-1": RESTART, "node-2": {"services": ["ceph-osd"]}}
    mocks = node(test=True, preview={"return_value": {"todo": {}}},
                 pillar={"mosmu_restart": rules})
    state.updated("mos-8.0", plan=PLAN)
    assert mocks["mosmu.preview"].call_args.kwargs == {"restart": RESTART}


# --- a real run: the upgraded packages are the changes; a second run has none ----------------

def test_upgraded_packages_are_the_changes(node):
    mocks = node(upgrade={"return_value": _done(TODO)},
                 pillar={"mosmu_run": "20261207204400", "mosmu_restart": {"node-1": RESTART}})
    ret = state.updated("mos-8.0", plan=PLAN)
    _assert_a_state_return(ret)
    assert ret["result"] is True and ret["changes"] == TODO
    assert ret["comment"].startswith("upgraded 1 package(s): nova-common ")
    assert mocks["mosmu.upgrade"].call_args.kwargs == {"run_id": "20261207204400",
                                                      "restart": RESTART}
    mocks["mosmu.preview"].assert_not_called()


def test_a_second_run_reports_no_changes(node):
    node(upgrade={"return_value": _done()})
    ret = state.updated("mos-8.0", plan=PLAN)
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == "MOS 8.0 (ubuntu) MU packages are up to date"


def test_without_restart_rules_nothing_is_restarted(node):
    mocks = node(upgrade={"return_value": _done()})
    state.updated("mos-8.0", plan=PLAN)
    assert mocks["mosmu.upgrade"].call_args.kwargs == {"run_id": None, "restart": None}


def test_offered_packages_left_behind_fail_the_state_as_partial(node):
    short = {"nova-api": {"installed": "1", "offered": "2"}}
    node(upgrade={"return_value": _done(TODO, short=short, short_reason="kept back by apt")})
    ret = state.updated("mos-8.0", plan=PLAN)
    assert ret["result"] is False and ret["mosmu_result"] == "PARTIAL"
    assert ret["changes"] == TODO                    # what did change is still reported
    assert ret["comment"].startswith("PARTIAL: 1 offered package(s) did not reach their MU ")
    assert ret["comment"].endswith("; status UPDATE=FAIL")


# --- a failed run: result False, what it changed before failing, the status it recorded ------

def test_a_failed_upgrade_reports_its_partial_changes_and_the_status_recorded(node):
    err = CommandExecutionError("dpkg failed: E: broken", info={"changes": TODO})
    node(upgrade={"side_effect": err})
    ret = state.updated("mos-8.0", plan=PLAN)
    _assert_a_state_return(ret)
    assert ret["result"] is False and ret["changes"] == TODO
    assert ret["comment"] == "dpkg failed: E: broken; status UPDATE=FAIL"
    assert "mosmu_result" not in ret


def test_a_failure_before_the_status_was_written_does_not_claim_it(node):
    err = CommandExecutionError("node root unreadable", info={"recorded": False})
    node(upgrade={"side_effect": err})
    ret = state.updated("mos-8.0", plan=PLAN)
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == "node root unreadable"


# --- __virtual__: the state needs the execution module --------------------------------------

def test_the_state_does_not_load_without_the_execution_module(monkeypatch):
    loader_support.configure(monkeypatch, state, salt={})
    ok, why = state.__virtual__()
    assert ok is False and "saltutil.sync_all" in why


def test_the_state_loads_as_mosmu_beside_the_execution_module(node):
    node()
    assert state.__virtual__() == "mosmu"


def test_the_finish_part_of_a_run_is_what_the_report_shows(node):
    done = _done(TODO, held=["ceph"], restarts=[{"service": "nova-api", "ok": True}])
    node(upgrade={"return_value": done})
    ret = state.updated("mos-8.0", plan=PLAN)
    assert ret["mosmu_finish"] == mosmu_noderun.finish_of(done)
    assert set(ret["mosmu_finish"]) == {"held", "restarts"}
