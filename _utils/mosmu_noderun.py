"""One node run, whatever the transport: status, dry run, upgrade.

The lifecycle of ``salt-run mosmu.update`` on one node lives here, once. It takes the plan
(``mosmu_plan.Plan``) and an executor (``mosmu_exec``): the execution module on a minion
passes a local one, the runner's ssh path a ``mosmu_ssh.SshExecutor``. Nothing here branches
on the transport; the steps are grouped into a few :meth:`batch` calls so that a node run
over ssh costs a handful of round trips:

1. look the package tools up, read the status file and record;
2. list mosmu's own dirs and the package manager's journal, audit it, list installed packages;
3. write the repo files (remove stale ones), refresh the MU repos, simulate the upgrade;
4. ``STARTED``, the upgrade (a long step: detached over ssh), installed packages again, the
   result (``UPDATE=OK|FAIL`` and the JSON record, ``mosmu_status.NodeRun``).
"""

import mosmu_backend
import mosmu_status
from mosmu_exec import List, MakeDirs, NodeIOError, Remove, RemoveTree, Run, TempDir, Which, Write

HORIZON_SCRIPT = "/usr/bin/modify-horizon-config.sh"


class NodeRunError(Exception):
    """A node run failed; ``info`` holds what it did before (changes, failed step...)."""

    def __init__(self, message, info=None):
        super().__init__(message)
        self.info = info or {}


# -- text for the state's comment and the report (both transports) ---------------------------

def describe(changes):
    """``a 1.0 -> 1.1, b 2 -> 1 (downgrade)`` (at most ten, then how many more)."""
    items = [f"{name} {v['old'] or '(new)'} -> {v['new'] or '(removed)'}"
             + (" (downgrade)" if v.get("downgrade") else "")
             for name, v in sorted(changes.items())]
    return ", ".join(items[:10]) + (f" and {len(items) - 10} more" if len(items) > 10 else "")


def label(plan):
    return f"MOS {plan.mos_version} ({plan.distro})"


def pending_comment(plan, todo):
    return (f"would upgrade {len(todo)} package(s): {describe(todo)}" if todo
            else f"{label(plan)} MU packages are up to date")


def short_text(short):
    """``a 1.0 (offered 1.1), b ...`` for :func:`mosmu_backend.shortfall`'s result."""
    items = [f"{name} {v['installed'] or '(not installed)'} (offered {v['offered']})"
             for name, v in sorted(short.items())]
    return ", ".join(items[:10]) + (f" and {len(items) - 10} more" if len(items) > 10 else "")


def done_comment(plan, done):
    """The comment of a finished node run; a PARTIAL one starts with what was left behind."""
    if done.get("short"):
        upgraded = (f"upgraded {len(done['changes'])} package(s): {describe(done['changes'])}"
                    if done["changes"] else "upgraded nothing")
        return (f"PARTIAL: {len(done['short'])} offered package(s) did not reach their MU "
                f"version: {short_text(done['short'])} ({done['short_reason']}); {upgraded}; "
                "status UPDATE=FAIL")
    notes = []
    if done["recovered"]:
        notes.append(f"recovered first: {'; '.join(done['recovered'])}")
    if done["kept_back"]:
        notes.append(f"kept back: {', '.join(done['kept_back'])}")
    return "; ".join([f"upgraded {len(done['changes'])} package(s): {describe(done['changes'])}"
                      if done["changes"] else f"{label(plan)} MU packages are up to date",
                      *notes])


# -- steps ----------------------------------------------------------------------------------

def _failure(ret, what):
    lines = (ret.stderr or ret.stdout or "").strip().splitlines()
    detail = "; ".join(ln.strip() for ln in lines
                       if ln.startswith(("E:", "W:", "dpkg:", "Error", "error:"))) or \
        (lines[-1].strip() if lines else "no output")
    return f"{what} failed (exit {ret.retcode}): {detail}"


def _checked(ret, what):
    if ret is None:
        raise NodeRunError(f"{what} did not run: an earlier step of the same batch failed")
    if ret.retcode != 0:
        raise NodeRunError(_failure(ret, what))
    return ret


def status(executor):
    """``{"state", "line", "record"}`` of the node's status file and record."""
    return mosmu_status.parse(*executor.batch(mosmu_status.read_ops(executor.root)))


def _backend(plan, executor, tools, private=None):
    try:
        return mosmu_backend.for_plan(plan, executor.root, tools.get, private)
    except mosmu_backend.BackendMissing as err:
        raise NodeRunError(str(err)) from err


