"""What one run carries: its selection and each environment's plan, built once, passed whole.

The runner builds a :class:`Selection` from Nailgun, the request and the master's config
(``_runners/mosmu.py`` ``_select``); each environment it acts on has an :class:`EnvPlan`:
the :class:`mosmu_plan.Plan` its nodes receive, the catalog tree that plan comes from (looked
up once), the repos the row lacks, its finishing rules and Nailgun's view of its nodes. Once
the mirror is checked, :meth:`EnvPlan.pinned` points the plan at the snapshot published then,
so that a publish during the run cannot change what a later wave installs. While the
waves run, the :class:`Report` collects each node's entry, each environment's steps, the
waves' times and why the run stopped; :meth:`Report.to_return` is what the runner returns.
"""

import collections.abc
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


class Report(collections.abc.MutableMapping):
    """An update's or a status's report while it is built.

    The mapping itself holds one entry per node, keyed by its admin IP (``mosmu_report``
    builds them); :attr:`envs` each environment's result and steps (:meth:`env_step`);
    :attr:`waves` each wave's environment, nodes and seconds; :attr:`interrupted` what
    stopped the run (Ctrl-C, SIGTERM), or None. :meth:`to_return` is the runner's return.
    """

    def __init__(self):
        self.nodes, self.envs, self.waves, self.interrupted = {}, {}, [], None

    def __getitem__(self, ip):
        return self.nodes[ip]

    def __setitem__(self, ip, entry):
        self.nodes[ip] = entry

    def __delitem__(self, ip):
        del self.nodes[ip]

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self):
        return len(self.nodes)

    def env_step(self, env, step):
        """Add a step (``{"name", "result", "summary", "problems"}``) to the environment's
        steps; a ``FAILED`` step makes the environment ``FAIL``."""
        data = self.envs.setdefault(env, {"result": "OK", "steps": []})
        data["steps"].append(step)
        if step["result"] == "FAILED":
            data["result"] = "FAIL"

    def env_failed(self, env):
        return self.envs.get(env, {}).get("result") == "FAIL"

    def env_failures(self):
        """Environments whose result is ``FAIL`` (each counts once for ``max_failures``)."""
        return sum(1 for data in self.envs.values() if data["result"] == "FAIL")

    def to_return(self, **run):
        """The runner's return: the node entries by IP, then ``envs``, ``waves`` and
        ``interrupted`` when the run has them, then ``run``'s keys (``skipped``, ``summary``,
        ``retcode``...)."""
        out = dict(self.nodes)
        if self.envs:
            out["envs"] = self.envs
        if self.waves:
            out["waves"] = self.waves
        if self.interrupted is not None:
            out["interrupted"] = self.interrupted
        out.update(run)
        return out
