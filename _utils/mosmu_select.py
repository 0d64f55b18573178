"""Node selection from a Nailgun inventory, typed and validated at the boundary.

Rules (DESIGN.md section 5): exactly one of ``env`` / ``all_envs``; an environment is
operational when it has a ``ready`` node (online, or any with ``offline``); only deployed
nodes are updated; ``roles`` and ``nodes`` filter within the chosen environments. Every
inventory node is either selected or skipped with exactly one reason.

Every field is type-checked before it is used: a node whose record is wrong is skipped with
a reason naming the field; nodes sharing an id, admin IP or fqdn are all skipped (report keys
stay unique); an inventory whose environment list cannot be trusted is refused.
"""

import functools
import re

import mosmu_request
import mosmu_validate
from mosmu_errors import ConfigError, FuelError

# A node in "error" has an OS (and OpenStack packages) only when provisioning succeeded.
DEPLOYED_ERROR_TYPES = ("deploy", "stop_deployment")
NODE_STATUSES = ("ready", "discover", "provisioning", "provisioned", "deploying", "error",
                 "removing", "stopped")
ERROR_TYPES = ("deploy", "provision", "deletion", "discover", "stop_deployment")
NOT_DEPLOYED = {
    "discover": "bootstrap only, no OS installed",
    "provisioning": "OS being installed",
    "provisioned": "OS installed, OpenStack not deployed",
    "deploying": "deployment in progress",
    "removing": "being removed",
    "stopped": "deployment stopped",
}
OS_NAMES = {"ubuntu": "ubuntu", "centos": "centos"}
INVALID = "invalid Nailgun record"


def _field(raw, key, check, required=True):
    if key not in raw:
        if required:
            raise ValueError(f"{key} is missing")
        return None
    try:
        return check(raw[key])
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from err


def _bool(value):
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not a boolean")
    return value


def _optional(check):
    return lambda value: None if value is None else check(value)


# A fleet repeats a handful of role names and platforms: each distinct string is validated once.
_role = functools.lru_cache(maxsize=1024)(mosmu_validate.role)
_platform = functools.lru_cache(maxsize=256)(
    lambda value: mosmu_validate.word(value, "os_platform"))
