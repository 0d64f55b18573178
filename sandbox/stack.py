"""Start and stop the sandbox: Fuel API stand-in, rsync daemon, HTTP web root, salt-master,
one salt-minion per node, and one alternate filesystem root per node.

Everything binds to 127.0.0.1 on free ports. Inventory addresses (10.20.0.x) are data: the
minions only carry them as their ``ipv4`` grain. State lives in ``DIR/sandbox.json``;
``down`` stops every process whose command line names DIR and removes DIR.

The upstream mirror (``DIR/upstream``, rsync module ``mirror``) holds one tree per catalog row
an environment uses (``build_tree``: apt rows via ``debrepo``, yum rows via ``rpmrepo``), signed
with a throwaway key in ``DIR/gpg`` (:class:`Signer`; public key ``DIR/gpg/upstream.asc``, which
the master config names as ``mosmu:mirror_key``, so nodes trust that key only). Node
roots start with the GA packages of their distro: dpkg for Ubuntu nodes, an rpm database for
CentOS nodes (``reset_node`` re-creates one for another layout).

``up(ssh_nodes=K)`` adds K nodes without a minion to each environment (``inventory.default``):
each has a node root like a minion's and its own real ``sshd`` on 127.0.0.1 (``sshd``
module: throwaway client key, per-node host key, ``DIR/ssh/known_hosts``); the master config
gets ``mosmu:transport: auto`` and ``mosmu:ssh`` (key, known_hosts, per-admin-IP
``{host, port, root}``). ``stop_sshd``/``kill_sshd``/``start_sshd``/``rotate_host_key`` are
the fault helpers, ``ssh_argv`` runs a command on such a node.

``up(realistic=True)`` (opt-in, ``--realistic`` on the CLI) makes node work take real time:
the ``updates`` packages of every tree carry ``REALISTIC_BYTES`` of incompressible data per
node's package set (built once per sandbox), and every node root limits its package
downloads to ``DL_LIMIT_KB`` KB/s (100 Mbit/s, a node's own link): apt
``Acquire::http::Dl-Limit`` in ``<root>/etc/apt/apt.conf.d/`` (mosmu's alternate-root apt
reads the root's ``apt.conf.d``), dnf ``throttle`` in ``<root>/etc/dnf/dnf.conf`` (dnf
``--installroot`` reads the root's config first).
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

import yaml

from . import debrepo, rpmrepo, services, sshd
from . import inventory as inventory_mod

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.join(REPO, "_utils") not in sys.path:      # mosmu_catalog, as Salt loads it
    sys.path.insert(0, os.path.join(REPO, "_utils"))
import mosmu_catalog  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(os.path.abspath(sys.executable))
TOOLS = {"rsync": "rsync", "dpkg-deb": "dpkg-dev", "apt-ftparchive": "apt-utils",
         "apt-get": "apt", "dpkg": "dpkg", "dpkg-query": "dpkg"}
YUM_TOOLS = {"rpm": "rpm", "rpmbuild": "rpm", "createrepo_c": "createrepo-c", "dnf": "dnf"}
READY_TIMEOUT = 180
DISTROS = {"ubuntu": {"module": debrepo, "grains": {}},
           "centos": {"module": rpmrepo, "grains": {"os_family": "RedHat", "os": "CentOS"}}}
# What nodes start with ("ga") and what each MU repo publishes, per distro (tests read this).
PACKAGE_VERSIONS = {
    "ubuntu": dict({"ga": debrepo.GA_VERSIONS}, **debrepo.REPO_VERSIONS),
    "centos": dict({"ga": rpmrepo.GA_VERSIONS}, **rpmrepo.REPO_VERSIONS),
}


REALISTIC_BYTES = 50 * 1024 * 1024     # a node's MU package set with realistic=True
DL_LIMIT_KB = 12500                      # KB/s per node with realistic=True (100 Mbit/s)
APT_LIMIT_CONF = "etc/apt/apt.conf.d/90mosmu-sandbox-bandwidth"
DNF_CONF = "etc/dnf/dnf.conf"
# Debian's /etc/dnf/dnf.conf (what dnf --installroot read before the root had its own), plus
# the per-node bandwidth limit
DNF_CONF_TEXT = """\
# mosmu sandbox, realistic node work: this node's link (dnf --installroot reads this first)
[main]
gpgcheck=True
installonly_limit=3
clean_requirements_on_remove=True
best=False
skip_if_unavailable=True
throttle={limit}k
"""


# What the sandbox master serves from this checkout (file_roots): loader dirs, formula, orch.
FORMULA_DIRS = ("_modules", "_output", "_runners", "_states", "_utils", "mosmu", "orch")


class SandboxError(Exception):
    """The sandbox could not be started or used; the message says why and what to do."""


class Signer:
    """A throwaway OpenPGP key (ed25519, no passphrase) in its own gpg home that signs the
    sandbox's upstream trees: apt ``InRelease``/``Release.gpg``, yum ``repomd.xml.asc`` and
    the rpms themselves. Every gpg call names ``--homedir``; the user's ``~/.gnupg`` is
    never read or written. gpg starts a ``gpg-agent`` for the home: :meth:`close` stops it.

    :param home: the gpg home (created by :meth:`ensure`); ``<home>/upstream.asc`` is the
        armoured public key
    """

    UID = "MOS sandbox upstream <upstream@mosmu.invalid>"

    def __init__(self, home, uid=UID):
        self.home = os.path.abspath(home)
        self.uid = uid
        self.public_key = os.path.join(self.home, "upstream.asc")

    def _gpg(self, *args, data=None):
        proc = subprocess.run(["gpg", "--homedir", self.home, "--batch", "--quiet",
                               "--no-tty", "--yes", *args], input=data, capture_output=True,
                              check=False)
        if proc.returncode != 0:
            raise SandboxError(f"gpg {' '.join(args[:2])} in {self.home} failed (exit "
                               f"{proc.returncode}): {proc.stderr.decode(errors='replace')}")
        return proc.stdout

    def ensure(self):
        """Generate the key and export ``upstream.asc`` unless they exist; return self."""
        if os.path.isfile(self.public_key):
            return self
        _check_tools({"gpg": "gnupg", "gpgv": "gpgv"})
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        os.chmod(self.home, 0o700)
        self._gpg("--passphrase", "", "--quick-gen-key", self.uid, "ed25519", "sign", "never")
        key = self._gpg("--armor", "--export", self.fingerprint)
        _write(f"{self.public_key}.new", key.decode("ascii"))
        os.replace(f"{self.public_key}.new", self.public_key)
        return self

    @property
    def fingerprint(self):
        out = self._gpg("--with-colons", "--list-secret-keys", self.uid).decode()
        return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))

    def clearsign(self, data):
        """``InRelease`` of a Release (bytes in, bytes out)."""
        return self._gpg("--local-user", self.uid, "--digest-algo", "SHA256", "--clearsign",
                         data=data)

    def detach_sign(self, data):
        """An armoured detached signature (``Release.gpg``, ``repomd.xml.asc``)."""
        return self._gpg("--local-user", self.uid, "--digest-algo", "SHA256", "--armor",
                         "--detach-sign", data=data)

    def rpmsign_argv(self, dbpath):
        """``rpmsign --addsign`` with this key; ``dbpath`` a private rpm database dir
        (Debian's rpm would otherwise open ``~/.rpmdb``). ``__gpg``: Debian's rpm names a
        ``gpg2`` binary that Debian does not ship."""
        return ["rpmsign", "--define", f"__gpg {shutil.which('gpg') or 'gpg'}",
                "--define", f"_gpg_name {self.uid}", "--define", f"_gpg_path {self.home}",
                "--define", f"_dbpath {dbpath}", "--addsign"]

    def close(self):
        """Stop the gpg-agent gpg started for this home (nothing if none runs)."""
        if os.path.isdir(self.home) and shutil.which("gpgconf"):
            subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "gpg-agent"],
                           capture_output=True, check=False)


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
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


def _yaml(path, data, mode=0o644):
    _write(path, yaml.safe_dump(data, default_flow_style=False, sort_keys=True), mode)


def env_rows(inv, catalog=None):
    """``[(distro, mos_version), ...]`` of the inventory's environments, from their releases
    (the same rule the runner uses), in cluster order, without duplicates."""
    releases = {r["id"]: r for r in inv["releases"]}
    out = []
    for cluster in inv["clusters"]:
        release = releases.get(cluster["release_id"])
        if release is None:
            raise SandboxError(f"cluster {cluster['id']}: release {cluster['release_id']} "
                               "is not in the inventory")
        key = (mosmu_catalog.distro_of_release(release),
               mosmu_catalog.mos_version_of_release(release))
        (catalog or mosmu_catalog.Catalog()).get(*key)      # ValueError names what is known
        if key not in out:
            out.append(key)
    return out


def node_root_skeleton(root):
    """The directories apt and dpkg expect on a Debian/Ubuntu system."""
    for sub in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers",
                "var/lib/dpkg/alternatives", "var/lib/apt/lists/partial",
                "var/cache/apt/archives/partial", "var/log/apt", "etc/apt/apt.conf.d",
                "etc/apt/preferences.d", "etc/apt/trusted.gpg.d", "etc/apt/sources.list.d",
                "etc/dpkg/dpkg.cfg.d", "usr/bin", "tmp"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for name in ("status", "available"):
        open(os.path.join(root, "var/lib/dpkg", name), "a", encoding="utf-8").close()


class Sandbox:
    """A sandbox rooted at ``directory`` (see the module docstring)."""

    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self.state_path = os.path.join(self.dir, "sandbox.json")
        self.state = {}
        self._procs = []  # children of this process, reaped on down()
        if os.path.exists(self.state_path):
            with open(self.state_path, encoding="utf-8") as handle:
                self.state = json.load(handle)

    # -- paths and commands ------------------------------------------------------------------

    @property
    def config_dir(self):
        return os.path.join(self.dir, "salt", "etc")

    def node_root(self, minion_id):
        return os.path.join(self.dir, "nodes", minion_id)

    def salt_argv(self, tool, *args):
        """argv of a salt CLI tool against this sandbox's master config."""
        return [os.path.join(BIN, tool), "-c", self.config_dir, *args]

    def run_salt(self, tool, *args, check=True, timeout=600):
        proc = subprocess.run(self.salt_argv(tool, *args), capture_output=True, text=True,
                              check=False, timeout=timeout)
        if check and proc.returncode != 0:
            raise SandboxError(f"{tool} {' '.join(args)} failed (exit {proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        return proc

    # -- upstream trees and node roots --------------------------------------------------------

    @property
    def upstream_dir(self):
        return os.path.join(self.dir, "upstream")

    @property
    def signer(self):
        """The :class:`Signer` of this sandbox's upstream (``DIR/gpg``), key made on first use."""
        return Signer(os.path.join(self.dir, "gpg")).ensure()

    def build_tree(self, distro, version=None, repo_versions=None):
        """Build (idempotently) the upstream tree of a catalog row; return its path.

        Callable on a running sandbox: the rsync daemon serves the new tree at once. Every
        tree is signed by :attr:`signer` (re-signed whenever an index changes).

        :param distro: ``ubuntu``/``centos`` with ``version``, or a ``mosmu_catalog.Tree``
            (e.g. a made-up row from ``mosmu_catalog.Catalog(overrides).get(...)``)
        :param version: MOS version of the built-in row (``8.0``, ``6.1``, ``9.2-mu-3``...)
        :param repo_versions: ``{repo: {package: version}}`` instead of
            ``PACKAGE_VERSIONS[distro]`` (without its ``ga`` entry)
        :returns: ``<upstream>/<tree.upstream>``
        """
        tree = _tree(distro, version)
        payload = self._payload(tree, repo_versions)
        if tree.backend == "yum":
            _check_tools(YUM_TOOLS)
            _check_tools({"rpmsign": "rpm"})
            path = rpmrepo.build_tree(self.upstream_dir, tree, repo_versions,
                                      pool=os.path.join(self.dir, "packages", "rpm-pool"),
                                      signer=self.signer, payload=payload)
        else:
            path = debrepo.build_tree(self.upstream_dir, tree, repo_versions,
                                      signer=self.signer, payload=payload)
        built = self.state.setdefault("trees", [])
        if tree.name not in built:
            built.append(tree.name)
            if os.path.exists(self.state_path):
                self._save()
        return path

    @property
    def realistic(self):
        """Whether this sandbox was started with realistic node work (``up(realistic=True)``)."""
        return bool(self.state.get("realistic"))

    def _payload(self, tree, repo_versions=None):
        """Bytes of random data per ``updates`` package of ``tree`` (0 unless realistic): a
        node's whole package set is ``REALISTIC_BYTES``."""
        if not self.realistic:
            return 0
        if repo_versions is None:
            repo_versions = PACKAGE_VERSIONS.get(tree.distro, {})
        count = len(repo_versions.get("updates") or {})
        return REALISTIC_BYTES // count if count else 0

    def limit_bandwidth(self, root, distro):
        """Give a node root its own download limit (``DL_LIMIT_KB`` KB/s): apt's
        ``Acquire::http::Dl-Limit`` for Ubuntu, dnf's ``throttle`` for CentOS."""
        if distro == "centos":
            _write(os.path.join(root, DNF_CONF), DNF_CONF_TEXT.format(limit=DL_LIMIT_KB))
        else:
            _write(os.path.join(root, APT_LIMIT_CONF),
                   "// mosmu sandbox, realistic node work: this node's link (KB/s)\n"
                   f'Acquire::http::Dl-Limit "{DL_LIMIT_KB}";\n')

    def ga_packages(self, distro):
        """Paths of the GA package files (``PACKAGE_VERSIONS[distro]["ga"]``) nodes start
        with; built once into ``DIR/packages/<distro>-ga``."""
        outdir = os.path.join(self.dir, "packages", f"{distro}-ga")
        if distro not in DISTROS:
            raise SandboxError(f"no GA packages for distro {distro!r}; choose from "
                               f"{', '.join(DISTROS)}")
        return DISTROS[distro]["module"].build_ga(outdir)

    def ceph_packages(self, distro):
        """Paths of the Ceph GA package files (``CEPH_GA_VERSIONS``) of ``services.ceph_node``
        nodes; built once into ``DIR/packages/<distro>-ga``."""
        module = DISTROS[distro]["module"]
        return module.build_ga(os.path.join(self.dir, "packages", f"{distro}-ga"),
                               module.CEPH_GA_VERSIONS)

    def make_node_root(self, root, distro, version=None, roles=(), hosts=None):
        """Create a node root with the GA packages of a layout installed in it, its
        services running.

        :param root: the directory to create (must not hold another node)
        :param distro: ``ubuntu``/``centos`` with ``version``, or a ``mosmu_catalog.Tree``
        :param roles: the node's Nailgun roles (which tool stand-ins it gets, and with
            ``hosts``, whether it has Ceph: ``services.ceph_node``)
        :param hosts: ``{fqdn: roles}`` of its environment's deployed nodes (what the
            Pacemaker and OpenStack stand-ins list); see ``services.install``

        Ubuntu: the dpkg/apt skeleton and ``dpkg --root=R --log=R/var/log/dpkg.log -i``;
        ``etc/apt/sources.list`` names the row's GA suite when it has one. CentOS:
        ``rpm --root=R --initdb`` then ``rpm --root=R -i --nodeps`` (see ``rpmrepo``). In a
        realistic sandbox the root also gets its download limit (:meth:`limit_bandwidth`).
        Then ``services.install`` (unowned init scripts, tool stand-ins, ``root/openrc``) and
        every service of the root is started (``services.start_all``).
        """
        tree = _tree(distro, version) if version or not isinstance(distro, str) else None
        distro = tree.distro if tree else distro
        ceph = services.ceph_node(roles, hosts) and distro in DISTROS
        if distro == "centos":
            _check_tools(YUM_TOOLS)
            try:
                rpmrepo.init_root(root, self.ga_packages("centos") +
                                  (self.ceph_packages("centos") if ceph else []))
            except RuntimeError as err:
                raise SandboxError(f"CentOS node root {root}: {err}") from err
        elif distro == "ubuntu":
            self._ubuntu_root(root, tree, ceph)
        else:
            raise SandboxError(f"no node roots for distro {distro!r}")
        if self.realistic:
            self.limit_bandwidth(root, distro)
        services.install(root, roles, hosts, version=tree.version if tree else None,
                         distro=distro)
        try:
            services.start_all(root)
        except services.ServiceError as err:
            raise SandboxError(str(err)) from err

    def _ubuntu_root(self, root, tree, ceph=False):
        """An Ubuntu node root: dpkg/apt skeleton, sources.list, GA debs installed (and the
        Ceph ones with ``ceph``)."""
        node_root_skeleton(root)
        ga = debrepo.ga_suite(tree) if tree else None
        if ga and "http" in self.state.get("ports", {}):
            _write(os.path.join(root, "etc/apt/sources.list"),
                   f"deb http://127.0.0.1:{self.state['ports']['http']}/{tree.path} {ga} "
                   f"{tree.components.split()[0]}\n")
        proc = subprocess.run(["dpkg", f"--root={root}",
                               f"--log={os.path.join(root, 'var/log/dpkg.log')}", "-i",
                               *self.ga_packages("ubuntu"),
                               *(self.ceph_packages("ubuntu") if ceph else [])],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SandboxError(f"dpkg --root={root} -i failed: {proc.stderr.strip()}")

    def reset_node(self, minion_id, distro=None, version=None):
        """Wipe a node's root and re-create it with the GA packages of a layout.

        :param minion_id: a minion or an ssh node (fqdn) of this sandbox
        :param distro: ``ubuntu``/``centos`` or a ``mosmu_catalog.Tree`` (default: the
            node's current layout); the layout's upstream tree is built too
        :param version: MOS version of the layout (default: the node's current one)
        :returns: the node's state entry (``ip``, ``root``, ``distro``, ``version``,
            ``env``; ssh nodes also ``port``). The root's service daemons are stopped first
            and the new root's started. When a minion's distro changes, that minion is
            restarted with the other distro's grains (``os_family``/``os``) and waited for;
            an ssh node's sshd is left running (its root path does not change), and no
            minion is restarted for it.
        """
        info = self.state.get("minions", {}).get(minion_id)
        ssh_node = info is None and minion_id in self.state.get("ssh_nodes", {})
        if ssh_node:
            info = self.state["ssh_nodes"][minion_id]
        if info is None:
            raise SandboxError(f"{minion_id} is not a minion or ssh node of the sandbox in "
                               f"{self.dir}")
        if isinstance(distro, mosmu_catalog.Tree):
            tree = distro
        else:
            tree = _tree(distro or info["distro"], version or info["version"])
        self.build_tree(tree)
        root = info["root"]
        services.stop_all(root)
        shutil.rmtree(root, ignore_errors=True)
        self.make_node_root(root, tree, **self._cloud_of(minion_id))
        restart = tree.distro != info["distro"] and not ssh_node
        info.update(distro=tree.distro, version=tree.version)
        self._save()
        if restart:
            self._restart_minion(minion_id)
        return info

    def _minion_config(self, minion_id, info, index):
        cfg_dir = os.path.join(self.dir, "salt", "minions", minion_id)
        short = f"n{index}"
        ports = self.state["ports"]
        _yaml(os.path.join(cfg_dir, "minion"), {
            "id": minion_id, "master": "127.0.0.1", "master_port": ports["salt_ret"],
            "publish_port": ports["salt_publish"], "user": _user(),
            "root_dir": os.path.join(self.dir, "salt", short),
            "sock_dir": os.path.join(self.dir, "run", short),
            "log_file": os.path.join(self.dir, "logs", f"minion-{minion_id}.log"),
            "log_level_logfile": "info", "enable_fqdns_grains": False,
            "grains": dict(DISTROS[info["distro"]]["grains"], ipv4=[info["ip"]],
                           mosmu_sandbox=True),
            "mosmu": {"root": info["root"]}})
        return cfg_dir

    def _start_minion(self, minion_id):
        info = self.state["minions"][minion_id]
        cfg_dir = self._minion_config(minion_id, info, info["index"])
        # HOME pinned: Debian's rpm finds a node's database at <root>/<HOME>/.rpmdb
        self._spawn(f"minion-{minion_id}", [os.path.join(BIN, "salt-minion"), "-c", cfg_dir,
                                            "-l", "quiet"], env=rpmrepo.rpm_env())

    def _restart_minion(self, minion_id):
        pid = self.state.get("pids", {}).get(f"minion-{minion_id}")
        if pid and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            for proc in self._procs:
                if proc.pid == pid:
                    proc.wait(timeout=30)
            wait_for(lambda: not _alive(pid), f"{minion_id} to stop", timeout=30)
        self._start_minion(minion_id)
        wait_for(lambda: minion_id in self._pinged(), f"{minion_id} to answer")
        self.run_salt("salt", minion_id, "saltutil.sync_all", "--out=json")
        self.run_salt("salt", minion_id, "saltutil.refresh_grains", "--out=json")
        family = DISTROS[self.state["minions"][minion_id]["distro"]]["grains"].get("os_family")
        wait_for(lambda: self._cached_family(minion_id, family), "the master's grains cache")

    def _cached_family(self, minion_id, family):
        proc = self.run_salt("salt-run", "cache.grains", f"tgt={minion_id}", "--out=json",
                             check=False)
        try:
            grains = json.loads(proc.stdout or "{}").get(minion_id) or {}
        except ValueError:
            return False
        return family is None or grains.get("os_family") == family

    def _spawn(self, name, argv, env=None):
        log_path = os.path.join(self.dir, "logs", f"{name}.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    cwd=self.dir, env=env)
        self._procs.append(proc)
        self.state.setdefault("pids", {})[name] = proc.pid
        self._save()
        return proc

    def _save(self):
        _write(self.state_path, json.dumps(self.state, indent=2, sort_keys=True))

    # -- ssh nodes (no minion: a real sshd on 127.0.0.1 each) --------------------------------

    @property
    def ssh_dir(self):
        """``DIR/ssh``: client key, ``authorized_keys``, ``known_hosts``, one dir per node."""
        return os.path.join(self.dir, "ssh")

    def ssh_node(self, fqdn):
        """The state entry of an ssh node: ``ip``, ``root``, ``env``, ``distro``,
        ``version``, ``port``, ``index``."""
        info = self.state.get("ssh_nodes", {}).get(fqdn)
        if info is None:
            raise SandboxError(f"{fqdn} is not an ssh node of the sandbox in {self.dir}")
        return info

    def _sshd(self, fqdn):
        return sshd.SshdNode(self.ssh_dir, fqdn, self.ssh_node(fqdn)["port"],
                             os.path.join(self.dir, "logs", f"sshd-{fqdn}.log"))

    def _listener(self, fqdn):
        """The pid of the node's listening sshd, or None (a stale pid is never trusted)."""
        pid = self.state.get("pids", {}).get(f"sshd-{fqdn}")
        if not pid or not _alive(pid):
            return None
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            return None
        return pid if self._sshd(fqdn).config.encode() in cmdline else None

    def _reap(self, fqdn, pid, timeout=30):
        """Wait for the node's stopped listener to be gone, then forget its pid (``down``
        signals the process group of every recorded pid: a reused one must not be there)."""
        for proc in self._procs:
            if proc.pid == pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=timeout)
        wait_for(lambda: not _alive(pid), f"the sshd of {fqdn} to stop", timeout=timeout,
                 every=0.05)
        if self.state.get("pids", {}).get(f"sshd-{fqdn}") == pid:
            del self.state["pids"][f"sshd-{fqdn}"]
            self._save()

    def add_ssh_node(self, fqdn, ip, distro="ubuntu", version=None, env=None, make_root=True):
        """Add a node reached over ssh, without a minion, and start its sshd.

        Works on a sandbox that is not up (no salt-master needed), e.g. to test the sshd
        alone; ``up(ssh_nodes=K)`` calls it for each ssh node before the master starts.

        :param fqdn: the node's name (its files: ``DIR/ssh/<fqdn>/``, ``DIR/nodes/<fqdn>``)
        :param ip: its admin IP (data only: nothing connects to it)
        :param distro: ``ubuntu``/``centos`` (with ``version``, the node root's layout)
        :param env: its environment (cluster id), recorded only
        :param make_root: create the node root with the GA packages (:meth:`make_node_root`);
            False leaves an empty directory
        :returns: the node's state entry (:meth:`ssh_node`)
        """
        _check_ssh_tools()
        nodes = self.state.setdefault("ssh_nodes", {})
        if fqdn in nodes or fqdn in self.state.get("minions", {}):
            raise SandboxError(f"{fqdn} is already a node of the sandbox in {self.dir}")
        root = self.node_root(fqdn)
        if make_root:
            self.make_node_root(root, distro, version, **self._cloud_of(fqdn))
        else:
            os.makedirs(root, exist_ok=True)
        nodes[fqdn] = {"ip": ip, "root": root, "env": env, "distro": distro,
                       "version": version, "port": free_ports(1)[0], "index": len(nodes)}
        key = sshd.ClientKey(self.ssh_dir)
        self.state["ssh"] = {"priv": key.priv, "known_hosts": key.known_hosts,
                             "authorized_keys": key.authorized_keys}
        self._save()
        try:
            self._sshd(fqdn).prepare()
        except sshd.SshdError as err:
            raise SandboxError(str(err)) from err
        self.start_sshd(fqdn)
        return nodes[fqdn]

    def start_sshd(self, fqdn):
        """Start the node's sshd (same port, same host key) and wait until it listens;
        return its pid (the running one's if it already listens)."""
        node = self._sshd(fqdn)
        pid = self._listener(fqdn)
        if pid and sshd.listening(node.port):
            return pid
        try:
            node.check()
            return node.start(spawn=self._spawn)
        except sshd.SshdError as err:
            raise SandboxError(str(err)) from err

    def sshd_sessions(self, fqdn):
        """Pids of the sshd sessions still open on an ssh node (not its listener)."""
        return self._sshd(fqdn).session_pids(self._listener(fqdn))

    def stop_sshd(self, fqdn, timeout=30):
        """SIGTERM the node's listening sshd only and wait until its port is closed.
        Established sessions live on, as on a real host. Returns the pid stopped (or None
        when none ran)."""
        node = self._sshd(fqdn)
        pid = self._listener(fqdn)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            self._reap(fqdn, pid, timeout)
        wait_for(lambda: not sshd.listening(node.port), f"port {node.port} of {fqdn} to close",
                 timeout=timeout, every=0.05)
        return pid

    def kill_sshd(self, fqdn, timeout=30):
        """SIGKILL the node's listening sshd and every sshd session process of that node
        (found from /proc: the listener's sshd descendants and the sshd processes holding an
        accepted socket of its port, so sessions a stopped listener left are included).
        The commands those sessions ran are not signalled (as ``kill -9`` of sshd on a real
        host); ``down`` stops them. Returns the sorted pids killed."""
        node = self._sshd(fqdn)
        listener = self._listener(fqdn)
        sessions = node.session_pids(listener)
        sshd.kill(sessions, signal.SIGKILL, timeout)    # first, so the listener reaps them
        if listener:
            sshd.kill({listener}, signal.SIGKILL, timeout)
            self._reap(fqdn, listener, timeout)
        pids = sessions | ({listener} if listener else set())
        wait_for(lambda: not sshd.listening(node.port), f"port {node.port} of {fqdn} to close",
                 timeout=timeout, every=0.05)
        return sorted(pids)

    def rotate_host_key(self, fqdn):
        """Give the node a new host key and restart its sshd with it; ``known_hosts`` keeps
        the old key, so clients that verify host keys now refuse the node. Returns the new
        public key line."""
        self.stop_sshd(fqdn)
        try:
            public = self._sshd(fqdn).prepare(new_host_key=True, trust=False)
        except sshd.SshdError as err:
            raise SandboxError(str(err)) from err
        self.start_sshd(fqdn)
        return public

    def ssh_argv(self, fqdn, *remote):
        """A plain ``ssh`` argv running ``remote`` (an argv, each word shell-quoted) on the
        node as root: ``-F /dev/null``, the sandbox key, ``UserKnownHostsFile=DIR/ssh/
        known_hosts``, ``StrictHostKeyChecking=yes``, ``BatchMode=yes``, ``-p PORT
        root@127.0.0.1``."""
        return sshd.ClientKey(self.ssh_dir).argv(self.ssh_node(fqdn)["port"], *remote)

    def _ssh_pids(self):
        """Every process of this sandbox's sshds: listeners, sessions, what they ran."""
        out = set()
        for fqdn in self.state.get("ssh_nodes", {}):
            out |= self._sshd(fqdn).all_pids(self._listener(fqdn))
        return out - _ancestors()

    def _start_ssh_nodes(self, inv, ssh_nodes):
        """Make the chosen nodes of ``inv`` ssh nodes (:func:`ssh_choice`), sshd started."""
        chosen = ssh_choice(inv, ssh_nodes)
        for fqdn, ip, env, distro, version in self._nodes(inv):
            if fqdn in chosen:
                self.add_ssh_node(fqdn, ip, distro=distro, version=version, env=env)

    # -- up ----------------------------------------------------------------------------------

    def up(self, nodes=3, centos_nodes=2, inventory=None, realistic=False, ssh_nodes=0):
        """Start everything; return the state dict (ports, commands, minions, ssh_nodes,
        trees).

        :param nodes: Ubuntu minion nodes of environment 1 (MOS 8.0)
        :param centos_nodes: CentOS minion nodes of environment 2 (MOS 6.1); 0 for none
        :param inventory: an inventory dict instead of ``inventory.default(nodes,
            centos_nodes, ssh_nodes)``
        :param realistic: realistic node work: ``updates`` packages of ``REALISTIC_BYTES``
            per node, each node root limited to ``DL_LIMIT_KB`` KB/s (module docstring)
        :param ssh_nodes: K nodes without a minion in each environment (the default
            inventory adds them after the minion nodes), each with its own sshd; or, with
            ``inventory``, the fqdns to reach over ssh (see :func:`ssh_choice`)
        """
        inv = inventory or inventory_mod.default(
            nodes, centos_nodes, ssh_nodes=ssh_nodes if isinstance(ssh_nodes, int) else 0)
        try:
            rows = env_rows(inv)
        except ValueError as err:
            raise SandboxError(f"inventory: {err}") from err
        _check_tools(TOOLS)
        if any(d == "centos" for d, _v in rows) or any(
                n.get("os_platform") == "centos" for n in inv["nodes"]):
            _check_tools(YUM_TOOLS)
        if ssh_choice(inv, ssh_nodes):
            _check_ssh_tools()
        if self.state:
            raise SandboxError(f"a sandbox is already up in {self.dir}; run "
                               f"python -m sandbox down --dir {self.dir} first")
        if os.path.exists(self.dir) and os.listdir(self.dir):
            raise SandboxError(f"{self.dir} exists and is not empty; give a new --dir")
        os.makedirs(self.dir, exist_ok=True)
        names = ("keystone", "nailgun", "http", "rsync", "salt_publish", "salt_ret")
        ports = dict(zip(names, free_ports(len(names))))
        self.state = {"dir": self.dir, "ports": ports, "pids": {}, "trees": [],
                      "realistic": bool(realistic)}
        self._save()
        try:
            self.state["signing_key"] = self.signer.public_key
            self._start_fuel_api(inv, ports)
            for distro, version in rows:
                self.build_tree(distro, version)
            self._start_mirrors(ports)
            self.state["ssh_nodes"] = {}
            self._start_ssh_nodes(inv, ssh_nodes)
            self._start_salt(inv, ports)
        except BaseException:
            self.down(remove=False)
            raise
        return self.state

    def _start_fuel_api(self, inv, ports):
        fuel = os.path.join(self.dir, "fuel")
        password = secrets.token_urlsafe(12)
        _write(os.path.join(fuel, "inventory.json"), json.dumps(inv, indent=1))
        _write(os.path.join(fuel, "credentials.json"),
               json.dumps({"tenant": "admin", "username": "admin", "password": password}),
               mode=0o600)
        self.state["fuel"] = {"tenant": "admin", "username": "admin"}
        self._password = password
        self._spawn("fuelapi", [sys.executable, "-m", f"{__package__}.fuelapi",
                                "--inventory", os.path.join(fuel, "inventory.json"),
                                "--credentials", os.path.join(fuel, "credentials.json"),
                                "--keystone-port", str(ports["keystone"]),
                                "--nailgun-port", str(ports["nailgun"])],
                    env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(
                        os.path.abspath(__file__)))))

    def _start_mirrors(self, ports):
        upstream = self.upstream_dir
        os.makedirs(upstream, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "www"), exist_ok=True)
        rsync_dir = os.path.join(self.dir, "rsync")
        conf = os.path.join(rsync_dir, "rsyncd.conf")
        _write(conf, "\n".join([
            f"port = {ports['rsync']}", "address = 127.0.0.1",
            f"pid file = {rsync_dir}/rsyncd.pid", f"lock file = {rsync_dir}/rsyncd.lock",
            f"log file = {rsync_dir}/rsyncd.log", "use chroot = no",
            f"uid = {os.getuid()}", f"gid = {os.getgid()}", "max connections = 16",
            "timeout = 300", "[mirror]", f"    path = {upstream}",
            "    comment = sandbox MOS upstream", "    read only = yes", "    list = yes", ""]))
        self._spawn("rsyncd", ["rsync", "--daemon", "--no-detach", f"--config={conf}"])
        self._spawn("http", [sys.executable, "-m", "http.server", str(ports["http"]),
                             "--bind", "127.0.0.1", "--directory", os.path.join(self.dir, "www")])
        for name in ("keystone", "nailgun", "rsync", "http"):
            wait_for(lambda p=ports[name]: port_open(p), f"the sandbox {name} port")

    def _nodes(self, inv):
        """``(minion id (fqdn), admin IP, env, distro, MOS version)`` of every deployed node."""
        releases = {r["id"]: r for r in inv["releases"]}
        clusters = {c["id"]: releases[c["release_id"]] for c in inv["clusters"]}
        out = []
        for n in inv["nodes"]:
            if n["cluster"] is None or n["status"] not in ("ready", "error"):
                continue
            release = clusters[n["cluster"]]
            distro = (n.get("os_platform") or mosmu_catalog.distro_of_release(release)).lower()
            out.append((n["fqdn"], n["ip"], n["cluster"], distro,
                        mosmu_catalog.mos_version_of_release(release)))
        return out

    def _file_roots(self):
        """The master's file_roots: the formula and loader dirs of this checkout, linked into
        ``DIR/salt/formula``, as on a real master. Serving the whole checkout (.git, venvs)
        made every ``saltutil.sync_all`` walk ~10^5 files."""
        formula = os.path.join(self.dir, "salt", "formula")
        os.makedirs(formula, exist_ok=True)
        for name in FORMULA_DIRS:
            link = os.path.join(formula, name)
            if not os.path.islink(link):
                os.symlink(os.path.join(REPO, name), link)
        return [formula, os.path.join(self.dir, "salt", "states")]

    def _start_salt(self, inv, ports):
        etc = self.config_dir
        master_root = os.path.join(self.dir, "salt", "master")
        _yaml(os.path.join(etc, "master"), {
            "id": "mosmu-sandbox-master", "root_dir": master_root,
            "sock_dir": os.path.join(self.dir, "run", "master"),
            "interface": "127.0.0.1", "publish_port": ports["salt_publish"],
            "ret_port": ports["salt_ret"], "user": _user(), "auto_accept": True,
            "file_roots": {"base": self._file_roots()},
            "pillar_roots": {"base": [os.path.join(self.dir, "salt", "pillar")]},
            "worker_threads": 3, "log_file": os.path.join(self.dir, "logs", "salt-master.log"),
            "log_level_logfile": "info", "enable_fqdns_grains": False})
        _write(os.path.join(self.dir, "salt", "pillar", "top.sls"), "base: {}\n")
        os.makedirs(os.path.join(self.dir, "salt", "states"), exist_ok=True)
        _yaml(os.path.join(etc, "master.d", "mosmu.conf"), {"mosmu": {
            "fuel_url": f"http://127.0.0.1:{ports['nailgun']}",
            "keystone_url": f"http://127.0.0.1:{ports['keystone']}/v2.0",
            "username": "admin", "password": self._password, "tenant": "admin",
            "master_ip": "127.0.0.1", "repo_url": f"http://127.0.0.1:{ports['http']}",
            "mirror_upstream": f"rsync://127.0.0.1:{ports['rsync']}/mirror",
            "mirror_root": os.path.join(self.dir, "www"), "trusted": False,
            "mirror_key": self.signer.public_key, "timeout": 30,
            **self._ssh_master_config()}}, mode=0o600)
        self._spawn("salt-master", [os.path.join(BIN, "salt-master"), "-c", etc, "-l", "quiet"])
        minions = self.state["minions"] = {}
        ssh_nodes = self.state.get("ssh_nodes") or {}
        deployed = [n for n in self._nodes(inv) if n[0] not in ssh_nodes]
        for index, (minion_id, ip, env, distro, version) in enumerate(deployed):
            root = self.node_root(minion_id)
            self.make_node_root(root, distro, version, **self._cloud_of(minion_id))
            minions[minion_id] = {"ip": ip, "root": root, "env": env, "distro": distro,
                                  "version": version, "index": index}
            self._start_minion(minion_id)
        self.state["minions"] = minions
        self._save()
        wait_for(lambda: port_open(ports["salt_ret"]), "the salt-master")
        if minions:
            wait_for(lambda: self._pinged() >= set(minions),
                     f"{len(minions)} minion(s) to answer")
            self.run_salt("salt", "*", "saltutil.sync_all", "--out=json")
        self.run_salt("salt-run", "saltutil.sync_all", "--out=json")
        # the runner maps nodes to minions by the grains the master cached from each minion
        if minions:
            wait_for(lambda: self._cached_minions() >= set(minions),
                     "the master's grains cache")
        self.state["commands"] = {
            "update": " ".join(self.salt_argv("salt-run", "mosmu.update", "all_envs=True")),
            "status": " ".join(self.salt_argv("salt", "'*'", "mosmu.status")),
        }
        self._save()

    def _ssh_master_config(self):
        """``transport``/``ssh`` of the master's ``mosmu:`` section ({} without ssh nodes):
        the client key, known_hosts, and per admin IP the address and root to use."""
        nodes = self.state.get("ssh_nodes") or {}
        if not nodes:
            return {}
        key = sshd.ClientKey(self.ssh_dir)
        return {"transport": "auto", "ssh": {
            "priv": key.priv, "known_hosts": key.known_hosts,
            "hosts": {info["ip"]: {"host": sshd.HOST, "port": info["port"],
                                   "root": info["root"]} for info in nodes.values()}}}

    def _pinged(self):
        proc = self.run_salt("salt", "*", "test.ping", "--out=json", "--static", "--timeout=5",
                             check=False, timeout=60)
        try:
            return {k for k, v in json.loads(proc.stdout or "{}").items() if v is True}
        except ValueError:
            return set()

    def _cached_minions(self):
        proc = self.run_salt("salt-run", "cache.grains", "tgt=*", "--out=json", check=False)
        try:
            return {k for k, v in json.loads(proc.stdout or "{}").items() if v.get("ipv4")}
        except (ValueError, AttributeError):
            return set()

    # -- node services and cloud stand-ins (sandbox.services) ---------------------------------

    def _inventory(self):
        """The inventory the Fuel API serves (None before ``up``)."""
        try:
            with open(os.path.join(self.dir, "fuel", "inventory.json"), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def _cloud_of(self, fqdn):
        """``{"roles": ..., "hosts": {fqdn: roles}}`` of a node from the inventory: its roles
        and its environment's deployed nodes (a node the inventory lacks: no roles, alone)."""
        inv = self._inventory() or {"nodes": []}
        me = next((n for n in inv["nodes"] if n["fqdn"] == fqdn), None)
        if me is None or me["cluster"] is None:
            return {"roles": (), "hosts": {fqdn: []}}
        return {"roles": tuple(me["roles"]),
                "hosts": {n["fqdn"]: list(n["roles"]) for n in inv["nodes"]
                          if n["cluster"] == me["cluster"] and n["status"] in ("ready", "error")}}

    def _node_roots(self):
        return [info["root"] for kind in ("minions", "ssh_nodes")
                for info in (self.state.get(kind) or {}).values()]

    def root_of(self, node):
        """The node root of a minion (its id) or an ssh node (its fqdn)."""
        info = (self.state.get("minions") or {}).get(node) or \
            (self.state.get("ssh_nodes") or {}).get(node)
        if info is None:
            raise SandboxError(f"{node} is not a minion or ssh node of the sandbox in "
                               f"{self.dir}")
        return info["root"]

    def service_pid(self, node, service):
        """The pid of a node's service daemon, or None when it is not running."""
        return services.pid(self.root_of(node), service)

    def service_pids(self, node):
        """``{service: pid or None}`` of every init script in the node's root."""
        root = self.root_of(node)
        return {name: services.pid(root, name) for name in services.services(root)}

    def start_services(self, node):
        """Start the node's services that are not running; ``{service: pid}``."""
        try:
            return services.start_all(self.root_of(node))
        except services.ServiceError as err:
            raise SandboxError(str(err)) from err

    def stop_services(self, node):
        """Stop the node's service daemons (by their pid files); the pids stopped."""
        return services.stop_all(self.root_of(node))

    def set_faults(self, node, *names):
        """Make the node's tool stand-ins show these faults (none: healthy); see
        ``services.FAULTS``."""
        try:
            services.set_faults(self.root_of(node), *names)
        except ValueError as err:
            raise SandboxError(str(err)) from err

    def pcs_restarts(self, node):
        """The Pacemaker resources ``pcs resource restart`` restarted on the node, in order."""
        return services.pcs_restarts(self.root_of(node))

    def ceph_log(self, node):
        """The ceph state changes (``osd set noout``...) run on the node, in order."""
        return services.ceph_log(self.root_of(node))

    def ceph_commands(self, node):
        """Every ceph command run on the node with its time: ``[(time, "pg stat"), ...]``."""
        return services.ceph_commands(self.root_of(node))

    def set_roles(self, fqdn, roles):
        """Give a node of the inventory other Nailgun roles (the Fuel API serves them at
        once); reset the nodes of its environment (``reset_node``) for their roots to follow
        (Ceph packages, tool stand-ins, the cloud the stand-ins describe). Returns the
        roles it had."""
        path = os.path.join(self.dir, "fuel", "inventory.json")
        inv = self._inventory()
        node = next((n for n in (inv or {}).get("nodes", ()) if n["fqdn"] == fqdn), None)
        if node is None:
            raise SandboxError(f"{fqdn} is not a node of the sandbox's inventory")
        old, node["roles"] = node["roles"], list(roles)
        _write(f"{path}.new", json.dumps(inv, indent=1) + "\n")
        os.replace(f"{path}.new", path)         # the Fuel API never reads half a file
        return old

    # -- down --------------------------------------------------------------------------------

    def _our_pids(self):
        """Processes whose command line mentions the sandbox dir, except our ancestors."""
        spare = _ancestors()
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in spare:
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if self.dir.encode() in handle.read():
                        found.add(int(entry))
            except OSError:
                continue
        return found

    def down(self, remove=True):
        """Stop all sandbox processes (first the service daemons of every node root, by their
        pid files); remove the directory unless ``remove`` is False."""
        Signer(os.path.join(self.dir, "gpg")).close()
        for root in self._node_roots():
            services.stop_all(root)
        leaders = set(self.state.get("pids", {}).values())   # started with a new session
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            # sshd sessions leave the listener's process group and rename themselves: found
            # by port and parent chain (Sandbox._ssh_pids)
            pids = self._our_pids() | {p for p in leaders if _alive(p)} | self._ssh_pids()
            for pid in leaders:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, sig)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(_alive(p) for p in pids):
                time.sleep(0.1)
            if not any(_alive(p) for p in pids):
                break
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


