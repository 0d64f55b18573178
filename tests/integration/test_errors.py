"""Bad input and a broken Fuel API end with one line naming cause and fix, and exit 2."""

import socket

import pytest

from tests.integration.helpers import salt_cli


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _error(run):
    assert run.returncode == 2, (run.data, run.stderr)
    assert set(run.data) == {"error", "retcode"} and run.data["retcode"] == 2
    assert "\n" not in run.data["error"]
    return run.data["error"]


def test_wrong_credentials(sandbox, broken_config):
    config = broken_config(password="not-the-password")
    message = _error(salt_cli(sandbox, "salt-run", "mosmu.update", "env=1",
                              config_dir=config))
    assert "rejected the credentials" in message and "HTTP 401" in message
    assert "mosmu:password" in message and "not-the-password" not in message


def test_unknown_env(sandbox):
    message = _error(salt_cli(sandbox, "salt-run", "mosmu.update", "env=99"))
    assert "environment 99 does not exist" in message and "1 (env-1)" in message


def test_unreachable_fuel_api(sandbox, broken_config):
    config = broken_config(fuel_url=f"http://127.0.0.1:{_closed_port()}")
    message = _error(salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", config_dir=config))
    assert "cannot connect to Nailgun" in message and "mosmu:fuel_url" in message


def test_unreachable_keystone(sandbox, broken_config):
    config = broken_config(keystone_url=f"http://127.0.0.1:{_closed_port()}/v2.0")
    message = _error(salt_cli(sandbox, "salt-run", "mosmu.nodes", "env=1", config_dir=config))
    assert "cannot connect to Keystone" in message


def test_broken_mirror_upstream_stops_before_nodes(sandbox, broken_config):
    config = broken_config(mirror_upstream=f"rsync://127.0.0.1:{_closed_port()}/mirror")
    run = salt_cli(sandbox, "salt-run", "mosmu.update", "env=1", config_dir=config)
    message = _error(run)
    assert "rsync" in message and "mosmu:mirror_upstream" in message
    assert not any("wave" in m for m in run.progress)


@pytest.mark.parametrize("args, words", [
    ((), "no environment chosen"),
    (("env=1", "all_envs=True"), "not both"),
    (("env=1", "batch=0"), "batch=0"),
    (("env=1", "repos=backports"), "unknown repo"),
    (("env=1", "nodes=10.20.0.300"), "not an IPv4 address"),
])
def test_bad_arguments(sandbox, args, words):
    assert words in _error(salt_cli(sandbox, "salt-run", "mosmu.update", *args))
