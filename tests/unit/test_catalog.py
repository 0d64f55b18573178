"""The catalog against every value the old tool produced, per MOS version and distro.

OLD_TOOL transcribes, per version, what reference/mos_apply_mu.py's Updater511/60/61/70/80
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

import pytest

import mosmu_catalog
import mosmu_plan
import mosmu_repo

CATALOG = mosmu_catalog.Catalog()
MASTER = "http://10.20.0.2:8080"

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
def test_mos_version_of_release(version, expected):
    assert mosmu_catalog.mos_version_of_release({"version": version}) == expected


@pytest.mark.parametrize("release", [{"version": 8.0}, {"version": None}, {}])
def test_mos_version_of_release_refuses_non_strings(release):
    with pytest.raises(ValueError, match="not a string"):
        mosmu_catalog.mos_version_of_release(release)


KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF...\n-----END PGP PUBLIC KEY BLOCK-----\n"


def test_mirror_key_signs_every_row_without_its_own():
    own = KEY.replace("mQENBF", "mQINBG")
    catalog = mosmu_catalog.Catalog({"ubuntu/6.1": {"key": own}}, default_key=KEY)
    assert all(t.key for t in catalog.rows())
    assert catalog.get("ubuntu", "6.1").key == own and catalog.get("centos", "7.0").key == KEY
    assert mosmu_catalog.Catalog().get("ubuntu", "8.0").key is None
