"""The plan a node receives: built from a catalog row, sent whole as pillar, rebuilt and
validated.

The plan is what a node receives as pillar and trusts: every field is validated when the plan
is built and again when a node rebuilds it (``from_pillar``), so a hostile or mistyped pillar
never reaches apt, yum or a repo file. ``trusted`` in particular is a real bool, never coerced.
"""

import re

import pytest

import mosmu_catalog
import mosmu_plan
from mosmu_plan import Plan, Repo
from sandbox import inventory as inv

CATALOG = mosmu_catalog.Catalog()
URL = "http://10.20.0.2:8080"
KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF\n-----END PGP PUBLIC KEY BLOCK-----\n"
_DROP = object()
APT_TEXT = "deb {options}{base}/{path} {suite} {components}\n"


def _names(message, *words):
    """The message names each word as a word of its own (the field / key to fix)."""
    for word in words:
        assert re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", message), (word, message)


def _refused(call, *words):
    with pytest.raises(ValueError) as err:
        call()
    _names(str(err.value), *words)
    return str(err.value)


# --- built from a catalog row: the pillar is the spec, field by field ----------------------

def test_apt_plan_pillar_is_exactly_the_spec():
    plan = Plan.build(CATALOG.get("ubuntu", "8.0"), URL + "/", ["holdback", "security"])
    assert plan.to_pillar() == {
        "mos_version": "8.0", "distro": "ubuntu", "backend": "apt", "repo_url": URL,
        "path": "mos-repos/ubuntu/8.0",
        "repos": [
            {"name": "updates", "suite": "mos8.0-updates", "file": "mos-updates.list",
             "priority": 1050},
            {"name": "holdback", "suite": "mos8.0-holdback", "file": "mos-holdback.list",
             "priority": 1100},
            {"name": "security", "suite": "mos8.0-security", "file": "mos-security.list",
             "priority": 1050},
        ],
        "components": "main restricted", "repo_text": APT_TEXT, "upgrade": "upgrade",
        "trusted": False, "key": None,
    }
    assert plan.repo_names == ["updates", "holdback", "security"]


def test_yum_plan_pillar_is_exactly_the_spec():
    plan = Plan.build(CATALOG.get("centos", "7.0"), URL, ["proposed"], trusted=True)
    data = plan.to_pillar()
    assert data.pop("repo_text").startswith("[mos-{repo}]\n")
    assert data == {
        "mos_version": "7.0", "distro": "centos", "backend": "yum", "repo_url": URL,
        "path": "mos-repos/centos/mos7.0-centos6-fuel",
        "repos": [
            {"name": "updates", "suite": "updates", "file": "mos-updates.repo", "priority": None},
            {"name": "proposed", "suite": "proposed", "file": "mos-proposed.repo",
             "priority": None},
        ],
        "components": "", "upgrade": "update", "trusted": True, "key": None,
    }


def test_the_tree_key_goes_into_the_plan_and_survives_the_pillar():
    tree = mosmu_catalog.Catalog(default_key=KEY).get("ubuntu", "9.2")
    plan = Plan.build(tree, URL)
    assert plan.key == KEY and plan.to_pillar()["key"] == KEY
    assert Plan.from_pillar(plan.to_pillar()) == plan


@pytest.mark.parametrize("trusted", [True, False])
def test_trusted_is_kept_through_the_pillar(trusted):
    plan = Plan.build(CATALOG.get("centos", "8.0"), URL, trusted=trusted)
    assert plan.trusted is trusted
    assert Plan.from_pillar(plan.to_pillar()).trusted is trusted


@pytest.mark.parametrize("trusted", ["yes", "no", "false", 1, 0, None, [True]])
def test_build_never_coerces_trusted(trusted):
    """A string "no" is true in Python: it must be refused, not turned into trusted=True."""
    _refused(lambda: Plan.build(CATALOG.get("ubuntu", "8.0"), URL, trusted=trusted), "trusted")


@pytest.mark.parametrize("url", ["ftp://10.20.0.2/", "http://u:p@h/", "http://h/?a=1", "",
                                 None, "http://h/\n"])
def test_build_refuses_a_bad_repo_url_naming_it(url):
    _refused(lambda: Plan.build(CATALOG.get("ubuntu", "8.0"), url), "repo_url", repr(url))


@pytest.mark.parametrize("key", [r.name for r in CATALOG.rows()])
def test_every_catalog_row_survives_the_pillar_unchanged(key):
    tree = CATALOG.get(*key.split("/"))
    plan = mosmu_plan.Plan.build(tree, "http://10.20.0.2:8080", list(tree.repos), trusted=True)
    assert mosmu_plan.Plan.from_pillar(plan.to_pillar()) == plan


