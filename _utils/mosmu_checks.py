"""Parsers for what the cloud's own tools print: the health gates and holds of issue 18.

Each function takes the text one tool printed (``df -P``, ``crm_mon -X``, ``ceph health``,
``nova service-list``, an init script's ``status``, ``dpkg --verify`` ...) and returns either
*problems* or plain data. A problem is a one-line string that names the thing and its bad
state (``"resource p_heat-engine is Stopped"``); ``[]`` means healthy. Foreign text (host
names, resource ids, mount points) reaches the problem unchanged: the caller makes it safe for
a terminal (``mosmu_text.safe``), as it does for all foreign text.

Text that is not the tool's format (an error message, empty output, a truncated table) raises
``ValueError("<tool> output is not <format>: <line>")`` naming the first line that does not
fit, cut to 120 characters. The openrc parser shows a line only up to its first ``=``, so a
password never reaches an error.

Pure functions of the standard library: no Salt, no commands, no files. The formats are the
ones of the releases MOS 6.x-9.x run (Ubuntu 12.04/14.04, CentOS 6/7, Pacemaker 1.1, Ceph
firefly/hammer, Liberty/Mitaka clients) and their successors where they differ only a little;
``tests/unit/data/checks/README.md`` lists the public samples they are tested on.
"""

import json
import re
import xml.etree.ElementTree as ET  # a DTD is refused before parsing: see _crm_root

CUT = 120                                   # characters of a foreign line quoted in an error
BLANKS = " \t\r"     # what pads a line or a cell: str.strip() would eat \x1c-\x1f and \x85 too


# -- errors ---------------------------------------------------------------------------------

def _lines(text):
    """The lines of ``text``, split at ``\\n`` only: ``str.splitlines`` would also split at
    ``\\x85``, ``\\x1c`` or ``\\u2028`` inside a host name."""
    return [line.rstrip("\r") for line in text.split("\n")]


def _cut(line):
    line = line.strip(BLANKS)
    return line if len(line) <= CUT else line[:CUT - 1] + "…"


def _first_line(text):
    for line in _lines(text):
        if line.strip(BLANKS):
            return line
    return "(no output)"


def _not_format(tool, fmt, line):
    """The one error every parser raises: ``<tool> output is not <format>: <line>``."""
    return ValueError(f"{tool} output is not {fmt}: {_cut(line)}")


def _text(value, tool, fmt):
    if not isinstance(value, str):
        raise _not_format(tool, fmt, f"(a {type(value).__name__}, not text)")
    return value


def _dedup(items):
    """``items`` without repeats, first occurrence kept (clone instances repeat a problem)."""
    return list(dict.fromkeys(items))


# -- df -------------------------------------------------------------------------------------

DF_IMAGE_TYPES = frozenset(("squashfs", "iso9660", "udf"))   # read-only images: always full
_DF_HEADER = re.compile(
    r"Filesystem\s+(?P<type>Type\s+)?\S+-blocks\s+Used\s+Avail(?:able)?\s+"
    r"(?:Capacity|Use%)\s+Mounted on")
_DF_NUMBERS = r"\s+(?P<blocks>\d+)\s+(?P<used>\d+)\s+(?P<avail>-?\d+)\s+(?P<cap>\d+%|-)"
_DF_ROW = re.compile(r"(?P<fs>\S.*?)" + _DF_NUMBERS + r"\s+(?P<mount>/.*)")
_DF_ROW_TYPE = re.compile(r"(?P<fs>\S.*?)\s+(?P<type>\S+)" + _DF_NUMBERS + r"\s+(?P<mount>/.*)")


def _df_lines(lines):
    """Data lines with a wrapped device name (old ``df`` without ``-P``) joined to its row."""
    pending = ""
    for line in lines:
        if not line.strip(BLANKS):
            continue
        if pending:
            line, pending = pending + " " + line.strip(BLANKS), ""
        elif len(line.split()) == 1:
            pending = line.strip(BLANKS)
            continue
        yield line
    if pending:
        yield pending


