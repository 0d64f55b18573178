"""What finishes an update once the packages are in: restarts and health checks. Data, not code.

Mirantis' own MU playbooks (``mos_mu``: ``vars/mos_releases/<version>.yml``,
``restart_services.yml``, ``tasks/health_checks.yml``) restart the OpenStack services of each
role after the upgrade, computes before controllers, restart the Pacemaker-managed ones through
Pacemaker once per environment, and check the cloud before and after. mosmu keeps those lists
here, one row per (distro, MOS family), and restarts only what this run changed:

* a node's service restarts when it is one of its roles' services, its init script
  (``/etc/init.d/<service>``) exists on the node, and a package this run upgraded either
  ships that init script or is a shared package of the service's project (``LIBRARIES``:
  ``python-nova`` upgraded restarts every ``nova-*`` service of the node);
* a Pacemaker resource restarts (``pcs resource restart``, once per environment, from one
  controller) when a controller's upgrade touched its service the same way and the cluster
  runs it (``crm_mon``).

Checks (:data:`CHECKS`) are the node's own tools, run read-only: ``df`` on every node,
``crm_mon``, the OpenStack clients (with ``/root/openrc``) and ``ceph health`` on one
controller per environment. Their output is read by ``mosmu_checks``.

Operators change the rows in the master config without code::

    mosmu:
      finish:
        ubuntu/8.0:
          services: {compute: [nova-compute, my-agent]}   # replaces that role's list
          pacemaker: [p_heat-engine]
        checks:
          skip: [ceph]                                    # built-in checks not to run
          disk_limit: 85                                  # percent (default 90)
          extra:                                          # the operator's own checks
            - {name: rabbit, argv: [/usr/sbin/rabbitmqctl, status], roles: [controller]}
"""

import dataclasses
import os
import re

import mosmu_checks
import mosmu_validate

INIT_DIR = "/etc/init.d"
DISK_LIMIT = 90

_PRE_9_CONTROLLER = (
    "heat-api", "heat-api-cfn", "heat-api-cloudwatch", "nova-api", "nova-cert",
    "nova-conductor", "nova-scheduler", "nova-novncproxy", "nova-objectstore",
    "nova-consoleauth", "cinder-api", "cinder-scheduler", "cinder-volume", "cinder-backup",
    "glance-api", "glance-registry", "neutron-server", "ceilometer-api",
    "ceilometer-collector", "ceilometer-alarm-notifier", "ceilometer-agent-notification",
    "sahara-api", "sahara-engine", "murano-api", "murano-engine", "apache2", "radosgw")
_CINDER = ("cinder-volume", "cinder-backup")

