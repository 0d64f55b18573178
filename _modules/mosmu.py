"""mosmu execution module: the node side of MOS maintenance updates.

Reads and writes the node's status file, lists pending MU packages and runs the restricted
apt upgrade. All commands are argv lists run without a shell. The node root defaults to
``/``; the minion config key ``mosmu:root`` moves it (the sandbox gives each node its own).
"""

import datetime
import logging
import os
import shutil
import tempfile

import mosmu_apt
import mosmu_repo
import mosmu_status
import salt.utils.path
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "mosmu"

HORIZON_SCRIPT = "/usr/bin/modify-horizon-config.sh"


def __virtual__():
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
    if not os.path.isabs(value):
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


def sources(mos_version, repo_url, repos=None, trusted=False):
    """
    Text of the MU apt list file for a plan (what ``mosmu.updated`` manages).

    mos_version
        MOS version, e.g. ``8.0``.
    repo_url
        Base URL of the master's web root, e.g. ``http://10.20.0.2:8080``.
    repos
        Repos besides ``updates`` (list or ``a,b``).
    trusted
        Mark the sources ``[trusted=yes]`` (only for an unsigned mirror).

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.sources 8.0 http://10.20.0.2:8080 repos=security
    """
    if isinstance(repos, str):
        repos = [r.strip() for r in repos.split(",") if r.strip()]
    try:
        return mosmu_repo.apt_sources(repo_url, mos_version, repos or [], trusted)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from err


def _require_apt():
    for tool in ("apt-get", "dpkg-query"):
        if not salt.utils.path.which(tool):
            raise CommandExecutionError(f"{tool} is not installed on this node; mosmu's apt path "
                                        "needs apt and dpkg")


def _run(argv, env, what):
    ret = __salt__["cmd.run_all"](argv, python_shell=False, env=env, ignore_retcode=True,
                                  output_loglevel="debug")
    ret["what"] = what
    return ret


def _failure(ret):
    lines = (ret["stderr"] or ret["stdout"] or "").strip().splitlines()
    detail = "; ".join(ln for ln in lines if ln.startswith(("E:", "W:", "dpkg:"))) or \
        (lines[-1] if lines else "no output")
    return f"{ret['what']} failed (exit {ret['retcode']}): {detail}"


def _apt_version():
    if "mosmu.apt_version" not in __context__:
        ret = __salt__["cmd.run_all"](["apt-get", "--version"], python_shell=False,
                                      ignore_retcode=True, output_loglevel="quiet")
        __context__["mosmu.apt_version"] = mosmu_apt.parse_apt_version(ret["stdout"])
    return __context__["mosmu.apt_version"]


def _refresh(node_root, options, env):
    """apt-get update of the MU sources; raise on rc != 0 or on fetch errors (rc may be 0)."""
    ret = _run(mosmu_apt.update_argv(options), env, "apt-get update (MU sources)")
    errors = mosmu_apt.update_errors(ret["stdout"], ret["stderr"])
    if ret["retcode"] != 0 or errors:
        raise CommandExecutionError(
            f"apt-get update of the MU sources failed on root {node_root}: "
            f"{'; '.join(errors) or _failure(ret)}; check that the master's mirror is "
            "served at repo_url and was synced")


def _simulate(options, env):
    ret = _run(mosmu_apt.simulate_argv(options), env, "apt-get -s upgrade")
    if ret["retcode"] != 0:
        raise CommandExecutionError(_failure(ret))
    return mosmu_apt.parse_simulation(ret["stdout"])


def installed(root=None):  # pylint: disable=redefined-outer-name
    """
    Installed packages and versions in the node root, from dpkg.

    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.installed
    """
    _require_apt()
    node_root = __salt__["mosmu.root"](root)
    ret = _run(mosmu_apt.dpkg_query_argv(node_root), {"LC_ALL": "C"}, "dpkg-query")
    if ret["retcode"] != 0:
        raise CommandExecutionError(_failure(ret))
    return mosmu_apt.parse_dpkg_query(ret["stdout"])