def test_repos_a_tree_does_not_offer_are_dropped_and_reported():
    tree = CATALOG.get("ubuntu", "6.0")
    plan = mosmu_plan.Plan.build(tree, "http://10.20.0.2:8080", ["security", "holdback"])
    assert plan.repo_names == ["updates"]
    assert tree.offered(["security", "holdback"]) == (["updates"], ["security", "holdback"])


# --- every field is validated when a plan is made, naming the field ----------------------

GOOD = dict(mos_version="8.0", distro="ubuntu", backend="apt", repo_url=URL,
            path="mos-repos/ubuntu/8.0",
            repos=(Repo("updates", "mos8.0-updates", "mos-updates.list", 1050),),
            components="main restricted", repo_text=APT_TEXT, upgrade="upgrade")


def test_the_good_plan_is_accepted():
    assert Plan(**GOOD).repo_names == ["updates"]
    assert Plan(**dict(GOOD, repos=(Repo("updates", "s", "f.list"),))).repos[0].priority is None
    assert Plan(**dict(GOOD, components="")).components == ""
    assert Plan(**dict(GOOD, backend="yum", upgrade="update")).backend == "yum"
    assert Plan(**dict(GOOD, upgrade="dist-upgrade", trusted=True, key=KEY)).trusted is True


@pytest.mark.parametrize("change, words", [
    ({"mos_version": "8"}, ["'8'"]),
    ({"mos_version": 8}, ["8"]),
    ({"distro": "Ubuntu"}, ["distro", "'Ubuntu'"]),
    ({"distro": "ubuntu;rm"}, ["distro"]),
    ({"backend": "zypper"}, ["backend", "'zypper'", "apt", "yum"]),
    ({"backend": None}, ["backend", "None"]),
    ({"repo_url": "file:///etc"}, ["repo_url", "'file:///etc'"]),
    ({"path": "/var/www"}, ["path", "'/var/www'"]),
    ({"path": "mos/../../etc"}, ["path"]),
    ({"repos": ()}, ["repo"]),
    ({"repos": []}, ["repo"]),
    ({"repos": None}, ["repo"]),
    ({"repos": ({"name": "updates", "suite": "s", "file": "f.list"},)}, ["repo"]),
    ({"repos": (Repo("updates", "s", "f.list"), "security")}, ["repo"]),
    ({"repos": (Repo("Updates", "s", "f.list"),)}, ["repo", "'Updates'"]),
    ({"repos": (Repo("updates", "../s", "f.list"),)}, ["suite", "'../s'"]),
    ({"repos": (Repo("updates", "s", "../f.list"),)}, ["repo file", "'../f.list'"]),
    ({"repos": (Repo("updates", "s", ".f.list"),)}, ["repo file"]),
    ({"repos": (Repo("updates", "s", "f.list", True),)}, ["priority", "updates"]),
    ({"repos": (Repo("updates", "s", "f.list", "1050"),)}, ["priority", "updates"]),
    ({"repos": (Repo("updates", "s", "f.list", 1050.0),)}, ["priority", "updates"]),
    ({"components": "main Restricted"}, ["component", "'Restricted'"]),
    ({"components": "main;rm"}, ["component"]),
    ({"repo_text": "deb {evil}"}, ["repo_text", "{evil}"]),
    ({"repo_text": "deb {base!r}"}, ["repo_text"]),
    ({"repo_text": None}, ["repo_text"]),
    ({"upgrade": "install"}, ["upgrade", "'install'", "apt"]),
    ({"backend": "yum"}, ["upgrade", "'upgrade'", "yum"]),
    ({"trusted": "no"}, ["trusted", "'no'"]),
    ({"trusted": 0}, ["trusted"]),
])
def test_every_plan_field_is_validated_naming_it(change, words):
    _refused(lambda: Plan(**dict(GOOD, **change)), *words)


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
def test_hostile_pillar_values_are_refused_naming_the_field(change, needle):
    plan = mosmu_plan.Plan.build(CATALOG.get("ubuntu", "8.0"), "http://10.20.0.2:8080")
    with pytest.raises(ValueError, match=needle):
        mosmu_plan.Plan.from_pillar(dict(plan.to_pillar(), **change))


# --- rebuilt on the node (from_pillar): long or short form, nothing coerced -------------

def _pillar(**change):
    data = Plan.build(CATALOG.get("ubuntu", "8.0"), URL, ["security"]).to_pillar()
    data.update(change)
    return data


@pytest.mark.parametrize("data", [None, [], "mos_version: 8.0", 8.0, (("mos_version", "8.0"),)])
def test_from_pillar_refuses_a_non_mapping(data):
    _refused(lambda: Plan.from_pillar(data), "mosmu")


