"""The package backends' argv lists, files and parsers (the commands run in tests/integration).

Both backends are built from real catalog rows through the plan, as the node builds them.
"""

import re
import subprocess

import pytest

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
