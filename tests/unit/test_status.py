"""The node's status file and run record: the old tool's format, one lifecycle, atomic writes.

The status file reads as ``mos_apply_mu.py``'s (``STARTED`` then ``UPDATE=OK|FAIL``) whatever
ended the run; a run with nothing to do writes nothing; the JSON record beside it names the
failed step and the error; every file is replaced in one rename from a hidden temp file in the
same directory, mode 0644, and a failed write leaves the old file and no temp file behind.
"""

import datetime
import json
import locale
import os
import stat
import tempfile

import pytest

import mosmu_exec
import mosmu_status

STATUS = "var/log/mos_apply_mu.status"
RECORD = "var/log/mos_apply_mu.json"


def _status(root):
    return (root / STATUS).read_text()


def _record(root):
    return json.loads((root / RECORD).read_text())


def _is_utc_timestamp(value):
    parsed = datetime.datetime.fromisoformat(value)
    return parsed.utcoffset() == datetime.timedelta(0) and parsed.microsecond == 0


# --- reading: the last non-blank line is the state; the record is beside it -----------------

@pytest.mark.parametrize("line, state", [
    (None, "NONE"), ("STARTED", "STARTED"), ("UPDATE=OK", "OK"), ("UPDATE=FAIL\n", "FAIL"),
    ("REPO_UPD=OK", "UNKNOWN"),
])
def test_the_last_line_names_the_state(line, state):
    assert mosmu_status.state_of(line) == state


def test_what_is_written_reads_back_as_the_old_tool_wrote_it(tmp_path):
    assert mosmu_status.read(str(tmp_path)) == {"state": "NONE", "line": None, "record": None}
    mosmu_status.write_started(str(tmp_path))
    assert mosmu_status.read(str(tmp_path))["state"] == "STARTED"
    mosmu_status.write_result(str(tmp_path), "OK", {"changes": {"a": {"old": "1", "new": "2"}}})
    status = (tmp_path / "var/log/mos_apply_mu.status").read_text()
    assert status == "STARTED\nUPDATE=OK\n"          # byte for byte what mos_apply_mu.py wrote
    got = mosmu_status.read(str(tmp_path))
    assert got["state"] == "OK" and got["line"] == "UPDATE=OK"
    assert got["record"]["changes"] == {"a": {"old": "1", "new": "2"}}
    assert json.loads((tmp_path / "var/log/mos_apply_mu.json").read_text())["state"] == "OK"


def test_a_node_last_updated_by_the_old_tool_is_read(tmp_path):
    """A node last updated by mos_apply_mu.py has only the status file, no record."""
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / "var/log/mos_apply_mu.status").write_text("STARTED\nUPDATE=FAIL\n")
    assert mosmu_status.read(str(tmp_path)) == {"state": "FAIL", "line": "UPDATE=FAIL",
                                                "record": None}



@pytest.mark.parametrize("content, state, line", [
    (b"STARTED\nUPDATE=OK\n", "OK", "UPDATE=OK"),
    (b"STARTED\r\nUPDATE=FAIL\r\n", "FAIL", "UPDATE=FAIL"),     # written on another system
    (b"STARTED\nUPDATE=OK  \n\n  \n", "OK", "UPDATE=OK  "),       # blank lines are skipped
    (b"STARTED", "STARTED", "STARTED"),
    (b"STATUS=MAX\n", "UNKNOWN", "STATUS=MAX"),
    (b"STARTED\n\xff\xfe garbage \x80\n", "UNKNOWN", "\ufffd\ufffd garbage \ufffd"),
    (b"", "NONE", None),
    (b"\n\n", "NONE", None),
])
def test_the_last_non_blank_line_counts_whatever_its_encoding(tmp_path, content, state, line):
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / STATUS).write_bytes(content)
    assert mosmu_status.read(str(tmp_path)) == {"state": state, "line": line, "record": None}


def test_a_broken_record_is_an_error_entry_not_a_crash(tmp_path):
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / RECORD).write_text('{"state": "OK",')
    got = mosmu_status.read(str(tmp_path))
    assert got["state"] == "NONE" and got["line"] is None
    assert list(got["record"]) == ["error"] and RECORD in got["record"]["error"]


