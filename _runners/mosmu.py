"""mosmu runner: apply MOS maintenance updates to the nodes of Fuel environments.

Arguments -> one validated request (no I/O before) -> Nailgun inventory -> node selection ->
per-environment plans from the release catalog -> mirror sync and pre-flight -> in waves,
``state.apply mosmu`` on the nodes that have a minion and the same node run
(``mosmu_noderun``) over ssh on the nodes that have none (``mosmu_ssh``) -> one report entry
per node and a top-level ``retcode``.

This module is Salt glue only: what to do is decided in ``_utils`` (``mosmu_request``,
``mosmu_select``, ``mosmu_plan``, ``mosmu_waves``, ``mosmu_report``, ``mosmu_lock``...), the
functions here walk those decisions and call Salt. Configuration comes from the master config
only (``mosmu:`` section); credentials never go through runner arguments, which Salt keeps in
the job cache and on the event bus. Every failure ends as ``{"error": "...", "retcode": 2}``:
one line naming cause and fix, never a traceback.
"""

import concurrent.futures
import contextlib
import dataclasses
import functools
import gc
import logging
import os
import shutil
import signal
import threading
import time
import traceback

import salt.client
import salt.config
import salt.utils.sdb
from salt.exceptions import AuthenticationError, SaltClientError, SaltException

import mosmu_catalog
import mosmu_ceph
import mosmu_checks
import mosmu_code
import mosmu_config
import mosmu_errors
import mosmu_events
import mosmu_exec
import mosmu_finish
import mosmu_fuel
import mosmu_ledger
import mosmu_lock
import mosmu_minions
import mosmu_mirror
import mosmu_noderun
import mosmu_plan
import mosmu_render
import mosmu_report
import mosmu_request
import mosmu_run
import mosmu_select
import mosmu_snapshots
import mosmu_ssh
import mosmu_text
import mosmu_validate
import mosmu_waves
from mosmu_errors import ConfigError, MissingDependency, MosmuError

log = logging.getLogger(__name__)

__virtualname__ = "mosmu"
OUTPUTTER = "mosmu"
LIVENESS = 20           # seconds between Salt's find_job checks on a running state.apply
STATUS_TIMEOUT = 15     # seconds for the one-publish mosmu.status collections
CHECK_TIMEOUT = 60      # seconds for one publish of the health checks (OpenStack clients)


def __virtual__():
    return __virtualname__


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM while waves run: end with the report of what finished."""


# -- plumbing -------------------------------------------------------------------------------

def _retcode(value):
    """Also in ``__context__``: orchestration takes a runner step's success from there."""
    if "__context__" in globals():
        __context__["retcode"] = value
    return value


def _rendered(data):
    """Name the mosmu outputter (a table) unless the operator chose one (``--out=json``
    then prints the data alone, as one document)."""
    if "__opts__" in globals() and __opts__.get("output") is None:
        data["outputter"] = OUTPUTTER
    return data


def _fail(message, partial=None):
    """The error return: one line and retcode 2, with the node entries of a partial report.

    Logged at info level only: salt-run shows warnings and errors on the console, where the
    ``error:`` line of the return already says it (printed once, not twice).
    """
    log.info("mosmu: %s", mosmu_text.safe(message, newlines="space"))
    data = dict(partial or {})
    if data:
        data["summary"] = mosmu_report.summary(mosmu_report.entries_of(data))
    data.update(error=message, retcode=_retcode(2))
    return _rendered(data)


class _Keeping:
    """``with _Keeping(report):`` an error escaping the block carries the node entries
    already in ``report`` (``err.mosmu_report``), so that the error return keeps them: an
    error after some nodes were worked on (lock dir, job cache, salt-master) loses no
    result."""

    def __init__(self, report):
        self.report = report

    def __enter__(self):
        return self.report

    def __exit__(self, _type, err, _tb):
        if err is not None:
            err.mosmu_report = self.report
        return False


def _partial(err):
    """The node entries an error carries (:class:`_Keeping`); none when no node was worked
    on (only NO_MINION entries): then the error alone is the whole story."""
    report = getattr(err, "mosmu_report", None) or {}
    entries = {ip: entry for ip, entry in report.items()
               if isinstance(entry, dict) and "result" in entry}
    return entries if any(e["result"] != "NO_MINION" for e in entries.values()) else {}


def _traceback(err):
    """An exception with its traceback, terminal-safe for the log (its text may come from a
    node or Nailgun)."""
    return mosmu_text.safe("".join(traceback.format_exception(err)), newlines="keep")


