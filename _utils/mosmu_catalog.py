"""The release catalog: what MOS publishes where, per (distro, MOS version). Data, not code.

One row per tree an MU plan can use. Every consumer reads the row: the repo-file and pin
renderers (``mosmu_repo``), the mirror sync (``mosmu_mirror``), the node backends
(``mosmu_apt`` / ``mosmu_yum``) and node selection. Nothing else knows a MOS version.

Row fields (``Tree``):

``distro``, ``version``
    the key, e.g. ``("ubuntu", "8.0")`` or ``("ubuntu", "8.0-mu-3")`` (a frozen MU snapshot).
``backend``
    ``apt`` or ``yum``: which package backend a node uses for the tree.
``upstream``
    the tree's path below ``mosmu:mirror_upstream`` (rsync module root).
``path``
    the tree's path below ``mosmu:mirror_root`` on the master, and below ``repo_url`` for
    the nodes. mosmu keeps upstream's own relative path, so one master serves several MOS
    versions side by side (the old tool's local paths collided: see tests/unit/test_catalog).
``repos``
    the MU repos the tree offers (``updates`` always; 5.1.1 and 6.0 offer nothing else).
``suite``
    apt: the suite of a repo (``dists/<suite>``); yum: the repo's directory inside the tree
    (where ``repodata/`` is). ``{repo}`` is replaced by the repo name.
``components``
    apt components of every suite (``main restricted``); empty for yum.
``repo_file``, ``repo_text``
    name and text template of the repo file a node gets per repo. Placeholders:
    ``{repo} {suite} {base} {path} {components} {options} {gpgcheck} {gpgkey}``.
``priority``
    apt pin priority per repo (Fuel's from 6.1 on: 1050, holdback 1100; none for 5.1.1 and
    6.0, as Fuel and the old tool had none); yum ignores it.
``upgrade``
    apt: ``upgrade`` or ``dist-upgrade`` (the old tool used dist-upgrade for 5.1.1 only);
    yum: ``update``.
``key``
    ASCII-armoured public key that signs the tree, or None (then nodes need ``trusted``).

Operators add or override rows in the master config without code::

    mosmu:
      catalog:
        ubuntu/8.0:                 # override: only the fields given change
          upstream: mirror/internal/mos-8.0
        ubuntu/8.0-mu-7:            # a new row: based on the ubuntu/8.0 row
          base: ubuntu/8.0
          upstream: mos-repos/ubuntu/8.0-mu-7
          path: mos-repos/ubuntu/8.0-mu-7
"""

import dataclasses
import string

import mosmu_validate

REPOS = ("updates", "security", "proposed", "holdback")
DEFAULT_REPOS = ("updates",)
# Each distro: the os_family grain of its nodes and its package backend. The one map from a
# node's os_family to its distro (the execution module and the formula's map.jinja ask
# ``mosmu.distro``).
DISTROS = {"ubuntu": {"os_family": "Debian", "backend": "apt"},
           "centos": {"os_family": "RedHat", "backend": "yum"}}
BACKENDS = tuple(d["backend"] for d in DISTROS.values())
UPGRADE_VERBS = {"apt": ("upgrade", "dist-upgrade"), "yum": ("update",)}
TEMPLATE_FIELDS = frozenset(("repo", "suite", "base", "path", "components", "options",
                             "gpgcheck", "gpgkey"))

# Fuel's own apt pinning (openstack.yaml repo priorities, MOS 6.1 and later): MU suites 1050,
# holdback 1100. MOS 5.1.1 and 6.0 had no pin (neither Fuel nor the old tool): their rows pin
# nothing, since a pin above 1000 would let apt *downgrade* a package that is newer on the
# node than in the MU tree.
APT_PRIORITY = {"updates": 1050, "security": 1050, "proposed": 1050, "holdback": 1100}
NO_PIN = {}

BACKEND_DEFAULTS = {
    "apt": {
        "components": "main restricted",
        "repo_file": "mos-{repo}.list",
        "repo_text": "deb {options}{base}/{path} {suite} {components}\n",
        "priority": APT_PRIORITY,
        "upgrade": "upgrade",
    },
    "yum": {
        "components": "",
        "repo_file": "mos-{repo}.repo",
        "repo_text": ("[mos-{repo}]\nname=mos-{repo}\nbaseurl={base}/{path}/{suite}/\n"
                      "gpgcheck={gpgcheck}\n{gpgkey}enabled=1\nskip_if_unavailable=0\n"),
        "priority": {},
        "upgrade": "update",
    },
}

def distro_of(os_family):
    """The distro of a node whose ``os_family`` grain is this (Ubuntu when unknown, as
    Fuel's default)."""
    return next((name for name, d in DISTROS.items() if d["os_family"] == os_family),
                "ubuntu")