# (distro, family) -> services per role and the environment's Pacemaker resources.
# Ubuntu names from mos_mu's vars/mos_releases/8.0.yml and 9.0.yml (9.x: the openvswitch
# agent lost its "plugin-" and the neutron resources their "p_"); CentOS 6.5 nodes (MOS up to
# 7.0) name the services after their openstack-* packages.
ROWS = {
    ("ubuntu", "8"): {
        "services": {
            "compute": ("nova-compute", "neutron-l3-agent", "neutron-plugin-openvswitch-agent",
                        "neutron-metadata-agent", "ceilometer-agent-compute", *_CINDER),
            "cinder": _CINDER,
            "controller": (*_PRE_9_CONTROLLER, "ceph-mon-all"),
            "ceph-osd": ("ceph-osd-all",),
        },
        "ceph": {"mon": "ceph-mon-all", "osd": "ceph-osd-all"},
        "pacemaker": ("p_heat-engine", "p_neutron-l3-agent",
                      "p_neutron-plugin-openvswitch-agent", "p_neutron-dhcp-agent",
                      "p_neutron-metadata-agent", "p_ceilometer-agent-central",
                      "p_ceilometer-alarm-evaluator"),
    },
    ("ubuntu", "9"): {
        "services": {
            "compute": ("nova-compute", "neutron-l3-agent", "neutron-openvswitch-agent",
                        "neutron-metadata-agent", "ceilometer-agent-compute", *_CINDER),
            "cinder": _CINDER,
            "controller": (*_PRE_9_CONTROLLER, "ceph-mon-all"),
            "ceph-osd": ("ceph-osd-all",),
        },
        "ceph": {"mon": "ceph-mon-all", "osd": "ceph-osd-all"},
        "pacemaker": ("p_heat-engine", "neutron-l3-agent", "neutron-openvswitch-agent",
                      "neutron-dhcp-agent", "neutron-metadata-agent",
                      "p_ceilometer-agent-central", "p_ceilometer-alarm-evaluator"),
    },
    ("centos", "8"): {
        "services": {
            "compute": ("openstack-nova-compute", "neutron-l3-agent",
                        "neutron-openvswitch-agent", "neutron-metadata-agent",
                        "openstack-ceilometer-compute", "openstack-cinder-volume",
                        "openstack-cinder-backup"),
            "cinder": ("openstack-cinder-volume", "openstack-cinder-backup"),
            "controller": ("openstack-heat-api", "openstack-heat-api-cfn",
                           "openstack-nova-api", "openstack-nova-cert",
                           "openstack-nova-conductor", "openstack-nova-scheduler",
                           "openstack-nova-novncproxy", "openstack-nova-consoleauth",
                           "openstack-cinder-api", "openstack-cinder-scheduler",
                           "openstack-cinder-volume", "openstack-glance-api",
                           "openstack-glance-registry", "neutron-server",
                           "openstack-ceilometer-api", "openstack-ceilometer-collector",
                           "openstack-ceilometer-notification", "httpd", "ceph"),
            "ceph-osd": ("ceph",),
        },
        "ceph": {"mon": "ceph", "osd": "ceph"},
        "pacemaker": ("p_openstack-heat-engine", "p_neutron-l3-agent",
                      "p_neutron-openvswitch-agent", "p_neutron-dhcp-agent",
                      "p_neutron-metadata-agent", "p_openstack-ceilometer-central"),
    },
}

# A package shared by a project's services: upgrading it restarts every service of the node
# whose name starts with one of the prefixes (its init script belongs to another package).
_PROJECTS = ("nova", "neutron", "cinder", "glance", "heat", "ceilometer", "sahara", "murano",
             "keystone")
LIBRARIES = {
    **{f"python-{p}": (f"{p}-", f"openstack-{p}-", f"p_{p}-", f"p_openstack-{p}-")
       for p in _PROJECTS},
    **{f"{p}-common": (f"{p}-", f"p_{p}-") for p in _PROJECTS},
    **{f"openstack-{p}-common": (f"openstack-{p}-", f"p_openstack-{p}-") for p in _PROJECTS},
    "openstack-neutron": ("neutron-", "p_neutron-"),
    # the daemons' own libraries (mos_mu updates every ceph package together)
    "ceph-common": ("ceph",),
    "librados2": ("ceph",),
}
# OSD flags set around each ceph-osd node's update (as mos_mu's restart_ceph.yml): no
# rebalancing while its OSDs restart, no scrubbing to slow their recovery
CEPH_FLAGS = ("noout", "noscrub", "nodeep-scrub")
CEPH_WAIT = 300            # seconds for the PGs to be active+clean / a monitor to rejoin


@dataclasses.dataclass(frozen=True)
class Check:
    """One health check: a tool of the node, run read-only, and how to read its output.

    ``argv[0]`` is an absolute path inside the node root; ``roles`` None runs it on every
    node, else on nodes with one of the roles; ``once`` runs it on one such node per
    environment (the cloud-wide checks); ``openrc`` gives it ``/root/openrc``'s variables;
    ``parser`` names the ``mosmu_checks`` function that reads it (``exit``: exit status 0
    passes, the operator's own checks).
    """

    name: str
    argv: tuple
    parser: str
    roles: tuple = None
    once: bool = False
    openrc: bool = False

    def applies_to(self, roles):
        return self.roles is None or bool(set(self.roles) & set(roles or ()))