def _boundary(func):
    """Errors of a public function end as one line and a non-zero retcode, never a traceback.

    Positional arguments are refused here (Salt passes ``salt-run mosmu.update 1`` as one);
    keyword arguments are checked by ``mosmu_request.parse``. An ``OSError`` of the master
    names the cause, the path and the fix; the nodes already done stay in the return.
    Whatever the outcome, salt-run's return event then goes out on a fresh bus connection
    (:func:`_event_bus_ready`).
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if args:
            return _fail(mosmu_request.positional_error(func.__name__, args))
        try:
            return _guarded(func, kwargs)
        finally:
            _event_bus_ready()

    return wrapper


def _arguments(func):
    """Put the runner function's arguments, from ``mosmu_request.ARGS``, in its docstring
    (what ``salt-run -d mosmu.<function>`` prints): one table for parsing and docs."""
    func.__doc__ = mosmu_request.documented(func.__name__, func.__doc__)
    return func


def _guarded(func, kwargs):
    """``func(**kwargs)``, every error ended as one line (see :func:`_boundary`).

    An argument error is a :class:`ConfigError` that mosmu's own checks raise
    (``mosmu_request.parse``, and the runner where a helper's ValueError is about an
    argument): its message names the argument and the fix. Any other exception, a
    ValueError from Salt's client included, is not the operator's argument: it is the
    internal-error line, its traceback in the master log.
    """
    try:
        return func(**kwargs)
    except MosmuError as err:
        return _fail(str(err), _partial(err))
    except OSError as err:
        log.info("mosmu.%s: %s", func.__name__, _traceback(err))
        return _fail(mosmu_errors.os_error_message(err), _partial(err))
    except SaltClientError as err:
        return _fail(f"the salt-master did not answer ({err}); check that it runs and is "
                     "not overloaded, then rerun (retry_failed=True resumes an update)",
                     _partial(err))
    except AuthenticationError as err:
        return _fail(f"the salt-master refused this run's authentication ({err}), also "
                     "after authenticating again; the nodes above finished, the rest did not "
                     "start: check the salt-master, then rerun with retry_failed=True",
                     _partial(err))
    except Exception as err:  # noqa: BLE001 - the boundary: logged with its traceback
        log.info("mosmu.%s failed: %s", func.__name__, _traceback(err))
        return _fail(f"internal error in mosmu.{func.__name__}: {err.__class__.__name__}: "
                     f"{err}; rerun with salt-run -l info for the traceback, and report it",
                     _partial(err))


def _terminal():
    """Progress goes to the terminal only with the default outputter: ``--out=json`` must
    print exactly one document."""
    return "__jid_event__" in globals() and __opts__.get("output") in (None, OUTPUTTER)


def _progress(message=None, **event):
    data = dict(event, message=message) if message else event
    log.info("mosmu: %s", mosmu_render.progress_line(data))
    if _terminal():
        try:
            __jid_event__.fire_event(dict(data, outputter=OUTPUTTER), "progress")
        except Exception as err:  # noqa: BLE001 - a progress line must never end the run
            log.info("mosmu: a progress line was not sent (%s); the report will say it all",
                     mosmu_text.safe(str(err), newlines="space"))


def _event_bus_ready():
    """Before the runner returns: salt-run's own return event goes out on a new connection.

    salt-run keeps one connection to the master's event bus; a salt-master restart during
    the run closes it, and on Salt 3006 salt-run's return event (sent after this function
    returned) then raises StreamClosedError: the report was lost. Closing the connection
    here (``SaltEvent.close_pull``, what Salt itself does after a failed send) makes that
    event connect anew; a bus that is down then costs the event, not the report."""
    event = getattr(globals().get("__jid_event__"), "event", None)
    close = getattr(event, "close_pull", None)
    if close is None:
        return
    try:
        close()
    except Exception as err:  # noqa: BLE001 - closing a dead connection may raise
        log.info("mosmu: closing the event bus connection: %s",
                 mosmu_text.safe(str(err), newlines="space"))


PHASE_QUIET = 1.0       # seconds a phase may take before a progress line says what it waits for


@contextlib.contextmanager
def _phase(message):
    """A phase of the run before the waves: when it takes more than :data:`PHASE_QUIET`
    seconds, one progress line says what the run waits for (a run never sits silent)."""
    timer = threading.Timer(PHASE_QUIET, _progress, args=(message,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _bus(tag, data):
    """An event on the master bus for reactors (no secret: ``event_data`` whitelists)."""
    try:
        __salt__["event.send"](tag, data)
    except Exception as err:  # noqa: BLE001 - an event must never end the run
        log.warning("mosmu: could not send event %s: %s", tag,
                    mosmu_text.safe(str(err), newlines="space"))


def _jid():
    return globals().get("__jid__") or time.strftime("%Y%m%d%H%M%S")


def _sdb_uri(key):
    """The ``sdb://`` URI the master config files give ``mosmu:<key>`` (``ssh:priv``), or
    None. Salt resolves every sdb URI in ``__opts__`` when it loads the config, and one that
    returns nothing (a typo in its key) arrives here as None: only the files still say what
    the operator wrote."""
    path = __opts__.get("conf_file")
    if not path:
        return None
    try:
        raw = salt.config.load_config(path, "SALT_MASTER_CONFIG",
                                      salt.config.DEFAULT_MASTER_OPTS["conf_file"])
        raw.update(salt.config.include_config(
            raw.get("default_include", salt.config.DEFAULT_MASTER_OPTS["default_include"]),
            path, verbose=False))
        raw.update(salt.config.include_config(raw.get("include", []), path, verbose=False))
    except (OSError, SaltException) as err:
        log.info("mosmu: could not re-read %s for mosmu:%s: %s", path, key, err)
        return None
    value = raw.get("mosmu")
    for part in key.split(":"):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) and value.startswith("sdb://") else None


def _sdb(value, key):
    """``value``, or the secret its ``sdb://`` URI gives; ConfigError when the URI gives
    nothing (also when Salt already resolved it to nothing while loading the config)."""
    if str(value or "").startswith("sdb://"):
        uri, secret = value, salt.utils.sdb.sdb_get(value, __opts__)
    elif value in (None, "") and _sdb_uri(key):
        uri, secret = _sdb_uri(key), None   # Salt resolved the URI to nothing at config load
    else:
        return value
    if not secret or secret == uri:
        profile = uri[len("sdb://"):].split("/", 1)[0]
        raise ConfigError(f"mosmu:{key} is {uri} in the master config, but that sdb URI "
                          f"returned nothing; check the key after the profile and the sdb "
                          f"profile {profile}: in the master config (salt-run sdb.get {uri} "
                          "must print the secret)")
    return secret


def _config(master_ip=None):
    raw = __opts__.get("mosmu")
    if isinstance(raw, dict):
        raw = dict(raw, password=_sdb(raw.get("password"), "password"))
        if isinstance(raw.get("ssh"), dict) and "priv" in raw["ssh"]:
            raw["ssh"] = dict(raw["ssh"], priv=_sdb(raw["ssh"]["priv"], "ssh:priv"))
    cfg = mosmu_config.load(raw, master_ip=master_ip)
    if cfg["ssh"] is not None and cfg["ssh"]["known_hosts"] is None:
        cfg["ssh"]["known_hosts"] = os.path.join(__opts__["pki_dir"], "ssh",
                                                 "mosmu_known_hosts")
    try:
        cfg["catalog"] = mosmu_catalog.Catalog(cfg["catalog"], cfg["mirror_key"])
    except ValueError as err:
        raise ConfigError(f"{err}; fix mosmu:catalog in the master config") from err
    return cfg


def _client(cfg):
    return mosmu_fuel.FuelClient(cfg["fuel_url"], cfg["username"], cfg["password"],
                                 cfg["tenant"], cfg["keystone_url"], cfg["verify_tls"],
                                 cfg["timeout"])


def _select(cfg, req):
    """The run's :class:`mosmu_run.Selection`: inventory, selection, each environment's
    plan and the minion mapping; no side effects."""
    with _phase(f"reading the inventory from Nailgun at {cfg['fuel_url']} (up to "
                f"{cfg['timeout']} s a request)"):
        inventory = _client(cfg).inventory()
    chosen = mosmu_select.select(inventory, req)
    env_plans, errors, selected, skipped = {}, {}, [], list(chosen["skipped"])
    for env_id in chosen["envs"]:
        try:
            plan, dropped = mosmu_plan.env_plan(
                inventory, env_id, cfg["catalog"], cfg["repo_url"],
                req.mos_version or cfg["mos_version"], list(req.repos), bool(cfg["trusted"]))
            env_plans[env_id] = mosmu_run.EnvPlan(
                plan, cfg["catalog"].get(plan.distro, plan.mos_version), tuple(dropped),
                mosmu_finish.load(plan.distro, plan.mos_version, cfg["finish"]),
                tuple(chosen["env_nodes"].get(env_id, ())))
        except ValueError as err:
            errors[env_id] = f"{err}; fix the argument or add a catalog row"
    transport = req.transport or cfg["transport"]
    if transport == "ssh" and cfg["ssh"] is None:
        raise ConfigError("transport=ssh needs a mosmu:ssh section in the master config (see "
                          "docs/configuration.md)")
    with _phase("mapping nodes to minions from the master's grains cache"):
        index = mosmu_minions.minion_index(__opts__, cfg["match"]) if transport != "ssh" \
            else {}
    nodes_in = chosen["selected"]
    mapped = mosmu_minions.map_nodes(nodes_in, index, cfg["match"]) if transport != "ssh" \
        else [dict(n, minion=None, candidates=[]) for n in nodes_in]
    for node in mapped:
        if node["cluster"] in errors:
            skipped.append({"id": node["id"], "ip": node["ip"], "env": node["cluster"],
                            "reason": errors[node["cluster"]], "failed": True})
            continue
        selected.append(dict(node, mos_version=env_plans[node["cluster"]].plan.mos_version,
                             transport=_transport_of(node, transport, cfg)))
    return mosmu_run.Selection(tuple(chosen["envs"]), env_plans, selected, skipped)


def _transport_of(node, transport, cfg):
    """``minion``, ``ssh`` or None (neither): the minion when one maps (unless
    ``transport=ssh``), ssh when configured (unless ``transport=minion``)."""
    if node["minion"] and transport != "ssh":
        return "minion"
    if cfg["ssh"] is not None and transport != "minion" and not node["candidates"]:
        return "ssh"
    return None


class _Client:
    """The run's LocalClient, made anew when the salt-master restarted under it.

    A salt-master restarted during a run breaks the client one of two ways, depending on the
    Salt release. Its next publish is refused (Salt 3006 reads the master's new key only when
    a client is made: AuthenticationError): a refused publish is not a published one, so it
    is sent once more on a new client. Or reading a published job's returns from the
    master's event bus breaks: on Salt 3007.16 the event subscriber's reconnect
    (``salt.transport.tcp.PublishClient.getstream``) returns the stream of a connect that
    failed, closed, while the master's event publisher is down, and the next read raises
    ValueError ``Invalid file object: None`` (``select`` on that stream's socket, None). The
    job was published and runs: its returns are read again, by its jid, on a new client, for
    the minions that have not returned; nothing is published twice. While the master is
    down every new connection breaks so, each after Salt's reconnect backoff (about a
    second): up to :data:`READ_AGAIN` new clients cover a restart of about two minutes. A
    return sent while the bus was away is not read again; Salt's ``find_job`` check then ends
    the wait and the node's status record tells its result (:func:`_lost_returns`). Used as
    ``with _Client() as client`` like ``salt.client.get_local_client``.
    """

    # what breaks while a published job's returns are read: the bus connection (Salt
    # 3007.16's ValueError above; tornado's StreamClosedError is an OSError) or the find_job
    # publish of a master that restarted with a new key (AuthenticationError). A master that
    # does not answer (SaltClientError) is not read again: the boundary says so.
    BROKEN_READ = (OSError, ValueError, AuthenticationError)
    READ_AGAIN = 120

    def __init__(self):
        self.client = salt.client.get_local_client(mopts=__opts__)

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.client.destroy()
        return False

    def _renew(self):
        """A new LocalClient: it reads the master's key and connects to its bus anew."""
        try:
            self.client.destroy()
        except Exception as err:  # noqa: BLE001 - closing a broken client may raise
            log.info("mosmu: closing the old LocalClient: %s",
                     mosmu_text.safe(str(err), newlines="space"))
        self.client = salt.client.get_local_client(mopts=__opts__)

    def _refused(self, err):
        _progress(f"the salt-master refused this run's client ({err}): restarted? "
                  "authenticating again")
        self._renew()

    def cmd(self, *args, **kwargs):
        try:
            return self.client.cmd(*args, **kwargs)
        except AuthenticationError as err:
            self._refused(err)
            return self.client.cmd(*args, **kwargs)

    def cmd_iter_no_block(self, tgt, fun, arg=(), timeout=None, tgt_type="glob", kwarg=None,
                          **kwargs):
        """``LocalClient.cmd_iter_no_block``: publish, then yield each return as it comes,
        or None while none comes. Made of its two halves (``run_job``, then
        ``get_iter_returns`` of the job's jid) so that reading the returns can start again
        on a new client. The publish happens at the first item: that is where a refusal
        shows."""
        def publish():
            return self.client.run_job(tgt, fun, arg, tgt_type, timeout=timeout,
                                       kwarg=kwarg, listen=True, **kwargs)
        listening = self.client.event.cpub
        try:
            try:
                job = publish()
            except AuthenticationError as err:
                self._refused(err)
                job = publish()
            if not job:
                yield job
                return
            yield from self._returns(job, dict(kwargs, timeout=timeout, tgt=tgt,
                                               tgt_type=tgt_type))
        finally:
            if not listening:   # as LocalClient.cmd_iter_no_block: the call's own connection
                self.client.event.close_pub()

    def _returns(self, job, kwargs):
        """The returns of a published job (``job``: ``{"jid", "minions"}``); when reading
        them breaks, read again on a new client for the minions that have not returned."""
        returned = set()
        for again in range(self.READ_AGAIN + 1):
            waiting = [m for m in job["minions"] if m not in returned]
            try:
                for chunk in self.client.get_iter_returns(job["jid"], waiting, block=False,
                                                          **kwargs):
                    returned.update(chunk or ())
                    yield chunk
                return
            except self.BROKEN_READ as err:
                if again == self.READ_AGAIN:
                    raise
                message = (f"reading the returns of job {job['jid']} broke "
                           f"({err.__class__.__name__}: {err}): salt-master restarted? "
                           "reading them again on a new connection")
                if again:       # said once: while the master is down, once a second
                    log.info("mosmu: %s", mosmu_text.safe(message, newlines="space"))
                else:
                    _progress(message)
                self._renew()


