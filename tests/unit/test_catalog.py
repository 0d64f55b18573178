"""The release catalog: one row per MOS version and distro, built-in or the operator's.

Every row, built-in or an operator's ``mosmu:catalog`` override, goes through the same row
validation: a bad placeholder, path, repo list, priority or verb is refused naming the row and
the field, so it never reaches a repo file, an rsync path or an apt/yum command line.

The built-in rows are checked against every value the old tool produced: OLD_TOOL
transcribes, per version, what reference/mos_apply_mu.py's Updater511/60/61/70/80
classes used: the rsync source (below rsync://mirror.fuel-infra.org/mirror/), the repo line
or .repo text nodes got, the repo file, the apt verb and which repos could be installed.
Deliberate changes, each checked below with its reason:

* local path: the old tool put 5.1.1 and 6.0 in ``updates/<distro>`` and 6.1/7.0/8.0 Ubuntu in
  ``mos-ubuntu``, so two MOS versions could not be served side by side (and the old CentOS
  path ``mos-centos/mos<V>`` differed from upstream's). mosmu mirrors upstream's own relative
  path, unique per version; the URL path of the nodes' repo lines follows it.
* repo files go to ``/etc/mosmu/{sources.list.d,yum.repos.d}`` (read only by mosmu runs)
  instead of ``/root/mos_update_repo`` and the system-wide ``/etc/yum.repos.d``, where the MU
  repos stayed enabled for every later yum run. File names are unchanged.
* yum ``.repo`` files add ``enabled=1`` and ``skip_if_unavailable=0`` (a missing repo must
  fail, not be skipped); ``--nogpgcheck`` only when the operator says ``trusted``.
* 6.1 Ubuntu's pool was rsynced whole; mosmu fetches only the files the indices name.
"""

import re

import pytest

import mosmu_catalog
import mosmu_plan
import mosmu_repo
from mosmu_catalog import Catalog, Tree

CATALOG = mosmu_catalog.Catalog()
MASTER = "http://10.20.0.2:8080"
KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF\n-----END PGP PUBLIC KEY BLOCK-----\n"

# version -> distro -> (rsync source, repo text, repo file, apt verb); {V}/{R} as in the old tool
OLD_TOOL = {
    "5.1.1": {
        "ubuntu": ("fwm/{V}/{R}/ubuntu/", "deb http://{IP}:8080/updates/ubuntu precise main "
                   "restricted", "/root/mos_update_repo/mos-{R}.list", "dist-upgrade"),
        "centos": ("fwm/{V}/{R}/centos/", "[mos-{R}]\nname=mos-{R}\nbaseurl=http://{IP}:8080/"
                   "updates/centos/os/x86_64/\ngpgcheck=0\n", "/etc/yum.repos.d/mos-{R}.repo",
                   None),
    },
    "6.0": {
        "ubuntu": ("fwm/{V}/{R}/ubuntu/", "deb http://{IP}:8080/updates/ubuntu precise main "
                   "restricted", "/root/mos_update_repo/mos-{R}.list", "upgrade"),
        "centos": ("fwm/{V}/{R}/centos/", "[mos-{R}]\nname=mos-{R}\nbaseurl=http://{IP}:8080/"
                   "updates/centos/os/x86_64/\ngpgcheck=0\n", "/etc/yum.repos.d/mos-{R}.repo",
                   None),
    },
    "6.1": {
        "ubuntu": ("mos/ubuntu/dists/mos{V}-{R}/", "deb http://{IP}:8080/mos-ubuntu mos{V}-{R} "
                   "main restricted", "/root/mos_update_repo/mos-{R}.list", "upgrade"),
        "centos": ("mos/centos-6/mos{V}/{R}/", "[mos-{R}]\nname=mos-{R}\nbaseurl=http://{IP}:"
                   "8080/mos-centos/mos{V}/{R}/\ngpgcheck=0\n", "/etc/yum.repos.d/mos-{R}.repo",
                   None),
    },
    "7.0": {
        "ubuntu": ("mos-repos/ubuntu/{V}/dists/mos{V}-{R}/", "deb http://{IP}:8080/mos-ubuntu "
                   "mos{V}-{R} main restricted", "/root/mos_update_repo/mos-{R}.list", "upgrade"),
        "centos": ("mos-repos/centos/mos{V}-centos6-fuel/{R}/", "[mos-{R}]\nname=mos-{R}\n"
                   "baseurl=http://{IP}:8080/mos-centos/mos{V}/{R}/\ngpgcheck=0\n",
                   "/etc/yum.repos.d/mos-{R}.repo", None),
    },
    "8.0": {
        "ubuntu": ("mos-repos/ubuntu/{V}/dists/mos{V}-{R}/", "deb http://{IP}:8080/mos-ubuntu "
                   "mos{V}-{R} main restricted", "/root/mos_update_repo/mos-{R}.list", "upgrade"),
        "centos": ("mos-repos/centos/mos{V}-centos7-fuel/{R}/", "[mos-{R}]\nname=mos-{R}\n"
                   "baseurl=http://{IP}:8080/mos-centos/mos{V}/{R}/\ngpgcheck=0\n",
                   "/etc/yum.repos.d/mos-{R}.repo", None),
    },
}
# repos the old tool would install: 5.1.1 and 6.0 forced "updates" only
OLD_REPOS = {"5.1.1": {"updates"}, "6.0": {"updates"}}
OLD_ANY = {"updates", "security", "proposed"}
CASES = [(v, d) for v in OLD_TOOL for d in ("ubuntu", "centos")]


