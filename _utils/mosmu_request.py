"""The runner's arguments as one validated, frozen :class:`Request`, built before any I/O.

Salt hands a runner its CLI arguments YAML-typed (``env=011`` -> ``11``, ``test=yes`` ->
``True``) plus its own ``__pub_*`` keys. :func:`parse` drops the latter, refuses unknown or
misspelled arguments by name, and checks every value; each error is one line naming the
argument and the fix.
"""

import dataclasses
import difflib
import re

import mosmu_catalog
import mosmu_validate
from mosmu_errors import ConfigError

# Node statuses an operator may declare "deployed" with ``statuses=``. ``discover`` (a
# bootstrap image, no OS on disk), ``provisioning``, ``deploying`` and ``removing`` are never
# safe to update, whatever the override says.
OVERRIDABLE_STATUSES = ("ready", "error", "provisioned", "stopped")
DEFAULT_STATUSES = ("ready", "error")
KNOWN_REPOS = ("updates", "security", "proposed", "holdback")

# The arguments each runner function accepts (pass one of these as ``allowed``).
NODES = frozenset({"env", "all_envs", "roles", "nodes", "offline", "repos", "mos_version",
                   "master_ip", "statuses", "transport"})
STATUS = frozenset({"env", "all_envs", "roles", "nodes", "offline", "master_ip", "statuses",
                    "transport"})
TRANSPORTS = ("auto", "minion", "ssh")
UPDATE = NODES | {"sync", "batch", "interval", "test", "max_failures", "retry_failed",
                  "accept_partial", "checks", "restart"}
SYNC = frozenset({"env", "all_envs", "mos_version", "distro", "repos", "rollback", "test",
                  "verify"})
SNAPSHOTS = frozenset({"mos_version", "distro"})
ALL = UPDATE
# Each public runner function and the arguments it accepts.
FUNCTIONS = {"nodes": NODES, "update": UPDATE, "status": STATUS, "sync": SYNC,
             "snapshots": SNAPSHOTS}

# Bounds of every numeric argument: (lowest, highest, unit). Nailgun ids are PostgreSQL
# integers; an interval above a day is a typo (and time.sleep overflows near 2**63 ns).
MAX_ID = 2 ** 31 - 1
BOUNDS = {
    "env": (1, MAX_ID, "environment id"),
    "nodes": (1, MAX_ID, "node id"),
    "batch": (1, 10000, "nodes per wave"),
    "interval": (0, 86400, "seconds"),
    "max_failures": (0, 10000, "failed nodes"),
}
_DIGITS = 12        # longer digit strings are refused before int() (no huge conversions)


@dataclasses.dataclass(frozen=True)
class Request:
    """Every runner argument, validated and normalised.

    ``batch`` is None, a count or a percentage string (``"25%"``); ``envs`` is empty with
    ``all_envs``; ``nodes`` holds node keys as given (ids as ``int``,
    admin IPs, fqdns, hostnames as ``str``); ``statuses`` are those counted as deployed.
    """

    envs: tuple = ()
    all_envs: bool = False
    roles: tuple = ()
    nodes: tuple = ()
    offline: bool = False
    repos: tuple = ()
    mos_version: object = None
    master_ip: object = None
    sync: bool = True
    batch: object = None
    interval: int = 0
    test: bool = False
    statuses: tuple = DEFAULT_STATUSES
    max_failures: int = 0
    retry_failed: bool = False
    transport: object = None      # None: mosmu:transport of the master config
    accept_partial: bool = False  # PARTIAL nodes do not fail the run
    checks: bool = True           # health checks before and after each environment
    restart: bool = True          # restart the services whose packages the run changed
    distro: str = "ubuntu"        # mosmu.sync / mosmu.snapshots: the tree's distro
    rollback: bool = False        # mosmu.sync: re-point the tree at its previous snapshot
    verify: bool = False          # mosmu.sync: check the published snapshot

    def node_keys(self):
        """``nodes`` split by kind: ``{"id": {..}, "ip": {..}, "fqdn": {..}, "hostname": {..}}``."""
        keys = {"id": set(), "ip": set(), "fqdn": set(), "hostname": set()}
        for key in self.nodes:
            keys[node_key_kind(key)].add(key)
        return keys


def node_key_kind(key):
    """Which node field a ``nodes=`` entry names: ``id``, ``ip``, ``fqdn`` or ``hostname``."""
    if isinstance(key, int):
        return "id"
    if re.fullmatch(r"[0-9.]+", key) and "." in key:
        return "ip"  # all-numeric dotted: meant as an address, validated as one
    return "fqdn" if "." in key else "hostname"


# -- value checkers: each returns the normalised value or raises ConfigError -----------------

