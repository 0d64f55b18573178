"""The runner's arguments as one validated, frozen :class:`Request`, built before any I/O.

Salt hands a runner its CLI arguments YAML-typed (``env=011`` -> ``11``, ``test=yes`` ->
``True``) plus its own ``__pub_*`` keys. :func:`parse` drops the latter, refuses unknown or
misspelled arguments by name, and checks every value; each error is one line naming the
argument and the fix.
"""

import dataclasses
import difflib
import re
import textwrap

import mosmu_catalog
import mosmu_validate
import mosmu_waves
from mosmu_errors import ConfigError

# Node statuses an operator may declare "deployed" with ``statuses=``. ``discover`` (a
# bootstrap image, no OS on disk), ``provisioning``, ``deploying`` and ``removing`` are never
# safe to update, whatever the override says.
OVERRIDABLE_STATUSES = ("ready", "error", "provisioned", "stopped")
DEFAULT_STATUSES = ("ready", "error")
KNOWN_REPOS = mosmu_catalog.REPOS
TRANSPORTS = ("auto", "minion", "ssh")

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


def _batch(value, _name="batch"):
    """None, a node count, or a percentage ``"25%"`` (1-100) of an environment: read by the
    one batch parser (``mosmu_waves.parse_batch``), a count also bounded by ``BOUNDS``."""
    low, high, unit = BOUNDS["batch"]
    try:
        number, percent = mosmu_waves.parse_batch(value)
    except ValueError:
        if isinstance(value, str) and value.endswith("%"):
            raise ConfigError(f"batch={_short(value)} is not a percentage from 1% to 100%; "
                              "give batch=N or batch=N%") from None
        number, percent = None, False
    if percent:
        return f"{number}%"
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


def _distro(value, _name):
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


def _envs(value, _name):
    envs = _unique(_env_id(item) for item in _items(value, "env"))
    if not envs:
        raise ConfigError("env= is empty; give env=N or all_envs=True")
    return envs


def _roles(value, _name):
    try:
        return _unique(mosmu_validate.role(r) for r in _items(value, "roles"))
    except ValueError as err:
        raise ConfigError(f"roles=: {err}; give role names, e.g. roles=compute,cinder") from err


def _nodes(value, _name):
    return _unique(_node_key(n) for n in _items(value, "nodes"))


def _repos(value, _name):
    repos = []
    for repo in _items(value, "repos"):
        if repo not in KNOWN_REPOS:
            raise ConfigError(f"repos=: unknown repo {repo!r}; choose from "
                              f"{', '.join(KNOWN_REPOS)}")
        repos.append(repo)
    return _unique(repos)


def _mos_version(value, _name):
    try:
        return mosmu_validate.mos_version(value)
    except ValueError as err:
        raise ConfigError(f"mos_version=: {err}") from err


def _master_ip(value, _name):
    try:
        return (mosmu_validate.ipv4(value) if node_key_kind(str(value)) == "ip"
                else mosmu_validate.hostname(value))
    except ValueError as err:
        raise ConfigError(f"master_ip=: {err}; give the master's IP as the nodes reach it") \
            from err


def _transport(value, _name):
    if not isinstance(value, str) or value not in TRANSPORTS:
        raise ConfigError(f"transport={_short(value)} is not one of {', '.join(TRANSPORTS)}")
    return value


def _statuses(value, _name):
    statuses = _unique(_items(value, "statuses"))
    bad = [s for s in statuses if s not in OVERRIDABLE_STATUSES]
    if bad or not statuses:
        raise ConfigError(f"statuses=: {', '.join(map(repr, bad)) or 'nothing'} cannot count "
                          f"as deployed; choose from {', '.join(OVERRIDABLE_STATUSES)}")
    return statuses


def _boolean(value, name):
    return _flag(value, name, None)


