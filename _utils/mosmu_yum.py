"""The yum backend (dnf where the node has it): argv lists restricted to the MU repos.

As the old tool: ``--disablerepo='*' --enablerepo=mos-<repo>...`` and ``update --skip-broken``;
the ``.repo`` files live in mosmu's own directory (``--setopt=reposdir=``) so the MU repos
are never enabled for the node's ordinary yum runs. ``gpgcheck=1`` and ``repo_gpgcheck=1``
(rpms and ``repomd.xml.asc`` checked against the key file ``gpgkey=`` names) when the plan
carries a signing key; ``--nogpgcheck`` only when the operator marked the mirror ``trusted``.
For an alternate root (the sandbox), ``--installroot`` keeps rpm's database and dnf's cache,
logs and history inside the node root (reference/APT-MIRROR.md section 3).
"""

import os
import re

import mosmu_checks
import mosmu_repo

CONF_DIR = "etc/mosmu"
REPOS_DIR = "etc/mosmu/yum.repos.d"
LOCK = "var/run/yum.pid"                  # yum waits for it on its own
TRANSACTIONS = "var/lib/yum"              # transaction-all.* left by a killed yum
ALT_RELEASEVER = "7"                      # an alternate root has no release package

_CHECK_UPDATE = re.compile(r"(\S+)\.(\S+)\s+(\S+)\s+(\S+)")


def parse_check_update(stdout, repo_ids):
    """``yum check-update`` lines of the given repos -> ``{name: new version}``."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith(("Obsoleting", "Security:")):
            break
        match = _CHECK_UPDATE.fullmatch(line.strip())
        if match and match.group(4) in repo_ids:
            out[match.group(1)] = match.group(3)
    return out


def parse_rpm_query(stdout):
    """``{name: [epoch:]version-release}`` from ``rpm -qa --qf NAME\\tEPOCH:VERSION-RELEASE``."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0]:
            version = parts[1]
            if version.startswith(("(none):", "0:")):
                version = version.split(":", 1)[1]
            out[parts[0]] = version
    return out


def strip_epoch(version):
    return version.split(":", 1)[1] if ":" in version else version