def ssh_choice(inv, ssh_nodes):
    """The fqdns of ``inv`` reached over ssh: with an int K, the last K deployed nodes of
    each environment (in inventory order: what ``inventory.default(..., ssh_nodes=K)``
    adds); else ``ssh_nodes`` itself, a collection of fqdns (each must be a deployed node)."""
    deployed = [n for n in inv["nodes"] if n["cluster"] is not None
                and n["status"] in ("ready", "error")]
    if isinstance(ssh_nodes, int):
        if ssh_nodes < 0:
            raise SandboxError(f"ssh_nodes must be >= 0, not {ssh_nodes}")
        out = set()
        for cluster in inv["clusters"]:
            fqdns = [n["fqdn"] for n in deployed if n["cluster"] == cluster["id"]]
            out.update(fqdns[-ssh_nodes:] if ssh_nodes else [])
        return out
    chosen = set(ssh_nodes or ())
    unknown = sorted(chosen - {n["fqdn"] for n in deployed})
    if unknown:
        raise SandboxError(f"ssh nodes not deployed in the inventory: {', '.join(unknown)}")
    return chosen


def _tree(distro, version=None):
    """A catalog row: ``distro`` itself when it is a ``Tree``, else the built-in row."""
    if isinstance(distro, mosmu_catalog.Tree):
        return distro
    try:
        return mosmu_catalog.Catalog().get(distro, version)
    except ValueError as err:
        raise SandboxError(str(err)) from err


def _check_ssh_tools():
    """What ssh nodes need: root (they log in as root), ssh, ssh-keygen, /usr/sbin/sshd."""
    if os.geteuid() != 0:
        raise SandboxError("ssh nodes log in as root to their own sshd: run as root")
    _check_tools({"ssh": "openssh-client", "ssh-keygen": "openssh-client"})
    if not os.access(sshd.SSHD, os.X_OK):
        raise SandboxError(f"{sshd.SSHD} is missing: install the Debian package "
                           "openssh-server (its own service is not needed)")


def _check_tools(tools):
    missing = sorted({pkg for tool, pkg in tools.items() if shutil.which(tool) is None})
    if missing:
        raise SandboxError(f"missing Debian packages: {' '.join(missing)}; install them "
                           f"(apt-get install {' '.join(missing)}) or run make demo")


def _ancestors():
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


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _user():
    import pwd  # pylint: disable=import-outside-toplevel
    return pwd.getpwuid(os.getuid()).pw_name