def pending(mos_version, repo_url, repos=None, trusted=False, root=None):  # pylint: disable=redefined-outer-name
    """
    Packages the MU repos would upgrade, without changing anything on the node.

    The MU sources are rendered into a private temporary directory together with private
    apt lists and cache; only the node's dpkg database is read.

    mos_version
        MOS version, e.g. ``8.0``.
    repo_url
        Base URL of the master's web root.
    repos
        Repos besides ``updates``.
    trusted
        Mark the sources ``[trusted=yes]``.
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.pending 8.0 http://10.20.0.2:8080
    """
    _require_apt()
    node_root = __salt__["mosmu.root"](root)
    text = __salt__["mosmu.sources"](mos_version, repo_url, repos, trusted)
    tmp = tempfile.mkdtemp(prefix="mosmu-pending-")
    try:
        src_dir = os.path.join(tmp, "sources")
        for sub in ("sources", "lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(tmp, sub))
        with open(os.path.join(src_dir, mosmu_apt.SOURCES_FILE), "w", encoding="utf-8") as fh:
            fh.write(text)
        apt_conf = os.path.join(tmp, "apt.conf")
        with open(apt_conf, "w", encoding="utf-8") as fh:
            fh.write(mosmu_apt.alt_root_conf(node_root))
        options = mosmu_apt.base_options(node_root, src_dir, os.path.join(tmp, "lists"),
                                         os.path.join(tmp, "cache"))
        env = mosmu_apt.env(node_root, apt_conf)
        _refresh(node_root, options, env)
        return _simulate(options, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _horizon_fixup(node_root, env):
    """Re-inject the Murano dashboard settings after an openstack-dashboard upgrade.

    Only on a real root: the script belongs to the node, it must not run against the host.
    """
    if node_root != "/" or not os.path.exists(HORIZON_SCRIPT):
        return None
    apache = "horizon" if os.path.exists("/etc/debian_version") else "apache"
    fix_env = dict(env, HORIZON_CONFIG="/usr/share/openstack-dashboard/openstack_dashboard/"
                   "settings.py", MURANO_SSL_ENABLED="False", USE_KEYSTONE_ENDPOINT="True",
                   USE_SQLITE_BACKEND="False", APACHE_USER=apache, APACHE_GROUP=apache)
    steps = [[HORIZON_SCRIPT, "uninstall"], [HORIZON_SCRIPT, "install"],
             ["/usr/share/openstack-dashboard/manage.py", "collectstatic", "--noinput"],
             ["service", "apache2" if apache == "horizon" else "httpd", "restart"]]
    for argv in steps:
        ret = _run(argv, fix_env, " ".join(argv[:2]))
        if ret["retcode"] != 0:
            return _failure(ret)
    return None


def upgrade(mos_version=None, repos=None, root=None):  # pylint: disable=redefined-outer-name
    """
    Upgrade the node from the MU sources already written by ``mosmu.updated``.

    Refreshes and upgrades from those sources only, writes ``STARTED`` then ``UPDATE=OK`` or
    ``UPDATE=FAIL`` to the status file and a JSON record beside it. When nothing is pending
    and the last run ended OK, nothing is written. Returns ``{package: {old, new}}``.

    mos_version
        Recorded in the JSON record.
    repos
        Recorded in the JSON record.
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.

    CLI Example:

    .. code-block:: bash

        salt '*' mosmu.upgrade
    """
    _require_apt()
    node_root = __salt__["mosmu.root"](root)
    src_dir = mosmu_apt.node_path(node_root, mosmu_apt.SOURCES_DIR)
    if not os.path.isfile(os.path.join(src_dir, mosmu_apt.SOURCES_FILE)):
        raise CommandExecutionError(f"no MU sources in {src_dir}; apply the mosmu state "
                                    "(salt NODE state.apply mosmu) instead of calling upgrade")
    if node_root != "/":
        conf = mosmu_apt.node_path(node_root, mosmu_apt.APT_CONF)
        with open(conf, "w", encoding="utf-8") as fh:
            fh.write(mosmu_apt.alt_root_conf(node_root))
    options = mosmu_apt.base_options(node_root, src_dir)
    env = mosmu_apt.env(node_root)
    record = {"mos_version": mos_version, "repos": repos, "started": _now()}
    previous = mosmu_status.read(node_root)
    try:
        _refresh(node_root, options, env)
        todo = _simulate(options, env)
    except CommandExecutionError as err:
        mosmu_status.write_started(node_root)
        mosmu_status.write_result(node_root, "FAIL", dict(record, error=str(err), changes={}))
        raise
    if not todo and previous["state"] == "OK":
        return {}
    mosmu_status.write_started(node_root)
    changes = {}
    try:
        before = __salt__["mosmu.installed"](node_root)
        ret = _run(mosmu_apt.upgrade_argv(options, _apt_version()), env, "apt-get upgrade")
        changes = mosmu_apt.diff_versions(before, __salt__["mosmu.installed"](node_root))
        error = _failure(ret) if ret["retcode"] != 0 else _horizon_fixup(node_root, env)
    except CommandExecutionError as err:   # dpkg-query itself failed: still record FAIL
        error = str(err)
    record.update(changes=changes, kept_back=sorted(set(todo) - set(changes)), finished=_now())
    if error:
        mosmu_status.write_result(node_root, "FAIL", dict(record, error=error))
        raise CommandExecutionError(error, info={"changes": changes})
    mosmu_status.write_result(node_root, "OK", record)
    if not changes and previous["line"] != mosmu_status.LINES["OK"]:
        changes = {mosmu_status.STATUS_PATH: {"old": previous["line"] or "",
                                              "new": mosmu_status.LINES["OK"]}}
    return changes
