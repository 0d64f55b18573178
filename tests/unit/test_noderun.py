"""A node run's result is what it verified on the node (``mosmu_noderun``).

The node is a real directory (the status file and record are really written and read back);
the package manager is scripted: ``dpkg-query`` prints the scripted database, ``apt-get -s``
offers the scripted upgrades, and the real ``apt-get upgrade`` installs them except those a
test leaves behind. Real apt and dnf run in the integration and ssh tiers.
"""

import errno
import json
import os

import pytest

import mosmu_catalog
import mosmu_exec
import mosmu_noderun
import mosmu_plan
import mosmu_status

PLAN = mosmu_plan.Plan.build(mosmu_catalog.Catalog().get("ubuntu", "8.0"),
                             "http://10.20.0.2:8080")


class Apt:
    """A scripted apt/dpkg: ``installed`` is the database, ``offered`` what the MU repos
    have; the upgrade installs every offered package except ``left_behind``."""

    def __init__(self, installed, offered, left_behind=(), upgrade_exit=0):
        self.installed, self.offered = dict(installed), dict(offered)
        self.left_behind, self.upgrade_exit = set(left_behind), upgrade_exit
        self.upgrades = 0

    def _downgraded(self):
        """apt's own list, as ``-s`` and the upgrade print it (versions are 1.N here)."""
        names = [n for n, v in self.offered.items() if self.installed.get(n, v) > v]
        return ("The following packages will be DOWNGRADED:\n  " + " ".join(names) + "\n"
                if names else "")

    def __call__(self, argv, _env):
        if argv[0] == "dpkg-query":
            return self._ok("".join(f"{n}\t{v}\tinstall ok installed\n"
                                    for n, v in self.installed.items()))
        if argv[0] == "dpkg":
            return self._ok("")
        if "--version" in argv:
            return self._ok("apt 1.0.1ubuntu2 for amd64 compiled on Jan 1 2016\n")
        if argv[-1] == "update":
            return self._ok("Reading package lists...\n")
        if "-s" in argv:
            return self._ok(self._downgraded() + "".join(
                f"Inst {n} [{self.installed[n]}] ({v} mos8.0-updates [all])\n"
                for n, v in self.offered.items() if self.installed.get(n) != v))
        self.upgrades += 1
        listed = self._downgraded()
        for name, version in self.offered.items():
            if name not in self.left_behind:
                self.installed[name] = version
        return {"retcode": self.upgrade_exit, "stdout": listed, "stderr":
                "E: sub-process failed" if self.upgrade_exit else ""}

    @staticmethod
    def _ok(stdout):
        return {"retcode": 0, "stdout": stdout, "stderr": ""}


class ReadOnlyLog(mosmu_exec.LocalExecutor):
    """A node whose ``/var/log`` is full or read-only: every write there fails."""

    def _dispatch(self, op):
        if isinstance(op, (mosmu_exec.Write, mosmu_exec.Append)) and "/var/log/" in op.path:
            raise OSError(errno.EROFS, "Read-only file system")
        return super()._dispatch(op)


def executor(root, apt, cls=mosmu_exec.LocalExecutor):
    return cls(str(root), apt, lambda name: f"/usr/bin/{name}")


def node_status(root):
    return mosmu_status.read(str(root))


def write_previous_ok(root):
    os.makedirs(root / "var/log", exist_ok=True)
    (root / "var/log/mos_apply_mu.status").write_text("STARTED\nUPDATE=OK\n")
    (root / "var/log/mos_apply_mu.json").write_text(json.dumps(
        {"state": "OK", "mos_version": "8.0", "repos": ["updates"], "run_id": "old"}))


GA = {"nova-common": "1.0", "python-nova": "1.0", "neutron-common": "1.0"}
MU = {"nova-common": "1.1", "python-nova": "1.1", "neutron-common": "1.1"}


# -- OK means every offered package reached its offered version ------------------------------

@pytest.mark.parametrize("left_behind, result, line", [
    ((), "OK", "UPDATE=OK"),
    (("neutron-common",), "PARTIAL", "UPDATE=FAIL"),
    (("nova-common", "python-nova", "neutron-common"), "PARTIAL", "UPDATE=FAIL"),
], ids=["all-upgraded", "one-left-behind", "all-left-behind"])
def test_the_result_is_what_the_package_database_shows_after_the_upgrade(
        tmp_path, left_behind, result, line):
    apt = Apt(GA, MU, left_behind)
    done = mosmu_noderun.upgrade(PLAN, executor(tmp_path, apt), run_id="J1")
    assert sorted(done["short"]) == sorted(left_behind)
    status = node_status(tmp_path)
    assert (status["state"], status["line"]) == (result, line)
    assert status["record"]["state"] == result and status["record"]["run_id"] == "J1"
    assert sorted(status["record"]["short"]) == sorted(left_behind)


