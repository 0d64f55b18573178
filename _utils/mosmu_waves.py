"""Waves of a fleet update: which nodes run together, and when a run stops.

Pure functions the runner walks (STYLE.md "decide in pure code, act in thin loops"):
:func:`plan_waves` cuts the selected nodes into waves, environment after environment, with
nodes of a serial role (controllers) alone in their wave; :func:`should_stop` is the failure
threshold; :func:`skipped_entries` reports the nodes a stopped run never started.
"""

import math
import re

import mosmu_report
import mosmu_validate

SERIAL_ROLES = ("controller", "ceph-osd")
ORDERS = ("first", "last")

_BATCH_RE = re.compile(r"([0-9]{1,9}) *(%?)")   # "25%", " 50 %" (the request reads it so)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_batch(value):
    """Validate a ``batch`` argument.

    :param value: None (all nodes of an environment in one wave), a positive int, a string
        of digits (``"5"``), or a percentage string ``"1%"``..``"100%"`` of an environment's
        nodes, as ``salt-run ... batch=25%`` passes it
    :return: None, ``(count, False)`` for a node count, or ``(percent, True)``
    :raises ValueError: one line naming ``batch`` and the accepted forms
    """
    if value is None:
        return None
    if _is_int(value):
        if value >= 1:
            return (value, False)
    elif isinstance(value, str):
        match = _BATCH_RE.fullmatch(value.strip())
        if match:
            number, percent = int(match.group(1)), bool(match.group(2))
            if number >= 1 and (not percent or number <= 100):
                return (number, percent)
    raise ValueError(f"batch={value!r} is not a node count >= 1 or a percentage 1%..100%; "
                     "give e.g. batch=5 or batch=25%")


def batch_size(batch, total):
    """Nodes per wave for an environment of ``total`` nodes.

    :param batch: what :func:`parse_batch` returns (or any value it accepts)
    :param total: number of nodes of the environment (>= 0)
    :return: an int >= 1: ``total`` for None, the count, or ``ceil(total * percent / 100)``
    """
    parsed = parse_batch(batch) if not isinstance(batch, tuple) else batch
    if parsed is None:
        return max(total, 1)
    number, percent = parsed
    if percent:
        return max(1, math.ceil(total * number / 100))
    return number


def _roles(value, name):
    if isinstance(value, str):
        value = [r.strip() for r in value.split(",") if r.strip()]
    try:
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise ValueError(value)
        for role in value:
            mosmu_validate.role(role)            # the one role pattern
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a list of role names; "
                         f"give e.g. {name}=controller,mongo") from None
    return tuple(dict.fromkeys(value)) if isinstance(value, (list, tuple)) else \
        tuple(sorted(value))


def _order_key(value):
    """Sort ints numerically, anything else after them as text (env and node ids)."""
    return (0, value, "") if _is_int(value) else (1, 0, str(value))


def _check_nodes(nodes):
    if not isinstance(nodes, (list, tuple)):
        raise ValueError(f"nodes must be a list of node dicts, not {type(nodes).__name__}")
    seen = set()
    for node in nodes:
        if not isinstance(node, dict) or not all(k in node for k in ("id", "ip", "cluster")):
            raise ValueError(f"nodes: {node!r:.80} is not a node dict with id, ip and cluster")
        if not isinstance(node.get("roles", []), (list, tuple)):
            raise ValueError(f"nodes: node {node['id']!r} has roles {node['roles']!r:.60}, "
                             "not a list")
        if node["id"] in seen:
            raise ValueError(f"nodes: node id {node['id']!r} appears twice")
        seen.add(node["id"])


def plan_waves(nodes, batch=None, serial_roles=SERIAL_ROLES, order="first"):
    """Cut the nodes to update into waves.

    Environments go one after another in env id order (a wave never mixes environments);
    inside an environment nodes keep node id order. A node with any role in
    ``serial_roles`` is alone in its wave (never two controllers at once); those waves come
    before (``order="first"``) or after (``"last"``) the environment's other nodes, which go
    in waves of ``batch``, in the order of ``serial_roles`` (the default: controllers, whose
    Ceph monitors go first, then ``ceph-osd`` nodes), then node id.

    :param nodes: node dicts with at least ``id``, ``ip``, ``cluster`` (env id) and
        ``roles`` (list); pass the nodes that will be applied to (those with a minion)
    :param batch: None (all other nodes of an environment in one wave), a positive int, or
        a percentage string such as ``"25%"`` of the environment's nodes (rounded up, at
        least 1)
    :param serial_roles: role names (list, or a comma string) whose nodes go one at a time;
        empty for none
    :param order: ``"first"`` or ``"last"``: where the serial nodes go in each environment
    :return: a list of waves, each a non-empty list of the given node dicts (same objects)
    :raises ValueError: one line naming the bad argument
    """
    parsed = parse_batch(batch)
    serial = _roles(serial_roles, "serial_roles")
    if not isinstance(order, str) or order not in ORDERS:
        raise ValueError(f"order={order!r} is not one of {', '.join(ORDERS)}")
    _check_nodes(nodes)
    by_env = {}
    for node in nodes:
        by_env.setdefault(node["cluster"], []).append(node)
    waves = []
    for env in sorted(by_env, key=_order_key):
        group = sorted(by_env[env], key=lambda n: _order_key(n["id"]))
        lone = [[n] for n in sorted(
            (n for n in group if set(serial) & set(n.get("roles") or ())),
            key=lambda n: min(serial.index(r) for r in n["roles"] if r in serial))]
        rest = [n for n in group if not set(serial) & set(n.get("roles") or ())]
        size = batch_size(parsed, len(group))
        chunks = [rest[i:i + size] for i in range(0, len(rest), size)]
        waves += lone + chunks if order == "first" else chunks + lone
    return waves


def should_stop(failures_so_far, max_failures=0):
    """Whether to stop starting new waves.

    :param failures_so_far: nodes that ended FAIL or TIMEOUT so far in this run (see
        :func:`mosmu_report.failures`)
    :param max_failures: failures tolerated; the default 0 stops after the first wave with
        any failure
    :return: True when ``failures_so_far > max_failures``
    :raises ValueError: when either argument is not an int >= 0
    """
    for name, value in (("failures_so_far", failures_so_far), ("max_failures", max_failures)):
        if not _is_int(value) or value < 0:
            raise ValueError(f"{name}={value!r} must be an integer >= 0")
    return failures_so_far > max_failures


def skipped_entries(remaining_waves, reason):
    """``SKIPPED`` report entries for the nodes of the waves a stopped run never started.

    :param remaining_waves: the waves not started (lists of node dicts)
    :param reason: why they were not started, e.g. ``"not started: 1 node failed (limit
        max_failures=0)"``
    :return: ``{node ip: entry}`` in wave order, entries as :func:`mosmu_report.entry`
        builds them with ``result`` ``SKIPPED`` and ``comment`` ``reason``
    """
    return {node["ip"]: mosmu_report.entry(node, "SKIPPED", comment=str(reason))
            for wave in remaining_waves for node in wave}
