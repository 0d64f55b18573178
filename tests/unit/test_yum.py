"""The yum/dnf backend: the argv lists, files and parsers of a CentOS node's MU run.

Every argv list is asserted whole (only the MU repos enabled, ``--nogpgcheck`` only for a
trusted mirror, ``-y`` to import a signed plan's key, everything inside an alternate root);
the ``.repo`` files exactly (``gpgcheck=1`` and ``repo_gpgcheck=1`` for a signed tree); the
``check-update``, ``rpm -qa`` and error parsers with the lines yum and dnf print.
"""

import dataclasses

import pytest

import mosmu_backend
import mosmu_catalog
import mosmu_plan
import mosmu_repo
import mosmu_yum

KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF\n-----END PGP PUBLIC KEY BLOCK-----\n"
URL = "http://10.20.0.2:8080"
DNF = {"dnf": "/usr/bin/dnf", "rpm": "/usr/bin/rpm"}
YUM = {"yum": "/usr/bin/yum", "rpm": "/bin/rpm"}
YCT = dict(YUM, **{"yum-complete-transaction": "/usr/sbin/yum-complete-transaction"})
PATH = "mos-repos/centos/mos8.0-centos7-fuel"


def _plan(key=None, trusted=False, repos=()):
    catalog = mosmu_catalog.Catalog(default_key=key)
    return mosmu_plan.Plan.build(catalog.get("centos", "8.0"), URL, list(repos), trusted)


def _yum(root="/", private=None, tools=DNF, **plan):
    return mosmu_yum.Yum(root, _plan(**plan), tools, private)


def _repo(repo, key_path=None):
    gpg = f"gpgcheck=1\ngpgkey=file://{key_path}\nrepo_gpgcheck=1\n" if key_path else \
        "gpgcheck=0\n"
    return (mosmu_repo.HEADER + f"[mos-{repo}]\nname=mos-{repo}\nbaseurl={URL}/{PATH}/{repo}/\n"
            + gpg + "enabled=1\nskip_if_unavailable=0\n")


# --- tools: dnf before yum, rpm always ------------------------------------------------------

@pytest.mark.parametrize("tools, tool", [
    (DNF, "dnf"), (YUM, "yum"), (dict(DNF, yum="/usr/bin/yum"), "dnf"),
])
def test_dnf_is_preferred_to_yum(tools, tool):
    assert _yum(tools=tools).tool == tool


@pytest.mark.parametrize("tools", [
    {}, {"rpm": "/bin/rpm"}, {"dnf": "/usr/bin/dnf"}, {"yum": "/usr/bin/yum"},
    {"yum": "/usr/bin/yum", "rpm": None}, {"dnf": None, "yum": "", "rpm": "/bin/rpm"},
    {"yum-complete-transaction": "/usr/sbin/yum-complete-transaction", "rpm": "/bin/rpm"},
])
def test_a_node_without_rpm_or_a_package_manager_is_refused(tools):
    with pytest.raises(LookupError, match="rpm"):
        _yum(tools=tools)


def test_without_a_plan_only_the_installed_packages_are_read():
    yum = mosmu_yum.Yum("/srv/c1/", None, YUM)
    assert yum.repo_ids == []
    assert yum.installed_argv() == ["rpm", "--root=/srv/c1", "-qa", "--qf",
                                    "%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\n"]


# --- files: one .repo per MU repo, gpgcheck only for a signed tree with its key -----------

def test_files_of_a_signed_plan_check_rpms_and_metadata_with_its_key():
    key_path = "/etc/mosmu/mosmu-mu.asc"
    assert _yum(key=KEY, repos=["security"]).files() == {
        "/etc/mosmu/yum.repos.d/mos-updates.repo": _repo("updates", key_path),
        "/etc/mosmu/yum.repos.d/mos-security.repo": _repo("security", key_path),
        key_path: KEY,
    }


@pytest.mark.parametrize("key, trusted", [(None, False), (None, True), (KEY, True)])
def test_files_of_a_trusted_or_unsigned_plan_have_no_key(key, trusted):
    assert _yum(key=key, trusted=trusted).files() == {
        "/etc/mosmu/yum.repos.d/mos-updates.repo": _repo("updates")}


