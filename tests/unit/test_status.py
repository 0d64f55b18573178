"""The status file keeps the old tool's format; the JSON record sits beside it."""

import json

import pytest

import mosmu_status


@pytest.mark.parametrize("line, state", [
    (None, "NONE"), ("STARTED", "STARTED"), ("UPDATE=OK", "OK"), ("UPDATE=FAIL\n", "FAIL"),
    ("REPO_UPD=OK", "UNKNOWN"),
])
def test_state_of(line, state):
    assert mosmu_status.state_of(line) == state


def test_write_and_read_round_trip(tmp_path):
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


def test_old_tool_status_file_is_read(tmp_path):
    """A node last updated by mos_apply_mu.py has only the status file, no record."""
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / "var/log/mos_apply_mu.status").write_text("STARTED\nUPDATE=FAIL\n")
    assert mosmu_status.read(str(tmp_path)) == {"state": "FAIL", "line": "UPDATE=FAIL",
                                                "record": None}
