"""mosmu execution module: the node side of MOS maintenance updates.

Reads and writes the node's status file, lists pending MU packages and runs the restricted
upgrade through the plan's package backend (``mosmu_apt`` or ``mosmu_yum``, picked by
``mosmu_backend``: no distro branches here). All commands are argv lists run without a shell.
The node root defaults to ``/``; the minion config key ``mosmu:root`` moves it (the sandbox
gives each node its own).

The node run itself lives in ``mosmu_noderun`` (shared with the runner's ssh transport); this
module gives it a local executor (``mosmu_exec.LocalExecutor``) and translates its errors.
"""

import logging
import os

import salt.utils.path
from salt.exceptions import CommandExecutionError, SaltInvocationError

import mosmu_backend
import mosmu_catalog
import mosmu_code
import mosmu_exec
import mosmu_noderun
import mosmu_plan

log = logging.getLogger(__name__)

__virtualname__ = "mosmu"



def __virtual__():
    if not mosmu_backend.available(salt.utils.path.which):
        return (False, "mosmu needs apt-get (Ubuntu) or dnf/yum (CentOS) on the node")
    return __virtualname__


def root(root=None):  # pylint: disable=redefined-outer-name
    """
    The node root mosmu works in: the argument, else minion config ``mosmu:root``, else ``/``.

    root
        Explicit node root (absolute path).

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.root
    """
    value = root or (__opts__.get("mosmu") or {}).get("root") or "/"
    if not isinstance(value, str) or not os.path.isabs(value) or "\n" in value:
        raise SaltInvocationError(f"mosmu root {value!r} must be an absolute path")
    return value


def status(root=None):  # pylint: disable=redefined-outer-name
    """
    The node's own view of its last MU run, read from ``/var/log/mos_apply_mu.status``.

    Returns ``state`` (``OK``, ``FAIL``, ``PARTIAL``, ``STARTED``, ``NONE``, ``UNKNOWN``),
    ``line`` (the last status line, as ``mos_apply_mu.py`` wrote it; ``UPDATE=FAIL`` for a
    PARTIAL run) and ``record`` (detail of the last mosmu run, a dict, or None).

    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.status
    """
    return mosmu_noderun.status(_executor(__salt__["mosmu.root"](root)))


def version():
    """
    Which mosmu code this minion runs: a digest of its execution module, state and helpers.

    The runner compares it with the master's (``mosmu_code``) in one publish, which also
    tells which minions answer, and syncs mosmu's modules only to minions that differ.
    Returns ``{"digest": sha256}``.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.version
    """
    here = os.path.dirname(os.path.abspath(__file__))
    # synced: <extmods>/modules and <extmods>/states; pip: mosmu_salt/_modules and /_states
    states = [os.path.join(os.path.dirname(here), d, "mosmu.py") for d in ("states", "_states")]
    return {"digest": mosmu_code.local_digest(
        __file__, next((p for p in states if os.path.isfile(p)), None),
        os.path.dirname(os.path.abspath(mosmu_noderun.__file__)))}


def plan(plan=None, **kwargs):  # pylint: disable=redefined-outer-name
    """
    The validated plan, as the state will use it (pillar form).

    plan
        A plan mapping (the runner's inline pillar ``mosmu``), or give the short form as
        keyword arguments: ``mos_version``, ``repo_url``, ``repos``, ``distro``, ``trusted``.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.plan mos_version=8.0 repo_url=http://10.20.0.2:8080
    """
    return _plan(plan, kwargs).to_pillar()


def _plan(data, kwargs):
    if isinstance(data, mosmu_plan.Plan):
        return data
    short = {k: v for k, v in kwargs.items() if not k.startswith("__")}
    if data is None:
        data = short
        data.setdefault("distro", distro())
    try:
        return mosmu_plan.Plan.from_pillar(data)
    except ValueError as err:
        raise SaltInvocationError(f"invalid plan: {err}") from err


def distro():
    """
    This node's distro as mosmu names it (``ubuntu`` or ``centos``), from its ``os_family``
    grain (``mosmu_catalog.DISTROS``; the formula's map.jinja reads it too).

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.distro
    """
    return mosmu_catalog.distro_of(__grains__.get("os_family"))


def _run(argv, env):
    return __salt__["cmd.run_all"](argv, python_shell=False, env=env, ignore_retcode=True,
                                   output_loglevel="debug")


def _executor(node_root):
    return mosmu_exec.LocalExecutor(node_root, _run, salt.utils.path.which)


