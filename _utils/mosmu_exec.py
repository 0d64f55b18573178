"""How a node run acts on its node: the executor seam, and the local executor.

A node run (``mosmu_noderun``) never touches a node directly: it hands an executor small,
typed operations and reads their results. Two executors implement the same shape:

- :class:`LocalExecutor` (this module): the node is this machine. The execution module on a
  salt-minion uses it, running argv lists through Salt's ``cmd.run_all``.
- ``mosmu_ssh.SshExecutor``: the node is reached from the master over ssh (salt-ssh's raw
  shell). A :meth:`batch` of operations becomes one POSIX ``sh`` script sent on stdin, so a
  node run costs a handful of round trips, and nothing from the plan, the inventory or the
  node is ever pasted unquoted into a command line.

Operations (frozen dataclasses; each executor returns one result per operation):

=============  ===========================================  ==================================
operation      what it does                                 result
=============  ===========================================  ==================================
``Which``      look tools up on the node's ``PATH``          ``{name: path or None}``
``Read``       read a text file                             its text, or None when missing
``List``       names in a directory                         sorted names, ``[]`` when missing
``Write``      replace a file atomically (mode 0644), only  True when it changed
               when its text differs
``Append``     append text to a file                        True
``Remove``     remove a file (missing is fine)              True when it existed
``MakeDirs``   create a directory and its parents           True
``TempDir``    a new private directory (``mktemp -d``)      its path
``RemoveTree`` remove a directory made by ``TempDir``       True
``Run``        run an argv with extra environment           :class:`Result`
=============  ===========================================  ==================================

A file operation that fails raises :class:`NodeIOError` naming the path; a ``Run`` with
``check=True`` that exits non-zero ends the batch there (later results are None). Long
package-manager steps go through :meth:`run_long`: the ssh executor runs them detached on
the node, so that a dropped connection cannot interrupt them.
"""

import dataclasses
import os
import shutil
import tempfile


class NodeIOError(Exception):
    """A file operation on the node failed (``path`` names the file)."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


@dataclasses.dataclass(frozen=True)
class Result:
    """What a command returned."""

    retcode: int
    stdout: str = ""
    stderr: str = ""

    def __getitem__(self, key):   # the backends' parsers read ret["stdout"] etc.
        return getattr(self, key)


@dataclasses.dataclass(frozen=True)
class Which:
    names: tuple


@dataclasses.dataclass(frozen=True)
class Read:
    path: str


@dataclasses.dataclass(frozen=True)
class List:
    path: str


@dataclasses.dataclass(frozen=True)
class Write:
    path: str
    text: str


@dataclasses.dataclass(frozen=True)
class Append:
    path: str
    text: str


@dataclasses.dataclass(frozen=True)
class Remove:
    path: str


@dataclasses.dataclass(frozen=True)
class MakeDirs:
    path: str


@dataclasses.dataclass(frozen=True)
class TempDir:
    prefix: str = "mosmu-"


@dataclasses.dataclass(frozen=True)
class RemoveTree:
    path: str

    def __post_init__(self):
        if not os.path.basename(self.path.rstrip("/")).startswith("mosmu-"):
            raise ValueError(f"refusing to remove {self.path!r}: not a mosmu temporary dir")


@dataclasses.dataclass(frozen=True)
class Run:
    argv: tuple
    env: tuple = ()          # ((name, value), ...): added to the node's environment
    check: bool = False      # a non-zero exit ends the batch

    @classmethod
    def of(cls, argv, env=None, check=False):
        return cls(tuple(argv), tuple(sorted((env or {}).items())), check)


def atomic_write(path, text):
    """Replace ``path`` with ``text`` in one rename (mode 0644), creating its directory."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".mosmu-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class LocalExecutor:
    """The node is this machine.

    :param root: the node root (``/`` on a real node)
    :param run: ``run(argv, env) -> {"retcode", "stdout", "stderr"}`` without a shell
        (the module passes Salt's ``cmd.run_all``)
    :param which: ``shutil.which``-like lookup
    """

    transport = "minion"

    def __init__(self, root, run, which):
        self.root = root
        self._run = run
        self._which = which

    def batch(self, ops):
        out = []
        for op in ops:
            result = self._one(op)
            out.append(result)
            if isinstance(op, Run) and op.check and result.retcode != 0:
                out += [None] * (len(ops) - len(out))
                break
        return out

    def one(self, op):
        return self.batch([op])[0]

    def run_long(self, argv, env=None, job=None):  # pylint: disable=unused-argument
        """Run a long step in place: the minion process itself outlives no connection."""
        return self.one(Run.of(argv, env))

    def wait_idle(self):  # pylint: disable=no-self-use
        """No detached step of an earlier run can be pending here: nothing to report."""
        return []

    def close(self):
        """Nothing to release locally."""

    def _one(self, op):
        try:
            return self._dispatch(op)
        except OSError as err:
            path = getattr(op, "path", None)
            raise NodeIOError(f"{path}: {err.strerror or err}", path) from err

    def _dispatch(self, op):
        if isinstance(op, Run):
            ret = self._run(list(op.argv), dict(op.env))
            return Result(int(ret["retcode"]), ret.get("stdout") or "", ret.get("stderr") or "")
        if isinstance(op, Which):
            return {name: self._which(name) for name in op.names}
        if isinstance(op, Read):
            try:
                with open(op.path, encoding="utf-8", errors="replace") as handle:
                    return handle.read()
            except FileNotFoundError:
                return None
        if isinstance(op, List):
            try:
                return sorted(os.listdir(op.path))
            except (FileNotFoundError, NotADirectoryError):
                return []
        if isinstance(op, Write):
            try:
                with open(op.path, encoding="utf-8") as handle:
                    if handle.read() == op.text:
                        return False
            except (FileNotFoundError, UnicodeDecodeError):
                pass
            atomic_write(op.path, op.text)
            return True
        if isinstance(op, Append):
            os.makedirs(os.path.dirname(op.path), exist_ok=True)
            with open(op.path, "a", encoding="utf-8") as handle:
                handle.write(op.text)
            return True
        if isinstance(op, Remove):
            try:
                os.unlink(op.path)
                return True
            except FileNotFoundError:
                return False
        if isinstance(op, MakeDirs):
            os.makedirs(op.path, exist_ok=True)
            return True
        if isinstance(op, TempDir):
            return tempfile.mkdtemp(prefix=op.prefix)
        if isinstance(op, RemoveTree):
            shutil.rmtree(op.path, ignore_errors=True)
            return True
        raise TypeError(f"unknown executor operation {op!r}")
