"""The plan a node receives: one small object, built by the runner, read by the state.

The runner builds a :class:`Plan` per environment from its catalog row and sends it as
inline pillar ``mosmu:`` (``to_pillar()``); ``map.jinja``/``init.sls`` pass the pillar
whole to ``mosmu.updated``, which rebuilds it with ``from_pillar()``. A static highstate
pillar may give the short form (``mos_version``, ``repo_url``, ``repos``, ``distro``,
``trusted``): the rest then comes from the built-in catalog. Adding a field is one edit here.
"""

import dataclasses

import mosmu_catalog
import mosmu_validate

SHORT_KEYS = ("mos_version", "distro", "repo_url", "repos", "trusted")


@dataclasses.dataclass(frozen=True)
class Repo:
    """One MU repo of a plan: apt suite (or yum repo dir), pin priority, repo file name."""

    name: str
    suite: str
    file: str
    priority: int = None


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one node needs to apply its MU: everything is validated on construction."""

    mos_version: str
    distro: str
    backend: str
    repo_url: str
    path: str
    repos: tuple
    components: str
    repo_text: str
    upgrade: str
    trusted: bool = False
    key: str = None

    def __post_init__(self):
        mosmu_validate.mos_version(self.mos_version)
        mosmu_validate.word(self.distro, "distro")
        if self.backend not in mosmu_catalog.BACKENDS:
            raise ValueError(f"backend {self.backend!r} is not one of "
                             f"{', '.join(mosmu_catalog.BACKENDS)}")
        mosmu_validate.url(self.repo_url, "repo_url")
        mosmu_validate.relpath(self.path, "path")
        if not self.repos or not all(isinstance(r, Repo) for r in self.repos):
            raise ValueError("a plan needs at least one repo")
        for repo in self.repos:
            mosmu_validate.word(repo.name, "repo")
            mosmu_validate.relpath(repo.suite, "suite")
            mosmu_validate.filename(repo.file, "repo file")
            if repo.priority is not None and (isinstance(repo.priority, bool) or
                                              not isinstance(repo.priority, int)):
                raise ValueError(f"priority of {repo.name} must be an integer")
        for component in self.components.split():
            mosmu_validate.word(component, "component")
        mosmu_catalog._template(self.repo_text, "repo_text")  # pylint: disable=protected-access
        if self.upgrade not in mosmu_catalog.UPGRADE_VERBS[self.backend]:
            raise ValueError(f"upgrade {self.upgrade!r} is not valid for {self.backend}")
        if not isinstance(self.trusted, bool):
            raise ValueError(f"trusted {self.trusted!r} is not a boolean")

    @property
    def repo_names(self):
        return [r.name for r in self.repos]

    @classmethod
    def build(cls, tree, repo_url, repos=None, trusted=False):
        """The plan for catalog row ``tree``, with the requested repos it offers.

        :param tree: a :class:`mosmu_catalog.Tree`
        :param repo_url: the master's web root as nodes reach it
        :param repos: extra repos wanted besides ``updates`` (unoffered ones are dropped:
            see ``Tree.offered``)
        :param trusted: nodes skip signature checks (unsigned mirrors only); a bool, never
            coerced (a pillar string ``"no"`` would be true)
        """
        kept, _dropped = tree.offered(repos)
        return cls(mos_version=tree.version, distro=tree.distro, backend=tree.backend,
                   repo_url=mosmu_validate.url(repo_url, "repo_url"), path=tree.path,
                   repos=tuple(Repo(r, tree.suite_of(r), tree.file_of(r), tree.priority_of(r))
                               for r in kept),
                   components=tree.components, repo_text=tree.repo_text,
                   upgrade=tree.upgrade, trusted=trusted, key=tree.key)

    def to_pillar(self):
        """Plain data for pillar ``mosmu:`` (and the job cache: no secret in it)."""
        data = dataclasses.asdict(self)
        data["repos"] = [dataclasses.asdict(r) for r in self.repos]
        return data

    @classmethod
    def from_pillar(cls, data, catalog=None):
        """Rebuild and validate a plan from pillar; ``ValueError`` names the bad key.

        The short form (only ``SHORT_KEYS``) is completed from ``catalog`` (default: the
        built-in catalog), so a hand-written highstate pillar stays small.
        """
        if not isinstance(data, dict):
            raise ValueError("pillar mosmu: must be a mapping")
        data = {k: v for k, v in data.items() if k != "lookup" and v is not None}
        for key in ("mos_version", "repo_url"):
            if key not in data:
                raise ValueError(f"pillar mosmu:{key} is missing; the runner passes it, for "
                                 "highstate set it in pillar (see pillar.example)")
        repos = data.get("repos") or []
        if "backend" not in data:
            unknown = set(data) - set(SHORT_KEYS)
            if unknown:
                raise ValueError(f"unknown pillar key(s) mosmu:{', mosmu:'.join(sorted(unknown))}")
            tree = (catalog or mosmu_catalog.Catalog()).get(
                mosmu_validate.word(data.get("distro", "ubuntu"), "distro"),
                mosmu_validate.mos_version(data["mos_version"]))
            if isinstance(repos, str):
                repos = [r.strip() for r in repos.split(",") if r.strip()]
            return cls.build(tree, data["repo_url"], repos, data.get("trusted", False))
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise ValueError(f"unknown pillar key(s) mosmu:{', mosmu:'.join(sorted(unknown))}")
        if not isinstance(repos, list) or not all(isinstance(r, dict) for r in repos):
            raise ValueError("pillar mosmu:repos must be a list of repo mappings")
        try:
            data = dict(data, mos_version=mosmu_validate.mos_version(data["mos_version"]),
                        repos=tuple(Repo(**r) for r in repos))
            return cls(**data)
        except TypeError as err:
            raise ValueError(f"pillar mosmu: does not describe a plan ({err})") from err


def env_plan(inventory, env_id, catalog, repo_url, mos_version=None, repos=None,
             trusted=False):
    """The plan of one environment: its release's catalog row and the repos it offers.

    :param inventory: ``FuelClient.inventory()`` result
    :param env_id: the environment (cluster) id
    :param catalog: a :class:`mosmu_catalog.Catalog`
    :param repo_url: the master's web root as nodes reach it
    :param mos_version: explicit override; default from the environment's release
    :param repos: extra repos wanted (``security``, ``proposed``, ``holdback``)
    :return: ``(plan, dropped)``: dropped are requested repos the tree does not offer
    :raise ValueError: naming the environment and what to fix
    """
    cluster = next(c for c in inventory["clusters"] if c["id"] == env_id)
    release = next((r for r in inventory["releases"] if r.get("id") == cluster.get("release_id")),
                   None)
    if release is None:
        raise ValueError(f"environment {env_id} refers to release {cluster.get('release_id')!r}, "
                         "which Nailgun does not list; give mos_version= explicitly")
    try:
        version = mosmu_validate.mos_version(
            mos_version if mos_version is not None
            else mosmu_catalog.mos_version_of_release(release))
        tree = catalog.get(mosmu_catalog.distro_of_release(release), version)
        _kept, dropped = tree.offered(repos)
        return Plan.build(tree, repo_url, repos, trusted), dropped
    except ValueError as err:
        raise ValueError(f"environment {env_id} ({release.get('name')}): {err}") from err
