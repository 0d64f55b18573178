"""What every part of the sandbox shares: its error, the host-tool checks, writing files.

:class:`SandboxError` is the one error the sandbox raises (its message says why and what to
do); :func:`check_tools` refuses a step whose Debian packages the host lacks;
:func:`write`/:func:`write_yaml` write a file with its directories and mode;
:func:`put_utils_on_path` lets the sandbox import ``_utils/mosmu_catalog`` as Salt loads it.
"""

import os
import shutil
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = {"rsync": "rsync", "dpkg-deb": "dpkg-dev", "apt-ftparchive": "apt-utils",
         "apt-get": "apt", "dpkg": "dpkg", "dpkg-query": "dpkg"}
YUM_TOOLS = {"rpm": "rpm", "rpmbuild": "rpm", "createrepo_c": "createrepo-c", "dnf": "dnf"}


class SandboxError(Exception):
    """The sandbox could not be started or used; the message says why and what to do."""


def put_utils_on_path():
    """Put this checkout's ``_utils`` first on ``sys.path`` (``mosmu_catalog``, as Salt loads
    it), once."""
    if os.path.join(REPO, "_utils") not in sys.path:
        sys.path.insert(0, os.path.join(REPO, "_utils"))


def check_tools(tools):
    """Raise naming the Debian packages to install when a tool of ``{tool: package}`` is
    not on PATH."""
    missing = sorted({pkg for tool, pkg in tools.items() if shutil.which(tool) is None})
    if missing:
        raise SandboxError(f"missing Debian packages: {' '.join(missing)}; install them "
                           f"(apt-get install {' '.join(missing)}) or run make demo")


def write(path, text, mode=0o644):
    """Write ``text`` to ``path`` (its directories created) and give it ``mode``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


def write_yaml(path, data, mode=0o644):
    """:func:`write` ``data`` as block-style YAML, keys sorted."""
    write(path, yaml.safe_dump(data, default_flow_style=False, sort_keys=True), mode)
