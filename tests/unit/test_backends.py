"""The package backends' argv lists, files and parsers (the commands run in tests/integration).

Both backends are built from real catalog rows through the plan, as the node builds them.
"""

import re
import subprocess

import pytest

import mosmu_apt
import mosmu_backend
import mosmu_catalog
import mosmu_plan
import mosmu_repo
import mosmu_yum

CATALOG = mosmu_catalog.Catalog()
URL = "http://10.20.0.2:8080"
ALL_TOOLS = {"apt-get": "/usr/bin/apt-get", "dpkg": "/usr/bin/dpkg",
             "dpkg-query": "/usr/bin/dpkg-query", "dnf": "/usr/bin/dnf", "rpm": "/usr/bin/rpm"}


def _plan(distro, version, repos=(), trusted=False):
    return mosmu_plan.Plan.build(CATALOG.get(distro, version), URL, list(repos), trusted)


def _backend(distro, version, root="/", repos=(), trusted=False, private=None,
             tools=ALL_TOOLS):
    return mosmu_backend.for_plan(_plan(distro, version, repos, trusted), root, tools.get,
                                  private)


def _opts(argv):
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]


# -- apt ---------------------------------------------------------------------------------------

def test_apt_real_root_has_no_rerooting_options_and_only_mu_sources():
    backend = _backend("ubuntu", "8.0")
    opts = _opts(backend.refresh_argv())
    assert not any(o.startswith(("Dir=", "Dir::State::status", "DPkg::Options::=--root"))
                   for o in opts)
    assert "Dir::Etc::sourcelist=-" in opts and "APT::Get::List-Cleanup=0" in opts
    assert "Dir::Etc::sourceparts=/etc/mosmu/sources.list.d/" in opts
    assert "Dir::Etc::preferencesparts=/etc/mosmu/preferences.d/" in opts
    assert "APT_CONFIG" not in backend.env()
    assert backend.audit_argv() == ["dpkg", "--audit"]


def test_apt_alt_root_reroots_apt_and_dpkg_and_dpkg_logs_inside_the_root():
    root = "/srv/nodes/n1"
    backend = _backend("ubuntu", "8.0", root=root)
    opts = _opts(backend.upgrade_argv((2, 6)))
    assert f"Dir={root}/" in opts
    assert f"Dir::State::status={root}/var/lib/dpkg/status" in opts
    assert f"DPkg::Options::=--root={root}" in opts   # without it dpkg writes to the host
    assert f"DPkg::Options::=--log={root}/var/log/dpkg.log" in opts   # not the host's log
    assert f"Dir::Etc::sourceparts={root}/etc/mosmu/sources.list.d/" in opts
    assert backend.env()["APT_CONFIG"] == f"{root}/etc/mosmu/apt.conf"
    assert backend.files()[f"{root}/etc/mosmu/apt.conf"] == f'Dir "{root}/";\n'
    assert backend.installed_argv()[1] == f"--admindir={root}/var/lib/dpkg"
    assert backend.recover_argvs()[0][:3] == ["dpkg", f"--root={root}",
                                              f"--log={root}/var/log/dpkg.log"]


def test_apt_test_mode_keeps_lists_and_cache_private():
    backend = _backend("ubuntu", "8.0", root="/srv/n1", private="/tmp/p")
    opts = _opts(backend.simulate_argv())
    assert "Dir::State::Lists=/tmp/p/lists/" in opts and "Dir::Cache=/tmp/p/cache/" in opts
    assert all(path.startswith("/tmp/p/") for path in backend.files())


@pytest.mark.parametrize("version, flags", [
    ((1, 0), ["--force-yes"]),
    ((2, 6), ["--allow-downgrades", "--allow-remove-essential", "--allow-change-held-packages"]),
])
def test_apt_upgrade_flags_follow_apt_version(version, flags):
    argv = _backend("ubuntu", "8.0").upgrade_argv(version)
    assert all(f in argv for f in flags) and argv[-1] == "upgrade"
    assert "--force-yes" not in argv or version < (1, 1)
    assert "DPkg::Options::=--force-confold" in _opts(argv)


@pytest.mark.parametrize("version, verb", [("5.1.1", "dist-upgrade"), ("6.0", "upgrade"),
                                           ("8.0", "upgrade")])
def test_apt_upgrade_verb_comes_from_the_catalog(version, verb):
    backend = _backend("ubuntu", version)
    assert backend.upgrade_argv((2, 6))[-1] == verb
    assert backend.simulate_argv()[-1] == verb


