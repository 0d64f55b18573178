"""One realistic fleet sandbox per session (mosmu issue 8): seven nodes in two environments,
env 1 (MOS 8.0, Ubuntu) node-1..5 and env 2 (MOS 6.1, CentOS) node-6..7, with realistic node
work (``Sandbox.up(realistic=True)``: 50 MB of MU packages per node, each node's downloads
limited to 100 Mbit/s), so that an upgrade lasts long enough to stop a minion, restart the
master or interrupt the runner while it runs.

Roles cycle controller / compute / compute+cinder per environment: env 1 has controllers
node-1 and node-4, env 2 has controller node-6. Starting it takes about two minutes on 2 cores.

The sandbox's master serves the formula and loader directories only (``Sandbox._file_roots``):
serving the whole checkout made every ``saltutil.sync_all`` of seven minions take over a minute
(found by this suite).
"""

import os
import signal
import tempfile

import pytest

from sandbox.procs import port_open, wait_for
from sandbox.stack import BIN, Sandbox
from tests.integration.helpers import config_copy

NODES = 5
CENTOS_NODES = 2


def group_alive(pgid):
    """Whether any live process is in process group ``pgid``."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def restart_master(box):
    """Stop the sandbox's salt-master (its recorded pid's process group) and start it again
    with the same argv; wait for its port."""
    master = box.state["pids"]["salt-master"]
    os.killpg(master, signal.SIGTERM)
    wait_for(lambda: not group_alive(master), "the salt-master to stop", timeout=60)
    box._spawn("salt-master", [os.path.join(BIN, "salt-master"), "-c", box.config_dir,  # pylint: disable=protected-access
                               "-l", "quiet"])
    wait_for(lambda: port_open(box.state["ports"]["salt_ret"]), "the salt-master")


@pytest.fixture(scope="package")
def fleet():
    box = Sandbox(tempfile.mkdtemp(prefix="mosmu-fleet-", dir="/tmp"))
    try:
        box.up(nodes=NODES, centos_nodes=CENTOS_NODES, realistic=True)
        yield box
    finally:
        box.down()


@pytest.fixture
def fleet_config(fleet, tmp_path):  # pylint: disable=redefined-outer-name
    """A copy of the fleet's master config dir with a changed ``mosmu:`` section (same master,
    same job cache and lock directory: only the runner's configuration differs)."""
    return lambda **changes: config_copy(fleet, tmp_path / "etc", **changes)
