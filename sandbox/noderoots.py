"""Sandbox node roots: created with a layout's GA packages, their services and faults.

A node root is the alternate filesystem root of one node (``DIR/nodes/<fqdn>``): dpkg/apt
state for Ubuntu nodes, an rpm database for CentOS nodes, the cloud's tool stand-ins and
service daemons (``sandbox.services``). :class:`NodeRoots` is the part of
``sandbox.stack.Sandbox`` that makes and drives them (it uses the sandbox's ``dir``,
``state`` and ``realistic``).
"""

import json
import os
import subprocess

from . import common, debrepo, rpmrepo, services
from .common import SandboxError

common.put_utils_on_path()
import mosmu_catalog  # noqa: E402  pylint: disable=wrong-import-position

DISTROS = {"ubuntu": {"module": debrepo, "grains": {}},
           "centos": {"module": rpmrepo, "grains": {"os_family": "RedHat", "os": "CentOS"}}}
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


def tree_of(distro, version=None):
    """A catalog row: ``distro`` itself when it is a ``Tree``, else the built-in row."""
    if isinstance(distro, mosmu_catalog.Tree):
        return distro
    try:
        return mosmu_catalog.Catalog().get(distro, version)
    except ValueError as err:
        raise SandboxError(str(err)) from err


class NodeRoots:
    """The node roots of a ``Sandbox`` (a mixin of it): made with GA packages, their
    services started and stopped, faults set."""

    # -- making node roots -------------------------------------------------------------------

    def limit_bandwidth(self, root, distro):
        """Give a node root its own download limit (``DL_LIMIT_KB`` KB/s): apt's
        ``Acquire::http::Dl-Limit`` for Ubuntu, dnf's ``throttle`` for CentOS."""
        if distro == "centos":
            common.write(os.path.join(root, DNF_CONF), DNF_CONF_TEXT.format(limit=DL_LIMIT_KB))
        else:
            common.write(os.path.join(root, APT_LIMIT_CONF),
                         "// mosmu sandbox, realistic node work: this node's link (KB/s)\n"
                         f'Acquire::http::Dl-Limit "{DL_LIMIT_KB}";\n')

    def ga_packages(self, distro):
        """Paths of the GA package files nodes start with
        (``sandbox.stack.PACKAGE_VERSIONS[distro]["ga"]``); built once into
        ``DIR/packages/<distro>-ga``."""
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
        tree = tree_of(distro, version) if version or not isinstance(distro, str) else None
        distro = tree.distro if tree else distro
        ceph = services.ceph_node(roles, hosts) and distro in DISTROS
        if distro == "centos":
            common.check_tools(common.YUM_TOOLS)
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
            common.write(os.path.join(root, "etc/apt/sources.list"),
                         f"deb http://127.0.0.1:{self.state['ports']['http']}/{tree.path} {ga} "
                         f"{tree.components.split()[0]}\n")
        proc = subprocess.run(["dpkg", f"--root={root}",
                               f"--log={os.path.join(root, 'var/log/dpkg.log')}", "-i",
                               *self.ga_packages("ubuntu"),
                               *(self.ceph_packages("ubuntu") if ceph else [])],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SandboxError(f"dpkg --root={root} -i failed: {proc.stderr.strip()}")

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
        common.write(f"{path}.new", json.dumps(inv, indent=1) + "\n")
        os.replace(f"{path}.new", path)         # the Fuel API never reads half a file
        return old