def test_a_package_left_behind_is_named_with_its_versions_and_the_reason(tmp_path):
    """Regression: an upgrade that left an MU package behind (kept back, skipped by
    --skip-broken) used to end OK with retcode 0."""
    done = mosmu_noderun.upgrade(PLAN, executor(tmp_path, Apt(GA, MU, ["neutron-common"])))
    assert done["short"] == {"neutron-common": {"old": "1.0", "offered": "1.1",
                                                "installed": "1.0"}}
    comment = mosmu_noderun.done_comment(PLAN, done)
    assert comment.startswith("PARTIAL: 1 offered package(s) did not reach their MU version: "
                              "neutron-common 1.0 (offered 1.1) (apt kept them back")
    assert "upgraded 2 package(s)" in comment and "status UPDATE=FAIL" in comment


def test_a_failed_upgrade_is_fail_not_partial(tmp_path):
    with pytest.raises(mosmu_noderun.NodeRunError) as err:
        mosmu_noderun.upgrade(PLAN, executor(tmp_path, Apt(GA, MU, upgrade_exit=100)))
    assert err.value.info["recorded"] is True
    assert node_status(tmp_path)["state"] == "FAIL"


def test_a_second_run_with_nothing_offered_writes_nothing(tmp_path):
    apt = Apt(GA, MU)
    mosmu_noderun.upgrade(PLAN, executor(tmp_path, apt), run_id="J1")
    before = (tmp_path / "var/log/mos_apply_mu.json").read_text()
    done = mosmu_noderun.upgrade(PLAN, executor(tmp_path, apt), run_id="J2")
    assert done["changes"] == {} and done["short"] == {} and apt.upgrades == 1
    assert (tmp_path / "var/log/mos_apply_mu.json").read_text() == before


# -- a status that cannot be written is a failure with that cause ----------------------------

def test_an_unwritable_status_is_a_failure_that_claims_no_status_line(tmp_path):
    """Regression: a node whose /var/log could not be written, holding an earlier UPDATE=OK,
    was reported with a comment saying UPDATE=FAIL had been written."""
    write_previous_ok(tmp_path)
    with pytest.raises(mosmu_noderun.NodeRunError) as err:
        mosmu_noderun.upgrade(PLAN, executor(tmp_path, Apt(GA, MU), ReadOnlyLog), run_id="J1")
    assert err.value.info["recorded"] is False
    assert str(err.value).startswith("could not record UPDATE=FAIL in "
                                     "/var/log/mos_apply_mu.status")
    assert "Read-only file system" in str(err.value) and "remount /var/log" in str(err.value)
    assert node_status(tmp_path)["line"] == "UPDATE=OK"     # the stale line is all there is


