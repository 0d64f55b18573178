"""mosmu outputter: a ``mosmu.update`` / ``mosmu.status`` report as a compact table.

The runner puts ``"outputter": "mosmu"`` in its report (and in its progress events), which
makes ``salt-run`` pick this outputter while ``--out=json`` (or any ``--out``) still wins.
Anything that is not a mosmu report goes to Salt's ``nested`` outputter, except a runner
error ``{"error": ..., "retcode": n}``, shown as one ``error: ...`` line, and a past runner job
as ``salt-run jobs.lookup_jid`` returns it (the job's return is rendered). Every string is
shown terminal-safe (``mosmu_text.safe``: control characters and bidi overrides escaped), the
nested fallback's too; the data itself is never changed, so ``--out=json`` stays exact.

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
    import mosmu_render
    import mosmu_text
except ImportError:  # file_roots mode: Salt does not put utils dirs on sys.path for outputters
    mosmu_render = mosmu_text = None

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


# in import order: render imports report and text
_HELPERS = ("mosmu_text", "mosmu_report", "mosmu_render")


def _load_helpers(opts):
    """Import ``mosmu_text``, ``mosmu_report`` and ``mosmu_render`` from the first utils dir
    that has all three; they need only the standard library.

    :return: ``(mosmu_render, mosmu_text)``, or ``(None, None)`` when no dir has them
    """
    if all(name in sys.modules for name in _HELPERS):
        return sys.modules["mosmu_render"], sys.modules["mosmu_text"]
    for directory in _utils_dirs(opts):
        paths = [os.path.join(directory, f"{name}.py") for name in _HELPERS]
        if not all(os.path.isfile(path) for path in paths):
            continue
        for name, path in zip(_HELPERS, paths):
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except (ImportError, SyntaxError):
                for loaded in _HELPERS:
                    sys.modules.pop(loaded, None)
                raise
        return sys.modules["mosmu_render"], sys.modules["mosmu_text"]
    return None, None


def __virtual__():
    global mosmu_render, mosmu_text  # pylint: disable=global-statement
    if mosmu_render is None or mosmu_text is None:
        mosmu_render, mosmu_text = _load_helpers(__opts__)
    if mosmu_render is None:
        return (False, "mosmu_render helper not found: run salt-run saltutil.sync_all "
                       "(or pip install mosmu)")
    return __virtualname__


def _shown(data):
    """A copy of ``data`` for display: every string (keys too) terminal-safe, line breaks
    kept; numbers and other values as they are."""
    if isinstance(data, str):
        return mosmu_text.safe(data, newlines="keep")
    if isinstance(data, dict):
        return {_shown(k): _shown(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_shown(v) for v in data]
    if isinstance(data, tuple):
        return tuple(_shown(v) for v in data)
    if isinstance(data, bytes):
        return mosmu_text.safe(repr(data))
    return data


def _nested(data, **kwargs):
    """Salt's nested outputter, through the loader when there is one, on a safe copy."""
    data = _shown(data)
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
        passes it, ``{"suffix": "progress", "event": {...}}`` (one line), a past runner job
        as ``salt-run jobs.lookup_jid`` returns it (its return, rendered as above), or
        anything else (Salt's nested outputter, every string shown terminal-safe).

    CLI Example:

    .. code-block:: bash

        salt-run mosmu.update env=11 --out=mosmu
    """
    if mosmu_render.is_report(data):
        return mosmu_render.table(data)
    if mosmu_render.is_nodes(data):
        return mosmu_render.nodes_table(data)
    if isinstance(data, dict) and isinstance(data.get("error"), str) \
            and set(data) <= {"error", "retcode", "outputter"}:
        return f"error: {mosmu_text.safe(data['error'], newlines='space')}"
    if isinstance(data, dict) and set(data) == {"suffix", "event"} \
            and data["suffix"] == "progress" and isinstance(data["event"], dict):
        return mosmu_render.progress_line(data["event"])
    job = _runner_job(data, **kwargs)
    if job is not None:
        return job
    return _nested(data, **kwargs)


def _runner_job(data, **kwargs):
    """A past runner job as ``jobs.lookup_jid`` returns it: ``{master_id: {"fun":
    "runner.mosmu.update", "jid", "fun_args", "return": <the report>, "success", ...}}`` (what
    the master's job cache holds for a runner job), or Salt's ``{"outputter": name, "data":
    {...}}`` wrapping of that. The job's return is rendered as if the runner had just returned
    it.

    :return: the rendered text, or None when ``data`` is not one runner job
    """
    if isinstance(data, dict) and set(data) == {"outputter", "data"}:
        data = data["data"]
    if not isinstance(data, dict) or len(data) != 1:
        return None
    job = next(iter(data.values()))
    if isinstance(job, dict) and "return" in job and isinstance(job.get("fun"), str) \
            and job["fun"].startswith("runner."):
        return output(job["return"], **kwargs)
    return None