def test_files_of_an_alternate_root_name_the_key_as_the_host_opens_it():
    assert _yum(root="/srv/c1", key=KEY).files() == {
        "/srv/c1/etc/mosmu/yum.repos.d/mos-updates.repo":
            _repo("updates", "/srv/c1/etc/mosmu/mosmu-mu.asc"),
        "/srv/c1/etc/mosmu/mosmu-mu.asc": KEY}
    assert _yum(root="/srv/c1", private="/tmp/q", key=KEY).files() == {
        "/tmp/q/yum.repos.d/mos-updates.repo": _repo("updates", "/tmp/q/mosmu-mu.asc"),
        "/tmp/q/mosmu-mu.asc": KEY}


def test_stale_files_are_the_ones_the_plan_no_longer_has():
    existing = ["/etc/mosmu/yum.repos.d/mos-updates.repo",
                "/etc/mosmu/yum.repos.d/mos-proposed.repo",
                "/etc/mosmu/yum.repos.d/.mosmu-x1y2"]
    assert _yum().stale(existing) == ["/etc/mosmu/yum.repos.d/.mosmu-x1y2",
                                      "/etc/mosmu/yum.repos.d/mos-proposed.repo"]
    assert _yum().stale([]) == []


def test_test_mode_keeps_repo_files_and_cache_private():
    yum = _yum()
    assert yum.dirs == ["/etc/mosmu/yum.repos.d"]
    assert yum.env() == {"LC_ALL": "C"}
    assert yum.private_dirs() == [] and yum.private_leftovers() == []
    assert yum.version_argv() is None and yum.parse_version("dnf 4.14") is None
    assert yum.audit_argv() is None and yum.kept_back({"stdout": "x"}) == []
    private = _yum(private="/tmp/q")
    assert private.dirs == ["/tmp/q/yum.repos.d"]
    assert private.private_dirs() == ["/tmp/q/cache", "/tmp/q/persist", "/tmp/q/log"]
    assert private.private_leftovers() == []           # root /: nothing outside /tmp/q
    assert _yum(root="/srv/c1/", private="/tmp/q").private_leftovers() == ["/srv/c1/tmp/q"]
    assert _yum(root="/srv/c1", private="/Xq/p").private_leftovers() == ["/srv/c1/Xq/p"]
    assert _yum(root="/srv/c1").private_leftovers() == []


# --- commands: only the MU repos enabled, --nogpgcheck only when trusted, all in the root --

BASE = ["--setopt=reposdir=/etc/mosmu/yum.repos.d", "--disablerepo=*",
        "--enablerepo=mos-updates"]


def test_argv_on_a_real_node_with_dnf_and_a_signed_plan():
    yum = _yum(key=KEY, repos=["security"])
    base = ["dnf", "-q", *BASE, "--enablerepo=mos-security"]
    assert yum.refresh_argv() == [*base, "-y", "makecache"]
    assert yum.simulate_argv() == [*base, "-y", "check-update"]
    assert yum.upgrade_argv(None) == [*base, "-y", "update", "--skip-broken"]
    assert yum.installed_argv() == ["rpm", "-qa", "--qf",
                                    "%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\n"]
    assert yum.recover_argvs() == []


def test_argv_with_yum_and_an_unsigned_or_trusted_plan():
    yum = _yum(tools=YUM)
    assert yum.refresh_argv() == ["yum", "-d1", *BASE, "makecache"]
    assert yum.simulate_argv() == ["yum", "-d1", *BASE, "check-update"]
    trusted = _yum(tools=YUM, key=KEY, trusted=True)
    assert trusted.refresh_argv() == ["yum", "-d1", *BASE, "--nogpgcheck", "makecache"]
    assert trusted.upgrade_argv((4, 14)) == ["yum", "-d1", *BASE, "--nogpgcheck", "-y",
                                             "update", "--skip-broken"]


@pytest.mark.parametrize("root, r", [("/srv/c1", "/srv/c1"), ("/srv/c1/", "/srv/c1"),
                                     ("/srv/CX/", "/srv/CX")])