def test_a_status_unwritable_after_the_upgrade_says_the_upgrade_finished(tmp_path):
    class LogFailsLate(mosmu_exec.LocalExecutor):
        def _dispatch(self, op):
            if isinstance(op, mosmu_exec.Write) and op.path.endswith("mos_apply_mu.json"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return super()._dispatch(op)

    with pytest.raises(mosmu_noderun.NodeRunError) as err:
        mosmu_noderun.upgrade(PLAN, executor(tmp_path, Apt(GA, MU), LogFailsLate))
    assert "could not record UPDATE=OK" in str(err.value)
    assert "the upgrade itself finished" in str(err.value)
    assert err.value.info["recorded"] is False
    # the record goes first: its failure leaves STARTED last, never a result line
    assert node_status(tmp_path)["state"] == "STARTED"


# -- what a status read gives, whatever the files hold ---------------------------------------

@pytest.mark.parametrize("record_text, error", [
    ("[1, 2]", "holds a JSON list"),
    ('"text"', "holds a JSON str"),
    ("42", "holds a JSON int"),
    ("null", "holds a JSON NoneType"),
    ("{", "is not valid JSON"),
])
def test_a_record_of_any_shape_reads_as_a_dict(tmp_path, record_text, error):
    os.makedirs(tmp_path / "var/log")
    (tmp_path / "var/log/mos_apply_mu.status").write_text("STARTED\nUPDATE=FAIL\n")
    (tmp_path / "var/log/mos_apply_mu.json").write_text(record_text)
    status = node_status(tmp_path)
    assert status["state"] == "FAIL" and error in status["record"]["error"]


def test_partial_needs_the_record_beside_a_fail_line(tmp_path):
    os.makedirs(tmp_path / "var/log")
    (tmp_path / "var/log/mos_apply_mu.json").write_text('{"state": "PARTIAL"}')
    for line, state in (("UPDATE=FAIL", "PARTIAL"), ("UPDATE=OK", "OK"), ("STARTED", "STARTED")):
        (tmp_path / "var/log/mos_apply_mu.status").write_text(f"STARTED\n{line}\n")
        assert node_status(tmp_path)["state"] == state


# -- downgrades are shown as downgrades --------------------------------------------------------

def test_a_package_moved_down_by_the_pins_is_a_downgrade_in_dry_run_and_run(tmp_path):
    """Regression: nova-common 1.2 -> 1.1 (proposed dropped, the MU pin moves it down) was
    reported only as "OK, 1 package(s)"."""
    apt = Apt(dict(GA, **{"nova-common": "1.2"}), MU)
    todo = mosmu_noderun.pending(PLAN, executor(tmp_path, apt))
    assert todo["nova-common"] == {"old": "1.2", "new": "1.1", "downgrade": True}
    assert "downgrade" not in todo["python-nova"]
    assert "nova-common 1.2 -> 1.1 (downgrade)" in mosmu_noderun.pending_comment(PLAN, todo)
    done = mosmu_noderun.upgrade(PLAN, executor(tmp_path, apt))
    assert done["changes"]["nova-common"] == {"old": "1.2", "new": "1.1", "downgrade": True}
    assert sorted(n for n, c in done["changes"].items() if c.get("downgrade")) == ["nova-common"]
    assert node_status(tmp_path)["record"]["changes"]["nova-common"]["downgrade"] is True


# -- restarts: a restart is OK only when the service runs again under a new pid --------------

class Services:
    """Scripted init scripts: ``status`` prints upstart's line for the current pid;
    ``restart`` behaves as ``how`` says (``ok``, ``fail``, ``dead``, ``same``)."""

    def __init__(self, how):
        self.how, self.pid, self.calls = how, 100, []

    def __call__(self, argv, env):
        name, verb = os.path.basename(argv[0]), argv[1]
        self.calls.append((name, verb))
        if verb == "status":
            return ({"retcode": 0, "stdout": f"{name} start/running, process {self.pid}\n",
                     "stderr": ""} if self.pid else
                    {"retcode": 3, "stdout": f"{name} stop/waiting\n", "stderr": ""})
        if self.how == "fail":
            self.pid = None
            return {"retcode": 1, "stdout": "", "stderr": "start: Job failed to start\n"}
        self.pid = {"ok": self.pid + 1, "dead": None, "same": self.pid}[self.how]
        return {"retcode": 0, "stdout": "", "stderr": ""}


@pytest.mark.parametrize("how, ok, detail", [
    ("ok", True, ""),
    ("fail", False, "nova-compute restart failed (exit 1): start: Job failed to start"),
    ("dead", False, "nova-compute is not running after its restart"),
    ("same", False, "nova-compute still runs as pid 100: the restart did not take"),
])
def test_a_restart_is_ok_only_when_the_service_runs_under_a_new_pid(tmp_path, how, ok, detail):
    services = Services(how)
    got = mosmu_noderun._restart(executor(tmp_path, services),  # pylint: disable=protected-access
                                 {"nova-compute": "nova-common"})
    assert got == [{"service": "nova-compute", "package": "nova-common", "old_pid": 100,
                    "new_pid": services.pid, "ok": ok, "detail": detail}]
    assert services.calls == [("nova-compute", "status"), ("nova-compute", "restart"),
                              ("nova-compute", "status")]


def test_only_installed_services_touched_by_a_changed_package_restart(tmp_path):
    """nova-compute: its init script is nova-common's; nova-api: a shared package of nova
    changed (nova-common and python-nova both are; the first by name is named); heat-api:
    nothing of heat changed; neutron-server: not installed."""
    for name in ("nova-compute", "nova-api", "heat-api"):
        path = tmp_path / "etc/init.d" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)

    def run(argv, _env):
        files = {"nova-common": "/etc\n/etc/init.d\n/etc/init.d/nova-compute\n",
                 "python-nova": "/usr/lib/python2.7/dist-packages/nova\n"}
        return {"retcode": 0, "stdout": files.get(argv[-1], ""), "stderr": ""}

    node = mosmu_exec.LocalExecutor(str(tmp_path), run, __import__("shutil").which)
    backend = mosmu_noderun._backend(  # pylint: disable=protected-access
        PLAN, executor(tmp_path, run), {t: f"/usr/bin/{t}" for t in
                                        ("apt-get", "dpkg", "dpkg-query")})
    services, resources = mosmu_noderun.touched(
        node, backend, {"python-nova": {}, "nova-common": {}},
        {"services": ["nova-compute", "nova-api", "heat-api", "neutron-server"],
         "pacemaker": ["p_nova-x", "p_heat-engine"]})
    assert services == {"nova-compute": "nova-common", "nova-api": "nova-common"}
    assert resources == {"p_nova-x": "nova-common"}
    only_library = mosmu_noderun.touched(node, backend, {"python-nova": {}},
                                         {"services": ["nova-compute", "heat-api"]})
    assert only_library == ({"nova-compute": "python-nova"}, {})


