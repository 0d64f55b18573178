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

__virtualname__ = "mosmu"


def __virtual__():
    if "mosmu.upgrade" not in __salt__:
        return (False, "the mosmu execution module is not loaded (run saltutil.sync_all)")
    return __virtualname__


def _describe(changes):
    items = [f"{name} {v['old'] or '(new)'} -> {v['new'] or '(removed)'}"
             for name, v in sorted(changes.items())]
    return ", ".join(items[:10]) + (f" and {len(items) - 10} more" if len(items) > 10 else "")


def updated(name, plan=None, root=None, **kwargs):  # pylint: disable=redefined-outer-name
    """
    Ensure the node runs the newest packages of its MOS maintenance-update repos.

    Writes the MU repo files into mosmu's own directory (``/etc/mosmu``: the package manager
    reads them only during a mosmu run), refreshes and upgrades from those repos only (apt
    with the plan's pins, or yum/dnf with ``--disablerepo='*' --enablerepo=mos-*``), and
    records the run in ``/var/log/mos_apply_mu.status``. ``changes`` lists upgraded packages
    as ``{name: {old, new}}``. In test mode nothing on the node changes and ``changes`` lists
    what would be upgraded.

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
    label = f"MOS {the_plan['mos_version']} ({the_plan['distro']})"

    if __opts__["test"]:
        try:
            todo = __salt__["mosmu.pending"](the_plan, node_root)
        except CommandExecutionError as err:
            ret["comment"] = getattr(err, "error", None) or str(err)
            return ret
        ret["changes"] = todo
        ret["result"] = None if todo else True
        ret["comment"] = (f"would upgrade {len(todo)} package(s): {_describe(todo)}" if todo
                          else f"{label} MU packages are up to date")
        return ret

    try:
        done = __salt__["mosmu.upgrade"](the_plan, node_root)
    except CommandExecutionError as err:
        info = getattr(err, "info", None) or {}
        ret["changes"] = info.get("changes", {})
        ret["comment"] = f"{getattr(err, 'error', err)}; status UPDATE=FAIL"
        return ret
    ret["result"] = True
    ret["changes"] = done["changes"]
    notes = []
    if done["recovered"]:
        notes.append(f"recovered first: {'; '.join(done['recovered'])}")
    if done["kept_back"]:
        notes.append(f"kept back: {', '.join(done['kept_back'])}")
    ret["comment"] = "; ".join(
        [f"upgraded {len(done['changes'])} package(s): {_describe(done['changes'])}"
         if done["changes"] else f"{label} MU packages are up to date", *notes])
    return ret
