"""The node's status file, exactly as ``mos_apply_mu.py`` wrote it, plus a JSON record.

``/var/log/mos_apply_mu.status`` holds ``STARTED`` and then ``UPDATE=OK`` or ``UPDATE=FAIL``,
so fleets where some nodes were updated by the old tool read the same way.
``/var/log/mos_apply_mu.json`` beside it holds the detail (times, versions, packages, error).
"""

import datetime
import json
import os

import mosmu_exec

STATUS_FILE = "var/log/mos_apply_mu.status"
STATUS_PATH = "/" + STATUS_FILE
RECORD_FILE = "var/log/mos_apply_mu.json"
STARTED = "STARTED"
LINES = {"OK": "UPDATE=OK", "FAIL": "UPDATE=FAIL"}
# The line each end state of a run writes: a PARTIAL run (an offered package did not reach its
# MU version) is not an OK one, so old readers of the file see UPDATE=FAIL; the JSON record
# says PARTIAL and which packages.
LINE_OF = dict(LINES, PARTIAL=LINES["FAIL"])


def state_of(line):
    """Map the last status line to ``OK``, ``FAIL``, ``STARTED``, ``NONE`` or ``UNKNOWN``."""
    if line is None:
        return "NONE"
    line = line.strip()
    if line == STARTED:
        return "STARTED"
    for state, text in LINES.items():
        if line == text:
            return state
    return "UNKNOWN"


def parse(status_text, record_text):
    """``{"state", "line", "record"}`` from the texts of the two files (None: missing).

    ``state`` comes from the last status line; ``PARTIAL`` when that line is
    ``UPDATE=FAIL`` and the record beside it says the run ended PARTIAL. ``record`` is the
    record as a dict, whatever the file holds: a record that is not a JSON object becomes
    ``{"error": "..."}``.
    """
    lines = None
    if status_text is not None:
        lines = [ln.rstrip("\n") for ln in status_text.splitlines() if ln.strip()]
    line = lines[-1] if lines else None
    record = None
    if record_text is not None:
        try:
            record = json.loads(record_text)
        except ValueError:
            record = {"error": f"{RECORD_FILE} is not valid JSON"}
        if not isinstance(record, dict):
            record = {"error": f"{RECORD_FILE} holds a JSON {type(record).__name__}, "
                               "not an object"}
    state = state_of(line)
    if state == "FAIL" and record is not None and record.get("state") == "PARTIAL":
        state = "PARTIAL"
    return {"state": state, "line": line, "record": record}


def paths(root):
    """``(status file, record file)`` under a node root."""
    return os.path.join(root, STATUS_FILE), os.path.join(root, RECORD_FILE)


def read_ops(root):
    """The executor operations that read a node's status (give their results to parse)."""
    status, record = paths(root)
    return [mosmu_exec.Read(status), mosmu_exec.Read(record)]


def read(root):
    """``{"state", "line", "record"}`` from a local node root's files."""
    return parse(*mosmu_exec.LocalExecutor(root, None, None).batch(read_ops(root)))


atomic_write = mosmu_exec.atomic_write


def started_ops(root):
    """Start a run: the file holds ``STARTED`` only (as the old tool's ``echo >``)."""
    return [mosmu_exec.Write(paths(root)[0], STARTED + "\n")]


def result_ops(root, state, record):
    """Store the JSON record, then append ``UPDATE=OK|FAIL`` (``LINE_OF[state]``).

    The record goes first: a line that could not be appended leaves ``STARTED`` last, which
    never reads as a result, while a stale record beside a new line would.
    """
    status, record_path = paths(root)
    return [mosmu_exec.Write(record_path, json.dumps(dict(record, state=state), indent=2,
                                                     sort_keys=True) + "\n"),
            mosmu_exec.Append(status, LINE_OF[state] + "\n")]


def write_started(root):
    mosmu_exec.LocalExecutor(root, None, None).batch(started_ops(root))


def write_result(root, state, record):
    mosmu_exec.LocalExecutor(root, None, None).batch(result_ops(root, state, record))


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class NodeRun:
    """The lifecycle of one node run, in one place: STARTED -> work -> UPDATE=OK|FAIL.

    ``STARTED`` is written by :meth:`start` (the first step that will change the node), so a
    run that finds nothing to do writes nothing. Whatever leaves the ``with`` block with an
    exception ends as ``UPDATE=FAIL``, even before :meth:`start` (then ``STARTED`` is written
    first, so the file reads as the old tool's), with the failing step and the error in the
    JSON record. A clean exit after :meth:`start` writes ``UPDATE=OK``.

    .. code-block:: python

        with NodeRun(executor, {"mos_version": "8.0"}, previous) as run:
            run.step("refresh")
            ...
            run.start()
            run.step("upgrade")

    A status that cannot be written (a full or read-only ``/var/log``) is a failure of the
    run with that cause (:class:`mosmu_exec.NodeIOError`), never a silent OK: the old
    ``UPDATE=OK`` of an earlier run would otherwise still read as this run's result.

    :meth:`partial` marks a run whose upgrade left offered packages behind: it ends
    ``PARTIAL`` (line ``UPDATE=FAIL``, record ``state: PARTIAL``), not OK.

    :param executor: the node's executor (``mosmu_exec``); its ``root`` is the node root
    :param record: the start of the JSON record (plan, run id...)
    :param previous: the node's status before the run (:func:`parse`)
    """

    def __init__(self, executor, record, previous):
        self.executor = executor
        self.root = executor.root
        self.record = dict(record, started=now())
        self.previous = previous
        self.started = False
        self.recorded = False     # the result line and record are on the node
        self.current = None
        self.is_partial = False

    def step(self, name):
        """Name the step now running (recorded if it fails)."""
        self.current = name
        self.record.setdefault("steps", []).append(name)

    def start(self):
        """Write ``STARTED`` once, before the first change to the node."""
        if not self.started:
            self.executor.batch(started_ops(self.root))
            self.started = True

    def partial(self):
        """The run ends PARTIAL instead of OK (see the class docstring)."""
        self.is_partial = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, _tb):
        self.record["finished"] = now()
        state = "FAIL" if exc is not None else "PARTIAL" if self.is_partial else \
            "OK" if self.started else None
        if state is None:
            return False
        record = self.record
        if exc is not None:
            record = dict(record, failed_step=self.current, error=str(exc) or exc_type.__name__)
        try:
            self.start()
            self.executor.batch(result_ops(self.root, state, record))
            self.recorded = True
        except mosmu_exec.NodeIOError as err:
            why = f"; the run had failed: {exc}" if exc is not None else \
                "; the upgrade itself finished, but the node's status does not say so"
            raise mosmu_exec.NodeIOError(
                f"could not record {LINE_OF[state]} in {STATUS_PATH}: {err}{why}; free or "
                "remount /var/log on the node, then rerun", err.path) from (exc or err)
        return False