def _unmapped(node, match):
    if node["candidates"]:
        return mosmu_report.entry(
            node, "NO_MINION", comment=f"several minions match {match} of node-{node['id']}: "
            f"{', '.join(node['candidates'])}; fix their grains or set mosmu:match fqdn")
    return mosmu_report.entry(
        node, "NO_MINION", comment=f"no minion matches {match} of node-{node['id']} "
        f"({node['ip']}); is its salt-minion running and its key accepted (salt-key -L)? "
        "Or reach it over ssh: add a mosmu:ssh section (docs/configuration.md)")


# -- public functions -----------------------------------------------------------------------

@_boundary
@_arguments
def nodes(**kwargs):
    """
    Preview: the nodes an update would touch, and why every other node would not.

    Arguments (rows of ``mosmu_request.ARGS``):

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.nodes env=11
        salt-run mosmu.nodes all_envs=True roles=compute
    """
    req = mosmu_request.parse(kwargs, mosmu_request.NODES)
    with _gc_paused():
        sel = _select(_config(req.master_ip), req)
        keep = ("id", "ip", "fqdn", "hostname", "cluster", "roles", "os_platform", "status",
                "online", "mos_version", "transport", "minion", "candidates")
        return _rendered({"selected": [{k: n.get(k) for k in keep} for n in sel.selected],
                          "skipped": sel.skipped,
                          "retcode": _retcode(2 if sel.failed_skips() else 0)})


