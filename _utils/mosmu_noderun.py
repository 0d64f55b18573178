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

What finishes the update is here too (``mosmu_finish``): the operator's holds are read first
and never upgraded, files of the offered packages changed on the node are listed before the
upgrade (a dry run shows them), and the node's services whose packages changed are restarted,
their pids read before and after. The environment's health checks run the node's own tools
(:func:`run_checks`); Pacemaker resources restart from one controller
(:func:`restart_resources`).
"""

import os

import mosmu_backend
import mosmu_checks
import mosmu_finish
import mosmu_report
import mosmu_status
from mosmu_exec import (
    List,
    MakeDirs,
    NodeIOError,
    Read,
    Remove,
    RemoveTree,
    Run,
    TempDir,
    Which,
    Write,
)

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


FINISH_KEYS = ("held", "local_changes", "local_changes_error", "restarts", "pacemaker")


def finish_of(done):
    """The finishing part of a node run's result (what the report shows per node)."""
    return {k: done[k] for k in FINISH_KEYS if done.get(k)}


def pending_comment(plan, todo, finish=None):
    text = (f"would upgrade {len(todo)} package(s): {describe(todo)}" if todo
            else f"{label(plan)} MU packages are up to date")
    return "; ".join([text, *mosmu_report.finish_notes(finish or {}, test=True)])


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
                f"version: {short_text(done['short'])} ({done['short_reason']}); "
                + "; ".join([upgraded, *mosmu_report.finish_notes(done)]) + "; status UPDATE=FAIL")
    notes = []
    if done.get("recovered"):
        notes.append(f"recovered first: {'; '.join(done['recovered'])}")
    if done.get("kept_back"):
        notes.append(f"kept back: {', '.join(done['kept_back'])}")
    notes += mosmu_report.finish_notes(done)
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
    """Round trip 1: tools, status, record, the operator's hold lists.
    ``(tools, previous status, hold list texts)``."""
    cls = mosmu_backend.CLASSES[plan.backend]
    tools, status_text, record_text, *hold_texts = executor.batch(
        [Which(tuple(cls.candidates)), *mosmu_status.read_ops(executor.root),
         *_hold_ops(executor.root, cls)])
    return tools, mosmu_status.parse(status_text, record_text), hold_texts


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


# -- finishing: holds, local changes, restarts, checks (``mosmu_finish``) -----------------------

def _hold_ops(root, backend):
    """Reads of the operator's hold lists a backend (class or instance) keeps in files."""
    return [Read(os.path.join(root, p)) for p in backend.hold_paths]


def _local_changes(backend, executor, packages, installed):
    """``(changed files, error)`` of the installed packages among ``packages``: what the
    upgrade will overwrite (or, for config files, keep and not update)."""
    names = sorted(p for p in packages if p in installed)
    if not names:
        return [], None
    ret = executor.one(Run.of(backend.verify_argv(names), {"LC_ALL": "C"}))
    try:
        return backend.parse_verify(ret), None
    except (RuntimeError, ValueError) as err:
        return [], str(err)


def _init_script(root, service):
    return os.path.join(root, mosmu_finish.INIT_DIR.lstrip("/"), service)


def touched(executor, backend, packages, restart, pending_services=()):
    """What the upgrade of ``packages`` touches: ``(services, resources)``.

    :param packages: names of the packages this run upgrades (or would upgrade)
    :param restart: ``{"services": [...], "pacemaker": [...]}``: the node's roles' services
        and the environment's Pacemaker resources (``mosmu_finish.Finish``)
    :param pending_services: services whose restart failed in the node's previous run
    :return: ``({service: package}, {resource: package})``: the node's installed services
        (an init script in ``/etc/init.d``) that a changed package ships or shares a project
        with, in ``restart`` order; and the Pacemaker resources touched the same way (the
        runner restarts those once per environment). A package is ``(previous run)`` for a
        service whose restart failed in the node's previous run.
    """
    services = list((restart or {}).get("services") or ())
    resources = list((restart or {}).get("pacemaker") or ())
    names = sorted(packages)
    if not services and not resources:
        return {}, {}
    scripts = tuple(_init_script(executor.root, s) for s in services)
    found, *listings = executor.batch(
        [Which(scripts)] + [Run.of(backend.files_argv(p), {"LC_ALL": "C"}) for p in names])
    owners = {}
    for package, ret in zip(names, listings):
        if ret is not None and ret.retcode == 0:
            owners.update(dict.fromkeys(mosmu_finish.init_scripts(ret.stdout.splitlines()),
                                        package))
    node = {}
    for service, script in zip(services, scripts):
        if not found.get(script):
            continue                    # not installed on this node: nothing to restart
        package = mosmu_finish.touched(service, names, owners)
        if package is None and service in pending_services:
            package = "(previous run)"
        if package is not None:
            node[service] = package
    pcs = {}
    for resource in resources:
        package = mosmu_finish.touched(mosmu_finish.resource_service(resource), names, owners)
        if package is not None:
            pcs[resource] = package
    return node, pcs