def _old(version, distro, repo):
    return [x.format(V=version, R=repo, IP="{IP}") if x else x
            for x in OLD_TOOL[version][distro]]


def _repos(version):
    return OLD_REPOS.get(version, OLD_ANY)


# --- the built-in rows give what the old tool gave, but for the deliberate changes ----------

@pytest.mark.parametrize("version, distro", CASES)
def test_repos_offered_match_the_old_tool(version, distro):
    tree = CATALOG.get(distro, version)
    assert _repos(version) <= set(tree.repos)
    if version in OLD_REPOS:   # the old tool silently forced updates only: so does the row
        assert set(tree.repos) == {"updates"}


@pytest.mark.parametrize("version, distro", CASES)
def test_upstream_paths_are_the_old_rsync_sources(version, distro):
    tree = CATALOG.get(distro, version)
    for repo in _repos(version):
        source = _old(version, distro, repo)[0].rstrip("/")
        if tree.backend == "apt" and "/dists/" in source:
            assert f"{tree.upstream}/dists/{tree.suite_of(repo)}" == source
        elif tree.backend == "apt" or version in OLD_REPOS:   # 5.1.1/6.0: one tree per repo
            assert tree.upstream == source
        else:
            assert f"{tree.upstream}/{tree.suite_of(repo)}" == source


@pytest.mark.parametrize("version, distro", CASES)
def test_repo_text_matches_the_old_tool_but_for_the_path(version, distro):
    tree = CATALOG.get(distro, version)
    plan = mosmu_plan.Plan.build(tree, MASTER, sorted(_repos(version)))
    files = {r.file: r for r in plan.repos}
    import mosmu_repo  # pylint: disable=import-outside-toplevel
    rendered = mosmu_repo.repo_files(plan)
    for repo in _repos(version):
        old_text, old_file = _old(version, distro, repo)[1:3]
        assert old_file.rsplit("/", 1)[1] in files           # same file name
        text = rendered[old_file.rsplit("/", 1)[1]].split("\n", 1)[1]   # minus our header
        if tree.backend == "apt":
            old = old_text.split()
            new = text.split()
            assert new[0] == old[0] == "deb"
            assert new[2:] == old[2:]                        # suite and components
            assert new[1] == f"{MASTER}/{tree.path}"         # deliberate: upstream's path
        else:
            old_lines, new_lines = old_text.splitlines(), text.splitlines()
            assert new_lines[:2] == old_lines[:2]            # [mos-R], name=mos-R
            assert "gpgcheck=0" in new_lines                 # no key configured
            old_tail = old_lines[2].split(":8080/", 1)[1]
            assert new_lines[2] == f"baseurl={MASTER}/{tree.path}/{tree.suite_of(repo)}/"
            # the old local path differed from upstream's; the repo dir below it did not
            assert old_tail.endswith(f"{tree.suite_of(repo)}/")
            assert new_lines[3:] == ["gpgcheck=0", "enabled=1", "skip_if_unavailable=0"]


@pytest.mark.parametrize("version", list(OLD_TOOL))
def test_apt_verb_matches_the_old_tool(version):
    assert CATALOG.get("ubuntu", version).upgrade == _old(version, "ubuntu", "updates")[3]


def test_local_paths_no_longer_collide():
    """Deliberate change: the old tool's local paths were shared between versions."""
    paths = [t.path for t in CATALOG.rows()]
    assert len(paths) == len(set(paths))


# Fuel's openstack.yaml pins the MU suites from MOS 6.1 on; 5.1.1 and 6.0 had no pin at all
# (neither Fuel nor the old tool), FUEL.md section 1.6.
FUEL_PINNED = {"5.1.1": False, "6.0": False}


@pytest.mark.parametrize("tree", [t for t in CATALOG.rows() if t.backend == "apt"],
                         ids=lambda t: t.name)
def test_apt_pins_only_where_fuel_pinned(tree):
    """Every apt row: Fuel's priorities (1050, holdback 1100) where Fuel pinned, and no pin
    where it did not. A pin above 1000 lets apt downgrade a package that is newer on the node
    than in the MU tree."""
    pinned = FUEL_PINNED.get(tree.version, True)
    for repo in tree.repos:
        expected = (1100 if repo == "holdback" else 1050) if pinned else None
        assert tree.priority_of(repo) == expected