@contextlib.contextmanager
def _gc_paused():
    """Python's cyclic garbage collector paused for the block, as it was after.

    Decoding and selecting an inventory makes tens of thousands of containers and no
    reference cycle (reference counting frees them all); at 10,000 nodes the collector's
    passes over the growing heap cost about a fifth of ``mosmu.nodes``.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _sync_trees(cfg, trees, test=False, verify=False):
    """Sync each catalog tree (``{name: (tree, repos)}``, :meth:`mosmu_run.Selection.trees`)
    once, whatever the number of environments using it; with ``verify``, check the published
    snapshot against its own indices and repair it."""
    results = {}
    for name, (tree, repos) in sorted(trees.items()):
        _progress(f"mirror: syncing {name} ({', '.join(repos)}) from {cfg['mirror_upstream']}")
        result = mosmu_mirror.sync_tree(cfg["mirror_upstream"], cfg["mirror_root"], tree, repos,
                                        timeout=int(cfg["timeout"]) * 4,
                                        keep=cfg["keep_snapshots"],
                                        staging_dir=cfg["mirror_staging"], test=test,
                                        verify=verify)
        _progress(f"mirror: {name} {result['state']}: " + ", ".join(
            f"{s} {state}" for s, state in sorted(result["suites"].items()))
            + f" ({result['files']} file(s), {result['seconds']} s)")
        problems = result.get("problems") or []
        if problems:
            shown = ", ".join(f"{p['path']} ({p['problem']})" for p in problems[:3])
            _progress(f"mirror: {name}: {len(problems)} file(s) missing or damaged in the "
                      f"published snapshot: {shown}{' ...' if len(problems) > 3 else ''}")
        results[name] = result
    return results


def _pin_snapshots(cfg, sel, mirror):
    """Pre-flight, then every environment's plan pointed at the snapshot its tree has now:
    the run's ``env_plans``, pinned.

    Nodes of this run read ``<repo_url>/.snapshots/<tree>/<id>``: a publish during the run
    cannot change what a later wave installs. A tree that lacks a suite the plan needs stops
    the run here, before any node is touched (also with ``sync=False`` and in test mode).
    """
    pinned = dict(sel.env_plans)
    for name, (tree, repos) in sorted(sel.trees().items()):
        lacking = mosmu_mirror.missing(cfg["mirror_root"], tree, repos)
        if lacking:
            raise ConfigError(
                f"the master's mirror lacks {', '.join(lacking)} of {name} under "
                f"{cfg['mirror_root']}; no node was touched. Run salt-run mosmu.sync "
                f"mos_version={tree.version} distro={tree.distro} repos={','.join(repos)} "
                "(a real run syncs first, unless sync=False)")
        try:
            damaged = mosmu_mirror.verify_published(cfg["mirror_root"], tree, repos,
                                                    hashing=False)
        except MissingDependency as err:     # say it, and go on: the nodes check signatures
            _progress(f"mirror: {name}: the published files were not checked: {err}")
            damaged = []
        if damaged:
            raise ConfigError(mosmu_mirror.damaged_message(cfg["mirror_root"], tree, damaged))
        snapshot = (mirror.get(name) or {}).get("snapshot_path") or \
            mosmu_snapshots.current_snapshot(cfg["mirror_root"], tree)
        for env, env_plan in sel.env_plans.items():
            if env_plan.tree == tree:
                pinned[env] = env_plan.pinned(snapshot)
    return pinned


def _check_ssh_files(ssh, test):
    if not os.path.isfile(ssh["priv"]):
        raise ConfigError(f"mosmu:ssh:priv {ssh['priv']} does not exist; point it at the key "
                          "the nodes accept (on a Fuel master: /root/.ssh/id_rsa)")
    path = ssh["known_hosts"]
    if os.path.isfile(path):
        return
    if not ssh["accept_new_hostkeys"]:
        raise ConfigError(f"mosmu:ssh:known_hosts {path} does not exist: record the nodes' host "
                          "keys there (ssh-keyscan -p PORT HOST, after checking each "
                          "fingerprint), or set mosmu:ssh:accept_new_hostkeys: True")
    if not test:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
                  encoding="ascii"):
            pass


def _ssh_session(cfg, nodes, test):
    """A :class:`mosmu_ssh.Session` for the ssh nodes among ``nodes`` (None when none)."""
    ssh_nodes = [n for n in nodes if n.get("transport") == "ssh"]
    if not ssh_nodes:
        return None
    _check_ssh_files(cfg["ssh"], test)
    try:
        targets = mosmu_ssh.targets(ssh_nodes, cfg["ssh"])
    except ValueError as err:
        raise ConfigError(str(err)) from err
    return mosmu_ssh.Session(targets, cfg["ssh"]["parallel"], test=test)


def _ssh_status(session, node):
    try:
        return mosmu_noderun.status(session.executor(node["ip"]))
    except mosmu_ssh.SshError as err:
        return err
    except mosmu_exec.NodeIOError as err:
        return f"reading the status over ssh failed: {err}"


def _collect_status(client, nodes, session=None):
    """``{ip: mosmu.status return, an SshError or None}``: one publish for the minion
    nodes, the ssh nodes read in parallel while the minions answer."""
    out = {}
    futures = {session.submit(_ssh_status, session, n): n for n in nodes
               if n.get("transport") == "ssh"}
    minion_nodes = [n for n in nodes if n.get("transport", "minion") == "minion"]
    if minion_nodes:
        rets = client.cmd([n["minion"] for n in minion_nodes], "mosmu.status",
                          tgt_type="list", timeout=STATUS_TIMEOUT, full_return=True)
        for node in minion_nodes:
            ret = rets.get(node["minion"])
            out[node["ip"]] = ret.get("ret") if isinstance(ret, dict) else None
    for future, node in futures.items():
        out[node["ip"]] = future.result()
    return out


def _status_entry(node, ret, last=None):
    """A node's ``mosmu.status`` entry: its own status file, unless the master's last run on
    it ended otherwise and the node's record is not that run's (``mosmu_ledger``)."""
    if isinstance(ret, mosmu_ssh.SshError):
        return mosmu_report.run_entry(node, error=(ret.kind, str(ret)))
    entry = mosmu_report.status_from_record(node, ret)
    if mosmu_ledger.overrides(last, ret):
        entry.update(result=last["result"], comment=(
            f"the last run (job {last['run_id']}) ended {last['result']}: {last['comment']}; "
            f"the node's own status ({entry.get('line') or 'none'}) is older than that run"))
    return entry


def _retry_filter(client, mapped, env_plans, session=None):
    """``(to_update, skipped)``: only nodes whose last run is not OK (retry_failed).

    A node counts as done only when its last status is OK for the same MOS version and repos
    as this run's plan, and the master's last run on it did not end otherwise
    (``mosmu_ledger``: a node that could not write its FAIL still shows an older OK). A node
    skipped by an earlier failed run, whose older OK was for other repos, is retried.
    """
    status = _collect_status(client, mapped, session)
    ledger = mosmu_ledger.read_many(__opts__["cachedir"], [n["id"] for n in mapped])
    keep, skipped = [], []
    for node in mapped:
        ret = status.get(node["ip"])
        plan = env_plans[node["cluster"]].plan
        record = ret.get("record") if isinstance(ret, dict) else None
        same = isinstance(record, dict) and \
            (record.get("mos_version"), record.get("repos")) == (plan.mos_version,
                                                                plan.repo_names)
        last = ledger[node["id"]]
        if isinstance(ret, dict) and ret.get("state") == "OK" and same and \
                not mosmu_ledger.overrides(last, ret):
            skipped.append({"id": node["id"], "ip": node["ip"], "env": node["cluster"],
                            "reason": "last status UPDATE=OK (retry_failed=True skips it)"})
        else:
            keep.append(node)
    return keep, skipped


SYNC_FUNS = ["saltutil.sync_utils", "saltutil.sync_modules", "saltutil.sync_states"]


def _master_digest():
    """The digest of the node-side mosmu code the master's fileserver gives minions
    (``mosmu_code``), or None when it serves none (mosmu pip-installed on the nodes)."""
    import salt.fileserver  # pylint: disable=import-outside-toplevel

    server = salt.fileserver.Fileserver(__opts__)
    contents = {}
    for path in server.file_list({"saltenv": "base", "prefix": "_"}):
        name = mosmu_code.wanted(path)
        found = server.find_file(path, "base") if name else {}
        if found.get("path"):
            with open(found["path"], "rb") as handle:
                contents[name] = handle.read()
    return mosmu_code.digest(contents)


def _answered(ret):
    return isinstance(ret, dict) and "ret" in ret and not ret.get("failed") and \
        not str(ret["ret"]).startswith("Minion did not return")


def _ready_minions(client, mapped, report):
    """The minion nodes ready for ``state.apply mosmu``, at the fixed cost of one publish.

    ``mosmu.version`` on every minion tells which answer (one that does not is NO_MINION,
    before any wave) and which run mosmu code that differs from the master's: only those get
    mosmu's utils, modules and states synced (a second publish, no pillar refresh). A minion
    whose sync fails is FAIL with the fix.
    """
    minions = [n["minion"] for n in mapped]
    if not minions:
        return []
    rets = client.cmd(minions, "mosmu.version", tgt_type="list", timeout=LIVENESS,
                      full_return=True)
    master = _master_digest()
    ready, stale = [], []
    for node in mapped:
        ret = rets.get(node["minion"])
        if not _answered(ret):
            report[node["ip"]] = mosmu_report.entry(
                node, "NO_MINION", comment=f"{node['minion']} did not answer mosmu.version: "
                f"{ret.get('ret') if isinstance(ret, dict) else 'no reply'}; is its "
                f"salt-minion running (salt {node['minion']} test.ping)?")
        elif master is None or (isinstance(ret["ret"], dict) and
                                ret["ret"].get("digest") == master):
            ready.append(node)
        else:
            stale.append(node)
    if stale:
        _progress(f"syncing mosmu's modules to {len(stale)} minion(s) whose mosmu code differs "
                  "from the master's")
        synced = client.cmd([n["minion"] for n in stale], SYNC_FUNS, [[]] * len(SYNC_FUNS),
                            tgt_type="list", timeout=LIVENESS, full_return=True)
        for node in stale:
            ret = synced.get(node["minion"])
            results = ret.get("ret") if _answered(ret) else None
            if isinstance(results, dict) and all(isinstance(results.get(f), list)
                                                 for f in SYNC_FUNS):
                ready.append(node)
            else:
                report[node["ip"]] = mosmu_report.entry(
                    node, "FAIL", comment=f"syncing mosmu's modules to {node['minion']} "
                    f"failed: {results if results is not None else 'no reply'}; run salt "
                    f"{node['minion']} saltutil.sync_all and read its minion log")
    return ready


def _ssh_node(session, node, plan, test, run_id, restart=None):
    """One ssh node's run (in a worker thread): its report entry, whatever happens."""
    started = time.monotonic()

    def seconds():
        return time.monotonic() - started

    try:
        executor = session.executor(node["ip"])
        if test:
            seen = mosmu_noderun.preview(plan, executor, restart)
            todo = seen.pop("todo")
            return mosmu_report.run_entry(node, todo, test=True, duration=seconds(),
                                          comment=mosmu_noderun.pending_comment(plan, todo, seen),
                                          finish=mosmu_noderun.finish_of(seen))
        done = mosmu_noderun.upgrade(plan, executor, run_id=run_id, restart=restart)
        return mosmu_report.run_entry(node, done, duration=seconds(),
                                      comment=mosmu_noderun.done_comment(plan, done),
                                      finish=mosmu_noderun.finish_of(done))
    except mosmu_ssh.SshError as err:
        return mosmu_report.run_entry(node, error=(err.kind, str(err)), test=test,
                                      duration=seconds())
    except mosmu_noderun.NodeRunError as err:
        recorded = "; status UPDATE=FAIL" if err.info.get("recorded", True) and not test else ""
        return mosmu_report.run_entry(node, error=("fail", f"{err}{recorded}",
                                                   err.info.get("changes")),
                                      test=test, duration=seconds(),
                                      finish=mosmu_noderun.finish_of(err.info))
    except mosmu_exec.NodeIOError as err:
        return mosmu_report.run_entry(node, error=("fail", str(err)), test=test,
                                      duration=seconds())
    except Exception as err:  # noqa: BLE001 - a worker's boundary, logged with its traceback
        log.error("mosmu: the ssh run of node-%s failed: %s", node["id"], _traceback(err))
        return mosmu_report.run_entry(node, error=("fail", f"internal error: "
                                                   f"{err.__class__.__name__}: {err}; see the "
                                                   "salt-master log and report it"),
                                      test=test, duration=seconds())


