"""The sandbox's processes: free ports, waiting until ready, starting daemons, finding and
stopping every process of a sandbox (by pid, never by name).
"""

import contextlib
import os
import signal
import socket
import subprocess
import time

from .common import SandboxError

READY_TIMEOUT = 180


def free_ports(count):
    """``count`` distinct free TCP ports on 127.0.0.1."""
    socks, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in socks:
        sock.close()
    return ports


def wait_for(check, what, timeout=READY_TIMEOUT, every=0.2):
    """Poll ``check()`` until it returns a true value; raise SandboxError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SandboxError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def port_open(port):
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def spawn(argv, log_path, cwd, env=None):
    """Start ``argv`` as the leader of a new session in ``cwd``: stdin ``/dev/null``, stdout
    and stderr appended to ``log_path``; return its ``Popen``."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=cwd, env=env)


def naming(text):
    """Processes whose command line mentions ``text`` (a sandbox dir), except our ancestors."""
    spare = ancestors()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in spare:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if text.encode() in handle.read():
                    found.add(int(entry))
        except OSError:
            continue
    return found


def stop(leaders, find):
    """SIGTERM, then (after 15 s) SIGKILL, the process groups of ``leaders`` (pids started
    with a new session) and every pid ``find()`` returns, until none is alive (5 s more)."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        pids = find() | {p for p in leaders if alive(p)}
        for pid in leaders:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.1)
        if not any(alive(p) for p in pids):
            break


def ancestors():
    """This process and its parents: never signalled, even if their argv names the dir."""
    out, pid = set(), os.getpid()
    while pid > 1:
        out.add(pid)
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def alive(pid):
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
