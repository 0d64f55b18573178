"""The apt backend: the argv lists, files and parsers of an Ubuntu node's MU run.

Every argv list the node runs is asserted whole: a dropped ``-o``, a re-rooting option that
points at the host, a key directory apt never reads or a missing ``--force-conf*`` is a changed
node. Every parser gets the output lines apt and dpkg really print, including the ``E:``,
``Err:`` and ``W:`` lines of ``apt-get update`` that mean failure although it exits 0.
"""

import dataclasses
import re
import subprocess

import pytest

import mosmu_apt
import mosmu_catalog
import mosmu_plan
import mosmu_repo

KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF\n-----END PGP PUBLIC KEY BLOCK-----\n"
URL = "http://10.20.0.2:8080"
TOOLS = {"apt-get": "/usr/bin/apt-get", "dpkg": "/usr/bin/dpkg",
         "dpkg-query": "/usr/bin/dpkg-query"}


def _plan(version="8.0", key=None, trusted=False, repos=(), distro="ubuntu"):
    catalog = mosmu_catalog.Catalog(default_key=key)
    return mosmu_plan.Plan.build(catalog.get(distro, version), URL, list(repos), trusted)


def _apt(root="/", private=None, **plan):
    return mosmu_apt.Apt(root, _plan(**plan), TOOLS, private)


def _common(sources, prefs):
    """The options every apt-get call carries: only mosmu's sources and pins, lock wait."""
    return ["-o", "Dir::Etc::sourcelist=-",
            "-o", f"Dir::Etc::sourceparts={sources}/",
            "-o", "APT::Get::List-Cleanup=0",
            "-o", "Dir::Etc::preferences=-",
            "-o", f"Dir::Etc::preferencesparts={prefs}/",
            "-o", "DPkg::Lock::Timeout=300"]


REAL = _common("/etc/mosmu/sources.list.d", "/etc/mosmu/preferences.d")
CONF = ["-o", "DPkg::Options::=--force-confdef", "-o", "DPkg::Options::=--force-confold"]


def _rerooted(root):
    return ["-o", f"Dir={root}/", "-o", f"Dir::State::status={root}/var/lib/dpkg/status",
            "-o", f"DPkg::Options::=--root={root}",
            "-o", f"DPkg::Options::=--log={root}/var/log/dpkg.log"]


# --- paths: everything inside the node root, never the host's ------------------------------

@pytest.mark.parametrize("root, relpath, want", [
    ("/srv/n1", "etc/mosmu", "/srv/n1/etc/mosmu"),
    ("/srv/n1", "/etc/mosmu", "/srv/n1/etc/mosmu"),      # never the host's /etc
    ("/srv/n1", "//var/lib/dpkg", "/srv/n1/var/lib/dpkg"),
    ("/srv/n1", "/Xorg/conf/", "/srv/n1/Xorg/conf/"),
    ("/", "var/lib/dpkg/updates", "/var/lib/dpkg/updates"),
])
def test_node_path_stays_inside_the_root(root, relpath, want):
    assert mosmu_apt.node_path(root, relpath) == want


@pytest.mark.parametrize("root, want", [
    ("/srv/n1", 'Dir "/srv/n1/";\n'),
    ("/srv/n1/", 'Dir "/srv/n1/";\n'),
    ("/srv/n1//", 'Dir "/srv/n1/";\n'),
    ("/srv/NX/", 'Dir "/srv/NX/";\n'),
    ("/srv/n 1/", 'Dir "/srv/n 1/";\n'),
])
def test_an_alternate_root_s_apt_conf_names_it_with_one_slash(root, want):
    assert mosmu_apt.alt_root_conf(root) == want


def test_test_mode_keeps_sources_pins_keys_lists_and_cache_private():
    apt = _apt()
    assert apt.dirs == ["/etc/mosmu/sources.list.d", "/etc/mosmu/preferences.d",
                        "/etc/mosmu/trusted.gpg.d"]
    assert apt.private_dirs() == []
    assert apt.private_leftovers() == []
    private = _apt(root="/srv/n1", private="/tmp/p")
    assert private.dirs == ["/tmp/p/sources.list.d", "/tmp/p/preferences.d",
                            "/tmp/p/trusted.gpg.d"]
    assert private.private_dirs() == ["/tmp/p/lists/partial", "/tmp/p/cache/archives/partial"]
    assert private.private_leftovers() == []
    assert _apt(root="/srv/n1/").dirs[0] == "/srv/n1/etc/mosmu/sources.list.d"