def _inspect(plan, executor):
    """Round trip 1: tools, status, record. ``(tools, previous status)``."""
    cls = mosmu_backend.BACKENDS[plan.backend]
    tools, *texts = executor.batch([Which(tuple(cls.candidates)),
                                    *mosmu_status.read_ops(executor.root)])
    return tools, mosmu_status.parse(*texts)


def _file_ops(backend, listings):
    """Writes of the plan's files and removals of mosmu's stale ones (round trip 3)."""
    existing = [f"{d.rstrip('/')}/{name}" for d, names in zip(backend.dirs, listings)
                for name in names]
    return ([Remove(p) for p in backend.stale(existing)] +
            [Write(p, t) for p, t in sorted(backend.files().items())])


def _installed(backend, ret):
    return backend.parse_installed(_checked(ret, "listing installed packages").stdout)


def _refresh_errors(backend, ret):
    errors = backend.refresh_errors(ret)
    if errors:
        raise NodeRunError(
            f"refreshing the MU repos failed on root {backend.root}: {'; '.join(errors)}; "
            "check that the master's mirror is served at repo_url and was synced "
            "(salt-run mosmu.sync)")


def _simulation(backend, ret, before):
    try:
        return backend.parse_simulation(ret, before)
    except RuntimeError as err:
        raise NodeRunError(f"{err}: {_failure(ret, backend.name + ' simulation')}") from err


def pending(plan, executor):
    """Packages the MU repos would upgrade, changing nothing on the node.

    The repo files go to a private temporary directory together with private package
    manager lists, cache and logs; only the node's package database is read.
    """
    tools, _previous = _inspect(plan, executor)
    tmp = executor.one(TempDir("mosmu-pending-"))
    backend = None
    try:
        backend = _backend(plan, executor, tools, private=tmp)
        env = backend.env()
        results = executor.batch(
            [MakeDirs(p) for p in backend.private_dirs()] +
            [Write(p, t) for p, t in sorted(backend.files().items())] +
            [Run.of(backend.installed_argv(), {"LC_ALL": "C"}, check=True),
             Run.of(backend.refresh_argv(), env),
             Run.of(backend.simulate_argv(), env)])
        installed, refresh, simulate = results[-3:]
        before = _installed(backend, installed)
        _refresh_errors(backend, refresh)
        return mosmu_backend.mark_downgrades(_simulation(backend, simulate, before),
                                             backend.downgrades(simulate))
    finally:
        leftovers = backend.private_leftovers() if backend else []
        executor.batch([RemoveTree(p) for p in [tmp, *leftovers]])


def _apt_version(backend, executor):
    argv = backend.version_argv()
    if argv is None:
        return None
    return backend.parse_version(executor.one(Run.of(argv)).stdout)


def _horizon_fixup(backend, executor, env):
    """Re-inject the Murano dashboard settings after an openstack-dashboard upgrade.

    Only on a real root: the script belongs to the node, it must not run against the host.
    """
    if backend.root != "/" or executor.one(Which((HORIZON_SCRIPT,)))[HORIZON_SCRIPT] is None:
        return
    user, service = backend.apache
    fix_env = dict(env, HORIZON_CONFIG="/usr/share/openstack-dashboard/openstack_dashboard/"
                   "settings.py", MURANO_SSL_ENABLED="False", USE_KEYSTONE_ENDPOINT="True",
                   USE_SQLITE_BACKEND="False", APACHE_USER=user, APACHE_GROUP=user)
    steps = ([HORIZON_SCRIPT, "uninstall"], [HORIZON_SCRIPT, "install"],
             ["/usr/share/openstack-dashboard/manage.py", "collectstatic", "--noinput"],
             ["service", service, "restart"])
    rets = executor.batch([Run.of(argv, fix_env, check=True) for argv in steps])
    for argv, ret in zip(steps, rets):
        _checked(ret, " ".join(argv[:2]))


