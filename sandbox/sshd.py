"""Real ``sshd`` daemons for the sandbox's ssh nodes (nodes without a salt-minion).

Layout under an ssh directory ``S`` (``DIR/ssh`` in a sandbox):

- ``S/id_ed25519`` (+ ``.pub``): the throwaway client key (ed25519, no passphrase) and
  ``S/authorized_keys`` holding its public key;
- per node ``S/<fqdn>/``: ``ssh_host_ed25519_key`` (+ ``.pub``), ``sshd_config``,
  ``sshd.pid``;
- ``S/known_hosts``: one ``[127.0.0.1]:PORT <host key>`` line per node, so clients verify
  host keys (``StrictHostKeyChecking=yes``) and never accept a new one.

Each node's sshd listens on ``127.0.0.1:PORT`` only, runs in the foreground
(``/usr/sbin/sshd -D -e -f CONFIG -E LOG``) so its starter owns the pid, and allows public-key
root login only. Nothing here reads or writes ``~/.ssh`` or ``/etc/ssh``: ``ssh-keygen``
always gets ``-f`` (and ``HOME`` = ``S``), the configs include nothing from ``/etc/ssh``, and
clients get ``-F /dev/null``. The only shared path is sshd's privilege-separation directory
``/run/sshd``, created (0755) when missing and never removed.

Process helpers find what belongs to a node's sshd from ``/proc`` without trusting command
lines (sshd rewrites its session processes' titles to ``sshd: root@notty``): the listener's
descendants, the sshd processes holding an accepted socket of the node's port (sessions
outlive a stopped listener, as on a real host), and, for clean-up, the processes whose
``SSH_CONNECTION`` names that port (what the sessions ran, even detached).

The module needs no salt-master: :class:`SshdNode` prepares and checks one node, its
:meth:`~SshdNode.start` takes an optional ``spawn`` callable (``sandbox.stack.Sandbox``
passes its own, so ``down`` stops the daemons).
"""

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

from .procs import alive

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = "/run/sshd"
HOST = "127.0.0.1"
READY_TIMEOUT = 30
MAX_SESSIONS = 64           # multiplexed sessions per connection (ControlMaster)
MAX_STARTUPS = "64:30:128"  # concurrent unauthenticated connections

CONFIG = """\
# mosmu sandbox: the sshd of ssh node {fqdn} (127.0.0.1 only, public-key root login only)
ListenAddress {host}:{port}
AddressFamily inet
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
AuthorizedPrincipalsFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
GSSAPIAuthentication no
PermitEmptyPasswords no
UsePAM no
# the sandbox dir may sit below /tmp (mode 1777), which StrictModes refuses
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
AllowStreamLocalForwarding no
PermitTunnel no
PermitUserRC no
# a pty session would write this machine's utmp/wtmp/lastlog (/var/log)
PermitTTY no
PermitUserEnvironment no
MaxSessions {max_sessions}
MaxStartups {max_startups}
LoginGraceTime 30
# what Ubuntu 14.04's OpenSSH 6.6 offers; the post-quantum default (sntrup761x25519) costs
# ~0.4 s of CPU per connection on a busy 2-core machine
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org
LogLevel INFO
Subsystem sftp internal-sftp
# Commands run through root's login shell. Debian's bash sources ~/.bashrc for every ssh
# command while SHLVL < 1: this machine's .bashrc (a developer's: pyenv shims first in PATH,
# ~0.5 s per command) is not a node's. SHLVL=1 skips it; PATH is then sshd's default.
SetEnv SHLVL=1
"""


class SshdError(Exception):
    """An sshd could not be prepared or started; the message says why (sshd's own words)."""