@pytest.mark.parametrize("version", ["5.1.1", "6.0"])
def test_old_releases_get_no_apt_preferences_file(version):
    """Regression: the catalog pinned 5.1.1 and 6.0's MU suite at 1050, where the old tool
    and Fuel 6.0 had no pin, so apt could downgrade packages newer on the node."""
    plan = mosmu_plan.Plan.build(CATALOG.get("ubuntu", version), "http://10.20.0.2:8080")
    assert mosmu_repo.apt_preferences(plan) is None


def test_9x_trees_keep_the_mos9_0_suite_prefix_and_mu_snapshots_exist():
    assert CATALOG.get("ubuntu", "9.2").suite_of("updates") == "mos9.0-updates"
    assert CATALOG.get("ubuntu", "9.2-mu-3").upstream == "mos-repos/ubuntu/9.2-mu-3"
    assert CATALOG.get("ubuntu", "8.0-mu-6").repos == ("updates", "security", "holdback")
    with pytest.raises(ValueError, match="not in the catalog"):
        CATALOG.get("ubuntu", "8.0-mu-7")


# --- operator rows and releases: worked examples ------------------------------------------

def test_operator_rows_override_and_add_without_code():
    catalog = mosmu_catalog.Catalog({
        "ubuntu/8.0": {"upstream": "internal/mos-8.0"},
        "ubuntu/8.0-mu-7": {"base": "ubuntu/8.0", "upstream": "mos-repos/ubuntu/8.0-mu-7",
                            "path": "mos-repos/ubuntu/8.0-mu-7"},
        "centos/9.0": {"backend": "yum", "upstream": "mos-repos/centos/mos9.0-centos7",
                       "path": "mos-repos/centos/mos9.0-centos7", "suite": "{repo}/x86_64",
                       "repos": ["updates", "security"]},
    })
    assert catalog.get("ubuntu", "8.0").upstream == "internal/mos-8.0"
    assert catalog.get("ubuntu", "8.0").path == "mos-repos/ubuntu/8.0"
    assert catalog.get("ubuntu", "8.0-mu-7").suite_of("updates") == "mos8.0-updates"
    assert catalog.get("centos", "9.0").suite_of("security") == "security/x86_64"
    assert mosmu_catalog.Catalog().get("ubuntu", "8.0").upstream == "mos-repos/ubuntu/8.0"


@pytest.mark.parametrize("row, needle", [
    ({"backend": "zypper"}, "backend"),
    ({"base": "ubuntu/8.0", "upstream": "../etc"}, "relative path"),
    ({"base": "ubuntu/8.0", "path": "/var/www"}, "relative path"),
    ({"base": "ubuntu/8.0", "suite": "mos8.0-{repo}\nx"}, "suite"),
    ({"base": "ubuntu/8.0", "repo_text": "deb {base.__init__}"}, "placeholder"),
    ({"base": "ubuntu/8.0", "repo_file": "../{repo}.list"}, "file name"),
    ({"base": "ubuntu/8.0", "upgrade": "install"}, "upgrade"),
    ({"base": "ubuntu/8.0", "repos": "updates"}, "list"),
    ({"base": "ubuntu/8.0", "repos": ["security"]}, "updates"),
    ({"base": "ubuntu/8.0", "priority": {"updates": True}}, "priority"),
    ({"base": "ubuntu/8.0", "key": "not a key"}, "key"),
    ({"base": "ubuntu/8.0", "surprise": 1}, "unknown field"),
    ({"base": "nope/1.0"}, "base"),
])
def test_bad_operator_rows_are_refused_naming_the_field(row, needle):
    with pytest.raises(ValueError, match=needle):
        mosmu_catalog.Catalog({"ubuntu/8.1": row})


@pytest.mark.parametrize("version, expected", [
    ("liberty-8.0", "8.0"), ("mitaka-9.0", "9.0"), ("2014.2.2-6.1", "6.1"), ("2014.1", "5.0"),
    ("2014.1.3-5.1.1", "5.1.1"), ("2014.2-6.0", "6.0"), ("2015.1.0-7.0", "7.0"),
])
def test_the_mos_version_is_read_from_the_release_version(version, expected):
    assert mosmu_catalog.mos_version_of_release({"version": version}) == expected


@pytest.mark.parametrize("release", [{"version": 8.0}, {"version": None}, {}])
def test_a_release_version_that_is_not_a_string_is_refused(release):
    with pytest.raises(ValueError, match="not a string"):
        mosmu_catalog.mos_version_of_release(release)


