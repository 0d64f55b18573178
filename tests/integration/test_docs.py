"""The commands the docs show are the commands that work: every fenced block tagged
``sandbox`` in docs/install.md, docs/orchestrate.md and README.md is run against the sandbox
(README's in its order, on a master with an empty mirror), and the
documented sdb profile and orchestration are run for real.

Substitutions, the only ones: ``salt``/``salt-run``/``salt-key`` get ``-c <config dir>``,
``mos_apply_mu`` runs as ``python -m mosmu_salt.compat -c <config dir>``, and ``env=11`` /
``--env-id=11`` / ``"env": 11`` become environment 1 (the sandbox's Ubuntu MOS 8.0 env).
A trailing ``# exit 0 or 2`` comment states the exit codes a command may end with (default 0).
Runs against a private copy of the master config (tests/integration/test_compat.py), so the
sandbox's published mirror and node roots are left as they were found.
"""

import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from sandbox.stack import BIN
from tests.integration.helpers import json_documents, salt_cli
from tests.integration.test_compat import REPO, private_master

FENCE = re.compile(r"^```(\S+)[ \t]+([^\n]+)\n(.*?)^```", re.S | re.M)
EXIT = re.compile(r"#\s*exit\s+(\d+)(?:\s+or\s+(\d+))?")


def blocks(doc, tag):
    """Bodies of the fenced blocks of ``doc`` (under docs/, or README.md) whose info string
    has ``tag`` after the lang."""
    path = os.path.join(REPO, doc) if doc == "README.md" else os.path.join(REPO, "docs", doc)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return [m.group(3) for m in FENCE.finditer(text) if tag in m.group(2).split()]


def commands(doc):
    out = []
    for body in blocks(doc, "sandbox"):
        for line in body.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                out.append(line.strip())
    return out


def argv_of(line, config_dir):
    """argv and allowed exit codes of one documented command line."""
    match = EXIT.search(line)
    codes = {int(c) for c in match.groups() if c} if match else {0}
    words = shlex.split(line.split(" #")[0])
    words = [re.sub(r"^(env=|--env-id=)11$", r"\g<1>1", w) for w in words]
    words = [w.replace('"env": 11', '"env": 1') for w in words]
    tool, rest = words[0], words[1:]
    if tool == "mos_apply_mu":
        return [sys.executable, "-m", "mosmu_salt.compat", "-c", config_dir, *rest], codes
    assert tool in ("salt", "salt-run", "salt-key"), f"not a sandbox command: {line}"
    return [os.path.join(BIN, tool), "-c", config_dir, *rest], codes


@pytest.fixture(scope="module")
def private_etc(sandbox, tmp_path_factory):
    with private_master(sandbox, str(tmp_path_factory.mktemp("docs"))) as etc:
        yield etc


def test_docs_have_sandbox_blocks():
    assert len(commands("install.md")) >= 7
    assert commands("orchestrate.md")
    assert [c.split()[:2] for c in commands("README.md")] == [
        ["salt-run", "mosmu.nodes"], ["salt-run", "mosmu.sync"], ["salt-run", "mosmu.update"],
        ["salt-run", "mosmu.update"]]


def test_readme_operator_steps_work_in_order_on_a_fresh_master(sandbox, tmp_path):
    """Regression: README step 4 previewed and dry-ran before the mirror was synced, which
    fails on a fresh master. Its commands, in its order, against a master whose mirror is
    empty."""
    with private_master(sandbox, str(tmp_path)) as etc:
        for line in commands("README.md"):
            argv, codes = argv_of(line, etc)
            proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                                  timeout=900, cwd=REPO)
            assert proc.returncode in codes, (line, proc.stdout[-3000:], proc.stderr[-3000:])


@pytest.mark.parametrize("line", commands("install.md"))
def test_install_md_command(line, private_etc):
    argv, codes = argv_of(line, private_etc)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900,
                          cwd=REPO)
    assert proc.returncode in codes, (line, proc.stdout[-3000:], proc.stderr[-3000:])