def _run(argv, what, env=None):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, env=env)
    if proc.returncode != 0:
        raise SshdError(f"{what} failed (exit {proc.returncode}): "
                        f"{(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def keygen(path, comment):
    """A new ed25519 key pair without passphrase at ``path`` (+ ``.pub``), replacing any
    there; its public key line. ``-f`` is always given and ``HOME`` is the key's directory,
    so ssh-keygen never touches ``~/.ssh``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for old in (path, f"{path}.pub"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(old)
    _run(["ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-C", comment, "-f", path],
         f"ssh-keygen -f {path}", env=dict(os.environ, HOME=directory))
    with open(f"{path}.pub", encoding="ascii") as handle:
        return handle.read().strip()


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.new"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class ClientKey:
    """The throwaway client key of an ssh directory and the ``authorized_keys`` naming it.

    :param ssh_dir: the ssh directory (``DIR/ssh``)
    """

    def __init__(self, ssh_dir):
        self.ssh_dir = os.path.abspath(ssh_dir)
        self.priv = os.path.join(self.ssh_dir, "id_ed25519")
        self.authorized_keys = os.path.join(self.ssh_dir, "authorized_keys")
        self.known_hosts = os.path.join(self.ssh_dir, "known_hosts")

    def ensure(self):
        """Generate the key pair and ``authorized_keys`` unless they exist; return self."""
        os.makedirs(self.ssh_dir, mode=0o700, exist_ok=True)
        os.chmod(self.ssh_dir, 0o700)
        if not (os.path.isfile(self.priv) and os.path.isfile(self.authorized_keys)):
            public = keygen(self.priv, "mosmu-sandbox-client")
            _write(self.authorized_keys, public + "\n", mode=0o600)
        if not os.path.exists(self.known_hosts):
            _write(self.known_hosts, "", mode=0o644)
        return self

    def trust(self, port, public_key):
        """Record ``[127.0.0.1]:PORT <key>`` in ``known_hosts`` (replacing that port's line)."""
        name = f"[{HOST}]:{port}"
        lines = []
        if os.path.exists(self.known_hosts):
            with open(self.known_hosts, encoding="ascii") as handle:
                lines = [ln for ln in handle.read().splitlines()
                         if ln.strip() and ln.split()[0] != name]
        key = " ".join(public_key.split()[:2])          # type and base64, without the comment
        _write(self.known_hosts, "\n".join([*lines, f"{name} {key}"]) + "\n", mode=0o644)

    def argv(self, port, *remote, user="root"):
        """A plain ``ssh`` argv to ``user@127.0.0.1:PORT`` with this key, verifying the host
        key against ``known_hosts`` only and never asking. ``remote`` is an argv: each word is
        shell-quoted for the remote shell (pass ``"sh", "-c", SCRIPT`` for a shell snippet)."""
        argv = ["ssh", "-F", "/dev/null", "-i", self.priv, "-o", "IdentitiesOnly=yes",
                "-o", "IdentityAgent=none", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", "UpdateHostKeys=no", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                "-p", str(port), f"{user}@{HOST}"]
        if remote:
            argv += ["--", " ".join(shlex.quote(str(word)) for word in remote)]
        return argv


class SshdNode:
    """The sshd of one ssh node: host key, config, check, start, and its processes.

    :param ssh_dir: the ssh directory (``DIR/ssh``); the node's files are in ``<ssh_dir>/<fqdn>``
    :param fqdn: the node's name
    :param port: the 127.0.0.1 port it listens on
    :param log: the log file (``-E``)
    """

    def __init__(self, ssh_dir, fqdn, port, log):
        self.client = ClientKey(ssh_dir)
        self.fqdn = fqdn
        self.port = int(port)
        self.log = os.path.abspath(log)
        self.dir = os.path.join(self.client.ssh_dir, fqdn)
        self.host_key = os.path.join(self.dir, "ssh_host_ed25519_key")
        self.config = os.path.join(self.dir, "sshd_config")
        self.pid_file = os.path.join(self.dir, "sshd.pid")

    @property
    def argv(self):
        """How the daemon runs: foreground, logging to :attr:`log`."""
        return [SSHD, "-D", "-e", "-f", self.config, "-E", self.log]

    def prepare(self, new_host_key=False, trust=True):
        """Write the host key (a new one when missing or ``new_host_key``) and the config,
        check them with ``sshd -t`` (:class:`SshdError` with sshd's message), and, when
        ``trust``, record the host key in ``known_hosts``. Returns the host public key."""
        self.client.ensure()
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        os.makedirs(os.path.dirname(self.log), exist_ok=True)
        if new_host_key or not os.path.isfile(self.host_key):
            keygen(self.host_key, f"root@{self.fqdn}")
        with open(f"{self.host_key}.pub", encoding="ascii") as handle:
            public = handle.read().strip()
        _write(self.config, CONFIG.format(
            fqdn=self.fqdn, host=HOST, port=self.port, host_key=self.host_key,
            pid_file=self.pid_file, authorized_keys=self.client.authorized_keys,
            max_sessions=MAX_SESSIONS, max_startups=MAX_STARTUPS), mode=0o600)
        self.check()
        if trust:
            self.client.trust(self.port, public)
        return public

    def check(self):
        """``sshd -t -f CONFIG``: raise :class:`SshdError` with sshd's message if invalid."""
        ensure_privsep_dir()
        _run([SSHD, "-t", "-f", self.config], f"{SSHD} -t -f {self.config}")

    def start(self, spawn=None, timeout=READY_TIMEOUT):
        """Start the daemon and wait until it listens; return its pid.

        :param spawn: ``spawn(name, argv)`` returning a ``Popen`` (e.g. the sandbox's, which
            records the pid for ``down``); default: a plain ``Popen`` in a new session, its
            output appended to :attr:`log`
        """
        ensure_privsep_dir()
        if spawn is None:
            with open(self.log, "ab") as out:
                proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        else:
            proc = spawn(f"sshd-{self.fqdn}", self.argv)
        self.wait_listening(proc, timeout)
        return proc.pid

    def wait_listening(self, proc, timeout=READY_TIMEOUT):
        """Wait until ``proc`` (the daemon) listens on the port; SshdError if it exits."""
        deadline = time.monotonic() + timeout
        while not listening(self.port):
            if proc.poll() is not None:
                raise SshdError(f"sshd of {self.fqdn} exited ({proc.returncode}) before "
                                f"listening on {HOST}:{self.port}: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise SshdError(f"sshd of {self.fqdn} does not listen on {HOST}:{self.port} "
                                f"after {timeout} s: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, size=2000):
        try:
            with open(self.log, "rb") as handle:
                handle.seek(max(0, os.path.getsize(self.log) - size))
                return handle.read().decode(errors="replace").strip()
        except OSError:
            return "(no log)"

    def session_pids(self, listener=None):
        """Pids of this node's sshd processes other than the listener: the listener's sshd
        descendants and the sshd processes holding an accepted socket of the port (and their
        sshd descendants), including sessions a stopped listener left behind."""
        table = _proc_table()
        roots = set(socket_pids(self.port, table))
        if listener:
            roots |= _descendants({listener}, table)
        found = roots | _descendants(roots, table)
        return {p for p in found if p != listener and is_sshd(p)}

    def all_pids(self, listener=None):
        """Everything of this node's sshd, for clean-up: :meth:`session_pids`, the listener,
        every descendant of them, and every process whose ``SSH_CONNECTION`` names this port
        (what the sessions ran, even when it detached)."""
        table = _proc_table()
        roots = self.session_pids(listener) | ({listener} if listener else set())
        roots |= connection_pids(self.port, table)
        return {p for p in roots | _descendants(roots, table) if alive(p)}


def ensure_privsep_dir():
    """sshd's privilege-separation directory: created (root, 0755) only when missing."""
    if not os.path.isdir(PRIVSEP_DIR):
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        os.chmod(PRIVSEP_DIR, 0o755)  # noqa: S103 (what sshd requires of it)


# -- /proc ------------------------------------------------------------------------------------

_LOOPBACK = format(int.from_bytes(socket.inet_aton(HOST), sys.byteorder), "08X")
_TCP_LISTEN = "0A"


def _tcp_sockets(port):
    """``[(state, inode), ...]`` of the IPv4 TCP sockets whose local end is 127.0.0.1:port."""
    local = f"{_LOOPBACK}:{int(port):04X}"
    out = []
    try:
        with open("/proc/net/tcp", encoding="ascii") as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                if len(fields) > 9 and fields[1] == local:
                    out.append((fields[3], fields[9]))
    except OSError:
        pass
    return out


def listening(port):
    """Whether something listens on 127.0.0.1:port (read from /proc, no connection made)."""
    return any(state == _TCP_LISTEN for state, _inode in _tcp_sockets(port))


def _proc_table():
    """``{pid: ppid}`` of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                table[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return table


def _descendants(pids, table=None):
    table = _proc_table() if table is None else table
    children = {}
    for pid, ppid in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), list(pids)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def socket_pids(port, table=None):
    """Pids holding an accepted (non-listening) socket whose local end is 127.0.0.1:port."""
    inodes = {f"socket:[{inode}]" for state, inode in _tcp_sockets(port)
              if state != _TCP_LISTEN and inode != "0"}
    if not inodes:
        return set()
    found = set()
    for pid in table or _proc_table():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    found.add(pid)
                    break
    return found


def connection_pids(port, table=None):
    """Pids whose environment has ``SSH_CONNECTION=<client> <cport> 127.0.0.1 <port>``: what
    an sshd on that port started (sshd sets it for every session)."""
    wanted = f" {HOST} {int(port)}".encode()
    found = set()
    for pid in table or _proc_table():
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        for var in environ.split(b"\0"):
            if var.startswith(b"SSH_CONNECTION=") and var.endswith(wanted):
                found.add(pid)
                break
    return found


def is_sshd(pid):
    try:
        return os.path.realpath(os.readlink(f"/proc/{pid}/exe")) == os.path.realpath(SSHD)
    except OSError:
        return False


def kill(pids, sig=signal.SIGKILL, timeout=10):
    """Send ``sig`` to each pid and wait (up to ``timeout``) until none is alive."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted(pids)
