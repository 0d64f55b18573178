"""Bad input and a broken Fuel API end with one line naming cause and fix, and exit 2."""

import socket
import subprocess

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


def _plain(box, *args, config_dir=None):
    """salt-run with its default output, as an operator sees it."""
    argv = box.salt_argv("salt-run", *args)
    if config_dir:
        argv[2] = config_dir
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)


@pytest.mark.parametrize("args, words", [
    (("mosmu.sync", "bogus=1"), "unknown argument(s): bogus"),
    (("mosmu.snapshots", "mos_version=8.0", "bogus=1"), "unknown argument(s): bogus"),
    (("mosmu.update", "1"), "positional argument '1': give name=value, e.g. env=1"),
    (("mosmu.nodes", "env=1", "8.0"), "positional argument '8.0'"),
    (("mosmu.status", "1"), "positional argument '1'"),
    (("mosmu.update", "env=1", "interval=99999999999"),
     "interval=99999999999 must be a whole number >= 0 and <= 86400 (seconds)"),
    (("mosmu.update", "env=1", "batch=abc"), "give batch=N or batch=N%"),
    (("mosmu.update", "env=1", "max_failures=.inf"), "max_failures=inf must be"),
    (("mosmu.sync", "mos_version=8.0", "distro=debian"), "distro='debian' is not one of"),
    (("mosmu.nodes", "env=1", "nodes=10.20.0.99"), "nodes=10.20.0.99 matches no node"),
])
def test_a_bad_call_ends_as_one_error_line_without_traceback(sandbox, args, words):
    """salt-run mosmu.sync bogus=1 printed the docstring and exited 0; mosmu.update 1 ended
    in a traceback; interval=99999999999 was accepted (then overflowed after wave 1)."""
    run = _plain(sandbox, *args)
    assert words in _one_error_line(run)
    assert "Usage:" not in run.stdout + run.stderr and "CLI Example" not in run.stdout


def _one_error_line(run):
    out = run.stdout + run.stderr
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert run.returncode != 0 and len(errors) == 1, out
    assert "Traceback" not in out and "internal error" not in out and "[ERROR" not in out
    return errors[0]


def test_a_mirror_root_under_a_regular_file_is_one_line_naming_it(sandbox, broken_config,
                                                                  tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n", encoding="utf-8")
    config = broken_config(mirror_root=str(blocker / "www"))
    error = _one_error_line(_plain(sandbox, "mosmu.sync", "mos_version=8.0", config_dir=config))
    assert "Not a directory" in error and str(blocker) in error
    assert blocker.read_text(encoding="utf-8") == "not a directory\n"


def test_an_oserror_of_the_master_is_one_line_with_cause_path_and_fix(sandbox, broken_config,
                                                                      tmp_path):
    """An OSError no helper wraps (here: the ssh known_hosts dir is a regular file) ended as
    'internal error ... OSError' with a traceback in the log."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n", encoding="utf-8")
    config = broken_config(transport="ssh", mirror_root=str(tmp_path / "www"), ssh={
        "priv": str(blocker), "known_hosts": str(blocker / "known_hosts"),
        "accept_new_hostkeys": True})     # its own mirror: the shared one stays as it was
    error = _one_error_line(_plain(sandbox, "mosmu.update", "env=1", config_dir=config))
    assert error.startswith(f"error: File exists (EEXIST): {blocker}; ")
    assert "is a file where a directory is expected" in error
    assert blocker.read_text(encoding="utf-8") == "not a directory\n"