@pytest.mark.parametrize("key", ["mos_version", "repo_url"])
@pytest.mark.parametrize("form", ["long", "short"])
def test_from_pillar_refuses_a_missing_key_naming_it_and_the_example(key, form):
    data = _pillar() if form == "long" else {"mos_version": "8.0", "repo_url": URL}
    for absent in (_DROP, None):   # a None value counts as absent
        given = {k: v for k, v in data.items() if k != key}
        if absent is None:
            given[key] = None
        message = _refused(lambda: Plan.from_pillar(given), f"mosmu:{key}")  # noqa: B023
        assert "pillar.example" in message


def test_long_form_unknown_keys_are_all_named():
    _refused(lambda: Plan.from_pillar(_pillar(surprise=1, zz_top=2)),
             "mosmu:surprise", "mosmu:zz_top")


def test_short_form_unknown_keys_are_all_named():
    _refused(lambda: Plan.from_pillar({"mos_version": "8.0", "repo_url": URL, "path": "x",
                                       "upgrade": "upgrade"}), "mosmu:path", "mosmu:upgrade")


@pytest.mark.parametrize("repos", [
    "updates", ["updates"], [{"name": "updates", "suite": "s", "file": "f.list"}, "security"],
    {"name": "updates", "suite": "s", "file": "f.list"},
])
def test_long_form_repos_must_be_a_list_of_mappings(repos):
    _refused(lambda: Plan.from_pillar(_pillar(repos=repos)), "mosmu:repos")


@pytest.mark.parametrize("change", [
    {"repos": [{"name": "updates", "suite": "s", "file": "f.list", "evil": 1}]},
    {"repos": [{"name": "updates"}]},
    {"path": _DROP},
    {"upgrade": _DROP},
])
def test_long_form_that_is_not_a_plan_is_refused(change):
    data = {k: v for k, v in _pillar(**change).items() if v is not _DROP}
    _refused(lambda: Plan.from_pillar(data), "mosmu")


def test_long_form_normalises_a_yaml_float_version():
    plan = Plan.from_pillar(_pillar(mos_version=8.0))
    assert plan.mos_version == "8.0"
    assert plan == Plan.build(CATALOG.get("ubuntu", "8.0"), URL, ["security"])


def test_long_form_ignores_lookup_and_none_values():
    plan = Plan.from_pillar(_pillar(lookup={"x": 1}, key=None, trusted=None))
    assert plan == Plan.build(CATALOG.get("ubuntu", "8.0"), URL, ["security"])


def test_short_form_defaults_to_ubuntu_updates_untrusted():
    plan = Plan.from_pillar({"mos_version": "8.0", "repo_url": URL + "/", "lookup": {"a": 1}})
    assert plan == Plan.build(CATALOG.get("ubuntu", "8.0"), URL)
    assert plan.distro == "ubuntu" and plan.repo_names == ["updates"] and plan.trusted is False


@pytest.mark.parametrize("repos, names", [
    ("security, ,holdback,", ["updates", "security", "holdback"]),
    (["proposed", "updates"], ["updates", "proposed"]),
    ("", ["updates"]),
    ([], ["updates"]),
])
def test_short_form_repos_as_list_or_comma_string(repos, names):
    plan = Plan.from_pillar({"mos_version": "9.0", "repo_url": URL, "repos": repos})
    assert plan.repo_names == names


@pytest.mark.parametrize("trusted", [True, False])
def test_short_form_trusted_is_kept(trusted):
    plan = Plan.from_pillar({"mos_version": "8.0", "repo_url": URL, "trusted": trusted})
    assert plan.trusted is trusted


@pytest.mark.parametrize("trusted", ["yes", "no", "False", 1, 0])
def test_short_form_trusted_must_be_a_bool(trusted):
    _refused(lambda: Plan.from_pillar({"mos_version": "8.0", "repo_url": URL,
                                       "trusted": trusted}), "trusted")


@pytest.mark.parametrize("distro, words", [
    ("Ubuntu", ["distro", "'Ubuntu'"]), ("ubuntu\n", ["distro"]), (5, ["distro"]),
    ("debian", ["debian"]),
])
def test_short_form_distro_is_validated(distro, words):
    _refused(lambda: Plan.from_pillar({"mos_version": "8.0", "repo_url": URL,
                                       "distro": distro}), *words)


@pytest.mark.parametrize("version", ["8", "8.0\n", True, "8.0-mu-99x"])
def test_short_form_version_is_validated(version):
    _refused(lambda: Plan.from_pillar({"mos_version": version, "repo_url": URL}), "MOS")


