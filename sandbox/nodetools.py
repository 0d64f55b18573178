"""Stand-ins for a MOS node's own tools, run inside a sandbox node root.

``sandbox.services.install`` copies this file, as it is, to
``<root>/usr/lib/mosmu-sandbox/nodetools.py`` and writes one small wrapper per tool
(``<root>/bin/df``, ``<root>/usr/sbin/crm_mon``, ``<root>/usr/sbin/pcs``,
``<root>/usr/bin/ceph``, ``<root>/usr/bin/nova``, ``<root>/usr/bin/neutron``,
``<root>/usr/bin/cinder``) that calls :func:`main` with the tool's name and the node root
found from the wrapper's own path. Standard library only: the wrappers run with the host's
``/usr/bin/python3 -I``.

What each tool prints follows the real tool of a MOS 6.1-9.x node (formats taken from public
samples: pacemaker 1.1.12's ``crm_mon --as-xml``, pcs 0.9, ceph hammer, the Liberty and
Mitaka python clients' prettytable output, GNU ``df -P``). The cloud it describes is in
``<root>/etc/mosmu-sandbox/cloud.json`` (this node, its roles, the environment's nodes and
their roles, MOS version, distro); the faults to show are words, one a line, in
``<root>/etc/mosmu-sandbox/faults`` (:data:`FAULTS`); what the tools changed is kept in
``<root>/var/lib/mosmu-sandbox/`` (``pcs.log``, ``ceph.log``, ``ceph-flags``); every ``ceph``
command, reads included, is also logged with its time in ``ceph-commands.log``.
"""

import json
import math
import os
import re
import sys
import time
import uuid
from xml.sax.saxutils import quoteattr

FAULTS = ("resource-stopped", "resource-unmanaged", "node-standby", "nova-down", "agent-dead",
          "cinder-down", "ceph-warn", "disk-95",
          # faults that show only once the node's update has run (the checks after it fail)
          "disk-95-after-update", "pcs-restart-fails", "restart-fails",
          # Ceph under maintenance: PGs stay degraded while noout is set (the OSDs restarted
          # under it never come back); this node's monitor leaves the quorum once updated
          "pgs-stuck", "mon-out-of-quorum-after-update")
CLOUD_FILE = "etc/mosmu-sandbox/cloud.json"
FAULTS_FILE = "etc/mosmu-sandbox/faults"
STATE_DIR = "var/lib/mosmu-sandbox"
PACEMAKER_VERSION = "1.1.12"
PACEMAKER_BUILD = "1.1.12-561c4cf"
EX_USAGE = 64


