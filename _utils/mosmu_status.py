"""The node's status file, exactly as ``mos_apply_mu.py`` wrote it, plus a JSON record.

``/var/log/mos_apply_mu.status`` holds ``STARTED`` and then ``UPDATE=OK`` or ``UPDATE=FAIL``,
so fleets where some nodes were updated by the old tool read the same way.
``/var/log/mos_apply_mu.json`` beside it holds the detail (times, versions, packages, error).
"""

import datetime
import json
import os
import tempfile

STATUS_FILE = "var/log/mos_apply_mu.status"
STATUS_PATH = "/" + STATUS_FILE
RECORD_FILE = "var/log/mos_apply_mu.json"
STARTED = "STARTED"
LINES = {"OK": "UPDATE=OK", "FAIL": "UPDATE=FAIL"}


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


def read(root):
    """``{"state", "line", "record"}`` from the node root's files."""
    path = os.path.join(root, STATUS_FILE)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [ln.rstrip("\n") for ln in handle if ln.strip()]
    except FileNotFoundError:
        lines = None
    line = lines[-1] if lines else None
    record = None
    try:
        with open(os.path.join(root, RECORD_FILE), encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        pass
    except ValueError:
        record = {"error": f"{RECORD_FILE} is not valid JSON"}
    return {"state": state_of(line), "line": line, "record": record}


def atomic_write(path, text):
    """Replace ``path`` with ``text`` in one rename (mode 0644), creating its directory."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".mosmu-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_started(root):
    """Start a run: the file holds ``STARTED`` only (as the old tool's ``echo >``)."""
    atomic_write(os.path.join(root, STATUS_FILE), STARTED + "\n")


def write_result(root, state, record):
    """Append ``UPDATE=OK|FAIL`` and store the JSON record beside it."""
    path = os.path.join(root, STATUS_FILE)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(LINES[state] + "\n")
    atomic_write(os.path.join(root, RECORD_FILE),
                  json.dumps(dict(record, state=state), indent=2, sort_keys=True) + "\n")


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

        with NodeRun(root, {"mos_version": "8.0"}) as run:
            run.step("refresh")
            ...
            run.start()
            run.step("upgrade")
    """

    def __init__(self, root, record):
        self.root = root
        self.record = dict(record, started=now())
        self.previous = read(root)
        self.started = False
        self.current = None

    def step(self, name):
        """Name the step now running (recorded if it fails)."""
        self.current = name
        self.record.setdefault("steps", []).append(name)

    def start(self):
        """Write ``STARTED`` once, before the first change to the node."""
        if not self.started:
            write_started(self.root)
            self.started = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, _tb):
        self.record["finished"] = now()
        if exc is not None:
            self.start()
            write_result(self.root, "FAIL", dict(self.record, failed_step=self.current,
                                                 error=str(exc) or exc_type.__name__))
        elif self.started:
            write_result(self.root, "OK", self.record)
        return False