def _backend(the_plan, node_root):
    try:
        return mosmu_backend.for_plan(the_plan, node_root, salt.utils.path.which)
    except mosmu_backend.BackendMissing as err:
        raise CommandExecutionError(str(err)) from err


def files(plan=None, root=None, **kwargs):  # pylint: disable=redefined-outer-name
    """
    The files a plan's run writes on this node: repo files, pins, key (path -> text).

    plan
        A plan mapping; or the short form as keyword arguments (see ``mosmu.plan``).
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.files mos_version=8.0 repo_url=http://10.20.0.2:8080 repos=security
    """
    return _backend(_plan(plan, kwargs), __salt__["mosmu.root"](root)).files()


def installed(root=None, backend=None):  # pylint: disable=redefined-outer-name
    """
    Installed packages and versions in the node root (dpkg or rpm database).

    root
        Node root; default from minion config ``mosmu:root`` or ``/``.
    backend
        ``apt`` or ``yum``; default from the node's ``os_family`` grain.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.installed
    """
    node_root = __salt__["mosmu.root"](root)
    name = backend or mosmu_catalog.DISTROS[distro()]["backend"]
    if name not in mosmu_backend.CLASSES:
        raise SaltInvocationError(f"backend {name!r} is not one of "
                                  f"{', '.join(mosmu_backend.CLASSES)}")
    try:
        backend = mosmu_backend.by_name(name, node_root, salt.utils.path.which)
    except mosmu_backend.BackendMissing as err:
        raise CommandExecutionError(str(err)) from err
    ret = _executor(node_root).one(mosmu_exec.Run.of(backend.installed_argv(), {"LC_ALL": "C"}))
    if ret.retcode != 0:
        raise CommandExecutionError(f"listing installed packages failed (exit {ret.retcode}): "
                                    f"{(ret.stderr or ret.stdout).strip()}")
    return backend.parse_installed(ret.stdout)


def pending(plan=None, root=None, **kwargs):  # pylint: disable=redefined-outer-name
    """
    Packages the MU repos would upgrade, without changing anything on the node.

    The repo files go to a private temporary directory together with private package
    manager lists, cache and logs; only the node's package database is read.

    plan
        A plan mapping; or the short form as keyword arguments (see ``mosmu.plan``).
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.pending mos_version=8.0 repo_url=http://10.20.0.2:8080
    """
    try:
        return mosmu_noderun.pending(_plan(plan, kwargs), _executor(__salt__["mosmu.root"](root)))
    except (mosmu_noderun.NodeRunError, mosmu_exec.NodeIOError) as err:
        raise CommandExecutionError(str(err)) from err


def preview(plan=None, root=None, restart=None, **kwargs):  # pylint: disable=redefined-outer-name
    """
    What an MU run would do on this node, without changing anything on it.

    Returns ``todo`` (packages the MU repos would upgrade, ``{name: {old, new}}``), ``held``
    (packages the operator holds: never upgraded), ``local_changes`` (files of those
    packages changed on the node: the upgrade overwrites them, or keeps a changed config
    file and does not update it), ``restarts`` (services that would restart, with the package
    that causes it) and ``pacemaker`` (Pacemaker resources the environment would restart).

    plan
        A plan mapping; or the short form as keyword arguments (see ``mosmu.plan``).
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.
    restart
        ``{"services": [...], "pacemaker": [...]}``: the node's roles' services and the
        environment's Pacemaker resources (the runner sends them); none: no restarts.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.preview mos_version=8.0 repo_url=http://10.20.0.2:8080
    """
    try:
        return mosmu_noderun.preview(_plan(plan, kwargs), _executor(__salt__["mosmu.root"](root)),
                                     restart=restart)
    except (mosmu_noderun.NodeRunError, mosmu_exec.NodeIOError) as err:
        raise CommandExecutionError(str(err)) from err


def checks(checks, root=None):  # pylint: disable=redefined-outer-name
    """
    Run health checks with this node's own tools (read-only): the runner reads the output.

    checks
        A list of ``{"name", "argv", "openrc"}``: ``argv[0]`` is the tool's absolute path on
        the node; ``openrc`` true sources ``/root/openrc`` for it (OpenStack clients).
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    Returns ``{name: {"retcode", "stdout", "stderr"}}`` (``{"missing": path}`` for a tool
    the node lacks).

    CLI Example:

    .. code-block:: bash

        salt 'node-1*' mosmu.checks '[{name: ceph, argv: [/usr/bin/ceph, health]}]'
    """
    if not isinstance(checks, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and
            isinstance(c.get("argv"), list) and c["argv"] and
            all(isinstance(a, str) for a in c["argv"]) and os.path.isabs(c["argv"][0])
            for c in checks):
        raise SaltInvocationError("checks must be a list of {name, argv} with argv[0] an "
                                  "absolute path")
    try:
        return mosmu_noderun.run_checks(_executor(__salt__["mosmu.root"](root)), checks)
    except mosmu_exec.NodeIOError as err:
        raise CommandExecutionError(str(err)) from err