def disk_problems(text, limit=90):
    """Filesystems fuller than ``limit`` percent, from ``df -P`` (or ``df -PT``) output.

    :param text: the output; header ``Filesystem 1024-blocks Used Available Capacity Mounted
        on`` (``df``'s ``1K-blocks ... Use%`` and a ``Type`` column are read too); mount
        points may contain spaces
    :param limit: the highest acceptable Capacity, a whole percentage 0-100
    :return: ``["/var is 95% full (limit 90%)", ...]`` in ``df``'s order; pseudo filesystems
        with 0 blocks are ignored, and with a ``Type`` column so are read-only images
        (squashfs, iso9660, udf), which are always 100% full
    :raises ValueError: the text is not ``df -P`` output, or ``limit`` is not a percentage
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 100:
        raise ValueError(f"disk limit must be a whole percentage 0-100, not {limit!r}")
    lines = [line for line in _lines(_text(text, "df", "df -P output")) if line.strip(BLANKS)]
    header = _DF_HEADER.fullmatch(lines[0].strip(BLANKS)) if lines else None
    if not header:
        raise _not_format("df", "df -P output", _first_line(text))
    row_re = _DF_ROW_TYPE if header.group("type") else _DF_ROW
    problems = []
    for line in _df_lines(lines[1:]):
        row = row_re.fullmatch(line.strip(BLANKS))
        if not row:
            raise _not_format("df", "df -P output", line)
        if row.group("blocks") == "0" or row.group("cap") == "-":
            continue
        if header.group("type") and row.group("type") in DF_IMAGE_TYPES:
            continue
        used = int(row.group("cap")[:-1])
        if used > limit:
            problems.append(f"{row.group('mount')} is {used}% full (limit {limit}%)")
    return problems


# -- Pacemaker ------------------------------------------------------------------------------

CRM_ROOTS = ("crm_mon", "pacemaker-result")      # 1.1.x ``crm_mon -X``/``pcs status xml``, 2.x
RUNNING_ROLES = frozenset(("Started", "Master", "Slave", "Promoted", "Unpromoted"))
# (node attribute, value that is a problem, what the problem says)
NODE_PROBLEMS = (
    ("online", "false", "is offline"),
    ("standby", "true", "is in standby"),
    ("standby_onfail", "true", "is in standby after a failure"),
    ("maintenance", "true", "is in maintenance"),
    ("unclean", "true", "is unclean"),
    ("pending", "true", "is pending"),
    ("shutdown", "true", "is shutting down"),
)
# (failure attribute, how a problem names it) - what a failed action adds in brackets
FAILURE_DETAILS = (("exitcode", "exit code"), ("status", "status"),
                   ("last-rc-change", "last change"))
_DTD = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _crm_root(xml_text):
    """The parsed ``crm_mon`` document; input with a DTD or entity declaration is refused
    before parsing (no entity is ever expanded)."""
    text = _text(xml_text, "crm_mon", "crm_mon XML")
    if _DTD.search(text):
        raise _not_format("crm_mon", "crm_mon XML (a DTD or entity declaration is refused)",
                          _first_line(text))
    try:
        root = ET.fromstring(text.lstrip())  # noqa: S314 (no DTD, see above)
    except ET.ParseError as err:
        raise _not_format("crm_mon", "crm_mon XML", _first_line(text)) from err
    if root.tag not in CRM_ROOTS:
        raise _not_format("crm_mon", "crm_mon XML", _first_line(text))
    return root


def _crm_error(root):
    """``"<message> (status <code>)"`` when a 2.x ``crm_mon`` reports its own failure."""
    status = root.find("status")
    if status is None or status.get("code", "0") == "0":
        return None
    return f"{status.get('message', 'error')} (status {status.get('code')})"


def _walk(element, top, target):
    """``(resource, top-level container id, target role)`` for each primitive instance."""
    target = element.get("target_role") or target
    if element.tag == "resource":
        yield element, top, target
        return
    for child in element:
        yield from _walk(child, top or element.get("id"), target)


def _instances(root):
    resources = root.find("resources")
    for child in (resources if resources is not None else ()):
        yield from _walk(child, None, None)


def _node_problems(root):
    problems = []
    options = root.find("summary/cluster_options")
    if options is not None and options.get("maintenance-mode") == "true":
        problems.append("cluster is in maintenance mode")
    for node in root.iterfind("nodes/node"):
        for attr, bad, says in NODE_PROBLEMS:
            if node.get(attr) == bad:
                problems.append(f"node {node.get('name')} {says}")
    return problems


def _resource_problems(resource, parent, target):
    label = f"resource {resource.get('id')}" + (f" ({parent})" if parent else "")
    nodes = [node.get("name") for node in resource.iterfind("node")]
    where = f" on {', '.join(nodes)}" if nodes else ""
    role = resource.get("role", "")
    problems = []
    if resource.get("failed") == "true":
        problems.append(f"{label} is failed{where}")
    if resource.get("managed") == "false":
        problems.append(f"{label} is unmanaged{where}")
    if resource.get("maintenance") == "true":
        problems.append(f"{label} is in maintenance{where}")
    if resource.get("blocked") == "true":
        problems.append(f"{label} is blocked{where}")
    if not role:
        state = None if resource.get("active") == "true" else "is not active"
    elif role not in RUNNING_ROLES:
        state = f"is {role}"
    elif resource.get("active") == "false":
        state = f"is not active (role {role})"
    else:
        state = None
    if state:
        operator = " (target-role Stopped: stopped by the operator)" if target == "Stopped" else ""
        problems.append(f"{label} {state}{operator}")
    return problems


def _failure(failure):
    reason = failure.get("exitreason")
    shown = [f"{label} {failure.get(attr)}" for attr, label in FAILURE_DETAILS
             if failure.get(attr)]
    return (f"failed action {failure.get('op_key')} on {failure.get('node')}: "
            f"{failure.get('exitstatus') or 'failed'}" + (f": {reason}" if reason else "")
            + (f" ({', '.join(shown)})" if shown else ""))


def pacemaker_problems(xml_text):
    """What is wrong in a Pacemaker cluster, from ``crm_mon -1 -X`` / ``crm_mon --as-xml`` /
    ``pcs status xml`` (1.1.x ``<crm_mon>``) or 2.x ``crm_mon --output-as=xml``
    (``<pacemaker-result>``).

    :param xml_text: the XML text; a DTD or entity declaration is refused
    :return: one problem per bad node state (offline, standby, maintenance, unclean, pending,
        shutting down), per resource instance that is failed, unmanaged, in maintenance,
        blocked, Stopped or otherwise not running (group members and clone or master/slave
        instances included; one the operator stopped with target-role Stopped is reported
        and says so), per ``<failures>`` entry, and cluster-wide maintenance mode; a 2.x
        ``crm_mon`` that reports its own error is one problem
    :raises ValueError: the text is not crm_mon XML
    """
    root = _crm_root(xml_text)
    error = _crm_error(root)
    if error:
        return [f"pacemaker: crm_mon reports {error}"]
    problems = _node_problems(root)
    for resource, parent, target in _instances(root):
        problems += _resource_problems(resource, parent, target)
    problems += [_failure(failure) for failure in root.iterfind("failures/failure")]
    return _dedup(problems)


def pacemaker_resources(xml_text):
    """The Pacemaker resources as the operator restarts them (``crm resource restart <id>``).

    :param xml_text: ``crm_mon`` XML as for :func:`pacemaker_problems`
    :return: one dict per primitive, in document order: ``{"id", "parent", "agent", "role",
        "active"}``; ``id`` is the primitive's id (``p_neutron-l3-agent``, also for the
        instances of ``clone_p_neutron-l3-agent``, a unique clone's ``:N`` dropped),
        ``parent`` the top-level clone, master or group id or ``None``, ``agent`` the
        ``resource_agent`` (``ocf::fuel:ocf-neutron-l3-agent``), ``role`` the instances'
        roles sorted and joined by ``,`` (``Master,Slave,Stopped``), ``active`` whether any
        instance is active
    :raises ValueError: the text is not crm_mon XML, or crm_mon reports its own error
    """
    root = _crm_root(xml_text)
    error = _crm_error(root)
    if error:
        raise ValueError(f"crm_mon reports {error}: no resource list")
    found = {}
    for resource, parent, _target in _instances(root):
        rid = resource.get("id", "")
        if parent:
            rid = re.sub(r":\d+$", "", rid)
        entry = found.setdefault(rid, {"id": rid, "parent": parent,
                                       "agent": resource.get("resource_agent"),
                                       "roles": set(), "active": False})
        entry["roles"].add(resource.get("role", ""))
        entry["active"] = entry["active"] or resource.get("active") == "true"
    return [{"id": e["id"], "parent": e["parent"], "agent": e["agent"],
             "role": ",".join(sorted(r for r in e["roles"] if r)), "active": e["active"]}
            for e in found.values()]


# -- Ceph -----------------------------------------------------------------------------------

_HEALTH = re.compile(r"(?P<status>HEALTH_(?:OK|WARN|ERR))\b\s*(?P<reason>.*)")
_PG_STAT = re.compile(r"(?:v\d+:\s+)?(?P<total>\d+) pgs:\s*(?P<states>[^;]*)(?:;.*)?")
_PG_STATE = re.compile(r"(?P<count>\d+) (?P<state>[a-z_+]+)")
PG_CLEAN_EXTRAS = frozenset(("scrubbing", "deep", "snaptrim", "snaptrim_wait"))


def ceph_problems(text):
    """Problems from ``ceph health`` or ``ceph health detail``.

    :param text: the output; its first line starts with HEALTH_OK, HEALTH_WARN or HEALTH_ERR
    :return: ``[]`` for HEALTH_OK; otherwise one problem per line: ``"ceph health is
        HEALTH_WARN: <reason>"`` for the first, ``"ceph health detail: <line>"`` for the rest
    :raises ValueError: the text is not ceph health output
    """
    text = _text(text, "ceph health", "a ceph health status")
    lines = [line.strip(BLANKS) for line in _lines(text) if line.strip(BLANKS)]
    first = _HEALTH.fullmatch(lines[0]) if lines else None
    if not first:
        raise _not_format("ceph health", "a ceph health status", _first_line(text))
    if first.group("status") == "HEALTH_OK":
        return []
    reason = first.group("reason")
    problems = [f"ceph health is {first.group('status')}" + (f": {reason}" if reason else "")]
    return problems + [f"ceph health detail: {line}" for line in lines[1:]]


def _pg_clean(state):
    parts = set(state.split("+"))
    return {"active", "clean"} <= parts and parts - {"active", "clean"} <= PG_CLEAN_EXTRAS


def ceph_pgs_clean(text):
    """Whether every placement group is active+clean, from ``ceph pg stat``.

    :param text: the output, ``v123: 192 pgs: 190 active+clean, 2 active+degraded; ...``
        (hammer/jewel; the ``vNNN:`` prefix is optional, as in later releases)
    :return: ``(all_clean, summary)``; clean means every state has ``active`` and ``clean``
        and nothing else but scrubbing/snaptrim, and the counts add up to the total;
        ``summary`` is ``"192 pgs: 190 active+clean, 2 active+degraded"``
    :raises ValueError: the text is not ceph pg stat output
    """
    line = _first_line(_text(text, "ceph pg stat", "a pg summary"))
    stat = _PG_STAT.fullmatch(line.strip(BLANKS))
    if not stat:
        raise _not_format("ceph pg stat", "a pg summary", line)
    states = []
    for item in filter(None, (part.strip(BLANKS) for part in stat.group("states").split(","))):
        match = _PG_STATE.fullmatch(item)
        if not match:
            raise _not_format("ceph pg stat", "a pg summary", line)
        states.append((int(match.group("count")), match.group("state")))
    total = int(stat.group("total"))
    clean = sum(count for count, _ in states) == total and all(_pg_clean(s) for _, s in states)
    shown = ", ".join(f"{count} {state}" for count, state in states) or "none"
    return clean, f"{total} pgs: {shown}"


def ceph_quorum(text):
    """The monitors in quorum and all the monitors, from ``ceph quorum_status`` (JSON).

    :param text: the output: ``{"quorum_names": [...], "monmap": {"mons": [{"name": ...}]}}``
        (every release since argonaut prints JSON, ``-f json`` or not)
    :return: ``(in_quorum, monitors)``: two lists of monitor names (Fuel names a controller's
        monitor after its short host name, ``node-1``)
    :raises ValueError: the text is not quorum_status output
    """
    text = _text(text, "ceph quorum_status", "a quorum status")
    try:
        data = json.loads(text)
    except ValueError:
        raise _not_format("ceph quorum_status", "a quorum status", _first_line(text)) from None
    names = data.get("quorum_names") if isinstance(data, dict) else None
    mons = (data.get("monmap") or {}).get("mons") if isinstance(data, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or \
            not isinstance(mons, list) or \
            not all(isinstance(m, dict) and isinstance(m.get("name"), str) for m in mons):
        raise _not_format("ceph quorum_status", "a quorum status", _first_line(text))
    return list(names), [m["name"] for m in mons]


# -- OpenStack service tables ---------------------------------------------------------------

_BORDER = re.compile(r"\+(?:-+\+)+")


def _column(name):
    return re.sub(r"[\s_]+", "_", name.strip(BLANKS).lower())


def _table(text, tool, required):
    """``[{column: cell}]`` of the first prettytable in ``text``; columns named in lower
    case with ``_`` for blanks (``Disabled Reason`` -> ``disabled_reason``). Lines before the
    table (a client's deprecation notice) are skipped; only the last cell may contain ``|``."""
    fmt = "a service table"
    lines = _lines(_text(text, tool, fmt))
    start = next((n for n, line in enumerate(lines) if _BORDER.fullmatch(line.strip(BLANKS))), None)
    if start is None or start + 2 >= len(lines):
        raise _not_format(tool, fmt, _first_line(text))
    width = lines[start].strip(BLANKS).count("+") - 1

    def cells(line):
        line = line.strip(BLANKS)
        found = line[1:-1].split("|", width - 1)
        if not (line.startswith("|") and line.endswith("|")) or len(found) != width:
            raise _not_format(tool, fmt, line)
        return [cell.strip(BLANKS) for cell in found]

    header = [_column(name) for name in cells(lines[start + 1])]
    if not _BORDER.fullmatch(lines[start + 2].strip(BLANKS)) or not set(required) <= set(header):
        raise _not_format(tool, fmt, lines[start + 1])
    body = [line for line in lines[start + 3:] if line.strip(BLANKS)]
    rows = []
    for line in body:
        if _BORDER.fullmatch(line.strip(BLANKS)):
            return rows
        row = dict(zip(header, cells(line)))
        if any(row[key] for key in required):          # not a wrapped cell's second line
            rows.append(row)
    if body:                                            # rows but no closing border: cut short
        raise _not_format(tool, fmt, body[-1])
    return rows                                         # an empty table: header only


def _service_problems(text, tool):
    problems = []
    for row in _table(text, tool, ("binary", "host", "status", "state")):
        state = row["state"]
        if state.lower() == "up":
            continue
        disabled = ""
        if row["status"].lower() == "disabled":
            reason = row.get("disabled_reason", "")
            disabled = f" (disabled: {reason})" if reason not in ("", "-", "None") \
                else " (disabled)"
        problems.append(f"{row['binary']} on {row['host']} is {state}{disabled}")
    return problems


def nova_service_problems(text):
    """Nova services that are not up, from ``nova service-list`` (Liberty/Mitaka client).

    :param text: the prettytable: ``Id | Binary | Host | Zone | Status | State | Updated_at
        | Disabled Reason``
    :return: ``["nova-compute on node-2.test.domain.local is down", ...]``; a disabled
        service says so: ``"... is down (disabled: maintenance)"``
    :raises ValueError: the text is not a service table
    """
    return _service_problems(text, "nova service-list")


def cinder_service_problems(text):
    """Cinder services that are not up, from ``cinder service-list`` (no ``Id`` column,
    centred cells); problems as for :func:`nova_service_problems`.

    :param text: the prettytable output
    :raises ValueError: the text is not a service table
    """
    return _service_problems(text, "cinder service-list")


ALIVE = {":-)": True, "true": True, "xxx": False, "false": False}
ADMIN_UP = {"true": True, "up": True, "false": False, "down": False}


def neutron_agent_problems(text):
    """Neutron agents that are not alive, from ``neutron agent-list``.

    :param text: the prettytable: ``id | agent_type | host | [availability_zone |] alive |
        admin_state_up | binary`` (``openstack network agent list``'s ``Alive``/``State``
        columns are read too)
    :return: ``["neutron-l3-agent on node-1 is not alive (xxx)", ...]``, with
        ``, admin state down`` inside the brackets for an agent also disabled
    :raises ValueError: the text is not an agent table, or alive is neither ``:-)`` nor
        ``xxx`` (nor ``True``/``False``)
    """
    tool = "neutron agent-list"
    problems = []
    for row in _table(text, tool, ("host", "alive", "binary")):
        alive = ALIVE.get(row["alive"].lower())
        if alive is None:
            raise _not_format(tool, "an agent table", f"alive {row['alive']}")
        if alive:
            continue
        admin = row.get("admin_state_up", row.get("state", ""))
        down = ", admin state down" if ADMIN_UP.get(admin.lower()) is False else ""
        problems.append(f"{row['binary']} on {row['host']} is not alive ({row['alive']}{down})")
    return problems


# -- init script status ---------------------------------------------------------------------

# upstart: ``nova-compute start/running, process 1234``, ``network-interface (eth0) stop/waiting``
_UPSTART = re.compile(r"\S+(?: \([^)]*\))? (?P<goal>start|stop)/(?P<state>[a-z-]+)"
                      r"(?:, process (?P<pid>\d+))?")
_SYSTEMD_ACTIVE = re.compile(r"Active: (?P<state>[a-z-]+) \((?P<sub>[^)]*)\).*")
_SYSTEMD_PID = re.compile(r"Main PID: (?P<pid>\d+)\b.*")
# (pattern searched in a line, running?) - the first that matches decides the line
STATUS_PHRASES = (
    (re.compile(r"\bdead but (?:pid file exists|subsys locked)\b"), False),     # RHEL sysv
    (re.compile(r"\bis (?:not running|stopped)\b", re.IGNORECASE), False),      # LSB, RHEL
    (re.compile(r"\(pid\s+(?P<pid>\d+)[\d\s]*\) is running\b"), True),         # RHEL sysv
    (re.compile(r"\bis running \(pid (?P<pid>\d+)\)"), True),                   # Debian scripts
    (re.compile(r"\bis running\b"), True),                                      # LSB
)


def _status_line(line):
    """``(running, pid or None)`` for one recognised status line, else ``None``; a systemd
    ``Main PID:`` line is ``(None, pid)``."""
    upstart = _UPSTART.fullmatch(line)
    if upstart:
        running = upstart.group("goal") == "start" and upstart.group("state") == "running"
        return running, int(upstart.group("pid")) if running and upstart.group("pid") else None
    active = _SYSTEMD_ACTIVE.fullmatch(line)
    if active:
        return (active.group("state"), active.group("sub")) == ("active", "running"), None
    main = _SYSTEMD_PID.fullmatch(line)
    if main:
        return None, int(main.group("pid"))
    for pattern, running in STATUS_PHRASES:
        match = pattern.search(line)
        if match:
            pid = match.groupdict().get("pid")
            return running, int(pid) if pid else None
    return None


def service_status(text, retcode):
    """Whether a service runs, from ``/etc/init.d/<service> status`` (or ``service ...``).

    :param text: the output: upstart (``nova-compute start/running, process 1234``,
        ``stop/waiting``, also after the ``Rather than invoking init scripts`` notice), RHEL
        sysv (``openstack-nova-compute (pid  1234) is running...``, ``is stopped``, ``dead but
        pid file exists``), LSB/Debian (`` * nova-compute is running``, ``is not running``,
        ``Apache2 is running (pid 1907).``) or systemd (``Active: active (running)``,
        ``Main PID: 1234``)
    :param retcode: the script's exit code; 3 (LSB "not running") decides when no line of
        the text is a status
    :return: ``{"running": bool, "pid": int or None}``; running only when every status line
        says so (a service of several daemons); the pid of the first running line, or
        ``None`` (LSB scripts print none)
    :raises ValueError: no line is a status and ``retcode`` is not 3
    """
    if isinstance(retcode, bool) or not isinstance(retcode, int):
        raise ValueError(f"retcode must be an int, not {retcode!r}")
    states, pids = [], []
    for line in _lines(_text(text, "service status", "a service status")):
        found = _status_line(line.strip(BLANKS))
        if found is None:
            continue
        running, pid = found
        if running is not None:
            states.append(running)
        if pid is not None and running is not False:
            pids.append(pid)
    if not states:
        if retcode == 3:
            return {"running": False, "pid": None}
        raise _not_format("service status", "a service status", _first_line(text))
    running = all(states)
    return {"running": running, "pid": pids[0] if running and pids else None}


# -- openrc ---------------------------------------------------------------------------------

OPENRC_NAMES = re.compile(r"(?:OS|NOVA|CINDER|NEUTRON)_[A-Z0-9_]+")
_EXPORT = re.compile(r"export\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<rest>.*)")
_BARE = re.compile(r"(?P<value>[^\s'\"\\;&|<>()`]*)(?:\s+#.*|\s*)")
_TAIL = re.compile(r"(?:\s+#.*|\s*)")
_DOUBLE_ESCAPES = '$`"\\'


def _quoted(rest, quote):
    """The value of a ``'...'``/``"..."`` word and the rest of the line, or ``None``.

    Single quotes: Fuel's template writes a quote inside as ``\\'``; that is read as a quote.
    Double quotes: backslash escapes ``$ ` " \\``; ``$VAR`` is kept as written."""
    value, i = [], 1
    while i < len(rest):
        char = rest[i]
        if char == "\\" and i + 1 < len(rest) and (
                rest[i + 1] == "'" if quote == "'" else rest[i + 1] in _DOUBLE_ESCAPES):
            value.append(rest[i + 1])
            i += 2
        elif char == quote:
            return "".join(value), rest[i + 1:]
        else:
            value.append(char)
            i += 1
    return None


def _shell_value(rest):
    """The value of a simple assignment's right-hand side, or ``None`` when it is not simple
    (command substitution, ``;``, an unterminated quote ...). Nothing is expanded."""
    if rest[:1] in ("'", '"'):
        found = _quoted(rest, rest[0])
        return found[0] if found and _TAIL.fullmatch(found[1]) else None
    bare = _BARE.fullmatch(rest)
    return bare.group("value") if bare else None


def _openrc_line(line):
    """A line of an openrc shown in an error: up to its first ``=`` only (no secret)."""
    return line.split("=", 1)[0] + ("=…" if "=" in line else "")


def openrc_env(text):
    """The OpenStack client variables Fuel's ``/root/openrc`` exports.

    :param text: the file (``fuel-library``'s ``openrc.erb``: ``export OS_X='v'`` lines, a
        ``#!/bin/sh`` line); ``'v'``, ``"v"`` and bare values are read, ``#`` comments and
        lines that are not one simple ``export NAME=value`` are ignored, nothing is expanded
        (``$VAR`` stays as written)
    :return: ``{"OS_USERNAME": ..., "NOVA_ENDPOINT_TYPE": ..., ...}`` for names
        ``OS_*``, ``NOVA_*``, ``CINDER_*``, ``NEUTRON_*`` (the last export wins); Fuel's
        ``GLANCE_``/``KEYSTONE_ENDPOINT_TYPE``, ``MURANO_*`` and ``LC_ALL`` are left out
    :raises ValueError: no ``OS_*`` variable is exported; the error shows a line only up to
        its ``=``
    """
    env = {}
    for line in _lines(_text(text, "openrc", "an openrc file")):
        export = _EXPORT.fullmatch(line.strip(BLANKS))
        if not export or not OPENRC_NAMES.fullmatch(export.group("name")):
            continue
        value = _shell_value(export.group("rest"))
        if value is not None:
            env[export.group("name")] = value
    if not any(name.startswith("OS_") for name in env):
        raise _not_format("openrc", "an openrc file", _openrc_line(_first_line(text)))
    return env


# -- holds ----------------------------------------------------------------------------------

_LOCK_BODY = re.compile(r"[A-Za-z0-9_.+~^*?\[\]:-]+")


def versionlock_names(text):
    """Packages locked by yum's or dnf's versionlock plugin, from ``versionlock.list``.

    :param text: the file: yum's ``0:nova-compute-2015.1.1-1.el6.*`` (``EPOCH:NAME-VERSION-
        RELEASE.ARCH``), dnf's ``nova-compute-0:2015.1.1-1.el6.*``, or without epoch
        (``nova-api-2015.1.1-1.el6.noarch``); ``#`` comments and blank lines are skipped
    :return: the sorted names; ``!`` lines are excludes (one version kept out, the package
        still updates) and are not locks, so they are left out
    :raises ValueError: a line is not a versionlock entry
    """
    names = set()
    for line in _lines(_text(text, "versionlock.list", "a versionlock list")):
        entry = line.strip(BLANKS)
        if not entry or entry.startswith(("#", "!")):
            continue
        parts = re.sub(r"^\d+:", "", entry).rsplit("-", 2)
        if not _LOCK_BODY.fullmatch(entry) or len(parts) != 3 or not all(parts):
            raise _not_format("versionlock.list", "a versionlock list", line)
        names.add(parts[0])
    return sorted(names)


# -- local changes --------------------------------------------------------------------------

_DPKG_VERIFY = re.compile(r"(?P<flags>missing|[?.0-9A-Za-z]{9})\s+(?:(?P<attr>[a-z])\s+)?"
                          r"(?P<path>/.*)")
_RPM_VERIFY = re.compile(r"(?P<flags>missing|[SM5DLUGTP.?]{8,9})\s+(?:(?P<attr>[A-Za-z])\s+)?"
                         r"(?P<path>/.*)")
_RPM_STATE = re.compile(r"(?P<path>.*) \((?:replaced|not installed|net shared|wrong color)\)")
_RPM_ERRNO = re.compile(r"(?P<path>.*) \([A-Z][^()]*\)")
_DEBSUMS_FILE = re.compile(r"debsums: (?P<what>missing|changed) file (?P<path>/.*) "
                           r"\(from \S+ package\)")
DEBSUMS_CHANGED = "??5??????"        # dpkg --verify's flags for a changed file


def _change(path, config, flags):
    return {"path": path, "config": config, "flags": flags}


def dpkg_verify(text):
    """Files of installed packages that differ from the package, from ``dpkg --verify``
    (dpkg >= 1.17).

    :param text: the output, ``??5?????? c /etc/nova/nova.conf``, ``missing   c /etc/x``,
        ``??5??????   /usr/bin/x`` (9 flag characters, ``c`` for a conffile, the path); empty
        when nothing changed
    :return: ``[{"path", "config", "flags"}]`` sorted by path; ``flags`` is the 9 characters
        or ``missing``
    :raises ValueError: a line is not a verify line
    """
    changes = []
    for line in _lines(_text(text, "dpkg --verify", "verify lines")):
        if not line.strip(BLANKS):
            continue
        match = _DPKG_VERIFY.fullmatch(line.rstrip())
        if not match:
            raise _not_format("dpkg --verify", "verify lines", line)
        changes.append(_change(match.group("path"), match.group("attr") == "c",
                               match.group("flags")))
    return sorted(changes, key=lambda change: change["path"])


def rpm_verify(text):
    """Files of installed packages that differ from the package, from ``rpm -V``.

    :param text: the output, ``S.5....T.  c /etc/nova/nova.conf``, ``missing   c /etc/x``,
        ``.......T.    /usr/bin/x`` (8 or 9 flag characters, an attribute letter such as ``c``
        for a config file, the path); a file state (`` (replaced)``) or, after ``missing``,
        an error (`` (Permission denied)``) at the end is dropped, and the dependency lines
        (``Unsatisfied dependencies for ...``) are skipped; empty when nothing changed
    :return: ``[{"path", "config", "flags"}]`` sorted by path
    :raises ValueError: a line is not a verify line (``package x is not installed``)
    """
    changes = []
    for line in _lines(_text(text, "rpm -V", "verify lines")):
        if not line.strip(BLANKS) or line.startswith(("\t", "Unsatisfied dependencies for ")):
            continue
        match = _RPM_VERIFY.fullmatch(line.rstrip())
        if not match:
            raise _not_format("rpm -V", "verify lines", line)
        path = match.group("path")
        state = _RPM_STATE.fullmatch(path) or (
            match.group("flags") == "missing" and _RPM_ERRNO.fullmatch(path))
        changes.append(_change(state.group("path") if state else path,
                               match.group("attr") == "c", match.group("flags")))
    return sorted(changes, key=lambda change: change["path"])


def debsums_changed(text, config=False):
    """Changed files from ``debsums -c`` / ``debsums -ce``, the fallback where dpkg has no
    ``--verify`` (Ubuntu 12.04).

    :param text: the output, one path per line; ``debsums: missing file /x (from p package)``
        and ``debsums: changed file ...`` lines (its messages, when stderr is merged) are
        read, other ``debsums:`` messages skipped
    :param config: the output is from ``-e`` (configuration files only)
    :return: ``[{"path", "config", "flags"}]`` sorted by path; ``flags`` is ``??5??????``
        (changed, as ``dpkg --verify`` writes it) or ``missing``
    :raises ValueError: a line is neither an absolute path nor a debsums message
    """
    changes = []
    for line in _lines(_text(text, "debsums", "a file list")):
        if not line.strip(BLANKS):
            continue
        message = _DEBSUMS_FILE.fullmatch(line.strip(BLANKS))
        if message:
            flags = "missing" if message.group("what") == "missing" else DEBSUMS_CHANGED
            changes.append(_change(message.group("path"), bool(config), flags))
        elif line.startswith("/"):
            changes.append(_change(line.rstrip("\r"), bool(config), DEBSUMS_CHANGED))
        elif not line.startswith("debsums: "):
            raise _not_format("debsums", "a file list", line)
    return sorted(changes, key=lambda change: change["path"])


def changed_files(ret, tool, parse):
    """The changed files a verify run reports (``dpkg --verify``, ``rpm -V``).

    :param ret: the run's result (``retcode``, ``stdout``, ``stderr``); exit 1 with output
        only means that some files differ
    :param tool: the command, for the error
    :param parse: :func:`dpkg_verify` or :func:`rpm_verify`
    :raise RuntimeError: the tool failed (dpkg 1.16 has no ``--verify``), naming its output
    """
    if ret.retcode not in (0, 1) or (ret.retcode == 1 and not ret.stdout.strip()):
        raise RuntimeError(f"{tool} failed (exit {ret.retcode}): "
                           f"{_cut(_first_line(ret.stderr or ret.stdout))}")
    return parse(ret.stdout)