def upgrade(plan, executor, run_id=None):
    """Run the plan on the node: repo files, recovery, refresh, upgrade, status record.

    ``STARTED`` before the first change, then ``UPDATE=OK`` only when every package the
    simulation offered is installed at its offered version afterwards (verified from the
    package database); a package left behind (kept back, skipped by ``--skip-broken``, a
    conflict) ends the run PARTIAL (``short``; line ``UPDATE=FAIL``); any failure, at any
    step, ``UPDATE=FAIL`` with the failing step in the JSON record. A package manager left
    interrupted by a killed earlier run is completed first. When nothing is pending and the
    last run ended OK, nothing is written.

    :param plan: a ``mosmu_plan.Plan``
    :param executor: the node's executor
    :param run_id: the runner's job id, kept in the record
    :return: ``changes`` (``{package: {old, new}}``), ``kept_back``, ``recovered``, ``files``,
        ``short`` (offered packages not at their offered version: ``{package: {old,
        offered, installed}}``, empty when the run is OK) and ``short_reason``
    :raise NodeRunError: with ``info`` holding the partial result and ``failed_step``
    """
    tools, previous = _inspect(plan, executor)
    record = {"mos_version": plan.mos_version, "distro": plan.distro,
              "repos": plan.repo_names, "backend": plan.backend,
              "transport": executor.transport}
    if run_id:
        record["run_id"] = str(run_id)
    result = {"changes": {}, "kept_back": [], "recovered": [], "files": [], "short": {}}
    run = mosmu_status.NodeRun(executor, record, previous)
    record = run.record
    try:
        with run:
            run.step("check the package tools")
            backend = _backend(plan, executor, tools)
            env = backend.env()
            run.step("check for an interrupted package manager")
            result["recovered"] = list(executor.wait_idle())
            audit = backend.audit_argv()
            found = executor.batch(
                [List(d) for d in backend.dirs] +
                [List(backend.journal_dir), Run.of(backend.installed_argv(), {"LC_ALL": "C"})] +
                ([Run.of(audit, env)] if audit else []))
            listings = found[:len(backend.dirs)]
            journal, installed = found[len(backend.dirs):len(backend.dirs) + 2]
            problems = backend.interrupted(found[-1].stdout if audit else "", journal)
            if problems:
                run.start()
                run.step("recover an interrupted package manager")
                for argv in backend.recover_argvs():
                    _checked(executor.run_long(argv, env, "recover"),
                             " ".join(argv[:1] + argv[-2:]))
                installed = executor.one(Run.of(backend.installed_argv(), {"LC_ALL": "C"}))
                result["recovered"] += problems
            if result["recovered"]:
                record["recovered"] = result["recovered"]
            run.step("list installed packages")
            before = _installed(backend, installed)
            record["before"] = before
            run.step("write repo files")
            ops = _file_ops(backend, listings)
            *written, refresh, simulate = executor.batch(
                [*ops, Run.of(backend.refresh_argv(), env), Run.of(backend.simulate_argv(), env)])
            result["files"] = [op.path for op, changed in zip(ops, written) if changed]
            run.step("refresh the MU repos")
            _refresh_errors(backend, refresh)
            run.step("simulate the upgrade")
            todo = _simulation(backend, simulate, before)
            if not todo and not result["recovered"] and previous["state"] == "OK":
                return result
            run.start()
            run.step("upgrade")
            ret = executor.run_long(backend.upgrade_argv(_apt_version(backend, executor)), env,
                                    "upgrade")
            after = _installed(backend, executor.one(
                Run.of(backend.installed_argv(), {"LC_ALL": "C"})))
            result["changes"] = mosmu_backend.mark_downgrades(
                mosmu_backend.diff_versions(before, after),
                set(backend.downgrades(ret)) | set(backend.downgrades(simulate)))
            result["short"] = mosmu_backend.shortfall(todo, after)
            result["kept_back"] = sorted(set(backend.kept_back(ret)) | set(result["short"]))
            record.update(changes=result["changes"], kept_back=result["kept_back"],
                          short=result["short"])
            if ret.retcode != 0:
                raise NodeRunError(_failure(ret, f"{backend.name} {plan.upgrade}"))
            run.step("Murano dashboard fixup")
            _horizon_fixup(backend, executor, env)
            run.step("verify the upgraded versions")
            if result["short"]:
                result["short_reason"] = backend.shortfall_reason
                record["short_reason"] = backend.shortfall_reason
                run.partial()
    except NodeRunError as err:
        raise NodeRunError(str(err), dict(result, failed_step=run.current,
                                          recorded=run.recorded)) from err
    except NodeIOError as err:
        message = str(err) if str(err).startswith("could not record") else \
            f"{run.current} failed on root {executor.root}: {err}"
        raise NodeRunError(message, dict(result, failed_step=run.current,
                                         recorded=run.recorded)) from err
    if run.started and not result["changes"] and \
            previous["line"] != mosmu_status.LINES["OK"]:
        result["changes"] = {mosmu_status.STATUS_PATH: {"old": previous["line"] or "",
                                                        "new": mosmu_status.LINES["OK"]}}
    return result
