"""apt command lines and parsers (the commands themselves run in the integration tests)."""

import mosmu_apt
import mosmu_repo
import pytest


def _opts(argv):
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]


def test_real_root_has_no_rerooting_options():
    opts = _opts(mosmu_apt.base_options("/", "/etc/mosmu/sources.list.d"))
    assert not any(o.startswith(("Dir=", "Dir::State::status", "DPkg::Options::=--root"))
                   for o in opts)
    assert "Dir::Etc::sourcelist=-" in opts and "APT::Get::List-Cleanup=0" in opts
    assert "APT_CONFIG" not in mosmu_apt.env("/")


def test_alt_root_reroots_apt_and_dpkg():
    root = "/srv/nodes/n1"
    opts = _opts(mosmu_apt.base_options(root, f"{root}/etc/mosmu/sources.list.d"))
    assert f"Dir={root}/" in opts
    assert f"Dir::State::status={root}/var/lib/dpkg/status" in opts
    assert f"DPkg::Options::=--root={root}" in opts   # without it dpkg writes to the host
    assert mosmu_apt.env(root)["APT_CONFIG"] == f"{root}/etc/mosmu/apt.conf"
    assert mosmu_apt.dpkg_query_argv(root)[1] == f"--admindir={root}/var/lib/dpkg"


@pytest.mark.parametrize("version, flags", [
    ((1, 0), ["--force-yes"]),
    ((2, 6), ["--allow-downgrades", "--allow-remove-essential", "--allow-change-held-packages"]),
])
def test_upgrade_flags_follow_apt_version(version, flags):
    argv = mosmu_apt.upgrade_argv([], version)
    assert all(f in argv for f in flags) and argv[-1] == "upgrade"
    assert "DPkg::Options::=--force-confold" in _opts(argv)


def test_parse_simulation():
    out = ("Reading package lists...\n"
           "Inst nova-common [1.0] (1.1 mos8.0-updates [all])\n"
           "Inst new-dep (2.0 mos8.0-updates [all])\n"
           "Conf nova-common (1.1 mos8.0-updates [all])\n")
    assert mosmu_apt.parse_simulation(out) == {
        "nova-common": {"old": "1.0", "new": "1.1"}, "new-dep": {"old": "", "new": "2.0"}}


def test_update_errors_catch_failures_hidden_by_rc_zero():
    out = ("Hit:1 http://x mos8.0-updates InRelease\n"
           "W: Failed to fetch http://x/dists/mos8.0-updates/Release  Connection refused\n")
    assert len(mosmu_apt.update_errors(out, "")) == 1
    assert mosmu_apt.update_errors("Hit:1 http://x mos8.0-updates Release\n", "") == []


def test_dpkg_query_parse_and_diff():
    installed = mosmu_apt.parse_dpkg_query("a\t1.0\tii \nb\t2.0\trc \nc\t3.0\thi \n")
    assert installed == {"a": "1.0", "c": "3.0"}
    assert mosmu_apt.diff_versions({"a": "1.0", "b": "1"}, {"a": "1.1", "c": "2"}) == {
        "a": {"old": "1.0", "new": "1.1"}, "b": {"old": "1", "new": ""},
        "c": {"old": "", "new": "2"}}


def test_apt_sources_lines():
    text = mosmu_repo.apt_sources("http://10.20.0.2:8080/", "8.0", ["security"])
    lines = [ln for ln in text.splitlines() if ln.startswith("deb")]
    assert lines == [
        "deb http://10.20.0.2:8080/mos-repos/ubuntu/8.0 mos8.0-updates main restricted",
        "deb http://10.20.0.2:8080/mos-repos/ubuntu/8.0 mos8.0-security main restricted"]
    assert "[trusted=yes]" in mosmu_repo.apt_sources("http://h:1", "9.2", [], trusted=True)


@pytest.mark.parametrize("url, version", [
    ("http://h/ x", "8.0"), ("http://h;reboot", "8.0"), ("ftp://h", "8.0"), ("http://h", "8"),
])
def test_apt_sources_rejects_bad_values(url, version):
    with pytest.raises(ValueError):
        mosmu_repo.apt_sources(url, version, [])