def test_short_form_is_completed_from_the_given_catalog():
    catalog = mosmu_catalog.Catalog({"ubuntu/8.0": {"path": "internal/mos-8.0"}})
    plan = Plan.from_pillar({"mos_version": "8.0", "repo_url": URL}, catalog)
    assert plan.path == "internal/mos-8.0"
    assert Plan.from_pillar({"mos_version": "8.0", "repo_url": URL}).path == \
        "mos-repos/ubuntu/8.0"


def test_the_short_form_of_a_centos_plan_is_completed_from_the_catalog():
    plan = mosmu_plan.Plan.from_pillar({"mos_version": 6.1, "distro": "centos",
                                        "repo_url": "http://10.20.0.2:8080",
                                        "repos": "updates,security", "lookup": {}})
    assert plan.backend == "yum" and plan.path == "mos/centos-6/mos6.1"
    assert [(r.name, r.suite, r.file) for r in plan.repos] == [
        ("updates", "updates", "mos-updates.repo"), ("security", "security", "mos-security.repo")]


# --- an environment's plan: its release's version and distro, or the override ----------

def _inventory(version="mitaka-9.0", os_name="Ubuntu", release_id=7):
    return {"clusters": [{"id": 2, "release_id": 5}, {"id": 3, "release_id": release_id}],
            "releases": [{"id": 5, "name": "Liberty on CentOS 6.5", "version": "liberty-8.0",
                          "operating_system": "CentOS"},
                         {"id": 7, "name": "Mitaka on Ubuntu 14.04", "version": version,
                          "operating_system": os_name}]}


def test_env_plan_of_the_environments_release():
    plan, dropped = mosmu_plan.env_plan(_inventory(), 3, CATALOG, URL, repos=["security"])
    assert plan == Plan.build(CATALOG.get("ubuntu", "9.0"), URL, ["security"])
    assert plan.trusted is False and dropped == []
    plan, dropped = mosmu_plan.env_plan(_inventory(), 2, CATALOG, URL)
    assert (plan.distro, plan.mos_version, plan.repo_names) == ("centos", "8.0", ["updates"])


def test_env_plan_version_override_and_dropped_repos():
    plan, dropped = mosmu_plan.env_plan(_inventory(), 3, CATALOG, URL, mos_version="6.0",
                                        repos=["holdback", "security"], trusted=True)
    assert plan == Plan.build(CATALOG.get("ubuntu", "6.0"), URL, trusted=True)
    assert dropped == ["holdback", "security"]


def test_env_plan_refuses_an_unlisted_release_naming_env_release_and_fix():
    message = _refused(lambda: mosmu_plan.env_plan(_inventory(release_id=42), 3, CATALOG, URL),
                       "3", "42")
    assert "mos_version=" in message


@pytest.mark.parametrize("inventory, kwargs, words", [
    (_inventory(version="newton-10.0"), {}, ["10.0"]),
    (_inventory(os_name="Debian"), {}, ["debian"]),
    (_inventory(version=9.0), {}, ["9.0"]),
    (_inventory(), {"mos_version": "9.0\n"}, ["MOS"]),
    (_inventory(), {"repos": ["backports"]}, ["'backports'"]),
    (_inventory(), {"repo_url": "ftp://h/"}, ["repo_url"]),
    (_inventory(), {"trusted": "yes"}, ["trusted"]),
])
def test_env_plan_refusals_name_the_environment_and_release(inventory, kwargs, words):
    kwargs = dict({"repo_url": URL}, **kwargs)
    message = _refused(lambda: mosmu_plan.env_plan(inventory, 3, CATALOG, **kwargs), *words)
    assert "environment 3" in message and "Mitaka on Ubuntu 14.04" in message


def test_a_sandbox_environment_s_plan_keeps_repo_order_without_duplicates():
    data = inv.default(1)
    plan, dropped = mosmu_plan.env_plan(data, 1, CATALOG, "http://10.20.0.2:8080",
                                        repos=["security", "updates", "security"])
    assert (plan.mos_version, plan.distro, plan.backend) == ("8.0", "ubuntu", "apt")
    assert plan.repo_names == ["updates", "security"] and dropped == []
    assert [r.suite for r in plan.repos] == ["mos8.0-updates", "mos8.0-security"]
    plan, _ = mosmu_plan.env_plan(data, 1, CATALOG, "http://10.20.0.2:8080", mos_version=9.2)
    assert [r.suite for r in plan.repos] == ["mos9.0-updates"]
    assert plan.path == "mos-repos/ubuntu/9.2"


def test_a_version_the_distro_lacks_is_refused_naming_the_pair():
    data = inv.default(1)
    with pytest.raises(ValueError, match=r"MOS 9\.0 on centos is not in the catalog"):
        data["clusters"][0]["release_id"] = 1   # Liberty on CentOS 6.5 forced to 9.0
        mosmu_plan.env_plan(data, 1, CATALOG, "http://10.20.0.2:8080", mos_version="9.0")