def test_the_mirror_key_signs_every_row_without_its_own():
    own = KEY.replace("mQENBF", "mQINBG")
    catalog = mosmu_catalog.Catalog({"ubuntu/6.1": {"key": own}}, default_key=KEY)
    assert all(t.key for t in catalog.rows())
    assert catalog.get("ubuntu", "6.1").key == own and catalog.get("centos", "7.0").key == KEY
    assert mosmu_catalog.Catalog().get("ubuntu", "8.0").key is None


APT_TEXT = "deb {options}{base}/{path} {suite} {components}\n"
YUM_TEXT = ("[mos-{repo}]\nname=mos-{repo}\nbaseurl={base}/{path}/{suite}/\n"
            "gpgcheck={gpgcheck}\n{gpgkey}enabled=1\nskip_if_unavailable=0\n")
FUEL_PINS = (("holdback", 1100), ("proposed", 1050), ("security", 1050), ("updates", 1050))
NEW = "ubuntu/8.1"   # a row that is not built in


def _names(message, *words):
    """The message names each word as a word of its own (the row / field to fix)."""
    for word in words:
        assert re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", message), (word, message)


def _refused(overrides, *words, default_key=None):
    with pytest.raises(ValueError) as err:
        Catalog(overrides, default_key)
    _names(str(err.value), *words)
    return str(err.value)


def _apt(**fields):
    """A complete new apt row (no base), changed by ``fields``."""
    row = {"backend": "apt", "upstream": "mos-repos/ubuntu/8.1", "path": "mos-repos/ubuntu/8.1",
           "repos": ["updates", "security"], "suite": "mos8.1-{repo}"}
    row.update(fields)
    return {k: v for k, v in row.items() if v is not _DROP}


_DROP = object()


# --- the built-in rows: exactly the spec, and valid as an operator's row would be --------
#
# _ubuntu and _centos build the built-in rows at import time, when no mutant is active (see
# docs/testing.md "Mutation testing"): these two tests call them so a changed builder is seen.

def test_an_ubuntu_row_offers_four_repos_unless_told():
    assert mosmu_catalog._ubuntu("9.9", "a/b", "s-{repo}") == {  # pylint: disable=protected-access
        "distro": "ubuntu", "version": "9.9", "backend": "apt", "upstream": "a/b", "path": "a/b",
        "suite": "s-{repo}", "repos": ("updates", "security", "proposed", "holdback")}
    row = mosmu_catalog._ubuntu("5.1.1", "u", "precise", repos=("updates",),  # pylint: disable=protected-access
                                upgrade="dist-upgrade")
    assert row["repos"] == ("updates",) and row["upgrade"] == "dist-upgrade"
    assert row["distro"] == "ubuntu" and row["backend"] == "apt" and row["path"] == "u"


def test_a_centos_row_offers_three_repos_and_no_apt_verb():
    assert mosmu_catalog._centos("9.9", "c/d", "{repo}") == {  # pylint: disable=protected-access
        "distro": "centos", "version": "9.9", "backend": "yum", "upstream": "c/d", "path": "c/d",
        "suite": "{repo}", "repos": ("updates", "security", "proposed")}
    row = mosmu_catalog._centos("6.0", "c", "os/x86_64", repos=("updates",))  # pylint: disable=protected-access
    assert row["repos"] == ("updates",) and row["path"] == "c" and "upgrade" not in row


def test_every_built_in_row_passes_the_operator_row_validation_unchanged():
    """Each built-in row, given whole as an operator's override of itself, is validated again
    (inside the test) and gives the same tree."""
    for data in mosmu_catalog.ROWS:
        name = f"{data['distro']}/{data['version']}"
        fields = {k: v for k, v in data.items() if k not in ("distro", "version")}
        tree = Catalog({name: fields}).get(data["distro"], data["version"])
        assert tree == Catalog().get(data["distro"], data["version"])
        assert tree.path == tree.upstream == data["upstream"]


def test_built_in_apt_and_yum_rows_are_exactly_the_spec():
    catalog = Catalog()
    assert catalog.get("ubuntu", "5.1.1") == Tree(
        distro="ubuntu", version="5.1.1", backend="apt", upstream="fwm/5.1.1/updates/ubuntu",
        path="fwm/5.1.1/updates/ubuntu", repos=("updates",), suite="precise",
        components="main restricted", repo_file="mos-{repo}.list", repo_text=APT_TEXT,
        priority=(), upgrade="dist-upgrade", key=None)
    assert catalog.get("centos", "8.0") == Tree(
        distro="centos", version="8.0", backend="yum",
        upstream="mos-repos/centos/mos8.0-centos7-fuel",
        path="mos-repos/centos/mos8.0-centos7-fuel", repos=("updates", "security", "proposed"),
        suite="{repo}", components="", repo_file="mos-{repo}.repo", repo_text=YUM_TEXT,
        priority=(), upgrade="update", key=None)
    assert catalog.get("ubuntu", "9.2-mu-4").repos == ("updates", "security", "holdback")
    assert catalog.get("ubuntu", "7.0-mu-8").suite_of("holdback") == "mos7.0-holdback"


