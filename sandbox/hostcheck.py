"""The host fingerprint: what the tests, the demo and the benchmarks must never change.

``fingerprint()`` maps each watched path (and each installed Debian package) to a digest;
``diff(before, after)`` names every path that was added, removed or changed. Watched:

- the host's packages (``dpkg-query -W``: what ``dpkg -l`` lists), one key per package;
- ``/etc/apt``, ``/etc/dnf``, ``/var/log/dpkg.log``, the dnf and hawkey logs,
  ``/var/log/mos_apply_mu*``, ``/var/lib/rpm``, ``/var/lib/dnf``, ``/var/cache/dnf``: every
  file's mode and sha256, every directory's mode, every link's target;
- in the user's home (the passwd home and ``$HOME``): ``.rpmdb`` (Debian's rpm keeps its
  database at ``~/.rpmdb``), ``.gnupg`` and ``.ssh`` the same way, and in the passwd home the
  *names* (and kinds) of its entries, not their contents (``~/.cache`` and friends change
  legitimately; a new ``~/.something`` is what a stray tool leaves).

``python -m sandbox.hostcheck -- COMMAND...`` takes the fingerprint, runs COMMAND, takes it
again and exits non-zero naming each changed path if the host changed (``make demo``, ``make
bench``); ``tests/conftest.py`` does the same around a whole pytest session (``make test``).
"""

import argparse
import glob
import hashlib
import os
import pwd
import shlex
import stat
import subprocess
import sys

SYSTEM_PATHS = (
    "/etc/apt", "/etc/dnf",
    # dpkg --root logs to the host's /var/log/dpkg.log unless told --log (a past bug)
    "/var/log/dpkg.log",
    # dnf --installroot could write the host's dnf logs, cache or rpm database
    "/var/log/dnf.log", "/var/log/dnf.rpm.log", "/var/log/dnf.librepo.log",
    "/var/log/hawkey.log", "/var/lib/rpm", "/var/lib/dnf", "/var/cache/dnf",
)
SYSTEM_GLOBS = ("/var/log/mos_apply_mu*",)
# below each home: rpm without a private _dbpath, gpg without --homedir, ssh/ssh-keygen
HOME_PATHS = (".rpmdb", ".gnupg", ".ssh")
PACKAGES = "dpkg -l"        # key prefix of the package entries
_PACKAGE_FORMAT = "${binary:Package}\t${db:Status-Abbrev}\t${Version}\n"


def passwd_home():
    """The current user's home from the passwd database (where ssh looks)."""
    return pwd.getpwuid(os.getuid()).pw_dir


def homes():
    """The homes a stray tool could write to: the passwd home and ``$HOME`` (rpm and gpg
    expand ``~`` with ``$HOME``), each once."""
    found = [passwd_home(), os.environ.get("HOME") or ""]
    return [home for i, home in enumerate(found) if home and home not in found[:i]]


def _digest(path, info):
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        return "link -> " + os.readlink(path)
    if stat.S_ISDIR(info.st_mode):
        return f"dir {mode:o}"
    if stat.S_ISREG(info.st_mode):
        sha = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        return f"file {mode:o} {sha.hexdigest()}"
    kind = "socket" if stat.S_ISSOCK(info.st_mode) else "fifo" if stat.S_ISFIFO(
        info.st_mode) else "device"
    return f"{kind} {mode:o}"


def _entry(path):
    """``{path: digest}``, or ``{}`` when the path does not exist (or vanished meanwhile)."""
    try:
        return {path: _digest(path, os.lstat(path))}
    except FileNotFoundError:
        return {}
    except PermissionError:
        return {path: "unreadable"}


def tree(path):
    """``{path: digest}`` of ``path`` and everything below it (links are not followed)."""
    out = _entry(path)
    if not out or not out[path].startswith("dir"):
        return out
    for top, dirs, files in os.walk(path):
        dirs.sort()
        for name in dirs + sorted(files):
            out.update(_entry(os.path.join(top, name)))
    return out