# A dotted quad in canonical form is what mosmu_validate.ipv4 returns unchanged; anything
# else goes through the validator (which normalises or names the fault).
_CANONICAL_IPV4 = re.compile(r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                             r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")


def _cached(check, value):
    """``check(value)`` through its cache when ``value`` is a str (hashable and stable)."""
    return check(value) if type(value) is str else check.__wrapped__(value)


def _ipv4(value):
    if type(value) is str and _CANONICAL_IPV4.fullmatch(value):
        return value
    return mosmu_validate.ipv4(value)


def _roles(value):
    if not isinstance(value, list):  # a str would iterate into roles "c", "o", "n"...
        raise ValueError(f"{_short(value)} is not a list of role names")
    return tuple(_cached(_role, r) for r in value)


def _status(value):
    if value not in NODE_STATUSES or not isinstance(value, str):
        raise ValueError(f"{_short(value)} is not a Nailgun node status")
    return value


def _error_type(value):
    if value not in ERROR_TYPES or not isinstance(value, str):
        raise ValueError(f"{_short(value)} is not a Nailgun error type")
    return value


def _short(value, limit=40):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def parse_node(raw):
    """Typed subset of a Nailgun node object; ``ValueError`` names the bad field.

    :return: dict with ``id``, ``ip``, ``status``, ``online``, ``cluster``, ``roles`` (list),
        ``pending_roles``, ``pending_addition``, ``pending_deletion``, ``os_platform``,
        ``error_type``, ``fqdn``, ``hostname``
    """
    node = _plain_node(raw)
    return node if node is not None else _checked_node(raw)


def _checked_node(raw):
    """:func:`parse_node`, one check per field (the reference :func:`_plain_node` fronts)."""
    if not isinstance(raw, dict):
        raise ValueError(f"node record is a {type(raw).__name__}, not an object")
    node = {
        "id": _field(raw, "id", mosmu_validate.node_id),
        "ip": _field(raw, "ip", _ipv4),
        "status": _field(raw, "status", _status),
        "online": _field(raw, "online", _bool),
        "cluster": _field(raw, "cluster", _OPTIONAL_ID),
        "roles": list(_field(raw, "roles", _roles)),
        "pending_roles": list(_field(raw, "pending_roles", _roles, required=False) or ()),
        "pending_addition": _field(raw, "pending_addition", _bool),
        "pending_deletion": _field(raw, "pending_deletion", _bool),
        "os_platform": _field(raw, "os_platform", lambda v: _cached(_platform, v)),
        "error_type": _field(raw, "error_type", _OPTIONAL_ERROR_TYPE, required=False),
        # fqdn is null until provisioning on Fuel <= 6.1; hostname exists from 7.0
        "fqdn": _field(raw, "fqdn", _OPTIONAL_HOSTNAME, required=False),
        "hostname": _field(raw, "hostname", _OPTIONAL_HOSTNAME, required=False),
    }
    return node


_OPTIONAL_ID = _optional(mosmu_validate.node_id)
_OPTIONAL_ERROR_TYPE = _optional(_error_type)
_OPTIONAL_HOSTNAME = _optional(mosmu_validate.hostname)

# The fast path of parse_node: a whole DNS name in one match (what mosmu_validate.hostname
# accepts: dot-separated labels, each matching its _HOST_LABEL, 253 characters at most).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_NODE_STATUSES = frozenset(NODE_STATUSES)
_ERROR_TYPES = frozenset(ERROR_TYPES)
_ABSENT = object()


def _plain_id(value, optional=False):
    return (optional and value is None) or (type(value) is int and value >= 1)


def _plain_name(value):
    return value is None or (type(value) is str and len(value) <= 253
                             and _DNS_NAME.fullmatch(value) is not None)


def _plain_roles(value):
    """The roles as a new list when each is an already validated (cached) role name."""
    if type(value) is not list:
        return None
    out = []
    for name in value:
        if type(name) is not str:
            return None
        try:
            out.append(_role(name))
        except ValueError:
            return None
    return out


def _plain_node(raw):
    """:func:`parse_node`'s result for a record whose every field is plainly valid (exact
    types, canonical values), else None: then :func:`parse_node` checks field by field and
    names the fault. The same dict, at a fraction of the cost per node of a large fleet."""
    if type(raw) is not dict:
        return None
    get = raw.get
    node_id, ip, status, online, cluster = (get("id"), get("ip"), get("status"),
                                            get("online", _ABSENT), get("cluster", _ABSENT))
    added, deleted = get("pending_addition"), get("pending_deletion")
    platform, error_type = get("os_platform"), get("error_type")
    fqdn, hostname = get("fqdn"), get("hostname")
    if not (_plain_id(node_id) and type(ip) is str and _CANONICAL_IPV4.fullmatch(ip)
            and type(status) is str and status in _NODE_STATUSES and type(online) is bool
            and _plain_id(cluster, optional=True) and type(added) is bool
            and type(deleted) is bool and type(platform) is str
            and (error_type is None or (type(error_type) is str
                                        and error_type in _ERROR_TYPES))
            and _plain_name(fqdn) and _plain_name(hostname)):
        return None
    roles = _plain_roles(get("roles"))
    pending = _plain_roles(raw["pending_roles"]) if "pending_roles" in raw else []
    if roles is None or pending is None:
        return None
    try:
        platform = _platform(platform)
    except ValueError:
        return None
    return {"id": node_id, "ip": ip, "status": status, "online": online, "cluster": cluster,
            "roles": roles, "pending_roles": pending, "pending_addition": added,
            "pending_deletion": deleted, "os_platform": platform, "error_type": error_type,
            "fqdn": fqdn, "hostname": hostname}


def parse_release(raw):
    """``{"id", "name", "version", "os"}`` of a release; ``ValueError`` names the bad field."""
    rel = {"id": _field(raw, "id", mosmu_validate.node_id)}

    def text(value):
        if not isinstance(value, str) or not value or len(value) > 128:
            raise ValueError(f"{_short(value)} is not a string")
        return value

    rel["name"] = _field(raw, "name", _optional(text), required=False)
    rel["version"] = _field(raw, "version", text)
    rel["os"] = _field(raw, "operating_system", lambda v: mosmu_validate.word(
        text(v).lower(), "operating_system"))
    return rel


def _clusters(raw_clusters):
    """Clusters by id, ``{"id", "name", "release_id"}``. An id that is missing, mistyped or
    shared makes the environment list untrustworthy: the run is refused (FuelError)."""
    out = {}
    for raw in raw_clusters:
        if not isinstance(raw, dict):
            raise FuelError(f"Nailgun listed a cluster that is a {type(raw).__name__}, not an "
                            "object; the inventory cannot be trusted")
        try:
            cid = _field(raw, "id", mosmu_validate.node_id)
        except ValueError as err:
            raise FuelError(f"Nailgun listed a cluster with {err} (name "
                            f"{_short(raw.get('name'))}); the inventory cannot be trusted, "
                            "check the Fuel master") from err
        if cid in out:
            raise FuelError(f"Nailgun listed cluster id {cid} twice; the inventory cannot be "
                            "trusted, check the Fuel master")
        name = raw.get("name")
        out[cid] = {"id": cid, "name": name if isinstance(name, str) else None,
                    "release_id": raw.get("release_id"), "error": None}
    return out


def _releases(raw_releases):
    """Valid releases by id, plus ``{raw id: error}`` for broken ones."""
    good, bad = {}, {}
    for raw in raw_releases:
        if not isinstance(raw, dict):
            continue
        try:
            rel = parse_release(raw)
        except ValueError as err:
            rid = raw.get("id")
            if isinstance(rid, int) and not isinstance(rid, bool):
                bad[rid] = str(err)
            continue
        if rel["id"] in good or rel["id"] in bad:
            bad[rel["id"]] = "release id listed twice"
            good.pop(rel["id"], None)
            continue
        good[rel["id"]] = rel
    return good, bad


def _env_problems(clusters, releases, broken_releases):
    """Per cluster: its release's OS, or why its nodes cannot be planned."""
    for cluster in clusters.values():
        rid = cluster["release_id"]
        if isinstance(rid, bool) or not isinstance(rid, int) or rid < 1:
            cluster["error"] = f"environment {cluster['id']}: release_id {_short(rid)} is not " \
                               "a release id"
        elif rid in broken_releases:
            cluster["error"] = (f"environment {cluster['id']}: release {rid} is invalid "
                                f"({broken_releases[rid]})")
        elif rid not in releases:
            cluster["error"] = (f"environment {cluster['id']}: release {rid} is not listed "
                                "by Nailgun")
        else:
            cluster["os"] = OS_NAMES.get(releases[rid]["os"], releases[rid]["os"])


def _unique(raws):
    """True when no two records share an id, admin IP or fqdn (as :func:`_duplicates` compares
    them): the common case, told with one set per key instead of a tuple per value."""
    for key in ("id", "ip", "fqdn"):
        values = [raw.get(key) for raw in raws if isinstance(raw, dict)]
        values = [v.lower() if key == "fqdn" and isinstance(v, str) else v for v in values
                  if v is not None and not isinstance(v, (list, dict, bool))]
        if len(set(values)) != len(values):
            return False
    return True


def _duplicates(raws):
    """``{index: reason}`` for records sharing an id, admin IP or fqdn with another."""
    return {} if _unique(raws) else _shared(raws)


def _shared(raws):
    """:func:`_duplicates`, value by value."""
    first, shared = {}, {}      # a list only for the values that repeat
    for index, raw in enumerate(raws):
        if not isinstance(raw, dict):
            continue
        for key in ("id", "ip", "fqdn"):
            value = raw.get(key)
            if value is None or isinstance(value, (list, dict, bool)):
                continue
            norm = (key, value.lower() if key == "fqdn" and isinstance(value, str) else value)
            if norm in first:
                shared.setdefault(norm, [first[norm]]).append(index)
            else:
                first[norm] = index
    reasons = {}
    order = ("id", "ip", "fqdn")
    for (key, value), indexes in sorted(   # in order of first sight, as the records go
            shared.items(), key=lambda item: (first[item[0]], order.index(item[0][0]))):
        for index in indexes:
            others = [raws[i].get("id") for i in indexes if i != index]
            reasons.setdefault(index, f"duplicate {key} {_short(value)}: shared with node(s) "
                                      f"{', '.join(_short(o) for o in others)}")
    return reasons


def _check_inventory(inventory):
    if not isinstance(inventory, dict):
        raise FuelError("the inventory is not an object; the Fuel API is not Nailgun's")
    for key in ("nodes", "clusters", "releases"):
        if not isinstance(inventory.get(key), list):
            raise FuelError(f"the inventory's {key} is not a list; the Fuel API is not "
                            "Nailgun's")


# -- rules -----------------------------------------------------------------------------------

def is_deployed(node, statuses=mosmu_request.DEFAULT_STATUSES):
    """True when the node's status counts as deployed.

    ``error`` counts only with an installed OS (error_type ``deploy`` / ``stop_deployment``).
    """
    if node["status"] not in statuses:
        return False
    return node["status"] != "error" or node["error_type"] in DEPLOYED_ERROR_TYPES


def _not_deployed_reason(node, statuses):
    status = node["status"]
    if status == "error":
        if "error" not in statuses:
            return "status error: not counted as deployed (statuses= can count it)"
        return f"status error (error_type {node['error_type']}): no OS installed"
    if status in NOT_DEPLOYED:
        extra = " (statuses= can count it)" if status in mosmu_request.OVERRIDABLE_STATUSES else ""
        return f"status {status}: {NOT_DEPLOYED[status]}{extra}"
    return f"status {status}: not counted as deployed (statuses= can count it)"


def _env_ids(clusters, nodes, request):
    if not request.all_envs:
        missing = [e for e in request.envs if e not in clusters]
        if missing:
            listing = ", ".join(f"{i} ({clusters[i]['name']})" for i in sorted(clusters)) \
                or "none"
            raise ConfigError(f"environment {missing[0]} does not exist in Nailgun "
                              f"(environments: {listing}); check env=")
        return sorted(request.envs)
    operational = {n["cluster"] for n in nodes
                   if n["cluster"] is not None and n["status"] == "ready"
                   and (n["online"] or request.offline)}
    return sorted(i for i in clusters if i in operational)


def _matches(node, keys):
    return (node["id"] in keys["id"] or node["ip"] in keys["ip"]
            or (node["fqdn"] or "").lower() in {k.lower() for k in keys["fqdn"]}
            or node["hostname"] in keys["hostname"])


def _reason(node, clusters, chosen, request, keys):
    """Why ``node`` is not selected, or None. The first rule that applies wins."""
    if node["cluster"] is None:
        return "unassigned (in no environment)"
    if node["cluster"] not in chosen:
        if node["cluster"] not in clusters:
            return f"in environment {node['cluster']}, which Nailgun does not list"
        if request.all_envs:
            return f"in environment {node['cluster']}, not operational (no ready node)"
        return f"in environment {node['cluster']}, not selected"
    cluster = clusters[node["cluster"]]
    if cluster["error"]:
        return cluster["error"]
    if node["pending_deletion"]:
        return "pending deletion"
    if node["pending_addition"]:
        return "pending addition: not deployed yet"
    if not is_deployed(node, request.statuses):
        return _not_deployed_reason(node, request.statuses)
    if not node["online"] and not request.offline:
        return "offline in Nailgun (offline=True includes it)"
    if node["os_platform"] != cluster["os"]:
        return (f"os_platform {node['os_platform']} differs from environment "
                f"{node['cluster']}'s release OS {cluster['os']}")
    if request.roles and not set(request.roles) & set(node["roles"]):
        return f"roles {','.join(node['roles']) or '(none)'} not in roles=" \
               f"{','.join(request.roles)}"
    if request.nodes and not _matches(node, keys):
        return f"not in nodes={_given(request.nodes)}"
    return None


def _given(keys, limit=60):
    text = ",".join(map(str, keys))
    return text if len(text) <= limit else text[:limit] + "..."


def _unmatched(request, parsed, invalid):
    """The ``nodes=`` values that name no node of the inventory (valid or not)."""
    seen = {"id": set(), "ip": set(), "fqdn": set(), "hostname": set()}
    records = parsed + [raw for raw, _reason in invalid if isinstance(raw, dict)]
    for record in records:
        for kind in seen:
            value = record.get(kind)
            if isinstance(value, (int, str)) and not isinstance(value, bool):
                seen[kind].add(value.lower() if kind == "fqdn" and isinstance(value, str)
                               else value)
    return [key for key in request.nodes
            if (key.lower() if mosmu_request.node_key_kind(key) == "fqdn" else key)
            not in seen[mosmu_request.node_key_kind(key)]]


def select(inventory, request=None, **legacy):
    """Choose the nodes to act on.

    :param inventory: ``FuelClient.inventory()`` result (``nodes``, ``clusters``,
        ``releases`` lists of raw Nailgun objects)
    :param request: a :class:`mosmu_request.Request`; or omit it and give the runner's
        keyword arguments (``env=``, ``all_envs=``, ``roles=``, ``nodes=``, ``offline=``,
        ``statuses=``), parsed with :func:`mosmu_request.parse`
    :return: ``{"envs": [ids], "selected": [node], "skipped": [{"id", "ip", "env", "reason",
        "failed"}], "env_nodes": {env id: [every valid node of it]}}``; ``failed`` is True
        when the record may belong to a chosen environment
        but cannot be trusted (the run should not end OK)
    :raise ConfigError: bad arguments or an unknown environment
    :raise FuelError: an inventory whose environment list cannot be trusted
    """
    if request is None:
        request = mosmu_request.parse(legacy, mosmu_request.ALL)
    elif legacy:
        raise TypeError("give a Request or keyword arguments, not both")
    _check_inventory(inventory)
    clusters = _clusters(inventory["clusters"])
    releases, broken = _releases(inventory["releases"])
    _env_problems(clusters, releases, broken)
    raws = inventory["nodes"]
    dups = _duplicates(raws)
    parsed, invalid = [], []
    for index, raw in enumerate(raws):
        try:
            node = parse_node(raw)
        except ValueError as err:
            invalid.append((raw, f"{INVALID}: {err}"))
            continue
        if index in dups:
            invalid.append((raw, dups[index]))
        else:
            parsed.append(node)
    env_ids = _env_ids(clusters, parsed, request)
    unmatched = _unmatched(request, parsed, invalid) if request.nodes else []
    if unmatched:
        raise ConfigError(f"nodes={_given(unmatched)} matches no node in Nailgun (by id, admin "
                          "IP, fqdn or hostname); fix the value (salt-run mosmu.nodes "
                          "all_envs=True offline=True lists every node)")
    chosen = set(env_ids)
    skipped = []
    for raw, reason in invalid:
        cluster = raw.get("cluster") if isinstance(raw, dict) else None
        known = isinstance(cluster, int) and not isinstance(cluster, bool)
        skipped.append({"id": _ident(raw, "id"), "ip": _ident(raw, "ip"),
                        "env": cluster if known else None, "reason": reason,
                        "failed": not known or cluster in chosen})
    keys = request.node_keys()
    selected = []
    for node in parsed:
        reason = _reason(node, clusters, chosen, request, keys)
        if reason:
            skipped.append({"id": node["id"], "ip": node["ip"], "env": node["cluster"],
                            "reason": reason,
                            "failed": node["cluster"] in chosen
                            and bool(clusters[node["cluster"]]["error"])})
        else:
            selected.append(node)
    env_nodes = {env: [] for env in env_ids}
    for node in parsed:
        if node["cluster"] in env_nodes:
            env_nodes[node["cluster"]].append(node)
    return {"envs": env_ids, "selected": selected, "skipped": skipped, "env_nodes": env_nodes}


def _ident(raw, key):
    """A broken record's id / ip for the report: kept only when short and plain."""
    value = raw.get(key) if isinstance(raw, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return value if len(str(value)) <= 64 else None