# --- a tree names each repo's suite, file and pin, and what it offers -------------------

def test_a_tree_names_suites_files_pins_and_the_repos_it_offers():
    tree = Catalog().get("ubuntu", "8.0")
    assert tree.name == "ubuntu/8.0"
    assert tree.suite_of("security") == "mos8.0-security"
    assert tree.file_of("holdback") == "mos-holdback.list"
    assert tree.priority_of("holdback") == 1100 and tree.priority_of("updates") == 1050
    assert Catalog().get("centos", "8.0").priority_of("updates") is None
    assert tree.offered(None) == (["updates"], [])
    assert tree.offered(["holdback", "updates", "holdback"]) == (["updates", "holdback"], [])
    six = Catalog().get("ubuntu", "6.0")
    assert six.offered(["proposed", "security"]) == (["updates"], ["proposed", "security"])
    with pytest.raises(ValueError):
        tree.offered(["backports"])


# --- repos: updates always first, duplicates dropped, unknown ones refused by name ------

@pytest.mark.parametrize("repos, expected", [
    (None, ["updates"]), ((), ["updates"]), ([], ["updates"]),
    (["updates"], ["updates"]),
    (["holdback", "security"], ["updates", "holdback", "security"]),
    (["security", "updates", "security", "proposed"], ["updates", "security", "proposed"]),
])
def test_updates_always_comes_first_and_duplicates_go(repos, expected):
    assert mosmu_catalog.normalise_repos(repos) == expected


@pytest.mark.parametrize("repo, words", [
    ("backports", ["repo", "'backports'", "holdback"]), ("Updates", ["repo", "'Updates'"]),
    ("updates;rm", ["'updates;rm'"]), (5, ["5"]), ("", ["''"]),
])
def test_an_unknown_repo_is_refused_naming_it_and_the_known_ones(repo, words):
    with pytest.raises(ValueError) as err:
        mosmu_catalog.normalise_repos(["security", repo])
    _names(str(err.value), *words)


# --- templates: only the documented placeholders, never an attribute or a format spec ----

@pytest.mark.parametrize("value", [
    "", "plain", APT_TEXT, YUM_TEXT, "{{literal}} {repo}", "{repo}{suite}{base}{path}"
    "{components}{options}{gpgcheck}{gpgkey}",
])
def test_a_template_may_use_the_documented_placeholders(value):
    assert Catalog({NEW: _apt(repo_text=value)}).get("ubuntu", "8.1").repo_text == value


@pytest.mark.parametrize("value, words", [
    ("deb {evil}", ["repo_text", "{evil}", "repo"]),
    ("deb {{x}} {evil}", ["repo_text", "{evil}"]),
    ("{{x}}{repo}{evil}", ["repo_text", "{evil}"]),
    ("deb {base.__init__}", ["repo_text", "{base.__init__}"]),
    ("deb {base[0]}", ["repo_text"]),
    ("deb {repo!r}", ["repo_text", "{repo}"]),
    ("deb {repo:>40}", ["repo_text", "{repo}"]),
    ("deb {}", ["repo_text"]),
    ("deb {0}", ["repo_text", "{0}"]),
    ("a\x00b", ["repo_text"]),
    (None, ["repo_text"]),
    (["deb {repo}"], ["repo_text"]),
])
def test_any_other_placeholder_is_refused_naming_the_field(value, words):
    _refused({NEW: _apt(repo_text=value)}, NEW, *words)


@pytest.mark.parametrize("value", ["deb {repo", "deb repo}", "{!r}"])
def test_malformed_braces_are_refused_naming_the_row(value):
    _refused({NEW: _apt(repo_text=value)}, NEW)


# --- operator rows: a new row takes its backend's defaults, an override only its fields -

def test_a_new_apt_row_gets_the_apt_defaults():
    tree = Catalog({NEW: _apt(upstream="mos-repos/ubuntu/8.1/")}).get("ubuntu", "8.1")
    assert tree == Tree(
        distro="ubuntu", version="8.1", backend="apt", upstream="mos-repos/ubuntu/8.1",
        path="mos-repos/ubuntu/8.1", repos=("updates", "security"), suite="mos8.1-{repo}",
        components="main restricted", repo_file="mos-{repo}.list", repo_text=APT_TEXT,
        priority=FUEL_PINS, upgrade="upgrade", key=None)


def test_a_new_yum_row_gets_the_yum_defaults():
    tree = Catalog({"centos/9.0": {"backend": "yum", "upstream": "c/9", "path": "c/9",
                                   "suite": "{repo}/x86_64", "repos": ("security", "updates")}}
                   ).get("centos", "9.0")
    assert tree == Tree(
        distro="centos", version="9.0", backend="yum", upstream="c/9", path="c/9",
        repos=("updates", "security"), suite="{repo}/x86_64", components="",
        repo_file="mos-{repo}.repo", repo_text=YUM_TEXT, priority=(), upgrade="update",
        key=None)


