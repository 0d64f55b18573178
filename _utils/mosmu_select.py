"""Node selection and per-environment plans from a Nailgun inventory.

Rules (DESIGN.md section 5): exactly one of ``env`` / ``all_envs``; an environment is
operational when it has a ``ready`` node (online, or any with ``offline``); only deployed
nodes are updated; ``roles`` and ``nodes`` filter within the chosen environments. Every node
not selected is reported with the reason.
"""

import mosmu_catalog
import mosmu_validate
from mosmu_errors import ConfigError

# A node in "error" has an OS (and OpenStack packages) only when provisioning succeeded.
DEPLOYED_ERROR_TYPES = ("deploy", "stop_deployment")


def as_list(value):
    """CLI list input: ``None``, ``"a,b"``, ``["a", "b"]`` or a scalar -> list of str."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, set)):
        items = value
    else:
        items = str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def parse_node(raw):
    """Validated subset of a Nailgun node object; ``ValueError`` names the bad field."""
    try:
        node = {
            "id": mosmu_validate.node_id(raw.get("id")),
            "ip": mosmu_validate.ipv4(raw.get("ip")),
            "status": mosmu_validate.word(raw.get("status"), "status"),
            "online": raw.get("online"),
            "cluster": raw.get("cluster"),
            "roles": [mosmu_validate.role(r) for r in raw.get("roles") or []],
            "os_platform": mosmu_validate.word(raw.get("os_platform") or "unknown",
                                               "os_platform"),
            "error_type": raw.get("error_type"),
            "fqdn": raw.get("fqdn"),
            "hostname": raw.get("hostname"),
        }
    except ValueError as err:
        raise ValueError(f"node {raw.get('id')!r}: {err}") from err
    if not isinstance(node["online"], bool):
        raise ValueError(f"node {node['id']}: online {node['online']!r} is not a boolean")
    if node["cluster"] is not None:
        mosmu_validate.node_id(node["cluster"])
    for key in ("fqdn", "hostname"):
        if node[key] is not None:
            node[key] = mosmu_validate.hostname(node[key])
    return node


def is_deployed(node):
    """True for ``ready`` nodes and for ``error`` nodes whose OS was installed."""
    return node["status"] == "ready" or (
        node["status"] == "error" and node["error_type"] in DEPLOYED_ERROR_TYPES)


def _env_ids(clusters, nodes, env, all_envs, offline):
    known = {c["id"]: c for c in clusters}
    if all_envs and env is not None:
        raise ConfigError("give env=N or all_envs=True, not both")
    if not all_envs and env is None:
        raise ConfigError("no environment chosen: give env=N (see salt-run mosmu.nodes "
                          "all_envs=True) or all_envs=True")
    if not all_envs:
        try:
            env_id = mosmu_validate.node_id(int(env) if not isinstance(env, bool) else env)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"env={env!r} is not an environment id; give env=N") from err
        if env_id not in known:
            listing = ", ".join(f"{i} ({known[i].get('name')})" for i in sorted(known)) or "none"
            raise ConfigError(f"environment {env_id} does not exist in Nailgun "
                              f"(environments: {listing}); check env=")
        return [env_id]
    operational = {n["cluster"] for n in nodes
                   if n["cluster"] is not None and n["status"] == "ready"
                   and (n["online"] or offline)}
    return sorted(i for i in known if i in operational)


def select(inventory, env=None, all_envs=False, roles=None, nodes=None, offline=False):
    """Choose the nodes to act on.

    :param inventory: ``FuelClient.inventory()`` result
    :param env: environment (cluster) id, or None with ``all_envs``
    :param all_envs: every operational environment
    :param roles: list of roles; a node is kept when it has any of them
    :param nodes: list of node IPs to keep
    :param offline: also act on nodes Nailgun reports offline
    :return: ``{"envs": [ids], "selected": [node], "skipped": [{id, ip, reason}]}``
    """
    try:
        roles = [mosmu_validate.role(r) for r in as_list(roles)]
    except ValueError as err:
        raise ConfigError(f"roles=: {err}; give role names, e.g. roles=compute,cinder") from err
    try:
        wanted_ips = {mosmu_validate.ipv4(ip) for ip in as_list(nodes)}
    except ValueError as err:
        raise ConfigError(f"nodes=: {err}; give node admin IPs, e.g. nodes=10.20.0.3,10.20.0.4") \
            from err
    parsed, invalid = [], []
    for raw in inventory["nodes"]:
        try:
            parsed.append(parse_node(raw))
        except ValueError as err:
            invalid.append((raw, err))
    env_ids = _env_ids(inventory["clusters"], parsed, env, all_envs, offline)
    chosen = set(env_ids)
    # a broken record fails the run when it may belong to a chosen environment
    skipped = [{"id": raw.get("id"), "ip": raw.get("ip"),
                "reason": f"invalid Nailgun record: {err}",
                "failed": not isinstance(raw.get("cluster"), int) or raw["cluster"] in chosen}
               for raw, err in invalid]
    selected = []
    for node in parsed:
        reason = None
        if node["cluster"] is None:
            reason = "unassigned (in no environment)"
        elif node["cluster"] not in chosen:
            reason = f"in environment {node['cluster']}, not selected"
        elif not is_deployed(node):
            reason = f"status {node['status']}: not deployed"
        elif not node["online"] and not offline:
            reason = "offline in Nailgun (offline=True includes it)"
        elif roles and not set(roles) & set(node["roles"]):
            reason = f"roles {','.join(node['roles'])} not in roles={','.join(roles)}"
        elif wanted_ips and node["ip"] not in wanted_ips:
            reason = "not in nodes="
        if reason:
            skipped.append({"id": node["id"], "ip": node["ip"], "reason": reason})
        else:
            selected.append(node)
    return {"envs": env_ids, "selected": selected, "skipped": skipped}


def env_plan(inventory, env_id, mos_version=None, repos=None):
    """What one environment needs: its MOS version, distro, repos and suites.

    :param mos_version: explicit override; default from the environment's release
    :param repos: extra repos (``security``, ``proposed``, ``holdback``)
    """
    cluster = next(c for c in inventory["clusters"] if c["id"] == env_id)
    release = next((r for r in inventory["releases"] if r.get("id") == cluster.get("release_id")),
                   None)
    if release is None:
        raise ConfigError(f"environment {env_id} refers to release {cluster.get('release_id')!r}, "
                          "which Nailgun does not list; give mos_version= explicitly")
    try:
        version = mosmu_validate.mos_version(
            mos_version if mos_version is not None else mosmu_catalog.mos_version_of_release(release))
        distro = mosmu_catalog.distro_of_release(release)
        mosmu_catalog.check_supported(version, distro)
        repo_list = mosmu_catalog.normalise_repos(as_list(repos))
    except ValueError as err:
        raise ConfigError(f"environment {env_id} ({release.get('name')}): {err}") from err
    return {
        "env": env_id,
        "mos_version": version,
        "distro": distro,
        "repos": repo_list,
        "suites": mosmu_catalog.apt_suites(version, repo_list),
    }
