"""apt-get / dpkg-query command lines restricted to the MU sources, and their output parsers.

The restriction is the old tool's: ``Dir::Etc::sourcelist=-`` plus
``Dir::Etc::sourceparts=<MU dir>`` and ``APT::Get::List-Cleanup=0`` so the node's other list
files survive. When the node root is not ``/`` (the sandbox), apt is re-rooted as
reference/APT-MIRROR.md section 2 verified: ``APT_CONFIG`` first, ``Dir``, the dpkg status
file, and ``--root`` for dpkg, or dpkg would write to the host.
"""

import os
import re

SOURCES_DIR = "etc/mosmu/sources.list.d"      # relative to the node root
SOURCES_FILE = "mosmu.list"
APT_CONF = "etc/mosmu/apt.conf"               # only written for an alternate root

_INST = re.compile(r"^Inst (\S+) (?:\[(\S+)\] )?\((\S+) ")
_APT_VERSION = re.compile(r"^apt (\d+)\.(\d+)")


def node_path(root, relpath):
    """``relpath`` inside the node root."""
    return os.path.join(root, relpath.lstrip("/"))


def alt_root_conf(root):
    """apt.conf text that re-roots apt (parsed before any ``-o``)."""
    return f'Dir "{root.rstrip("/")}/";\n'


def env(root, apt_conf=None):
    """Environment for apt-get: noninteractive, and for an alt root the apt.conf that
    re-roots apt (default: the one mosmu keeps inside the node root)."""
    out = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    if root != "/":
        out["APT_CONFIG"] = apt_conf or node_path(root, APT_CONF)
    return out


def base_options(root, sources_dir, lists_dir=None, cache_dir=None):
    """``-o`` options shared by update, upgrade and simulation.

    :param root: node root (``/`` on a real node)
    :param sources_dir: directory holding only the MU list file (absolute)
    :param lists_dir, cache_dir: private apt state (test mode), default the node's own
    """
    opts = []
    if root != "/":
        r = root.rstrip("/")
        opts += ["-o", f"Dir={r}/",
                 "-o", f"Dir::State::status={r}/var/lib/dpkg/status",
                 "-o", f"DPkg::Options::=--root={r}"]
    opts += ["-o", "Dir::Etc::sourcelist=-",
             "-o", f"Dir::Etc::sourceparts={sources_dir.rstrip('/')}/",
             "-o", "APT::Get::List-Cleanup=0",
             "-o", "DPkg::Lock::Timeout=120"]
    if lists_dir:
        opts += ["-o", f"Dir::State::Lists={lists_dir.rstrip('/')}/"]
    if cache_dir:
        opts += ["-o", f"Dir::Cache={cache_dir.rstrip('/')}/"]
    return opts


def update_argv(options):
    """``apt-get update`` of the MU sources only."""
    return ["apt-get", "-q"] + options + ["update"]


def simulate_argv(options):
    """``apt-get -s upgrade``: what would be upgraded."""
    return ["apt-get", "-q", "-s"] + options + ["upgrade"]


def upgrade_argv(options, apt_version):
    """The real upgrade: keep existing config files, never prompt.

    :param apt_version: ``(major, minor)``; apt >= 1.1 knows ``--allow-*``, older only
        ``--force-yes`` (Ubuntu 14.04 ships apt 1.0)
    """
    force = (["--allow-downgrades", "--allow-remove-essential",
              "--allow-change-held-packages"]
             if apt_version >= (1, 1) else ["--force-yes"])
    return (["apt-get", "-q", "-y"] + force + options
            + ["-o", "DPkg::Options::=--force-confdef",
               "-o", "DPkg::Options::=--force-confold", "upgrade"])


def parse_apt_version(text):
    """``apt 2.6.1 (amd64)`` -> ``(2, 6)``; ``(0, 0)`` when unknown."""
    match = _APT_VERSION.match(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def update_errors(stdout, stderr):
    """Lines of ``apt-get update`` output that mean failure even when rc is 0."""
    bad = []
    for line in (stdout + "\n" + stderr).splitlines():
        if line.startswith(("E:", "Err:")) or (
                line.startswith("W:") and ("Failed to fetch" in line
                                           or "Some index files failed" in line)):
            bad.append(line.strip())
    return bad


def parse_simulation(stdout):
    """``Inst`` lines of ``apt-get -s`` -> ``{name: {"old": v or "", "new": v}}``."""
    out = {}
    for line in stdout.splitlines():
        match = _INST.match(line)
        if match:
            name, old, new = match.groups()
            out[name] = {"old": old or "", "new": new}
    return out


def dpkg_query_argv(root):
    """Installed packages and versions in the node root."""
    argv = ["dpkg-query"]
    if root != "/":
        argv.append(f"--admindir={node_path(root, 'var/lib/dpkg')}")
    return argv + ["-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n"]


def parse_dpkg_query(stdout):
    """``{name: version}`` of installed (``ii``/``hi``...) packages."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip()[1:2] == "i":
            out[parts[0]] = parts[1]
    return out


def diff_versions(before, after):
    """``{name: {"old", "new"}}`` for every package added, removed or changed."""
    out = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, ""), after.get(name, "")
        if old != new:
            out[name] = {"old": old, "new": new}
    return out