def _restart(executor, services):
    """Restart each service with its init script, reading its pid before and after.

    :return: ``[{"service", "package", "old_pid", "new_pid", "ok", "detail"}]``; ``ok`` only
        when the restart exited 0 and the service runs afterwards under a new pid (a pid that
        did not change means the restart did not take)
    """
    ops = []
    for service in services:
        script = _init_script(executor.root, service)
        ops += [Run.of([script, "status"], {"LC_ALL": "C"}),
                Run.of([script, "restart"], {"LC_ALL": "C"}),
                Run.of([script, "status"], {"LC_ALL": "C"})]
    rets = executor.batch(ops)
    out = []
    for index, (service, package) in enumerate(services.items()):
        before, restart, after = rets[3 * index:3 * index + 3]
        old = mosmu_checks.service_status(before.stdout, before.retcode)
        new = mosmu_checks.service_status(after.stdout, after.retcode)
        detail = ""
        if restart.retcode != 0:
            detail = _failure(restart, f"{service} restart")
        elif not new["running"]:
            detail = f"{service} is not running after its restart"
        elif old["pid"] is not None and old["pid"] == new["pid"]:
            detail = f"{service} still runs as pid {old['pid']}: the restart did not take"
        out.append({"service": service, "package": package, "old_pid": old["pid"],
                    "new_pid": new["pid"], "ok": not detail, "detail": detail})
    return out


def run_checks(executor, checks):
    """Run health checks with the node's own tools; nothing on the node changes.

    :param checks: ``[{"name", "argv", "openrc"}]`` (``mosmu_finish.Check`` as dicts):
        ``argv[0]`` is the tool's absolute path on the node (inside the node root);
        ``openrc``: the tool gets ``/root/openrc``'s variables, sourced as an operator's shell
        does (the credentials never appear in an argument, a log or the job cache)
    :return: ``{name: {"retcode", "stdout", "stderr"}}``, or ``{name: {"missing": path}}``
        for a tool the node does not have
    """
    root = executor.root
    tools = tuple(os.path.join(root, c["argv"][0].lstrip("/")) for c in checks)
    openrc = os.path.join(root, "root/openrc")
    # the file's presence only: its secrets never leave the node
    found, home = executor.batch([Which(tools), List(os.path.dirname(openrc))])
    found = dict(found, **{openrc: "openrc" in home})
    runs, out = [], {}
    for check, tool in zip(checks, tools):
        if not found.get(tool):
            out[check["name"]] = {"missing": check["argv"][0]}
            continue
        argv = [tool, *check["argv"][1:]]
        if check.get("openrc"):
            if not found.get(openrc):
                out[check["name"]] = {"missing": "/root/openrc"}
                continue
            argv = ["/bin/sh", "-c", '. "$0" >/dev/null 2>&1 && exec "$@"', openrc, *argv]
        runs.append((check["name"], Run.of(argv, {"LC_ALL": "C"})))
    for (name, _op), ret in zip(runs, executor.batch([op for _name, op in runs])):
        out[name] = {"retcode": ret.retcode, "stdout": ret.stdout, "stderr": ret.stderr}
    return out