def test_argv_of_an_alternate_root_in_test_mode(root, r):
    yum = _yum(root=root, private="/tmp/q")
    base = ["dnf", "-q", "--setopt=reposdir=/tmp/q/yum.repos.d", "--disablerepo=*",
            "--enablerepo=mos-updates", f"--installroot={r}", "--releasever=7",
            "--setopt=cachedir=/tmp/q/cache", "--setopt=persistdir=/tmp/q/persist",
            "--setopt=logdir=/tmp/q/log"]
    assert yum.simulate_argv() == [*base, "check-update"]
    assert yum.installed_argv() == ["rpm", f"--root={r}", "-qa", "--qf",
                                    "%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\n"]


@pytest.mark.parametrize("tools, root, argvs", [
    (YCT, "/", [["yum-complete-transaction", "-y", *BASE]]),
    (YCT, "/srv/c1/", [["yum-complete-transaction", "-y",
                        "--setopt=reposdir=/srv/c1/etc/mosmu/yum.repos.d", "--disablerepo=*",
                        "--enablerepo=mos-updates", "--installroot=/srv/c1",
                        "--releasever=7"]]),
    (YUM, "/", []),                                      # the tool is not installed
    (dict(DNF, **{"yum-complete-transaction": "/x"}), "/", []),   # dnf finishes on its own
])
def test_an_interrupted_transaction_is_completed_with_the_tool_the_node_has(tools, root, argvs):
    assert _yum(root=root, tools=tools).recover_argvs() == argvs


# --- an interrupted earlier run: an unfinished transaction journal ------------------------

@pytest.mark.parametrize("names, interrupted", [
    ([], False), (["history"], False), (["transaction-done.2016-01-01.12:00.01"], False),
    (["transaction-all.2016-01-01.12:00.01"], True),
])
def test_an_unfinished_transaction_in_the_node_root_is_an_interruption(
        tmp_path, names, interrupted):
    yum = _yum(root=str(tmp_path))
    assert yum.journal_dir == str(tmp_path / "var/lib/yum")
    got = yum.interrupted("", names)
    assert len(got) == interrupted and all("transaction-all" in p for p in got)


# --- reading yum's output: check-update, rpm -qa, errors -----------------------------------

CHECK_UPDATE = """\

openstack-nova-common.noarch        1:12.0.1-1.el7        mos-updates
python-nova.noarch                  12.0.1-1.el7          mos-security
bash.x86_64                         4.2.46-30.el7         base
kernel.x86_64    3.10.0-1160.el7    mos-proposed
Security: kernel-3.10.0-1160.el7.x86_64 is an installed security update
neutron.noarch                      8.0-1                 mos-updates
"""


def test_parse_check_update_stops_at_the_trailer():
    ids = ["mos-updates", "mos-security"]
    assert mosmu_yum.parse_check_update(CHECK_UPDATE, ids) == {
        "openstack-nova-common": "1:12.0.1-1.el7", "python-nova": "12.0.1-1.el7"}
    obsoleting = "a.noarch 1-1 mos-updates\nObsoleting Packages\nb.noarch 2-1 mos-updates\n"
    assert mosmu_yum.parse_check_update(obsoleting, ids) == {"a": "1-1"}
    assert mosmu_yum.parse_check_update("a.noarch 1-1 mos-updates\n", []) == {}


def test_a_simulation_lists_each_mu_upgrade_with_old_and_new_version():
    yum = _yum(repos=["security"])
    ret = {"retcode": 100, "stdout": CHECK_UPDATE, "stderr": ""}
    installed = {"openstack-nova-common": "1:12.0.0-1.el7", "bash": "4.2.46-1"}
    assert yum.parse_simulation(ret, installed) == {
        "openstack-nova-common": {"old": "12.0.0-1.el7", "new": "12.0.1-1.el7"},
        "python-nova": {"old": "", "new": "12.0.1-1.el7"}}    # a new package: no old version
    assert yum.parse_simulation(ret) == {
        "openstack-nova-common": {"old": "", "new": "12.0.1-1.el7"},
        "python-nova": {"old": "", "new": "12.0.1-1.el7"}}
    assert yum.parse_simulation({"retcode": 0, "stdout": "", "stderr": ""}, installed) == {}


