"""The ssh transport: reach a node from the master with nothing installed on it.

Fuel's nodes (Ubuntu 12.04/14.04, CentOS 6.5) cannot run a current salt-minion; the old tool
reached them over the Fuel master's root ssh key. mosmu does the same with salt-ssh's raw
shell (``salt.client.ssh.shell.Shell`` builds the ssh command line: key, port, user, timeouts,
options), so only POSIX ``sh``, coreutils (``base64``, ``mktemp``, ``cmp``), ``setsid`` and the
node's own apt-get/dpkg or yum/rpm are needed on the node.

- :func:`targets`: one :class:`Target` per selected node from Nailgun's data and the
  ``mosmu:ssh`` config (admin IP, root, port 22, the key; ``hosts`` overrides per node, a
  ``host`` template, ``ssh_options`` such as a jump host).
- :class:`SshExecutor`: the ``mosmu_exec`` executor over ssh. Each :meth:`~SshExecutor.batch`
  is one POSIX ``sh`` script sent on ssh's **stdin** (the remote command line is the constant
  ``sh -s``): every value in it is quoted with ``shlex.quote``, file contents travel base64
  encoded, and every result comes back base64 encoded between ``@@mosmu`` markers, so neither
  a hostile node name nor hostile package-manager output can run as a command or forge a
  result. Long steps (:meth:`~SshExecutor.run_long`) run detached on the node (``setsid
  nohup``) and are polled, so an ssh drop cannot interrupt a package manager, and a rerun
  that finds one running waits for it instead of starting a second one.
- Host keys are checked against ``known_hosts`` (``StrictHostKeyChecking=yes``; with
  ``accept_new_hostkeys``, ``accept-new``: a new node's key is recorded, a changed one is
  still refused). Connections are multiplexed (one ``ControlMaster`` per node per run, in a
  private directory); :func:`close_all` stops every master the run started.
- :class:`SshError`: one line naming the node, the cause and the fix; ``kind`` is ``auth``,
  ``hostkey``, ``unreachable`` or ``timeout``.
"""

import base64
import concurrent.futures
import contextlib
import dataclasses
import inspect
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time

import mosmu_exec
import mosmu_validate

