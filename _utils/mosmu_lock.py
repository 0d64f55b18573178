"""Per-node locks on the master: two ``mosmu.update`` runs never touch the same node.

``<lock_dir>/node-<id>.lock`` exists while a run holds node ``<id>``; it holds the run's
record as JSON: ``{"jid", "pid", "pid_start", "host", "started", "nodes"}``. A run takes all
its nodes at once, under an exclusive ``fcntl.flock`` on ``<lock_dir>/.lock``, so checking and
creating are one atomic step for the whole set. A lock whose process is gone (checked on this
host via ``/proc/<pid>``, with the process start time against pid reuse) is stale: it is
cleared and reported, not obeyed.

.. code-block:: python

    with mosmu_lock.locked(lock_dir, [3, 5], jid) as taken:
        for stale in taken["stale"]:
            log.warning("cleared a stale lock of jid %s", stale["jid"])
        ...
"""

import contextlib
import datetime
import fcntl
import json
import os
import re
import socket
import tempfile

from mosmu_errors import MosmuError

GLOBAL = ".lock"
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class LockHeld(MosmuError):
    """Some of the nodes are held by another mosmu run that is still alive.

    ``jid`` is the holder's job id, ``nodes`` the overlapping node ids, ``record`` the
    holder's lock record.
    """

    def __init__(self, message, jid=None, nodes=(), record=None):
        super().__init__(message)
        self.jid = jid
        self.nodes = list(nodes)
        self.record = record


def _name(value, what):
    text = str(value)
    if isinstance(value, bool) or not _NAME_RE.fullmatch(text) or text in (".", ".."):
        raise ValueError(f"{what} {value!r} cannot name a lock file")
    return text


def _path(lock_dir, node_id):
    return os.path.join(lock_dir, f"node-{_name(node_id, 'node id')}.lock")


def process_start(pid):
    """The start time of process ``pid`` on this host, in clock ticks since boot.

    :param pid: a process id
    :return: an int, or None when no such process is running (absent, or a zombie)
    """
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="utf-8", errors="replace") as handle:
            stat = handle.read()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2:].split()   # after "pid (comm) "
    if not fields or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])                    # field 22 of proc(5): starttime
    except (IndexError, ValueError):
        return None


def is_stale(record, host=None):
    """Whether a lock record's process is gone.

    :param record: a lock record (``pid``, ``pid_start``, ``host``)
    :param host: this host's name; default ``socket.gethostname()``
    :return: True when the record is from this host and its pid is not running, or runs a
        process started at another time (the pid was reused); False for another host's lock,
        which cannot be checked from here
    """
    host = host or socket.gethostname()
    if record.get("host") != host:
        return False
    pid = record.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return True
    start = process_start(pid)
    if start is None:
        return True
    return record.get("pid_start") is not None and record.get("pid_start") != start


def _read(path):
    """A lock file's record; None when it vanished; ``{"unreadable": path}`` when broken."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"unreadable": path}
    return record if isinstance(record, dict) else {"unreadable": path}


def _write(path, record):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _global(lock_dir):
    os.makedirs(lock_dir, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(lock_dir, GLOBAL), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                               # closing releases the flock


def _lock_files(lock_dir):
    try:
        names = os.listdir(lock_dir)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(lock_dir, n) for n in names
                  if n.startswith("node-") and n.endswith(".lock"))


def holders(lock_dir):
    """The runs holding locks now, for a report or a diagnosis.

    :param lock_dir: the lock directory
    :return: ``{jid: record}``; broken lock files appear under the key ``"?"`` as
        ``{"unreadable": [paths]}``
    """
    out = {}
    with _global(lock_dir):
        for path in _lock_files(lock_dir):
            record = _read(path)
            if record is None:
                continue
            if "unreadable" in record:
                out.setdefault("?", {"unreadable": []})["unreadable"].append(path)
            else:
                out.setdefault(str(record.get("jid")), record)
    return out


def acquire(lock_dir, node_ids, jid, pid=None, host=None, now=None):
    """Take the locks of all ``node_ids`` for run ``jid``, or none of them.

    :param lock_dir: directory of the lock files, e.g. ``<cachedir>/mosmu/locks`` (created
        0700 when missing)
    :param node_ids: the node ids the run will touch
    :param jid: the run's job id
    :param pid: the process holding the locks; default this process
    :param host: this host's name; default ``socket.gethostname()``
    :param now: the start time to record (ISO 8601); default now, UTC
    :return: ``{"record": the record written, "stale": [records of stale locks cleared]}``
    :raises LockHeld: when a live run (or an unreadable lock file) holds any of the nodes;
        the message names the holder's jid and the overlapping node ids
    :raises ValueError: for a jid or node id that cannot name a file
    """
    jid = _name(jid, "jid")
    ids = sorted(set(node_ids), key=lambda n: (not isinstance(n, int), str(n)))
    paths = {node_id: _path(lock_dir, node_id) for node_id in ids}
    host = host or socket.gethostname()
    pid = os.getpid() if pid is None else pid
    record = {"jid": jid, "pid": pid, "pid_start": process_start(pid), "host": host,
              "started": now or datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec="seconds"),
              "nodes": ids}
    stale = {}
    with _global(lock_dir):
        held = {}
        for node_id, path in paths.items():
            current = _read(path)
            if current is None or current.get("jid") == jid:
                continue
            if "unreadable" in current:
                raise LockHeld(f"lock file {path} is unreadable; remove it if no mosmu.update "
                               "is running (salt-run jobs.active)", nodes=[node_id])
            if is_stale(current, host):
                stale[str(current.get("jid"))] = current
            else:
                held.setdefault(str(current.get("jid")), (current, []))[1].append(node_id)
        if held:
            holder, (current, overlap) = sorted(held.items())[0]
            raise LockHeld(
                f"node(s) {', '.join(map(str, overlap))} are being updated by mosmu run "
                f"jid {holder} (pid {current.get('pid')} on {current.get('host')}, started "
                f"{current.get('started')}); wait for it to end (salt-run jobs.active) "
                "or choose other nodes", jid=holder, nodes=overlap, record=current)
        for path in _lock_files(lock_dir):          # every file of a stale run, not only ours
            current = _read(path)
            if current and str(current.get("jid")) in stale:
                os.unlink(path)
        for path in paths.values():
            _write(path, record)
    return {"record": record, "stale": [stale[j] for j in sorted(stale)]}


def release(lock_dir, jid):
    """Drop every lock held by run ``jid``.

    :param lock_dir: the lock directory
    :param jid: the run's job id
    :return: the released node ids, sorted as text
    """
    jid = _name(jid, "jid")
    released = []
    if not os.path.isdir(lock_dir):
        return released
    with _global(lock_dir):
        for path in _lock_files(lock_dir):
            current = _read(path)
            if current and current.get("jid") == jid:
                os.unlink(path)
                released.append(os.path.basename(path)[len("node-"):-len(".lock")])
    return sorted(released)


@contextlib.contextmanager
def locked(lock_dir, node_ids, jid, pid=None, host=None):
    """``acquire`` on entry, ``release`` on every exit (return, exception, KeyboardInterrupt).

    :param lock_dir: the lock directory
    :param node_ids: the node ids the run will touch
    :param jid: the run's job id
    :param pid: the process holding the locks; default this process
    :param host: this host's name; default ``socket.gethostname()``
    :return: a context manager yielding what :func:`acquire` returns
    """
    taken = acquire(lock_dir, node_ids, jid, pid=pid, host=host)
    try:
        yield taken
    finally:
        release(lock_dir, jid)