def test_a_row_based_on_another_takes_its_fields_and_its_own_key():
    catalog = Catalog({"ubuntu/9.2-mu-9": {"base": "ubuntu/9.2", "upstream": "m/9.2-mu-9",
                                           "path": "m/9.2-mu-9", "repos": ["updates"]}})
    tree, base = catalog.get("ubuntu", "9.2-mu-9"), catalog.get("ubuntu", "9.2")
    assert (tree.distro, tree.version, tree.name) == ("ubuntu", "9.2-mu-9", "ubuntu/9.2-mu-9")
    assert (tree.upstream, tree.path, tree.repos) == ("m/9.2-mu-9", "m/9.2-mu-9", ("updates",))
    assert (tree.suite, tree.backend, tree.priority) == (base.suite, base.backend, base.priority)
    assert base.upstream == "mos-repos/ubuntu/9.2"    # the base row itself is unchanged


def test_a_based_row_takes_distro_and_version_from_its_own_key():
    tree = Catalog({"centos/8.0-mu-1": {"base": "centos/8.0"}}).get("centos", "8.0-mu-1")
    assert tree.distro == "centos" and tree.version == "8.0-mu-1" and tree.backend == "yum"
    tree = Catalog({"centos/9.2": {"base": "ubuntu/9.2"}}).get("centos", "9.2")
    assert (tree.distro, tree.version, tree.name) == ("centos", "9.2", "centos/9.2")


def test_an_override_changes_only_the_fields_given():
    catalog = Catalog({"ubuntu/8.0": {"upstream": "internal/mos-8.0", "upgrade": "dist-upgrade",
                                      "priority": {"updates": 500}}})
    tree, builtin = catalog.get("ubuntu", "8.0"), Catalog().get("ubuntu", "8.0")
    assert tree.upstream == "internal/mos-8.0" and tree.upgrade == "dist-upgrade"
    assert tree.priority == (("updates", 500),)
    assert (tree.path, tree.suite, tree.repos) == (builtin.path, builtin.suite, builtin.repos)
    assert Catalog().get("ubuntu", "8.0") == builtin       # no state shared between catalogs
    assert catalog.get("centos", "8.0") == Catalog().get("centos", "8.0")


def test_overrides_none_or_empty_is_the_built_in_catalog():
    assert Catalog(None).rows() == Catalog({}).rows() == Catalog().rows()
    assert [t.name for t in Catalog().rows()] == sorted(t.name for t in Catalog().rows())
    assert len(Catalog().rows()) == len(mosmu_catalog.ROWS)
    assert len(Catalog({NEW: _apt()}).rows()) == len(mosmu_catalog.ROWS) + 1


@pytest.mark.parametrize("repos, expected", [
    (["security", "updates"], ("updates", "security")),
    (["updates", "updates"], ("updates",)),
    (("updates", "holdback"), ("updates", "holdback")),
])
def test_row_repos_are_normalised(repos, expected):
    assert Catalog({NEW: _apt(repos=repos)}).get("ubuntu", "8.1").repos == expected


@pytest.mark.parametrize("value, expected", [
    ({"updates": 1, "holdback": 9999}, (("holdback", 9999), ("updates", 1))),
    ([("updates", 700)], (("updates", 700),)),
    ({}, ()),
])
def test_row_priorities_in_range_are_kept_sorted(value, expected):
    assert Catalog({NEW: _apt(priority=value)}).get("ubuntu", "8.1").priority == expected


def test_mirror_key_signs_rows_without_their_own_only():
    own = KEY.replace("mQENBF", "mQINBG")
    catalog = Catalog({NEW: _apt(key=own), "ubuntu/8.0": {"key": None}}, default_key=KEY)
    assert catalog.get("ubuntu", "8.1").key == own
    assert catalog.get("ubuntu", "8.0").key == KEY and catalog.get("centos", "6.0").key == KEY
    assert Catalog({NEW: _apt()}).get("ubuntu", "8.1").key is None


# --- operator rows: each refusal names the row and the field --------------------------------

@pytest.mark.parametrize("overrides", [["ubuntu/8.1"], "ubuntu/8.1: {}", 5, ("a", "b")])
def test_catalog_must_be_a_mapping(overrides):
    _refused(overrides, "mosmu:catalog")


@pytest.mark.parametrize("fields", [None, [], "base: ubuntu/8.0", 5])
def test_a_row_must_be_a_mapping(fields):
    _refused({NEW: fields}, f"mosmu:catalog:{NEW}")


def test_an_unknown_base_is_named():
    _refused({NEW: {"base": "ubuntu/8.9"}}, f"mosmu:catalog:{NEW}", "'ubuntu/8.9'")


