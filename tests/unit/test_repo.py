"""Repo files and apt pins: the exact text a node's package manager reads.

The files a node's package manager reads, exactly: ``[trusted=yes]`` only for a trusted apt
mirror, ``gpgcheck=1`` with the key and ``repo_gpgcheck=1`` only for a signed yum tree whose key
is written, one slash between the master's URL and the tree, pins only for apt.
"""

import dataclasses

import pytest

import mosmu_catalog
import mosmu_plan
import mosmu_repo

KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF\n-----END PGP PUBLIC KEY BLOCK-----\n"
URL = "http://10.20.0.2:8080"
H = mosmu_repo.HEADER
YUM_PATH = "mos-repos/centos/mos8.0-centos7-fuel"


def _plan(distro, version="8.0", key=None, trusted=False, repos=(), url=URL):
    catalog = mosmu_catalog.Catalog(default_key=key)
    plan = mosmu_plan.Plan.build(catalog.get(distro, version), URL, list(repos), trusted)
    return dataclasses.replace(plan, repo_url=url)   # as a full-form pillar plan keeps it


# --- every file says mosmu manages it; the key's file name is documented --------------------

def test_every_file_opens_with_a_comment_naming_mosmu():
    assert H.startswith("# ") and H.endswith("\n") and "mosmu" in H


def test_the_key_file_is_the_name_the_docs_give():
    """Guards a documented contract: docs/configuration.md and docs/sandbox.md name
    ``/etc/mosmu/trusted.gpg.d/mosmu-mu.asc`` and ``/etc/mosmu/mosmu-mu.asc``."""
    assert mosmu_repo.KEY_FILE == "mosmu-mu.asc"


def test_every_catalog_row_gives_plain_one_stanza_files_named_mos():
    for tree in mosmu_catalog.Catalog().rows():
        plan = mosmu_plan.Plan.build(tree, URL, list(tree.repos))
        for name, text in mosmu_repo.repo_files(plan).items():
            assert "\n\n" not in text and "{" not in text and name.startswith("mos-")


# --- apt: one deb line per repo, [trusted=yes] only for a trusted mirror ---------------------

@pytest.mark.parametrize("key, trusted, options", [
    (None, False, ""), (KEY, False, ""), (None, True, "[trusted=yes] "),
    (KEY, True, "[trusted=yes] "),
])
def test_an_apt_list_is_trusted_only_when_the_mirror_is(key, trusted, options):
    plan = _plan("ubuntu", key=key, trusted=trusted, repos=["holdback"])
    base = f"{URL}/mos-repos/ubuntu/8.0"
    assert mosmu_repo.repo_files(plan, "/etc/mosmu/mosmu-mu.asc") == {
        "mos-updates.list": H + f"deb {options}{base} mos8.0-updates main restricted\n",
        "mos-holdback.list": H + f"deb {options}{base} mos8.0-holdback main restricted\n"}
    assert mosmu_repo.repo_files(plan) == mosmu_repo.repo_files(plan, "/x/k.asc")


# --- one slash between the master's URL and the tree -----------------------------------------

@pytest.mark.parametrize("url, base", [
    (URL, URL), (URL + "/", URL), (URL + "//", URL),
    ("http://10.20.0.2:8080/mirror/BOX/", "http://10.20.0.2:8080/mirror/BOX"),
    ("http://10.20.0.2:8080/X", "http://10.20.0.2:8080/X"),
])
def test_one_slash_between_the_url_and_the_tree(url, base):
    plan = _plan("ubuntu", url=url)
    assert mosmu_repo.repo_files(plan) == {
        "mos-updates.list": H + f"deb {base}/mos-repos/ubuntu/8.0 mos8.0-updates main restricted\n"}
    text = mosmu_repo.repo_files(_plan("centos", url=url))["mos-updates.repo"]
    assert f"\nbaseurl={base}/{YUM_PATH}/updates/\n" in text


# --- yum: gpgcheck and repo_gpgcheck only for a signed tree whose key is written ------------

def _yum_text(repo, key_path=None):
    gpg = (f"gpgcheck=1\ngpgkey=file://{key_path}\nrepo_gpgcheck=1\n" if key_path
           else "gpgcheck=0\n")
    return (H + f"[mos-{repo}]\nname=mos-{repo}\nbaseurl={URL}/{YUM_PATH}/{repo}/\n" + gpg
            + "enabled=1\nskip_if_unavailable=0\n")


def test_yum_repo_of_a_signed_tree_checks_rpms_and_metadata():
    plan = _plan("centos", key=KEY, repos=["security"])
    assert mosmu_repo.repo_files(plan, "/srv/c1/etc/mosmu/mosmu-mu.asc") == {
        "mos-updates.repo": _yum_text("updates", "/srv/c1/etc/mosmu/mosmu-mu.asc"),
        "mos-security.repo": _yum_text("security", "/srv/c1/etc/mosmu/mosmu-mu.asc")}


@pytest.mark.parametrize("key, trusted, key_path", [
    (KEY, False, None),          # the key is not written: checking against it would fail
    (KEY, True, "/etc/mosmu/mosmu-mu.asc"),     # trusted: no check at all
    (None, False, "/etc/mosmu/mosmu-mu.asc"),   # no key in the catalog
    (None, True, None),
])
def test_a_yum_repo_checks_nothing_unless_signed_with_its_key_written(key, trusted, key_path):
    plan = _plan("centos", key=key, trusted=trusted)
    assert mosmu_repo.repo_files(plan, key_path) == {"mos-updates.repo": _yum_text("updates")}


def test_the_gpgkey_line_is_a_file_url_with_metadata_checked():
    assert mosmu_repo.gpgkey_lines("/k.asc") == "gpgkey=file:///k.asc\nrepo_gpgcheck=1\n"


# --- pins: apt only, one stanza per repo with a priority -------------------------------------

def test_apt_pins_give_each_suite_its_priority():
    plan = _plan("ubuntu", repos=["security", "holdback"])
    assert mosmu_repo.apt_preferences(plan) == H + (
        "Package: *\nPin: release a=mos8.0-updates\nPin-Priority: 1050\n\n"
        "Package: *\nPin: release a=mos8.0-security\nPin-Priority: 1050\n\n"
        "Package: *\nPin: release a=mos8.0-holdback\nPin-Priority: 1100\n")


def test_no_pins_for_yum_or_repos_without_a_priority_but_zero_is_a_pin():
    assert mosmu_repo.apt_preferences(_plan("centos")) is None
    plan = _plan("ubuntu")
    unpinned = dataclasses.replace(
        plan, repos=tuple(dataclasses.replace(r, priority=None) for r in plan.repos))
    assert mosmu_repo.apt_preferences(unpinned) is None
    zero = dataclasses.replace(
        plan, repos=tuple(dataclasses.replace(r, priority=0) for r in plan.repos))
    assert mosmu_repo.apt_preferences(zero) == H + (
        "Package: *\nPin: release a=mos8.0-updates\nPin-Priority: 0\n")