def test_a_record_without_a_status_file_is_state_none(tmp_path):
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / RECORD).write_text('{"state": "OK", "note": "caf\u00e9"}', encoding="utf-8")
    assert mosmu_status.read(str(tmp_path)) == {
        "state": "NONE", "line": None, "record": {"state": "OK", "note": "caf\u00e9"}}


@pytest.fixture
def c_locale():
    """A minion started in the C locale: Python's default text encoding is ASCII then."""
    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, old)


@pytest.mark.usefixtures("c_locale")
def test_files_are_utf8_whatever_the_locale(tmp_path):
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / STATUS).write_bytes("STARTED\nNOTE=caf\u00e9\n".encode())
    (tmp_path / RECORD).write_bytes('{"error": "d\u00e9p\u00f4t"}'.encode())
    assert mosmu_status.read(str(tmp_path)) == {
        "state": "UNKNOWN", "line": "NOTE=caf\u00e9", "record": {"error": "d\u00e9p\u00f4t"}}
    path = tmp_path / "etc/mosmu/sources.list.d/mos-updates.list"
    mosmu_status.atomic_write(str(path), "# d\u00e9p\u00f4t MOS\ndeb x\n")
    assert path.read_bytes() == "# d\u00e9p\u00f4t MOS\ndeb x\n".encode()


def node_run(tmp_path, record):
    """A NodeRun on a local node root, as the execution module builds it."""
    root = str(tmp_path)
    return mosmu_status.NodeRun(mosmu_exec.LocalExecutor(root, None, None), record,
                                mosmu_status.read(root))


# --- writing: one rename from a hidden temp file, 0644, nothing left by a failure ------------

def test_atomic_write_creates_the_dir_and_a_0644_file(tmp_path):
    old = os.umask(0o077)
    try:
        path = tmp_path / "etc/mosmu/sources.list.d/mos-updates.list"
        mosmu_status.atomic_write(str(path), "deb x\n")
        assert path.read_text() == "deb x\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644     # apt runs as root, reads as _apt
        mosmu_status.atomic_write(str(path), "deb y\n")
        assert path.read_text() == "deb y\n"
        assert os.listdir(path.parent) == ["mos-updates.list"]
    finally:
        os.umask(old)


def test_atomic_write_renames_a_hidden_temp_file_from_the_same_dir(tmp_path, monkeypatch):
    """apt skips dot files in its ``*.d`` dirs: a half-written file is never read."""
    renames = []
    real = os.replace

    def spy(src, dst):
        renames.append((src, dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmpdir"))
    path = str(tmp_path / "etc/mosmu/preferences.d/mosmu.pref")
    mosmu_status.atomic_write(path, "Package: *\n")
    [(src, dst)] = renames
    assert dst == path and os.path.dirname(src) == os.path.dirname(path)
    assert os.path.basename(src).startswith(".")


@pytest.mark.parametrize("fail", ["replace", "chmod"])
def test_failed_atomic_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, fail):
    path = tmp_path / "etc/mosmu/mosmu-mu.asc"
    path.parent.mkdir(parents=True)
    path.write_text("old key\n")

    def boom(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, fail, boom)
    with pytest.raises(OSError, match="No space left"):
        mosmu_status.atomic_write(str(path), "new key\n")
    monkeypatch.undo()
    assert path.read_text() == "old key\n"
    assert os.listdir(path.parent) == ["mosmu-mu.asc"]


def test_atomic_write_of_a_non_string_fails_cleanly(tmp_path):
    path = tmp_path / "var/log/mos_apply_mu.json"
    with pytest.raises(TypeError):
        mosmu_status.atomic_write(str(path), {"state": "OK"})
    assert os.listdir(path.parent) == []


# --- a run's lines: STARTED replaces the last run, the result is appended and recorded ------

def test_write_started_replaces_the_previous_run(tmp_path):
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / STATUS).write_text("STARTED\nUPDATE=FAIL\n")
    mosmu_status.write_started(str(tmp_path))
    assert _status(tmp_path) == "STARTED\n"