def _run_wave(client, wave, plan, test, cfg, session=None, restart_of=None,
              check=lambda: None):
    """One wave: ``state.apply mosmu`` on its minion nodes and the node run over ssh on its
    ssh nodes, at the same time. Returns ``({minion: full_return}, {ip: entry}, seconds)``:
    an entry for every node that returned, built once (its progress line and the report show
    the same), with the node's own duration; ``seconds`` is the wave's wall time.
    ``restart_of(node)`` gives each node its restart rules (None: restart nothing).

    Salt's own liveness checks (``saltutil.find_job`` every ``LIVENESS`` s) keep waiting only
    while the job really runs on a minion, so a minion that is gone ends within about a
    minute; ``apply_timeout`` bounds a job that is alive, and each ssh node's detached step.
    ``check`` is called between returns: it raises to end the wave (:meth:`_Signals.check`).
    """
    minions = [n["minion"] for n in wave if n.get("transport", "minion") == "minion"]
    by_minion = {n["minion"]: n for n in wave if n["minion"] in minions}
    started = time.monotonic()
    deadline = started + cfg["apply_timeout"]
    futures = {}
    if session is not None:
        session.deadline = deadline
        futures = {session.submit(_ssh_node, session, n, plan, test, _jid(),
                                  restart_of(n) if restart_of else None): n
                   for n in wave if n.get("transport") == "ssh"}
    rets, entries = {}, {}

    def ssh_pending():
        return [f for f, n in futures.items() if n["ip"] not in entries]

    def harvest(timeout=0.0):
        done, _ = concurrent.futures.wait(ssh_pending(), timeout=timeout)
        for future in done:
            entry = entries[futures[future]["ip"]] = future.result()
            _progress(**mosmu_events.event_data(entry, kind="node"))

    if minions:
        pillar = {"mosmu": plan.to_pillar(), "mosmu_run": str(_jid())}
        if restart_of:
            pillar["mosmu_restart"] = {n["minion"]: restart_of(n) for n in wave
                                       if n["minion"] in by_minion}
        for chunk in client.cmd_iter_no_block(minions, "state.apply", ["mosmu"],
                                              tgt_type="list", timeout=LIVENESS,
                                              full_return=True,
                                              kwarg={"pillar": pillar, "test": test}):
            for minion, ret in (chunk or {}).items():
                if minion in by_minion and minion not in rets:
                    rets[minion] = ret
                    # the node's own time: its mosmu states' durations, not the wave's
                    entry = entries[by_minion[minion]["ip"]] = mosmu_report.state_entry(
                        by_minion[minion], ret, test)
                    _progress(**mosmu_events.event_data(entry, kind="node"))
            harvest()
            check()
            if len(rets) == len(minions) or time.monotonic() > deadline:
                break
    while ssh_pending():        # entries holds the minion nodes too: count the ssh ones
        harvest(timeout=1.0)
        check()
    return rets, entries, time.monotonic() - started


def _lost_returns(client, wave, rets):
    """Entries for nodes whose job return never came (master restart, dead minion): from
    the node's own status record when *this* run wrote it (its ``run_id`` is this job's id;
    never a time compared across the master's and the node's clocks); TIMEOUT otherwise."""
    missing = [n for n in wave if n.get("transport", "minion") == "minion" and
               n["minion"] not in rets]
    status = _collect_status(client, missing)
    out = {}
    for node in missing:
        ret = status.get(node["ip"])
        record = ret.get("record") if isinstance(ret, dict) else None
        ours = isinstance(record, dict) and record.get("run_id") == str(_jid())
        if ours and ret.get("state") in ("OK", "PARTIAL", "FAIL"):
            entry = mosmu_report.status_from_record(node, ret)
            entry["comment"] = ("the job return was lost (master restart?); result from the "
                                f"node's status record: {entry.get('comment') or ret['line']}")
            out[node["ip"]] = entry
        else:
            out[node["ip"]] = mosmu_report.state_entry(node, None)
    return out


class _Signals:
    """While waves run, Ctrl-C and SIGTERM end the run with the report of what finished
    (:class:`_Interrupted`) instead of salt-run's own handler (which exits 0 and loses the
    finished waves' results).

    The handler records the signal; the run raises :class:`_Interrupted` at its next step
    (:meth:`check`, called between the returns of a wave and between waves). Raised from the
    handler itself, the exception would land in whatever Salt code runs at that moment, and
    Salt does not always let it through: Salt 3007 runs each event bus read in a thread that
    the main thread joins, so the exception left that thread's event loop running and
    LocalClient's cleanup then raised RuntimeError ("Cannot close a running event loop") in
    its place (the report lost the interrupted wave and the skipped nodes); ``run_job``
    turns any exception into SaltClientError. Only mosmu's own wait between waves
    (:meth:`sleep`) is ended at once. A signal after the last wave's returns stops nothing:
    the report is whole.
    """

    def __init__(self):
        self.saved = {}
        self.received = None        # the signal's name
        self._sleeping = False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, self._record)
        return self

    def _record(self, signum, _frame):
        self.received = signal.Signals(signum).name
        if self._sleeping:
            raise _Interrupted(self.received)

    def check(self):
        """Raise :class:`_Interrupted` when a signal came."""
        if self.received:
            raise _Interrupted(self.received)

    def sleep(self, seconds):
        """``time.sleep``, ended at once by a signal (:class:`_Interrupted`)."""
        self._sleeping = True
        try:
            self.check()
            time.sleep(seconds)
        finally:
            self._sleeping = False

    def __exit__(self, *_exc):
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        return False


def _restart_rules(env_plan, req):
    """``restart_of(node)`` for an environment: its roles' services and, on a controller,
    the environment's Pacemaker resources (``mosmu_finish``); None with ``restart=False``."""
    if not req.restart:
        return None
    finish = env_plan.finish

    def restart_of(node):
        roles = node.get("roles") or ()
        return {"services": finish.node_services(roles),
                "pacemaker": list(finish.pacemaker) if "controller" in roles else []}
    return restart_of


def _gather_checks(client, session, jobs):
    """Run each node's checks (``[(node, [Check])]``) at once: one publish per distinct list
    for the minions, the ssh nodes in parallel.

    :return: ``({ip: {name: raw output}}, {ip: entry})``: the second holds the nodes that
        could not be asked, with their own result (an ssh node UNREACHABLE or TIMEOUT with the
        cause, a minion that did not answer TIMEOUT)
    """
    out, lost = {}, {}
    by_list = {}
    futures = {}
    for node, checks in jobs:
        if not checks:
            continue
        wire = [{"name": c.name, "argv": list(c.argv), "openrc": c.openrc} for c in checks]
        if node.get("transport") == "ssh":
            futures[session.submit(mosmu_noderun.run_checks, session.executor(node["ip"]),
                                   wire)] = node
        else:
            by_list.setdefault(repr(wire), (wire, []))[1].append(node)
    for wire, nodes in by_list.values():
        rets = client.cmd([n["minion"] for n in nodes], "mosmu.checks", [wire],
                          tgt_type="list", timeout=CHECK_TIMEOUT, full_return=True)
        for node in nodes:
            ret = rets.get(node["minion"])
            if _answered(ret) and isinstance(ret["ret"], dict):
                out[node["ip"]] = ret["ret"]
            else:
                lost[node["ip"]] = mosmu_report.entry(
                    node, "TIMEOUT", comment=f"{node['minion']} did not answer the health "
                    f"checks ({ret.get('ret') if isinstance(ret, dict) else 'no reply'}); is "
                    f"its salt-minion running (salt {node['minion']} test.ping)?")
    for future, node in futures.items():
        try:
            out[node["ip"]] = future.result()
        except mosmu_ssh.SshError as err:
            lost[node["ip"]] = mosmu_report.run_entry(node, error=(err.kind, str(err)))
        except mosmu_exec.NodeIOError as err:
            lost[node["ip"]] = mosmu_report.run_entry(node, error=("fail", str(err)))
    return out, lost


def _on_node(client, session, node, function, *args, timeout=CHECK_TIMEOUT):
    """``mosmu_noderun.<function>(executor, *args)`` on one node: over its ssh session, or
    as its minion's ``mosmu.<function>``.

    :return: ``(value, None)``, or ``(None, why)`` when the node could not be asked
    """
    if node.get("transport") == "ssh":
        try:
            return getattr(mosmu_noderun, function)(session.executor(node["ip"]), *args), None
        except (mosmu_ssh.SshError, mosmu_exec.NodeIOError) as err:
            return None, f"over ssh: {err}"
    ret = client.cmd([node["minion"]], f"mosmu.{function}", list(args), tgt_type="list",
                     timeout=timeout, full_return=True).get(node["minion"])
    if _answered(ret) and isinstance(ret["ret"], list):
        return ret["ret"], None
    return None, f"no answer from {node['minion']}"


def _ceph_cluster(client, session, signals):
    """How the Ceph steps (``mosmu_ceph``) reach the nodes: this run's transports."""
    def ask(node, check):
        raw, lost = _gather_checks(client, session, [(node, [check])])
        if node["ip"] in lost:
            return None, lost[node["ip"]]["comment"]
        return raw[node["ip"]].get(check.name), None

    def call(node, action, flags):
        return _on_node(client, session, node, "ceph_osd_flags", action, flags)
    return mosmu_ceph.Cluster(ask, call, signals.sleep)


