"""The apt backend: apt-get / dpkg argv lists restricted to the MU sources, and parsers.

The restriction is the old tool's: ``Dir::Etc::sourcelist=-`` plus
``Dir::Etc::sourceparts=<MU dir>`` and ``APT::Get::List-Cleanup=0`` so the node's other list
files survive; pins come from mosmu's own preferences dir (holdback 1100 above the MU
suites' 1050). When the node root is not ``/`` (the sandbox), apt is re-rooted as
reference/APT-MIRROR.md section 2 verified: ``APT_CONFIG`` first, ``Dir``, the dpkg status
file, ``--root`` and ``--log`` for dpkg, or dpkg would write to the host.
"""

import os
import re

import mosmu_checks
import mosmu_repo

CONF_DIR = "etc/mosmu"                          # relative to the node root
SOURCES_DIR = "etc/mosmu/sources.list.d"
PREFERENCES_DIR = "etc/mosmu/preferences.d"
PREFERENCES_FILE = "mosmu.pref"
TRUSTED_DIR = "etc/mosmu/trusted.gpg.d"
APT_CONF = "etc/mosmu/apt.conf"                 # only written for an alternate root
LOCK = "var/lib/dpkg/lock-frontend"             # what apt waits for (DPkg::Lock::Timeout)
LOCK_TIMEOUT = 300

_INST = re.compile(r"Inst (\S+) (?:\[(\S+)\] )?\((\S+) .*")
_APT_VERSION = re.compile(r"apt (\d+)\.(\d+)\S* .*")
_KEPT_BACK = "The following packages have been kept back:"
_DOWNGRADED = "The following packages will be DOWNGRADED:"


def node_path(root, relpath):
    """``relpath`` inside the node root."""
    return os.path.join(root, relpath.lstrip("/"))


def alt_root_conf(root):
    """apt.conf text that re-roots apt (parsed before any ``-o``)."""
    return f'Dir "{root.rstrip("/")}/";\n'


def parse_apt_version(text):
    """``apt 2.6.1 (amd64)`` -> ``(2, 6)``; ``(0, 0)`` when unknown."""
    match = _APT_VERSION.fullmatch(text.strip().splitlines()[0] if text.strip() else "")
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


# ``W:`` lines that mean failure. apt < 1.1 (Ubuntu 14.04: MOS 7.0/8.0 nodes) reports a bad or
# missing signature only as a warning and exits 0; with the ``--force-yes`` it needs, the upgrade
# would then install the unauthenticated packages. A ``trusted`` plan (``[trusted=yes]``) gets
# the same warnings from every apt and goes on by design.
FAILED_WARNINGS = ("Failed to fetch", "Some index files failed")
SIGNATURE_WARNINGS = ("GPG error", "is not signed")


def update_errors(stdout, stderr, trusted=False):
    """Lines of ``apt-get update`` output that mean failure even when rc is 0.

    :param trusted: the plan skips signature checks: signature warnings are not failures
    """
    warnings = FAILED_WARNINGS if trusted else FAILED_WARNINGS + SIGNATURE_WARNINGS
    bad = []
    for line in (stdout + "\n" + stderr).splitlines():
        if line.startswith(("E:", "Err:")) or (
                line.startswith("W:") and any(text in line for text in warnings)):
            bad.append(line.strip())
    return bad


def parse_simulation(stdout):
    """``Inst`` lines of ``apt-get -s`` -> ``{name: {"old": v or "", "new": v}}``."""
    out = {}
    for line in stdout.splitlines():
        match = _INST.fullmatch(line.strip())
        if match:
            name, old, new = match.groups()
            out[name] = {"old": old or "", "new": new}
    return out


def _listed(stdout, header):
    """Package names apt listed under ``header`` (indented lines after it)."""
    names, inside = [], False
    for line in stdout.splitlines():
        if line.startswith(header):
            inside = True
        elif inside and line.startswith(" "):
            names += line.split()
        else:
            inside = False
    return sorted(names)


def parse_kept_back(stdout):
    """Package names apt listed as kept back."""
    return _listed(stdout, _KEPT_BACK)


def parse_downgraded(stdout):
    """Package names apt listed as downgraded (a pin above 1000 moves a package down to the
    MU version, e.g. when ``proposed`` is no longer among the repos); ``-s`` lists them too."""
    return _listed(stdout, _DOWNGRADED)


# ``${Status}`` (``install ok installed``, ``hold ok installed``), not ``${db:Status-Abbrev}``:
# Ubuntu 12.04's dpkg 1.16.1 (MOS 5.1.1 and 6.0 nodes) has only the former and prints an
# unknown field as nothing, which would read as "nothing installed"
INSTALLED_FORMAT = "${Package}\t${Version}\t${Status}\n"