# -- the arguments: one row each ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Arg:
    """One runner argument: the runner functions that take it, how its value is read, its
    default, and the line(s) those functions' docstrings show (``salt-run -d``).

    ``read(value, name)`` gets the value as Salt passed it (never None: an absent or None
    argument keeps ``default``) and returns it normalised, or raises a one-line
    ``ConfigError``. ``field`` is its :class:`Request` attribute (default: its name);
    ``docs`` gives a function its own wording (``{function: doc}``).
    """

    name: str
    functions: frozenset
    read: object
    default: object
    doc: str
    field: str = ""
    docs: tuple = ()

    @property
    def attr(self):
        return self.field or self.name

    def doc_for(self, function):
        return dict(self.docs).get(function, self.doc)


_SELECT = frozenset({"nodes", "update", "status"})
_PLAN = frozenset({"nodes", "update"})
_UPDATE = frozenset({"update"})
_MIRROR = frozenset({"sync", "snapshots"})

ARGS = (
    Arg("env", _SELECT | {"sync"}, _envs, (),
        "Environment (cluster) id, ``a,b`` or a list. Exactly one of ``env`` and "
        "``all_envs``.", field="envs", docs=(("sync", "Environment id whose tree to mirror."),)),
    Arg("all_envs", _SELECT | {"sync"}, _boolean, False,
        "Every operational environment (one with a ``ready`` node).",
        docs=(("sync", "Every operational environment's tree."),)),
    Arg("roles", _SELECT, _roles, (), "Only nodes with any of these roles (``a,b`` or a list)."),
    Arg("nodes", _SELECT, _nodes, (),
        "Only these nodes: ids, admin IPs, fqdns or hostnames (``a,b`` or a list)."),
    Arg("offline", _SELECT, _boolean, False, "Include nodes Nailgun reports offline."),
    Arg("repos", _PLAN | {"sync"}, _repos, (),
        "Repos besides ``updates``: ``security``, ``proposed``, ``holdback``."),
    Arg("mos_version", _PLAN | _MIRROR, _mos_version, None,
        "Override the MOS version derived from each environment's release.",
        docs=(("sync", "MOS version to mirror, e.g. ``8.0`` or ``8.0-mu-3``; or give ``env`` / "
                       "``all_envs``."),
              ("snapshots", "MOS version of the tree, e.g. ``8.0``."))),
    Arg("master_ip", _SELECT, _master_ip, None,
        "Master IP the nodes reach; default from config or ``/etc/fuel/astute.yaml``.",
        docs=(("status", "Master IP; only needed when neither config nor astute.yaml gives "
                         "it."),)),
    Arg("sync", _UPDATE, _boolean, True, "Sync the mirror first (default True). Never in test "
        "mode."),
    Arg("batch", _UPDATE, _batch, None,
        "Nodes per wave: a count or a percentage of an environment (default: all at once). "
        "Nodes with a role in ``mosmu:serial_roles`` (default ``controller, ceph-osd``) go one "
        "at a time, controllers first."),
    Arg("interval", _UPDATE, _bounded, 0,
        "Seconds to wait between waves (the old ``--interval``)."),
    Arg("test", _UPDATE | {"sync"}, _boolean, False,
        "Dry run: each node reports the packages it would upgrade; nothing changes.",
        docs=(("sync", "Only report what would be transferred (and, with ``verify``, what is "
                       "damaged)."),)),
    Arg("statuses", _SELECT, _statuses, DEFAULT_STATUSES,
        "Node statuses counted as deployed (default ``ready,error``)."),
    Arg("max_failures", _UPDATE, _bounded, 0,
        "Failed nodes tolerated before no new wave starts (default 0); the rest are SKIPPED."),
    Arg("retry_failed", _UPDATE, _boolean, False,
        "Only the nodes whose last status (their status file) is not OK, or whose last run "
        "from this master did not end OK."),
    Arg("transport", _SELECT, _transport, None,
        "``auto`` (the minion where one maps, else ssh), ``minion`` or ``ssh``; default "
        "``mosmu:transport``."),
    Arg("accept_partial", _UPDATE, _boolean, False,
        "PARTIAL nodes (offered packages left behind) do not fail the run: retcode 0, not "
        "counted by ``max_failures``. They stay PARTIAL in the report and on the node."),
    Arg("checks", _UPDATE, _boolean, True,
        "The health checks before and after each environment (default True)."),
    Arg("restart", _UPDATE, _boolean, True,
        "Restart the services whose packages changed, Pacemaker's resources once per "
        "environment, Ceph's monitors and OSD nodes one at a time (default True)."),
    Arg("distro", _MIRROR, _distro, "ubuntu",
        "``ubuntu`` (default) or ``centos``, with ``mos_version``."),
    Arg("rollback", frozenset({"sync"}), _boolean, False,
        "Re-point the tree (``mos_version``/``distro``) at its previous snapshot instead."),
    Arg("verify", frozenset({"sync"}), _boolean, False,
        "Also check every file of the published snapshot against its own indices (sizes, "
        "SHA256), even when upstream is unchanged, and repair what is missing or damaged "
        "through a new, verified snapshot (the damaged one is never written)."),
)