def test_apt_files_one_list_per_repo_and_pins_holdback_above_updates():
    backend = _backend("ubuntu", "8.0", repos=["holdback", "security"])
    files = backend.files()
    lists = {p.rsplit("/", 1)[1]: t for p, t in files.items() if p.endswith(".list")}
    assert sorted(lists) == ["mos-holdback.list", "mos-security.list", "mos-updates.list"]
    assert lists["mos-updates.list"].splitlines()[-1] == \
        f"deb {URL}/mos-repos/ubuntu/8.0 mos8.0-updates main restricted"
    pins = files["/etc/mosmu/preferences.d/mosmu.pref"]
    stanzas = {block.split("a=")[1].split("\n")[0]: int(block.rsplit(": ", 1)[1])
               for block in pins.split("\n\n") if "Pin:" in block}
    assert stanzas == {"mos8.0-updates": 1050, "mos8.0-security": 1050, "mos8.0-holdback": 1100}


def test_apt_trusted_only_on_request():
    text = "".join(_backend("ubuntu", "9.2", trusted=True).files().values())
    assert "[trusted=yes]" in text
    assert "[trusted=yes]" not in "".join(_backend("ubuntu", "9.2").files().values())


def test_apt_stale_lists_of_dropped_repos_are_found():
    backend = _backend("ubuntu", "8.0")
    existing = ["/etc/mosmu/sources.list.d/mos-updates.list",
                "/etc/mosmu/sources.list.d/mos-proposed.list"]
    assert backend.stale(existing) == ["/etc/mosmu/sources.list.d/mos-proposed.list"]


def test_apt_parsers():
    out = ("Reading package lists...\n"
           "Inst nova-common [1.0] (1.1 mos8.0-updates [all])\n"
           "Inst new-dep (2.0 mos8.0-updates [all])\n"
           "Conf nova-common (1.1 mos8.0-updates [all])\n")
    assert mosmu_apt.parse_simulation(out) == {
        "nova-common": {"old": "1.0", "new": "1.1"}, "new-dep": {"old": "", "new": "2.0"}}
    assert mosmu_apt.parse_kept_back(
        "The following packages have been kept back:\n  a b\n  c\n0 upgraded\n") == \
        ["a", "b", "c"]
    assert mosmu_apt.parse_downgraded(
        "The following packages will be upgraded:\n  x\n"
        "The following packages will be DOWNGRADED:\n  nova-common b\n"
        "1 upgraded, 0 newly installed, 2 downgraded, 0 to remove\n") == ["b", "nova-common"]
    assert mosmu_apt.parse_dpkg_query("a\t1.0\tinstall ok installed\n"
                                      "b\t2.0\tdeinstall ok config-files\n"
                                      "c\t3.0\thold ok installed\n") == \
        {"a": "1.0", "c": "3.0"}
    assert mosmu_apt.parse_apt_version("apt 2.6.1 (amd64)\nSupported modules:") == (2, 6)
    assert mosmu_apt.parse_apt_version("apt 1.0.1ubuntu2 for amd64 compiled") == (1, 0)
    assert mosmu_apt.parse_apt_version("garbage") == (0, 0)


@pytest.mark.parametrize("stdout, stderr, bad", [
    ("Hit:1 http://x mos8.0-updates InRelease\n", "", 0),
    ("", "W: Failed to fetch http://x/dists/mos8.0-updates/Release  Connection refused\n", 1),
    ("Err:1 http://x mos8.0-updates Release\n  404  Not Found\n", "E: The repository ...", 2),
    ("", "W: Some index files failed to download.\n", 1),
    ("", "W: --force-yes is deprecated, use one of the options starting with --allow\n", 0),
])
def test_apt_update_errors_catch_failures_hidden_by_rc_zero(stdout, stderr, bad):
    assert len(mosmu_apt.update_errors(stdout, stderr)) == bad


# -- yum ---------------------------------------------------------------------------------------

def test_yum_restricts_to_mu_repos_as_the_old_tool():
    backend = _backend("centos", "6.1", repos=["security"])
    argv = backend.upgrade_argv(None)
    assert argv[0] == "dnf" and "--disablerepo=*" in argv
    assert [a for a in argv if a.startswith("--enablerepo=")] == [
        "--enablerepo=mos-updates", "--enablerepo=mos-security"]
    assert "--setopt=reposdir=/etc/mosmu/yum.repos.d" in argv
    assert argv[-2:] == ["update", "--skip-broken"] and "-y" in argv
    assert "--nogpgcheck" not in argv and "--installroot" not in " ".join(argv)


def test_yum_prefers_yum_when_no_dnf_and_nogpgcheck_only_when_trusted():
    tools = {"yum": "/usr/bin/yum", "rpm": "/bin/rpm"}
    backend = _backend("centos", "7.0", trusted=True, tools=tools)
    assert backend.upgrade_argv(None)[0] == "yum" and "--nogpgcheck" in backend.upgrade_argv(None)


