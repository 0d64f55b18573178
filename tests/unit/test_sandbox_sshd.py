"""The sandbox's ssh nodes: real sshd daemons on 127.0.0.1, verified host keys, fault helpers.

No salt-master: ``Sandbox.add_ssh_node`` on a sandbox that is not up starts a node's sshd
alone (``sandbox/sshd.py``). Needs root and ``/usr/sbin/sshd`` (openssh-server, whose own
service stays stopped).
"""

import os
import shutil
import signal
import subprocess

import pytest

from sandbox import inventory, sshd
from sandbox.cli import installed_rpms, installed_versions
from sandbox.procs import free_ports
from sandbox.stack import Sandbox, SandboxError, ssh_choice

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.access(sshd.SSHD, os.X_OK) or not shutil.which("ssh"),
    reason="needs root, /usr/sbin/sshd and ssh")

UBUNTU = "node-6.test.domain.local"
CENTOS = "node-8.test.domain.local"
GA = {"ubuntu": {"nova-common": "1.0", "python-nova": "1.0", "neutron-common": "1.0"},
      "centos": {"openstack-nova-common": "1.0", "python-nova": "1.0",
                 "openstack-neutron": "1.0"}}


def _ssh(box, fqdn, *remote, timeout=20):
    return subprocess.run(box.ssh_argv(fqdn, *remote), capture_output=True, text=True,
                          timeout=timeout, check=False)


def _live_sshd_of(directory, ports):
    """Live (non-zombie) processes that belong to the sshds of a sandbox: sshd processes whose
    command line names the dir or that hold a socket of one of its ports, and anything whose
    SSH_CONNECTION names one of its ports."""
    found = set()
    for port in ports:
        found |= sshd.socket_pids(port) | sshd.connection_pids(port)
    ps = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True,
                        check=True).stdout
    for line in ps.splitlines():
        pid, stat, args = line.split(None, 2)
        if directory in args and "sshd" in args and not stat.startswith("Z"):
            found.add(int(pid))
    return {p for p in found if sshd.alive(p)}


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    sandbox = Sandbox(str(tmp_path_factory.mktemp("sshd") / "sb"))
    try:
        sandbox.add_ssh_node(UBUNTU, "10.20.0.8", "ubuntu", "8.0", env=1)
        sandbox.add_ssh_node(CENTOS, "10.20.0.10", "centos", "6.1", env=2)
        yield sandbox
    finally:
        sandbox.down()


def test_state_config_and_known_hosts(box):
    assert set(box.state["ssh_nodes"]) == {UBUNTU, CENTOS}
    info = box.ssh_node(UBUNTU)
    assert set(info) == {"ip", "root", "env", "distro", "version", "port", "index"}
    assert (info["ip"], info["env"], info["distro"], info["version"], info["index"]) == \
        ("10.20.0.8", 1, "ubuntu", "8.0", 0)
    assert info["root"] == os.path.join(box.dir, "nodes", UBUNTU)
    ports = {f: box.ssh_node(f)["port"] for f in (UBUNTU, CENTOS)}
    with open(os.path.join(box.ssh_dir, "known_hosts"), encoding="ascii") as handle:
        known = handle.read().split("\n")
    for fqdn, port in ports.items():
        with open(os.path.join(box.ssh_dir, fqdn, "ssh_host_ed25519_key.pub"),
                  encoding="ascii") as handle:
            key = " ".join(handle.read().split()[:2])
        assert f"[127.0.0.1]:{port} {key}" in known
        with open(os.path.join(box.ssh_dir, fqdn, "sshd_config"), encoding="ascii") as handle:
            config = handle.read().splitlines()
        for line in (f"ListenAddress 127.0.0.1:{port}", "PasswordAuthentication no",
                     "PermitRootLogin prohibit-password", "UsePAM no", "PermitTTY no",
                     f"AuthorizedKeysFile {box.ssh_dir}/authorized_keys"):
            assert line in config
        # listening on 127.0.0.1 only
        assert sshd.listening(port)
        with open("/proc/net/tcp", encoding="ascii") as handle:
            assert f"00000000:{port:04X}" not in handle.read()
    assert box._ssh_master_config() == {
        "transport": "auto", "ssh": {
            "priv": os.path.join(box.ssh_dir, "id_ed25519"),
            "known_hosts": os.path.join(box.ssh_dir, "known_hosts"),
            "hosts": {
                "10.20.0.8": {"host": "127.0.0.1", "port": ports[UBUNTU],
                              "root": box.ssh_node(UBUNTU)["root"]},
                "10.20.0.10": {"host": "127.0.0.1", "port": ports[CENTOS],
                               "root": box.ssh_node(CENTOS)["root"]}}}}
    argv = box.ssh_argv(UBUNTU, "true")
    for word in ("-F", "/dev/null", "-o", "StrictHostKeyChecking=yes", "BatchMode=yes",
                 f"UserKnownHostsFile={box.ssh_dir}/known_hosts", "root@127.0.0.1"):
        assert word in argv
    assert argv[argv.index("-p") + 1] == str(ports[UBUNTU])


