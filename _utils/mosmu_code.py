"""Which mosmu code a minion runs, by content: a digest both the master and a minion compute.

A run syncs mosmu's modules only to the minions whose node-side code differs from what the
master's fileserver would give them (``saltutil.sync_all`` on every minion every run cost
1.2-1.5 CPU-s per minion and most of a small run's time). The node-side code is the
execution module and the state (``mosmu.py`` of each) and the helpers (``mosmu_*.py``); the
digest is a SHA256 over their names and bytes, so the same files give the same digest
wherever they sit (a minion's extension modules, a pip install, the master's file_roots).
"""

import glob
import hashlib
import os


def wanted(path):
    """The digest's name for a fileserver path of node-side mosmu code, or None.

    :param path: e.g. ``_modules/mosmu.py``, ``_utils/mosmu_apt.py``
    :return: ``modules/mosmu.py``, ``utils/mosmu_apt.py``; None for anything else
    """
    kind, _, name = path.partition("/")
    kind = kind[1:] if kind.startswith("_") else ""
    if kind in ("modules", "states") and name == "mosmu.py":
        return f"{kind}/{name}"
    if kind == "utils" and name.startswith("mosmu_") and name.endswith(".py") and "/" not in name:
        return f"{kind}/{name}"
    return None


def digest(contents):
    """SHA256 over ``{"modules/mosmu.py": bytes, ...}`` in name order; None when empty."""
    if not contents:
        return None
    sha = hashlib.sha256()
    for name in sorted(contents):
        sha.update(name.encode() + b"\0" + contents[name] + b"\0")
    return sha.hexdigest()


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def local_digest(module_file, state_file, utils_dir):
    """The digest of the mosmu code this process has loaded (the minion's side).

    :param module_file: the execution module's file
    :param state_file: the state module's file (None or missing: not part of the digest)
    :param utils_dir: the directory of the ``mosmu_*.py`` helpers
    """
    contents = {"modules/mosmu.py": _read(module_file)}
    if state_file and os.path.isfile(state_file):
        contents["states/mosmu.py"] = _read(state_file)
    for path in glob.glob(os.path.join(utils_dir, "mosmu_*.py")):
        contents[f"utils/{os.path.basename(path)}"] = _read(path)
    return digest(contents)
