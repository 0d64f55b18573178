"""Per-node locks with real files: all-or-nothing, holder named, stale locks cleared."""

import json
import os
import subprocess
import sys

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


def test_acquire_writes_a_record_per_node(lock_dir):
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


def test_overlap_is_refused_whole_and_names_holder(lock_dir, live):
    mosmu_lock.acquire(lock_dir, [1, 2, 3], "111", pid=live.pid)
    with pytest.raises(mosmu_lock.LockHeld) as err:
        mosmu_lock.acquire(lock_dir, [3, 4, 2], "222")
    assert isinstance(err.value, MosmuError)
    assert err.value.jid == "111" and err.value.nodes == [2, 3]
    assert "jid 111" in str(err.value) and "node(s) 2, 3" in str(err.value)
    assert "\n" not in str(err.value)
    assert _files(lock_dir) == ["node-1.lock", "node-2.lock", "node-3.lock"]   # 4 not taken
    assert mosmu_lock.acquire(lock_dir, [4, 5], "222")["stale"] == []          # disjoint: fine


def test_same_jid_may_retake(lock_dir):
    mosmu_lock.acquire(lock_dir, [1], "111")
    mosmu_lock.acquire(lock_dir, [1, 2], "111")
    assert _files(lock_dir) == ["node-1.lock", "node-2.lock"]


def test_stale_lock_is_cleared_and_reported(lock_dir, dead_pid):
    mosmu_lock.acquire(lock_dir, [1, 2, 9], "111", pid=dead_pid)
    taken = mosmu_lock.acquire(lock_dir, [2, 3], "222")
    assert [s["jid"] for s in taken["stale"]] == ["111"]
    assert taken["stale"][0]["pid"] == dead_pid
    assert _files(lock_dir) == ["node-2.lock", "node-3.lock"]       # all of 111's files gone
    assert set(mosmu_lock.holders(lock_dir)) == {"222"}


def test_reused_pid_is_stale(lock_dir, live):
    mosmu_lock.acquire(lock_dir, [1], "111", pid=live.pid)
    path = os.path.join(lock_dir, "node-1.lock")
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    assert mosmu_lock.is_stale(record) is False
    record["pid_start"] += 1                      # same pid, another process start
    assert mosmu_lock.is_stale(record) is True


def test_other_hosts_lock_is_obeyed(lock_dir, dead_pid):
    mosmu_lock.acquire(lock_dir, [1], "111", pid=dead_pid, host="other-master")
    with pytest.raises(mosmu_lock.LockHeld, match="on other-master"):
        mosmu_lock.acquire(lock_dir, [1], "222")


def test_unreadable_lock_file_is_obeyed(lock_dir):
    os.makedirs(lock_dir)
    with open(os.path.join(lock_dir, "node-1.lock"), "w", encoding="utf-8") as handle:
        handle.write("{broken")
    with pytest.raises(mosmu_lock.LockHeld, match="is not a mosmu lock record"):
        mosmu_lock.acquire(lock_dir, [1], "222")
    assert mosmu_lock.holders(lock_dir)["?"]["unreadable"] == [
        os.path.join(lock_dir, "node-1.lock")]


def test_release_only_own_locks(lock_dir, live):
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
def test_bad_names(lock_dir, args):
    with pytest.raises(ValueError):
        mosmu_lock.acquire(lock_dir, *args)


def test_process_start():
    assert isinstance(mosmu_lock.process_start(os.getpid()), int)
    assert mosmu_lock.process_start(2 ** 22 + 12345) is None


# -- nothing at a lock path is trusted: refused by name, never followed or truncated -----------

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
