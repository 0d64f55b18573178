"""Sandbox ssh nodes: nodes without a minion, each with its own real sshd on 127.0.0.1.

:class:`SshNodes` is the part of ``sandbox.stack.Sandbox`` that adds them (node root, port,
keys from ``sandbox.sshd``), starts, stops, kills and re-keys their sshd (the fault
helpers), and names them in the master config; :func:`ssh_choice` picks them from an
inventory, :func:`check_ssh_tools` checks the host can run them.
"""

import contextlib
import os
import signal
import subprocess

from . import common, procs, sshd
from .common import SandboxError


def check_ssh_tools():
    """What ssh nodes need: root (they log in as root), ssh, ssh-keygen, /usr/sbin/sshd."""
    if os.geteuid() != 0:
        raise SandboxError("ssh nodes log in as root to their own sshd: run as root")
    common.check_tools({"ssh": "openssh-client", "ssh-keygen": "openssh-client"})
    if not os.access(sshd.SSHD, os.X_OK):
        raise SandboxError(f"{sshd.SSHD} is missing: install the Debian package "
                           "openssh-server (its own service is not needed)")


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



class SshNodes:
    """The ssh nodes of a ``Sandbox`` (a mixin of it: uses its ``dir``, ``state``,
    ``make_node_root``, ``_spawn`` and ``_save``)."""

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
        if not pid or not procs.alive(pid):
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
        procs.wait_for(lambda: not procs.alive(pid), f"the sshd of {fqdn} to stop",
                       timeout=timeout, every=0.05)
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
        check_ssh_tools()
        nodes = self.state.setdefault("ssh_nodes", {})
        if fqdn in nodes or fqdn in self.state.get("minions", {}):
            raise SandboxError(f"{fqdn} is already a node of the sandbox in {self.dir}")
        root = self.node_root(fqdn)
        if make_root:
            self.make_node_root(root, distro, version, **self._cloud_of(fqdn))
        else:
            os.makedirs(root, exist_ok=True)
        nodes[fqdn] = {"ip": ip, "root": root, "env": env, "distro": distro,
                       "version": version, "port": procs.free_ports(1)[0], "index": len(nodes)}
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
        procs.wait_for(lambda: not sshd.listening(node.port),
                       f"port {node.port} of {fqdn} to close", timeout=timeout, every=0.05)
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
        procs.wait_for(lambda: not sshd.listening(node.port),
                       f"port {node.port} of {fqdn} to close", timeout=timeout, every=0.05)
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
        return out - procs.ancestors()

    def _start_ssh_nodes(self, inv, ssh_nodes):
        """Make the chosen nodes of ``inv`` ssh nodes (:func:`ssh_choice`), sshd started."""
        chosen = ssh_choice(inv, ssh_nodes)
        for fqdn, ip, env, distro, version in self._nodes(inv):
            if fqdn in chosen:
                self.add_ssh_node(fqdn, ip, distro=distro, version=version, env=env)


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
