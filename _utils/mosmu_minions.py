"""Map Nailgun nodes to Salt minion ids from the master's minion data cache, cheaply.

``cache.grains tgt='*'`` loads every grain (and pillar) of every minion into one dict; at
10,000 minions that is seconds and hundreds of MB. Here only what the match needs is kept:
``match: ip`` reads each minion's cached grains one at a time and keeps its ``ipv4`` list;
``fqdn`` and ``hostname`` need the minion ids only (the cache bank listing). Everything goes
through Salt's cache API (``salt.cache.factory(opts)``), so every cache backend works.
Salt 3007+ keeps grains in bank ``grains`` keyed by minion id; older masters kept
``{"grains": ..., "pillar": ...}`` under bank ``minions/<id>``, key ``data``: both are read.
"""

import logging

import salt.cache
import salt.utils.verify

log = logging.getLogger(__name__)

MATCHES = ("ip", "fqdn", "hostname")


def _ids(cache):
    """Minion ids known to the cache, and whether they come from the old layout."""
    ids = cache.list("grains") or []
    if ids:
        return ids, False
    return cache.list("minions") or [], True


def _ipv4(cache, minion, legacy):
    if legacy:
        data = cache.fetch(f"minions/{minion}", "data")
        grains = data.get("grains") if isinstance(data, dict) else None
    else:
        grains = cache.fetch("grains", minion)
    if not isinstance(grains, dict):
        return []
    addrs = grains.get("ipv4")
    return [a for a in addrs if isinstance(a, str)] if isinstance(addrs, list) else []


def _key(value, match):
    if match == "hostname":
        return value.split(".")[0].lower()
    return value.lower() if match == "fqdn" else value


def minion_index(opts, match="ip", cache=None):
    """Index of node keys to the minion ids that carry them.

    :param opts: the master's opts (``__opts__``): ``cache``, ``cachedir``, ``id``...
    :param match: ``ip`` (the ``ipv4`` grain), ``fqdn`` (minion id = node fqdn) or
        ``hostname`` (first label of the minion id = node hostname)
    :param cache: a ``salt.cache.Cache`` to use instead of ``salt.cache.factory(opts)``
    :return: ``{key: tuple(sorted minion ids)}``; keys are IPs, lower-case fqdns or
        lower-case hostnames
    """
    if match not in MATCHES:
        raise ValueError(f"match {match!r} is not one of {', '.join(MATCHES)}")
    cache = cache or salt.cache.factory(opts)
    ids, legacy = _ids(cache)
    index = {}
    for minion in ids:
        if not isinstance(minion, str) or not salt.utils.verify.valid_id(opts, minion):
            log.debug("minion cache: ignoring invalid id %r", minion)
            continue
        keys = _ipv4(cache, minion, legacy) if match == "ip" else [_key(minion, match)]
        for key in keys:
            index.setdefault(key, set()).add(minion)
    return {key: tuple(sorted(minions)) for key, minions in index.items()}


def minion_of(node, index, match="ip"):
    """The minion of one node: ``(minion_id or None, candidates)``.

    One candidate is a mapping; none (NO_MINION) or several (ambiguous: reported with the
    candidates) leave the minion None.

    :param node: a selected node (``ip``, ``fqdn``, ``hostname``)
    :param index: :func:`minion_index` result for the same ``match``
    """
    value = node.get({"ip": "ip", "fqdn": "fqdn", "hostname": "hostname"}[match])
    if match == "hostname" and not value and node.get("fqdn"):
        value = node["fqdn"]  # Fuel <= 6.1 nodes have no hostname field
    if not value:
        return None, []
    candidates = list(index.get(_key(value, match), ()))
    return (candidates[0] if len(candidates) == 1 else None), candidates


def map_nodes(nodes, index, match="ip"):
    """Selected nodes with ``minion`` (or None) and ``candidates`` added (new dicts)."""
    out = []
    for node in nodes:
        minion, candidates = minion_of(node, index, match)
        out.append(dict(node, minion=minion, candidates=candidates))
    return out
