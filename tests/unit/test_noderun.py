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
            return self._ok("".join(f"{n}\t{v}\tii \n" for n, v in self.installed.items()))
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
