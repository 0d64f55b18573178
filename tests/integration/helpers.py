"""Helpers for the integration tests: run salt CLIs as an operator would, read node roots."""

import os
import shutil
import subprocess

import yaml

from sandbox.cli import installed_versions, json_documents, node_entries  # noqa: F401 - node_entries re-exported for the tests
from sandbox.hostcheck import fingerprint as host_fingerprint  # noqa: F401 - re-exported


class Run:
    """Result of a salt CLI call: return data, exit code, progress messages, stderr."""

    def __init__(self, data, returncode, progress, stderr):
        self.data, self.returncode, self.progress, self.stderr = data, returncode, progress, stderr


def salt_cli(box, tool, *args, config_dir=None):
    """Run ``salt-run``/``salt`` with ``--out=json`` as an operator would, parse the output."""
    # a loaded machine answers Salt's job checks slowly: give the salt CLI a timeout that
    # fits (it returns as soon as every minion has)
    extra = ["--timeout=60"] if tool == "salt" and not any(
        a.startswith(("--timeout", "-t")) for a in args) else []
    argv = box.salt_argv(tool, "--out=json", *extra, *args)
    if config_dir:
        argv[2] = config_dir
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    docs = list(json_documents([proc.stdout]))
    progress = [d["event"]["message"] for d in docs
                if isinstance(d, dict) and isinstance(d.get("event"), dict)]
    rest = [d for d in docs if not (isinstance(d, dict) and isinstance(d.get("event"), dict))]
    return Run(rest[-1] if rest else None, proc.returncode, progress, proc.stderr)


def node_versions(box, minion):
    return installed_versions(box.node_root(minion))


def status_lines(box, minion):
    path = os.path.join(box.node_root(minion), "var/log/mos_apply_mu.status")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def config_copy(box, target, **changes):
    """A copy of ``box``'s master config dir at ``target`` with a changed ``mosmu:`` section
    (same master, job cache and locks: only the runner's configuration differs)."""
    shutil.copytree(box.config_dir, target)
    conf = os.path.join(target, "master.d", "mosmu.conf")
    with open(conf, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    data["mosmu"].update(changes)
    with open(conf, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle)
    return str(target)
