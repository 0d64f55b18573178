"""The runner's selection, minion mapping and report, against the real Fuel API stand-in.

The master side is replaced where a unit test cannot have it: the grains cache is a plain
dict and LocalClient is an autospec of the real class (real daemons: tests/integration)."""

import importlib.util
import os
from unittest import mock

import mosmu_plan
import pytest
import salt.client

from sandbox import fuelapi
from sandbox import inventory as inv
from sandbox.stack import free_ports

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def api():
    keystone, nailgun = free_ports(2)
    creds = {"tenant": "admin", "username": "admin", "password": "pw"}
    servers = fuelapi.serve(inv.default(3), creds, keystone, nailgun)
    yield {"fuel_url": f"http://127.0.0.1:{nailgun}",
           "keystone_url": f"http://127.0.0.1:{keystone}/v2.0", "password": "pw",
           "master_ip": "127.0.0.1", "timeout": 5}
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def runner(api):
    spec = importlib.util.spec_from_file_location("mosmu_runner",
                                                  os.path.join(REPO, "_runners", "mosmu.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grains = {"node-1.test.domain.local": {"ipv4": ["10.20.0.3"]},
              "node-2.test.domain.local": {"ipv4": ["10.20.0.4", "127.0.0.1"]},
              "twin-a": {"ipv4": ["10.20.0.5"]}, "twin-b": {"ipv4": ["10.20.0.5"]}}
    module.__opts__ = {"mosmu": dict(api)}
    module.__salt__ = {"cache.grains": lambda tgt: grains}
    # a published mirror: pre-flight passes, plans point at the tree's current snapshot
    module.mosmu_mirror = mock.Mock(wraps=module.mosmu_mirror)
    module.mosmu_mirror.missing.return_value = []
    module.mosmu_mirror.current_snapshot.return_value = ".snapshots/mos-repos/ubuntu/8.0/1"
    return module


def test_nodes_maps_by_ipv4_grain_and_leaves_ambiguous_unmapped(runner):
    result = runner.nodes(env=1)
    minions = {n["ip"]: n["minion"] for n in result["selected"]}
    assert minions == {"10.20.0.3": "node-1.test.domain.local",
                       "10.20.0.4": "node-2.test.domain.local", "10.20.0.5": None}


def test_update_reports_no_minion_and_silent_minions(runner):
    client = mock.create_autospec(salt.client.LocalClient, instance=True)
    client.__enter__.return_value = client
    ok = {"mosmu_|-mosmu-init-mosmu-updated_|-mos-8.0_|-updated":
          {"result": True, "changes": {}, "comment": "MOS 8.0 MU packages are up to date"}}
    client.cmd.return_value = {"node-1.test.domain.local": {"ret": ok, "retcode": 0}}
    with mock.patch.object(runner.salt.client, "get_local_client", return_value=client):
        report = runner.update(env=1, sync=False)
    assert report["10.20.0.3"]["result"] == "OK"
    assert report["10.20.0.4"]["result"] == "TIMEOUT"
    assert report["10.20.0.5"]["result"] == "NO_MINION"
    assert "twin-a, twin-b" in report["10.20.0.5"]["comment"]
    assert report["summary"] == {"OK": 1, "TIMEOUT": 1, "NO_MINION": 1}
    assert report["retcode"] == 2
    (call,) = client.cmd.call_args_list
    assert call.args[:3] == (["node-1.test.domain.local", "node-2.test.domain.local"],
                             "state.apply", ["mosmu"])
    pillar = call.kwargs["kwarg"]["pillar"]["mosmu"]
    assert pillar["mos_version"] == "8.0" and [r["name"] for r in pillar["repos"]] == ["updates"]
    # the whole plan, reading the snapshot of this run, not the moving published path
    assert mosmu_plan.Plan.from_pillar(pillar).path == ".snapshots/mos-repos/ubuntu/8.0/1"
    assert "password" not in str(call)


def test_waves_follow_batch(runner):
    client = mock.create_autospec(salt.client.LocalClient, instance=True)
    client.__enter__.return_value = client
    client.cmd.return_value = {}
    with mock.patch.object(runner.salt.client, "get_local_client", return_value=client):
        runner.update(env=1, sync=False, batch=1)
    assert [c.args[0] for c in client.cmd.call_args_list] == [
        ["node-1.test.domain.local"], ["node-2.test.domain.local"]]


@pytest.mark.parametrize("config, words", [
    (None, "no mosmu: section"),
    ({"password": "x"}, "mosmu:fuel_url is not set"),
    ({"fuel_url": "http://h:8000"}, "mosmu:password is not set"),
    ({"fuel_url": "http://h:8000", "password": "x", "master_ip": "1.2.3.4", "pasword": "y"},
     "unknown key(s) in the mosmu: master config: pasword"),
])
def test_config_errors_are_one_line(runner, config, words):
    runner.__opts__ = {"mosmu": config} if config is not None else {}
    result = runner.nodes(env=1)
    assert result["retcode"] == 2 and words in result["error"]


def test_preflight_stops_an_unsynced_mirror_before_any_node(runner):
    """A first test=True (or sync=False) on a fresh master used to send every node to an apt
    404 and leave them UPDATE=FAIL; now the run stops before any node is touched."""
    runner.mosmu_mirror.missing.return_value = ["mos8.0-updates"]
    client = mock.create_autospec(salt.client.LocalClient, instance=True)
    client.__enter__.return_value = client
    with mock.patch.object(runner.salt.client, "get_local_client", return_value=client):
        for kwargs in ({"sync": False}, {"test": True}):
            report = runner.update(env=1, **kwargs)
            assert report["retcode"] == 2 and "mos8.0-updates" in report["error"]
            assert "salt-run mosmu.sync mos_version=8.0" in report["error"]
    client.cmd.assert_not_called()