def _ubuntu(version, upstream, suite, repos=REPOS, **extra):
    return dict(distro="ubuntu", version=version, backend="apt", upstream=upstream,
                path=upstream, suite=suite, repos=repos, **extra)


def _centos(version, upstream, suite, repos=("updates", "security", "proposed")):
    return dict(distro="centos", version=version, backend="yum", upstream=upstream,
                path=upstream, suite=suite, repos=repos)


# Values from the old tool's Updater511/60/61/70/80 classes (reference/mos_apply_mu.py),
# FUEL.md 4.2 (9.x trees, mu-N snapshots) and mos_mu's vars/mos_releases/*.yml.
ROWS = [
    _ubuntu("5.1.1", "fwm/5.1.1/updates/ubuntu", "precise", repos=("updates",),
            upgrade="dist-upgrade", priority=NO_PIN),
    _centos("5.1.1", "fwm/5.1.1/updates/centos", "os/x86_64", repos=("updates",)),
    _ubuntu("6.0", "fwm/6.0/updates/ubuntu", "precise", repos=("updates",), priority=NO_PIN),
    _centos("6.0", "fwm/6.0/updates/centos", "os/x86_64", repos=("updates",)),
    _ubuntu("6.1", "mos/ubuntu", "mos6.1-{repo}"),
    _centos("6.1", "mos/centos-6/mos6.1", "{repo}"),
    _ubuntu("7.0", "mos-repos/ubuntu/7.0", "mos7.0-{repo}"),
    _centos("7.0", "mos-repos/centos/mos7.0-centos6-fuel", "{repo}"),
    _ubuntu("8.0", "mos-repos/ubuntu/8.0", "mos8.0-{repo}"),
    _centos("8.0", "mos-repos/centos/mos8.0-centos7-fuel", "{repo}"),
    _ubuntu("9.0", "mos-repos/ubuntu/9.0", "mos9.0-{repo}"),
    _ubuntu("9.1", "mos-repos/ubuntu/9.1", "mos9.0-{repo}"),
    _ubuntu("9.2", "mos-repos/ubuntu/9.2", "mos9.0-{repo}"),
]
# Frozen per-MU snapshots: updates, security and holdback (no proposed) under <ver>-mu-<N>.
_MU_SNAPSHOTS = {"7.0": range(1, 9), "8.0": range(1, 7), "9.2": range(2, 6)}
ROWS += [_ubuntu(f"{ver}-mu-{n}", f"mos-repos/ubuntu/{ver}-mu-{n}",
                 f"mos{'9.0' if ver.startswith('9.') else ver}-{{repo}}",
                 repos=("updates", "security", "holdback"))
         for ver, numbers in _MU_SNAPSHOTS.items() for n in numbers]


@dataclasses.dataclass(frozen=True)
class Tree:
    """One catalog row (see the module docstring for each field)."""

    distro: str
    version: str
    backend: str
    upstream: str
    path: str
    repos: tuple
    suite: str
    components: str
    repo_file: str
    repo_text: str
    priority: tuple          # ((repo, priority), ...), hashable
    upgrade: str
    key: str = None

    @property
    def name(self):
        return f"{self.distro}/{self.version}"

    def suite_of(self, repo):
        """apt suite or yum repo directory of ``repo`` in this tree."""
        return self.suite.format(repo=repo)

    def priority_of(self, repo):
        return dict(self.priority).get(repo)

    def file_of(self, repo):
        return self.repo_file.format(repo=repo)

    def offered(self, repos):
        """``(kept, dropped)``: ``updates`` first, then the requested repos this tree has."""
        kept = [r for r in normalise_repos(repos) if r in self.repos]
        return kept, [r for r in normalise_repos(repos) if r not in self.repos]


def _template(value, field):
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError(f"{field} must be a string")
    for _text, name, spec, conv in string.Formatter().parse(value):
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conv:
            raise ValueError(f"{field} {value!r}: placeholder {{{name}}} is not one of "
                             f"{', '.join(sorted(TEMPLATE_FIELDS))}")
    return value