def home_entries(home):
    """``{path: kind}`` of the entries directly in ``home``: names and kinds, no contents."""
    try:
        names = os.listdir(home)
    except FileNotFoundError:
        return {}
    out = {}
    for name in names:
        path = os.path.join(home, name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        out[path] = ("link" if stat.S_ISLNK(info.st_mode) else
                     "dir" if stat.S_ISDIR(info.st_mode) else "file")
    return out


def packages():
    """``{"dpkg -l <package>": "<status> <version>"}`` of the host's Debian packages
    (``{}`` on a host without dpkg)."""
    try:
        proc = subprocess.run(["dpkg-query", "-W", "-f", _PACKAGE_FORMAT], capture_output=True,
                              text=True, check=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return {}
    out = {}
    for line in proc.stdout.splitlines():
        name, _tab, rest = line.partition("\t")
        status, _tab, version = rest.partition("\t")
        out[f"{PACKAGES} {name}"] = f"{status.strip()} {version}"
    return out


def fingerprint(home=None):
    """What must not change on the host: ``{path or "dpkg -l <package>": digest}``.

    :param home: the home to watch (``.rpmdb``, ``.gnupg``, ``.ssh`` and its entry names);
        default: :func:`homes` (entry names of the passwd home only). A test passes a
        temporary directory to watch instead of the real home.
    """
    out = packages()
    for path in SYSTEM_PATHS + tuple(p for g in SYSTEM_GLOBS for p in sorted(glob.glob(g))):
        out.update(tree(path))
    if home is None:
        out.update(home_entries(passwd_home()))
        watched = homes()
    else:
        out.update(home_entries(home))
        watched = [home]
    for base in watched:
        for name in HOME_PATHS:
            out.update(tree(os.path.join(base, name)))
    return out


def diff(before, after):
    """One line per changed path, sorted: ``added PATH``, ``removed PATH``, ``changed PATH``
    (a package: ``changed dpkg -l NAME (old -> new)``). Entries below an added or removed
    directory are counted on that directory's line, not listed."""
    changed = {}
    for key in set(before) | set(after):
        old, new = before.get(key), after.get(key)
        if old != new:
            changed[key] = "added" if old is None else "removed" if new is None else "changed"
    tops = {key for key, kind in changed.items()
            if kind != "changed" and (before.get(key) or after.get(key)).startswith("dir")}
    below = dict.fromkeys(tops, 0)
    lines = []
    for key in sorted(changed):
        parts = key.split("/")
        parent = next((p for p in ("/".join(parts[:i]) for i in range(1, len(parts)))
                       if p in tops), None)
        if parent is not None:
            below[parent] += 1
            continue
        lines.append(key)
    out = []
    for key in lines:
        detail = ""
        if key.startswith(PACKAGES + " "):
            detail = f" ({before.get(key)} -> {after.get(key)})"
        elif below.get(key):
            detail = f" (and {below[key]} entries below it)"
        out.append(f"{changed[key]} {key}{detail}")
    return out


def report(changes, what):
    """The message for ``changes`` (lines of :func:`diff`) made by ``what``."""
    return "\n".join([f"the host changed during {what} (it must not: give the tool a "
                      "private home, root, --homedir or _dbpath):",
                      *(f"    {line}" for line in changes)])


def main(argv=None):
    """``python -m sandbox.hostcheck -- COMMAND...``: run COMMAND; exit with its status, or 1
    when it succeeded but the host changed (each changed path named on stderr)."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.hostcheck", description=main.__doc__)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command to run: python -m sandbox.hostcheck -- COMMAND...")
    before = fingerprint()
    try:
        returncode = subprocess.run(command, check=False).returncode
    except FileNotFoundError:
        print(f"hostcheck: {command[0]}: command not found", file=sys.stderr)
        returncode = 127
    except KeyboardInterrupt:
        returncode = 130
    changes = diff(before, fingerprint())
    if changes:
        print(report(changes, shlex.join(command)), file=sys.stderr)
    if returncode < 0:
        returncode = 128 - returncode
    return returncode or (1 if changes else 0)


if __name__ == "__main__":
    sys.exit(main())
