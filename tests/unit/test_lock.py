"""Per-node locks with real files: all-or-nothing, holder named, stale locks cleared.

A run takes one lock file per node it updates, all or none; a node another live run holds is
refused naming that run (jid, pid, host, start); the locks of a dead run on this host are
cleared and reported; a lock of another host or one that cannot be read is obeyed; nothing
found at a lock path is trusted (refused by name, never followed or truncated); every file
appears whole. Most tests run in-process: this process is the live holder, a pid above the
kernel's ``pid_max`` a dead one; a few use child processes as real holders.
"""

import io
import json
import os
import socket
import subprocess
import sys
import tempfile

import pytest

import mosmu_lock
from mosmu_errors import MosmuError


@pytest.fixture(name="lock_dir")
def fixture_lock_dir(tmp_path):
    return str(tmp_path / "mosmu" / "locks")


@pytest.fixture(name="dead_pid")
def fixture_dead_pid():
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(name="live")
def fixture_live():
    """A live process other than this one (blocks on stdin until closed)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)
    yield proc
    proc.stdin.close()
    proc.wait()


def _files(lock_dir):
    return sorted(n for n in os.listdir(lock_dir) if n.startswith("node-"))


# --- with real processes: a live holder, a dead one, racing runs ---------------------------

def test_each_node_gets_one_lock_file_with_the_run_s_record(lock_dir):
    taken = mosmu_lock.acquire(lock_dir, [5, 3, 5], "20250101000000000001", now="T0")
    assert _files(lock_dir) == ["node-3.lock", "node-5.lock"]
    with open(os.path.join(lock_dir, "node-3.lock"), encoding="utf-8") as handle:
        record = json.load(handle)
    assert record == taken["record"]
    assert record["jid"] == "20250101000000000001" and record["pid"] == os.getpid()
    assert record["nodes"] == [3, 5] and record["started"] == "T0"
    assert record["pid_start"] == mosmu_lock.process_start(os.getpid())
    assert taken["stale"] == []
    assert oct(os.stat(lock_dir).st_mode & 0o777) == "0o700"


def test_an_overlap_with_a_live_run_is_refused_whole_naming_the_holder(lock_dir, live):
    mosmu_lock.acquire(lock_dir, [1, 2, 3], "111", pid=live.pid)
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [3, 4, 2], "222")
    assert isinstance(err.value, MosmuError)
    assert err.value.jid == "111" and err.value.nodes == [2, 3]
    assert "jid 111" in str(err.value) and "node(s) 2, 3" in str(err.value)
    assert "\n" not in str(err.value)
    assert _files(lock_dir) == ["node-1.lock", "node-2.lock", "node-3.lock"]   # 4 not taken
    assert mosmu_lock.acquire(lock_dir, [4, 5], "222")["stale"] == []          # disjoint: fine


def test_the_same_jid_may_retake_its_nodes(lock_dir):
    mosmu_lock.acquire(lock_dir, [1], "111")
    mosmu_lock.acquire(lock_dir, [1, 2], "111")
    assert _files(lock_dir) == ["node-1.lock", "node-2.lock"]


def test_a_dead_run_s_lock_is_cleared_and_reported(lock_dir, dead_pid):
    mosmu_lock.acquire(lock_dir, [1, 2, 9], "111", pid=dead_pid)
    taken = mosmu_lock.acquire(lock_dir, [2, 3], "222")
    assert [s["jid"] for s in taken["stale"]] == ["111"]
    assert taken["stale"][0]["pid"] == dead_pid
    assert _files(lock_dir) == ["node-2.lock", "node-3.lock"]       # all of 111's files gone
    assert set(mosmu_lock.holders(lock_dir)) == {"222"}


def test_a_reused_pid_is_stale(lock_dir, live):
    mosmu_lock.acquire(lock_dir, [1], "111", pid=live.pid)
    path = os.path.join(lock_dir, "node-1.lock")
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    assert mosmu_lock.is_stale(record) is False
    record["pid_start"] += 1                      # same pid, another process start
    assert mosmu_lock.is_stale(record) is True


def test_another_host_s_lock_is_obeyed(lock_dir, dead_pid):
    mosmu_lock.acquire(lock_dir, [1], "111", pid=dead_pid, host="other-master")
    with pytest.raises(mosmu_lock.LockHeld, match="on other-master"):
        mosmu_lock.acquire(lock_dir, [1], "222")


def test_an_unreadable_lock_file_is_obeyed(lock_dir):
    os.makedirs(lock_dir)
    with open(os.path.join(lock_dir, "node-1.lock"), "w", encoding="utf-8") as handle:
        handle.write("{broken")
    with pytest.raises(mosmu_lock.LockHeld, match="is not a mosmu lock record"):
        mosmu_lock.acquire(lock_dir, [1], "222")
    assert mosmu_lock.holders(lock_dir)["?"]["unreadable"] == [
        os.path.join(lock_dir, "node-1.lock")]


def test_release_leaves_other_runs_locks(lock_dir, live):
    mosmu_lock.acquire(lock_dir, [1, 2], "111")
    mosmu_lock.acquire(lock_dir, [3], "222", pid=live.pid)
    assert mosmu_lock.release(lock_dir, "111") == ["1", "2"]
    assert _files(lock_dir) == ["node-3.lock"]
    assert mosmu_lock.release(lock_dir, "111") == []
    assert mosmu_lock.release(str(os.path.join(lock_dir, "missing")), "111") == []


def test_context_manager_releases_on_error(lock_dir):
    with pytest.raises(RuntimeError), mosmu_lock.locked(lock_dir, [1, 2], "111") as taken:
        assert taken["record"]["nodes"] == [1, 2]
        assert _files(lock_dir) == ["node-1.lock", "node-2.lock"]
        raise RuntimeError("wave failed")
    assert _files(lock_dir) == []


def test_context_manager_does_not_release_what_it_did_not_take(lock_dir, live):
    mosmu_lock.acquire(lock_dir, [1], "111", pid=live.pid)
    with pytest.raises(mosmu_lock.LockHeld), mosmu_lock.locked(lock_dir, [1], "222"):
        pass
    assert _files(lock_dir) == ["node-1.lock"]


def test_concurrent_processes_never_share_a_node(lock_dir):
    """Live processes race for overlapping node sets: exactly one wins each round."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import mosmu_lock\n"
        "ids = [int(x) for x in sys.argv[4].split(',')]\n"
        "try:\n"
        "    mosmu_lock.acquire(sys.argv[2], ids, sys.argv[3])\n"
        "    print('won', flush=True)\n"
        "except mosmu_lock.LockHeld:\n"
        "    print('lost', flush=True)\n"
        "sys.stdin.read()\n")                 # stay alive (lock not stale) until told
    utils = os.path.dirname(mosmu_lock.__file__)
    for round_ in range(4):
        procs = [subprocess.Popen([sys.executable, "-c", script, utils, lock_dir,
                                   f"{round_}{who}", ids], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
                 for who, ids in (("1", "1,2,3"), ("2", "3,4"), ("3", "4,1"))]
        try:
            outs = [p.stdout.readline().strip() for p in procs]
            assert outs.count("won") == 1                    # every pair overlaps
            holders = mosmu_lock.holders(lock_dir)
            nodes = [n for r in holders.values() for n in r["nodes"]]
            assert len(nodes) == len(set(nodes))            # no node held twice
            assert len(holders) == outs.count("won")
        finally:
            for proc in procs:
                proc.stdin.close()
                proc.wait()
            for proc in procs:
                proc.stdout.close()
        assert mosmu_lock.acquire(lock_dir, [1, 2, 3, 4], f"{round_}9")["stale"]
        mosmu_lock.release(lock_dir, f"{round_}9")


@pytest.mark.parametrize("args", [([1], "../x"), ([1], ""), (["a/b"], "1"), ([".."], "1"),
                                  ([True], "1")])
def test_a_bad_node_id_or_jid_is_refused(lock_dir, args):
    with pytest.raises(ValueError):
        mosmu_lock.acquire(lock_dir, *args)


def test_a_live_process_has_a_start_time_and_a_dead_one_none():
    assert isinstance(mosmu_lock.process_start(os.getpid()), int)
    assert mosmu_lock.process_start(2 ** 22 + 12345) is None


DEAD = 2 ** 22 + 12345            # above the largest pid_max Linux allows: never running
HOST = socket.gethostname()
_LIVE = object()          # this process; its pid is read at test time (mutmut forks)


def _all_files(lock_dir):
    """Every file in the lock dir, the global ``.lock`` included."""
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


# --- a process is named by pid and start time: /proc/<pid>/stat, read whatever it holds ---

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
def test_the_start_time_is_read_from_proc_stat_whatever_the_command_name(
        monkeypatch, text, start):
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
def test_no_process_has_no_start_time(pid):
    assert mosmu_lock.process_start(pid) is None


def test_this_process_s_start_time_is_stable():
    start = mosmu_lock.process_start(_me())
    assert isinstance(start, int) and start >= 0
    assert mosmu_lock.process_start(str(_me())) == start


# --- stale: a dead pid, or a reused one, on this host; another host's lock never is -------

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


# --- taking locks: all or nothing, the holder named, a stale run cleared whole -----------

def test_a_lock_records_jid_pid_start_host_and_nodes(lock_dir):
    taken = mosmu_lock.acquire(lock_dir, [5, "b", 3, "a", 5], 123, pid=_me(), host="m1", now="T1")
    expected = {"jid": "123", "pid": _me(), "pid_start": mosmu_lock.process_start(_me()),
                "host": "m1", "started": "T1", "nodes": [3, 5, "a", "b"]}
    assert taken == {"record": expected, "stale": []}
    assert _all_files(lock_dir) == [".lock", "node-3.lock", "node-5.lock", "node-a.lock",
                                "node-b.lock"]
    for name in _all_files(lock_dir)[1:]:
        with open(os.path.join(lock_dir, name), encoding="utf-8") as handle:
            assert json.load(handle) == expected
    assert oct(os.stat(os.path.join(lock_dir, ".lock")).st_mode & 0o777) == "0o600"


def test_a_lock_defaults_to_this_process_this_host_and_utc_now(lock_dir):
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
    assert _all_files(lock_dir) == [".lock", "node-1.lock", "node-2.lock", "node-4.lock"]
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [3, 2, 1], "300")
    assert err.value.jid == "200" and err.value.nodes == [1, 2]
    assert err.value.record == rec_a
    assert f"pid {_me()} " in str(err.value) and "started T0" in str(err.value)
    assert _all_files(lock_dir) == [".lock", "node-1.lock", "node-2.lock", "node-4.lock"]


