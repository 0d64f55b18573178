"""The execution module ``mosmu`` with the loader's dunders injected (no minion).

What it promises the state, the runner and an operator at ``salt '*' mosmu.…``: arguments
are checked before the first command on the node, and a bad one is a ``SaltInvocationError``
whose one line names the fix; the plan is validated and completed from the node's grains; a
failed node run is a ``CommandExecutionError`` that keeps what the run did (``info``).
The node run itself (``mosmu_noderun``) has its own tests; here it is a spec'd mock.
"""

from unittest.mock import create_autospec

import pytest
import salt.modules.cmdmod
import salt.utils.path
from salt.exceptions import CommandExecutionError, SaltInvocationError

import mosmu_noderun
import mosmu_plan
from tests.unit import loader_support

mosmu = loader_support.load("_modules/mosmu.py", "mosmu_module_under_test")

URL = "http://10.20.0.2:8080"


@pytest.fixture
def run_all():
    """``cmd.run_all``, spec'd from Salt's own: any call fails a test that expects none."""
    return create_autospec(salt.modules.cmdmod.run_all, return_value={
        "retcode": 0, "stdout": "", "stderr": "", "pid": 1})


@pytest.fixture
def loader(monkeypatch, run_all):
    """The module as a Debian minion without ``mosmu:root`` sees it."""
    def configure(grains=None, opts=None):
        return loader_support.configure(
            monkeypatch, mosmu,
            salt={"mosmu.root": mosmu.root, "cmd.run_all": run_all},
            opts={"id": "node-1", "test": False, **(opts or {})},
            grains={"os_family": "Debian", **(grains or {})}, pillar={})
    configure()
    return configure


# --- the node root: the argument, else minion config mosmu:root, else / ---------------------

def test_the_root_argument_wins_over_the_minion_config(loader):
    loader(opts={"mosmu": {"root": "/srv/node-1"}})
    assert mosmu.root("/srv/other") == "/srv/other"
    assert mosmu.root() == "/srv/node-1"


def test_without_config_the_root_is_slash(loader):
    assert mosmu.root() == "/"


@pytest.mark.parametrize("value", ["srv/node-1", "/srv/node-1\n", 7, ["/"]])
def test_a_root_that_is_not_an_absolute_path_is_refused_by_name(loader, value):
    with pytest.raises(SaltInvocationError, match=r"^mosmu root .* must be an absolute path$"):
        mosmu.root(value)


def test_a_bad_configured_root_is_refused_too(loader):
    loader(opts={"mosmu": {"root": "relative"}})
    with pytest.raises(SaltInvocationError, match="'relative' must be an absolute path"):
        mosmu.root()


# --- the plan: validated, the short form completed from the node's os_family ---------------

@pytest.mark.parametrize("family, distro, backend", [
    ("Debian", "ubuntu", "apt"), ("RedHat", "centos", "yum"),
])
def test_the_short_form_takes_its_distro_from_the_os_family_grain(loader, family, distro,
                                                                   backend):
    loader(grains={"os_family": family})
    got = mosmu.plan(mos_version="8.0", repo_url=URL)
    assert (got["distro"], got["backend"], got["mos_version"]) == (distro, backend, "8.0")


def test_salt_s_own_keyword_arguments_are_not_part_of_the_plan(loader):
    got = mosmu.plan(mos_version="8.0", repo_url=URL, __pub_fun="mosmu.plan", __pub_jid="1")
    assert got == mosmu.plan(mos_version="8.0", repo_url=URL)


def test_a_full_plan_is_returned_in_pillar_form(loader):
    full = mosmu.plan(mos_version="8.0", repo_url=URL, distro="centos")
    assert mosmu.plan(full) == full
    assert mosmu_plan.Plan.from_pillar(full).distro == "centos"


@pytest.mark.parametrize("kwargs, reason", [
    ({"mos_version": "8.0"}, "repo_url is missing"),
    ({"mos_version": "8.0", "repo_url": "http://x/\n"}, "repo_url"),
    ({"mos_version": "8.0\n", "repo_url": URL}, "8.0"),
])
def test_an_invalid_plan_is_refused_with_the_key_to_fix(loader, kwargs, reason):
    with pytest.raises(SaltInvocationError, match=r"^invalid plan: ") as err:
        mosmu.plan(**kwargs)
    assert reason in str(err.value) and "\n" not in str(err.value).rstrip("\n")


@pytest.mark.parametrize("function", ["files", "pending", "preview", "upgrade"])
def test_every_plan_function_refuses_an_invalid_plan_before_any_command(loader, run_all,
                                                                         function):
    with pytest.raises(SaltInvocationError, match=r"^invalid plan: .*repo_url is missing"):
        getattr(mosmu, function)(mos_version="8.0")
    run_all.assert_not_called()