def test_commands_run_as_root_on_the_node_root(box):
    proc = _ssh(box, UBUNTU, "cat", "/etc/hostname")
    assert proc.returncode == 0, proc.stderr
    with open("/etc/hostname", encoding="utf-8") as handle:
        assert proc.stdout == handle.read()
    proc = _ssh(box, UBUNTU, "sh", "-c", 'id -u; echo "$HOME"; echo "a  b"')
    assert proc.stdout.splitlines() == ["0", "/root", "a  b"], proc.stderr
    root = box.ssh_node(UBUNTU)["root"]
    proc = _ssh(box, UBUNTU, "dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W",
                "-f", "${Package} ${Version}\\n")
    assert proc.returncode == 0, proc.stderr
    assert dict(line.split() for line in proc.stdout.splitlines()) == GA["ubuntu"]
    assert installed_versions(root) == GA["ubuntu"]
    # Debian's rpm: the database is <root>/<HOME>/.rpmdb; HOME over ssh is root's passwd home
    root = box.ssh_node(CENTOS)["root"]
    proc = _ssh(box, CENTOS, "rpm", "--root", root, "-qa", "--qf", "%{NAME} %{VERSION}\\n")
    assert proc.returncode == 0, proc.stderr
    assert dict(line.split() for line in proc.stdout.splitlines()) == GA["centos"]
    assert installed_rpms(root) == GA["centos"]


