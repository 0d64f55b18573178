"""Start and stop the sandbox: Fuel API stand-in, rsync daemon, HTTP web root, salt-master,
one salt-minion per node, and one alternate filesystem root per node.

Everything binds to 127.0.0.1 on free ports. Inventory addresses (10.20.0.x) are data: the
minions only carry them as their ``ipv4`` grain. State lives in ``DIR/sandbox.json``;
``down`` stops every process whose command line names DIR and removes DIR.

The upstream mirror (``DIR/upstream``, rsync module ``mirror``) holds one tree per catalog row
an environment uses (``build_tree``: apt rows via ``debrepo``, yum rows via ``rpmrepo``), signed
with a throwaway key in ``DIR/gpg`` (``sandbox.signing.Signer``; public key
``DIR/gpg/upstream.asc``, which the master config names as ``mosmu:mirror_key``, so nodes
trust that key only). Node roots (``sandbox.noderoots``) start with the GA packages of their
distro: dpkg for Ubuntu nodes, an rpm database for CentOS nodes (``reset_node`` re-creates
one for another layout). Processes are started and stopped by ``sandbox.procs``.

``up(ssh_nodes=K)`` adds K nodes without a minion to each environment (``inventory.default``,
``sandbox.sshnodes``): each has a node root like a minion's and its own real ``sshd`` on
127.0.0.1 (``sshd`` module: throwaway client key, per-node host key,
``DIR/ssh/known_hosts``); the master config gets ``mosmu:transport: auto`` and
``mosmu:ssh`` (key, known_hosts, per-admin-IP ``{host, port, root}``).
``stop_sshd``/``kill_sshd``/``start_sshd``/``rotate_host_key`` are the fault helpers,
``ssh_argv`` runs a command on such a node.

``up(realistic=True)`` (opt-in, ``--realistic`` on the CLI) makes node work take real time:
the ``updates`` packages of every tree carry ``REALISTIC_BYTES`` of incompressible data per
node's package set (built once per sandbox), and every node root limits its package
downloads to ``noderoots.DL_LIMIT_KB`` KB/s (100 Mbit/s, a node's own link): apt
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
import subprocess
import sys

from . import common, debrepo, noderoots, procs, rpmrepo, services, signing
from . import inventory as inventory_mod
from .common import SandboxError
from .noderoots import NodeRoots
from .sshnodes import SshNodes, check_ssh_tools, ssh_choice

common.put_utils_on_path()
import mosmu_catalog  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(os.path.abspath(sys.executable))
# What nodes start with ("ga") and what each MU repo publishes, per distro (tests read this).
PACKAGE_VERSIONS = {
    "ubuntu": dict({"ga": debrepo.GA_VERSIONS}, **debrepo.REPO_VERSIONS),
    "centos": dict({"ga": rpmrepo.GA_VERSIONS}, **rpmrepo.REPO_VERSIONS),
}
REALISTIC_BYTES = 50 * 1024 * 1024     # a node's MU package set with realistic=True
# What the sandbox master serves from this checkout (file_roots): loader dirs, formula, orch.
FORMULA_DIRS = ("_modules", "_output", "_runners", "_states", "_utils", "mosmu", "orch")


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



class Sandbox(NodeRoots, SshNodes):
    """A sandbox rooted at ``directory`` (see the module docstring). Its node roots are
    ``sandbox.noderoots.NodeRoots``, its ssh nodes ``sandbox.sshnodes.SshNodes``."""

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

    # -- upstream trees -----------------------------------------------------------------------

    @property
    def upstream_dir(self):
        return os.path.join(self.dir, "upstream")

    @property
    def signer(self):
        """The :class:`Signer` of this sandbox's upstream (``DIR/gpg``), key made on first use."""
        return signing.Signer(os.path.join(self.dir, "gpg")).ensure()

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
        tree = noderoots.tree_of(distro, version)
        payload = self._payload(tree, repo_versions)
        if tree.backend == "yum":
            common.check_tools(common.YUM_TOOLS)
            common.check_tools({"rpmsign": "rpm"})
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
            tree = noderoots.tree_of(distro or info["distro"], version or info["version"])
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

    # -- minions ------------------------------------------------------------------------------

    def _minion_config(self, minion_id, info, index):
        cfg_dir = os.path.join(self.dir, "salt", "minions", minion_id)
        short = f"n{index}"
        ports = self.state["ports"]
        common.write_yaml(os.path.join(cfg_dir, "minion"), {
            "id": minion_id, "master": "127.0.0.1", "master_port": ports["salt_ret"],
            "publish_port": ports["salt_publish"], "user": _user(),
            "root_dir": os.path.join(self.dir, "salt", short),
            "sock_dir": os.path.join(self.dir, "run", short),
            "log_file": os.path.join(self.dir, "logs", f"minion-{minion_id}.log"),
            "log_level_logfile": "info", "enable_fqdns_grains": False,
            "grains": dict(noderoots.DISTROS[info["distro"]]["grains"], ipv4=[info["ip"]],
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
        if pid and procs.alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            for proc in self._procs:
                if proc.pid == pid:
                    proc.wait(timeout=30)
            procs.wait_for(lambda: not procs.alive(pid), f"{minion_id} to stop", timeout=30)
        self._start_minion(minion_id)
        procs.wait_for(lambda: minion_id in self._pinged(), f"{minion_id} to answer")
        self.run_salt("salt", minion_id, "saltutil.sync_all", "--out=json")
        self.run_salt("salt", minion_id, "saltutil.refresh_grains", "--out=json")
        distro = self.state["minions"][minion_id]["distro"]
        family = noderoots.DISTROS[distro]["grains"].get("os_family")
        procs.wait_for(lambda: self._cached_family(minion_id, family), "the master's grains cache")

    def _cached_family(self, minion_id, family):
        proc = self.run_salt("salt-run", "cache.grains", f"tgt={minion_id}", "--out=json",
                             check=False)
        try:
            grains = json.loads(proc.stdout or "{}").get(minion_id) or {}
        except ValueError:
            return False
        return family is None or grains.get("os_family") == family

    def _spawn(self, name, argv, env=None):
        proc = procs.spawn(argv, os.path.join(self.dir, "logs", f"{name}.log"), self.dir, env)
        self._procs.append(proc)
        self.state.setdefault("pids", {})[name] = proc.pid
        self._save()
        return proc

    def _save(self):
        common.write(self.state_path, json.dumps(self.state, indent=2, sort_keys=True))

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
        common.check_tools(common.TOOLS)
        if any(d == "centos" for d, _v in rows) or any(
                n.get("os_platform") == "centos" for n in inv["nodes"]):
            common.check_tools(common.YUM_TOOLS)
        if ssh_choice(inv, ssh_nodes):
            check_ssh_tools()
        if self.state:
            raise SandboxError(f"a sandbox is already up in {self.dir}; run "
                               f"python -m sandbox down --dir {self.dir} first")
        if os.path.exists(self.dir) and os.listdir(self.dir):
            raise SandboxError(f"{self.dir} exists and is not empty; give a new --dir")
        os.makedirs(self.dir, exist_ok=True)
        names = ("keystone", "nailgun", "http", "rsync", "salt_publish", "salt_ret")
        ports = dict(zip(names, procs.free_ports(len(names))))
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
        common.write(os.path.join(fuel, "inventory.json"), json.dumps(inv, indent=1))
        common.write(os.path.join(fuel, "credentials.json"),
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
        common.write(conf, "\n".join([
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
            procs.wait_for(lambda p=ports[name]: procs.port_open(p), f"the sandbox {name} port")

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
                os.symlink(os.path.join(common.REPO, name), link)
        return [formula, os.path.join(self.dir, "salt", "states")]

    def _start_salt(self, inv, ports):
        etc = self.config_dir
        master_root = os.path.join(self.dir, "salt", "master")
        common.write_yaml(os.path.join(etc, "master"), {
            "id": "mosmu-sandbox-master", "root_dir": master_root,
            "sock_dir": os.path.join(self.dir, "run", "master"),
            "interface": "127.0.0.1", "publish_port": ports["salt_publish"],
            "ret_port": ports["salt_ret"], "user": _user(), "auto_accept": True,
            "file_roots": {"base": self._file_roots()},
            "pillar_roots": {"base": [os.path.join(self.dir, "salt", "pillar")]},
            "worker_threads": 3, "log_file": os.path.join(self.dir, "logs", "salt-master.log"),
            "log_level_logfile": "info", "enable_fqdns_grains": False})
        common.write(os.path.join(self.dir, "salt", "pillar", "top.sls"), "base: {}\n")
        os.makedirs(os.path.join(self.dir, "salt", "states"), exist_ok=True)
        common.write_yaml(os.path.join(etc, "master.d", "mosmu.conf"), {"mosmu": {
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
        procs.wait_for(lambda: procs.port_open(ports["salt_ret"]), "the salt-master")
        if minions:
            procs.wait_for(lambda: self._pinged() >= set(minions),
                     f"{len(minions)} minion(s) to answer")
            self.run_salt("salt", "*", "saltutil.sync_all", "--out=json")
        self.run_salt("salt-run", "saltutil.sync_all", "--out=json")
        # the runner maps nodes to minions by the grains the master cached from each minion
        if minions:
            procs.wait_for(lambda: self._cached_minions() >= set(minions),
                     "the master's grains cache")
        self.state["commands"] = {
            "update": " ".join(self.salt_argv("salt-run", "mosmu.update", "all_envs=True")),
            "status": " ".join(self.salt_argv("salt", "'*'", "mosmu.status")),
        }
        self._save()

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

    # -- down --------------------------------------------------------------------------------

    def down(self, remove=True):
        """Stop all sandbox processes (first the service daemons of every node root, by their
        pid files); remove the directory unless ``remove`` is False."""
        signing.Signer(os.path.join(self.dir, "gpg")).close()
        for root in self._node_roots():
            services.stop_all(root)
        leaders = set(self.state.get("pids", {}).values())   # started with a new session
        # sshd sessions leave the listener's process group and rename themselves: found by
        # port and parent chain (SshNodes._ssh_pids)
        procs.stop(leaders, lambda: procs.naming(self.dir) | self._ssh_pids())
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


def _user():
    import pwd  # pylint: disable=import-outside-toplevel
    return pwd.getpwuid(os.getuid()).pw_name
