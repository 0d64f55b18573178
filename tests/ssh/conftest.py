"""One sandbox for the ssh tier: a real salt-master, one minion per environment (the
controllers) and two nodes per environment with no minion at all, each behind its own real
sshd on 127.0.0.1 (``Sandbox.up(ssh_nodes=2)``):

- env 1 (MOS 8.0, Ubuntu): node-1 controller (minion), node-3 and node-4 (ssh);
- env 2 (MOS 6.1, CentOS): node-2 controller (minion), node-5 and node-6 (ssh).

Lives for this package only, so that it is never up beside the integration or fleet
sandboxes.
"""

import tempfile

import pytest

from sandbox.stack import Sandbox


@pytest.fixture(scope="package")
def sandbox():
    box = Sandbox(tempfile.mkdtemp(prefix="mosmu-ssh-it-", dir="/tmp"))
    try:
        box.up(nodes=1, centos_nodes=1, ssh_nodes=2)
        yield box
    finally:
        box.down()