MARK = "@@mosmu"
JOBS_DIR = "var/lib/mosmu/jobs"
POLL_FIRST, POLL_MAX = 0.5, 3.0          # seconds between polls of a detached step
RECONNECT = 120                          # seconds of lost connection tolerated while polling
# Seconds a node's idle connection master waits for the run's next command. A run reaches a
# node early (retry_failed reads its status) and again at its wave, possibly many waves
# later: within this time that costs no second connection (host key, authentication).
# Session.close() stops every master at the end of the run; only a run killed outright
# leaves them, each ending this long after its last command.
CONTROL_PERSIST = 3600
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SshError(Exception):
    """The node could not be reached (``kind``: auth, hostkey, unreachable, timeout)."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


@dataclasses.dataclass(frozen=True)
class Target:
    """How to reach one node over ssh."""

    name: str                  # node-<id>, for messages
    host: str
    port: int
    user: str
    root: str                  # the node root (``/`` on a real node)
    priv: str
    known_hosts: str
    accept_new: bool = False
    options: tuple = ()        # extra ``-o`` options (e.g. ``ProxyJump=root@10.20.0.2``)
    timeout: int = 10          # connect timeout, seconds
    command_timeout: int = 900  # one round trip, seconds

    @property
    def address(self):
        return f"{self.user}@{self.host}:{self.port}"


# -- roster ---------------------------------------------------------------------------------

def targets(nodes, ssh_cfg):
    """``{admin ip: Target}`` for the nodes, from Nailgun's fields and ``mosmu:ssh``.

    ``ssh_cfg`` is the validated ``mosmu:ssh`` section (``mosmu_config``): ``hosts`` (per
    admin IP: ``host``, ``port``, ``root``, ``user``), else ``host`` (a template of ``{ip}``,
    ``{id}``, ``{fqdn}``, ``{hostname}``; default ``{ip}``), ``port``, ``user``, ``priv``,
    ``known_hosts``, ``accept_new_hostkeys``, ``ssh_options``, ``timeout``.
    """
    out = {}
    for node in nodes:
        over = (ssh_cfg.get("hosts") or {}).get(node["ip"]) or {}
        fields = {"ip": node["ip"], "id": node["id"], "fqdn": node.get("fqdn") or "",
                  "hostname": node.get("hostname") or ""}
        host = over.get("host") or ssh_cfg["host"].format(**fields)
        try:
            host = mosmu_validate.hostname(str(host))
        except ValueError as err:
            raise ValueError(f"ssh address of node-{node['id']}: {err}; fix mosmu:ssh:host or "
                             "mosmu:ssh:hosts") from err
        out[node["ip"]] = Target(
            name=f"node-{node['id']}", host=host, port=int(over.get("port") or ssh_cfg["port"]),
            user=str(over.get("user") or ssh_cfg["user"]), root=over.get("root") or "/",
            priv=ssh_cfg["priv"], known_hosts=ssh_cfg["known_hosts"],
            accept_new=bool(ssh_cfg["accept_new_hostkeys"]),
            options=tuple(ssh_cfg["ssh_options"]), timeout=int(ssh_cfg["timeout"]),
            command_timeout=int(ssh_cfg["command_timeout"]))
    return out


# -- the ssh command line ---------------------------------------------------------------------

def _salt_shell(target, options):
    import salt.client.ssh.shell  # pylint: disable=import-outside-toplevel

    cls = salt.client.ssh.shell.Shell
    extra = {}
    if "keepalive" in inspect.signature(cls.__init__).parameters:
        extra["keepalive"] = False      # 3007+: mosmu sets ServerAlive* itself (3006 has none)
    return cls({"_ssh_version": (7, 0)}, target.host, user=target.user, port=target.port,
               priv=target.priv, timeout=target.timeout, ssh_options=list(options), **extra)


def ssh_argv(target, control_dir, remote, shell_factory=_salt_shell):
    """The ssh argv for ``remote`` (a constant string such as ``sh -s`` or ``-O exit``).

    Salt's shell builds it (key, port, user, batch mode, timeouts); mosmu adds host key
    checking against its own known_hosts and connection sharing in ``control_dir``.
    """
    options = [f"UserKnownHostsFile={target.known_hosts}",
               "StrictHostKeyChecking=" + ("accept-new" if target.accept_new else "yes"),
               "BatchMode=yes", "LogLevel=ERROR", "ServerAliveInterval=15",
               "ServerAliveCountMax=4"]
    if control_dir:
        options += ["ControlMaster=auto", f"ControlPath={control_dir}/%C",
                    f"ControlPersist={CONTROL_PERSIST}"]
    options += list(target.options)
    shell = shell_factory(target, options)
    # pylint: disable=protected-access
    return shell._split_cmd(shell._cmd_str(remote))


def classify(target, stderr, retcode):
    """:class:`SshError` for a failed ssh (exit 255), naming the cause and the fix."""
    text = (stderr or "").strip()
    last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), f"exit {retcode}")
    where = f"{target.name} ({target.address})"
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or ("Host key for" in text and \
            "has changed" in text):
        return SshError("hostkey", f"{where}: its host key changed since it was recorded in "
                        f"{target.known_hosts}; refused. If the node was reinstalled, check "
                        "its new key, then ssh-keygen -R '[host]:port' -f that file and add it")
    if "Host key verification failed" in text or "host key is known" in text:
        return SshError("hostkey", f"{where}: no host key recorded in {target.known_hosts}; "
                        "refused. Add it after checking its fingerprint (ssh-keyscan), or set "
                        "mosmu:ssh:accept_new_hostkeys: True to record new nodes' keys")
    if "Permission denied" in text or "Too many authentication failures" in text:
        return SshError("auth", f"{where} refused the key {target.priv} ({last}); add its "
                        "public key to the node's authorized_keys or fix mosmu:ssh:priv")
    if "timed out" in text.lower():
        return SshError("timeout", f"{where}: ssh timed out ({last}); is the node up and "
                        "its admin network reachable from the master?")
    return SshError("unreachable", f"{where} is unreachable over ssh ({last}); is the node "
                    "up, sshd running and the address right (mosmu:ssh:hosts)?")


# -- scripts ----------------------------------------------------------------------------------

PREAMBLE = """\
umask 022
T=$(mktemp -d "${TMPDIR:-/tmp}/mosmu-ssh.XXXXXX") || { echo "@@mosmu - fatal"; exit 0; }
trap 'rm -rf "$T"' EXIT
m() { echo "@@mosmu $*"; }
fail() { m "$1" x; base64 < "$T/err"; exit 0; }
"""


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _env_argv(argv, env):
    for name, _value in env:
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"environment variable name {name!r} is not a plain name")
    pairs = [f"{name}={value}" for name, value in env]
    return shlex.join(["env", *pairs, *argv]) if pairs else shlex.join(["env", *argv])


def op_script(index, op):
    """The ``sh`` lines of one operation; every value quoted, contents base64."""
    q, i = shlex.quote, str(index)
    if isinstance(op, mosmu_exec.Which):
        return "\n".join(
            f'if p=$(command -v {q(name)} 2>/dev/null); then m {i}.{k} y; printf %s "$p" | '
            f"base64; else m {i}.{k} n; fi" for k, name in enumerate(op.names))
    if isinstance(op, mosmu_exec.Read):
        p = q(op.path)
        return (f'if [ -e {p} ]; then base64 < {p} > "$T/o" 2>"$T/err" || fail {i}; m {i} 1; '
                f'cat "$T/o"; else m {i} 0; fi')
    if isinstance(op, mosmu_exec.List):
        p = q(op.path)
        return (f'if [ -d {p} ]; then ls -A1 {p} > "$T/o" 2>"$T/err" || fail {i}; m {i} 1; '
                f'base64 < "$T/o"; else m {i} 0; fi')
    if isinstance(op, mosmu_exec.Write):
        p, d = q(op.path), q(os.path.dirname(op.path) or "/")
        tmp = q(os.path.join(os.path.dirname(op.path), ".mosmu-tmp")) + '."$$"'
        return (f'printf %s {q(_b64(op.text))} | base64 -d > "$T/w" 2>"$T/err" || fail {i}; '
                f'if cmp -s "$T/w" {p}; then m {i} 0; else {{ mkdir -p {d} && cp "$T/w" {tmp} '
                f"&& chmod 644 {tmp} && mv -f {tmp} {p}; }} 2>\"$T/err\" || "
                f"{{ rm -f {tmp}; fail {i}; }}; m {i} 1; fi")
    if isinstance(op, mosmu_exec.Append):
        p, d = q(op.path), q(os.path.dirname(op.path) or "/")
        return (f'{{ mkdir -p {d} && printf %s {q(_b64(op.text))} | base64 -d >> {p}; }} '
                f'2>"$T/err" || fail {i}; m {i} 1')
    if isinstance(op, mosmu_exec.Remove):
        p = q(op.path)
        return (f'if [ -e {p} ] || [ -L {p} ]; then rm -f {p} 2>"$T/err" || fail {i}; m {i} 1; '
                f"else m {i} 0; fi")
    if isinstance(op, mosmu_exec.MakeDirs):
        return f'mkdir -p {q(op.path)} 2>"$T/err" || fail {i}; m {i} 1'
    if isinstance(op, mosmu_exec.TempDir):
        template = q(f"/tmp/{op.prefix}XXXXXX")  # noqa: S108 - the node's own mktemp
        return (f'd=$(mktemp -d {template} 2>"$T/err") || fail {i}; m {i} 1; '
                f'printf %s "$d" | base64')
    if isinstance(op, mosmu_exec.RemoveTree):
        return f"rm -rf {q(op.path)}; m {i} 1"
    if isinstance(op, mosmu_exec.Run):
        stop = f"; [ $r -eq 0 ] || {{ m {i} stop; exit 0; }}" if op.check else ""
        return (f'{_env_argv(op.argv, op.env)} > "$T/o" 2> "$T/e" < /dev/null; r=$?; '
                f'm {i} r $r; base64 < "$T/o"; m {i} e; base64 < "$T/e"{stop}')
    raise TypeError(f"unknown executor operation {op!r}")


def script(ops):
    return PREAMBLE + "\n".join(op_script(i, op) for i, op in enumerate(ops)) + "\nm - end\n"


def _sections(stdout):
    """``[(index, [fields]), data]`` pairs from the markers and base64 lines."""
    out, current = [], None
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith(MARK + " "):
            head = line.split()[1:]
            current = [head[0], head[1:], []]
            out.append(current)
        elif current is not None and line:
            current[2].append(line)
    return [(idx, fields, base64.b64decode("".join(data)).decode("utf-8", "replace"))
            for idx, fields, data in out]


def parse(ops, stdout, target):
    """One result per operation (None for those a failed ``check`` run stopped).

    :raise mosmu_exec.NodeIOError: a file operation failed (its stderr, the path)
    :raise SshError: the script did not end (the connection dropped mid-batch)
    """
    results = [None] * len(ops)
    runs = {}
    ended = False
    for idx, fields, data in _sections(stdout):
        if idx == "-":
            if fields == ["end"]:
                ended = True
            elif fields == ["fatal"]:
                raise mosmu_exec.NodeIOError(f"{target.name}: cannot create a temporary "
                                             "directory in /tmp on the node (full?)")
            continue
        if "." in idx:                       # Which: one section per name
            i, k = (int(x) for x in idx.split("."))
            if results[i] is None:
                results[i] = {}
            results[i][ops[i].names[k]] = data if fields == ["y"] else None
            continue
        i, op = int(idx), ops[int(idx)]
        kind = fields[0] if fields else ""
        if kind == "x":
            path = getattr(op, "path", None)
            raise mosmu_exec.NodeIOError(f"{path}: {data.strip() or 'failed'}", path)
        if isinstance(op, mosmu_exec.Run):
            if kind == "r":
                runs[i] = [int(fields[1]), data, ""]
            elif kind == "e":
                runs[i][2] = data
            if i in runs:
                results[i] = mosmu_exec.Result(*runs[i])
            if kind == "stop":
                return results
        elif isinstance(op, mosmu_exec.Read):
            results[i] = data if kind == "1" else None
        elif isinstance(op, mosmu_exec.List):
            results[i] = sorted(ln for ln in data.splitlines() if ln) if kind == "1" else []
        elif isinstance(op, mosmu_exec.TempDir):
            results[i] = data.strip()
        else:
            results[i] = kind == "1"
    if not ended:
        raise SshError("unreachable", f"{target.name} ({target.address}): the connection "
                       "dropped in the middle of a step; rerun when the node is back")
    return results


# -- detached long steps ----------------------------------------------------------------------

def _job_dir(target, job):
    return os.path.join(target.root, JOBS_DIR, job)


def start_script(job_dir, argv, env):
    """Start ``argv`` detached (``setsid nohup``): it survives the ssh connection."""
    q = shlex.quote
    runner = (f"J={q(job_dir)}\n{_env_argv(argv, env)} > \"$J/out\" 2> \"$J/err\" < /dev/null\n"
              'echo $? > "$J/rc.tmp" && mv "$J/rc.tmp" "$J/rc"\n')
    return (PREAMBLE + f"J={q(job_dir)}\n"
            f'mkdir -p "$J" 2>"$T/err" || fail 0\n'
            f'printf %s {q(_b64(runner))} | base64 -d > "$J/run.sh" 2>"$T/err" || fail 0\n'
            '(cd / && exec setsid nohup sh "$J/run.sh" > /dev/null 2>&1 < /dev/null) &\n'
            'echo $! > "$J/pid"; m 0 1\nm - end\n')


def poll_script(job_dir):
    """``done <rc>`` with out/err (and the job dir removed), ``running`` or ``lost``."""
    return (PREAMBLE + f"J={shlex.quote(job_dir)}\n"
            'if [ -f "$J/rc" ]; then m 0 done "$(cat "$J/rc")"; base64 < "$J/out"; m 0 e; '
            'base64 < "$J/err"; rm -rf "$J"\n'
            'elif [ -f "$J/pid" ] && kill -0 "$(cat "$J/pid")" 2>/dev/null; then m 0 running\n'
            "else m 0 lost; fi\nm - end\n")


def jobs_script(jobs_root):
    """One section per job dir: ``running <pid>``, ``done <rc>`` (then removed) or ``dead``."""
    return (PREAMBLE + f"R={shlex.quote(jobs_root)}\n"
            'for J in "$R"/*; do [ -d "$J" ] || continue; n=$(basename "$J")\n'
            '  if [ -f "$J/rc" ]; then m 0 done "$n" "$(cat "$J/rc")"; rm -rf "$J"\n'
            '  elif [ -f "$J/pid" ] && kill -0 "$(cat "$J/pid")" 2>/dev/null; then '
            'm 0 running "$n" "$(cat "$J/pid")"\n'
            '  else m 0 dead "$n"; rm -rf "$J"; fi\ndone\nm - end\n')


# -- the executor -----------------------------------------------------------------------------

class SshExecutor:
    """The ``mosmu_exec`` executor over ssh for one node (see the module docstring).

    :param target: a :class:`Target`
    :param control_dir: a private directory for the run's connection masters (or None)
    :param deadline: ``time.monotonic()`` after which a detached step is given up (TIMEOUT)
    :param call: ``call(argv, stdin_text, timeout) -> (retcode, stdout, stderr)``, default
        :func:`subprocess.run`; tests pass their own
    """

    transport = "ssh"

    def __init__(self, target, control_dir=None, deadline=None, call=None,
                 shell_factory=_salt_shell, sleep=time.sleep):
        self.target = target
        self.root = target.root
        self.control_dir = control_dir
        self.deadline = deadline
        self._call = call or _subprocess_call
        self._shell_factory = shell_factory
        self._sleep = sleep
        self.round_trips = 0

    def _send(self, text, timeout=None):
        argv = ssh_argv(self.target, self.control_dir, "sh -s", self._shell_factory)
        self.round_trips += 1
        try:
            retcode, out, err = self._call(argv, text, timeout or self.target.command_timeout)
        except subprocess.TimeoutExpired as exc:
            raise SshError("timeout", f"{self.target.name} ({self.target.address}): no answer "
                           f"within {exc.timeout} s; the node or its disk may hang") from exc
        if MARK not in out and retcode != 0:
            raise classify(self.target, err, retcode)
        return out

    def batch(self, ops):
        if not ops:
            return []
        return parse(ops, self._send(script(ops)), self.target)

    def one(self, op):
        return self.batch([op])[0]

    def wait_idle(self):
        """Wait while a detached step of an earlier run still runs on the node; report the
        ones that ended unwatched (their result was never read) and remove their dirs."""
        notes, waited = [], 0.0
        delay = POLL_FIRST
        while True:
            out = self._send(jobs_script(os.path.join(self.root, JOBS_DIR)), timeout=60)
            running = []
            for _idx, fields, _data in _sections(out):
                if fields[:1] == ["done"]:
                    notes.append(f"a package-manager step of an earlier run ({fields[1]}) "
                                 f"finished while no one watched (exit {fields[2]})")
                elif fields[:1] == ["dead"]:
                    notes.append(f"a package-manager step of an earlier run ({fields[1]}) "
                                 "was killed before it finished")
                elif fields[:1] == ["running"]:
                    running.append(fields[1:])
            if not running:
                return notes
            if self.deadline is not None and time.monotonic() + delay > self.deadline:
                raise mosmu_exec.NodeIOError(
                    f"a package-manager step of an earlier run ({running[0][0]}, pid "
                    f"{running[0][1]}) still runs on {self.target.name} after {int(waited)} s; "
                    "wait for it to finish, then rerun (never start a second one)")
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, POLL_MAX)

    def run_long(self, argv, env=None, job="step"):
        """Run ``argv`` detached on the node and poll until it ends; its :class:`Result`.

        A dropped connection is retried for :data:`RECONNECT` seconds while the step goes on
        on the node; past the run's deadline the step is left running and reported.
        """
        env = tuple(sorted((env or {}).items()))
        job_dir = _job_dir(self.target, f"{job}-{time.strftime('%Y%m%dT%H%M%S')}-"
                                        f"{secrets.token_hex(3)}")
        out = self._send(start_script(job_dir, list(argv), env))
        parse([mosmu_exec.MakeDirs(job_dir)], out, self.target)
        delay, lost_since = POLL_FIRST, None
        while True:
            self._sleep(delay)
            delay = min(delay * 2, POLL_MAX)
            try:
                out = self._send(poll_script(job_dir), timeout=60)
                lost_since = None
            except SshError as err:
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > RECONNECT or err.kind in ("auth", "hostkey"):
                    raise SshError(err.kind, f"{err}; the {job} goes on detached on the node: "
                                   "rerun when it is back, the rerun waits for it") from err
                continue
            sections = _sections(out)
            head = sections[0][1] if sections else []
            if head[:1] == ["done"]:
                stderr = next((d for _i, f, d in sections if f == ["e"]), "")
                return mosmu_exec.Result(int(head[1]), sections[0][2], stderr)
            if head[:1] == ["lost"]:
                raise mosmu_exec.NodeIOError(
                    f"the {job} on {self.target.name} was killed before it finished (no exit "
                    "status); rerun: mosmu completes an interrupted package manager first")
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise SshError("timeout", f"the {job} on {self.target.name} still runs after "
                               "mosmu:apply_timeout; it goes on detached: check salt-run "
                               "mosmu.status later, a rerun waits for it")

    def close(self):
        """Stop this node's connection master, if the run started one."""
        if not self.control_dir:
            return
        argv = ssh_argv(self.target, self.control_dir, "-O exit", self._shell_factory)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self._call(argv, "", 15)


