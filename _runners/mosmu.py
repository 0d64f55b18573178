"""mosmu runner: apply MOS maintenance updates to the nodes of Fuel environments.

Nailgun inventory -> node selection -> mirror sync -> ``state.apply mosmu`` on the nodes'
minions, in waves -> one report entry per node and a top-level ``retcode``.

Configuration comes from the master config only (``mosmu:`` section); credentials never go
through runner arguments, which Salt keeps in the job cache and on the event bus.
Errors end the run with ``{"error": "...", "retcode": 2}``: one line naming cause and fix.
"""

import dataclasses
import logging
import time

import mosmu_catalog
import mosmu_config
import mosmu_fuel
import mosmu_mirror
import mosmu_plan
import mosmu_select
import mosmu_validate
import salt.client
import salt.utils.sdb
from mosmu_errors import ConfigError, MosmuError

log = logging.getLogger(__name__)

__virtualname__ = "mosmu"
STATE_PREFIX = "mosmu_|-"


def __virtual__():
    return __virtualname__


# -- plumbing -------------------------------------------------------------------------------

def _fail(message):
    log.error("mosmu: %s", message)
    return {"error": message, "retcode": 2}


def _progress(message):
    log.info("mosmu: %s", message)
    if "__jid_event__" in globals():
        __jid_event__.fire_event({"message": message}, "progress")


def _config(master_ip=None):
    raw = __opts__.get("mosmu")
    if isinstance(raw, dict) and str(raw.get("password", "")).startswith("sdb://"):
        secret = salt.utils.sdb.sdb_get(raw["password"], __opts__)
        if not secret or secret == raw["password"]:
            raise ConfigError("mosmu:password points to an sdb:// URI that returned nothing; "
                              "check the sdb profile in the master config")
        raw = dict(raw, password=secret)
    cfg = mosmu_config.load(raw, master_ip=master_ip)
    try:
        cfg["catalog"] = mosmu_catalog.Catalog(cfg["catalog"], cfg["mirror_key"])
    except ValueError as err:
        raise ConfigError(f"{err}; fix mosmu:catalog in the master config") from err
    return cfg


def _flag(value, name):
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{name}={value!r} is not a boolean; give {name}=True or {name}=False")


def _count(value, name, minimum):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    return value


def _minion_index(match):
    """Map node keys (IP, fqdn or hostname) to minion ids from the master's grains cache."""
    index = {}
    for minion, grains in (__salt__["cache.grains"](tgt="*") or {}).items():
        grains = grains or {}
        if match == "ip":
            keys = grains.get("ipv4") or []
        elif match == "fqdn":
            keys = {minion, grains.get("fqdn")}
        else:
            keys = {minion.split(".")[0], grains.get("host")}
        for key in keys:
            if key:
                index.setdefault(key, set()).add(minion)
    return index


def _minion_of(node, index, match):
    """Minion ids matching a node: one is a mapping, none or several are reported."""
    key = {"ip": node["ip"], "fqdn": node.get("fqdn"), "hostname": node.get("hostname")}[match]
    return sorted(index.get(key, ()))


def _plan(cfg, env=None, all_envs=False, roles=None, nodes=None, offline=False,
          mos_version=None, repos=None):
    """Inventory, selection, per-env plans and minion mapping; no side effects."""
    offline = _flag(offline, "offline")
    all_envs = _flag(all_envs, "all_envs")
    try:  # arguments are checked before the first request
        mosmu_catalog.normalise_repos(mosmu_select.as_list(repos))
        if mos_version is not None:
            mos_version = mosmu_validate.mos_version(mos_version)
    except ValueError as err:
        raise ConfigError(f"{err}; fix the argument") from err
    client = mosmu_fuel.FuelClient(cfg["fuel_url"], cfg["username"], cfg["password"],
                                   cfg["tenant"], cfg["keystone_url"], cfg["verify_tls"],
                                   cfg["timeout"])
    inventory = client.inventory()
    chosen = mosmu_select.select(inventory, env=env, all_envs=all_envs, roles=roles,
                                 nodes=nodes, offline=offline)
    plans, selected, skipped = {}, [], list(chosen["skipped"])
    for env_id in chosen["envs"]:
        try:
            plan, dropped = mosmu_plan.env_plan(
                inventory, env_id, cfg["catalog"], cfg["repo_url"],
                mos_version or cfg["mos_version"], mosmu_select.as_list(repos),
                bool(cfg["trusted"]))
            plans[env_id] = {"plan": plan, "dropped": dropped}
        except ValueError as err:
            plans[env_id] = {"error": f"{err}; fix the argument or add a catalog row"}
    index = _minion_index(cfg["match"])
    for node in chosen["selected"]:
        plan = plans[node["cluster"]]
        if "error" in plan:
            skipped.append({"id": node["id"], "ip": node["ip"], "reason": plan["error"],
                            "failed": True})
            continue
        minions = _minion_of(node, index, cfg["match"])
        selected.append(dict(node, mos_version=plan["plan"].mos_version,
                             minion=minions[0] if len(minions) == 1 else None,
                             candidates=minions))
    return {"envs": chosen["envs"], "plans": plans, "selected": selected, "skipped": skipped}


