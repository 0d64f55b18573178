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
    with pytest.raises(mosmu_lock.LockHeld, match="unreadable"):
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