@pytest.mark.parametrize("retcode", [1, 2, 200])
def test_failed_check_update_is_refused_with_its_errors(retcode):
    ret = {"retcode": retcode, "stdout": "",
           "stderr": "Error: Failed to download metadata for repo 'mos-updates'\n"}
    with pytest.raises(RuntimeError, match=f"exit {retcode}") as err:
        _yum(tools=YUM).parse_simulation(ret, {})
    assert "yum" in str(err.value) and "mos-updates" in str(err.value)


@pytest.mark.parametrize("stdout, stderr, errors", [
    ("", "Error: Failed to download metadata for repo 'mos-updates'\n",
     ["Error: Failed to download metadata for repo 'mos-updates'"]),
    ("", "Cannot retrieve repository metadata (repomd.xml) for repository: mos-updates\n"
         "Please verify its path and try again\n",
     ["Cannot retrieve repository metadata (repomd.xml) for repository: mos-updates"]),
    ("Loaded plugins: fastestmirror\n", "Failed to set locale, defaulting to C\n  x\n",
     ["Failed to set locale, defaulting to C"]),
    ("tail of stdout\n", "  Error: indented\n", ["Error: indented"]),
    # no Error/Cannot/Failed line: the last line says most
    ("one\ntwo\nthree\n", "", ["three"]),
    ("three\n", "one\ntwo\n", ["three"]),              # stderr first, then stdout
    ("", "", ["exit 1"]),
    ("\n  \n", "\n", ["exit 1"]),
    ("error: lower case is not a yum error line\nlast\n", "", ["last"]),
    ("b", "Error: a", ["Error: a"]),
])
def test_refresh_errors_are_the_error_lines(stdout, stderr, errors):
    assert _yum().refresh_errors({"retcode": 1, "stdout": stdout, "stderr": stderr}) == errors


def test_refresh_errors_only_when_it_failed():
    yum = _yum()
    assert yum.refresh_errors({"retcode": 0, "stdout": "Error: x\n", "stderr": "y\n"}) == []
    assert yum.refresh_errors({"retcode": 2, "stdout": "", "stderr": ""}) == ["exit 2"]


def test_installed_packages_carry_their_epoch_when_it_is_not_null():
    stdout = ("a\t(none):1.0-1\n"
              "b\t2:3.0-1\n"
              "c\t0:4.0-1.el7\n"
              "d\t\n"                 # no version: kept, empty
              "\t5.0-1\n"             # no name
              "e 6.0-1\n"             # not the tab-separated format
              "f\t7.0\textra\n"
              "junk\n"
              "\n")
    assert mosmu_yum.parse_rpm_query(stdout) == {"a": "1.0-1", "b": "2:3.0-1",
                                                 "c": "4.0-1.el7", "d": ""}


def test_parse_installed_drops_imported_signing_keys():
    stdout = "gpg-pubkey\t(none):f4a80eb5-53a7ff4b\nbash\t(none):4.2.46-30.el7\n"
    assert _yum().parse_installed(stdout) == {"bash": "4.2.46-30.el7"}


@pytest.mark.parametrize("version, want", [
    ("1.0-1", "1.0-1"), ("0:1.0-1", "1.0-1"), ("12:1.0-1", "1.0-1"),
    ("2:1.0:b-1", "1.0:b-1"),      # only the epoch: everything after the first colon
    ("", ""),
])
def test_a_null_epoch_is_stripped(version, want):
    assert mosmu_yum.strip_epoch(version) == want


def test_rpm_query_strips_only_a_null_epoch():
    assert mosmu_yum.parse_rpm_query("p\t(none):1.0:b-1\nq\t0:2.0:c-1\n") == {
        "p": "1.0:b-1", "q": "2.0:c-1"}


def test_a_plan_url_with_a_trailing_slash_still_writes_one_slash():
    plan = dataclasses.replace(_plan(), repo_url=URL + "/")
    assert mosmu_yum.Yum("/", plan, DNF).files() == {
        "/etc/mosmu/yum.repos.d/mos-updates.repo": _repo("updates")}

# --- as a node builds it: older catalog rows through backend selection ---------------------

ALL_TOOLS = {"apt-get": "/usr/bin/apt-get", "dpkg": "/usr/bin/dpkg",
             "dpkg-query": "/usr/bin/dpkg-query", "dnf": "/usr/bin/dnf", "rpm": "/usr/bin/rpm"}