@pytest.mark.parametrize("fields, words", [
    (_apt(backend=_DROP), ["backend", "None"]),
    (_apt(backend="zypper"), ["backend", "'zypper'", "apt", "yum"]),
    (_apt(backend="APT"), ["backend"]),
    (_apt(surprise=1, zz=2), ["unknown", "surprise", "zz"]),
    (_apt(upstream=_DROP), ["upstream"]),
    (_apt(path=_DROP), ["path"]),
    (_apt(suite=_DROP), ["suite"]),
    (_apt(repos=_DROP), ["repos"]),
    (_apt(upstream="../etc"), ["upstream", "'../etc'"]),
    (_apt(upstream="/var/www"), ["upstream"]),
    (_apt(upstream=""), ["upstream"]),
    (_apt(path="a/../../etc"), ["path", "'a/../../etc'"]),
    (_apt(path="/srv"), ["path"]),
    (_apt(path=5), ["path"]),
    (_apt(repos="updates"), ["repos"]),
    (_apt(repos=[]), ["repos"]),
    (_apt(repos=()), ["repos"]),
    (_apt(repos=None), ["repos"]),
    (_apt(repos={"updates": 1}), ["repos"]),
    (_apt(repos=5), ["repos"]),
    (_apt(repos=["security"]), ["repos", "updates"]),
    (_apt(repos=["security", "holdback"]), ["repos", "updates"]),
    (_apt(repos=["updates", "backports"]), ["'backports'"]),
    (_apt(suite="mos8.1-{repo}\nx"), ["suite"]),
    (_apt(suite="../{repo}"), ["suite"]),
    (_apt(suite="{repo.__class__}"), ["suite", "placeholder"]),
    (_apt(suite="{evil}"), ["suite", "{evil}"]),
    (_apt(suite=None), ["suite"]),
    (_apt(components="main Restricted"), ["component", "'Restricted'"]),
    (_apt(components="main;rm"), ["component"]),
    (_apt(components=["main"]), ["components"]),
    (_apt(components=None), ["components"]),
    (_apt(repo_text="deb {base.__init__}"), ["repo_text", "placeholder"]),
    (_apt(repo_text="deb {evil}\n"), ["repo_text", "{evil}"]),
    (_apt(repo_text=None), ["repo_text"]),
    (_apt(repo_file="../{repo}.list"), ["repo_file", "'../updates.list'"]),
    (_apt(repo_file="{repo}/x.list"), ["repo_file"]),
    (_apt(repo_file=".{repo}.list"), ["repo_file"]),
    (_apt(repo_file="{evil}.list"), ["repo_file", "{evil}"]),
    (_apt(repo_file=None), ["repo_file"]),
    (_apt(priority={"updates": True}), ["priority", "updates"]),
    (_apt(priority={"security": 0}), ["priority", "security", "1..9999"]),
    (_apt(priority={"updates": 10000}), ["priority", "updates"]),
    (_apt(priority={"updates": -5}), ["priority", "updates"]),
    (_apt(priority={"updates": "1050"}), ["priority", "updates"]),
    (_apt(priority={"updates": 1050.0}), ["priority", "updates"]),
    (_apt(upgrade="install"), ["upgrade", "'install'", "dist-upgrade", "apt"]),
    (_apt(upgrade="update"), ["upgrade", "'update'", "apt"]),
    (_apt(upgrade=None), ["upgrade"]),
    (_apt(key="not a key"), ["key"]),
    (_apt(key=5), ["key"]),
    (_apt(key=""), ["key"]),
    (_apt(key="-----BEGIN PGP PRIVATE KEY BLOCK-----\n"), ["key"]),
])
def test_bad_new_rows_are_refused_naming_the_row_and_field(fields, words):
    _refused({NEW: fields}, "catalog row", NEW, *words)


@pytest.mark.parametrize("key, fields, words", [
    ("ubuntu/5.1.1", {"backend": "yum"}, ["upgrade", "'dist-upgrade'", "yum"]),
    ("ubuntu/8.0", {"backend": "yum", "upgrade": "upgrade"}, ["upgrade", "'upgrade'"]),
    ("centos/8.0", {"backend": "apt", "upgrade": "update"}, ["upgrade", "'update'", "apt"]),
])
def test_a_row_switched_to_another_backend_needs_its_verb(key, fields, words):
    _refused({key: fields}, "catalog row", key, *words)


def test_a_row_switched_to_another_backend_takes_its_defaults():
    tree = Catalog({"ubuntu/8.0": {"backend": "yum"}}).get("ubuntu", "8.0")
    assert (tree.upgrade, tree.components, tree.repo_file, tree.priority) == (
        "update", "", "mos-{repo}.repo", ())


