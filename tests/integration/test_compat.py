"""``mos_apply_mu`` (the old command line) end to end on the sandbox: it runs the mosmu runner
in-process against the real salt-master, minions, Fuel API stand-in, rsync daemon and apt.

These tests update environment 1's nodes, which other test files expect to find fresh. So
they run against a *private master config* (a copy of the sandbox's, with its own mirror root
served by its own HTTP server on 127.0.0.1) and reset the nodes they touched when done:
the sandbox's published mirror and node roots are left as they were found.
"""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
import yaml

from tests.integration.helpers import node_versions, salt_cli, status_lines

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = {"neutron-common", "nova-common", "python-nova"}


def env_minions(box, env=1):
    return sorted(m for m, info in box.state["minions"].items() if info["env"] == env)


@contextlib.contextmanager
def private_master(box, directory):
    """A copy of the sandbox's master config dir whose mirror root and repo URL are private.

    Yields the config dir. On exit: stops the private HTTP server and re-creates the node
    roots of environment 1 (GA packages, no status file), as ``Sandbox.up`` left them.
    """
    etc, www = os.path.join(directory, "etc"), os.path.join(directory, "www")
    shutil.copytree(box.config_dir, etc)
    os.makedirs(www)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = os.path.join(etc, "master.d", "mosmu.conf")
    with open(conf, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    data["mosmu"].update(mirror_root=www, repo_url=f"http://127.0.0.1:{port}")
    with open(conf, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle)
    os.chmod(conf, 0o600)
    http = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", www], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the private HTTP server did not start"
            time.sleep(0.1)
        yield etc
    finally:
        http.terminate()
        http.wait(timeout=30)
        for minion in env_minions(box):
            box.reset_node(minion)


@pytest.fixture(scope="module")
def private_etc(sandbox, tmp_path_factory):
    with private_master(sandbox, str(tmp_path_factory.mktemp("compat"))) as etc:
        yield etc


def mos_apply_mu(config_dir, *args):
    """Run the compatibility command as an operator would (``python -m`` = the console
    script's entry point, without needing the package installed in the test venv)."""
    return subprocess.run([sys.executable, "-m", "mosmu_salt.compat", "-c", config_dir, *args],
                          capture_output=True, text=True, check=False, timeout=900, cwd=REPO)


def _ips(box, minions):
    return [box.state["minions"][m]["ip"] for m in minions]


def test_check_before_any_update_finds_no_status(sandbox, private_etc):
    proc = mos_apply_mu(private_etc, "--env-id=1", "--check")
    ips = _ips(sandbox, env_minions(sandbox))
    for ip in ips:
        assert f"Node {ip}: no updates information found." in proc.stdout.splitlines()
    assert f"Summary: {len(ips)} NONE" in proc.stdout
    assert proc.returncode == 2, proc.stderr


def test_update_upgrades_env_1_and_prints_one_line_per_node(sandbox, private_etc):
    proc = mos_apply_mu(private_etc, "--env-id=1", "--update")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    lines = proc.stdout.splitlines()
    minions = env_minions(sandbox)
    for ip in _ips(sandbox, minions):
        assert f"Node {ip}: UPDATE=OK (3 packages upgraded)" in lines
    assert any(line.startswith("mosmu: mirror:") for line in lines)  # progress, live
    assert re.fullmatch(rf"Summary: {len(minions)} OK(; \d+ skipped)?", lines[-1])
    for minion in minions:
        assert node_versions(sandbox, minion) == dict.fromkeys(PACKAGES, "1.1")
        assert status_lines(sandbox, minion) == ["STARTED", "UPDATE=OK"]
    # the run published into the private mirror root, not the sandbox's
    assert os.path.isfile(os.path.join(os.path.dirname(private_etc), "www",
                                       "mos-repos/ubuntu/8.0/dists/mos8.0-updates/Release"))


def test_check_after_update_prints_the_old_status_lines(sandbox, private_etc):
    proc = mos_apply_mu(private_etc, "--env-id=1", "--check")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    for ip in _ips(sandbox, env_minions(sandbox)):
        assert f"Node {ip} state: UPDATE=OK" in proc.stdout.splitlines()


def test_all_envs_roles_compute_selects_what_mosmu_nodes_selects(sandbox, private_etc):
    """--all-envs --roles=compute: exactly the compute nodes of every operational env; env 1's
    (updated above) are OK, others (never updated) have no status, so the exit code is 2
    unless every selected node is in env 1."""
    preview = salt_cli(sandbox, "salt-run", "mosmu.nodes", "all_envs=True", "roles=compute",
                       config_dir=private_etc)
    assert preview.returncode == 0, preview.data
    selected = {n["ip"]: n for n in preview.data["selected"]}
    assert selected and all("compute" in n["roles"] for n in selected.values())
    proc = mos_apply_mu(private_etc, "--all-envs", "--roles=compute", "--check")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("Node ")]
    assert {line.split()[1].rstrip(":") for line in lines} == set(selected)
    for ip, node in selected.items():
        expected = (f"Node {ip} state: UPDATE=OK" if node["cluster"] == 1
                    else f"Node {ip}: no updates information found.")
        assert expected in lines
    assert proc.returncode == (0 if all(n["cluster"] == 1 for n in selected.values()) else 2)


def test_wrong_env_is_one_error_line_and_exit_2(private_etc):
    proc = mos_apply_mu(private_etc, "--env-id=99", "--check")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("ERROR: environment 99 does not exist")


def test_old_validation_codes_through_the_real_command(private_etc):
    assert mos_apply_mu(private_etc, "--version").returncode == 19
    assert mos_apply_mu(private_etc, "--env-id=1", "--all-envs", "--update").returncode == 5
    refused = mos_apply_mu(private_etc, "--env-id=1", "--update", "--pass=S3cret")
    assert refused.returncode == 2 and "S3cret" not in refused.stdout + refused.stderr