CHECKS = (
    Check("disk", ("/bin/df", "-P"), "disk"),
    Check("pacemaker", ("/usr/sbin/crm_mon", "-1", "-X"), "pacemaker", ("controller",), True),
    Check("nova", ("/usr/bin/nova", "service-list"), "nova", ("controller",), True, True),
    Check("neutron", ("/usr/bin/neutron", "agent-list"), "neutron", ("controller",), True,
          True),
    Check("cinder", ("/usr/bin/cinder", "service-list"), "cinder", ("controller",), True,
          True),
    Check("ceph", ("/usr/bin/ceph", "health"), "ceph", ("controller",), True),
)
CRM_MON = next(c for c in CHECKS if c.name == "pacemaker")   # what the Pacemaker step reads
# what the Ceph steps read, on the environment's Ceph admin node (see the runner)
CEPH_PGS = Check("ceph pg stat", ("/usr/bin/ceph", "pg", "stat"), "ceph-pgs")
CEPH_QUORUM = Check("ceph quorum_status", ("/usr/bin/ceph", "quorum_status", "-f", "json"),
                    "ceph-quorum")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


def family(mos_version):
    """``9`` for MOS 9.x (and its snapshots), ``8`` for every older release."""
    return "9" if str(mos_version).startswith("9.") else "8"


def _names(value, where):
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(f"{where} must be a list of names")
    for name in value:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(f"{where}: {name!r} is not a service or resource name")
    return tuple(value)


def _extra_check(data, where):
    if not isinstance(data, dict) or set(data) - {"name", "argv", "roles", "once"}:
        raise ValueError(f"{where} must be a mapping of name, argv, roles, once")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(f"{where}: name {name!r} is not a plain name")
    argv = data.get("argv")
    if isinstance(argv, str) or not isinstance(argv, (list, tuple)) or not argv or \
            not all(isinstance(a, str) and "\x00" not in a for a in argv) or \
            not os.path.isabs(argv[0]):
        raise ValueError(f"{where}: argv must be a list whose first item is the tool's "
                         "absolute path")
    roles = data.get("roles")
    if roles is not None:
        roles = tuple(mosmu_validate.role(r) for r in _names(roles, f"{where}: roles"))
    once = data.get("once", False)
    if not isinstance(once, bool):
        raise ValueError(f"{where}: once must be true or false")
    return Check(name, tuple(argv), "exit", roles, once)


@dataclasses.dataclass(frozen=True)
class Finish:
    """The finishing rules of one environment (its distro and MOS version)."""

    services: tuple          # ((role, (service, ...)), ...)
    pacemaker: tuple
    checks: tuple
    disk_limit: int = DISK_LIMIT
    ceph: tuple = ()         # ((kind, service), ...): the monitors' and OSDs' service
    ceph_wait: int = CEPH_WAIT

    def ceph_service(self, kind):
        """The service that runs a node's Ceph monitor (``mon``) or OSDs (``osd``), or None."""
        return dict(self.ceph).get(kind)

    def node_services(self, roles):
        """The services a node of these roles restarts itself: on a controller, those
        Pacemaker manages are left to Pacemaker (a compute runs its neutron agents itself)."""
        by_role = dict(self.services)
        managed = {resource_service(r) for r in self.pacemaker} \
            if "controller" in (roles or ()) else set()
        out = []
        for role in roles or ():
            for name in by_role.get(role, ()):
                if name not in out and name not in managed:
                    out.append(name)
        return out

    def node_checks(self, roles):
        """The per-node checks for a node of these roles."""
        return [c for c in self.checks if not c.once and c.applies_to(roles)]

    def env_checks(self):
        """The cloud-wide checks, run once per environment."""
        return [c for c in self.checks if c.once]


