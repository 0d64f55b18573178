"""Ceph around the waves: OSD nodes one at a time under ``noout``, monitors back in quorum.

What Mirantis' MU playbooks (``mos_mu``: ``update_ceph.yml``, ``tasks/restart_ceph.yml``) do
when they restart Ceph, per environment:

* a controller's monitor restarts with the controller's other services (``mosmu_finish``:
  ``ceph-mon-all``, CentOS ``ceph``); controllers go one at a time, and before the next wave
  the restarted monitor must be back in the quorum (``ceph quorum_status`` on that node);
* a ``ceph-osd`` node (alone in its wave: ``ceph-osd`` is a serial role) is updated with the
  OSD flags ``noout``, ``noscrub``, ``nodeep-scrub`` set, so that restarting its OSDs moves
  no data; after its wave every PG must be ``active+clean`` (``ceph pg stat``) before the
  flags are unset and the next node starts.

The cluster-wide commands run on the environment's Ceph admin node: its first controller in
the run (Fuel gives controllers the admin keyring), else the OSD node itself. A step that
fails stops the environment (its later waves are not started): a monitor out of the quorum
or PGs that do not become clean make the next restart unsafe. Flags are then left set on
purpose (unsetting them while an OSD is down starts a rebalance) and the step says how to
unset them. In test mode nothing is set or waited for; the steps say what would be done.

Salt-free: the runner passes a :class:`Cluster`, how to reach a node.
"""

import dataclasses
import time

import mosmu_finish

POLL = 5                    # seconds between two reads of a state being waited for
_UNSET = "; ".join(f"ceph osd unset {f}" for f in mosmu_finish.CEPH_FLAGS)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """How the Ceph steps reach the nodes (the runner's transports).

    ``ask(node, check)``: run one read-only ``mosmu_finish.Check`` on the node, return
    ``(raw, None)`` (``mosmu_noderun.run_checks``' entry for it) or ``(None, why)``;
    ``call(node, action, flags)``: ``mosmu_noderun.ceph_osd_flags`` on the node, return
    ``(results, None)`` or ``(None, why)``; ``sleep(seconds)``: wait (interruptible);
    ``clock()``: monotonic seconds.
    """

    ask: object
    call: object
    sleep: object
    clock: object = time.monotonic


def name(node):
    """``node-7`` (Nailgun's host name of the node)."""
    return f"node-{node['id']}"


def monitor(node):
    """The node's Ceph monitor name: its short host name, as Fuel deploys monitors."""
    fqdn = node.get("fqdn") or ""
    return fqdn.split(".")[0] if fqdn else name(node)


def _has(node, role):
    return role in (node.get("roles") or ())


def osd_nodes(wave):
    """The ``ceph-osd`` nodes of a wave."""
    return [n for n in wave if _has(n, "ceph-osd")]


def admin_node(env_nodes, osds):
    """Where the cluster-wide commands run: the environment's first controller in the run,
    else the first OSD node of the wave."""
    return next((n for n in env_nodes if _has(n, "controller")), osds[0] if osds else None)


def _step(title, result, summary, problems=()):
    return {"name": title, "result": result, "summary": summary, "problems": list(problems)}


def wait_for(cluster, node, check, problem_of, seconds):
    """Read ``check`` on ``node`` until ``problem_of(raw)`` is None or ``seconds`` passed.

    :return: ``(problem, elapsed)``: None when the state was reached
    """
    start = cluster.clock()
    while True:
        raw, lost = cluster.ask(node, check)
        problem = f"{name(node)} could not be asked: {lost}" if lost else problem_of(raw)
        elapsed = cluster.clock() - start
        if problem is None or elapsed >= seconds:
            return problem, elapsed
        cluster.sleep(min(POLL, seconds - elapsed))


def _pgs_problem(raw):
    result, problems = mosmu_finish.evaluate(mosmu_finish.CEPH_PGS, raw)
    return None if result == "passed" else problems[0]


def set_flags(cluster, admin, action):
    """``ceph osd <action>`` of each OSD flag on the admin node; the problems (none: done)."""
    done, why = cluster.call(admin, action, list(mosmu_finish.CEPH_FLAGS))
    if why:
        return [f"ceph osd {action} on {name(admin)}: {why}"]
    return [f"{name(admin)}: {d.get('detail')}" for d in done if not d.get("ok")]