def _dpkg_rows(stdout):
    """``(name, version, want, state)`` of each well-formed :data:`INSTALLED_FORMAT` line."""
    for line in stdout.splitlines():
        parts = line.split("\t")
        status = parts[2].split() if len(parts) == 3 else ()
        if len(status) == 3:
            yield parts[0], parts[1], status[0], status[2]


def parse_dpkg_query(stdout):
    """``{name: version}`` of installed packages (status ``installed``, held or not)."""
    return {name: version for name, version, _want, state in _dpkg_rows(stdout)
            if state == "installed"}


def parse_held(stdout):
    """Names of packages whose dpkg selection is ``hold`` (``apt-mark hold``)."""
    return sorted(name for name, _version, want, _state in _dpkg_rows(stdout)
                  if want == "hold")


class Apt:
    """apt for one node root and one plan (see ``mosmu_backend``)."""

    name = "apt"
    managers = ("apt-get",)
    candidates = ("apt-get", "dpkg", "dpkg-query")
    apache = ("horizon", "apache2")         # Murano dashboard fixup: user, service

    def __init__(self, root, plan, tools, private=None):
        missing = [t for t in self.candidates if not tools.get(t)]
        if missing:
            raise LookupError(f"{', '.join(missing)} not found on this node")
        self.root, self.plan, self.private = root, plan, private
        self.alt = root != "/"
        base = private or node_path(root, CONF_DIR)
        self.sources_dir = os.path.join(base, "sources.list.d")
        self.preferences_dir = os.path.join(base, "preferences.d")
        self.trusted_dir = os.path.join(base, "trusted.gpg.d")
        self.apt_conf = os.path.join(base, "apt.conf")

    # -- files -------------------------------------------------------------------------------

    def files(self):
        """``{absolute path: text}`` the run needs: repo files, pins, key, alt-root apt.conf."""
        out = {os.path.join(self.sources_dir, name): text
               for name, text in mosmu_repo.repo_files(self.plan).items()}
        pins = mosmu_repo.apt_preferences(self.plan)
        if pins:
            out[os.path.join(self.preferences_dir, PREFERENCES_FILE)] = pins
        if self.plan.key and not self.plan.trusted:
            out[os.path.join(self.trusted_dir, mosmu_repo.KEY_FILE)] = self.plan.key
        if self.alt:
            out[self.apt_conf] = alt_root_conf(self.root)
        return out

    def stale(self, existing):
        """Files in mosmu's dirs that the plan no longer has (e.g. a dropped repo's list)."""
        wanted = set(self.files())
        return sorted(p for p in existing if p not in wanted)

    @property
    def dirs(self):
        return [self.sources_dir, self.preferences_dir, self.trusted_dir]

    # -- argv --------------------------------------------------------------------------------

    def env(self):
        out = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
        if self.alt:
            out["APT_CONFIG"] = self.apt_conf
        return out

    def _dpkg_root(self):
        r = self.root.rstrip("/")
        return [f"--root={r}", f"--log={r}/var/log/dpkg.log"] if self.alt else []

    def options(self):
        """``-o`` options shared by every apt-get call."""
        opts = []
        if self.alt:
            r = self.root.rstrip("/")
            opts += ["-o", f"Dir={r}/", "-o", f"Dir::State::status={r}/var/lib/dpkg/status"]
            opts += [x for arg in self._dpkg_root() for x in ("-o", f"DPkg::Options::={arg}")]
        opts += ["-o", "Dir::Etc::sourcelist=-",
                 "-o", f"Dir::Etc::sourceparts={self.sources_dir}/",
                 "-o", "APT::Get::List-Cleanup=0",
                 "-o", "Dir::Etc::preferences=-",
                 "-o", f"Dir::Etc::preferencesparts={self.preferences_dir}/",
                 "-o", f"DPkg::Lock::Timeout={LOCK_TIMEOUT}"]
        if self.plan.key and not self.plan.trusted:
            opts += ["-o", f"Dir::Etc::trustedparts={self.trusted_dir}/",
                     "-o", "Dir::Etc::trusted=-"]
        if self.private:
            opts += ["-o", f"Dir::State::Lists={self.private}/lists/",
                     "-o", f"Dir::Cache={self.private}/cache/"]
        return opts

    def private_dirs(self):
        """Dirs the private (test mode) state needs before apt runs."""
        if not self.private:
            return []
        return [os.path.join(self.private, sub) for sub in
                ("lists/partial", "cache/archives/partial")]

    def private_leftovers(self):  # pylint: disable=no-self-use
        return []

    def version_argv(self):
        return ["apt-get", "--version"]

    def parse_version(self, stdout):
        return parse_apt_version(stdout)

    def audit_argv(self):
        """``dpkg --audit``: packages a killed run left half-installed or unconfigured."""
        return ["dpkg", *self._dpkg_root(), "--audit"]

    @property
    def journal_dir(self):
        """Where an interrupted dpkg leaves its journal (numbered files)."""
        return node_path(self.root, "var/lib/dpkg/updates")

    def interrupted(self, audit_stdout, journal=()):
        """Problems to recover from: dpkg's audit and an unfinished dpkg journal.

        :param audit_stdout: what ``audit_argv`` printed
        :param journal: the names in :attr:`journal_dir` (as the executor listed them)
        """
        problems, header = [], None
        for line in audit_stdout.splitlines():
            if line.startswith(" ") and line.strip():
                problems.append(f"dpkg --audit: {line.split()[0]} ({header or 'not installed'})")
            elif line.strip() and header is None:
                header = line.strip().rstrip(".").lower()
            elif not line.strip():
                header = None
        if any(n.isdigit() for n in journal):
            problems.append("dpkg was interrupted (unfinished journal in /var/lib/dpkg/updates)")
        return problems

    def recover_argvs(self):
        """What completes an interrupted run: ``dpkg --configure -a``, ``apt-get -f install``."""
        return [["dpkg", *self._dpkg_root(), "--force-confdef", "--force-confold",
                 "--configure", "-a"],
                ["apt-get", "-q", "-y", *self.options(),
                 "-o", "DPkg::Options::=--force-confdef", "-o", "DPkg::Options::=--force-confold",
                 "-f", "install"]]

    def refresh_argv(self):
        return ["apt-get", "-q", *self.options(), "update"]

    def refresh_errors(self, ret):
        errors = update_errors(ret["stdout"], ret["stderr"], trusted=self.plan.trusted)
        if ret["retcode"] != 0 and not errors:
            errors = [f"exit {ret['retcode']}"]
        return errors

    def simulate_argv(self):
        return ["apt-get", "-q", "-s", *self.options(), self.plan.upgrade]

    def parse_simulation(self, ret, installed=None):  # pylint: disable=unused-argument
        """``{name: {old, new}}`` or raise ``RuntimeError`` when apt failed."""
        if ret["retcode"] != 0:
            raise RuntimeError(f"apt-get -s {self.plan.upgrade} failed (exit {ret['retcode']})")
        return parse_simulation(ret["stdout"])

    def upgrade_argv(self, version):
        """The real upgrade: keep existing config files, never prompt.

        :param version: ``(major, minor)`` of apt; >= 1.1 knows ``--allow-*``, older only
            ``--force-yes`` (Ubuntu 14.04 ships apt 1.0)
        """
        force = (["--allow-downgrades", "--allow-remove-essential",
                  "--allow-change-held-packages"]
                 if version >= (1, 1) else ["--force-yes"])
        return (["apt-get", "-q", "-y", *force, *self.options(),
                 "-o", "DPkg::Options::=--force-confdef",
                 "-o", "DPkg::Options::=--force-confold", self.plan.upgrade])

    # why an offered package can miss its version after an upgrade that exited 0
    shortfall_reason = ("apt kept them back: a hold (apt-mark showhold) or a dependency the "
                        "upgrade cannot add; see the node's /var/log/apt/term.log")

    def kept_back(self, ret):
        return parse_kept_back(ret["stdout"])

    def downgrades(self, ret):
        """Names apt said it downgrades, from a simulation's or an upgrade's output."""
        return parse_downgraded(ret["stdout"])

    def installed_argv(self):
        argv = ["dpkg-query"]
        if self.alt:
            argv.append(f"--admindir={node_path(self.root, 'var/lib/dpkg')}")
        return [*argv, "-W", "-f", INSTALLED_FORMAT]

    def parse_installed(self, stdout):
        return parse_dpkg_query(stdout)

    # -- what the run must respect and finish (``mosmu_finish``) -------------------------------

    hold_paths = ()                         # dpkg keeps holds in its status database

    def held(self, installed_stdout, _hold_texts=()):
        """Packages the operator holds (``apt-mark hold``: dpkg's ``h`` selection), read from
        :meth:`installed_argv`'s output; ``apt-get upgrade`` keeps them back itself."""
        return parse_held(installed_stdout)

    def exclude(self, _hold_texts):
        """Nothing to exclude: apt keeps held packages back itself."""

    def files_argv(self, package):
        """The files one installed package ships (which init scripts it owns)."""
        argv = ["dpkg-query"]
        if self.alt:
            argv.append(f"--admindir={node_path(self.root, 'var/lib/dpkg')}")
        return [*argv, "-L", package]

    def verify_argv(self, packages):
        """Check the packages' files against dpkg's md5sums (``dpkg --verify``, dpkg 1.17+:
        Ubuntu 14.04; 12.04's dpkg 1.16 has no ``--verify`` and says so)."""
        root = [f"--root={self.root.rstrip('/')}"] if self.alt else []
        return ["dpkg", *root, "--verify", *packages]

    @staticmethod
    def parse_verify(ret):
        """Changed files of :meth:`verify_argv`'s run (``mosmu_checks.changed_files``)."""
        return mosmu_checks.changed_files(ret, "dpkg --verify", mosmu_checks.dpkg_verify)
