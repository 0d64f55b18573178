"""Fixtures of the mirror tests: a real upstream behind a real rsync daemon on 127.0.0.1."""

import os

import pytest

from tests.mirror import helpers


@pytest.fixture
def site(tmp_path):
    """Paths of one test: upstream module root, web root, staging dir (beside it)."""
    class Site:
        upstream = str(tmp_path / "upstream")
        www = str(tmp_path / "srv" / "www")
        staging = str(tmp_path / "srv" / "staging")
        tmp = tmp_path
    os.makedirs(Site.upstream)
    return Site


@pytest.fixture
def daemon(site, tmp_path):
    """An rsync daemon serving the site's upstream as ``rsync://127.0.0.1:<port>/mirror``."""
    proc = helpers.RsyncDaemon(site.upstream, tmp_path / "rsyncd")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def gpg(tmp_path_factory):
    key = helpers.Gpg(tmp_path_factory.mktemp("gnupg"))
    yield key
    key.close()