def _from_catalog(distro, version, root="/", repos=(), trusted=False, private=None,
                  tools=ALL_TOOLS):
    plan = mosmu_plan.Plan.build(mosmu_catalog.Catalog().get(distro, version), URL,
                                 list(repos), trusted)
    return mosmu_backend.for_plan(plan, root, tools.get, private)


def test_mos_6_1_enables_only_its_mu_repos_as_the_old_tool_did():
    backend = _from_catalog("centos", "6.1", repos=["security"])
    argv = backend.upgrade_argv(None)
    assert argv[0] == "dnf" and "--disablerepo=*" in argv
    assert [a for a in argv if a.startswith("--enablerepo=")] == [
        "--enablerepo=mos-updates", "--enablerepo=mos-security"]
    assert "--setopt=reposdir=/etc/mosmu/yum.repos.d" in argv
    assert argv[-2:] == ["update", "--skip-broken"] and "-y" in argv
    assert "--nogpgcheck" not in argv and "--installroot" not in " ".join(argv)


def test_mos_7_0_on_yum_skips_gpg_checks_only_when_trusted():
    tools = {"yum": "/usr/bin/yum", "rpm": "/bin/rpm"}
    backend = _from_catalog("centos", "7.0", trusted=True, tools=tools)
    assert backend.upgrade_argv(None)[0] == "yum" and "--nogpgcheck" in backend.upgrade_argv(None)


def test_mos_6_1_repo_files_match_the_old_tool_s_text():
    files = _from_catalog("centos", "6.1").files()
    text = files["/etc/mosmu/yum.repos.d/mos-updates.repo"]
    assert "[mos-updates]\nname=mos-updates\n" \
        f"baseurl={URL}/mos/centos-6/mos6.1/updates/\ngpgcheck=0\n" in text


def test_mos_6_1_in_an_alternate_root_in_test_mode():
    backend = _from_catalog("centos", "6.1", root="/srv/c1", private="/tmp/q")
    argv = backend.simulate_argv()
    assert "--installroot=/srv/c1" in argv and "--setopt=cachedir=/tmp/q/cache" in argv
    assert "--setopt=reposdir=/tmp/q/yum.repos.d" in argv and argv[-1] == "check-update"
    assert backend.private_leftovers() == ["/srv/c1/tmp/q"]   # dnf puts part of it there
    assert backend.installed_argv()[:2] == ["rpm", "--root=/srv/c1"]


def test_mos_6_1_simulation_keeps_only_mu_repos_and_fails_on_an_error_exit():
    out = ("\nopenstack-nova-common.noarch   1.1-1   mos-updates\n"
           "python-nova.noarch              1.1-1   mos-security\n"
           "bash.x86_64                     5.0-1   base\n"
           "Obsoleting Packages\nfoo.noarch 2-1 mos-updates\n")
    backend = _from_catalog("centos", "6.1", repos=["security"])
    got = backend.parse_simulation({"retcode": 100, "stdout": out, "stderr": ""},
                                   {"openstack-nova-common": "1.0-1", "python-nova": "0:1.0-1"})
    assert got == {"openstack-nova-common": {"old": "1.0-1", "new": "1.1-1"},
                   "python-nova": {"old": "1.0-1", "new": "1.1-1"}}
    assert backend.parse_simulation({"retcode": 0, "stdout": "", "stderr": ""}, {}) == {}
    with pytest.raises(RuntimeError, match="exit 1"):
        backend.parse_simulation({"retcode": 1, "stdout": "",
                                  "stderr": "Error: Failed to download metadata"}, {})
    assert mosmu_yum.parse_rpm_query("a\t(none):1.0-1\nb\t2:3.0-1\n") == \
        {"a": "1.0-1", "b": "2:3.0-1"}


def test_mos_6_1_interrupted_transaction_is_detected(tmp_path):
    backend = _from_catalog("centos", "6.1", root=str(tmp_path))
    assert backend.journal_dir == str(tmp_path / "var/lib/yum")
    assert backend.interrupted("", []) == []
    assert len(backend.interrupted("", ["transaction-all.2016-01-01.12:00.01"])) == 1
