"""The plan object: built from a catalog row, sent whole as pillar, rebuilt and validated."""

import pytest

import mosmu_catalog
import mosmu_plan
from sandbox import inventory as inv

CATALOG = mosmu_catalog.Catalog()


def test_env_plan_takes_version_from_release_and_override():
    data = inv.default(1)
    plan, dropped = mosmu_plan.env_plan(data, 1, CATALOG, "http://10.20.0.2:8080",
                                        repos=["security", "updates", "security"])
    assert (plan.mos_version, plan.distro, plan.backend) == ("8.0", "ubuntu", "apt")
    assert plan.repo_names == ["updates", "security"] and dropped == []
    assert [r.suite for r in plan.repos] == ["mos8.0-updates", "mos8.0-security"]
    plan, _ = mosmu_plan.env_plan(data, 1, CATALOG, "http://10.20.0.2:8080", mos_version=9.2)
    assert [r.suite for r in plan.repos] == ["mos9.0-updates"]
    assert plan.path == "mos-repos/ubuntu/9.2"


def test_env_plan_names_unsupported_pairs():
    data = inv.default(1)
    with pytest.raises(ValueError, match=r"MOS 9\.0 on centos is not in the catalog"):
        data["clusters"][0]["release_id"] = 1   # Liberty on CentOS 6.5 forced to 9.0
        mosmu_plan.env_plan(data, 1, CATALOG, "http://10.20.0.2:8080", mos_version="9.0")


def test_repos_a_tree_does_not_offer_are_dropped_and_reported():
    tree = CATALOG.get("ubuntu", "6.0")
    plan = mosmu_plan.Plan.build(tree, "http://10.20.0.2:8080", ["security", "holdback"])
    assert plan.repo_names == ["updates"]
    assert tree.offered(["security", "holdback"]) == (["updates"], ["security", "holdback"])


@pytest.mark.parametrize("key", [r.name for r in CATALOG.rows()])
def test_pillar_round_trip_is_identity_for_every_catalog_row(key):
    tree = CATALOG.get(*key.split("/"))
    plan = mosmu_plan.Plan.build(tree, "http://10.20.0.2:8080", list(tree.repos), trusted=True)
    assert mosmu_plan.Plan.from_pillar(plan.to_pillar()) == plan


def test_short_pillar_form_is_completed_from_the_catalog():
    plan = mosmu_plan.Plan.from_pillar({"mos_version": 6.1, "distro": "centos",
                                        "repo_url": "http://10.20.0.2:8080",
                                        "repos": "updates,security", "lookup": {}})
    assert plan.backend == "yum" and plan.path == "mos/centos-6/mos6.1"
    assert [(r.name, r.suite, r.file) for r in plan.repos] == [
        ("updates", "updates", "mos-updates.repo"), ("security", "security", "mos-security.repo")]


@pytest.mark.parametrize("change, needle", [
    ({"repo_url": "http://10.20.0.2:8080\n"}, "repo_url"),
    ({"path": "../../etc"}, "path"),
    ({"repos": [{"name": "updates", "suite": "mos8.0-updates",
                 "file": "../../etc/passwd", "priority": 1050}]}, "repo file"),
    ({"repos": [{"name": "updates", "suite": "x y", "file": "a.list"}]}, "suite"),
    ({"repo_text": "deb {base.__class__}"}, "placeholder"),
    ({"upgrade": "install evil"}, "upgrade"),
    ({"trusted": "yes"}, "trusted"),
    ({"surprise": 1}, "unknown pillar key"),
    ({"mos_version": "8.0\n"}, "MOS version"),
])
def test_hostile_pillar_values_are_refused(change, needle):
    plan = mosmu_plan.Plan.build(CATALOG.get("ubuntu", "8.0"), "http://10.20.0.2:8080")
    with pytest.raises(ValueError, match=needle):
        mosmu_plan.Plan.from_pillar(dict(plan.to_pillar(), **change))