def test_install_md_sdb_profile_resolves_the_password(sandbox, private_etc, tmp_path):
    """The documented sdb profile + ``password: sdb://...`` in a master config really log in."""
    profile = yaml.safe_load(blocks("install.md", "sdb-profile")[0])
    config = yaml.safe_load(blocks("install.md", "sdb-config")[0])
    (name, spec), = profile.items()
    secrets = tmp_path / "mosmu-secrets.yaml"
    conf_path = os.path.join(private_etc, "master.d", "mosmu.conf")
    with open(conf_path, encoding="utf-8") as handle:
        current = yaml.safe_load(handle)
    key = config["mosmu"]["password"].rsplit("/", 1)[1]
    secrets.write_text(yaml.safe_dump({key: current["mosmu"]["password"]}))
    os.chmod(secrets, 0o600)
    spec["files"] = [str(secrets)]
    etc = tmp_path / "etc"
    subprocess.run(["cp", "-r", private_etc, str(etc)], check=True)
    current["mosmu"]["password"] = config["mosmu"]["password"]
    assert current["mosmu"]["password"].startswith(f"sdb://{name}/")
    (etc / "master.d" / "mosmu.conf").write_text(yaml.safe_dump(current))
    (etc / "master.d" / "sdb.conf").write_text(yaml.safe_dump({name: spec}))
    run = salt_cli(sandbox, "salt-run", "mosmu.nodes", "env=1", config_dir=str(etc))
    assert run.returncode == 0, (run.data, run.stderr)
    assert run.data["selected"]
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({key: "not-the-password"}))
    (etc / "master.d" / "sdb.conf").write_text(
        yaml.safe_dump({name: dict(spec, files=[str(wrong)])}))
    run = salt_cli(sandbox, "salt-run", "mosmu.nodes", "env=1", config_dir=str(etc))
    assert run.returncode == 2 and "rejected the credentials" in run.data["error"]


def _orchestrate(config_dir, pillar):
    argv = [os.path.join(BIN, "salt-run"), "-c", config_dir, "--out=json",
            "state.orchestrate", "orch.mosmu_update", f"pillar={json.dumps(pillar)}"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    docs = [d for d in json_documents([proc.stdout]) if isinstance(d, dict) and "data" in d]
    assert docs, (proc.stdout[-3000:], proc.stderr[-3000:])
    (states,) = docs[-1]["data"].values()
    ordered = sorted(states.values(), key=lambda s: s["__run_num__"])
    return proc.returncode, {s["name"]: s for s in ordered}


def test_orchestrate_md_commands(private_etc):
    for line in commands("orchestrate.md"):
        argv, codes = argv_of(line, private_etc)
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900,
                              cwd=REPO)
        assert proc.returncode in codes, (line, proc.stdout[-3000:], proc.stderr[-3000:])


def test_orchestrate_dry_run_runs_every_step(sandbox, private_etc):
    sync = subprocess.run([os.path.join(BIN, "salt-run"), "-c", private_etc, "mosmu.sync",
                           "env=1"], capture_output=True, text=True, check=False, timeout=600)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    code, steps = _orchestrate(private_etc, {"mosmu_orch": {"env": 1, "test": True}})
    assert code == 0
    assert list(steps) == ["mosmu.nodes", "mosmu.update"]   # no status step after a dry run
    assert all(s["result"] is True for s in steps.values())
    update = steps["mosmu.update"]["changes"]["return"]
    minions = [m for m, i in sandbox.state["minions"].items() if i["env"] == 1]
    assert update["retcode"] == 0 and update["summary"] == {"OK": len(minions)}
    assert all(update[sandbox.state["minions"][m]["ip"]]["test"] is True for m in minions)


def test_orchestrate_stops_at_a_failed_step(private_etc):
    """Regression: the runner returned retcode 2 but left __context__['retcode'] at 0, so
    the salt.runner state reported a failed mosmu run as succeeded and went on."""
    code, steps = _orchestrate(private_etc, {"mosmu_orch": {"env": 99}})
    assert steps["mosmu.nodes"]["result"] is False
    assert steps["mosmu.update"]["result"] is False  # requisite failed: nothing ran
    assert code != 0