def restart_resources(resources, root=None):  # pylint: disable=redefined-outer-name
    """
    Restart Pacemaker resources through Pacemaker (``pcs resource restart``), one by one.

    resources
        Resource ids, e.g. ``[p_heat-engine]``.
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    Returns ``[{"resource", "ok", "detail"}]``.

    CLI Example:

    .. code-block:: bash

        salt 'node-1*' mosmu.restart_resources '[p_heat-engine]'
    """
    if not isinstance(resources, list) or not all(isinstance(r, str) and r and
                                                  not r.startswith("-") for r in resources):
        raise SaltInvocationError("resources must be a list of Pacemaker resource ids")
    try:
        return mosmu_noderun.restart_resources(_executor(__salt__["mosmu.root"](root)),
                                               resources)
    except mosmu_exec.NodeIOError as err:
        raise CommandExecutionError(str(err)) from err


def ceph_osd_flags(action, flags, root=None):
    """
    Set or unset cluster-wide Ceph OSD flags (``ceph osd set|unset <flag>``), one by one.

    action
        ``set`` or ``unset``.
    flags
        Flag names, e.g. ``[noout, noscrub, nodeep-scrub]``.
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    Returns ``[{"flag", "ok", "detail"}]``.

    CLI Example:

    .. code-block:: bash

        salt 'node-1*' mosmu.ceph_osd_flags unset '[noout, noscrub, nodeep-scrub]'
    """
    if action not in mosmu_noderun.CEPH_ACTIONS:
        raise SaltInvocationError("action must be set or unset")
    if not isinstance(flags, list) or not all(isinstance(f, str) and f.isascii() and
                                              f.replace("-", "").isalnum() for f in flags):
        raise SaltInvocationError("flags must be a list of OSD flag names, e.g. [noout]")
    try:
        return mosmu_noderun.ceph_osd_flags(_executor(__salt__["mosmu.root"](root)), action,
                                            flags)
    except mosmu_exec.NodeIOError as err:
        raise CommandExecutionError(str(err)) from err


def upgrade(plan=None, root=None, run_id=None, restart=None,  # pylint: disable=redefined-outer-name
            **kwargs):
    """
    Run the plan on this node: repo files, recovery, refresh, upgrade, status record.

    One lifecycle (``mosmu_noderun.upgrade``, the same over ssh) covers the whole run:
    ``STARTED`` before the first change, then ``UPDATE=OK`` when every offered package
    reached its offered version; an upgrade that left some behind ends PARTIAL
    (``UPDATE=FAIL``, ``short`` lists them); any failure, at any step, ``UPDATE=FAIL`` with
    the failing step in ``/var/log/mos_apply_mu.json``. A package manager left interrupted
    by a killed earlier run is completed first. When nothing is pending and the last run
    ended OK, nothing is written. Held packages are never upgraded; files of the offered
    packages changed on the node are listed first. Returns ``changes`` (``{package: {old,
    new}}``), ``kept_back``, ``recovered``, ``files`` (repo files written), ``short``,
    ``held``, ``local_changes``, ``restarts`` and ``pacemaker``.

    plan
        A plan mapping; or the short form as keyword arguments (see ``mosmu.plan``).
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.
    run_id
        The runner's job id, kept in the JSON record (what a lost return is checked against).
    restart
        ``{"services": [...], "pacemaker": [...]}`` (see ``mosmu.preview``): the node's
        services that the upgrade touched are restarted and their pids compared; a failed
        restart fails the run. None (default): nothing is restarted.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.upgrade mos_version=8.0 repo_url=http://10.20.0.2:8080
    """
    try:
        return mosmu_noderun.upgrade(_plan(plan, kwargs), _executor(__salt__["mosmu.root"](root)),
                                     run_id=run_id, restart=restart)
    except mosmu_noderun.NodeRunError as err:
        raise CommandExecutionError(str(err), info=err.info) from err