def test_yum_repo_files_match_the_old_tool_text():
    files = _backend("centos", "6.1").files()
    text = files["/etc/mosmu/yum.repos.d/mos-updates.repo"]
    assert "[mos-updates]\nname=mos-updates\n" \
        f"baseurl={URL}/mos/centos-6/mos6.1/updates/\ngpgcheck=0\n" in text


def test_yum_alt_root_and_private_state():
    backend = _backend("centos", "6.1", root="/srv/c1", private="/tmp/q")
    argv = backend.simulate_argv()
    assert "--installroot=/srv/c1" in argv and "--setopt=cachedir=/tmp/q/cache" in argv
    assert "--setopt=reposdir=/tmp/q/yum.repos.d" in argv and argv[-1] == "check-update"
    assert backend.private_leftovers() == ["/srv/c1/tmp/q"]   # dnf puts part of it there
    assert backend.installed_argv()[:2] == ["rpm", "--root=/srv/c1"]


def test_yum_parsers():
    out = ("\nopenstack-nova-common.noarch   1.1-1   mos-updates\n"
           "python-nova.noarch              1.1-1   mos-security\n"
           "bash.x86_64                     5.0-1   base\n"
           "Obsoleting Packages\nfoo.noarch 2-1 mos-updates\n")
    backend = _backend("centos", "6.1", repos=["security"])
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


def test_yum_interrupted_transaction_is_detected(tmp_path):
    backend = _backend("centos", "6.1", root=str(tmp_path))
    assert backend.journal_dir == str(tmp_path / "var/lib/yum")
    assert backend.interrupted("", []) == []
    assert len(backend.interrupted("", ["transaction-all.2016-01-01.12:00.01"])) == 1


def test_apt_interrupted_dpkg_journal_is_detected(tmp_path):
    backend = _backend("ubuntu", "8.0", root=str(tmp_path))
    assert backend.journal_dir == str(tmp_path / "var/lib/dpkg/updates")
    assert backend.interrupted("", []) == []
    assert len(backend.interrupted("", ["0001"])) == 1
    assert backend.interrupted("The following packages are only half configured.\n x  X\n",
                               ["0001"]) == [
        "dpkg --audit: x (the following packages are only half configured)",
        "dpkg was interrupted (unfinished journal in /var/lib/dpkg/updates)"]


def test_repo_text_for_every_catalog_row_is_one_plain_line_or_stanza():
    for tree in CATALOG.rows():
        plan = mosmu_plan.Plan.build(tree, URL, list(tree.repos))
        for name, text in mosmu_repo.repo_files(plan).items():
            assert "\n\n" not in text and "{" not in text and name.startswith("mos-")


# dpkg-query of Ubuntu 12.04 (dpkg 1.16.1, MOS 5.1.1/6.0 nodes) knows the control fields and
# ${Status}; ${db:Status-Abbrev} and ${binary:Package} came with 1.16.2 and print nothing there
DPKG_1_16_1_FIELDS = {"Package", "Version", "Status", "Architecture", "Source"}


def test_the_installed_query_uses_only_fields_ubuntu_12_04s_dpkg_knows():
    fields = set(re.findall(r"\$\{([^}]+)\}", mosmu_apt.INSTALLED_FORMAT))
    assert fields <= DPKG_1_16_1_FIELDS
    # what such a dpkg prints for it reads as installed, held or not
    out = "nova-common\t1.0\tinstall ok installed\nneutron-common\t1.0\thold ok installed\n"
    assert mosmu_apt.parse_dpkg_query(out) == {"nova-common": "1.0", "neutron-common": "1.0"}
    assert mosmu_apt.parse_held(out) == ["neutron-common"]


def test_the_installed_query_reads_what_the_real_dpkg_query_prints(tmp_path):
    """INSTALLED_FORMAT run by dpkg-query itself on a private status file (never the
    host's): installed, held and removed packages."""
    (tmp_path / "status").write_text("".join(
        f"Package: {name}\nStatus: {status}\nVersion: 2:12.0.4-1\nArchitecture: all\n"
        "Maintainer: x <x@example.org>\nDescription: t\n\n"
        for name, status in (("nova-common", "hold ok installed"),
                             ("nova-compute", "install ok installed"),
                             ("nova-api", "deinstall ok config-files"))))
    out = subprocess.run(["dpkg-query", f"--admindir={tmp_path}", "-W", "-f",
                          mosmu_apt.INSTALLED_FORMAT],
                         capture_output=True, text=True, check=True).stdout
    assert mosmu_apt.parse_dpkg_query(out) == {"nova-common": "2:12.0.4-1",
                                               "nova-compute": "2:12.0.4-1"}
    assert mosmu_apt.parse_held(out) == ["nova-common"]