def _subprocess_call(argv, stdin_text, timeout):
    proc = subprocess.run(argv, input=stdin_text, capture_output=True, text=True,
                          timeout=timeout, check=False, errors="replace")
    return proc.returncode, proc.stdout, proc.stderr


# -- a run's ssh session ----------------------------------------------------------------------

class Session:
    """The ssh side of one runner call: a private directory for the connection masters, one
    executor per node, a bounded thread pool; :meth:`close` stops every connection master.

    :param targets: ``{admin ip: Target}`` (:func:`targets`)
    :param parallel: ssh nodes worked on at once (``mosmu:ssh:parallel``)
    :param test: a dry run: with ``accept_new_hostkeys`` new keys go to a private copy of
        known_hosts, so that the master's file is not changed either
    """

    def __init__(self, targets_by_ip, parallel=16, test=False, deadline=None):
        self.control_dir = tempfile.mkdtemp(prefix="mosmu-ssh-")
        self.targets = dict(targets_by_ip)
        if test:
            for ip, target in self.targets.items():
                if target.accept_new:
                    copy = os.path.join(self.control_dir, "known_hosts")
                    if not os.path.exists(copy) and os.path.exists(target.known_hosts):
                        shutil.copyfile(target.known_hosts, copy)
                    self.targets[ip] = dataclasses.replace(target, known_hosts=copy)
        self.deadline = deadline
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=parallel,
                                                          thread_name_prefix="mosmu-ssh")
        self.executors = {}

    def executor(self, ip):
        if ip not in self.executors:
            self.executors[ip] = SshExecutor(self.targets[ip], self.control_dir, self.deadline)
        return self.executors[ip]

    def submit(self, func, *args):
        return self.pool.submit(func, *args)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)
        for executor in self.executors.values():
            executor.close()
        shutil.rmtree(self.control_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()
        return False
