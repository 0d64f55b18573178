"""Real tiny services and the cloud's own tools in sandbox node roots, with fault modes.

A node root R (``/`` on a real node) gets, as a real MOS node has them:

- init scripts ``R/etc/init.d/<service>`` (upstart-style ``status``: ``<service>
  start/running, process <pid>`` exit 0, or ``<service> stop/waiting`` exit 3). Those of
  ``nova-compute``, ``nova-api`` and ``neutron-server`` are files of the sandbox's MU packages
  (:func:`package_files`, used by ``debrepo.build_deb`` and ``rpmrepo.build_rpm``), so
  ``dpkg-query -L`` / ``rpm -ql`` name them; ``ceilometer-agent-compute`` and ``heat-api``
  (:data:`UNOWNED`) are written by :func:`install`, owned by no package. Each script finds R
  from its own path and starts a fully detached daemon (new session, stdio on /dev/null):
  ``/bin/sleep infinity`` named ``R/usr/bin/<service>`` (its argv[0]), pid in
  ``R/var/run/<service>.pid``. A process is the service's only if its command line holds that
  name, so nothing else is ever signalled.
- stand-ins for the node's tools (:data:`TOOLS`): small ``/usr/bin/python3 -I`` wrappers that
  run :mod:`sandbox.nodetools`, copied into ``R/usr/lib/mosmu-sandbox/``. ``df`` on every
  node; ``crm_mon``, ``pcs``, ``ceph`` and the ``nova``/``neutron``/``cinder`` clients on
  controllers; ``ceph`` also on ``ceph-osd`` nodes. ``R/root/openrc`` as Fuel writes it.
- fault modes (:func:`set_faults`): words in ``R/etc/mosmu-sandbox/faults``.

The API (``root`` is a node root path): :func:`install`, :func:`start_all`,
:func:`stop_all`, :func:`pid`, :func:`run_init`, :func:`services`, :func:`daemons`,
:func:`set_faults`, :func:`faults`, :func:`pcs_restarts`, :func:`ceph_log`,
:func:`ceph_commands`.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time

from . import nodetools

FAULTS = nodetools.FAULTS
# Bump when what package_files returns changes: packages built from older content are rebuilt
# (debrepo.build_deb / rpmrepo.build_rpm compare it with the one recorded in the package).
CONTENT_VERSION = "5"
UNOWNED = ("ceilometer-agent-compute", "heat-api")
PACKAGE_SERVICES = {
    "nova-common": ("nova-api", "nova-compute"),
    "neutron-common": ("neutron-server",),
    # CentOS names the services after their openstack-* packages (mosmu_finish's centos rows)
    "openstack-nova-common": ("openstack-nova-api", "openstack-nova-compute"),
    "openstack-neutron": ("neutron-server",),
    # Ubuntu's upstart jobs and the sysv script CentOS uses (one package name on both)
    "ceph": ("ceph-mon-all", "ceph-osd-all", "ceph"),
}
NOVA_CONF = "etc/nova/nova.conf"
PACKAGE_CONFIGS = {"nova-common": (NOVA_CONF,), "openstack-nova-common": (NOVA_CONF,)}
NOVA_CONF_TEXT = """\
# nova.conf shipped by the mosmu sandbox's MU package (a conffile: local changes are kept)
[DEFAULT]
debug=False
log_dir=/var/log/nova
state_path=/var/lib/nova
rpc_backend=rabbit
"""
# tool -> its path in the node root, and which nodes get it (None: every node)
TOOLS = {
    "df": ("bin/df", None),
    "crm_mon": ("usr/sbin/crm_mon", ("controller",)),
    "pcs": ("usr/sbin/pcs", ("controller",)),
    "ceph": ("usr/bin/ceph", ("controller", "ceph-osd")),
    "nova": ("usr/bin/nova", ("controller",)),
    "neutron": ("usr/bin/neutron", ("controller",)),
    "cinder": ("usr/bin/cinder", ("controller",)),
}
LIB_DIR = "usr/lib/mosmu-sandbox"
STOP_TIMEOUT = 10
OPENRC = """\
#!/bin/sh
export OS_NO_CACHE='true'
export OS_TENANT_NAME='admin'
export OS_PROJECT_NAME='admin'
export OS_USERNAME='admin'
export OS_PASSWORD='admin'
export OS_AUTH_URL='http://192.168.0.2:5000/'
export OS_DEFAULT_DOMAIN='Default'
export OS_AUTH_STRATEGY='keystone'
export OS_REGION_NAME='RegionOne'
export CINDER_ENDPOINT_TYPE='internalURL'
export GLANCE_ENDPOINT_TYPE='internalURL'
export KEYSTONE_ENDPOINT_TYPE='internalURL'
export NOVA_ENDPOINT_TYPE='internalURL'
export NEUTRON_ENDPOINT_TYPE='internalURL'
export OS_ENDPOINT_TYPE='internalURL'
"""

# The daemon launcher the init scripts run (host python3): fork; the child leaves the
# caller's session and stdio and becomes /bin/sleep named after the service, with a clean
# environment (as upstart starts jobs); the parent waits until the exec is done (the
# daemon's command line names it: a reader during the exec could see an empty one), writes
# the pid file, then exits.
LAUNCH = """\
import os, sys, time
daemon, pidfile = sys.argv[1], sys.argv[2]
pid = os.fork()
if pid == 0:
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 65536)
        os.chdir("/")
        os.execve("/bin/sleep", [daemon, "infinity"], {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    finally:
        os._exit(127)
deadline = time.monotonic() + 10
while time.monotonic() < deadline and not os.waitpid(pid, os.WNOHANG)[0]:
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        if handle.read().split(b"\\0")[0] == daemon.encode():
            break
    time.sleep(0.001)
with open(pidfile + ".new", "w") as handle:
    handle.write("%d\\n" % pid)
os.replace(pidfile + ".new", pidfile)
"""

INIT_SCRIPT = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:    $network $local_fs $remote_fs $syslog
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: OpenStack {name} (mosmu sandbox stand-in)
### END INIT INFO
# mosmu sandbox: a tiny daemon, /bin/sleep named <root>/usr/bin/{name}. The node root is
# found from this script's own path (<root>/etc/init.d/{name}); "/" on a real node.
NAME={name}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROOT=${{ROOT%/}}
DAEMON="$ROOT/usr/bin/$NAME"
PIDFILE="$ROOT/var/run/$NAME.pid"
LAUNCH='{launch}'

running_pid() {{
    [ -r "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null)
    case "$pid" in ''|*[!0-9]*) return 1 ;; esac
    tr '\\000' '\\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$DAEMON" || return 1
    echo "$pid"
}}

do_start() {{
    if running_pid >/dev/null; then
        echo "start: Job is already running: $NAME" >&2
        return 1
    fi
    mkdir -p "$ROOT/var/run"
    /usr/bin/python3 -I -c "$LAUNCH" "$DAEMON" "$PIDFILE" </dev/null >/dev/null 2>&1
    if ! pid=$(running_pid); then
        echo "start: Job failed to start" >&2
        return 1
    fi
    echo "$NAME start/running, process $pid"
}}

do_stop() {{
    if ! pid=$(running_pid); then
        echo "stop: Unknown instance: " >&2
        return 1
    fi
    kill -TERM "$pid"
    n=0
    while running_pid >/dev/null; do
        n=$((n + 1))
        if [ "$n" -eq 100 ]; then kill -KILL "$pid"; fi
        if [ "$n" -gt 200 ]; then echo "stop: Job failed while stopping" >&2; return 1; fi
        sleep 0.05
    done
    rm -f "$PIDFILE"
    echo "$NAME stop/waiting"
}}

case "$1" in
    start) do_start ;;
    stop) do_stop ;;
    restart|force-reload)
        do_stop 2>/dev/null
        if grep -qx restart-fails "$ROOT/etc/mosmu-sandbox/faults" 2>/dev/null; then
            echo "start: Job failed to start" >&2      # the restart-fails fault mode
            exit 1
        fi
        do_start ;;
    status)
        if pid=$(running_pid); then
            echo "$NAME start/running, process $pid"
        else
            echo "$NAME stop/waiting"
            exit 3
        fi ;;
    *)
        echo "Usage: /etc/init.d/$NAME {{start|stop|restart|force-reload|status}}" >&2
        exit 2 ;;
esac
"""

WRAPPER = '''\
#!/usr/bin/python3 -I
"""mosmu sandbox: stand-in for {tool} on a MOS node (docs/sandbox.md)."""
import os
import sys

sys.dont_write_bytecode = True
ROOT = os.path.abspath(__file__)[:-len("/{rel}")] or "/"
sys.path.insert(0, os.path.join(ROOT, "{lib}"))
import nodetools  # noqa: E402

sys.exit(nodetools.main("{tool}", ROOT, sys.argv[1:]))
'''


class ServiceError(Exception):
    """A node root's service could not be started or stopped; the message says which."""


# -- package contents ------------------------------------------------------------------------

def init_script(name):
    """The text of ``/etc/init.d/<name>``."""
    return INIT_SCRIPT.format(name=name, launch=LAUNCH)


def package_files(package):
    """``{relative path: (text, mode)}`` a sandbox MU package carries besides its VERSION
    file: init scripts of its services, its config files (empty for other packages)."""
    files = {f"etc/init.d/{s}": (init_script(s), 0o755)
             for s in PACKAGE_SERVICES.get(package, ())}
    files.update(dict.fromkeys(PACKAGE_CONFIGS.get(package, ()), (NOVA_CONF_TEXT, 0o644)))
    return files


def config_files(package):
    """Absolute paths of the package's config files (``%config(noreplace)`` in the rpm)."""
    return [f"/{rel}" for rel in PACKAGE_CONFIGS.get(package, ())]


def conffiles(package):
    """The deb's ``DEBIAN/conffiles``: every file below /etc, as debhelper marks them."""
    return sorted(f"/{rel}" for rel in package_files(package) if rel.startswith("etc/"))


def write_files(tree, package):
    """Write :func:`package_files` of ``package`` below ``tree`` (a package build root)."""
    for rel, (text, mode) in package_files(package).items():
        _write(os.path.join(tree, rel), text, mode)


# -- install ---------------------------------------------------------------------------------

def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(f"{path}.new", "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(f"{path}.new", mode)
    os.replace(f"{path}.new", path)


def ceph_node(roles, hosts=None):
    """Whether a node has Ceph installed, as Fuel deploys it: every ``ceph-osd`` node, and
    the controllers (the monitors) of an environment that has ``ceph-osd`` nodes.

    :param hosts: ``{fqdn: roles}`` of the environment's deployed nodes
    """
    roles = set(roles or ())
    return "ceph-osd" in roles or ("controller" in roles and any(
        "ceph-osd" in (r or ()) for r in dict(hosts or {}).values()))


def _tools_for(roles):
    return {tool: rel for tool, (rel, wanted) in TOOLS.items()
            if wanted is None or set(wanted) & set(roles)}


def install(root, roles=(), hosts=None, version=None, distro="ubuntu", node=None):
    """Give a node root its unowned init scripts, tool stand-ins, ``root/openrc`` and cloud
    description; idempotent, nothing started.

    :param root: the node root (its packages already installed)
    :param roles: this node's Nailgun roles (which tools it gets: :data:`TOOLS`)
    :param hosts: ``{fqdn: roles}`` of every deployed node of its environment, in inventory
        order (Pacemaker's nodes are its controllers; nova, neutron and cinder list their
        services); this node is added when missing
    :param version: the environment's MOS version (``9.x``: Mitaka formats and names)
    :param distro: ``ubuntu``/``centos`` (the OVS agent's Pacemaker resource name)
    :param node: this node's fqdn (default: the root directory's name)
    :returns: ``{tool: path}`` of the stand-ins written
    """
    root = os.path.abspath(root)
    node = node or os.path.basename(root)
    hosts = {fqdn: list(r) for fqdn, r in dict(hosts or {}).items()}
    hosts.setdefault(node, list(roles))
    cloud = {"node": node, "roles": list(roles), "hosts": [[f, r] for f, r in hosts.items()],
             "version": version or "8.0", "distro": distro}
    _write(os.path.join(root, nodetools.CLOUD_FILE), json.dumps(cloud, indent=1) + "\n")
    _write(os.path.join(root, "root/openrc"), OPENRC, 0o600)
    for name in UNOWNED:
        _write(os.path.join(root, "etc/init.d", name), init_script(name), 0o755)
    os.makedirs(os.path.join(root, nodetools.STATE_DIR), exist_ok=True)
    os.makedirs(os.path.join(root, "var/run"), exist_ok=True)
    lib = os.path.join(root, LIB_DIR)
    os.makedirs(lib, exist_ok=True)
    shutil.copyfile(nodetools.__file__, os.path.join(lib, "nodetools.py"))
    written = {}
    for tool, rel in _tools_for(roles).items():
        path = os.path.join(root, rel)
        _write(path, WRAPPER.format(tool=tool, rel=rel, lib=LIB_DIR), 0o755)
        written[tool] = path
    return written


# -- daemons ---------------------------------------------------------------------------------

def _root(root):
    return os.path.abspath(root).rstrip("/")


def daemon_name(root, service):
    """The service daemon's argv[0]: ``<root>/usr/bin/<service>``."""
    return f"{_root(root)}/usr/bin/{service}"


def _argv(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def services(root):
    """The services of a node root: names of its ``etc/init.d`` scripts, sorted."""
    path = os.path.join(root, "etc/init.d")
    return sorted(n for n in os.listdir(path) if not n.startswith(".")) \
        if os.path.isdir(path) else []


def pid(root, service):
    """The running daemon's pid from ``<root>/var/run/<service>.pid``, or None (no pid file,
    or the pid is not that service's daemon any more)."""
    try:
        with open(os.path.join(root, "var/run", f"{service}.pid"), encoding="ascii") as handle:
            value = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return value if daemon_name(root, service) in _argv(value) else None


def run_init(root, service, action, timeout=60):
    """Run ``<root>/etc/init.d/<service> <action>`` as the product does (no shell); the
    ``CompletedProcess`` (text)."""
    return subprocess.run([os.path.join(os.path.abspath(root), "etc/init.d", service), action],
                          capture_output=True, text=True, check=False, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def start_all(root):
    """Start every service of the node root that is not running; ``{service: pid}``."""
    out = {}
    for service in services(root):
        if pid(root, service) is None:
            proc = run_init(root, service, "start")
            if proc.returncode != 0:
                raise ServiceError(f"{service} in {root} did not start (exit "
                                   f"{proc.returncode}): {proc.stderr.strip()}")
        out[service] = pid(root, service)
    return out


def stop_all(root, timeout=STOP_TIMEOUT):
    """Stop the node root's daemons: those of its pid files (``<root>/var/run/*.pid``) whose
    command line names them, and any other live daemon of this root (:func:`daemons`: a
    lost pid file). Nothing else is signalled. Returns the sorted pids stopped."""
    run_dir = os.path.join(root, "var/run")
    names = sorted(n[:-4] for n in os.listdir(run_dir) if n.endswith(".pid")) \
        if os.path.isdir(run_dir) else []
    found = {p: name for p, name in ((pid(root, n), n) for n in names) if p is not None}
    found.update((p, os.path.basename(argv0)) for p, argv0 in daemons(root).items()
                 if p not in found)
    for value in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(value, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _still_ours(root, found):
        if time.monotonic() > deadline:
            for value in _still_ours(root, found):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(value, signal.SIGKILL)
            break
        time.sleep(0.02)
    for service in found.values():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(run_dir, f"{service}.pid"))
    return sorted(found)


def _still_ours(root, found):
    """The pids of ``found`` ({pid: service}) still running as this root's daemons."""
    return [p for p, service in found.items() if daemon_name(root, service) in _argv(p)]


def daemons(root):
    """``{pid: argv[0]}`` of every live process that is a service daemon of this node root
    (found in /proc, pid files or not): what must be gone after :func:`stop_all`."""
    prefix = f"{_root(root)}/usr/bin/"
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = _argv(entry)
            if argv and argv[0].startswith(prefix):
                out[int(entry)] = argv[0]
    return out


# -- faults and what the tools recorded ------------------------------------------------------

def set_faults(root, *names):
    """Make the node root's tools show these faults (none: healthy again); see
    :data:`FAULTS`. Unknown names raise ValueError naming the known ones."""
    unknown = sorted(set(names) - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    _write(os.path.join(root, nodetools.FAULTS_FILE), "".join(f"{n}\n" for n in names))


def faults(root):
    """The faults set for a node root (a set of words)."""
    return nodetools.read_faults(root)


def _lines(root, name):
    try:
        with open(os.path.join(root, nodetools.STATE_DIR, name), encoding="utf-8") as handle:
            return [line.rstrip("\n") for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def pcs_restarts(root):
    """The Pacemaker resources ``pcs resource restart`` restarted on this node, in order
    (the clone or master/slave id when a primitive inside one was named, as pcs does)."""
    return _lines(root, "pcs.log")


def ceph_log(root):
    """The ceph commands that changed state on this node, in order (``osd set noout``...)."""
    return _lines(root, "ceph.log")


def ceph_commands(root):
    """Every ceph command run on this node, reads included: ``[(time, "pg stat"), ...]``."""
    return [(float(t), cmd) for t, _, cmd in
            (line.partition(" ") for line in _lines(root, "ceph-commands.log"))]