@pytest.mark.parametrize("missing", ["apt-get", "dpkg", "dpkg-query"])
def test_apt_get_dpkg_and_dpkg_query_are_each_needed(missing):
    tools = {t: p for t, p in TOOLS.items() if t != missing}
    with pytest.raises(LookupError, match=missing):
        mosmu_apt.Apt("/", _plan(), tools)
    with pytest.raises(LookupError, match=missing):
        mosmu_apt.Apt("/", _plan(), dict(tools, **{missing: ""}))


# --- files: one list per repo, the pins, the key only where apt reads it -------------------

def _list(path="mos8.0-updates", options=""):
    return (mosmu_repo.HEADER
            + f"deb {options}{URL}/mos-repos/ubuntu/8.0 {path} main restricted\n")


PINS = (mosmu_repo.HEADER
        + "Package: *\nPin: release a=mos8.0-updates\nPin-Priority: 1050\n")


def test_files_of_a_signed_plan_carry_its_key_where_apt_reads_it():
    assert _apt(key=KEY).files() == {
        "/etc/mosmu/sources.list.d/mos-updates.list": _list(),
        "/etc/mosmu/preferences.d/mosmu.pref": PINS,
        "/etc/mosmu/trusted.gpg.d/mosmu-mu.asc": KEY,
    }


def test_files_of_a_trusted_or_unsigned_plan_have_no_key():
    assert _apt().files() == {"/etc/mosmu/sources.list.d/mos-updates.list": _list(),
                              "/etc/mosmu/preferences.d/mosmu.pref": PINS}
    assert _apt(key=KEY, trusted=True).files() == {
        "/etc/mosmu/sources.list.d/mos-updates.list": _list(options="[trusted=yes] "),
        "/etc/mosmu/preferences.d/mosmu.pref": PINS}


def test_files_of_an_alternate_root_and_of_test_mode_stay_there():
    assert _apt(root="/srv/n1/", key=KEY).files() == {
        "/srv/n1/etc/mosmu/sources.list.d/mos-updates.list": _list(),
        "/srv/n1/etc/mosmu/preferences.d/mosmu.pref": PINS,
        "/srv/n1/etc/mosmu/trusted.gpg.d/mosmu-mu.asc": KEY,
        "/srv/n1/etc/mosmu/apt.conf": 'Dir "/srv/n1/";\n',
    }
    assert _apt(root="/srv/n1", private="/tmp/p", key=KEY).files() == {
        "/tmp/p/sources.list.d/mos-updates.list": _list(),
        "/tmp/p/preferences.d/mosmu.pref": PINS,
        "/tmp/p/trusted.gpg.d/mosmu-mu.asc": KEY,
        "/tmp/p/apt.conf": 'Dir "/srv/n1/";\n',
    }


def test_stale_files_are_the_ones_the_plan_no_longer_has():
    apt = _apt()
    existing = ["/etc/mosmu/trusted.gpg.d/mosmu-mu.asc",        # the plan became trusted
                "/etc/mosmu/preferences.d/mosmu.pref",
                "/etc/mosmu/sources.list.d/mos-updates.list",
                "/etc/mosmu/sources.list.d/mos-proposed.list",   # a repo the plan dropped
                "/etc/mosmu/sources.list.d/.mosmu-abc123"]       # a killed write's temp file
    assert apt.stale(existing) == ["/etc/mosmu/sources.list.d/.mosmu-abc123",
                                   "/etc/mosmu/sources.list.d/mos-proposed.list",
                                   "/etc/mosmu/trusted.gpg.d/mosmu-mu.asc"]
    assert _apt(key=KEY).stale(existing) == ["/etc/mosmu/sources.list.d/.mosmu-abc123",
                                             "/etc/mosmu/sources.list.d/mos-proposed.list"]


# --- commands: only mosmu's sources and pins; an alternate root re-roots apt and dpkg -------