def _entry(node, **fields):
    out = {"id": node["id"], "fqdn": node.get("fqdn"), "env": node["cluster"],
           "roles": node["roles"], "minion": node.get("minion")}
    out.update(fields)
    return out


def _unmapped(node, match):
    if node["candidates"]:
        return _entry(node, result="NO_MINION",
                      comment=f"several minions match {match} {node['ip']}: "
                              f"{', '.join(node['candidates'])}; fix their grains or use "
                              "mosmu:match fqdn")
    return _entry(node, result="NO_MINION",
                  comment=f"no minion matches {match} of node-{node['id']} ({node['ip']}); "
                          "is its salt-minion running and its key accepted (salt-key -L)?")


def _state_entry(node, ret, test):
    """Turn one minion's ``state.apply`` return into a report entry."""
    if ret is None:
        return _entry(node, result="TIMEOUT",
                      comment="the minion did not return; check it with "
                              f"salt {node['minion']} test.ping and rerun")
    data = ret.get("ret")
    if not isinstance(data, dict):
        text = "; ".join(data) if isinstance(data, list) else str(data)
        hint = " (run salt '*' saltutil.sync_all)" if "mosmu.updated" in text else ""
        return _entry(node, result="FAIL", comment=f"state did not run: {text}{hint}")
    ours = [v for k, v in data.items() if k.startswith(STATE_PREFIX)]
    failed = [v for v in data.values() if v.get("result") is False]
    changes = {}
    for state in ours:
        changes.update(state.get("changes") or {})
    comment = "; ".join(str(v.get("comment", "")) for v in (failed or ours))
    if failed or not ours:
        return _entry(node, result="FAIL", changes=changes,
                      comment=comment or "the mosmu state did not run")
    return _entry(node, result="OK", changes=changes, comment=comment,
                  **({"test": True} if test else {}))


def _summary(report):
    counts = {}
    for entry in report.values():
        counts[entry["result"]] = counts.get(entry["result"], 0) + 1
    return counts


# -- public functions -----------------------------------------------------------------------

def nodes(env=None, all_envs=False, roles=None, nodes=None, offline=False,  # pylint: disable=redefined-outer-name
          mos_version=None, repos=None, master_ip=None):
    """
    Preview: the nodes an update would touch, and why every other node would not.

    env
        Environment (cluster) id. Exactly one of ``env`` and ``all_envs``.
    all_envs
        Every operational environment (one with a ``ready`` node).
    roles
        Only nodes with any of these roles (``a,b`` or a list).
    nodes
        Only nodes with these admin IPs (``a,b`` or a list).
    offline
        Include nodes Nailgun reports offline.
    mos_version
        Override the MOS version derived from each environment's release.
    repos
        Repos besides ``updates``: ``security``, ``proposed``, ``holdback``.
    master_ip
        Master IP the nodes reach; default from config or ``/etc/fuel/astute.yaml``.

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.nodes env=11
        salt-run mosmu.nodes all_envs=True roles=compute
    """
    try:
        plan = _plan(_config(master_ip), env, all_envs, roles, nodes, offline, mos_version, repos)
    except MosmuError as err:
        return _fail(str(err))
    keep = ("id", "ip", "fqdn", "hostname", "cluster", "roles", "os_platform", "status",
            "online", "mos_version", "minion")
    return {"selected": [{k: n.get(k) for k in keep} for n in plan["selected"]],
            "skipped": plan["skipped"]}