def arguments_of(function):
    """The names of the arguments runner function ``function`` takes."""
    return frozenset(a.name for a in ARGS if function in a.functions)


# The arguments each runner function accepts (pass one of these to :func:`parse`).
FUNCTIONS = {f: arguments_of(f) for f in ("nodes", "update", "status", "sync", "snapshots")}
NODES, UPDATE, STATUS, SYNC, SNAPSHOTS = (FUNCTIONS[f] for f in
                                          ("nodes", "update", "status", "sync", "snapshots"))
ALL = UPDATE


class _RequestMethods:
    def node_keys(self):
        """``nodes`` split by kind: ``{"id": {..}, "ip": {..}, "fqdn": {..}, "hostname": {..}}``."""
        keys = {"id": set(), "ip": set(), "fqdn": set(), "hostname": set()}
        for key in self.nodes:
            keys[node_key_kind(key)].add(key)
        return keys


Request = dataclasses.make_dataclass(
    "Request", [(a.attr, object, dataclasses.field(default=a.default)) for a in ARGS],
    bases=(_RequestMethods,), frozen=True, namespace={"__module__": __name__})
Request.__doc__ = """Every runner argument, validated and normalised: one attribute per row of
:data:`ARGS` (``env`` is ``envs``), its default when not given.

``batch`` is None, a count or a percentage string (``"25%"``); ``envs`` is empty with
``all_envs``; ``nodes`` holds node keys as given (ids as ``int``, admin IPs, fqdns,
hostnames as ``str``); ``statuses`` are those counted as deployed."""


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
    values = {a.attr: a.read(given[a.name], a.name) for a in ARGS
              if given.get(a.name) is not None}
    if values.get("envs") and values.get("all_envs"):
        raise ConfigError("give env=N or all_envs=True, not both")
    if require_env and not values.get("envs") and not values.get("all_envs"):
        raise ConfigError("no environment chosen: give env=N (list them with salt-run "
                          "mosmu.nodes all_envs=True) or all_envs=True")
    return Request(**values)


def describe(function):
    """The argument list of runner function ``function``'s docstring, from :data:`ARGS`:
    each name, then its description wrapped and indented as Salt's docstrings are."""
    lines = []
    for arg in (a for a in ARGS if function in a.functions):
        lines.append(f"    {arg.name}")
        lines += textwrap.wrap(arg.doc_for(function), 88, initial_indent=" " * 8,
                               subsequent_indent=" " * 8, break_on_hyphens=False,
                               break_long_words=False)
    return "\n".join(lines)


def documented(function, doc):
    """``doc`` with :func:`describe`'s argument list put before its ``CLI Example:``."""
    head, example = doc.split("    CLI Example:", 1)
    return f"{head.rstrip()}\n\n{describe(function)}\n\n    CLI Example:{example}"


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
