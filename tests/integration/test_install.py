"""pip install mosmu into a fresh target: Salt finds it through the salt.loader entry points,
with no file_roots and no saltutil.sync (the second deployment mode; the sandbox tests the
file_roots + sync mode)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``pip install --target`` of a copy of the source tree (pip builds in-tree)."""
    base = tmp_path_factory.mktemp("pip")
    src = base / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    target = base / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(src)],
                   check=True, capture_output=True, text=True)
    return target


def _local_config(tmp_path, node_root):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "minion").write_text(json.dumps({
        "id": "pip-test", "file_client": "local", "root_dir": str(tmp_path / "salt"),
        "sock_dir": str(tmp_path / "s"), "log_file": str(tmp_path / "minion.log"),
        "file_roots": {"base": [str(tmp_path / "empty")]}, "mosmu": {"root": str(node_root)},
        "enable_fqdns_grains": False}))
    (conf / "master").write_text(json.dumps({
        "root_dir": str(tmp_path / "master"), "sock_dir": str(tmp_path / "m"),
        "log_file": str(tmp_path / "master.log"), "file_roots": {"base": [str(tmp_path)]},
        "mosmu": {"fuel_url": "http://127.0.0.1:9", "password": "x", "master_ip": "127.0.0.1"}}))
    os.makedirs(tmp_path / "master" / "var/cache/salt/master/proc")
    return conf


def _salt(tool, conf, *args, pythonpath=None):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([os.path.join(BIN, tool), "-c", str(conf), "--out=json", *args],
                          capture_output=True, text=True, check=False, env=env, timeout=120)


def test_installed_package_registers_entry_points(installed):
    points = (installed / "mosmu-0.1.0.dist-info" / "entry_points.txt").read_text()
    for name in ("module_dirs", "runner_dirs", "states_dirs"):
        assert f"{name} = mosmu_salt.loader:{name}" in points
    assert (installed / "mosmu_fuel.py").is_file()          # helpers as top-level modules
    assert (installed / "mosmu_salt" / "_modules" / "mosmu.py").is_file()


def test_salt_call_local_finds_status_through_entry_point(installed, tmp_path):
    node = tmp_path / "node"
    (node / "var/log").mkdir(parents=True)
    (node / "var/log/mos_apply_mu.status").write_text("STARTED\nUPDATE=OK\n")
    conf = _local_config(tmp_path, node)
    found = _salt("salt-call", conf, "--local", "mosmu.status", pythonpath=installed)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["local"]["state"] == "OK"
    missing = _salt("salt-call", conf, "--local", "mosmu.status")
    assert missing.returncode != 0
    assert "'mosmu.status' is not available" in missing.stdout + missing.stderr


def test_salt_run_finds_runner_through_entry_point(installed, tmp_path):
    conf = _local_config(tmp_path, tmp_path)
    run = _salt("salt-run", conf, "mosmu.nodes", "env=1", pythonpath=installed)
    assert run.returncode == 2, run.stderr
    assert "cannot connect to Nailgun at http://127.0.0.1:9" in run.stdout