def load(distro, mos_version, config=None):
    """The :class:`Finish` rules of an environment, with ``mosmu:finish`` applied.

    :param config: the master config's ``mosmu:finish`` mapping (or None)
    :raise ValueError: one line naming the bad key
    """
    config = config or {}
    if not isinstance(config, dict):
        raise ValueError("mosmu:finish must be a mapping")
    key = (distro, family(mos_version))
    row = ROWS.get(key, {"services": {}, "pacemaker": ()})
    services = {role: tuple(names) for role, names in row["services"].items()}
    pacemaker = tuple(row["pacemaker"])
    ceph = dict(row.get("ceph") or {})
    for where in (f"{distro}/{family(mos_version)}", f"{distro}/{mos_version}"):
        override = config.get(where)
        if override is None:
            continue
        if not isinstance(override, dict) or set(override) - {"services", "pacemaker", "ceph"}:
            raise ValueError(f"mosmu:finish:{where} must be a mapping of services, pacemaker "
                             "and ceph")
        roles = override.get("services") or {}
        if not isinstance(roles, dict):
            raise ValueError(f"mosmu:finish:{where}:services must map roles to lists")
        for role, names in roles.items():
            services[mosmu_validate.role(role)] = _names(names, f"mosmu:finish:{where}:"
                                                               f"services:{role}")
        if "pacemaker" in override:
            pacemaker = _names(override["pacemaker"], f"mosmu:finish:{where}:pacemaker")
        if "ceph" in override:
            kinds = override["ceph"]
            if not isinstance(kinds, dict) or set(kinds) - {"mon", "osd"}:
                raise ValueError(f"mosmu:finish:{where}:ceph must map mon and osd to a "
                                 "service name")
            for kind, name in kinds.items():
                ceph[kind] = _names([name], f"mosmu:finish:{where}:ceph:{kind}")[0]
    checks_cfg = config.get("checks") or {}
    if not isinstance(checks_cfg, dict) or \
            set(checks_cfg) - {"skip", "disk_limit", "extra", "ceph_wait"}:
        raise ValueError("mosmu:finish:checks must be a mapping of skip, disk_limit, extra, "
                         "ceph_wait")
    skip = _names(checks_cfg.get("skip") or [], "mosmu:finish:checks:skip")
    unknown = set(skip) - {c.name for c in CHECKS}
    if unknown:
        raise ValueError(f"mosmu:finish:checks:skip: {', '.join(sorted(unknown))} is not a "
                         f"built-in check ({', '.join(c.name for c in CHECKS)})")
    limit = checks_cfg.get("disk_limit", DISK_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise ValueError("mosmu:finish:checks:disk_limit must be a percentage 1..100")
    wait = checks_cfg.get("ceph_wait", CEPH_WAIT)
    if isinstance(wait, bool) or not isinstance(wait, int) or not 0 <= wait <= 86400:
        raise ValueError("mosmu:finish:checks:ceph_wait must be seconds 0..86400")
    extra = checks_cfg.get("extra") or []
    if not isinstance(extra, list):
        raise ValueError("mosmu:finish:checks:extra must be a list")
    checks = [c for c in CHECKS if c.name not in skip]
    checks += [_extra_check(e, f"mosmu:finish:checks:extra[{i}]") for i, e in enumerate(extra)]
    if len({c.name for c in checks}) != len(checks):
        raise ValueError("mosmu:finish:checks:extra: check names must differ from each other "
                         "and from the built-in ones")
    return Finish(tuple(sorted(services.items())), pacemaker, tuple(checks), limit,
                  tuple(sorted(ceph.items())), wait)


def touched(service, changed, owners):
    """The package of this run's upgrade that touches ``service``, or None.

    :param changed: names of the packages this run upgraded (or would upgrade)
    :param owners: ``{service: package}`` for the init scripts the changed packages ship
    :return: the package that ships the service's init script, else the first shared package
        of the service's project (``LIBRARIES``: ``python-nova`` for ``nova-api``)
    """
    if owners.get(service) in changed:
        return owners[service]
    for package in sorted(changed):
        if any(service.startswith(prefix) for prefix in LIBRARIES.get(package, ())):
            return package
    return None


def resource_service(resource):
    """The service name of a Pacemaker resource: ``p_neutron-l3-agent`` -> ``neutron-l3-agent``."""
    return resource[2:] if resource.startswith("p_") else resource


def init_scripts(paths):
    """``{service: path}`` of the init scripts among a package's files."""
    prefix = INIT_DIR + "/"
    return {p[len(prefix):]: p for p in paths
            if p.startswith(prefix) and "/" not in p[len(prefix):] and p != prefix}



# -- reading the checks (the runner's side) ------------------------------------------------

def _last_line(raw):
    lines = [ln.strip() for ln in ((raw.get("stderr") or "") + "\n" +
                                   (raw.get("stdout") or "")).splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def evaluate(check, raw, disk_limit=DISK_LIMIT):
    """Read one check's output on one node.

    :param check: a :class:`Check`
    :param raw: what ``mosmu_noderun.run_checks`` returned for it (None: no answer)
    :return: ``(result, problems)``: ``passed``, ``failed`` (problems name what is wrong,
        one output line each) or ``skipped`` (the node lacks the tool: nothing to check)
    """
    if not isinstance(raw, dict) or ("missing" not in raw and "retcode" not in raw):
        return "failed", ["the node did not answer"]
    if "missing" in raw:
        return "skipped", [f"{raw['missing']} is not installed"]
    if check.parser == "exit":
        return ("passed", []) if raw.get("retcode") == 0 else \
            ("failed", [f"exit {raw.get('retcode')}: {_last_line(raw)}"])
    if raw.get("retcode") != 0:
        return "failed", [f"{' '.join(check.argv)} exited {raw.get('retcode')}: "
                          f"{_last_line(raw)}"]
    parsers = {
        "disk": lambda text: mosmu_checks.disk_problems(text, disk_limit),
        "pacemaker": mosmu_checks.pacemaker_problems,
        "nova": mosmu_checks.nova_service_problems,
        "neutron": mosmu_checks.neutron_agent_problems,
        "cinder": mosmu_checks.cinder_service_problems,
        "ceph": mosmu_checks.ceph_problems,
        "ceph-pgs": lambda text: _pgs_problems(*mosmu_checks.ceph_pgs_clean(text)),
    }
    try:
        problems = parsers[check.parser](raw.get("stdout") or "")
    except ValueError as err:
        return "failed", [str(err)]
    return ("failed", list(problems)) if problems else ("passed", [])


def _pgs_problems(clean, summary):
    return [] if clean else [f"not every PG is active+clean: {summary}"]


def quorum_problem(raw, monitor):
    """Why ``monitor`` is not in the Ceph quorum, from ``ceph quorum_status`` (None: it is).

    :param raw: what ``mosmu_noderun.run_checks`` returned for :data:`CEPH_QUORUM`
    """
    if not isinstance(raw, dict) or ("missing" not in raw and "retcode" not in raw):
        return "the node did not answer"
    if "missing" in raw:
        return f"{raw['missing']} is not installed"
    if raw.get("retcode") != 0:
        return f"ceph quorum_status exited {raw.get('retcode')}: {_last_line(raw)}"
    try:
        names, mons = mosmu_checks.ceph_quorum(raw.get("stdout") or "")
    except ValueError as err:
        return str(err)
    if monitor in names:
        return None
    where = "in the monitor map" if monitor in mons else "not even in the monitor map"
    return (f"monitor {monitor} is not in the quorum ({', '.join(names) or 'none'}; "
            f"{where})")


def nailgun_problems(nodes):
    """Nodes of an environment that Nailgun does not report ``ready`` and online."""
    out = []
    for node in sorted(nodes, key=lambda n: str(n.get("id"))):
        bad = []
        if node.get("status") != "ready":
            bad.append(f"status {node.get('status')}")
        if not node.get("online"):
            bad.append("offline")
        if bad:
            out.append(f"node-{node.get('id')} ({node.get('fqdn') or node.get('ip')}) is "
                       f"{' and '.join(bad)} in Nailgun")
    return out


def disk_problem(path, usage, limit=DISK_LIMIT):
    """The master's mirror filesystem over ``limit`` percent, or None.

    :param usage: ``shutil.disk_usage(path)``
    """
    if not usage.total:
        return None
    percent = round(100 * usage.used / usage.total)
    if percent > limit:
        return f"the master's mirror filesystem ({path}) is {percent}% full (limit {limit}%)"
    return None