def test_host_keys_are_verified_never_accepted(box):
    known_hosts = os.path.join(box.ssh_dir, "known_hosts")
    with open(known_hosts, "rb") as handle:
        before = handle.read()
    argv = [w.replace(f"UserKnownHostsFile={known_hosts}", "UserKnownHostsFile=/dev/null")
            for w in box.ssh_argv(CENTOS, "true")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    assert proc.returncode == 255 and "Host key verification failed" in proc.stderr
    old_pid = box.state["pids"][f"sshd-{CENTOS}"]
    public = box.rotate_host_key(CENTOS)
    assert public.startswith("ssh-ed25519 ") and public.split()[1] not in before.decode()
    assert box.state["pids"][f"sshd-{CENTOS}"] != old_pid
    proc = _ssh(box, CENTOS, "true")
    assert proc.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr
    assert "Host key verification failed" in proc.stderr
    with open(known_hosts, "rb") as handle:
        assert handle.read() == before                   # neither updated nor appended to
    assert _ssh(box, UBUNTU, "true").returncode == 0    # the other node is unaffected


def test_stop_keeps_sessions_start_keeps_port_and_key(box):
    port = box.ssh_node(UBUNTU)["port"]
    with subprocess.Popen(box.ssh_argv(UBUNTU, "sh", "-c", "echo ready; read x; echo got $x"),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as session:
        assert session.stdout.readline() == "ready\n"
        listener = box.state["pids"][f"sshd-{UBUNTU}"]
        assert box.stop_sshd(UBUNTU) == listener
        assert not sshd.alive(listener) and not sshd.listening(port)
        assert f"sshd-{UBUNTU}" not in box.state["pids"]      # no stale pid for down
        proc = _ssh(box, UBUNTU, "true")
        assert proc.returncode == 255 and "Connection refused" in proc.stderr
        assert box.stop_sshd(UBUNTU) is None                # nothing left to stop
        session.stdin.write("hello\n")
        session.stdin.flush()
        assert session.stdout.readline() == "got hello\n"  # the established session lives on
        session.stdin.close()
        assert session.wait(timeout=20) == 0
    pid = box.start_sshd(UBUNTU)
    assert pid != listener and box.ssh_node(UBUNTU)["port"] == port
    assert box.start_sshd(UBUNTU) == pid                    # already up: same daemon
    assert _ssh(box, UBUNTU, "true").returncode == 0        # same host key: still trusted


def test_kill_sshd_kills_listener_and_sessions(box):
    port = box.ssh_node(UBUNTU)["port"]
    listener = box.state["pids"][f"sshd-{UBUNTU}"]
    with subprocess.Popen(box.ssh_argv(UBUNTU, "sh", "-c", "echo ready; exec sleep 120"),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as client:
        assert client.stdout.readline() == "ready\n"
        sessions = sshd.socket_pids(port)
        assert sessions and all(sshd.is_sshd(p) for p in sessions)
        commands = sshd.connection_pids(port)
        assert commands                                     # the remote sleep
        killed = box.kill_sshd(UBUNTU)
        assert listener in killed and sessions <= set(killed)
        assert not any(sshd.alive(p) for p in killed)
        assert not sshd.listening(port) and not sshd.socket_pids(port)
        assert client.wait(timeout=20) == 255               # the connection dropped
        # what the session ran is not signalled (kill -9 of sshd on a real host)
        assert any(sshd.alive(p) for p in commands)
    box.start_sshd(UBUNTU)
    assert _ssh(box, UBUNTU, "true").returncode == 0


def test_reset_ssh_node(box):
    info = box.ssh_node(UBUNTU)
    status = os.path.join(info["root"], "var/log/mos_apply_mu.status")
    os.makedirs(os.path.dirname(status), exist_ok=True)
    with open(status, "w", encoding="utf-8") as handle:
        handle.write("UPDATE=OK\n")
    listener = box.state["pids"][f"sshd-{UBUNTU}"]
    assert box.reset_node(UBUNTU) is info
    assert not os.path.exists(status) and installed_versions(info["root"]) == GA["ubuntu"]
    assert box.state["pids"][f"sshd-{UBUNTU}"] == listener and sshd.alive(listener)
    with pytest.raises(SandboxError, match="not a minion or ssh node"):
        box.reset_node("node-99.test.domain.local")


def test_down_leaves_no_sshd_of_the_sandbox(box):
    ports = [box.ssh_node(f)["port"] for f in (UBUNTU, CENTOS)]
    # a command that detached from its session, and an orphan session (listener stopped)
    proc = _ssh(box, UBUNTU, "sh", "-c", "setsid sleep 120 </dev/null >/dev/null 2>&1 &")
    assert proc.returncode == 0, proc.stderr
    orphan = subprocess.Popen(box.ssh_argv(UBUNTU, "sh", "-c", "echo ready; exec sleep 120"),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert orphan.stdout.readline() == "ready\n"
    box.stop_sshd(UBUNTU)
    assert sshd.socket_pids(ports[0]) and len(sshd.connection_pids(ports[0])) >= 2
    assert _live_sshd_of(box.dir, ports)
    box.down()
    assert orphan.wait(timeout=20) == 255
    orphan.stdout.close()
    assert not _live_sshd_of(box.dir, ports)
    assert not any(sshd.listening(p) for p in ports)
    assert not os.path.exists(box.dir)
    assert os.path.isdir(sshd.PRIVSEP_DIR)                  # shared: never removed


def test_sshd_module_alone_and_config_errors(tmp_path):
    """sandbox/sshd.py without a Sandbox: prepare, start, run a command, stop; a bad config
    is refused with sshd's own message."""
    node = sshd.SshdNode(str(tmp_path / "ssh"), "node-1.test.domain.local",
                         free_ports(1)[0],
                         str(tmp_path / "logs" / "sshd.log"))
    node.prepare()
    pid = node.start()
    try:
        proc = subprocess.run(node.client.argv(node.port, "echo", "$HOME"), capture_output=True,
                              text=True, timeout=20, check=False)
        assert (proc.returncode, proc.stdout) == (0, "$HOME\n"), proc.stderr
    finally:
        sshd.kill({pid, *node.session_pids(pid)}, signal.SIGTERM)
        os.waitpid(pid, 0)
    with open(node.config, "a", encoding="ascii") as handle:
        handle.write("NoSuchOption yes\n")
    with pytest.raises(sshd.SshdError, match="Bad configuration option: NoSuchOption"):
        node.check()


def test_default_inventory_ssh_nodes():
    inv = inventory.default(3, 2, ssh_nodes=2)
    nodes = {n["id"]: n for n in inv["nodes"]}
    assert sorted(nodes) == list(range(1, 10))
    assert len({n["ip"] for n in nodes.values()}) == 9
    assert [(nodes[i]["cluster"], nodes[i]["os_platform"]) for i in (6, 7, 8, 9)] == \
        [(1, "ubuntu"), (1, "ubuntu"), (2, "centos"), (2, "centos")]
    assert [nodes[i]["roles"] for i in (6, 7)] == [["controller"], ["compute"]]
    assert [nodes[i]["roles"] for i in (8, 9)] == [["compute", "cinder"], ["controller"]]
    assert nodes[8]["fqdn"] == "node-8.test.domain.local"
    assert ssh_choice(inv, 2) == {f"node-{i}.test.domain.local" for i in (6, 7, 8, 9)}
    assert ssh_choice(inv, 0) == set()
    one_env = inventory.default(2, 0, ssh_nodes=1)
    assert [(n["id"], n["cluster"]) for n in one_env["nodes"]] == [(1, 1), (2, 1), (3, 1)]
    with pytest.raises(SandboxError, match="not deployed"):
        ssh_choice(inv, ["node-42.test.domain.local"])
