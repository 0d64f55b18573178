"""mosmu execution module: the node side of MOS maintenance updates.

Reads and writes the node's status file, lists pending MU packages and runs the restricted
upgrade through the plan's package backend (``mosmu_apt`` or ``mosmu_yum``, picked by
``mosmu_backend``: no distro branches here). All commands are argv lists run without a shell.
The node root defaults to ``/``; the minion config key ``mosmu:root`` moves it (the sandbox
gives each node its own).
"""

import logging
import os
import shutil
import tempfile

import salt.utils.path
from salt.exceptions import CommandExecutionError, SaltInvocationError

import mosmu_backend
import mosmu_plan
import mosmu_status

log = logging.getLogger(__name__)

__virtualname__ = "mosmu"

HORIZON_SCRIPT = "/usr/bin/modify-horizon-config.sh"
BACKEND_OF_FAMILY = {"Debian": "apt", "RedHat": "yum"}


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

    Returns ``state`` (``OK``, ``FAIL``, ``STARTED``, ``NONE``, ``UNKNOWN``), ``line`` (the
    last status line, as ``mos_apply_mu.py`` wrote it) and ``record`` (detail of the last
    mosmu run, or None).

    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.status
    """
    return mosmu_status.read(__salt__["mosmu.root"](root))


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
        data.setdefault("distro", _distro())
    try:
        return mosmu_plan.Plan.from_pillar(data)
    except ValueError as err:
        raise SaltInvocationError(f"invalid plan: {err}") from err


def _distro():
    return "centos" if __grains__.get("os_family") == "RedHat" else "ubuntu"


def _backend(the_plan, node_root, private=None):
    try:
        return mosmu_backend.for_plan(the_plan, node_root, salt.utils.path.which, private)
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


def _run(argv, env, what):
    ret = __salt__["cmd.run_all"](argv, python_shell=False, env=env, ignore_retcode=True,
                                  output_loglevel="debug")
    ret["what"] = what
    return ret


def _failure(ret):
    lines = (ret["stderr"] or ret["stdout"] or "").strip().splitlines()
    detail = "; ".join(ln.strip() for ln in lines
                       if ln.startswith(("E:", "W:", "dpkg:", "Error", "error:"))) or \
        (lines[-1].strip() if lines else "no output")
    return f"{ret['what']} failed (exit {ret['retcode']}): {detail}"


def _checked(argv, env, what):
    ret = _run(argv, env, what)
    if ret["retcode"] != 0:
        raise CommandExecutionError(_failure(ret))
    return ret


def _installed(backend):
    ret = _checked(backend.installed_argv(), {"LC_ALL": "C"}, "listing installed packages")
    return backend.parse_installed(ret["stdout"])


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
    name = backend or BACKEND_OF_FAMILY.get(__grains__.get("os_family"), "apt")
    if name not in mosmu_backend.BACKENDS:
        raise SaltInvocationError(f"backend {name!r} is not one of "
                                  f"{', '.join(mosmu_backend.BACKENDS)}")
    try:
        return _installed(mosmu_backend.by_name(name, node_root, salt.utils.path.which))
    except mosmu_backend.BackendMissing as err:
        raise CommandExecutionError(str(err)) from err


def _write_files(backend):
    """Write the plan's files atomically; remove mosmu's stale ones. Return changed paths."""
    changed = []
    wanted = backend.files()
    existing = [os.path.join(d, n) for d in backend.dirs if os.path.isdir(d)
                for n in os.listdir(d)]
    for path in backend.stale(existing):
        os.unlink(path)
        changed.append(path)
    for path, text in sorted(wanted.items()):
        try:
            with open(path, encoding="utf-8") as handle:
                if handle.read() == text:
                    continue
        except FileNotFoundError:
            pass
        mosmu_status.atomic_write(path, text)
        changed.append(path)
    return changed


def _refresh(backend, env):
    ret = _run(backend.refresh_argv(), env, f"{backend.name} refresh of the MU repos")
    errors = backend.refresh_errors(ret)
    if errors:
        raise CommandExecutionError(
            f"refreshing the MU repos failed on root {backend.root}: {'; '.join(errors)}; "
            "check that the master's mirror is served at repo_url and was synced "
            "(salt-run mosmu.sync)")


def _simulate(backend, env, before):
    ret = _run(backend.simulate_argv(), env, f"{backend.name} simulation")
    try:
        return backend.parse_simulation(ret, before)
    except RuntimeError as err:
        raise CommandExecutionError(f"{err}: {_failure(ret)}") from err


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
    the_plan = _plan(plan, kwargs)
    node_root = __salt__["mosmu.root"](root)
    tmp = tempfile.mkdtemp(prefix="mosmu-pending-")
    backend = None
    try:
        backend = _backend(the_plan, node_root, private=tmp)
        for path in backend.private_dirs():
            os.makedirs(path, exist_ok=True)
        _write_files(backend)
        env = backend.env()
        before = _installed(backend)
        _refresh(backend, env)
        return _simulate(backend, env, before)
    finally:
        for path in [tmp] + (backend.private_leftovers() if backend else []):
            shutil.rmtree(path, ignore_errors=True)


def _version(backend):
    key = f"mosmu.{backend.name}_version"
    if backend.version_argv() is None:
        return None
    if key not in __context__:
        ret = __salt__["cmd.run_all"](backend.version_argv(), python_shell=False,
                                      ignore_retcode=True, output_loglevel="quiet")
        __context__[key] = backend.parse_version(ret["stdout"])
    return __context__[key]


def _horizon_fixup(backend, env):
    """Re-inject the Murano dashboard settings after an openstack-dashboard upgrade.

    Only on a real root: the script belongs to the node, it must not run against the host.
    """
    if backend.root != "/" or not os.path.exists(HORIZON_SCRIPT):
        return
    user, service = backend.apache
    fix_env = dict(env, HORIZON_CONFIG="/usr/share/openstack-dashboard/openstack_dashboard/"
                   "settings.py", MURANO_SSL_ENABLED="False", USE_KEYSTONE_ENDPOINT="True",
                   USE_SQLITE_BACKEND="False", APACHE_USER=user, APACHE_GROUP=user)
    for argv in ([HORIZON_SCRIPT, "uninstall"], [HORIZON_SCRIPT, "install"],
                 ["/usr/share/openstack-dashboard/manage.py", "collectstatic", "--noinput"],
                 ["service", service, "restart"]):
        _checked(argv, fix_env, " ".join(argv[:2]))


def upgrade(plan=None, root=None, **kwargs):  # pylint: disable=redefined-outer-name
    """
    Run the plan on this node: repo files, recovery, refresh, upgrade, status record.

    One lifecycle (``mosmu_status.NodeRun``) covers the whole run: ``STARTED`` before the
    first change, then ``UPDATE=OK``; any failure, at any step, ``UPDATE=FAIL`` with the
    failing step in ``/var/log/mos_apply_mu.json``. A package manager left interrupted by a
    killed earlier run is completed first. When nothing is pending and the last run ended
    OK, nothing is written. Returns ``changes`` (``{package: {old, new}}``), ``kept_back``,
    ``recovered`` and ``files`` (repo files written).

    plan
        A plan mapping; or the short form as keyword arguments (see ``mosmu.plan``).
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.upgrade mos_version=8.0 repo_url=http://10.20.0.2:8080
    """
    the_plan = _plan(plan, kwargs)
    node_root = __salt__["mosmu.root"](root)
    backend = _backend(the_plan, node_root)
    env = backend.env()
    record = {"mos_version": the_plan.mos_version, "distro": the_plan.distro,
              "repos": the_plan.repo_names, "backend": backend.name}
    result = {"changes": {}, "kept_back": [], "recovered": [], "files": []}
    run = mosmu_status.NodeRun(node_root, record)
    record = run.record
    try:
        with run:
            run.step("write repo files")
            result["files"] = _write_files(backend)
            run.step("check for an interrupted package manager")
            audit = backend.audit_argv()
            problems = backend.interrupted(_run(audit, env, "audit")["stdout"] if audit else "")
            if problems:
                run.start()
                run.step("recover an interrupted package manager")
                for argv in backend.recover_argvs():
                    _checked(argv, env, " ".join(argv[:1] + argv[-2:]))
                result["recovered"] = problems
                record["recovered"] = problems
            run.step("list installed packages")
            before = _installed(backend)
            record["before"] = before
            run.step("refresh the MU repos")
            _refresh(backend, env)
            run.step("simulate the upgrade")
            todo = _simulate(backend, env, before)
            if not todo and not problems and run.previous["state"] == "OK":
                return result
            run.start()
            run.step("upgrade")
            ret = _run(backend.upgrade_argv(_version(backend)), env,
                       f"{backend.name} {the_plan.upgrade}")
            after = _installed(backend)
            result["changes"] = mosmu_backend.diff_versions(before, after)
            result["kept_back"] = sorted(set(backend.kept_back(ret)) |
                                         (set(todo) - set(result["changes"])))
            record.update(changes=result["changes"], kept_back=result["kept_back"])
            if ret["retcode"] != 0:
                raise CommandExecutionError(_failure(ret))
            run.step("Murano dashboard fixup")
            _horizon_fixup(backend, env)
    except CommandExecutionError as err:
        raise CommandExecutionError(getattr(err, "error", None) or str(err),
                                    info=dict(result, failed_step=run.current)) from err
    except OSError as err:
        raise CommandExecutionError(
            f"{run.current} failed on root {node_root}: {err}",
            info=dict(result, failed_step=run.current)) from err
    if run.started and not result["changes"] and \
            run.previous["line"] != mosmu_status.LINES["OK"]:
        result["changes"] = {mosmu_status.STATUS_PATH: {"old": run.previous["line"] or "",
                                                        "new": mosmu_status.LINES["OK"]}}
    return result
