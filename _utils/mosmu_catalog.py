"""What MOS publishes where: repo names, suites and mirror paths per MOS version.

Upstream (mirror.fuel-infra.org) keeps one tree per MOS version,
``mos-repos/ubuntu/<version>/{dists,pool}``, with suites ``mos<series>-<repo>``; MOS 9.x
trees keep the ``mos9.0`` suite prefix. mosmu mirrors the same relative paths under the
master's web root, so one master serves several MOS versions side by side.
"""

import mosmu_validate

REPOS = ("updates", "security", "proposed", "holdback")
DEFAULT_REPOS = ("updates",)
UBUNTU_VERSIONS = ("7.0", "8.0", "9.0", "9.1", "9.2")
# apt pinning Fuel itself uses (openstack.yaml): mos suites 1050, holdback above them.
APT_PRIORITY = {"updates": 1050, "security": 1050, "proposed": 1050, "holdback": 1100}


def mos_version_of_release(release):
    """MOS version of a Nailgun release: ``liberty-8.0`` -> ``8.0``, ``2014.1`` -> ``5.0``.

    Same rule as Nailgun's ``Release.environment_version``.
    """
    version = release.get("version") or ""
    if version == "2014.1":
        return "5.0"
    return version.split("-", 1)[1] if "-" in version else version


def distro_of_release(release):
    """Target OS of a release, ``ubuntu`` or ``centos`` (from ``operating_system``)."""
    return str(release.get("operating_system") or "").lower()


def suite_series(mos_version):
    """The suite prefix version: 9.x keeps ``9.0``."""
    return "9.0" if mos_version.startswith("9.") else mos_version


def apt_suites(mos_version, repos):
    """Suites for the chosen repos, e.g. ``['mos8.0-updates', 'mos8.0-security']``."""
    series = suite_series(mos_version)
    return [f"mos{series}-{repo}" for repo in repos]


def apt_path(mos_version):
    """Path of the version's tree relative to the mirror root and to the upstream."""
    return f"mos-repos/ubuntu/{mos_version}"


def normalise_repos(repos):
    """``updates`` first, then the requested extra repos, each known, no duplicates."""
    out = list(DEFAULT_REPOS)
    for repo in repos or ():
        mosmu_validate.word(repo, "repo")
        if repo not in REPOS:
            raise ValueError(f"unknown repo {repo!r}; choose from {', '.join(REPOS)}")
        if repo not in out:
            out.append(repo)
    return out


def check_supported(mos_version, distro):
    """Raise ``ValueError`` naming what is supported when the pair is not."""
    if distro != "ubuntu":
        raise ValueError(f"{distro or 'unknown'} nodes are not supported yet (Ubuntu only)")
    if mos_version not in UBUNTU_VERSIONS:
        raise ValueError(f"MOS {mos_version} is not supported; supported: "
                         f"{', '.join(UBUNTU_VERSIONS)}")
