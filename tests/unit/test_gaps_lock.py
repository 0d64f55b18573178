"""Gaps mutation testing found in the per-node locks (mosmu issue 10).

In-process only (no child processes): this process is the live holder, a pid above the
kernel's ``pid_max`` is a dead one. Covered: the ``/proc/<pid>/stat`` parser (zombies, odd
command names, short lines), when a lock is stale, all-or-nothing acquisition with every
holder's nodes refused, clearing a stale run's files, atomic writes that never leave a file
behind, and release of exactly one run's locks.
"""

import io
import json
import os
import socket
import tempfile

import pytest

import mosmu_lock

DEAD = 2 ** 22 + 12345            # above the largest pid_max Linux allows: never running
HOST = socket.gethostname()
_LIVE = object()          # this process; its pid is read at test time (mutmut forks)


@pytest.fixture(name="lock_dir")
def fixture_lock_dir(tmp_path):
    return str(tmp_path / "mosmu" / "locks")


def _files(lock_dir):
    return sorted(os.listdir(lock_dir))


def _put(lock_dir, node_id, **record):
    """A lock file as another run left it."""
    os.makedirs(lock_dir, exist_ok=True)
    with open(os.path.join(lock_dir, f"node-{node_id}.lock"), "w", encoding="utf-8") as handle:
        handle.write(record.pop("raw") if "raw" in record else json.dumps(record))


def _me():
    return os.getpid()


def _record(jid, nodes, pid=_LIVE, host=HOST, started="T0", pid_start=None):
    return {"jid": jid, "pid": _me() if pid is _LIVE else pid, "pid_start": pid_start,
            "host": host, "started": started, "nodes": nodes}


def _stat(state="S", comm="mosmu", fields=None):
    """A /proc/<pid>/stat line: field n (1-based, after pid and comm) holds n * 1000."""
    rest = [str(n * 1000) for n in range(4, 53)] if fields is None else fields
    return f"4242 ({comm}) {state} " + " ".join(rest) + "\n"


# -- process_start --------------------------------------------------------------------------

@pytest.mark.parametrize("text, start", [
    (_stat(), 22000), (_stat("R"), 22000), (_stat("D"), 22000),
    (_stat(comm="a) S 1 (b"), 22000),            # a command name with ") " in it
    (_stat(comm="two words"), 22000),
    (_stat("Z"), None), (_stat("X"), None),       # zombie / dead: not running
    (_stat(fields=["1"] * 18), None),             # too short: no starttime field
    (_stat(fields=["1"] * 18 + ["x"]), None),    # starttime not a number
    (_stat(fields=["1"] * 18 + ["77"]), 77),      # exactly long enough
    ("4242 (mosmu)", None), ("", None),
])
def test_process_start_parses_proc_stat(monkeypatch, text, start):
    opened = []

    def fake_open(path, *args, **kwargs):
        opened.append(path)
        return _Text(text)

    monkeypatch.setattr(mosmu_lock, "open", fake_open, raising=False)
    assert mosmu_lock.process_start(4242) == start
    assert opened == ["/proc/4242/stat"]


class _Text:
    def __init__(self, text):
        self.text = text

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self):
        return self.text


def test_process_start_survives_a_command_name_that_is_not_utf8(monkeypatch):
    """``comm`` is any bytes a process chose (prctl): still running, start time still read."""
    raw = b"4242 (bad\xff\xfe name) S " + " ".join(
        str(n * 1000) for n in range(4, 53)).encode() + b"\n"

    def fake_open(path, mode="r", encoding=None, errors=None):
        return io.TextIOWrapper(io.BytesIO(raw), encoding=encoding, errors=errors)

    monkeypatch.setattr(mosmu_lock, "open", fake_open, raising=False)
    assert mosmu_lock.process_start(4242) == 22000


@pytest.mark.parametrize("pid", [DEAD, "x", -1, 1.5e30])
def test_process_start_of_no_process_is_none(pid):
    assert mosmu_lock.process_start(pid) is None


def test_process_start_of_this_process_is_stable():
    start = mosmu_lock.process_start(_me())
    assert isinstance(start, int) and start >= 0
    assert mosmu_lock.process_start(str(_me())) == start


# -- is_stale -------------------------------------------------------------------------------

@pytest.mark.parametrize("pid", [None, "123", "1", True, False, 0, -1, 1.5, DEAD, [1]])
def test_invalid_or_dead_pid_on_this_host_is_stale(pid):
    assert mosmu_lock.is_stale({"host": HOST, "pid": pid}) is True
    assert mosmu_lock.is_stale({"host": HOST, "pid": pid}, HOST) is True


