"""mosmu outputter: a ``mosmu.update`` / ``mosmu.status`` report as a compact table.

The runner puts ``"outputter": "mosmu"`` in its report (and in its progress events), which
makes ``salt-run`` pick this outputter while ``--out=json`` (or any ``--out``) still wins.
Anything that is not a mosmu report goes to Salt's ``nested`` outputter, except a runner
error ``{"error": ..., "retcode": n}``, shown as one ``error: ...`` line.

CLI Example:

.. code-block:: bash

    salt-run mosmu.update env=11                  # table
    salt-run mosmu.update env=11 --out=json       # the whole report, one JSON document
    salt-run jobs.lookup_jid <jid> --out=mosmu    # a past run as a table
"""

import importlib.util
import os
import sys

try:
    import mosmu_report
except ImportError:  # file_roots mode: Salt does not put utils dirs on sys.path for outputters
    mosmu_report = None

__virtualname__ = "mosmu"
_HERE = os.path.dirname(os.path.abspath(__file__))


def _utils_dirs(opts):
    """Where the synced (or in-tree) ``_utils`` helpers may be."""
    dirs = []
    if opts.get("extension_modules"):
        dirs.append(os.path.join(opts["extension_modules"], "utils"))
    dirs += list(opts.get("utils_dirs") or [])
    dirs += [os.path.join(d, "_utils") for d in opts.get("module_dirs") or []]
    dirs.append(os.path.join(os.path.dirname(_HERE), "_utils"))     # this source tree
    return dirs


def _load_report(opts):
    """Import ``mosmu_report`` from the utils dirs; it needs only the standard library."""
    if "mosmu_report" in sys.modules:
        return sys.modules["mosmu_report"]
    for directory in _utils_dirs(opts):
        path = os.path.join(directory, "mosmu_report.py")
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location("mosmu_report", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules["mosmu_report"] = module
            return module
    return None


def __virtual__():
    global mosmu_report  # pylint: disable=global-statement
    if mosmu_report is None:
        mosmu_report = _load_report(__opts__)
    if mosmu_report is None:
        return (False, "mosmu_report helper not found: run salt-run saltutil.sync_all "
                       "(or pip install mosmu)")
    return __virtualname__


def _nested(data, **kwargs):
    """Salt's nested outputter, through the loader when there is one."""
    outputters = globals().get("__salt__")
    if outputters is not None:
        try:
            return outputters["nested"](data, **kwargs)
        except KeyError:
            pass
    import salt.output  # pylint: disable=import-outside-toplevel
    opts = {k: v for k, v in (globals().get("__opts__") or {}).items() if k != "output"}
    return salt.output.out_format(data, "nested", opts, **kwargs)


def output(data, **kwargs):
    """
    Render a mosmu runner return.

    data
        A ``mosmu.update`` / ``mosmu.status`` report (a table), a ``mosmu.nodes`` preview
        (a table per environment, then the skipped nodes with their reasons), a runner error
        ``{"error": ..., "retcode": n}`` (one line), a progress event as ``salt-run``
        passes it, ``{"suffix": "progress", "event": {...}}`` (one line), or anything else
        (Salt's nested outputter).

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.update env=11 --out=mosmu
    """
    if mosmu_report.is_report(data):
        return mosmu_report.table(data)
    if mosmu_report.is_nodes(data):
        return mosmu_report.nodes_table(data)
    if isinstance(data, dict) and isinstance(data.get("error"), str) \
            and set(data) <= {"error", "retcode", "outputter"}:
        return f"error: {' '.join(data['error'].split())}"
    if isinstance(data, dict) and set(data) == {"suffix", "event"} \
            and data["suffix"] == "progress" and isinstance(data["event"], dict):
        return mosmu_report.progress_line(data["event"])
    return _nested(data, **kwargs)