def _health(client, session, cfg, env, when, nodes, env_plan):
    """The environment's health checks (``mosmu_finish``) on the run's nodes, the cloud-wide
    ones on its first controller.

    :return: ``(step, lost)``: the step ``{"name", "result", "summary", "problems"}`` and the
        nodes that could not be reached (``{ip: entry}``, see :func:`_gather_checks`). Before
        the update a node that cannot be reached is not a problem of the cloud: it gets its
        own result and leaves the run; the controller that runs the cloud-wide checks is (they
        did not run), and so is any node after the update (it could not be checked).
    """
    finish = env_plan.finish
    problems, skipped = [], []
    env_nodes = env_plan.env_nodes if when == "before" else _env_nodes_now(cfg, env)
    problems += [f"nailgun: {p}" for p in mosmu_finish.nailgun_problems(env_nodes)]
    where = cfg["mirror_root"]
    while not os.path.exists(where) and os.path.dirname(where) != where:
        where = os.path.dirname(where)          # the filesystem it will be on
    try:
        mirror = mosmu_finish.disk_problem(cfg["mirror_root"], shutil.disk_usage(where),
                                           finish.disk_limit)
    except OSError as err:
        mirror = f"the master's mirror filesystem ({cfg['mirror_root']}): {err.strerror or err}"
    problems += [f"disk: {mirror}"] if mirror else []
    controller = next((n for n in nodes if "controller" in (n.get("roles") or ())), None)
    jobs = [(n, finish.node_checks(n.get("roles")) +
             (finish.env_checks() if n is controller else [])) for n in nodes]
    if controller is None and finish.env_checks():
        skipped.append("the cloud-wide checks (no controller of the environment in this run)")
    with _phase(f"env {env}: health checks {when} the update on {len(nodes)} node(s)"):
        raw, lost = _gather_checks(client, session, jobs)
    count = 2
    for node, checks in jobs:
        name = f"node-{node['id']} ({node.get('fqdn') or node['ip']})"
        if node["ip"] in lost:
            why = lost[node["ip"]]["comment"]
            if when == "after":
                problems.append(f"{name} could not be checked after the update: {why}")
            elif node is controller and finish.env_checks():
                problems.append(f"the cloud-wide checks did not run: {name} could not be "
                                f"reached: {why}")
            else:
                skipped.append(f"{name}, not reached (not updated)")
            continue
        for check in checks:
            count += 1
            result, found = mosmu_finish.evaluate(check, raw.get(node["ip"], {}).get(check.name),
                                                  finish.disk_limit)
            if result == "failed":
                problems += [f"{check.name} on {name}: {p}" for p in found]
            elif result == "skipped":
                skipped.append(f"{check.name} on {name}: {found[0]}")
    summary = f"{count} check(s) on {len(nodes)} node(s), Nailgun and the master"
    if skipped:
        summary += f"; skipped: {'; '.join(skipped)}"
    return {"name": f"health checks {when} the update",
            "result": "FAILED" if problems else "passed", "summary": summary,
            "problems": problems}, lost


def _env_nodes_now(cfg, env):
    """The environment's nodes as Nailgun lists them now (for the checks after the update)."""
    inventory = _client(cfg).inventory()
    out = []
    for raw in inventory["nodes"]:
        try:
            node = mosmu_select.parse_node(raw)
        except ValueError:
            continue
        if node["cluster"] == env:
            out.append(node)
    return out


def _pacemaker(client, session, env, nodes, report, test):
    """Restart, once for the environment, the Pacemaker resources its controllers' upgrades
    touched, from the first controller whose upgrade ended OK; None when there are none."""
    wanted = {}
    for node in nodes:
        entry = report.get(node["ip"]) or {}
        finish = entry.get("finish") or {}
        if entry.get("result") in ("OK", "PARTIAL") or (test and entry.get("test")):
            wanted.update(finish.get("pacemaker") or {})
    if not wanted:
        return None
    names = ", ".join(f"{r} ({p})" for r, p in sorted(wanted.items()))
    if test:
        return {"name": "Pacemaker restarts", "result": "would restart", "summary": names,
                "problems": []}
    controller = next((n for n in nodes if "controller" in (n.get("roles") or ()) and
                       (report.get(n["ip"]) or {}).get("result") in ("OK", "PARTIAL")), None)
    if controller is None:
        return {"name": "Pacemaker restarts", "result": "FAILED", "summary": names,
                "problems": ["no controller of the environment ended OK: restart them by hand "
                             "(pcs resource restart NAME) once a controller is fixed"]}
    def failed_step(problem):
        return {"name": "Pacemaker restarts", "result": "FAILED", "summary": names,
                "problems": [f"node-{controller['id']}: {problem}"]}

    raw, lost = _gather_checks(client, session, [(controller, [mosmu_finish.CRM_MON])])
    if controller["ip"] in lost:
        return failed_step(f"could not be reached: {lost[controller['ip']]['comment']}")
    crm = raw[controller["ip"]].get("pacemaker") or {}
    if crm.get("retcode") != 0:
        return failed_step(mosmu_finish.evaluate(mosmu_finish.CRM_MON, crm)[1][0])
    try:
        running = {r["id"] for r in mosmu_checks.pacemaker_resources(crm["stdout"])}
    except ValueError as err:
        return failed_step(str(err))
    present = [r for r in sorted(wanted) if r in running]
    absent = [r for r in sorted(wanted) if r not in running]
    with _phase(f"env {env}: restarting {len(present)} Pacemaker resource(s) from "
                f"node-{controller['id']}"):
        done, why = _on_node(client, session, controller, "restart_resources", present,
                             timeout=CHECK_TIMEOUT * 10)
        if why:
            return failed_step(f"pcs resource restart: {why}")
    failed = [f"{d.get('resource')}: {d.get('detail')}" for d in done if not d.get("ok")]
    summary = (f"restarted {', '.join(d['resource'] for d in done if d.get('ok')) or 'none'} "
               f"from node-{controller['id']}")
    if absent:
        summary += f"; not in the cluster (skipped): {', '.join(absent)}"
    return {"name": "Pacemaker restarts", "result": "FAILED" if failed else "OK",
            "summary": summary, "problems": failed}


def _env_step(report, env, step):
    """Keep an environment step in the report (:meth:`mosmu_run.Report.env_step`) and say it
    as a progress line."""
    if step is None:
        return
    report.env_step(env, step)
    _progress(f"env {env} {step['name']}: {step['result']}"
              + (f" ({step['summary']})" if step.get("summary") else "")
              + (f": {'; '.join(step['problems'][:3])}" if step["problems"] else ""))


UNANSWERED = ("TIMEOUT", "UNREACHABLE")     # a node that did not answer its wave


def _end_env(client, session, cfg, env, env_nodes, env_plans, req, report):
    """After an environment's last wave: its Pacemaker restarts, its health checks after the
    update on the nodes that answered their wave (one that did not already failed, and would
    only be waited for again), and the ``done`` event."""
    if req.restart:
        _env_step(report, env, _pacemaker(client, session, env, env_nodes, report, req.test))
    answered = [n for n in env_nodes
                if (report.get(n["ip"]) or {}).get("result") not in UNANSWERED]
    if req.checks and not req.test and answered:
        step, _lost = _health(client, session, cfg, env, "after", answered, env_plans[env])
        _env_step(report, env, step)
    done = [report[n["ip"]] for n in env_nodes]
    code = mosmu_report.retcode(done, (), req.accept_partial)
    if report.env_failed(env):
        code = 2
    _bus(mosmu_events.event_tags(env)["done"],
         mosmu_events.event_data({"env": env}, jid=_jid(), kind="done",
                                 summary=mosmu_report.summary(done), retcode=code))


