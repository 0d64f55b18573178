"""mosmu_run: what a run carries is built once and passed whole.

Rules: each catalog tree is synced and checked once with every repo its environments need;
pinning points a plan at one snapshot and changes nothing else; the skipped nodes that count
as failures are those marked so.
"""

import mosmu_catalog
import mosmu_finish
import mosmu_plan
import mosmu_run

CATALOG = mosmu_catalog.Catalog()


def env_plan(distro, version, repos=()):
    tree = CATALOG.get(distro, version)
    plan = mosmu_plan.Plan.build(tree, "http://10.20.0.2:8080", list(repos))
    return mosmu_run.EnvPlan(plan, tree, (), mosmu_finish.load(distro, version), ())


def test_each_tree_once_with_every_repo_its_environments_need():
    sel = mosmu_run.Selection((1, 2, 3), {1: env_plan("ubuntu", "8.0"),
                                          2: env_plan("ubuntu", "8.0", ["security"]),
                                          3: env_plan("centos", "6.1")}, [], [])
    trees = sel.trees()
    ubuntu = CATALOG.get("ubuntu", "8.0")
    assert trees[ubuntu.name] == (ubuntu, ["updates", "security"])
    assert list(trees) == [ubuntu.name, CATALOG.get("centos", "6.1").name]


def test_pinning_points_the_plan_at_the_snapshot_and_keeps_the_rest():
    env = env_plan("ubuntu", "8.0")
    pinned = env.pinned(".snapshots/mos-repos/ubuntu/8.0/7")
    assert pinned.plan.path == ".snapshots/mos-repos/ubuntu/8.0/7"
    assert pinned.plan.repo_names == env.plan.repo_names and pinned.tree == env.tree
    assert env.plan.path != pinned.plan.path                 # the original is unchanged


def test_failed_skips_are_the_skipped_nodes_marked_failed():
    skipped = [{"id": 1, "reason": "offline"}, {"id": 2, "reason": "no row", "failed": True}]
    assert mosmu_run.Selection((), {}, [], skipped).failed_skips() == [skipped[1]]


# -- the report: node entries by IP, environments' steps, waves, then the run's keys -----------

def test_a_failed_step_fails_its_environment_once():
    report = mosmu_run.Report()
    report.env_step(1, {"name": "checks", "result": "passed", "summary": "", "problems": []})
    assert not report.env_failed(1) and report.env_failures() == 0
    for _ in range(2):
        report.env_step(1, {"name": "ceph", "result": "FAILED", "summary": "", "problems": []})
    report.env_step(2, {"name": "checks", "result": "would", "summary": "", "problems": []})
    assert report.env_failed(1) and not report.env_failed(2) and report.env_failures() == 1
    assert [s["name"] for s in report.envs[1]["steps"]] == ["checks", "ceph", "ceph"]


def test_the_return_holds_the_entries_then_only_the_run_level_keys_it_has():
    report = mosmu_run.Report()
    report["10.20.0.3"] = {"result": "OK"}
    report.update({"10.20.0.4": {"result": "SKIPPED"}})
    assert list(report) == ["10.20.0.3", "10.20.0.4"] and "10.20.0.4" in report
    assert report.to_return(retcode=0) == {"10.20.0.3": {"result": "OK"},
                                          "10.20.0.4": {"result": "SKIPPED"}, "retcode": 0}
    report.waves.append({"env": 1, "wave": 1, "nodes": [1], "seconds": 1.0})
    report.interrupted = "SIGINT"
    report.env_step(1, {"name": "checks", "result": "passed", "summary": "", "problems": []})
    out = report.to_return(summary={"OK": 1}, retcode=2)
    assert list(out)[2:] == ["envs", "waves", "interrupted", "summary", "retcode"]
