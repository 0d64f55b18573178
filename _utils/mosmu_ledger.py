"""The master's own record of each node's last mosmu result: ``<cachedir>/mosmu/results``.

A node's status file can only say what the node could write. When ``/var/log`` on the node
is full or read-only, a failed run leaves the *previous* ``UPDATE=OK`` in place, and the
node's file alone would read as upgraded. The runner therefore keeps, for every node a real
run acted on, one small JSON file with that run's id and result. A node's own record carries
the id of the run that wrote it (``run_id``), so the two are compared by run id, never by
timestamps taken on different clocks:

- the node's record was written by the master's last run: the node's file is the truth;
- it was not, and the master's last run did not end OK: that run's result is the truth
  (the node could not record it, or was never reached), and :func:`overrides` says so.

``mosmu.status`` and ``retry_failed=True`` both read through :func:`overrides`. Test mode
never writes here.
"""

import json
import os

import mosmu_exec
import mosmu_report

SUBDIR = os.path.join("mosmu", "results")
FIELDS = ("run_id", "result", "comment", "mos_version", "repos", "transport")


def directory(cachedir):
    return os.path.join(cachedir, SUBDIR)


def _path(cachedir, node_id):
    return os.path.join(directory(cachedir), f"node-{int(node_id)}.json")


def write(cachedir, entry, run_id, plan=None):
    """Record one node's result of run ``run_id`` (atomically; replaces the previous one).

    :param cachedir: the master's cache dir
    :param entry: the node's report entry (``id``, ``result``, ``comment``, ``transport``)
    :param run_id: the run's job id
    :param plan: the node's ``mosmu_plan.Plan``, if it had one
    :raise OSError: the file could not be written (the caller decides what that costs)
    """
    data = {"run_id": str(run_id), "result": entry["result"],
            "comment": str(entry.get("comment") or "")[:2000],
            "transport": entry.get("transport"),
            "mos_version": plan.mos_version if plan else None,
            "repos": plan.repo_names if plan else None}
    os.makedirs(directory(cachedir), mode=0o700, exist_ok=True)
    mosmu_exec.atomic_write(_path(cachedir, entry["id"]),
                            json.dumps(data, sort_keys=True) + "\n")


def read(cachedir, node_id):
    """The node's last recorded result (a dict with :data:`FIELDS`), or None when there is
    none or it is unreadable (then the node's own file is all there is)."""
    try:
        with open(_path(cachedir, node_id), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return _record(data)


def read_many(cachedir, node_ids):
    """``{node id: read(cachedir, node id)}`` for many nodes, the directory listed once: only
    the nodes a run of this master acted on cost a file read (a status over a fleet most of
    which no mosmu run touched reads next to nothing)."""
    try:
        present = set(os.listdir(directory(cachedir)))
    except FileNotFoundError:
        present = set()     # no run of this master recorded anything yet
    except OSError:
        present = None      # unlistable: each node's file is tried, as read() does
    return {node_id: read(cachedir, node_id)
            if present is None or os.path.basename(_path(cachedir, node_id)) in present
            else None for node_id in node_ids}


def _record(data):
    """The decoded file as a record, or None when it is not one."""
    if not isinstance(data, dict) or data.get("result") not in mosmu_report.UPDATE_RESULTS or \
            not isinstance(data.get("run_id"), str) or not isinstance(data.get("comment"), str):
        return None
    return {key: data.get(key) for key in FIELDS}


def overrides(last, status):
    """Whether the master's last result for a node is truer than the node's status file.

    :param last: :func:`read`'s result (None: no run of this master touched the node)
    :param status: the node's ``mosmu.status`` return (``{"state", "line", "record"}``), or
        None when it did not answer
    :return: True when the last run did not end OK and the node's record is not that run's
    """
    if not last or last["result"] == "OK":
        return False
    record = status.get("record") if isinstance(status, dict) else None
    run_id = record.get("run_id") if isinstance(record, dict) else None
    return run_id != last["run_id"]
