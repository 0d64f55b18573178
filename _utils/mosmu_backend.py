"""Package backends behind one seam: the node side picks one from the plan and the node.

A backend (``mosmu_apt.Apt``, ``mosmu_yum.Yum``) knows, for one node root and one plan:
which files to write (``files()``), the argv lists to audit/recover an interrupted package
manager, refresh the MU metadata, simulate, upgrade and list installed packages, and how to
read their output. It runs nothing: the execution module runs the argv lists it returns.
"""

import mosmu_apt
import mosmu_yum

# The node backend class of each ``mosmu_catalog.BACKENDS`` name
CLASSES = {"apt": mosmu_apt.Apt, "yum": mosmu_yum.Yum}


class BackendMissing(Exception):
    """The node lacks the package tools the plan's backend needs."""


def for_plan(plan, root, which, private=None):
    """The backend for ``plan`` on this node.

    :param plan: a :class:`mosmu_plan.Plan`
    :param root: node root (``/`` on a real node)
    :param which: ``shutil.which``-like lookup of a tool name (returns a path or None)
    :param private: a private work dir: test mode keeps every file and all apt/yum state there
    :raise BackendMissing: naming the tools that are missing
    """
    cls = CLASSES[plan.backend]
    tools = {name: which(name) for name in cls.candidates}
    try:
        return cls(root, plan, tools, private=private)
    except LookupError as err:
        raise BackendMissing(f"{err}; a {plan.distro} MOS {plan.mos_version} node needs "
                             f"{' or '.join(cls.candidates)}") from err


def by_name(name, root, which):
    """A backend without a plan: enough to read the node's installed packages."""
    cls = CLASSES[name]
    try:
        return cls(root, None, {t: which(t) for t in cls.candidates})
    except LookupError as err:
        raise BackendMissing(str(err)) from err


def available(which):
    """Names of the backends whose tools exist on this node."""
    return [name for name, cls in CLASSES.items() if any(which(t) for t in cls.managers)]


def diff_versions(before, after):
    """``{name: {"old", "new"}}`` for every package added, removed or changed."""
    out = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, ""), after.get(name, "")
        if old != new:
            out[name] = {"old": old, "new": new}
    return out


def shortfall(offered, after):
    """The offered upgrades that did not happen: ``{name: {"old", "offered", "installed"}}``.

    :param offered: what the simulation offered, ``{name: {"old", "new"}}``
    :param after: the installed versions after the upgrade, ``{name: version}``
    :return: one item per offered package whose installed version is not the offered one
        (epochs aside: ``yum check-update`` shows none); an empty dict when the upgrade did
        everything it offered
    """
    out = {}
    for name, offer in sorted(offered.items()):
        installed = after.get(name, "")
        if mosmu_yum.strip_epoch(installed) != mosmu_yum.strip_epoch(offer["new"]):
            out[name] = {"old": offer["old"], "offered": offer["new"], "installed": installed}
    return out


def mark_downgrades(changes, names):
    """Flag ``{"downgrade": True}`` on the changes of ``names`` (what the package manager
    said it moves down); returns ``changes``."""
    for name in names:
        if name in changes:
            changes[name] = dict(changes[name], downgrade=True)
    return changes


def downgraded(changes):
    """Names of the changes flagged as downgrades."""
    return sorted(n for n, v in (changes or {}).items()
                  if isinstance(v, dict) and v.get("downgrade"))