def _trees(cfg, plans):
    """``{tree name: (tree, repos)}``: each catalog tree once, with every repo a plan needs."""
    wanted = {}
    for entry in plans.values():
        if "plan" in entry:
            plan = entry["plan"]
            tree = cfg["catalog"].get(plan.distro, plan.mos_version)
            repos = wanted.setdefault(tree.name, (tree, []))[1]
            repos += [r for r in plan.repo_names if r not in repos]
    return wanted


def _sync_plans(cfg, plans):
    """Sync each catalog tree once, whatever the number of environments using it."""
    results = {}
    for name, (tree, repos) in sorted(_trees(cfg, plans).items()):
        _progress(f"mirror: syncing {name} ({', '.join(repos)}) from {cfg['mirror_upstream']}")
        result = mosmu_mirror.sync_tree(cfg["mirror_upstream"], cfg["mirror_root"], tree, repos,
                                        timeout=int(cfg["timeout"]) * 4,
                                        keep=cfg["keep_snapshots"],
                                        staging_dir=cfg["mirror_staging"])
        _progress(f"mirror: {name} {result['state']}: " + ", ".join(
            f"{s} {state}" for s, state in sorted(result["suites"].items()))
            + f" ({result['files']} file(s) fetched, {result['seconds']} s)")
        results[name] = result
    return results


def _pin_snapshots(cfg, plans, mirror):
    """Pre-flight, then point every plan at the snapshot its tree has now.

    Nodes of this run read ``<repo_url>/.snapshots/<tree>/<id>``: a publish during the run
    cannot change what a later wave installs. A tree that lacks a suite the plan needs stops
    the run here, before any node is touched (also with ``sync=False`` and in test mode).
    """
    for name, (tree, repos) in sorted(_trees(cfg, plans).items()):
        lacking = mosmu_mirror.missing(cfg["mirror_root"], tree, repos)
        if lacking:
            raise ConfigError(
                f"the master's mirror lacks {', '.join(lacking)} of {name} under "
                f"{cfg['mirror_root']}; no node was touched. Run salt-run mosmu.sync "
                f"mos_version={tree.version} distro={tree.distro} repos={','.join(repos)} "
                "(or drop sync=False)")
        snapshot = (mirror.get(name) or {}).get("snapshot_path") or \
            mosmu_mirror.current_snapshot(cfg["mirror_root"], tree)
        for entry in plans.values():
            plan = entry.get("plan")
            if plan and cfg["catalog"].get(plan.distro, plan.mos_version) == tree:
                entry["plan"] = dataclasses.replace(plan, path=snapshot)