def restart_resources(executor, resources):
    """Restart Pacemaker resources through Pacemaker (``pcs resource restart``), one by one.

    :return: ``[{"resource", "ok", "detail"}]``; a missing ``pcs`` fails every resource
    """
    pcs = os.path.join(executor.root, "usr/sbin/pcs")
    if not executor.one(Which((pcs,))).get(pcs):
        return [{"resource": r, "ok": False, "detail": "/usr/sbin/pcs not found on the node"}
                for r in resources]
    rets = executor.batch([Run.of([pcs, "resource", "restart", r], {"LC_ALL": "C"})
                           for r in resources])
    return [{"resource": r, "ok": ret.retcode == 0,
             "detail": "" if ret.retcode == 0 else _failure(ret, f"pcs resource restart {r}")}
            for r, ret in zip(resources, rets)]


CEPH_ACTIONS = ("set", "unset")


def ceph_osd_flags(executor, action, flags):
    """Set or unset cluster-wide OSD flags (``ceph osd set noout``...), one by one.

    :param action: ``set`` or ``unset``
    :return: ``[{"flag", "ok", "detail"}]``; a missing ``ceph`` fails every flag
    """
    if action not in CEPH_ACTIONS:
        raise ValueError(f"action {action!r} is not one of {', '.join(CEPH_ACTIONS)}")
    ceph = os.path.join(executor.root, "usr/bin/ceph")
    if not executor.one(Which((ceph,))).get(ceph):
        return [{"flag": f, "ok": False, "detail": "/usr/bin/ceph not found on the node"}
                for f in flags]
    rets = executor.batch([Run.of([ceph, "osd", action, f], {"LC_ALL": "C"}) for f in flags])
    return [{"flag": f, "ok": ret.retcode == 0,
             "detail": "" if ret.retcode == 0 else _failure(ret, f"ceph osd {action} {f}")}
            for f, ret in zip(flags, rets)]


def preview(plan, executor, restart=None):
    """What a run would do on the node, changing nothing on it.

    The repo files go to a private temporary directory together with private package
    manager lists, cache and logs; only the node's package database is read.

    :param restart: the node's restart rules (see :func:`touched`), None for no restarts
    :return: ``todo`` (``{package: {old, new}}`` the MU repos would upgrade), ``held``
        (packages the operator holds: never upgraded), ``local_changes`` (files of the
        offered packages changed on the node, ``local_changes_error`` when they could not be
        checked), ``restarts`` (``[{"service", "package"}]`` that would restart) and
        ``pacemaker`` (``{resource: package}`` the environment would restart)
    """
    tools, _previous, hold_texts = _inspect(plan, executor)
    tmp = executor.one(TempDir("mosmu-pending-"))
    backend = None
    try:
        backend = _backend(plan, executor, tools, private=tmp)
        backend.exclude(hold_texts)
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
        todo = mosmu_backend.mark_downgrades(_simulation(backend, simulate, before),
                                             backend.downgrades(simulate))
        local, local_error = _local_changes(backend, executor, todo, before)
        services, resources = touched(executor, backend, todo, restart)
        out = {"todo": todo, "held": backend.held(installed.stdout, hold_texts),
               "local_changes": local,
               "restarts": [{"service": s, "package": p} for s, p in services.items()],
               "pacemaker": resources}
        if local_error:
            out["local_changes_error"] = local_error
        return out
    finally:
        leftovers = backend.private_leftovers() if backend else []
        executor.batch([RemoveTree(p) for p in [tmp, *leftovers]])


def pending(plan, executor):
    """Packages the MU repos would upgrade (``{package: {old, new}}``), changing nothing on
    the node: :func:`preview`'s ``todo``."""
    return preview(plan, executor)["todo"]


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


def _restart_touched(executor, backend, restart, pending_services, result, record):
    """The restart step of :func:`upgrade`: restart the node's services the upgrade touched
    (and those whose restart failed last time); a failed restart fails the run, naming the
    services left for the next run (``restart_pending`` in the record)."""
    services, result["pacemaker"] = touched(executor, backend, result["changes"], restart,
                                            pending_services)
    record["pacemaker"] = result["pacemaker"]
    result["restarts"] = record["restarts"] = _restart(executor, services) if services else []
    failed = [r for r in result["restarts"] if not r["ok"]]
    if failed:
        record["restart_pending"] = [r["service"] for r in failed]
        raise NodeRunError(
            f"the packages are upgraded, but restarting {len(failed)} service(s) failed: "
            + "; ".join(r["detail"] for r in failed)
            + "; fix the service(s), then rerun with retry_failed=True (the restart is "
              "tried again)")


