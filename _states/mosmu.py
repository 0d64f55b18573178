"""mosmu state: a node has the MOS maintenance updates of its plan.

.. code-block:: yaml

    mosmu-init-mosmu-updated:
      mosmu.updated:
        - name: mos-8.0
        - mos_version: "8.0"
        - repo_url: http://10.20.0.2:8080
        - repos: [updates, security]
"""

import os

import mosmu_apt
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


def updated(name, mos_version=None, repo_url=None, repos=None, distro="ubuntu", trusted=False,
            root=None):
    """
    Ensure the node runs the newest packages of its MOS maintenance-update repos.

    Writes the MU apt list to ``/etc/mosmu/sources.list.d/mosmu.list`` (apt reads it only
    when mosmu runs), refreshes and upgrades from those sources only, and records the run in
    ``/var/log/mos_apply_mu.status``. ``changes`` lists upgraded packages as
    ``{name: {old, new}}``. In test mode nothing on the node changes and ``changes`` lists
    what would be upgraded.

    name
        A label for the run, e.g. ``mos-8.0``.
    mos_version
        MOS version of the node's environment, e.g. ``8.0``.
    repo_url
        Base URL of the master's web root serving the mirror, e.g. ``http://10.20.0.2:8080``.
    repos
        Repos besides ``updates``: ``security``, ``proposed``, ``holdback``.
    distro
        ``ubuntu`` (CentOS support comes later).
    trusted
        Mark the sources ``[trusted=yes]``; only for an unsigned mirror.
    root
        Node root; default from minion config ``mosmu:root`` or ``/``.
    """
    ret = {"name": name, "changes": {}, "result": False, "comment": ""}
    if not mos_version or not repo_url:
        ret["comment"] = ("mos_version and repo_url are required: the runner passes them as "
                          "pillar mosmu:mos_version / mosmu:repo_url; for highstate set them in "
                          "pillar (see pillar.example)")
        return ret
    if distro != "ubuntu":
        ret["comment"] = f"distro {distro!r} is not supported yet; mosmu updates Ubuntu nodes"
        return ret
    try:
        node_root = __salt__["mosmu.root"](root)
        text = __salt__["mosmu.sources"](mos_version, repo_url, repos, trusted)
    except SaltInvocationError as err:
        ret["comment"] = f"invalid plan: {err}"
        return ret

    if __opts__["test"]:
        try:
            todo = __salt__["mosmu.pending"](mos_version, repo_url, repos, trusted, node_root)
        except CommandExecutionError as err:
            ret["comment"] = str(err)
            return ret
        ret["changes"] = todo
        ret["result"] = None if todo else True
        ret["comment"] = (f"would upgrade {len(todo)} package(s): {_describe(todo)}" if todo
                          else f"MOS {mos_version} MU packages are up to date")
        return ret

    path = mosmu_apt.node_path(node_root, os.path.join(mosmu_apt.SOURCES_DIR,
                                                       mosmu_apt.SOURCES_FILE))
    written = __states__["file.managed"](name=path, contents=text, mode="0644", makedirs=True)
    if written["result"] is False:
        ret["comment"] = f"cannot write the MU sources {path}: {written['comment']}"
        return ret
    try:
        changes = __salt__["mosmu.upgrade"](mos_version=str(mos_version),
                                            repos=list(repos or []), root=node_root)
    except CommandExecutionError as err:
        ret["changes"] = (getattr(err, "info", None) or {}).get("changes", {})
        ret["comment"] = f"{err}; status UPDATE=FAIL"
        return ret
    ret["result"] = True
    ret["changes"] = changes
    ret["comment"] = (f"upgraded {len(changes)} package(s): {_describe(changes)}" if changes
                      else f"MOS {mos_version} MU packages are up to date")
    return ret