def _items(value, name):
    """``"a,b"``, a YAML list or a scalar -> list of items (str items stripped, empties dropped)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (int, float)):
        items = [value]
    else:
        raise ConfigError(f"{name}= must be a value, a comma-separated list or a list, "
                          f"not {type(value).__name__}")
    out = []
    for item in items:
        if isinstance(item, str):
            item = item.strip()
            if not item:
                continue
        elif isinstance(item, (list, tuple, dict, set)) or item is None:
            raise ConfigError(f"{name}= has a nested {type(item).__name__} item; give a flat list")
        out.append(item)
    return out


def _short(value, limit=40):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _whole(value):
    """``value`` as an int when it is one (or a short string of ASCII digits), else None."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _DIGITS:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _bounded(value, name):
    """An int within ``BOUNDS[name]``; ConfigError names the argument and the range."""
    low, high, unit = BOUNDS[name]
    number = _whole(value)
    if number is None or not low <= number <= high:
        raise ConfigError(f"{name}={_short(value)} must be a whole number >= {low} and "
                          f"<= {high} ({unit})")
    return number


def _env_id(item):
    if isinstance(item, bool):
        raise ConfigError(f"env={item!r} is a boolean, not an environment id; give env=N, "
                          "or all_envs=True for every operational environment")
    if isinstance(item, float):
        raise ConfigError(f"env={item!r} is not a whole number; environment ids are integers, "
                          "e.g. env=11")
    if isinstance(item, str) and (not item.isascii() or not item.isdigit()):
        raise ConfigError(f"env={_short(item)} is not a number; give the environment id, "
                          "e.g. env=11 (see salt-run mosmu.nodes all_envs=True)")
    if not isinstance(item, (int, str)):
        raise ConfigError(f"env= item {_short(item)} is a {type(item).__name__}; give env=N")
    if _whole(item) is not None and _whole(item) < 1:
        raise ConfigError(f"env={item} is not an environment id: Nailgun ids start at 1")
    return _bounded(item, "env")


def _flag(value, name, default):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "false", "no"):
        return value.lower() in ("true", "yes")
    raise ConfigError(f"{name}={_short(value)} is not a boolean; give {name}=True or "
                      f"{name}=False")


def _count(value, name, default):
    return default if value is None else _bounded(value, name)


def _batch(value):
    """None, a node count, or a percentage ``"25%"`` (1-100) of an environment."""
    low, high, unit = BOUNDS["batch"]
    if isinstance(value, str) and value.endswith("%"):
        number = value[:-1].strip()
        if number.isascii() and number.isdigit() and len(number) <= _DIGITS and \
                1 <= int(number) <= 100:
            return f"{int(number)}%"
        raise ConfigError(f"batch={_short(value)} is not a percentage from 1% to 100%; give "
                          "batch=N or batch=N%")
    if value is None:
        return None
    number = _whole(value)
    if number is None or not low <= number <= high:
        raise ConfigError(f"batch={_short(value)} must be a whole number >= {low} and "
                          f"<= {high} ({unit}) or a percentage from 1% to 100%: give batch=N "
                          "or batch=N%")
    return number


def _node_key(item):
    if isinstance(item, (bool, float)):
        raise ConfigError(f"nodes= item {item!r} is not a node id, admin IP, fqdn or hostname")
    if (isinstance(item, str) and item.isascii() and item.isdigit()) or \
            (isinstance(item, int) and item > BOUNDS["nodes"][1]):
        item = _bounded(item, "nodes")
    try:
        if isinstance(item, int):
            return mosmu_validate.node_id(item)
        if node_key_kind(item) == "ip":
            return mosmu_validate.ipv4(item)
        return mosmu_validate.hostname(item)
    except ValueError as err:
        raise ConfigError(f"nodes=: {err}; give node ids, admin IPs, fqdns or hostnames, "
                          "e.g. nodes=10.20.0.3,node-4") from err


def _distro(value):
    if value is None:
        return "ubuntu"
    if not isinstance(value, str) or value not in mosmu_catalog.DISTROS:
        raise ConfigError(f"distro={_short(value)} is not one of "
                          f"{', '.join(mosmu_catalog.DISTROS)}")
    return value


def _unique(items):
    return tuple(dict.fromkeys(items))


def _closest(name, allowed):
    """The known argument meant by a misspelt one: one it begins (``retry`` ->
    ``retry_failed``), else the most similar (``enviroment`` -> ``env``)."""
    prefixed = sorted(a for a in allowed if a.startswith(name))
    return prefixed[:1] or difflib.get_close_matches(name, allowed, 1, 0.4)