class Yum:
    """yum or dnf for one node root and one plan (see ``mosmu_backend``)."""

    name = "yum"
    managers = ("dnf", "yum")
    candidates = ("dnf", "yum", "rpm", "yum-complete-transaction")
    apache = ("apache", "httpd")            # Murano dashboard fixup: user, service

    def __init__(self, root, plan, tools, private=None):
        self.tool = "dnf" if tools.get("dnf") else "yum" if tools.get("yum") else None
        if self.tool is None or not tools.get("rpm"):
            raise LookupError("neither dnf nor yum (with rpm) found on this node")
        self.complete_transaction = bool(tools.get("yum-complete-transaction"))
        self.root, self.plan, self.private = root, plan, private
        self.alt = root != "/"
        base = private or os.path.join(root, CONF_DIR)
        self.repos_dir = os.path.join(base, "yum.repos.d")
        self.key_path = os.path.join(base, mosmu_repo.KEY_FILE)
        self.repo_ids = [f"mos-{r.name}" for r in plan.repos] if plan else []
        self.excluded = ()      # held packages (versionlock): never offered, never updated

    @property
    def dirs(self):
        return [self.repos_dir]

    def files(self):
        """``{absolute path: text}``: one ``.repo`` file per MU repo, the key if any.

        ``gpgkey=file://`` names the key by its path as the running yum/dnf sees it:
        dnf 4 resolves ``file://`` URLs on the host filesystem even with ``--installroot``
        (verified, dnf 4.14: ``file:///etc/mosmu/mosmu-mu.asc`` -> "Couldn't open file"),
        so an alternate root's key is named ``file://<root>/etc/mosmu/mosmu-mu.asc``; on a
        real node (root ``/``) that is ``file:///etc/mosmu/mosmu-mu.asc``. dnf/yum ``-y``
        then import the key into the node root's rpm database (never the host's).
        """
        signed = self.plan.key and not self.plan.trusted
        out = {os.path.join(self.repos_dir, name): text for name, text in
               mosmu_repo.repo_files(self.plan, self.key_path if signed else None).items()}
        if signed:
            out[self.key_path] = self.plan.key
        return out

    def stale(self, existing):
        wanted = set(self.files())
        return sorted(p for p in existing if p not in wanted)

    def env(self):
        return {"LC_ALL": "C"}

    def _base(self):
        argv = [self.tool, "-q" if self.tool == "dnf" else "-d1",
                f"--setopt=reposdir={self.repos_dir}", "--disablerepo=*"]
        argv += [f"--enablerepo={rid}" for rid in self.repo_ids]
        argv += [f"--exclude={name}" for name in self.excluded]
        if self.alt:
            argv += [f"--installroot={self.root.rstrip('/')}", f"--releasever={ALT_RELEASEVER}"]
        if self.private:
            argv += [f"--setopt=cachedir={self.private}/cache",
                     f"--setopt=persistdir={self.private}/persist",
                     f"--setopt=logdir={self.private}/log"]
        if self.plan.trusted:
            argv.append("--nogpgcheck")
        return argv

    def private_dirs(self):
        if not self.private:
            return []
        return [os.path.join(self.private, sub) for sub in ("cache", "persist", "log")]

    def private_leftovers(self):
        """dnf 4 resolves some of cachedir/logdir inside --installroot and some on the host
        (verified: repodata on the host, expired_repos.json and dnf.log under the root), so
        test mode removes the private dir at both places."""
        if not self.private or not self.alt:
            return []
        return [os.path.join(self.root, self.private.lstrip("/"))]

    def version_argv(self):
        """None: the yum argv does not depend on the version (and ``dnf --version`` would
        write the host's hawkey.log when the node root is not ``/``)."""
        return None

    def parse_version(self, _stdout):
        return None

    def audit_argv(self):
        """A no-op listing: unfinished transactions are files, checked in ``interrupted``."""
        return None

    @property
    def journal_dir(self):
        """Where a killed yum leaves its unfinished transactions (``transaction-all.*``)."""
        return os.path.join(self.root, TRANSACTIONS)

    def interrupted(self, _audit_stdout, journal=()):
        if any(n.startswith("transaction-all") for n in journal):
            return ["an unfinished yum transaction (transaction-all.* in /var/lib/yum)"]
        return []

    def recover_argvs(self):
        if self.tool == "yum" and self.complete_transaction:
            return [["yum-complete-transaction", "-y", *self._base()[2:]]]
        return []

    def _key_import(self):
        """``-y`` where a signed plan's metadata is read: with ``repo_gpgcheck=1`` dnf must
        import the key into the repo's keyring before it can check ``repomd.xml.asc``, and
        without ``-y`` it asks "Is this ok [y/N]", reads no answer and fails with "repomd.xml
        GPG signature verification error: Bad GPG signature" (verified, dnf 4.14). The key
        is the plan's own (``gpgkey=``); the keyring lives in the (test mode: private) cache.
        """
        return ["-y"] if self.plan.key and not self.plan.trusted else []

    def refresh_argv(self):
        return [*self._base(), *self._key_import(), "makecache"]

    def refresh_errors(self, ret):
        if ret["retcode"] == 0:
            return []
        lines = [ln.strip() for ln in (ret["stderr"] + "\n" + ret["stdout"]).splitlines()
                 if ln.strip()]
        return [ln for ln in lines if ln.startswith(("Error", "Cannot", "Failed"))] or \
            lines[-1:] or [f"exit {ret['retcode']}"]

    def simulate_argv(self):
        return [*self._base(), *self._key_import(), "check-update"]

    def installed_argv(self):
        argv = ["rpm"] + ([f"--root={self.root.rstrip('/')}"] if self.alt else [])
        return [*argv, "-qa", "--qf", "%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\n"]

    def parse_installed(self, stdout):
        """Installed packages; ``gpg-pubkey`` entries are rpm's records of imported signing
        keys (dnf ``-y`` adds the plan's key on the first signed run), not packages, so they
        never show up as a package change."""
        return {name: version for name, version in parse_rpm_query(stdout).items()
                if name != "gpg-pubkey"}

    def parse_simulation(self, ret, installed=None):
        """``{name: {old, new}}`` (old from ``installed``); exit 100 means updates exist."""
        if ret["retcode"] not in (0, 100):
            raise RuntimeError(f"{self.tool} check-update failed (exit {ret['retcode']}): "
                               f"{'; '.join(self.refresh_errors(ret))}")
        new = parse_check_update(ret["stdout"], self.repo_ids)
        installed = installed or {}
        return {name: {"old": strip_epoch(installed.get(name, "")), "new": strip_epoch(v)}
                for name, v in sorted(new.items())}

    def upgrade_argv(self, _version):
        return [*self._base(), "-y", self.plan.upgrade, "--skip-broken"]

    # why an offered package can miss its version after an update that exited 0
    shortfall_reason = ("skipped by --skip-broken: a missing dependency or a conflict; see "
                        "yum/dnf check-update and the node's yum or dnf log")

    # -- what the run must respect and finish (``mosmu_finish``) -------------------------------

    # yum's and dnf's versionlock plugin lists (the plugin may be absent or disabled: mosmu
    # excludes the locked names itself, so a hold is kept whatever the node's yum config)
    hold_paths = ("etc/yum/pluginconf.d/versionlock.list", "etc/dnf/plugins/versionlock.list")

    def held(self, _installed_stdout, hold_texts=()):
        """Packages locked by versionlock (read from :attr:`hold_paths`' texts)."""
        names = set()
        for text in hold_texts:
            if text:
                names.update(mosmu_checks.versionlock_names(text))
        return sorted(names)

    def exclude(self, hold_texts):
        """Exclude the versionlocked packages from every yum/dnf call of the run."""
        self.excluded = tuple(self.held("", hold_texts))

    def files_argv(self, package):
        argv = ["rpm"] + ([f"--root={self.root.rstrip('/')}"] if self.alt else [])
        return [*argv, "-ql", package]

    def verify_argv(self, packages):
        argv = ["rpm"] + ([f"--root={self.root.rstrip('/')}"] if self.alt else [])
        return [*argv, "-V", *packages]

    @staticmethod
    def parse_verify(ret):
        """Changed files of :meth:`verify_argv`'s run (``mosmu_checks.changed_files``)."""
        return mosmu_checks.changed_files(ret, "rpm -V", mosmu_checks.rpm_verify)

    def kept_back(self, _ret):
        return []

    def downgrades(self, _ret):
        """``update`` never downgrades."""
        return []