def test_checks_run_the_nodes_tools_and_source_openrc_without_reading_it(tmp_path):
    tool = tmp_path / "usr/bin/nova"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (tmp_path / "root").mkdir()
    (tmp_path / "root/openrc").write_text("export OS_PASSWORD='secret'\n")
    seen = []

    def run(argv, env):
        seen.append(argv)
        return {"retcode": 0, "stdout": "ok\n", "stderr": ""}

    node = mosmu_exec.LocalExecutor(str(tmp_path), run, __import__("shutil").which)
    got = mosmu_noderun.run_checks(node, [
        {"name": "nova", "argv": ["/usr/bin/nova", "service-list"], "openrc": True},
        {"name": "ceph", "argv": ["/usr/bin/ceph", "health"], "openrc": False}])
    assert got == {"nova": {"retcode": 0, "stdout": "ok\n", "stderr": ""},
                   "ceph": {"missing": "/usr/bin/ceph"}}
    assert seen == [["/bin/sh", "-c", '. "$0" >/dev/null 2>&1 && exec "$@"',
                     f"{tmp_path}/root/openrc", f"{tmp_path}/usr/bin/nova", "service-list"]]
    assert "secret" not in repr(seen)


def _tool_node(tmp_path, rel, retcode=0):
    """A node root with one executable tool; its runs recorded, each answering ``retcode``."""
    tool = tmp_path / rel
    tool.parent.mkdir(parents=True, exist_ok=True)
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    seen = []

    def run(argv, env):
        seen.append(argv)
        return {"retcode": retcode, "stdout": "", "stderr": "" if retcode == 0 else
                "Error EACCES: access denied"}
    return mosmu_exec.LocalExecutor(str(tmp_path), run, __import__("shutil").which), seen


def test_ceph_osd_flags_are_set_one_by_one_with_the_nodes_ceph(tmp_path):
    node, seen = _tool_node(tmp_path, "usr/bin/ceph")
    got = mosmu_noderun.ceph_osd_flags(node, "set", ["noout", "noscrub"])
    assert got == [{"flag": "noout", "ok": True, "detail": ""},
                   {"flag": "noscrub", "ok": True, "detail": ""}]
    assert seen == [[f"{tmp_path}/usr/bin/ceph", "osd", "set", "noout"],
                    [f"{tmp_path}/usr/bin/ceph", "osd", "set", "noscrub"]]


def test_a_ceph_flag_that_fails_names_the_command_and_the_error(tmp_path):
    node, _seen = _tool_node(tmp_path, "usr/bin/ceph", retcode=13)
    got = mosmu_noderun.ceph_osd_flags(node, "unset", ["noout"])
    assert got == [{"flag": "noout", "ok": False, "detail": "ceph osd unset noout failed "
                    "(exit 13): Error EACCES: access denied"}]


def test_no_ceph_on_the_node_fails_every_flag_and_an_unknown_action_is_refused(tmp_path):
    node, seen = _tool_node(tmp_path, "usr/bin/other")
    assert [d["detail"] for d in mosmu_noderun.ceph_osd_flags(node, "set", ["noout"])] == \
        ["/usr/bin/ceph not found on the node"]
    with pytest.raises(ValueError, match="rm"):
        mosmu_noderun.ceph_osd_flags(node, "rm", ["noout"])
    assert seen == []