def parse(kwargs, allowed=ALL, require_env=True):
    """Validate the runner's keyword arguments into a :class:`Request`; no I/O.

    :param kwargs: the runner function's ``**kwargs`` as Salt passes them; keys starting with
        ``__`` (``__pub_user``, ``__pub_jid``...) are Salt's and ignored
    :param allowed: names this runner function accepts, e.g. :data:`UPDATE`
    :param require_env: demand exactly one of ``env`` / ``all_envs`` (``mosmu.sync`` may take
        ``mos_version`` alone and passes False)
    :return: a frozen :class:`Request`
    :raise ConfigError: one line naming the argument and the fix
    """
    given = {k: v for k, v in kwargs.items() if not str(k).startswith("__")}
    unknown = sorted(str(k) for k in set(given) - set(allowed))
    if unknown:
        hints = [f"{u} (did you mean {close[0]}?)" if close else u
                 for u in unknown for close in [_closest(u, allowed)]]
        raise ConfigError(f"unknown argument(s): {', '.join(hints)}; known: "
                          f"{', '.join(sorted(allowed))}")
    envs = _unique(_env_id(item) for item in _items(given.get("env"), "env"))
    if given.get("env") is not None and not envs:
        raise ConfigError("env= is empty; give env=N or all_envs=True")
    all_envs = _flag(given.get("all_envs"), "all_envs", False)
    if envs and all_envs:
        raise ConfigError("give env=N or all_envs=True, not both")
    if require_env and not envs and not all_envs:
        raise ConfigError("no environment chosen: give env=N (list them with salt-run "
                          "mosmu.nodes all_envs=True) or all_envs=True")
    try:
        roles = _unique(mosmu_validate.role(r) for r in _items(given.get("roles"), "roles"))
    except ValueError as err:
        raise ConfigError(f"roles=: {err}; give role names, e.g. roles=compute,cinder") from err
    repos = []
    for repo in _items(given.get("repos"), "repos"):
        if repo not in KNOWN_REPOS:
            raise ConfigError(f"repos=: unknown repo {repo!r}; choose from "
                              f"{', '.join(KNOWN_REPOS)}")
        repos.append(repo)
    mos_version = given.get("mos_version")
    if mos_version is not None:
        try:
            mos_version = mosmu_validate.mos_version(mos_version)
        except ValueError as err:
            raise ConfigError(f"mos_version=: {err}") from err
    master_ip = given.get("master_ip")
    if master_ip is not None:
        try:
            master_ip = (mosmu_validate.ipv4(master_ip) if node_key_kind(str(master_ip)) == "ip"
                         else mosmu_validate.hostname(master_ip))
        except ValueError as err:
            raise ConfigError(f"master_ip=: {err}; give the master's IP as the nodes reach "
                              "it") from err
    transport = given.get("transport")
    if transport is not None and (not isinstance(transport, str) or transport not in TRANSPORTS):
        raise ConfigError(f"transport={_short(transport)} is not one of {', '.join(TRANSPORTS)}")
    statuses = DEFAULT_STATUSES
    if given.get("statuses") is not None:
        statuses = _unique(_items(given["statuses"], "statuses"))
        bad = [s for s in statuses if s not in OVERRIDABLE_STATUSES]
        if bad or not statuses:
            raise ConfigError(f"statuses=: {', '.join(map(repr, bad)) or 'nothing'} cannot "
                              "count as deployed; choose from "
                              f"{', '.join(OVERRIDABLE_STATUSES)}")
    return Request(
        envs=envs, all_envs=all_envs, roles=roles,
        nodes=_unique(_node_key(n) for n in _items(given.get("nodes"), "nodes")),
        offline=_flag(given.get("offline"), "offline", False),
        repos=_unique(repos), mos_version=mos_version, master_ip=master_ip,
        sync=_flag(given.get("sync"), "sync", True),
        batch=_batch(given.get("batch")),
        interval=_count(given.get("interval"), "interval", 0),
        test=_flag(given.get("test"), "test", False),
        statuses=statuses,
        max_failures=_count(given.get("max_failures"), "max_failures", 0),
        retry_failed=_flag(given.get("retry_failed"), "retry_failed", False),
        transport=transport, distro=_distro(given.get("distro")),
        rollback=_flag(given.get("rollback"), "rollback", False),
        verify=_flag(given.get("verify"), "verify", False),
        accept_partial=_flag(given.get("accept_partial"), "accept_partial", False),
        checks=_flag(given.get("checks"), "checks", True),
        restart=_flag(given.get("restart"), "restart", True))


def positional_error(function, args):
    """The one-line refusal of positional arguments (``salt-run mosmu.update 1``).

    :param function: the runner function's name, a key of :data:`FUNCTIONS`
    :param args: the positional arguments Salt passed
    :return: the message: the first argument, the ``name=value`` form, the accepted names
    """
    allowed = FUNCTIONS[function]
    value = " ".join(str(args[0]).split())
    name = "mos_version" if "mos_version" in allowed and ("." in value or "env" not in allowed) \
        else "env"
    value = value if len(value) <= 40 else value[:40] + "..."
    return (f"positional argument '{value}': give name=value, e.g. {name}={value or 'N'}; "
            f"mosmu.{function} takes {', '.join(sorted(allowed))}")


def _text(value):
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def nodes_command(req):
    """``salt-run mosmu.nodes ...`` with the selection arguments of ``req`` (those
    ``mosmu.nodes`` takes and that differ from their default): the preview of the same
    selection, whatever update-only arguments the run had.

    :param req: a :class:`Request`
    :return: the command line, e.g. ``salt-run mosmu.nodes env=1 roles=compute``
    """
    default = Request()
    parts = []
    for field in dataclasses.fields(Request):
        name = "env" if field.name == "envs" else field.name
        value = getattr(req, field.name)
        if name in NODES and value != getattr(default, field.name):
            parts.append(f"{name}={_text(value)}")
    return " ".join(["salt-run mosmu.nodes", *parts])