class Node:
    """What the tools of one node root know: the root, its cloud description and faults."""

    def __init__(self, root):
        self.root = root
        cloud = _read_json(self.path(CLOUD_FILE)) or {}
        self.name = cloud.get("node") or ""
        self.roles = list(cloud.get("roles") or [])
        self.hosts = [(fqdn, list(roles)) for fqdn, roles in cloud.get("hosts") or []]
        self.version = str(cloud.get("version") or "8.0")
        self.distro = cloud.get("distro") or "ubuntu"
        self.faults = read_faults(root)

    def path(self, rel):
        """``rel`` inside the node root."""
        return os.path.join(self.root, rel)

    def with_role(self, role):
        """The environment's fqdns that have ``role``, in inventory order."""
        return [fqdn for fqdn, roles in self.hosts if role in roles]

    @property
    def mitaka(self):
        """MOS 9.x (Mitaka) rather than 8.0 and older (Liberty and before)."""
        return self.version.split(".")[0] == "9"

    def log(self, name, line):
        """Append ``line`` to ``<root>/var/lib/mosmu-sandbox/<name>``."""
        os.makedirs(self.path(STATE_DIR), exist_ok=True)
        with open(os.path.join(self.path(STATE_DIR), name), "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def read_faults(root):
    """The fault words set for a node root (unknown words are kept: they match nothing)."""
    try:
        with open(os.path.join(root, FAULTS_FILE), encoding="utf-8") as handle:
            return {line.strip() for line in handle if line.strip()}
    except OSError:
        return set()


def node_id(fqdn, index):
    """The Nailgun id in ``node-<id>.<domain>`` (Fuel's corosync node ids), else index+1."""
    match = re.match(r"node-(\d+)(\.|$)", fqdn)
    return int(match.group(1)) if match else index + 1


# -- tables as the python clients print them (prettytable 0.7) --------------------------------

def _center(text, width):
    """prettytable 0.7's centring: odd padding goes right of odd-length text, left of even."""
    excess = width - len(text)
    if excess % 2 == 0:
        return " " * (excess // 2) + text + " " * (excess // 2)
    if len(text) % 2:
        return " " * (excess // 2) + text + " " * (excess // 2 + 1)
    return " " * (excess // 2 + 1) + text + " " * (excess // 2)


def pretty_table(headers, rows, align="l"):
    """A prettytable: ``+---+`` rules, ``| cell |`` lines; ``align`` ``l`` (novaclient,
    neutronclient's cliff) or ``c`` (cinderclient, whose ``aligns`` setting never took)."""
    cells = [[str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in [list(headers), *cells]) for i in range(len(headers))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values):
        just = [_center(v, w) if align == "c" else v.ljust(w) for v, w in zip(values, widths)]
        return "| " + " | ".join(just) + " |"
    return "\n".join([rule, line(headers), rule, *(line(r) for r in cells), rule]) + "\n"


def _stamp(ago=0):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000", time.gmtime(time.time() - ago))


# -- df -P ---------------------------------------------------------------------------------

LOG_BLOCKS = 10190100      # /var/log of a Fuel node (logs-log LV), 1K blocks


def updated(node):
    """Whether the node's last MU run ended OK (its status file's last line)."""
    try:
        with open(os.path.join(node.root, "var/log/mos_apply_mu.status"),
                  encoding="utf-8") as handle:
            lines = handle.read().split()
    except OSError:
        return False
    return bool(lines) and lines[-1] == "UPDATE=OK"


def df_rows(node):
    """``(filesystem, blocks, used, available, mountpoint)`` in 1K blocks: udev and /run as
    on a Fuel node, the real usage of the node root's filesystem as ``/``, and a /var/log
    logical volume (95% used with the ``disk-95`` fault)."""
    st = os.statvfs(node.root)
    total = st.f_blocks * st.f_frsize // 1024
    used = (st.f_blocks - st.f_bfree) * st.f_frsize // 1024
    avail = st.f_bavail * st.f_frsize // 1024
    full = "disk-95" in node.faults or ("disk-95-after-update" in node.faults and updated(node))
    log_used = LOG_BLOCKS * (95 if full else 4) // 100
    return [("udev", 2013440, 12, 2013428, "/dev"),
            ("tmpfs", 404808, 412, 404396, "/run"),
            ("/dev/mapper/os-root", total, used, avail, "/"),
            ("/dev/mapper/logs-log", LOG_BLOCKS, log_used, LOG_BLOCKS - log_used, "/var/log")]


def _capacity(used, avail):
    """GNU df's percentage: used / (used + available), rounded up."""
    if used + avail == 0:
        return "-"
    return f"{math.ceil(used * 100 / (used + avail))}%"


def df_text(rows):
    """GNU ``df -P``: Filesystem left (at least 14 wide), numbers right, one space apart."""
    table = [("Filesystem", "1024-blocks", "Used", "Available", "Capacity", "Mounted on")]
    table += [(fs, str(b), str(u), str(a), _capacity(u, a), mnt) for fs, b, u, a, mnt in rows]
    widths = [max(14 if i == 0 else 5, *(len(r[i]) for r in table)) for i in range(5)]
    out = []
    for row in table:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 5)]
        out.append(" ".join([*cells, row[5]]))
    return "\n".join(out) + "\n"


def _mount_of(rows, path):
    """The row whose mount point holds ``path`` (longest prefix)."""
    best = None
    for row in rows:
        mnt = row[4]
        if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and \
                (best is None or len(mnt) > len(best[4])):
            best = row
    return best


def tool_df(node, args):
    """``df -P [-k] [-l] [PATH...]``."""
    paths = []
    for arg in args:
        if arg in ("-P", "--portability", "-k", "-l", "--local", "-Pk", "-kP"):
            continue
        if arg.startswith("-"):
            sys.stderr.write(f"df: invalid option -- '{arg.lstrip('-')[:1]}'\n"
                             "Try 'df --help' for more information.\n")
            return 1
        paths.append(arg)
    rows = df_rows(node)
    if paths:
        rows = [_mount_of(rows, p if p.startswith("/") else "/" + p) for p in paths]
    sys.stdout.write(df_text(rows))
    return 0


# -- Pacemaker: crm_mon -1 -X, pcs status xml, pcs resource restart ------------------------

# (kind, id, primitive id inside a clone, resource agent): Fuel's resources as pacemaker
# 1.1.12 lists them on a MOS 7.0/8.0 controller. "{p}" is "p_" (MOS 9.x dropped it for the
# OpenStack services), "{ovs}" the distro's OVS agent service name.
RESOURCES = (
    ("clone", "clone_p_vrouter", "p_vrouter", "ocf::fuel:ns_vrouter"),
    ("primitive", "vip__management", None, "ocf::fuel:ns_IPaddr2"),
    ("primitive", "vip__vrouter_pub", None, "ocf::fuel:ns_IPaddr2"),
    ("primitive", "vip__vrouter", None, "ocf::fuel:ns_IPaddr2"),
    ("primitive", "vip__public", None, "ocf::fuel:ns_IPaddr2"),
    ("master", "master_p_conntrackd", "p_conntrackd", "ocf::fuel:ns_conntrackd"),
    ("clone", "clone_p_haproxy", "p_haproxy", "ocf::fuel:ns_haproxy"),
    ("clone", "clone_p_dns", "p_dns", "ocf::fuel:ns_dns"),
    ("master", "master_p_rabbitmq-server", "p_rabbitmq-server", "ocf::fuel:rabbitmq-server"),
    ("clone", "clone_p_mysql", "p_mysql", "ocf::fuel:mysql-wss"),
    ("primitive", "{p}ceilometer-agent-central", None, "ocf::fuel:ceilometer-agent-central"),
    ("primitive", "{p}ceilometer-alarm-evaluator", None,
     "ocf::fuel:ceilometer-alarm-evaluator"),
    ("clone", "clone_{p}heat-engine", "{p}heat-engine", "ocf::fuel:heat-engine"),
    ("clone", "clone_{p}{ovs}", "{p}{ovs}", "ocf::fuel:ocf-neutron-ovs-agent"),
    ("clone", "clone_{p}neutron-dhcp-agent", "{p}neutron-dhcp-agent",
     "ocf::fuel:ocf-neutron-dhcp-agent"),
    ("clone", "clone_{p}neutron-metadata-agent", "{p}neutron-metadata-agent",
     "ocf::fuel:ocf-neutron-metadata-agent"),
    ("clone", "clone_{p}neutron-l3-agent", "{p}neutron-l3-agent",
     "ocf::fuel:ocf-neutron-l3-agent"),
    ("clone", "clone_p_ntp", "p_ntp", "ocf::fuel:ns_ntp"),
    ("clone", "clone_ping_vip__public", "ping_vip__public", "ocf::pacemaker:ping"),
)
STOPPED_RESOURCE = "{p}ceilometer-agent-central"      # the resource-stopped fault
UNMANAGED_RESOURCE = "clone_{p}heat-engine"            # the resource-unmanaged fault


def resource_names(node):
    """``[(kind, id, primitive id, agent)]`` with the node's naming filled in."""
    names = {"p": "" if node.mitaka else "p_",
             "ovs": "neutron-plugin-openvswitch-agent"
             if node.distro == "ubuntu" and not node.mitaka else "neutron-openvswitch-agent"}
    return [(kind, rid.format(**names), prim.format(**names) if prim else None, agent)
            for kind, rid, prim, agent in RESOURCES]


def _fault_id(node, template):
    return template.format(p="" if node.mitaka else "p_")


def _resource_xml(rid, agent, role, nodes, managed, indent):
    """One ``<resource>`` element running on ``nodes`` (``[(name, id)]``)."""
    head = (f'{indent}<resource id={quoteattr(rid)} resource_agent={quoteattr(agent)} '
            f'role="{role}" active="{str(role != "Stopped").lower()}" orphaned="false" '
            f'managed="{managed}" failed="false" failure_ignored="false" '
            f'nodes_running_on="{len(nodes)}" ')
    if not nodes:
        return [head + "/>"]
    return [head + ">",
            *(f'{indent}    <node name={quoteattr(n)} id="{i}" cached="false"/>' for n, i in nodes),
            f"{indent}</resource>"]


def cluster(node):
    """``(controllers [(name, id)], resource lines, running count per node name)``."""
    controllers = [(fqdn, node_id(fqdn, i)) for i, (fqdn, roles) in enumerate(node.hosts)
                   if "controller" in roles]
    running = {name: 0 for name, _id in controllers}
    stopped = _fault_id(node, STOPPED_RESOURCE) if "resource-stopped" in node.faults else None
    unmanaged = _fault_id(node, UNMANAGED_RESOURCE) \
        if "resource-unmanaged" in node.faults else None
    lines = []
    for kind, rid, prim, agent in resource_names(node):
        managed = "false" if rid == unmanaged else "true"
        if kind == "primitive":
            on = [] if rid == stopped else controllers[:1]
            lines += _resource_xml(rid, agent, "Stopped" if not on else "Started", on,
                                   managed, " " * 8)
            for name, _id in on:
                running[name] += 1
            continue
        lines.append(f'        <clone id={quoteattr(rid)} '
                     f'multi_state="{str(kind == "master").lower()}" unique="false" '
                     f'managed="{managed}" failed="false" failure_ignored="false" >')
        for index, (name, cid) in enumerate(controllers):
            role = ("Master" if index == 0 else "Slave") if kind == "master" else "Started"
            lines += _resource_xml(prim, agent, role, [(name, cid)], managed, " " * 12)
            running[name] += 1
        lines.append("        </clone>")
    return controllers, lines, running


def crm_mon_xml(node):
    """``crm_mon -1 -X`` (``--as-xml``) of pacemaker 1.1.12 for the environment's
    controllers; faults ``resource-stopped``, ``resource-unmanaged``, ``node-standby``."""
    controllers, resource_lines, running = cluster(node)
    dc_name, dc_id = controllers[0] if controllers else ("", 0)
    standby = controllers[-1][0] if controllers and "node-standby" in node.faults else None
    now = time.ctime()
    configured = sum(1 for line in resource_lines if line.lstrip().startswith("<resource "))
    out = ['<?xml version="1.0"?>', f'<crm_mon version="{PACEMAKER_VERSION}">', "    <summary>",
           f'        <last_update time="{now}" />',
           f'        <last_change time="{time.ctime(time.time() - 86400)}" user="root" '
           f'client="cibadmin" origin={quoteattr(dc_name)} />',
           '        <stack type="corosync" />',
           f'        <current_dc present="{str(bool(controllers)).lower()}" '
           f'version="{PACEMAKER_BUILD}" name={quoteattr(dc_name)} id="{dc_id}" '
           'with_quorum="true" />',
           f'        <nodes_configured number="{len(controllers)}" expected_votes="unknown" />',
           f'        <resources_configured number="{configured}" />',
           "    </summary>", "    <nodes>"]
    for name, cid in controllers:
        out.append(f'        <node name={quoteattr(name)} id="{cid}" online="true" '
                   f'standby="{str(name == standby).lower()}" standby_onfail="false" '
                   'maintenance="false" pending="false" unclean="false" shutdown="false" '
                   f'expected_up="true" is_dc="{str(name == dc_name).lower()}" '
                   f'resources_running="{running[name]}" type="member" />')
    out += ["    </nodes>", "    <resources>", *resource_lines, "    </resources>",
            "</crm_mon>"]
    return "\n".join(out) + "\n"


def tool_crm_mon(node, args):
    """``crm_mon -1 -X`` / ``--one-shot --as-xml`` (also ``-r``, ``-1X``)."""
    flags = set()
    for arg in args:
        if arg.startswith("--"):
            flags.add({"--one-shot": "1", "--as-xml": "X", "--inactive": "r"}.get(arg, arg))
        elif arg.startswith("-"):
            flags.update(arg[1:])
        else:
            flags.add(arg)
    if flags - {"1", "X", "r"} or not {"1", "X"} <= flags:
        sys.stderr.write("crm_mon: the mosmu sandbox stand-in prints only -1 -X "
                         "(--one-shot --as-xml)\n")
        return EX_USAGE
    sys.stdout.write(crm_mon_xml(node))
    return 0


def _restart_target(node, rid):
    """The resource pcs restarts for ``rid`` (a primitive inside a clone or master/slave
    restarts its parent, as pcs 0.9 does), or None when the cluster has no such id."""
    for _kind, top, prim, _agent in resource_names(node):
        if rid == top:
            return top
        if rid == prim:
            return top
    return None


def tool_pcs(node, args):
    """``pcs status xml`` and ``pcs resource restart <id>`` (pcs 0.9 output)."""
    if args[:2] == ["status", "xml"] and len(args) == 2:
        sys.stdout.write(crm_mon_xml(node))
        return 0
    if args[:2] == ["resource", "restart"] and len(args) == 3:
        target = _restart_target(node, args[2])
        if target is None:
            sys.stderr.write(f"Error: Resource '{args[2]}' not restarted: unknown\n"
                             "Error performing operation: Invalid argument\n")
            return 1
        if target != args[2]:
            sys.stdout.write(f"Warning: using {target}... (if a resource is a clone or "
                             "master/slave you must use the clone or master/slave name\n")
        if "pcs-restart-fails" in node.faults:
            sys.stderr.write(f"Error: {target} failed to start: Resource '{target}' "
                             "is not running on any node\n")
            return 1
        node.log("pcs.log", target)
        sys.stdout.write(f"{target} successfully restarted\n")
        return 0
    sys.stderr.write("Usage: pcs [-f file] [-h] [commands]...\nmosmu sandbox stand-in: "
                     "only 'status xml' and 'resource restart <id>'\n")
    return 1


# -- ceph ----------------------------------------------------------------------------------

CEPH_FLAGS = "ceph-flags"
PGS = 576


def ceph_flags(node):
    """The OSD flags set on this node's cluster (``noout``...)."""
    try:
        with open(os.path.join(node.path(STATE_DIR), CEPH_FLAGS), encoding="utf-8") as handle:
            return [w for w in handle.read().split() if w]
    except OSError:
        return []


def _set_flags(node, flags):
    os.makedirs(node.path(STATE_DIR), exist_ok=True)
    path = os.path.join(node.path(STATE_DIR), CEPH_FLAGS)
    with open(f"{path}.new", "w", encoding="utf-8") as handle:
        handle.write("".join(f"{f}\n" for f in flags))
    os.replace(f"{path}.new", path)


def ceph_health(node):
    """``ceph health`` of hammer: HEALTH_OK, or HEALTH_WARN with its reasons (degraded PGs
    with the ``ceph-warn`` fault, every OSD flag set: ``noout flag(s) set``)."""
    reasons = []
    if "ceph-warn" in node.faults:
        reasons += ["12 pgs degraded", "12 pgs stuck unclean",
                    "recovery 24/1312 objects degraded (1.829%)"]
    reasons += [f"{flag} flag(s) set" for flag in ceph_flags(node)]
    return "HEALTH_WARN " + "; ".join(reasons) if reasons else "HEALTH_OK"


def ceph_pg_stat(node):
    """``ceph pg stat`` of hammer (all active+clean unless the ``ceph-warn`` fault, or the
    ``pgs-stuck`` fault while ``noout`` is set)."""
    states = f"{PGS} active+clean"
    if "ceph-warn" in node.faults or ("pgs-stuck" in node.faults and
                                      "noout" in ceph_flags(node)):
        states = f"12 active+degraded, {PGS - 12} active+clean"
    return (f"v48213: {PGS} pgs: {states}; 2534 MB data, 7748 MB used, "
            "1480 GB / 1488 GB avail")


def short(fqdn):
    """A host's short name (what Fuel names its Ceph monitor after)."""
    return fqdn.split(".")[0]


def ceph_quorum_status(node):
    """``ceph quorum_status`` (JSON, as every release prints it): the monitors are the
    environment's controllers, all in the quorum but this node's once it is updated with the
    ``mon-out-of-quorum-after-update`` fault."""
    mons = [short(fqdn) for fqdn in node.with_role("controller")]
    out = short(node.name) if "mon-out-of-quorum-after-update" in node.faults and \
        updated(node) else None
    quorum = [(rank, name) for rank, name in enumerate(mons) if name != out]
    return json.dumps({
        "election_epoch": 6, "quorum": [rank for rank, _ in quorum],
        "quorum_names": [name for _, name in quorum],
        "quorum_leader_name": quorum[0][1] if quorum else "",
        "monmap": {"epoch": 1, "fsid": "a94f9906-ff68-487d-8193-23ad04c1b5c4",
                   "modified": "2016-06-01 10:40:44.403149", "created": "0.000000",
                   "mons": [{"rank": rank, "name": name, "addr": f"192.168.0.{rank + 3}:6789/0"}
                            for rank, name in enumerate(mons)]}}, separators=(",", ":"))


def tool_ceph(node, args):
    """``ceph health``, ``ceph pg stat``, ``ceph quorum_status [-f json]``, ``ceph osd
    set|unset <flag>``; changes logged to ``ceph.log``, every command with its time to
    ``ceph-commands.log``. Like the real CLI, the set/unset status line goes to stderr."""
    node.log("ceph-commands.log", f"{time.time():.6f} {' '.join(args)}")
    if args in (["quorum_status"], ["quorum_status", "-f", "json"]):
        sys.stdout.write(ceph_quorum_status(node) + "\n")
        return 0
    if args == ["health"]:
        sys.stdout.write(ceph_health(node) + "\n")
        return 0
    if args == ["pg", "stat"]:
        sys.stdout.write(ceph_pg_stat(node) + "\n")
        return 0
    if len(args) == 3 and args[:2] in (["osd", "set"], ["osd", "unset"]):
        flag, flags = args[2], ceph_flags(node)
        if args[1] == "set" and flag not in flags:
            flags.append(flag)
        if args[1] == "unset" and flag in flags:
            flags.remove(flag)
        _set_flags(node, flags)
        node.log("ceph.log", " ".join(args))
        sys.stderr.write(f"{args[1]} {flag}\n")
        return 0
    sys.stderr.write(f"no valid command found; mosmu sandbox stand-in: 'health', 'pg stat', "
                     f"'quorum_status', 'osd set|unset <flag>' (got {' '.join(args)!r})\n")
    return 22


# -- OpenStack clients ---------------------------------------------------------------------

NOVA_CONTROLLER = ("nova-consoleauth", "nova-scheduler", "nova-conductor", "nova-cert")
NEUTRON_CONTROLLER = (("DHCP agent", "neutron-dhcp-agent"), ("L3 agent", "neutron-l3-agent"),
                      ("Metadata agent", "neutron-metadata-agent"),
                      ("Open vSwitch agent", "neutron-openvswitch-agent"))
NO_USERNAME = {
    "nova": "ERROR (CommandError): You must provide a username or user id via --os-username, "
            "--os-user-id, env[OS_USERNAME] or env[OS_USER_ID]",
    "neutron": "You must provide a username or user ID via  --os-username, env[OS_USERNAME] "
               "or  --os-user-id, env[OS_USER_ID]",
    "cinder": "ERROR: You must provide a user name through --os-username or env[OS_USERNAME].",
}


def _first_down(candidates):
    return candidates[0] if candidates else None


def nova_services(node):
    """``[(binary, host, zone, up)]``: each controller's four nova services, then each
    compute's nova-compute; ``nova-down`` downs the first compute's (or, with no compute, the
    first controller's scheduler)."""
    rows = [(b, h, "internal") for h in node.with_role("controller") for b in NOVA_CONTROLLER]
    rows += [("nova-compute", h, "nova") for h in node.with_role("compute")]
    down = None
    if "nova-down" in node.faults:
        down = _first_down([r for r in rows if r[0] == "nova-compute"] or
                           [r for r in rows if r[0] == "nova-scheduler"])
    return [(b, h, z, (b, h, z) != down) for b, h, z in rows]


def nova_text(node, host=None, binary=None):
    """``nova service-list`` of novaclient (Liberty/Mitaka)."""
    rows = []
    for index, (b, h, z, up) in enumerate(nova_services(node), start=1):
        if (host and h != host) or (binary and b != binary):
            continue
        rows.append((index, b, h, z, "enabled", "up" if up else "down",
                     _stamp(2 if up else 600), "-"))
    return pretty_table(("Id", "Binary", "Host", "Zone", "Status", "State", "Updated_at",
                         "Disabled Reason"), rows)


def neutron_agents(node):
    """``[(id, agent_type, host, binary, alive)]``, sorted by id as the API lists them:
    four agents per controller, the OVS agent per compute; ``agent-dead`` kills the first
    compute's OVS agent (or, with no compute, the first controller's L3 agent)."""
    rows = [(t, h, b) for h in node.with_role("controller") for t, b in NEUTRON_CONTROLLER]
    rows += [("Open vSwitch agent", h, "neutron-openvswitch-agent")
             for h in node.with_role("compute") if h not in node.with_role("controller")]
    dead = None
    if "agent-dead" in node.faults:
        computes = set(node.with_role("compute"))
        dead = _first_down([r for r in rows if r[0] == "Open vSwitch agent" and r[1] in computes]
                           or [r for r in rows if r[0] == "L3 agent"])
    out = [(str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{b}.{h}")), t, h, b, (t, h, b) != dead)
           for t, h, b in rows]
    return sorted(out)


def neutron_text(node):
    """``neutron agent-list``: Liberty's columns, Mitaka's (``availability_zone``) on 9.x."""
    headers = ["id", "agent_type", "host", "alive", "admin_state_up", "binary"]
    if node.mitaka:
        headers.insert(3, "availability_zone")
    rows = []
    for aid, atype, host, binary, alive in neutron_agents(node):
        row = [aid, atype, host, ":-)" if alive else "xxx", "True", binary]
        if node.mitaka:
            row.insert(3, "nova" if atype in ("DHCP agent", "L3 agent") else "")
        rows.append(row)
    return pretty_table(headers, rows)


def cinder_services(node):
    """``[(binary, host, up)]``: cinder-scheduler per controller, cinder-volume per node with
    the ``cinder`` role; ``cinder-down`` downs the first volume service (or scheduler)."""
    rows = [("cinder-scheduler", h) for h in node.with_role("controller")]
    rows += [("cinder-volume", h) for h in node.with_role("cinder")]
    down = None
    if "cinder-down" in node.faults:
        down = _first_down([r for r in rows if r[0] == "cinder-volume"] or rows)
    return [(b, h, (b, h) != down) for b, h in rows]


def cinder_text(node, host=None, binary=None):
    """``cinder service-list`` of cinderclient (Liberty/Mitaka: centred cells)."""
    rows = [(b, h, "nova", "enabled", "up" if up else "down", _stamp(3 if up else 600), "-")
            for b, h, up in cinder_services(node)
            if not (host and h != host) and not (binary and b != binary)]
    return pretty_table(("Binary", "Host", "Zone", "Status", "State", "Updated_at",
                         "Disabled Reason"), rows, align="c")


def _options(args):
    """``(positional words, {--option: value})`` of a client command line."""
    words, opts, rest = [], {}, list(args)
    while rest:
        arg = rest.pop(0)
        if arg.startswith("--") and "=" in arg:
            key, value = arg.split("=", 1)
            opts[key] = value
        elif arg.startswith("--") and arg in ("--host", "--binary") and rest:
            opts[arg] = rest.pop(0)
        elif arg.startswith("-"):
            opts[arg] = True
        else:
            words.append(arg)
    return words, opts


CLIENT_COMMANDS = {"nova": "service-list", "neutron": "agent-list", "cinder": "service-list"}


def tool_client(tool, node, args):
    """``nova service-list``, ``neutron agent-list``, ``cinder service-list``; refused with
    the real client's message (exit 1) when ``OS_USERNAME`` is not in the environment."""
    words, opts = _options(args)
    if words != [CLIENT_COMMANDS[tool]]:
        sys.stderr.write(f"usage: {tool} [--version] [--debug] <subcommand> ...\n"
                         f"error: argument <subcommand>: invalid choice: "
                         f"{' '.join(words)!r}\n")
        return 2
    if not os.environ.get("OS_USERNAME"):
        sys.stderr.write(NO_USERNAME[tool] + "\n")
        return 1
    if tool == "nova":
        sys.stdout.write(nova_text(node, opts.get("--host"), opts.get("--binary")))
    elif tool == "cinder":
        sys.stdout.write(cinder_text(node, opts.get("--host"), opts.get("--binary")))
    else:
        sys.stdout.write(neutron_text(node))
    return 0


TOOLS = {"df": tool_df, "crm_mon": tool_crm_mon, "pcs": tool_pcs, "ceph": tool_ceph}


def main(tool, root, args):
    """Run stand-in ``tool`` for the node root ``root``; its exit status."""
    node = Node(root)
    if tool in CLIENT_COMMANDS:
        return tool_client(tool, node, args)
    return TOOLS[tool](node, args)
