"""What one run carries: its selection and each environment's plan, built once, passed whole.

The runner builds a :class:`Selection` from Nailgun, the request and the master's config
(``_runners/mosmu.py`` ``_select``); each environment it acts on has an :class:`EnvPlan`:
the :class:`mosmu_plan.Plan` its nodes receive, the catalog tree that plan comes from (looked
up once), the repos the row lacks, its finishing rules and Nailgun's view of its nodes. Once
the mirror is checked, :meth:`EnvPlan.pinned` points the plan at the snapshot published then,
so that a publish during the run cannot change what a later wave installs.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class EnvPlan:
    """One environment of the run.

    ``plan``: the ``mosmu_plan.Plan`` its nodes get; ``tree``: its ``mosmu_catalog.Tree``;
    ``dropped``: requested repos the tree does not offer; ``finish``: its
    ``mosmu_finish.Finish`` rules; ``env_nodes``: every deployed node of the environment as
    Nailgun lists it (the health checks read them all, selected or not).
    """

    plan: object
    tree: object
    dropped: tuple
    finish: object
    env_nodes: tuple

    def pinned(self, snapshot):
        """This environment with its plan pointed at ``snapshot`` (a path under the repo URL)."""
        return dataclasses.replace(self, plan=dataclasses.replace(self.plan, path=snapshot))


@dataclasses.dataclass(frozen=True)
class Selection:
    """The run's nodes: ``envs`` chosen (ids, in order), ``env_plans`` (``{env: EnvPlan}``,
    those with a plan), ``selected`` node dicts (mapped to a minion or ssh, with
    ``transport``), and ``skipped`` (``{id, ip, env, reason, failed}`` each; a run adds the
    nodes ``retry_failed`` leaves out)."""

    envs: tuple
    env_plans: dict
    selected: list
    skipped: list

    def trees(self):
        """``{tree name: (tree, repos)}``: each catalog tree once, with every repo a plan of
        this run needs from it."""
        wanted = {}
        for env_plan in self.env_plans.values():
            repos = wanted.setdefault(env_plan.tree.name, (env_plan.tree, []))[1]
            repos += [r for r in env_plan.plan.repo_names if r not in repos]
        return wanted

    def failed_skips(self):
        """The skipped nodes that count as failures (no plan for their environment...)."""
        return [s for s in self.skipped if s.get("failed")]