def update(env=None, all_envs=False, roles=None, nodes=None, offline=False, repos=None,  # pylint: disable=redefined-outer-name
           mos_version=None, master_ip=None, sync=True, batch=None, interval=0, test=False):
    """
    Update the selected nodes: sync the mirror, then ``state.apply mosmu`` in waves.

    Returns one entry per selected node keyed by its IP (``result`` OK / FAIL / NO_MINION /
    TIMEOUT, ``changes`` ``{package: {old, new}}``, ``comment``), the ``skipped`` nodes with
    their reason, a ``summary`` and ``retcode`` (0 only when every selected node ended OK).

    env
        Environment (cluster) id. Exactly one of ``env`` and ``all_envs``.
    all_envs
        Every operational environment.
    roles
        Only nodes with any of these roles.
    nodes
        Only nodes with these admin IPs.
    offline
        Include nodes Nailgun reports offline.
    repos
        Repos besides ``updates``: ``security``, ``proposed``, ``holdback``.
    mos_version
        Override the MOS version derived from each environment's release.
    master_ip
        Master IP the nodes reach; default from config or ``/etc/fuel/astute.yaml``.
    sync
        Sync the mirror first (default True). Never in test mode.
    batch
        Nodes per wave (default: all selected nodes of an environment at once).
    interval
        Seconds to wait between waves (the old ``--interval``).
    test
        Dry run: each node reports the packages it would upgrade; nothing changes.

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.update env=11
        salt-run mosmu.update env=11 test=True
        salt-run mosmu.update all_envs=True roles=compute batch=5 interval=60
    """
    try:
        sync, test = _flag(sync, "sync"), _flag(test, "test")
        batch = _count(batch, "batch", 1)
        interval = _count(interval, "interval", 0) or 0
        cfg = _config(master_ip)
        plan = _plan(cfg, env, all_envs, roles, nodes, offline, mos_version, repos)
        if not plan["selected"] and not plan["skipped"]:
            raise ConfigError("Nailgun lists no nodes at all; check mosmu:fuel_url")
        plan_errors = [s["reason"] for s in plan["skipped"] if s.get("failed")]
        if not plan["selected"] and plan_errors:
            raise ConfigError(plan_errors[0])
        if not plan["selected"]:
            raise ConfigError(f"no node of environment(s) {plan['envs'] or 'none'} matches the "
                              "selection; see salt-run mosmu.nodes with the same arguments")
        _progress(f"selected {len(plan['selected'])} node(s) in environment(s) "
                  f"{', '.join(map(str, plan['envs']))}; {len(plan['skipped'])} skipped")
        if test:
            _progress("test mode: the mirror is not synced; nodes compare against what it "
                      "publishes now (salt-run mosmu.sync first to see upstream's newest)")
        mirror = _sync_plans(cfg, plan["plans"]) if sync and not test else {}
        _pin_snapshots(cfg, plan["plans"], mirror)
    except MosmuError as err:
        return _fail(str(err))

    report = {}
    with salt.client.get_local_client(mopts=__opts__) as client:
        for env_id in plan["envs"]:
            group = [n for n in plan["selected"] if n["cluster"] == env_id]
            for node in (n for n in group if not n["minion"]):
                report[node["ip"]] = _unmapped(node, cfg["match"])
            mapped = [n for n in group if n["minion"]]
            size = batch or len(mapped) or 1
            waves = [mapped[i:i + size] for i in range(0, len(mapped), size)]
            pillar = {"mosmu": plan["plans"][env_id]["plan"].to_pillar()}
            for number, wave in enumerate(waves, 1):
                if number > 1 and interval:
                    _progress(f"waiting {interval} s before wave {number}")
                    time.sleep(interval)
                rets = client.cmd([n["minion"] for n in wave], "state.apply", ["mosmu"],
                                  tgt_type="list", timeout=cfg["apply_timeout"],
                                  full_return=True, kwarg={"pillar": pillar, "test": test})
                for node in wave:
                    report[node["ip"]] = _state_entry(node, rets.get(node["minion"]), test)
                _progress(f"env {env_id} wave {number}/{len(waves)}: " + ", ".join(
                    f"{n['minion']} {report[n['ip']]['result']}" for n in wave))
    summary = _summary(report)
    failed_skips = [s for s in plan["skipped"] if s.get("failed")]
    ok = summary.get("OK", 0) == len(report) and not failed_skips
    report.update(skipped=plan["skipped"], summary=summary, retcode=0 if ok else 2)
    if mirror:
        report["mirror"] = mirror
    return report


def status(env=None, all_envs=False, roles=None, nodes=None, offline=False,  # pylint: disable=redefined-outer-name
           master_ip=None):
    """
    Each selected node's last MU result, read from its status file (the old ``--check``).

    Entries are keyed by node IP with ``result`` (the node's ``state``: OK, FAIL, STARTED,
    NONE; or NO_MINION / TIMEOUT) and ``line``; ``retcode`` is 0 only when all are OK.

    env
        Environment (cluster) id. Exactly one of ``env`` and ``all_envs``.
    all_envs
        Every operational environment.
    roles
        Only nodes with any of these roles.
    nodes
        Only nodes with these admin IPs.
    offline
        Include nodes Nailgun reports offline.
    master_ip
        Master IP; only needed when neither config nor astute.yaml gives it.

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.status env=11
    """
    try:
        cfg = _config(master_ip)
        plan = _plan(cfg, env, all_envs, roles, nodes, offline)
    except MosmuError as err:
        return _fail(str(err))
    report = {}
    mapped = [n for n in plan["selected"] if n["minion"]]
    for node in (n for n in plan["selected"] if not n["minion"]):
        report[node["ip"]] = _unmapped(node, cfg["match"])
    if mapped:
        with salt.client.get_local_client(mopts=__opts__) as client:
            rets = client.cmd([n["minion"] for n in mapped], "mosmu.status", tgt_type="list",
                              timeout=int(cfg["timeout"]), full_return=True)
        for node in mapped:
            ret = rets.get(node["minion"])
            data = ret.get("ret") if ret else None
            if not isinstance(data, dict):
                report[node["ip"]] = _entry(node, result="TIMEOUT" if ret is None else "FAIL",
                                            comment=str(data) if ret else "no answer")
            else:
                report[node["ip"]] = _entry(node, result=data["state"], line=data["line"],
                                            record=data.get("record"))
    summary = _summary(report)
    report.update(summary=summary,
                  retcode=0 if report and summary.get("OK", 0) == len(report) else 2)
    return report