def test_a_bad_root_is_refused_before_any_command(loader, run_all):
    with pytest.raises(SaltInvocationError, match="must be an absolute path"):
        mosmu.upgrade(mos_version="8.0", repo_url=URL, root="relative")
    run_all.assert_not_called()


# --- installed: the backend named, or the one of the node's os_family ------------------------

def test_an_unknown_backend_is_refused_naming_the_known_ones(loader, run_all):
    with pytest.raises(SaltInvocationError, match=r"^backend 'zypper' is not one of apt, yum$"):
        mosmu.installed(backend="zypper")
    run_all.assert_not_called()


# --- checks and restarts: only well-formed commands reach the node ---------------------------

@pytest.mark.parametrize("checks", [
    "ceph health", [{"name": "ceph"}], [{"name": "ceph", "argv": []}],
    [{"name": "ceph", "argv": ["ceph", "health"]}],          # not an absolute path
    [{"name": "ceph", "argv": ["/usr/bin/ceph", 1]}], [{"argv": ["/usr/bin/ceph"]}],
    [["/usr/bin/ceph"]],
])
def test_checks_must_be_named_argv_lists_with_an_absolute_tool(loader, run_all, checks):
    with pytest.raises(SaltInvocationError,
                       match=r"^checks must be a list of \{name, argv\} with argv\[0\] an "
                             r"absolute path$"):
        mosmu.checks(checks)
    run_all.assert_not_called()


@pytest.mark.parametrize("resources", ["p_heat-engine", ["--all"], [""], [None], [["x"]]])
def test_resources_must_be_ids_never_options(loader, run_all, resources):
    with pytest.raises(SaltInvocationError,
                       match=r"^resources must be a list of Pacemaker resource ids$"):
        mosmu.restart_resources(resources)
    run_all.assert_not_called()


# --- the node run: the validated plan and root go in, a failure keeps what it did ------------

def test_upgrade_runs_the_validated_plan_in_the_configured_root(loader, monkeypatch):
    loader(grains={"os_family": "RedHat"}, opts={"mosmu": {"root": "/srv/c1"}})
    done = {"changes": {"nova-common": {"old": "1", "new": "2"}}}
    upgrade = create_autospec(mosmu_noderun.upgrade, return_value=done)
    monkeypatch.setattr(mosmu_noderun, "upgrade", upgrade)
    restart = {"services": ["nova-api"]}
    assert mosmu.upgrade(mos_version="8.0", repo_url=URL, run_id="2026", restart=restart) is done
    (plan, executor), kwargs = upgrade.call_args
    assert (plan.distro, plan.repo_url) == ("centos", URL)
    assert executor.root == "/srv/c1"
    assert kwargs == {"run_id": "2026", "restart": restart}


def test_a_failed_node_run_is_a_command_error_that_keeps_its_info(loader, monkeypatch):
    info = {"changes": {"a": {"old": "1", "new": "2"}}, "step": "upgrade"}
    monkeypatch.setattr(mosmu_noderun, "upgrade", create_autospec(
        mosmu_noderun.upgrade, side_effect=mosmu_noderun.NodeRunError("apt-get failed", info)))
    with pytest.raises(CommandExecutionError) as err:
        mosmu.upgrade(mos_version="8.0", repo_url=URL)
    assert err.value.error == "apt-get failed"       # what the state puts in its comment
    assert err.value.info == info


@pytest.mark.parametrize("function", ["pending", "preview"])
def test_a_failed_look_is_a_command_error(loader, monkeypatch, function):
    monkeypatch.setattr(mosmu_noderun, function, create_autospec(
        getattr(mosmu_noderun, function),
        side_effect=mosmu_noderun.NodeRunError("apt-get update failed")))
    with pytest.raises(CommandExecutionError, match=r"^apt-get update failed$"):
        getattr(mosmu, function)(mos_version="8.0", repo_url=URL)


# --- __virtual__: loads only where a package manager it drives exists ------------------------

def test_the_module_does_not_load_without_apt_or_yum(monkeypatch):
    monkeypatch.setattr(salt.utils.path, "which", lambda name: None)
    ok, why = mosmu.__virtual__()
    assert ok is False and "apt-get" in why and "dnf/yum" in why


def test_the_module_loads_as_mosmu_where_apt_get_exists(monkeypatch):
    monkeypatch.setattr(salt.utils.path, "which",
                        lambda name: f"/usr/bin/{name}" if name.startswith(("apt", "dpkg"))
                        else None)
    assert mosmu.__virtual__() == "mosmu"