def upgrade(plan, executor, run_id=None, restart=None):
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
    :param restart: the node's restart rules (see :func:`touched`); None restarts nothing
    :return: ``changes`` (``{package: {old, new}}``), ``kept_back``, ``recovered``, ``files``,
        ``short`` (offered packages not at their offered version: ``{package: {old,
        offered, installed}}``, empty when the run is OK) and ``short_reason``; ``held``,
        ``local_changes`` (as :func:`preview`), ``restarts`` (``[{"service", "package",
        "old_pid", "new_pid", "ok", "detail"}]``) and ``pacemaker`` (``{resource: package}``
        for the runner to restart once per environment)
    :raise NodeRunError: with ``info`` holding the partial result and ``failed_step``
    """
    tools, previous, hold_texts = _inspect(plan, executor)
    record = {"mos_version": plan.mos_version, "distro": plan.distro,
              "repos": plan.repo_names, "backend": plan.backend,
              "transport": executor.transport}
    if run_id:
        record["run_id"] = str(run_id)
    result = {"changes": {}, "kept_back": [], "recovered": [], "files": [], "short": {},
              "held": [], "local_changes": [], "restarts": [], "pacemaker": {}}
    last = previous["record"] or {}
    pending_services = [s for s in last.get("restart_pending") or () if isinstance(s, str)] \
        if previous["state"] == "FAIL" else []
    run = mosmu_status.NodeRun(executor, record, previous)
    record = run.record
    try:
        with run:
            run.step("check the package tools")
            backend = _backend(plan, executor, tools)
            backend.exclude(hold_texts)
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
            result["held"] = record["held"] = backend.held(installed.stdout, hold_texts)
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
            if todo:
                run.step("list local changes of the MU packages")
                result["local_changes"], local_error = _local_changes(backend, executor, todo,
                                                                      before)
                record["local_changes"] = result["local_changes"]
                if local_error:
                    result["local_changes_error"] = record["local_changes_error"] = local_error
            run.start()
            run.step("upgrade")
            ret = executor.run_long(backend.upgrade_argv(_apt_version(backend, executor)), env,
                                    "upgrade")
            listed, *hold_texts_after = executor.batch(
                [Run.of(backend.installed_argv(), {"LC_ALL": "C"}),
                 *_hold_ops(backend.root, backend)])
            after = _installed(backend, listed)
            result["changes"] = mosmu_backend.mark_downgrades(
                mosmu_backend.diff_versions(before, after),
                set(backend.downgrades(ret)) | set(backend.downgrades(simulate)))
            result["short"] = mosmu_backend.shortfall(todo, after)
            result["kept_back"] = sorted(set(backend.kept_back(ret)) | set(result["short"]))
            record.update(changes=result["changes"], kept_back=result["kept_back"],
                          short=result["short"])
            if ret.retcode != 0:
                raise NodeRunError(_failure(ret, f"{backend.name} {plan.upgrade}"))
            run.step("check the holds")
            held_after = backend.held(listed.stdout, hold_texts_after)
            if held_after != result["held"]:
                raise NodeRunError(f"the packages held changed during the upgrade: before "
                                   f"{', '.join(result['held']) or 'none'}, after "
                                   f"{', '.join(held_after) or 'none'}; restore them "
                                   "(apt-mark hold / yum versionlock) and report it")
            run.step("Murano dashboard fixup")
            _horizon_fixup(backend, executor, env)
            run.step("verify the upgraded versions")
            if result["short"]:
                result["short_reason"] = backend.shortfall_reason
                record["short_reason"] = backend.shortfall_reason
                run.partial()
            if restart is not None:
                run.step("restart services")
                _restart_touched(executor, backend, restart, pending_services, result, record)
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
