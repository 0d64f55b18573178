"""Text of the MU repository files a node uses."""

import mosmu_catalog
import mosmu_validate

HEADER = "# Managed by mosmu (Salt). MOS maintenance-update repositories only.\n"


def apt_sources(repo_url, mos_version, repos, trusted=False):
    """One ``deb`` line per MU suite, served from the master's mirror.

    :param repo_url: base URL of the master's web root, e.g. ``http://10.20.0.2:8080``
    :param mos_version: e.g. ``8.0``
    :param repos: e.g. ``["updates", "security"]``
    :param trusted: add ``[trusted=yes]`` (unsigned mirrors only, such as the sandbox's)
    """
    base = mosmu_validate.url(repo_url, "repo_url")
    version = mosmu_validate.mos_version(mos_version)
    repos = mosmu_catalog.normalise_repos(repos)
    option = "[trusted=yes] " if trusted else ""
    lines = [f"deb {option}{base}/{mosmu_catalog.apt_path(version)} {suite} main restricted"
             for suite in mosmu_catalog.apt_suites(version, repos)]
    return HEADER + "\n".join(lines) + "\n"