def test_apt_runs_non_interactive_in_the_c_locale_with_the_root_s_conf():
    assert _apt().env() == {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    assert _apt(root="/srv/n1/").env() == {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C",
                                           "APT_CONFIG": "/srv/n1/etc/mosmu/apt.conf"}


def test_a_real_node_reads_only_mosmu_s_sources_and_pins():
    assert _apt().options() == REAL


def test_options_of_a_signed_plan_read_only_its_key():
    assert _apt(key=KEY).options() == [
        *REAL, "-o", "Dir::Etc::trustedparts=/etc/mosmu/trusted.gpg.d/",
        "-o", "Dir::Etc::trusted=-"]
    assert _apt(key=KEY, trusted=True).options() == REAL   # [trusted=yes] in the list instead
    assert _apt(trusted=True).options() == REAL


@pytest.mark.parametrize("root, r", [
    ("/srv/n1", "/srv/n1"), ("/srv/n1/", "/srv/n1"), ("/srv/NX/", "/srv/NX"),
])
def test_options_of_an_alternate_root_reroot_apt_and_dpkg(root, r):
    apt = _apt(root=root)
    assert apt.options() == _rerooted(r) + _common(f"{r}/etc/mosmu/sources.list.d",
                                                   f"{r}/etc/mosmu/preferences.d")
    assert apt.audit_argv() == ["dpkg", f"--root={r}", f"--log={r}/var/log/dpkg.log", "--audit"]
    assert apt.installed_argv() == ["dpkg-query", f"--admindir={r}/var/lib/dpkg", "-W", "-f",
                                    mosmu_apt.INSTALLED_FORMAT]


def test_options_in_test_mode_keep_apt_state_private():
    apt = _apt(root="/srv/n1/", private="/tmp/p", key=KEY)
    assert apt.options() == _rerooted("/srv/n1") + _common("/tmp/p/sources.list.d",
                                                           "/tmp/p/preferences.d") + [
        "-o", "Dir::Etc::trustedparts=/tmp/p/trusted.gpg.d/", "-o", "Dir::Etc::trusted=-",
        "-o", "Dir::State::Lists=/tmp/p/lists/", "-o", "Dir::Cache=/tmp/p/cache/"]
    assert _apt(private="/tmp/p").options() == [
        *_common("/tmp/p/sources.list.d", "/tmp/p/preferences.d"),
        "-o", "Dir::State::Lists=/tmp/p/lists/", "-o", "Dir::Cache=/tmp/p/cache/"]


def test_every_command_on_a_real_node():
    apt = _apt()
    assert apt.version_argv() == ["apt-get", "--version"]
    assert apt.audit_argv() == ["dpkg", "--audit"]
    assert apt.refresh_argv() == ["apt-get", "-q", *REAL, "update"]
    assert apt.simulate_argv() == ["apt-get", "-q", "-s", *REAL, "upgrade"]
    assert apt.installed_argv() == ["dpkg-query", "-W", "-f",
                                    mosmu_apt.INSTALLED_FORMAT]
    assert apt.recover_argvs() == [
        ["dpkg", "--force-confdef", "--force-confold", "--configure", "-a"],
        ["apt-get", "-q", "-y", *REAL, *CONF, "-f", "install"]]


def test_recovery_of_an_alternate_root_stays_in_it():
    apt = _apt(root="/srv/n1/")
    opts = _rerooted("/srv/n1") + _common("/srv/n1/etc/mosmu/sources.list.d",
                                          "/srv/n1/etc/mosmu/preferences.d")
    assert apt.recover_argvs() == [
        ["dpkg", "--root=/srv/n1", "--log=/srv/n1/var/log/dpkg.log", "--force-confdef",
         "--force-confold", "--configure", "-a"],
        ["apt-get", "-q", "-y", *opts, *CONF, "-f", "install"]]


NEW_FLAGS = ["--allow-downgrades", "--allow-remove-essential", "--allow-change-held-packages"]


@pytest.mark.parametrize("version, force", [
    ((0, 0), ["--force-yes"]),            # unknown version: the flag every apt knows
    ((0, 9), ["--force-yes"]),
    ((1, 0), ["--force-yes"]),            # Ubuntu 14.04
    ((1, 1), NEW_FLAGS),                  # first apt with --allow-*
    ((1, 2), NEW_FLAGS),                  # Ubuntu 16.04
    ((2, 0), NEW_FLAGS),
    ((2, 6), NEW_FLAGS),
])
def test_the_force_flags_follow_the_apt_version(version, force):
    assert _apt().upgrade_argv(version) == ["apt-get", "-q", "-y", *force, *REAL, *CONF,
                                            "upgrade"]
    assert _apt(version="5.1.1").upgrade_argv(version)[-1] == "dist-upgrade"


@pytest.mark.parametrize("version, verb", [("5.1.1", "dist-upgrade"), ("6.0", "upgrade"),
                                           ("8.0", "upgrade")])
def test_the_upgrade_verb_comes_from_the_catalog(version, verb):
    apt = _apt(version=version)
    assert apt.upgrade_argv((2, 6))[-1] == verb and apt.simulate_argv()[-1] == verb


def test_a_simulation_runs_the_catalog_verb_with_s():
    assert _apt(version="5.1.1").simulate_argv() == ["apt-get", "-q", "-s",
                                                     *_common("/etc/mosmu/sources.list.d",
                                                              "/etc/mosmu/preferences.d"),
                                                     "dist-upgrade"]


# --- reading apt's output: versions, hidden update failures, simulations, lists ------------

@pytest.mark.parametrize("text, want", [
    ("apt 2.6.1 (amd64)\nSupported modules:\n", (2, 6)),
    ("apt 1.0.1ubuntu2 for amd64 compiled on Jan 12 2016\n", (1, 0)),
    ("apt 1.2.35 (amd64)", (1, 2)),
    ("\n  apt 10.11.0 (arm64)  \n", (10, 11)),
    ("", (0, 0)),
    ("   \n\n", (0, 0)),
    ("garbage\napt 2.6.1 (amd64)", (0, 0)),   # only the first line is the version line
    ("apt 2 (amd64)", (0, 0)),
])
def test_the_apt_version_is_read_from_the_first_line_only(text, want):
    assert mosmu_apt.parse_apt_version(text) == want
    assert _apt().parse_version(text) == want


@pytest.mark.parametrize("stdout, stderr, bad", [
    # rc 0 and nothing wrong
    ("Hit:1 http://x mos8.0-updates InRelease\nReading package lists...\n", "", []),
    # warnings that are not a failure of the MU repos
    ("", "W: --force-yes is deprecated, use one of the options starting with --allow\n", []),
    ("", "W: Target Packages (main/binary-amd64/Packages) is configured multiple times\n", []),
    ("N: Skipping acquire of configured file 'main/binary-i386/Packages'\n", "", []),
    # failures hidden behind rc 0
    ("", "W: Failed to fetch http://x/dists/mos8.0-updates/Release  Connection refused\n",
     ["W: Failed to fetch http://x/dists/mos8.0-updates/Release  Connection refused"]),
    ("", "W: Some index files failed to download. They have been ignored.\n",
     ["W: Some index files failed to download. They have been ignored."]),
    ("Err:1 http://x mos8.0-updates Release\n  404  Not Found\n",
     "E: The repository 'http://x mos8.0-updates Release' does not have a Release file.\n",
     ["Err:1 http://x mos8.0-updates Release",
      "E: The repository 'http://x mos8.0-updates Release' does not have a Release file."]),
    ("", "E: Could not get lock /var/lib/apt/lists/lock \n",
     ["E: Could not get lock /var/lib/apt/lists/lock"]),
    # apt 1.0 (Ubuntu 14.04) reports a bad or missing signature as a warning only, exit 0;
    # the upgrade with --force-yes would then install unauthenticated packages (regression)
    ("", "W: GPG error: http://10.20.0.2:8080 mos8.0-updates Release: The following signatures "
         "couldn't be verified because the public key is not available: NO_PUBKEY 1FA22B08\n",
     ["W: GPG error: http://10.20.0.2:8080 mos8.0-updates Release: The following signatures "
      "couldn't be verified because the public key is not available: NO_PUBKEY 1FA22B08"]),
    ("", "W: The repository 'http://10.20.0.2:8080 mos8.0-updates Release' is not signed.\n",
     ["W: The repository 'http://10.20.0.2:8080 mos8.0-updates Release' is not signed."]),
])
def test_update_failures_hidden_behind_exit_0_are_found(stdout, stderr, bad):
    assert mosmu_apt.update_errors(stdout, stderr) == bad


@pytest.mark.parametrize("ret, errors", [
    ({"retcode": 0, "stdout": "Hit:1 http://x mos8.0-updates InRelease\n", "stderr": ""}, []),
    ({"retcode": 0, "stdout": "", "stderr": "W: Some index files failed to download.\n"},
     ["W: Some index files failed to download."]),
    ({"retcode": 0, "stdout": "Err:1 http://x a Release\n", "stderr": ""},
     ["Err:1 http://x a Release"]),
    ({"retcode": 100, "stdout": "Reading package lists...\n", "stderr": ""}, ["exit 100"]),
    ({"retcode": 1, "stdout": "", "stderr": ""}, ["exit 1"]),
    ({"retcode": 100, "stdout": "", "stderr": "E: Could not get lock\n"},
     ["E: Could not get lock"]),
])
def test_a_refresh_fails_on_a_nonzero_exit_or_a_hidden_failure(ret, errors):
    assert _apt().refresh_errors(ret) == errors


NO_PUBKEY = ("W: GPG error: http://10.20.0.2:8080 mos8.0-updates InRelease: The following "
             "signatures couldn't be verified because the public key is not available: "
             "NO_PUBKEY D9E3886312AAC5F2")


@pytest.mark.parametrize("trusted, errors", [(False, [NO_PUBKEY]), (True, [])])
def test_signature_warnings_fail_unless_the_plan_is_trusted(trusted, errors):
    """[trusted=yes] makes every apt warn about the signature and go on by design; without it
    the warning is a failure (apt 1.0 would install the packages unauthenticated)."""
    ret = {"retcode": 0, "stdout": "", "stderr": NO_PUBKEY + "\n"}
    assert _apt(trusted=trusted).refresh_errors(ret) == errors
    assert mosmu_apt.update_errors("", NO_PUBKEY, trusted=trusted) == errors
    failed = "W: Failed to fetch http://x/dists/mos8.0-updates/Release  Connection refused"
    assert mosmu_apt.update_errors("", failed, trusted=trusted) == [failed]


SIMULATION = """\
NOTE: This is only a simulation!
Reading package lists...
The following packages will be upgraded:
  nova-common python-nova
Inst nova-common [2:12.0.0-1~u14.04+mos1] (2:12.0.1-1~u14.04+mos3 mos8.0-updates [all])
Inst python-nova [2:12.0.0-1] (2:12.0.1-1 mos8.0-updates, mos8.0-security [all]) []
Inst new-dep (1.0-1 mos8.0-updates [amd64])
  Inst indented-pkg [1] (2 mos8.0-updates [all])
Inst broken-line without parentheses
Conf nova-common (2:12.0.1-1~u14.04+mos3 mos8.0-updates [all])
Remv old-pkg [1.0]
"""


def test_a_simulation_lists_each_upgrade_with_old_and_new_version():
    want = {"nova-common": {"old": "2:12.0.0-1~u14.04+mos1", "new": "2:12.0.1-1~u14.04+mos3"},
            "python-nova": {"old": "2:12.0.0-1", "new": "2:12.0.1-1"},
            "new-dep": {"old": "", "new": "1.0-1"},
            "indented-pkg": {"old": "1", "new": "2"}}
    assert mosmu_apt.parse_simulation(SIMULATION) == want
    apt = _apt()
    assert apt.parse_simulation({"retcode": 0, "stdout": SIMULATION, "stderr": ""}) == want
    assert apt.parse_simulation({"retcode": 0, "stdout": "", "stderr": ""}, {"a": "1"}) == {}


@pytest.mark.parametrize("retcode", [1, 100, -9])
def test_a_failed_simulation_is_an_error_naming_the_verb_and_exit(retcode):
    ret = {"retcode": retcode, "stdout": SIMULATION, "stderr": "E: Broken packages\n"}
    with pytest.raises(RuntimeError, match=f"exit {retcode}") as err:
        _apt().parse_simulation(ret)
    assert "upgrade" in str(err.value)
    with pytest.raises(RuntimeError, match="dist-upgrade"):
        _apt(version="5.1.1").parse_simulation(ret)


@pytest.mark.parametrize("stdout, names", [
    ("The following packages have been kept back:\n  b a\n  c\n0 upgraded, 0 newly\n",
     ["a", "b", "c"]),
    # apt lists the upgraded packages right after: they are not kept back
    ("Reading state information...\n"
     "The following packages have been kept back:\n  linux-generic\n"
     "The following packages will be upgraded:\n  nova-common python-nova\n"
     "2 upgraded, 0 newly installed, 0 to remove and 1 not upgraded.\n", ["linux-generic"]),
    # indented lines before the header are something else
    ("  nova-common\nThe following packages have been kept back:\n  x\n", ["x"]),
    ("The following packages have been kept back:\n  a\n\n  b\n", ["a"]),
    ("The following packages will be upgraded:\n  a b\n", []),
    ("", []),
])
def test_kept_back_packages_are_the_ones_under_apt_s_header(stdout, names):
    assert mosmu_apt.parse_kept_back(stdout) == names
    assert _apt().kept_back({"retcode": 0, "stdout": stdout, "stderr": ""}) == names


@pytest.mark.parametrize("stdout, names", [
    ("The following packages will be upgraded:\n  x\n"
     "The following packages will be DOWNGRADED:\n  nova-common b\n"
     "1 upgraded, 0 newly installed, 2 downgraded, 0 to remove\n", ["b", "nova-common"]),
    ("The following packages will be upgraded:\n  x\n", []),
])
def test_downgraded_packages_are_the_ones_under_apt_s_header(stdout, names):
    assert mosmu_apt.parse_downgraded(stdout) == names
    assert _apt().downgrades({"retcode": 0, "stdout": stdout, "stderr": ""}) == names


def test_installed_packages_are_those_whose_status_is_installed_held_or_not():
    stdout = ("a\t1.0\tinstall ok installed\n"
              "b\t2.0\tdeinstall ok config-files\n"     # removed, config files left
              "c\t3.0\thold ok installed\n"             # on hold, installed
              "d\t4.0\tinstall ok unpacked\n"           # unpacked, not configured
              "e\t5.0\tinstall reinstreq installed\n"   # installed, reinstall required
              "f\t\tunknown ok not-installed\n"
              "g 7.0 install ok installed\n"             # not the tab-separated format
              "h\t8.0\tinstall ok installed\textra\n"
              "i\t9.0\t\n"                              # no status (an unknown field)
              "\n")
    want = {"a": "1.0", "c": "3.0", "e": "5.0"}
    assert mosmu_apt.parse_dpkg_query(stdout) == want
    assert _apt().parse_installed(stdout) == want
    assert _apt().held(stdout) == ["c"]


# dpkg-query of Ubuntu 12.04 (dpkg 1.16.1, MOS 5.1.1/6.0 nodes) knows the control fields and
# ${Status}; ${db:Status-Abbrev} and ${binary:Package} came with 1.16.2 and print nothing there
DPKG_1_16_1_FIELDS = {"Package", "Version", "Status", "Architecture", "Source"}


def test_the_installed_query_uses_only_fields_ubuntu_12_04s_dpkg_knows():
    fields = set(re.findall(r"\$\{([^}]+)\}", mosmu_apt.INSTALLED_FORMAT))
    assert fields <= DPKG_1_16_1_FIELDS


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


# --- an interrupted earlier run: dpkg --audit's sections and an unfinished journal --------

AUDIT = """\
The following packages are only half configured, probably due to problems
configuring them the first time.  The configuration should be retried using
dpkg --configure <package> or the configure menu option in dselect:
 nova-common          OpenStack Compute - common files
 python-nova          OpenStack Compute Python libraries

The following packages have been unpacked but not yet configured.
They must be configured using dpkg --configure or the configure
menu option in dselect for them to work:
 neutron-common       OpenStack virtual network service - common files
"""


def test_interrupted_reads_every_section_of_dpkg_audit(tmp_path):
    apt = _apt(root=str(tmp_path))
    half = "the following packages are only half configured, probably due to problems"
    unpacked = "the following packages have been unpacked but not yet configured"
    assert apt.interrupted(AUDIT) == [f"dpkg --audit: nova-common ({half})",
                                      f"dpkg --audit: python-nova ({half})",
                                      f"dpkg --audit: neutron-common ({unpacked})"]


def test_audit_output_without_a_header_still_names_the_package(tmp_path):
    apt = _apt(root=str(tmp_path))
    assert apt.interrupted("") == []
    assert apt.interrupted("\n\n") == []
    got = apt.interrupted("\n nova-common   OpenStack\n")
    assert len(got) == 1 and "nova-common" in got[0]
    got = apt.interrupted("Header.\n\n\n nova-common   OpenStack\n")
    assert len(got) == 1 and "nova-common" in got[0] and "header" not in got[0]


@pytest.mark.parametrize("names, interrupted", [
    ([], False), (["tmp.i"], False), (["0001"], True), (["tmp.i", "0007"], True),
])
def test_an_unfinished_journal_in_the_node_root_is_an_interruption(tmp_path, names, interrupted):
    apt = _apt(root=str(tmp_path))
    got = apt.interrupted("", names)
    assert len(got) == interrupted and all("/var/lib/dpkg/updates" in p for p in got)
    # the journal of the node root, never the host's
    assert apt.journal_dir == str(tmp_path / "var/lib/dpkg/updates")


def test_a_plan_url_with_a_trailing_slash_still_writes_one_slash():
    plan = dataclasses.replace(_plan(), repo_url=URL + "/")
    apt = mosmu_apt.Apt("/", plan, TOOLS)
    assert apt.files()["/etc/mosmu/sources.list.d/mos-updates.list"] == _list()