def _walk(client, cfg, env_plans, waves, req, report, signals, session=None):
    """Apply the waves in order; stop past ``max_failures``; interval between waves; end
    with :class:`_Interrupted` when ``signals`` (:class:`_Signals`) received one.

    Around each environment's waves: its health checks before the first (a failure skips
    the environment; a node that cannot be reached gets its own result and leaves the run),
    the Ceph steps around each wave (``mosmu_ceph``; a failure stops the environment), its
    Pacemaker restarts and its health checks after the last wave that ran (``mosmu_finish``;
    a failure makes the environment FAIL), also when the run stops inside it.
    """
    env_of = [wave[0]["cluster"] for wave in waves]
    first_wave, last_wave = {}, {}
    for number, env in enumerate(env_of):
        first_wave.setdefault(env, number)
        last_wave[env] = number
    blocked = set()
    for number, wave in enumerate(waves):
        signals.check()
        env = env_of[number]
        if first_wave[env] == number:
            env_nodes = [n for w, e in zip(waves, env_of) if e == env for n in w]
            _bus(mosmu_events.event_tags(env)["start"],
                 mosmu_events.event_data({"env": env, "nodes": [n["id"] for n in wave]},
                                         jid=_jid(), kind="start"))
            if req.checks:
                step, lost = _health(client, session, cfg, env, "before", env_nodes,
                                     env_plans[env])
                _env_step(report, env, step)
                report.update(lost)
                if lost and not req.test:
                    _remember(list(lost.values()), env_plans)
                for env_wave, wave_env in zip(waves, env_of):
                    if wave_env == env:
                        env_wave[:] = [n for n in env_wave if n["ip"] not in lost]
                if step["problems"]:
                    blocked.add(env)
                    report.update(mosmu_waves.skipped_entries(
                        [w for w, e in zip(waves, env_of) if e == env],
                        f"not started: the health checks before the update failed: "
                        f"{step['problems'][0]}; fix it (docs/runbook.md), or rerun with "
                        "checks=False"))
        if env in blocked:
            continue
        if wave:
            if number and req.interval:
                _progress(**mosmu_events.event_data({"env": env}, kind="wait",
                                                    seconds=req.interval, wave=number + 1,
                                                    waves=len(waves)))
                signals.sleep(req.interval)
            run = functools.partial(_run_one_wave, client, cfg, env_plans, waves, number, req,
                                    report, signals, session)
            if not req.restart:
                run()
            elif _ceph_wave(_ceph_cluster(client, session, signals), env_plans[env], env,
                            waves, env_of, number, req, report, run):
                # the environment's later waves do not start; its end steps still run
                later = [(w, e) for w, e in zip(waves[number + 1:], env_of[number + 1:])
                         if e == env]
                report.update(mosmu_waves.skipped_entries(
                    [w for w, _e in later if w], "not started: a Ceph step of this "
                    "environment failed (see its steps); fix it, then rerun with "
                    "retry_failed=True"))
                for env_wave, _e in later:
                    env_wave[:] = []
        if last_wave[env] == number:
            _end_env(client, session, cfg, env,
                     [n for w, e in zip(waves, env_of) if e == env for n in w], env_plans,
                     req, report)
        failures = mosmu_report.failures(mosmu_report.entries_of(report), req.accept_partial) \
            + report.env_failures()
        if number + 1 < len(waves) and mosmu_waves.should_stop(failures, req.max_failures):
            rest = [w for w, e in zip(waves[number + 1:], env_of[number + 1:])
                    if e not in blocked]
            report.update(mosmu_waves.skipped_entries(
                rest, f"not started: {failures} node(s) or environment(s) failed, more than "
                      f"max_failures={req.max_failures}; fix them, then rerun with "
                      "retry_failed=True"))
            if last_wave[env] != number and env not in blocked:
                # stopped inside an environment: finish what its waves touched
                _end_env(client, session, cfg, env,
                         [n for w, e in zip(waves[:number + 1], env_of[:number + 1])
                          if e == env for n in w], env_plans, req, report)
            _progress(f"stopping: {failures} failure(s) (max_failures={req.max_failures});"
                      f" {sum(len(w) for w in rest)} node(s) not started")
            return


def _ceph_wave(cluster, env_plan, env, waves, env_of, number, req, report, run):
    """Run wave ``number`` with the Ceph steps around it (``mosmu_ceph``): its OSD nodes
    under the OSD flags, PGs clean afterwards, restarted monitors back in the quorum.

    :return: True when a Ceph step failed: the environment's later waves must not start
    """
    wave = waves[number]
    env_nodes = [n for w, e in zip(waves, env_of) if e == env for n in w]
    osd = mosmu_ceph.OsdWave(cluster, env_plan.finish, env_nodes, wave, req.test) \
        if mosmu_ceph.osd_nodes(wave) else None
    if osd:
        step, go = osd.before()
        _env_step(report, env, step)
        if not go:
            report.update(mosmu_waves.skipped_entries(
                [wave], f"not started: {step['problems'][0]}"))
            return True
    stop = False
    try:
        run()
        if osd:
            step, stop = osd.after()            # waits: Ctrl-C may come here too
            _env_step(report, env, step)
    except _Interrupted:
        if osd:
            _env_step(report, env, osd.interrupted())
        raise
    if not stop:
        steps, stop = mosmu_ceph.monitor_steps(cluster, env_plan.finish, wave, report,
                                               req.test)
        for step in steps:
            _env_step(report, env, step)
    return stop


def _run_one_wave(client, cfg, env_plans, waves, number, req, report, signals, session):
    """Wave ``number``: run it, keep its entries, remember them, tell the bus."""
    wave = waves[number]
    env = wave[0]["cluster"]
    _progress(**mosmu_events.event_data({"env": env}, kind="wave", wave=number + 1,
                                        waves=len(waves), nodes=[n["id"] for n in wave]))
    try:
        rets, entries, seconds = _run_wave(client, wave, env_plans[env].plan, req.test, cfg,
                                           session, _restart_rules(env_plans[env], req),
                                           signals.check)
    except _Interrupted:
        for node in wave:
            report[node["ip"]] = mosmu_report.entry(
                node, "TIMEOUT", comment="the run was interrupted while this node was "
                "updating; the state may still be running: check salt-run mosmu.status")
        raise
    report.update(entries)
    report.update(_lost_returns(client, wave, rets))
    report.waves.append(
        {"env": env, "wave": number + 1, "nodes": [n["id"] for n in wave],
         "seconds": round(seconds, 1)})
    _progress(f"env {env} wave {number + 1}/{len(waves)} done in {seconds:.1f} s")
    if not req.test:
        _remember([report[n["ip"]] for n in wave], env_plans)
    for node in wave:
        entry = report[node["ip"]]
        _bus(mosmu_events.event_tags(env, node["id"], entry["result"])["node"],
             mosmu_events.event_data(entry, jid=_jid(), kind="node"))


def _remember(entries, env_plans):
    """The master's record of each node's result (``mosmu_ledger``), for ``mosmu.status``
    and ``retry_failed``. Real runs only. A record that cannot be written costs those two
    their check against the node's file, not the run: it is said as a progress line."""
    cachedir = __opts__["cachedir"]
    for entry in entries:
        env_plan = env_plans.get(entry.get("env"))
        plan = env_plan.plan if env_plan else None
        try:
            mosmu_ledger.write(cachedir, entry, _jid(), plan)
        except OSError as err:
            _progress(f"could not record node-{entry['id']}'s result under "
                      f"{mosmu_ledger.directory(cachedir)}: {err.strerror or err}; free or fix "
                      "that directory (mosmu.status and retry_failed then read only the "
                      "node's own status file)")
            return


def _finish(report, sel, mirror=None, test=False, empty_ok=False, accept_partial=False):
    """The runner's return: the report (:class:`mosmu_run.Report`) with its summary, the
    selection's skipped nodes and retcode; ``empty_ok``: no node left to act
    on is success (``retry_failed`` when every selected node's last run was OK);
    ``accept_partial``: PARTIAL nodes do not fail the run."""
    failed_skips = sel.failed_skips()
    entries = mosmu_report.entries_of(report)
    code = mosmu_report.retcode(entries, failed_skips, accept_partial)
    if report.env_failures():       # a failed health check, Ceph or Pacemaker step
        code = 2
    if empty_ok and not entries and not failed_skips:
        code = 0
    out = _rendered(report.to_return(skipped=sel.skipped, summary=mosmu_report.summary(entries),
                                     retcode=_retcode(code)))
    if mirror:
        out["mirror"] = mirror
    if test:
        out["test"] = True
    return out


def _apply(client, cfg, sel, req, report, reachable, session):
    """retry_failed filter, run locks, module sync (minions), waves. True when
    ``retry_failed`` left nothing to do."""
    if req.retry_failed:
        with _phase(f"retry_failed: reading the status of {len(reachable)} node(s) (up to "
                    f"{STATUS_TIMEOUT} s for one that does not answer)"):
            reachable, done_ok = _retry_filter(client, reachable, sel.env_plans, session)
        sel.skipped.extend(done_ok)
        _progress(f"retry_failed: {len(reachable)} node(s) not OK, {len(done_ok)} skipped")
        if not reachable and not report:
            _progress("retry_failed: every selected node's last run is OK; nothing to do")
            return True
    lock_dir = os.path.join(__opts__["cachedir"], "mosmu", "locks")
    # a dry run changes nothing on the master either: no lock taken, none cleared
    locks = contextlib.nullcontext({"stale": []}) if req.test else \
        mosmu_lock.locked(lock_dir, [n["id"] for n in reachable], _jid())
    with locks as taken:
        for stale in taken["stale"]:
            _progress(f"cleared a stale lock of job {stale.get('jid')} (process "
                      f"{stale.get('pid')} is gone)")
        minion_nodes = [n for n in reachable if n["transport"] == "minion"]
        with _phase(f"asking {len(minion_nodes)} minion(s) which mosmu code they run (up to "
                    f"{LIVENESS} s for one that does not answer)"):
            alive = {n["ip"] for n in _ready_minions(client, minion_nodes, report)}
        alive |= {n["ip"] for n in reachable if n["transport"] == "ssh"}
        waves = mosmu_waves.plan_waves([n for n in reachable if n["ip"] in alive], req.batch,
                                       cfg["serial_roles"], cfg["serial_order"])
        try:
            with _Signals() as signals:
                _walk(client, cfg, sel.env_plans, waves, req, report, signals, session)
        except _Interrupted as err:
            rest = [n for w in waves for n in w if n["ip"] not in report]
            report.update(mosmu_waves.skipped_entries(
                [rest] if rest else [], f"not started: the run was interrupted ({err})"))
            report.interrupted = str(err)
            _progress(f"interrupted ({err}): reporting what finished")
    return False


