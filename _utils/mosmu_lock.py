"""Per-node locks on the master: two ``mosmu.update`` runs never touch the same node.

``<lock_dir>/node-<id>.lock`` exists while a run holds node ``<id>``; it holds the run's
record as JSON: ``{"jid", "pid", "pid_start", "host", "started", "nodes"}``. A run takes all
its nodes at once, under an exclusive ``fcntl.flock`` on ``<lock_dir>/.lock``, so checking and
creating are one atomic step for the whole set. A lock whose process is gone (checked on this
host via ``/proc/<pid>``, with the process start time against pid reuse) is stale: it is
cleared and reported, not obeyed.

Nothing at a lock path is trusted: a symbolic link, a directory, a FIFO, a file of another
user or with several hard links, or a file that is not a lock record is refused with a message
naming the path, never followed, read through, truncated or overwritten. The lock directory
itself must be a directory of ours that no one else can write.

.. code-block:: python

    with mosmu_lock.locked(lock_dir, [3, 5], jid) as taken:
        for stale in taken["stale"]:
            log.warning("cleared a stale lock of jid %s", stale["jid"])
        ...
"""

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import re
import socket
import stat
import tempfile

from mosmu_errors import MosmuError

log = logging.getLogger(__name__)

GLOBAL = ".lock"
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_RECORD = 64 * 1024       # a lock record is a few hundred bytes
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC   # NONBLOCK: a FIFO never blocks
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link"))


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


def _foreign(info):
    """Why the file ``info`` (an ``os.stat_result``) is not a lock file of ours, or None."""
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        return f"is {kind}, not a regular file"
    if info.st_uid != os.geteuid():
        return f"belongs to uid {info.st_uid}, not to the salt-master's user (uid {os.geteuid()})"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} hard links"
    return None


def _read(path):
    """A lock file's record; None when it is absent; ``{"unreadable": path, "why": reason}``
    when what is there is not a lock file of ours (opened without following a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as err:
        why = "is a symbolic link" if err.errno == errno.ELOOP else \
            f"cannot be opened ({err.strerror})"
        return {"unreadable": path, "why": why}
    try:
        why = _foreign(os.fstat(fd))
    except OSError:
        os.close(fd)
        raise
    if why:
        os.close(fd)
        return {"unreadable": path, "why": why}
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(_MAX_RECORD + 1)
        except OSError as err:
            return {"unreadable": path, "why": f"cannot be read ({err.strerror})"}
    try:
        record = json.loads(data) if len(data) <= _MAX_RECORD else None
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("jid"), str):
        return {"unreadable": path, "why": "is not a mosmu lock record"}
    return record


def _write(path, record):
    """Write ``record`` whole, by renaming a new file over ``path`` (never in place: a link
    there is replaced, not followed)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _refusal(path, why):
    return (f"lock file {path} {why}: mosmu never follows or overwrites it; remove it "
            f"(rm {path}) if no mosmu.update is running (salt-run jobs.active)")


def _check_dir(lock_dir):
    info = os.lstat(lock_dir)
    why = None
    if not stat.S_ISDIR(info.st_mode):
        why = "is not a directory" if not stat.S_ISLNK(info.st_mode) else "is a symbolic link"
    elif info.st_uid != os.geteuid():
        why = f"belongs to uid {info.st_uid}, not to the salt-master's user"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        why = "is writable by other users (chmod 700 it)"
    if why:
        raise LockHeld(f"lock directory {lock_dir} {why}: refused; fix or remove it")


@contextlib.contextmanager
def _global(lock_dir):
    os.makedirs(lock_dir, mode=0o700, exist_ok=True)
    _check_dir(lock_dir)
    path = os.path.join(lock_dir, GLOBAL)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            why = "is a symbolic link" if err.errno == errno.ELOOP else "is not a regular file"
            raise LockHeld(_refusal(path, why)) from err
        raise
    try:
        why = _foreign(os.fstat(fd))
        if why:
            raise LockHeld(_refusal(path, why))
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
                raise LockHeld(_refusal(path, current["why"]), nodes=[node_id])
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
                "or choose other nodes; if that job is gone, remove its lock file(s): "
                f"{_listing([paths[n] for n in overlap])}", jid=holder, nodes=overlap,
                record=current)
        for path in _lock_files(lock_dir):          # every file of a stale run, not only ours
            current = _read(path)
            if current and "unreadable" not in current and current["jid"] in stale:
                os.unlink(path)
        for path in paths.values():
            _write(path, record)
    return {"record": record, "stale": [stale[j] for j in sorted(stale)]}


def _listing(paths, shown=3):
    text = "rm " + " ".join(paths[:shown])
    return text + (f" (and {len(paths) - shown} more node-*.lock files of that jid in "
                   f"{os.path.dirname(paths[0])})" if len(paths) > shown else "")


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
            if current and "unreadable" not in current and current["jid"] == jid:
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
    except BaseException:
        try:
            release(lock_dir, jid)
        except (OSError, MosmuError) as err:   # the run's own error is the one to report
            log.warning("mosmu: could not release the locks of job %s (%s); the next run "
                        "clears them once this process has ended", jid, err)
        raise
    release(lock_dir, jid)