@pytest.mark.parametrize("key, words", [
    ("debian/8.0", ["distro", "'debian'", "ubuntu", "centos"]),
    ("Ubuntu/8.0", ["distro", "'Ubuntu'"]),
    ("ubuntu8.1", ["distro", "'ubuntu8.1'"]),
    ("ubuntu/8.1/x", ["'8.1/x'"]),
    ("ubuntu/8", ["'8'"]),
    ("ubuntu/8.1\n", ["MOS"]),
    ("ubuntu/", ["MOS"]),
])
def test_a_bad_row_key_is_refused(key, words):
    _refused({key: _apt()}, "catalog row", *words)


def test_the_suite_of_every_repo_is_checked():
    """A path part may have 128 characters: "holdback" makes this suite one too long."""
    suite = "s" * 121 + "{repo}"
    assert len(suite.format(repo="updates")) == 128
    assert Catalog({NEW: _apt(suite=suite, repos=["updates"])}).get("ubuntu", "8.1").suite \
        == suite
    _refused({NEW: _apt(suite=suite, repos=["updates", "holdback"])}, "catalog row", NEW,
             "suite")


def test_a_bad_override_of_a_built_in_row_is_refused_naming_it():
    _refused({"centos/6.1": {"suite": "../{repo}"}}, "catalog row", "centos/6.1", "suite")


def test_a_bad_default_key_is_refused():
    _refused({}, "catalog row", "key", default_key="not a key")


def test_row_errors_are_value_errors_for_missing_or_mistyped_fields():
    """KeyError / TypeError inside the row check surface as ValueError naming the row."""
    _refused({NEW: {"backend": "apt"}}, "catalog row", NEW)
    _refused({NEW: _apt(priority=5)}, "catalog row", NEW)
    _refused({NEW: _apt(priority=[("updates",)])}, "catalog row", NEW)


# --- lookups: by distro and version exactly; a release's distro and MOS version ------------

@pytest.mark.parametrize("distro, version, words", [
    ("ubuntu", "8.0-mu-7", ["8.0-mu-7", "ubuntu", "8.0", "9.2", "mosmu:catalog"]),
    ("centos", "9.0", ["9.0", "centos", "8.0", "mosmu:catalog"]),
    ("ubuntu", "", ["ubuntu", "8.0"]),
    ("debian", "8.0", ["debian", "ubuntu", "centos"]),
    ("", "8.0", ["unknown", "ubuntu", "centos"]),
    (None, "8.0", ["unknown"]),
])
def test_unknown_rows_are_refused_naming_what_exists(distro, version, words):
    with pytest.raises(ValueError) as err:
        Catalog().get(distro, version)
    _names(str(err.value), *words)


def test_known_versions_of_the_distro_only_are_listed():
    with pytest.raises(ValueError) as err:
        Catalog().get("centos", "9.2")
    assert "6.1" in str(err.value) and "9.0" not in str(err.value)
    assert "-mu-" not in str(err.value)


def test_lookup_is_by_distro_and_version_exactly():
    catalog = Catalog()
    assert catalog.get("centos", "7.0").backend == "yum"
    assert catalog.get("ubuntu", "7.0").backend == "apt"
    with pytest.raises(ValueError):
        catalog.get("Ubuntu", "8.0")
    with pytest.raises(ValueError):
        catalog.get("ubuntu", "8.0 ")


@pytest.mark.parametrize("release, expected", [
    ({"operating_system": "Ubuntu"}, "ubuntu"), ({"operating_system": "CentOS"}, "centos"),
    ({"operating_system": "ubuntu"}, "ubuntu"),
])
def test_distro_of_release(release, expected):
    assert mosmu_catalog.distro_of_release(release) == expected


@pytest.mark.parametrize("release", [{}, {"operating_system": None}, {"operating_system": 5}])
def test_distro_of_release_refuses_non_strings_naming_the_value(release):
    with pytest.raises(ValueError) as err:
        mosmu_catalog.distro_of_release(release)
    _names(str(err.value), "operating_system", repr(release.get("operating_system")))


@pytest.mark.parametrize("version, expected", [
    ("2014.1", "5.0"), ("2014.1-5.0.2", "5.0.2"), ("9.2", "9.2"), ("newton-10.0", "10.0"),
    ("", ""),
    # Nailgun's Release.environment_version is version.split('-')[1] (no Fuel release has two
    # dashes; this pins the same answer as Nailgun's)
    ("2015.1.0-7.0-beta", "7.0"), ("-8.0", "8.0"), ("liberty-", ""),
])
def test_mos_version_of_release_split_rule(version, expected):
    assert mosmu_catalog.mos_version_of_release({"version": version}) == expected


@pytest.mark.parametrize("release", [{}, {"version": None}, {"version": 8.0}])
def test_mos_version_of_release_refusal_names_the_value(release):
    with pytest.raises(ValueError) as err:
        mosmu_catalog.mos_version_of_release(release)
    _names(str(err.value), "version", repr(release.get("version")))