@pytest.mark.parametrize("pid", [None, "123", DEAD, 0])
def test_other_hosts_lock_is_never_stale(pid):
    assert mosmu_lock.is_stale({"host": "other-master", "pid": pid}) is False
    assert mosmu_lock.is_stale({"host": HOST, "pid": pid}, "other-master") is False
    assert mosmu_lock.is_stale({"pid": pid}) is False


def test_live_pid_is_stale_only_when_its_start_time_differs():
    start = mosmu_lock.process_start(_me())
    assert mosmu_lock.is_stale({"host": HOST, "pid": _me(), "pid_start": start}) is False
    assert mosmu_lock.is_stale({"host": HOST, "pid": _me(), "pid_start": None}) is False
    assert mosmu_lock.is_stale({"host": HOST, "pid": _me()}) is False
    assert mosmu_lock.is_stale({"host": HOST, "pid": _me(), "pid_start": start + 1}) is True
    assert mosmu_lock.is_stale({"host": HOST, "pid": 1}) is False            # init: running


# -- acquire --------------------------------------------------------------------------------

def test_acquire_record_and_files(lock_dir):
    taken = mosmu_lock.acquire(lock_dir, [5, "b", 3, "a", 5], 123, pid=_me(), host="m1", now="T1")
    expected = {"jid": "123", "pid": _me(), "pid_start": mosmu_lock.process_start(_me()),
                "host": "m1", "started": "T1", "nodes": [3, 5, "a", "b"]}
    assert taken == {"record": expected, "stale": []}
    assert _files(lock_dir) == [".lock", "node-3.lock", "node-5.lock", "node-a.lock",
                                "node-b.lock"]
    for name in _files(lock_dir)[1:]:
        with open(os.path.join(lock_dir, name), encoding="utf-8") as handle:
            assert json.load(handle) == expected
    assert oct(os.stat(os.path.join(lock_dir, ".lock")).st_mode & 0o777) == "0o600"


def test_acquire_defaults_this_process_host_and_utc_now(lock_dir):
    record = mosmu_lock.acquire(lock_dir, [1], "7")["record"]
    assert record["pid"] == _me() and record["host"] == HOST
    assert record["pid_start"] == mosmu_lock.process_start(_me())
    assert record["started"].endswith("+00:00") and len(record["started"]) == 25
    assert mosmu_lock.acquire(lock_dir, [2], "8", pid=DEAD)["record"]["pid_start"] is None


def test_overlap_with_two_live_runs_takes_nothing_and_names_the_first(lock_dir):
    rec_a = _record("200", [1, 2])
    _put(lock_dir, 2, **rec_a)
    _put(lock_dir, 1, **rec_a)
    _put(lock_dir, 4, **_record("100", [4], host="other"))
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [4, 1, 2, 3], "300")
    assert err.value.jid == "100" and err.value.nodes == [4]
    assert err.value.record == _record("100", [4], host="other")
    assert "jid 100" in str(err.value) and "on other" in str(err.value)
    assert _files(lock_dir) == [".lock", "node-1.lock", "node-2.lock", "node-4.lock"]
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [3, 2, 1], "300")
    assert err.value.jid == "200" and err.value.nodes == [1, 2]
    assert err.value.record == rec_a
    assert f"pid {_me()} " in str(err.value) and "started T0" in str(err.value)
    assert _files(lock_dir) == [".lock", "node-1.lock", "node-2.lock", "node-4.lock"]


def test_lock_held_defaults():
    err = mosmu_lock.LockHeld("held")
    assert str(err) == "held" and err.jid is None and err.nodes == [] and err.record is None
    err = mosmu_lock.LockHeld("held", jid="1", nodes=(3, 4), record={"jid": "1"})
    assert err.jid == "1" and err.nodes == [3, 4] and err.record == {"jid": "1"}


def test_stale_runs_are_cleared_whole_and_reported_sorted(lock_dir):
    _put(lock_dir, 1, **_record("20", [1, 9], pid=DEAD))
    _put(lock_dir, 9, **_record("20", [1, 9], pid=DEAD))
    _put(lock_dir, 2, **_record("10", [2], pid=None))
    _put(lock_dir, 5, **_record("50", [5]))                 # live, not ours: kept
    taken = mosmu_lock.acquire(lock_dir, [2, 1], "30", now="T2")
    assert taken["stale"] == [_record("10", [2], pid=None), _record("20", [1, 9], pid=DEAD)]
    assert _files(lock_dir) == [".lock", "node-1.lock", "node-2.lock", "node-5.lock"]
    assert set(mosmu_lock.holders(lock_dir)) == {"30", "50"}


