"""mosmu state: a node has the MOS maintenance updates of its plan.

.. code-block:: yaml

    mosmu-init-mosmu-updated:
      mosmu.updated:
        - name: mos-8.0
        - plan:
            mos_version: "8.0"
            repo_url: http://10.20.0.2:8080
            repos: [updates, security]

The plan is the runner's inline pillar ``mosmu:`` passed whole (``mosmu_plan.Plan``), or the
short highstate form shown above, completed from the built-in catalog.
"""

from salt.exceptions import CommandExecutionError, SaltInvocationError

import mosmu_noderun
import mosmu_plan

__virtualname__ = "mosmu"


def __virtual__():
    if "mosmu.upgrade" not in __salt__:
        return (False, "the mosmu execution module is not loaded (run saltutil.sync_all)")
    return __virtualname__


def updated(name, plan=None, root=None, **kwargs):  # pylint: disable=redefined-outer-name
    """
    Ensure the node runs the newest packages of its MOS maintenance-update repos.

    Writes the MU repo files into mosmu's own directory (``/etc/mosmu``: the package manager
    reads them only during a mosmu run), refreshes and upgrades from those repos only (apt
    with the plan's pins, or yum/dnf with ``--disablerepo='*' --enablerepo=mos-*``), and
    records the run in ``/var/log/mos_apply_mu.status``. ``changes`` lists upgraded packages
    as ``{name: {old, new}}``. Packages the operator holds are never upgraded. With the
    runner's restart rules (pillar ``mosmu_restart``), the node's services whose packages
    changed are restarted (``mosmu_finish`` in the return: restarts with old and new pids,
    held packages, local changes found). The state fails (``mosmu_result: PARTIAL`` in its
    return) when a package the MU offered is not at its offered version after the upgrade. In
    test mode nothing on the node changes and ``changes`` lists what would be upgraded.

    name
        A label for the run, e.g. ``mos-8.0``.
    plan
        The plan (pillar ``mosmu:``): ``mos_version`` and ``repo_url`` at least; ``repos``,
        ``distro`` (default from the ``os_family`` grain), ``trusted``; or the full form the
        runner sends.
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.
    """
    ret = {"name": name, "changes": {}, "result": False, "comment": ""}
    try:
        the_plan = __salt__["mosmu.plan"](plan, **kwargs)
        node_root = __salt__["mosmu.root"](root)
    except SaltInvocationError as err:
        ret["comment"] = str(err)
        return ret
    plan_obj = mosmu_plan.Plan.from_pillar(the_plan)
    # the runner's restart rules for this node (its roles' services, the env's resources)
    restart = (__pillar__.get("mosmu_restart") or {}).get(__opts__["id"])

    if __opts__["test"]:
        try:
            seen = __salt__["mosmu.preview"](the_plan, node_root, restart=restart)
        except CommandExecutionError as err:
            ret["comment"] = getattr(err, "error", None) or str(err)
            return ret
        todo = seen.pop("todo")
        ret["changes"] = todo
        ret["result"] = None if todo else True
        ret["comment"] = mosmu_noderun.pending_comment(plan_obj, todo, seen)
        ret["mosmu_finish"] = seen
        return ret

    try:
        done = __salt__["mosmu.upgrade"](the_plan, node_root,
                                         run_id=__pillar__.get("mosmu_run"), restart=restart)
    except CommandExecutionError as err:
        info = getattr(err, "info", None) or {}
        ret["changes"] = info.get("changes", {})
        ret["mosmu_finish"] = mosmu_noderun.finish_of(info)
        recorded = "; status UPDATE=FAIL" if info.get("recorded", True) else ""
        ret["comment"] = f"{getattr(err, 'error', err)}{recorded}"
        return ret
    ret["changes"] = done["changes"]
    ret["comment"] = mosmu_noderun.done_comment(plan_obj, done)
    ret["mosmu_finish"] = mosmu_noderun.finish_of(done)
    # an upgrade that left offered packages behind is not a success: the runner reads
    # ``mosmu_result`` to report it PARTIAL rather than FAIL
    ret["result"] = not done.get("short")
    if done.get("short"):
        ret["mosmu_result"] = "PARTIAL"
    return ret