def _tree_of(cfg, mos_version, distro):
    if mos_version is None:
        raise ConfigError("give mos_version=X.Y (and distro=centos for CentOS trees)")
    try:
        return cfg["catalog"].get(mosmu_validate.word(distro, "distro"),
                                  mosmu_validate.mos_version(mos_version))
    except ValueError as err:
        raise ConfigError(f"{err}; fix the argument") from err


def sync(mos_version=None, distro="ubuntu", repos=None, env=None, all_envs=False,
         rollback=False, test=False):
    """
    Sync the mirror only: the MU repos of a catalog tree, or of the chosen environments.

    Each tree is synced into a new snapshot, verified, then published by one atomic symlink
    swap; the previous ``mosmu:keep_snapshots`` snapshots stay for rollback.

    mos_version
        MOS version to mirror, e.g. ``8.0`` or ``8.0-mu-3``; or give ``env`` / ``all_envs``.
    distro
        ``ubuntu`` (default) or ``centos``, with ``mos_version``.
    repos
        Repos besides ``updates``: ``security``, ``proposed``, ``holdback``.
    env
        Environment id whose tree to mirror.
    all_envs
        Every operational environment's tree.
    rollback
        Re-point the tree (``mos_version``/``distro``) at its previous snapshot instead.
    test
        Only report what would be transferred.

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.sync mos_version=8.0 repos=updates,security
        salt-run mosmu.sync mos_version=6.1 distro=centos
        salt-run mosmu.sync env=11
        salt-run mosmu.sync rollback=True mos_version=8.0
    """
    try:
        rollback, test = _flag(rollback, "rollback"), _flag(test, "test")
        cfg = _config()
        if rollback:
            tree = _tree_of(cfg, mos_version, distro)
            done = mosmu_mirror.rollback(cfg["mirror_root"], tree,
                                         staging_dir=cfg["mirror_staging"])
            return {"mirror": {tree.name: dict(done, state="rolled back")}, "retcode": 0}
        if env is None and not all_envs:
            tree = _tree_of(cfg, mos_version, distro)
            plans = {0: {"plan": mosmu_plan.Plan.build(tree, cfg["repo_url"],
                                                       mosmu_select.as_list(repos))}}
        else:
            plans = _plan(cfg, env, all_envs, mos_version=mos_version, repos=repos)["plans"]
        if test:
            return {"mirror": {name: mosmu_mirror.sync_tree(
                cfg["mirror_upstream"], cfg["mirror_root"], tree, repos_,
                timeout=int(cfg["timeout"]) * 4, staging_dir=cfg["mirror_staging"], test=True)
                for name, (tree, repos_) in sorted(_trees(cfg, plans).items())}, "retcode": 0}
        return {"mirror": _sync_plans(cfg, plans), "retcode": 0}
    except ValueError as err:
        return _fail(f"{err}; fix the argument")
    except MosmuError as err:
        return _fail(str(err))


def snapshots(mos_version=None, distro="ubuntu"):
    """
    The mirror snapshots of a catalog tree: time, which is published, and what changed.

    mos_version
        MOS version of the tree, e.g. ``8.0``.
    distro
        ``ubuntu`` (default) or ``centos``.

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.snapshots mos_version=8.0
    """
    try:
        cfg = _config()
        tree = _tree_of(cfg, mos_version, distro)
        return {"tree": tree.name, "snapshots": mosmu_mirror.snapshots(cfg["mirror_root"], tree),
                "retcode": 0}
    except MosmuError as err:
        return _fail(str(err))