def test_stale_lock_of_a_refused_run_is_not_cleared(lock_dir):
    _put(lock_dir, 1, **_record("20", [1], pid=DEAD))
    _put(lock_dir, 2, **_record("50", [2]))
    with pytest.raises(mosmu_lock.LockHeld):
        mosmu_lock.acquire(lock_dir, [1, 2], "30")
    assert set(mosmu_lock.holders(lock_dir)) == {"20", "50"}


def test_same_jid_retakes_its_own_nodes(lock_dir):
    _put(lock_dir, 1, **_record("40", [1], pid=DEAD))
    taken = mosmu_lock.acquire(lock_dir, [1, 2], "40", now="T3")
    assert taken["stale"] == []
    assert mosmu_lock.holders(lock_dir) == {"40": taken["record"]}


@pytest.mark.parametrize("raw", ["{broken", "[1, 2]", '"text"', "null"])
def test_unreadable_lock_is_obeyed_and_named(lock_dir, raw):
    _put(lock_dir, 2, raw=raw)
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [1, 2], "30")
    path = os.path.join(lock_dir, "node-2.lock")
    assert path in str(err.value) and err.value.nodes == [2] and err.value.jid is None
    assert _files(lock_dir) == [".lock", "node-2.lock"]
    assert mosmu_lock.holders(lock_dir) == {"?": {"unreadable": [path]}}


def test_lock_file_that_is_a_directory_is_unreadable(lock_dir):
    os.makedirs(os.path.join(lock_dir, "node-2.lock"))
    _put(lock_dir, 3, raw="{")
    with pytest.raises(mosmu_lock.LockHeld):
        mosmu_lock.acquire(lock_dir, [2], "30")
    assert mosmu_lock.holders(lock_dir) == {"?": {"unreadable": [
        os.path.join(lock_dir, "node-2.lock"), os.path.join(lock_dir, "node-3.lock")]}}


def test_vanished_lock_file_is_skipped(lock_dir, monkeypatch):
    """A lock file gone between listing and reading is no holder."""
    _put(lock_dir, 2, **_record("50", [2]))
    listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: [*listdir(path), "node-1.lock"])
    assert mosmu_lock.holders(lock_dir) == {"50": _record("50", [2])}
    taken = mosmu_lock.acquire(lock_dir, [1], "30", now="T4")
    assert mosmu_lock.holders(lock_dir) == {"30": taken["record"], "50": _record("50", [2])}


def test_holders_ignores_other_files_and_missing_dir(lock_dir, tmp_path):
    _put(lock_dir, 1, **_record("50", [1]))
    for name in ("node-2.lck", "xnode-3.lock", "README", ".tmp-x"):
        with open(os.path.join(lock_dir, name), "w", encoding="utf-8") as handle:
            handle.write("{")
    assert mosmu_lock.holders(lock_dir) == {"50": _record("50", [1])}
    missing = str(tmp_path / "none")
    assert mosmu_lock.holders(missing) == {}
    assert os.listdir(missing) == [".lock"]