class OsdWave:
    """The Ceph steps around one wave that holds ``ceph-osd`` nodes.

    ``before()`` sets the flags (False: they could not be set, do not run the wave);
    ``interrupted()`` is the step of a run stopped during the wave; ``after()`` waits for
    clean PGs and unsets the flags. Each returns the step for the environment's report.
    """

    def __init__(self, cluster, finish, env_nodes, wave, test):
        self.cluster, self.finish, self.test = cluster, finish, test
        self.osds = osd_nodes(wave)
        self.admin = admin_node(env_nodes, self.osds)
        self.title = f"Ceph OSDs of {', '.join(name(n) for n in self.osds)}"
        self.flags = ", ".join(mosmu_finish.CEPH_FLAGS)

    def before(self):
        """:return: ``(step, go)``: ``go`` False when the wave must not run"""
        if self.test:
            return _step(self.title, "would", f"would set {self.flags} on "
                         f"{name(self.admin)}, update the node(s), wait up to "
                         f"{self.finish.ceph_wait} s until every PG is active+clean, then "
                         "unset them"), True
        problems = set_flags(self.cluster, self.admin, "set")
        if problems:
            return _step(self.title, "FAILED", f"setting {self.flags} on {name(self.admin)} "
                         "failed: the node(s) were not updated",
                         [*problems, f"fix the ceph CLI on {name(self.admin)}, then {_UNSET} "
                                     "(a flag that was set stays set), and rerun"]), False
        return None, True

    def interrupted(self):
        if self.test:
            return None
        return _step(self.title, "FAILED", f"{self.flags} left set on {name(self.admin)}",
                     [f"the run was interrupted during the update of the node(s) or the "
                      f"wait for clean PGs; once "
                      f"ceph pg stat shows every PG active+clean: {_UNSET}"])

    def after(self):
        """:return: ``(step, stop)``: ``stop`` True when the environment must stop here"""
        if self.test:
            return None, False
        problem, seconds = wait_for(self.cluster, self.admin, mosmu_finish.CEPH_PGS,
                                    _pgs_problem, self.finish.ceph_wait)
        if problem:
            return _step(self.title, "FAILED", f"{self.flags} left set on {name(self.admin)} "
                         "(no rebalancing while OSDs are down)",
                         [f"the PGs were not active+clean {seconds:.0f} s after the update: "
                          f"{problem}; bring the OSDs back (ceph osd tree), wait until ceph "
                          f"pg stat shows every PG active+clean, then {_UNSET}, and rerun "
                          "with retry_failed=True"]), True
        problems = set_flags(self.cluster, self.admin, "unset")
        if problems:
            return _step(self.title, "FAILED", "every PG active+clean, but unsetting the "
                         "flags failed", [*problems, f"unset them by hand: {_UNSET}"]), True
        return _step(self.title, "OK", f"{self.flags} set on {name(self.admin)} during the "
                     f"update; every PG active+clean after {seconds:.0f} s; flags unset"), False


def monitor_steps(cluster, finish, wave, entries, test):
    """After a wave: each controller whose update restarted its Ceph monitor must be back in
    the quorum (read on that node, up to ``finish.ceph_wait`` seconds).

    :param entries: ``{ip: report entry}`` of the wave's nodes
    :return: ``(steps, stop)``
    """
    service = finish.ceph_service("mon")
    steps, stop = [], False
    for node in wave:
        finish_data = (entries.get(node["ip"]) or {}).get("finish") or {}
        if not service or not _has(node, "controller") or not any(
                r.get("service") == service for r in finish_data.get("restarts") or ()):
            continue
        title = f"Ceph monitor of {name(node)}"
        mon = monitor(node)
        if test:
            steps.append(_step(title, "would", f"would wait up to {finish.ceph_wait} s "
                               f"until monitor {mon} is back in the quorum"))
            continue
        problem, seconds = wait_for(
            cluster, node, mosmu_finish.CEPH_QUORUM,
            lambda raw, mon=mon: mosmu_finish.quorum_problem(raw, mon), finish.ceph_wait)
        if problem:
            stop = True
            steps.append(_step(title, "FAILED", f"{service} restarted; not back in the quorum "
                               f"after {seconds:.0f} s",
                               [f"{problem}; bring it back (ceph -s, the monitor's log on "
                                f"{name(node)}) before another controller restarts, then rerun "
                                "with retry_failed=True"]))
        else:
            steps.append(_step(title, "OK", f"monitor {mon} back in the quorum after "
                               f"{seconds:.0f} s"))
    return steps, stop