def _row(data, where):
    """Validate a row dict (defaults of its backend filled in) into a :class:`Tree`."""
    try:
        backend = data.get("backend")
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
        row = dict(BACKEND_DEFAULTS[backend], **data)
        unknown = set(row) - {f.name for f in dataclasses.fields(Tree)}
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
        if row["distro"] not in DISTROS:
            raise ValueError(f"distro {row['distro']!r} is not one of {', '.join(DISTROS)}")
        mosmu_validate.mos_version(row["version"])
        for key in ("upstream", "path"):
            row[key] = mosmu_validate.relpath(row[key], key)
        repos = row["repos"]
        if isinstance(repos, str) or not isinstance(repos, (list, tuple)) or not repos:
            raise ValueError("repos must be a non-empty list")
        row["repos"] = tuple(normalise_repos(repos))
        if tuple(repos) != row["repos"] and "updates" not in repos:
            raise ValueError("repos must include updates")
        row["suite"] = _template(row["suite"], "suite")
        for repo in row["repos"]:
            mosmu_validate.relpath(row["suite"].format(repo=repo), "suite")
        if not isinstance(row["components"], str) or not all(
                mosmu_validate.word(c, "component") for c in row["components"].split()):
            raise ValueError("components must be words separated by spaces")
        row["repo_text"] = _template(row["repo_text"], "repo_text")
        row["repo_file"] = _template(row["repo_file"], "repo_file")
        for repo in row["repos"]:
            mosmu_validate.filename(row["repo_file"].format(repo=repo), "repo_file")
        priority = dict(row["priority"])
        for repo, value in priority.items():
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 10000:
                raise ValueError(f"priority of {repo} must be an integer 1..9999")
        row["priority"] = tuple(sorted(priority.items()))
        if row["upgrade"] not in UPGRADE_VERBS[backend]:
            raise ValueError(f"upgrade {row['upgrade']!r} is not one of "
                             f"{', '.join(UPGRADE_VERBS[backend])} for {backend}")
        if row.get("key") is not None and (not isinstance(row["key"], str) or
                                           "BEGIN PGP PUBLIC KEY BLOCK" not in row["key"]):
            raise ValueError("key must be an ASCII-armoured public key")
        return Tree(**row)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"catalog row {where}: {err}") from err


def normalise_repos(repos):
    """``updates`` first, then the requested extra repos, each known, no duplicates."""
    out = list(DEFAULT_REPOS)
    for repo in repos or ():
        if repo not in REPOS:   # REPOS are plain words: nothing else gets through
            raise ValueError(f"unknown repo {repo!r}; choose from {', '.join(REPOS)}")
        if repo not in out:
            out.append(repo)
    return out


class Catalog:
    """The built-in rows, with the master config's ``mosmu:catalog`` overrides applied."""

    def __init__(self, overrides=None, default_key=None):
        """:param overrides: ``mosmu:catalog`` rows (see the module docstring)
        :param default_key: armoured key (``mosmu:mirror_key``) for rows without their own
        """
        rows = {f"{r['distro']}/{r['version']}": dict(r) for r in ROWS}
        if overrides is not None and not isinstance(overrides, dict):
            raise ValueError("mosmu:catalog must be a mapping of distro/version: fields")
        for key, fields in (overrides or {}).items():
            if not isinstance(fields, dict):
                raise ValueError(f"mosmu:catalog:{key} must be a mapping of fields")
            fields = dict(fields)
            base = fields.pop("base", None)
            distro, _, version = str(key).partition("/")
            if base is not None:
                if base not in rows:
                    raise ValueError(f"mosmu:catalog:{key}: base {base!r} is not a row")
                rows[key] = dict(rows[base], distro=distro, version=version, **fields)
            elif key in rows:
                rows[key].update(fields)
            else:
                rows[key] = dict(fields, distro=distro, version=version)
        if default_key is not None:
            for data in rows.values():
                if data.get("key") is None:
                    data["key"] = default_key
        self._rows = {key: _row(data, key) for key, data in rows.items()}

    def rows(self):
        return [self._rows[k] for k in sorted(self._rows)]

    def get(self, distro, version):
        """The row of ``(distro, version)``; ``ValueError`` names what is supported."""
        row = self._rows.get(f"{distro}/{version}")
        if row is None:
            known = sorted(r.version for r in self._rows.values() if r.distro == distro)
            if not known:
                raise ValueError(f"{distro or 'unknown'} nodes are not supported (distros: "
                                 f"{', '.join(DISTROS)})")
            raise ValueError(f"MOS {version} on {distro} is not in the catalog; known: "
                             f"{', '.join(known)} (add a row under mosmu:catalog)")
        return row


def mos_version_of_release(release):
    """MOS version of a Nailgun release: ``liberty-8.0`` -> ``8.0``, ``2014.1`` -> ``5.0``.

    Nailgun's ``Release.environment_version`` (``version.split('-')[1]``); without a dash the
    whole version, where Nailgun gives ``''`` (either way no catalog row unless it is one).
    """
    version = release.get("version")
    if not isinstance(version, str):
        raise ValueError(f"release version {version!r} is not a string")
    if version == "2014.1":
        return "5.0"
    return version.split("-")[1] if "-" in version else version


def distro_of_release(release):
    """Target OS of a release, ``ubuntu`` or ``centos`` (from ``operating_system``)."""
    value = release.get("operating_system")
    if not isinstance(value, str):
        raise ValueError(f"release operating_system {value!r} is not a string")
    return value.lower()