def test_a_lock_held_error_carries_the_holder_s_jid_and_nodes():
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
    assert _all_files(lock_dir) == [".lock", "node-1.lock", "node-2.lock", "node-5.lock"]
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
    assert _all_files(lock_dir) == [".lock", "node-2.lock"]
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


def test_a_lock_file_appears_whole_by_one_rename_in_the_lock_dir(lock_dir, tmp_path, monkeypatch):
    """The lock file appears whole (rename of a hidden temp file next to it), whatever
    TMPDIR is; a failed rename leaves no temp file and no lock."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmpdir"))
    mosmu_lock.acquire(lock_dir, [1], "30")
    assert _all_files(lock_dir) == [".lock", "node-1.lock"]
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
    assert _all_files(lock_dir) == [".lock", "node-1.lock"]


def test_a_record_that_cannot_be_written_leaves_nothing(lock_dir):
    with pytest.raises(TypeError):
        mosmu_lock.acquire(lock_dir, [1], "30", now=object())
    assert _all_files(lock_dir) == [".lock"]


# --- releasing: exactly one run's locks; names are checked before any file ---------------

def test_release_removes_exactly_one_run_s_locks(lock_dir):
    _put(lock_dir, 10, **_record("40", [10, 9, "a"]))
    _put(lock_dir, 9, **_record("40", [10, 9, "a"]))
    _put(lock_dir, "a", **_record("40", [10, 9, "a"]))
    _put(lock_dir, 2, **_record("41", [2]))
    _put(lock_dir, 3, raw="{")
    assert mosmu_lock.release(lock_dir, "40") == ["10", "9", "a"]
    assert _all_files(lock_dir) == [".lock", "node-2.lock", "node-3.lock"]
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
def test_plain_node_ids_and_jids_are_accepted(lock_dir, name):
    taken = mosmu_lock.acquire(lock_dir, [name], name)
    assert _all_files(lock_dir) == [".lock", f"node-{name}.lock"]
    assert taken["record"]["jid"] == str(name)
    assert mosmu_lock.release(lock_dir, name) == [str(name)]


def test_locked_passes_pid_and_host_and_releases_on_exit(lock_dir):
    with mosmu_lock.locked(lock_dir, [1, 2], "30", pid=DEAD, host="m9") as taken:
        assert taken["record"]["pid"] == DEAD and taken["record"]["host"] == "m9"
        assert mosmu_lock.holders(lock_dir) == {"30": taken["record"]}
    assert _all_files(lock_dir) == [".lock"]
    with mosmu_lock.locked(lock_dir, [3], "31") as taken:
        assert taken["record"]["pid"] == _me() and taken["record"]["host"] == HOST
    assert _all_files(lock_dir) == [".lock"]


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
    assert _all_files(lock_dir) == [".lock"]


# --- nothing at a lock path is trusted: refused by name, never followed or truncated -------

OUTSIDE = "precious content\n"


def _outside(tmp_path):
    path = tmp_path / "outside.txt"
    path.write_text(OUTSIDE, encoding="utf-8")
    return str(path)


def _symlink(target, path):
    os.symlink(target, path)


def _hardlink(target, path):
    os.link(target, path)


def _directory(_target, path):
    os.mkdir(path)


def _fifo(_target, path):
    os.mkfifo(path)


def _garbage(_target, path):
    with open(path, "wb") as handle:
        handle.write(b"\x00\xffnot json")


def _json_not_a_record(_target, path):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"pid": 1, "nodes": [1]}, handle)     # no jid


def _huge(_target, path):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{"jid": "1", "pad": "' + "x" * (1 << 20) + '"}')


PLANTED = {
    _symlink: "is a symbolic link", _hardlink: "has 2 hard links",
    _directory: "is a directory, not a regular file", _fifo: "is a FIFO, not a regular file",
    _garbage: "is not a mosmu lock record", _json_not_a_record: "is not a mosmu lock record",
    _huge: "is not a mosmu lock record",
}


@pytest.mark.parametrize("plant", list(PLANTED), ids=[p.__name__ for p in PLANTED])
def test_a_foreign_file_at_a_node_lock_path_is_refused_and_left_untouched(lock_dir, tmp_path,
                                                                          plant):
    """A symlink at a lock path used to be read through (and a dangling one replaced); a
    FIFO there would block the open. Now each is refused naming the path and the fix."""
    target = _outside(tmp_path)
    os.makedirs(lock_dir)
    path = os.path.join(lock_dir, "node-2.lock")
    plant(target, path)
    before = os.lstat(path)
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [1, 2], "222")
    text = str(err.value)
    assert text.startswith(f"lock file {path} {PLANTED[plant]}:") and "\n" not in text
    assert f"rm {path}" in text and err.value.nodes == [2]
    assert _files(lock_dir) == ["node-2.lock"]                  # node 1 not taken either
    assert mosmu_lock.release(lock_dir, "222") == []
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode, after.st_size) == \
        (before.st_ino, before.st_mode, before.st_size)
    with open(target, encoding="utf-8") as handle:
        assert handle.read() == OUTSIDE
    assert mosmu_lock.holders(lock_dir) == {"?": {"unreadable": [path]}}


def test_a_dangling_symlink_at_a_lock_path_is_refused_and_its_target_never_created(lock_dir,
                                                                                   tmp_path):
    os.makedirs(lock_dir)
    target = str(tmp_path / "created-by-nobody")
    os.symlink(target, os.path.join(lock_dir, "node-1.lock"))
    with pytest.raises(mosmu_lock.LockHeld, match="is a symbolic link"):
        mosmu_lock.acquire(lock_dir, [1], "222")
    assert not os.path.lexists(target)


def test_a_lock_file_of_another_user_is_refused(lock_dir, monkeypatch):
    mosmu_lock.acquire(lock_dir, [1], "111")
    mosmu_lock.release(lock_dir, "111")
    mosmu_lock.acquire(lock_dir, [2], "111")
    monkeypatch.setattr(os, "geteuid", lambda: 4242)      # the files are now someone else's
    with pytest.raises(mosmu_lock.LockHeld, match="belongs to uid"):
        mosmu_lock.acquire(lock_dir, [1, 2], "222")


@pytest.mark.parametrize("plant, words", [
    (_symlink, "is a symbolic link"), (_directory, "is not a regular file"),
    (_fifo, "is a FIFO, not a regular file"), (_hardlink, "has 2 hard links"),
])
def test_a_foreign_file_at_the_global_lock_is_refused(lock_dir, tmp_path, plant, words):
    """The directory-wide .lock was opened O_CREAT through a symlink: a dangling link made
    mosmu create its target anywhere."""
    target = _outside(tmp_path)
    os.makedirs(lock_dir)
    path = os.path.join(lock_dir, ".lock")
    plant(target, path)
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [1], "222")
    assert str(err.value).startswith(f"lock file {path} {words}:")
    with open(target, encoding="utf-8") as handle:
        assert handle.read() == OUTSIDE


@pytest.mark.parametrize("make, words", [
    (lambda d, t: os.symlink(t, d), "is a symbolic link"),
    (lambda d, t: os.makedirs(d) or os.chmod(d, 0o770),  # noqa: S103 - the case refused
     "is writable by other"),
])
def test_a_lock_directory_that_others_control_is_refused(lock_dir, tmp_path, make, words):
    os.makedirs(os.path.dirname(lock_dir))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    make(lock_dir, str(outside))
    with pytest.raises(mosmu_lock.LockHeld, match=words) as err:
        mosmu_lock.acquire(lock_dir, [1], "222")
    assert lock_dir in str(err.value) and os.listdir(outside) == []


def test_a_stuck_lock_names_its_files_and_how_to_clear_them(lock_dir, live):
    """The message of a held lock named the jid but not the lock file, nor what to remove if
    that job is gone."""
    mosmu_lock.acquire(lock_dir, [1, 2, 3, 4, 5], "111", pid=live.pid)
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [2], "222")
    path = os.path.join(lock_dir, "node-2.lock")
    assert f"jid 111 (pid {live.pid}" in str(err.value)
    assert str(err.value).endswith(f"if that job is gone, remove its lock file(s): rm {path}")
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [1, 2, 3, 4, 5], "222")
    assert str(err.value).endswith(
        f"rm {os.path.join(lock_dir, 'node-1.lock')} {path} "
        f"{os.path.join(lock_dir, 'node-3.lock')} (and 2 more node-*.lock files of that jid in "
        f"{lock_dir})")


def test_a_failing_release_does_not_hide_the_runs_own_error(lock_dir, monkeypatch):
    def refuse(*_args):
        raise OSError(30, "Read-only file system", lock_dir)

    with pytest.raises(RuntimeError, match="wave failed"), \
            mosmu_lock.locked(lock_dir, [1], "111"):
        monkeypatch.setattr(mosmu_lock, "release", refuse)
        raise RuntimeError("wave failed")