@pytest.mark.parametrize("state", ["OK", "FAIL"])
def test_the_result_is_appended_and_recorded_with_sorted_keys(tmp_path, state):
    mosmu_status.write_started(str(tmp_path))
    mosmu_status.write_result(str(tmp_path), state, {"z": 1, "a": {"y": 2, "b": 3}})
    assert _status(tmp_path) == f"STARTED\nUPDATE={state}\n"
    # pretty-printed with sorted keys (people read it on the node), one trailing newline
    assert (tmp_path / RECORD).read_text() == (
        '{\n  "a": {\n    "b": 3,\n    "y": 2\n  },\n'
        f'  "state": "{state}",\n  "z": 1\n}}\n')


def test_an_unknown_result_writes_nothing(tmp_path):
    mosmu_status.write_started(str(tmp_path))
    with pytest.raises(KeyError):
        mosmu_status.write_result(str(tmp_path), "MAYBE", {})
    assert _status(tmp_path) == "STARTED\n"


def test_timestamps_are_utc_to_the_second():
    assert _is_utc_timestamp(mosmu_status.now())


# --- the lifecycle (NodeRun): STARTED before the first change, OK or FAIL on every exit -----

def test_a_run_with_nothing_to_do_writes_nothing(tmp_path):
    with node_run(tmp_path, {"mos_version": "8.0"}) as run:
        run.step("refresh")
        run.step("simulate")
    assert not (tmp_path / "var").exists()
    assert run.record["steps"] == ["refresh", "simulate"] and run.started is False


def test_a_successful_run_writes_started_once_then_update_ok(tmp_path):
    given = {"mos_version": "8.0"}
    with node_run(tmp_path, given) as run:
        assert run.root == str(tmp_path) and run.current is None and run.started is False
        run.step("refresh")
        run.start()
        assert _status(tmp_path) == "STARTED\n" and run.started is True
        run.step("upgrade")
        run.start()                                    # once: STARTED is not written again
        (tmp_path / STATUS).write_text("STARTED\nmarker\n")
        run.start()
        assert _status(tmp_path) == "STARTED\nmarker\n"
        assert run.current == "upgrade"
    assert given == {"mos_version": "8.0"}            # the caller's dict is not changed
    assert _status(tmp_path) == "STARTED\nmarker\nUPDATE=OK\n"
    record = _record(tmp_path)
    assert set(record) == {"mos_version", "started", "finished", "steps", "state"}
    assert record["mos_version"] == "8.0" and record["state"] == "OK"
    assert record["steps"] == ["refresh", "upgrade"]
    assert _is_utc_timestamp(record["started"]) and _is_utc_timestamp(record["finished"])
    assert record["started"] <= record["finished"]


def test_a_failed_step_ends_as_update_fail_and_the_error_propagates(tmp_path):
    run = node_run(tmp_path, {"mos_version": "8.0"})
    with pytest.raises(RuntimeError, match="apt-get failed"), run:
        run.step("refresh")
        run.start()
        run.step("upgrade")
        raise RuntimeError("apt-get failed (exit 100)")
    assert _status(tmp_path) == "STARTED\nUPDATE=FAIL\n"
    record = _record(tmp_path)
    assert record["state"] == "FAIL" and record["failed_step"] == "upgrade"
    assert record["error"] == "apt-get failed (exit 100)"
    assert record["steps"] == ["refresh", "upgrade"] and record["mos_version"] == "8.0"
    assert _is_utc_timestamp(record["finished"])


def test_a_failure_before_start_still_reads_as_the_old_tool(tmp_path):
    with pytest.raises(ValueError, match="bad plan"), node_run(tmp_path, {}):
        raise ValueError("bad plan")
    assert _status(tmp_path) == "STARTED\nUPDATE=FAIL\n"
    record = _record(tmp_path)
    assert record["failed_step"] is None and record["error"] == "bad plan"


def test_an_error_without_a_message_is_named_by_its_type(tmp_path):
    run = node_run(tmp_path, {})
    with pytest.raises(TimeoutError), run:
        run.step("audit")
        raise TimeoutError()
    record = _record(tmp_path)
    assert record["error"] == "TimeoutError" and record["failed_step"] == "audit"


def test_the_previous_run_is_read_before_anything_is_written(tmp_path):
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / STATUS).write_text("STARTED\nUPDATE=FAIL\n")
    with node_run(tmp_path, {}) as run:
        run.start()
    assert run.previous == {"state": "FAIL", "line": "UPDATE=FAIL", "record": None}
    assert mosmu_status.read(str(tmp_path))["state"] == "OK"
