"""One real sandbox per test session: Fuel API stand-in, rsync daemon, HTTP web root,
salt-master and three salt-minions with their own node roots: two Ubuntu nodes in env 1
(MOS 8.0) and one CentOS node in env 2 (MOS 6.1). Shared by every integration test (a master
and three minions take ~25 s to start on 2 cores)."""

import tempfile

import pytest

from sandbox.stack import Sandbox
from tests.integration.helpers import config_copy, host_fingerprint

NODES = 2
CENTOS_NODES = 1


@pytest.fixture(scope="package")
def host_before():
    return host_fingerprint()


@pytest.fixture(scope="package")
def sandbox(host_before):  # pylint: disable=unused-argument,redefined-outer-name
    """host_before is taken before anything starts."""
    box = Sandbox(tempfile.mkdtemp(prefix="mosmu-it-", dir="/tmp"))
    try:
        box.up(nodes=NODES, centos_nodes=CENTOS_NODES)
        yield box
    finally:
        box.down()


@pytest.fixture
def broken_config(sandbox, tmp_path):  # pylint: disable=redefined-outer-name
    """A copy of the sandbox's master config dir with a changed mosmu: section."""
    return lambda **changes: config_copy(sandbox, tmp_path / "etc", **changes)