@_boundary
@_arguments
def update(**kwargs):
    """
    Update the selected nodes: sync the mirror, then ``state.apply mosmu`` in waves.

    Nodes with a minion get ``state.apply mosmu``; nodes without one the same node run over
    ssh from the master (``mosmu:ssh``), in the same waves.

    Returns one entry per selected node keyed by its admin IP (``result`` OK / PARTIAL /
    FAIL / NO_MINION / TIMEOUT / UNREACHABLE / SKIPPED, ``transport``, ``changes``
    ``{package: {old, new}}``, ``comment``, ``duration``, ``reboot_required``), the
    ``skipped`` nodes with their reason, a ``summary`` and ``retcode`` (0 only when every
    selected node ended OK). OK means verified: every package the node's simulation offered
    is installed at its offered version afterwards; a node where some are not is PARTIAL.
    The default output is a table; ``--out=json`` prints the whole report as one JSON
    document.

    Arguments (rows of ``mosmu_request.ARGS``):

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.update env=11
        salt-run mosmu.update env=11 test=True
        salt-run mosmu.update all_envs=True roles=compute batch=25% interval=60
        salt-run mosmu.update env=11 retry_failed=True
    """
    req = mosmu_request.parse(kwargs, mosmu_request.UPDATE)
    cfg = _config(req.master_ip)
    sel = _select(cfg, req)
    if not sel.selected and not sel.skipped:
        raise ConfigError("Nailgun lists no nodes at all; check mosmu:fuel_url")
    if not sel.selected and sel.failed_skips():
        raise ConfigError(sel.failed_skips()[0]["reason"])
    if not sel.selected:
        raise ConfigError(f"no node of environment(s) {list(sel.envs) or 'none'} matches the "
                          "selection; see why each node is skipped: "
                          f"{mosmu_request.nodes_command(req)}")
    _progress(f"job {_jid()}: {len(sel.selected)} node(s) selected in environment(s) "
              f"{', '.join(map(str, sel.envs))}; {len(sel.skipped)} skipped")
    for env_id, env_plan in sorted(sel.env_plans.items()):
        if env_plan.dropped:
            _progress(f"env {env_id}: MOS {env_plan.plan.mos_version} on "
                      f"{env_plan.plan.distro} has no {', '.join(env_plan.dropped)} repo")
    mirror = {}
    if req.test:
        _progress("test mode: the mirror is not synced; nodes compare against what it "
                  "publishes now (salt-run mosmu.sync first to see upstream's newest)")
    elif req.sync:
        mirror = _sync_trees(cfg, sel.trees())
    with _phase("checking the published mirror (its indices and every file they name)"):
        sel = dataclasses.replace(sel, env_plans=_pin_snapshots(cfg, sel, mirror))

    report = mosmu_run.Report()
    for node in (n for n in sel.selected if not n["transport"]):
        report[node["ip"]] = _unmapped(node, cfg["match"])
    reachable = [n for n in sel.selected if n["transport"]]
    with _Keeping(report):
        session = _ssh_session(cfg, reachable, req.test)
        try:
            with _Client() as client:
                nothing_to_do = _apply(client, cfg, sel, req, report, reachable, session)
        finally:
            if session is not None:
                session.close()
        if not req.test:
            _remember([e for e in mosmu_report.entries_of(report)
                       if e["result"] in ("NO_MINION", "SKIPPED", "TIMEOUT")], sel.env_plans)
    return _finish(report, sel, mirror, req.test, empty_ok=nothing_to_do,
                   accept_partial=req.accept_partial)


@_boundary
@_arguments
def status(**kwargs):
    """
    Each selected node's last MU result, read from its status file (the old ``--check``).

    Collected from every node in one publish. Entries are keyed by node IP with ``result``
    (the node's ``state``: OK, PARTIAL, FAIL, STARTED, NONE, UNKNOWN; or NO_MINION /
    TIMEOUT), ``line`` and ``record``; ``retcode`` is 0 only when all are OK. When this
    master's last run on a node did not end OK and the node's record is not that run's (it
    could not write it, or was never reached), that run's result is shown instead.

    Arguments (rows of ``mosmu_request.ARGS``):

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.status env=11
    """
    req = mosmu_request.parse(kwargs, mosmu_request.STATUS)
    cfg = _config(req.master_ip)
    sel = _select(cfg, req)
    report = mosmu_run.Report()
    for node in (n for n in sel.selected if not n["transport"]):
        report[node["ip"]] = _unmapped(node, cfg["match"])
    reachable = [n for n in sel.selected if n["transport"]]
    session = _ssh_session(cfg, reachable, test=True)   # reading changes nothing
    try:
        with _Client() as client, \
                _phase(f"reading the status of {len(reachable)} node(s) (up to "
                       f"{STATUS_TIMEOUT} s for one that does not answer)"):
            rets = _collect_status(client, reachable, session)
    finally:
        if session is not None:
            session.close()
    ledger = mosmu_ledger.read_many(__opts__["cachedir"], [n["id"] for n in reachable])
    for node in reachable:
        report[node["ip"]] = _status_entry(node, rets.get(node["ip"]), ledger[node["id"]])
    return _finish(report, sel)


def _tree_of(cfg, mos_version, distro):
    if mos_version is None:
        raise ConfigError("give mos_version=X.Y (and distro=centos for CentOS trees)")
    try:
        return cfg["catalog"].get(mosmu_validate.word(distro, "distro"),
                                  mosmu_validate.mos_version(mos_version))
    except ValueError as err:
        raise ConfigError(f"{err}; fix the argument") from err


@_boundary
@_arguments
def sync(**kwargs):
    """
    Sync the mirror only: the MU repos of a catalog tree, or of the chosen environments.

    Each tree is synced into a new snapshot, verified, then published by one atomic symlink
    swap; the previous ``mosmu:keep_snapshots`` snapshots stay for rollback.

    Arguments (rows of ``mosmu_request.ARGS``):

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.sync mos_version=8.0 repos=updates,security
        salt-run mosmu.sync mos_version=6.1 distro=centos
        salt-run mosmu.sync env=11
        salt-run mosmu.sync rollback=True mos_version=8.0
        salt-run mosmu.sync mos_version=8.0 verify=True
    """
    req = mosmu_request.parse(kwargs, mosmu_request.SYNC, require_env=False)
    rollback, test, distro, verify = req.rollback, req.test, req.distro, req.verify
    cfg = _config()
    if rollback:
        tree = _tree_of(cfg, req.mos_version, distro)
        done = mosmu_snapshots.rollback(cfg["mirror_root"], tree,
                                        staging_dir=cfg["mirror_staging"], test=test)
        state = "would roll back" if test else "rolled back"
        return {"mirror": {tree.name: dict(done, state=state)}, "retcode": _retcode(0)}
    if not req.envs and not req.all_envs:
        tree = _tree_of(cfg, req.mos_version, distro)
        plan = mosmu_plan.Plan.build(tree, cfg["repo_url"], list(req.repos))
        trees = {tree.name: (tree, list(plan.repo_names))}
    else:
        trees = _select(cfg, req).trees()
    return {"mirror": _sync_trees(cfg, trees, test=test, verify=verify), "retcode": _retcode(0)}


@_boundary
@_arguments
def snapshots(**kwargs):
    """
    The mirror snapshots of a catalog tree: time, which is published, and what changed.

    Arguments (rows of ``mosmu_request.ARGS``):

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.snapshots mos_version=8.0
    """
    req = mosmu_request.parse(kwargs, mosmu_request.SNAPSHOTS, require_env=False)
    cfg = _config()
    tree = _tree_of(cfg, req.mos_version, req.distro)
    return {"tree": tree.name, "snapshots": mosmu_mirror.snapshots(cfg["mirror_root"], tree),
            "retcode": _retcode(0)}