def test_write_is_atomic_in_the_lock_dir(lock_dir, tmp_path, monkeypatch):
    """The lock file appears whole (rename of a hidden temp file next to it), whatever
    TMPDIR is; a failed rename leaves no temp file and no lock."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmpdir"))
    mosmu_lock.acquire(lock_dir, [1], "30")
    assert _files(lock_dir) == [".lock", "node-1.lock"]
    renames = []

    def failing_replace(src, dst):
        renames.append((src, dst))
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        mosmu_lock.acquire(lock_dir, [2], "31")
    (src, dst), = renames
    assert os.path.dirname(src) == lock_dir and dst == os.path.join(lock_dir, "node-2.lock")
    assert os.path.basename(src).startswith(".") and not src.endswith(".lock")
    assert _files(lock_dir) == [".lock", "node-1.lock"]


def test_write_of_unserialisable_record_leaves_nothing(lock_dir):
    with pytest.raises(TypeError):
        mosmu_lock.acquire(lock_dir, [1], "30", now=object())
    assert _files(lock_dir) == [".lock"]


# -- release, locked ------------------------------------------------------------------------

def test_release_exactly_one_runs_locks(lock_dir):
    _put(lock_dir, 10, **_record("40", [10, 9, "a"]))
    _put(lock_dir, 9, **_record("40", [10, 9, "a"]))
    _put(lock_dir, "a", **_record("40", [10, 9, "a"]))
    _put(lock_dir, 2, **_record("41", [2]))
    _put(lock_dir, 3, raw="{")
    assert mosmu_lock.release(lock_dir, "40") == ["10", "9", "a"]
    assert _files(lock_dir) == [".lock", "node-2.lock", "node-3.lock"]
    assert mosmu_lock.release(lock_dir, "40") == []


def test_release_compares_jid_as_text(lock_dir):
    mosmu_lock.acquire(lock_dir, [1], 40)
    assert mosmu_lock.release(lock_dir, 40) == ["1"]


@pytest.mark.parametrize("jid", ["../x", "", "a/b", "..", True, "x" * 65])
def test_release_refuses_bad_jid_naming_it(lock_dir, jid):
    with pytest.raises(ValueError, match=r"^jid ") as err:
        mosmu_lock.release(lock_dir, jid)
    assert repr(jid) in str(err.value)


@pytest.mark.parametrize("node_id", ["../x", "", "a b", ".", True, "n" * 65])
def test_acquire_refuses_bad_node_id_naming_it(lock_dir, node_id):
    with pytest.raises(ValueError, match=r"^node id ") as err:
        mosmu_lock.acquire(lock_dir, [5, node_id], "30")
    assert repr(node_id) in str(err.value)
    assert not os.path.exists(lock_dir)


@pytest.mark.parametrize("name", ["a", "A-b_c.9", "n" * 64, 0, 42])
def test_good_names(lock_dir, name):
    taken = mosmu_lock.acquire(lock_dir, [name], name)
    assert _files(lock_dir) == [".lock", f"node-{name}.lock"]
    assert taken["record"]["jid"] == str(name)
    assert mosmu_lock.release(lock_dir, name) == [str(name)]


def test_locked_passes_pid_and_host_and_releases(lock_dir):
    with mosmu_lock.locked(lock_dir, [1, 2], "30", pid=DEAD, host="m9") as taken:
        assert taken["record"]["pid"] == DEAD and taken["record"]["host"] == "m9"
        assert mosmu_lock.holders(lock_dir) == {"30": taken["record"]}
    assert _files(lock_dir) == [".lock"]
    with mosmu_lock.locked(lock_dir, [3], "31") as taken:
        assert taken["record"]["pid"] == _me() and taken["record"]["host"] == HOST
    assert _files(lock_dir) == [".lock"]


def test_node_ids_are_deduplicated_ints_first_then_as_text(lock_dir):
    record = mosmu_lock.acquire(lock_dir, [64, "b", 1, 9, "a", 10, 64], "30")["record"]
    assert record["nodes"] == [1, 10, 64, 9, "a", "b"]


def test_stale_check_uses_the_given_host(lock_dir):
    """A run told its host name (``host=``) clears that host's dead locks, not others'."""
    _put(lock_dir, 1, **_record("20", [1], pid=DEAD, host="m1"))
    taken = mosmu_lock.acquire(lock_dir, [1], "30", host="m1")
    assert taken["stale"] == [_record("20", [1], pid=DEAD, host="m1")]
    _put(lock_dir, 2, **_record("21", [2], pid=DEAD, host=HOST))
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [2], "31", host="m1")
    assert err.value.jid == "21"


@pytest.mark.parametrize("jid", ["../x", "", "a/b", "..", False, "x" * 65])
def test_acquire_refuses_bad_jid_naming_it(lock_dir, jid):
    with pytest.raises(ValueError, match=r"^jid ") as err:
        mosmu_lock.acquire(lock_dir, [1], jid)
    assert repr(jid) in str(err.value)
    assert not os.path.exists(lock_dir)


def test_unreadable_lock_names_the_command_to_check(lock_dir):
    _put(lock_dir, 1, raw="{")
    with pytest.raises(mosmu_lock.LockHeld, match=r"salt-run jobs\.active"):
        mosmu_lock.acquire(lock_dir, [1], "30")


def test_failed_rename_of_a_vanished_temp_file_keeps_the_first_error(lock_dir, monkeypatch):
    os.makedirs(lock_dir)

    def replace_after_cleanup(src, dst):
        os.unlink(src)                              # someone cleaned the lock dir meanwhile
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", replace_after_cleanup)
    with pytest.raises(OSError, match="rename failed"):
        mosmu_lock.acquire(lock_dir, [1], "30")
    assert _files(lock_dir) == [".lock"]
