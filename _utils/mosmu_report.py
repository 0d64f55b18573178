"""The runner's report: one entry per node, a summary, a retcode, a text table, events.

Pure functions, no Salt: the runner builds entries from minion returns with
:func:`state_entry` / :func:`status_from_record`, and the ``mosmu`` outputter renders the
finished report with :func:`table` and progress events with :func:`progress_line`.
Everything here uses the standard library only, so the outputter can load it on its own.
"""

import datetime
import re
from collections.abc import Mapping

import mosmu_text

UPDATE_RESULTS = ("OK", "PARTIAL", "FAIL", "TIMEOUT", "UNREACHABLE", "NO_MINION", "SKIPPED")
STATUS_RESULTS = ("STARTED", "NONE", "UNKNOWN")
RESULTS = UPDATE_RESULTS + STATUS_RESULTS
# Results that count as failed nodes (retcode, max_failures). PARTIAL (an offered package did
# not reach its MU version) is one, unless the operator accepted it (``accept_partial=True``).
FAILED = ("FAIL", "PARTIAL", "TIMEOUT", "UNREACHABLE")
STATE_PREFIX = "mosmu_|-"
WIDTH = 118

_SYNC_HINT = " (run salt '*' saltutil.sync_all)"
_KERNEL_RE = re.compile(r"(linux-(signed-)?image-.*|kernel(-core|-default|-PAE|-xen)?)")
_USERINFO_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_TAG_PART_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


# -- entries --------------------------------------------------------------------------------

def entry(node, result, **fields):
    """One node's report entry.

    :param node: a selected node (``id``, ``ip``, ``cluster``, ``roles``; ``fqdn`` and
        ``minion`` when known)
    :param result: one of :data:`RESULTS`: ``OK PARTIAL FAIL TIMEOUT UNREACHABLE NO_MINION
        SKIPPED`` (update) or, for ``mosmu.status``, also ``STARTED NONE UNKNOWN``
    :param fields: more keys, overriding the defaults (``comment``, ``changes``,
        ``duration``, ``reboot_required``, ``test``, ``line``, ``record`` ...)
    :return: ``{"id", "ip", "fqdn", "env", "roles", "minion", "transport", "result",
        "changes" ({}), "comment" (""), "duration" (None, seconds), "reboot_required"
        (False), **fields}``
    :raises ValueError: for an unknown result
    """
    if result not in RESULTS:
        raise ValueError(f"result={result!r} is not one of {', '.join(RESULTS)}")
    out = {"id": node["id"], "ip": node.get("ip"), "fqdn": node.get("fqdn"),
           "env": node.get("cluster", node.get("env")), "roles": list(node.get("roles") or ()),
           "minion": node.get("minion"), "transport": node.get("transport"),
           "result": result, "changes": {}, "comment": "",
           "duration": None, "reboot_required": False}
    out.update(fields)
    return out


def _text(value):
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return str(value)


def _hint(text):
    if "mosmu.updated" in text or "'mosmu.status' is not available" in text:
        return _SYNC_HINT
    if "No matching sls found for 'mosmu'" in text:
        return " (is the mosmu formula in the master's file_roots?)"
    return ""


def _not_returned(node):
    minion = node.get("minion") or "<minion>"
    return (f"{minion} did not return in time; the update may still be running: check "
            f"salt-run mosmu.status (or salt {minion} mosmu.status) before rerunning")


def _state_name(key):
    parts = key.split("_|-")
    return f"{parts[0]}.{parts[3]} {parts[1]}" if len(parts) == 4 else key


def _seconds(value):
    return None if value is None else round(float(value), 1)


def reboot_required(changes):
    """Whether a set of package changes needs a reboot to take effect (a new kernel).

    :param changes: ``{package: {"old", "new"}}``
    :return: True when a kernel image package (``linux-image-*``, ``kernel``...) changed
    """
    return any(_KERNEL_RE.fullmatch(str(name)) for name in changes or {})


def state_entry(node, minion_return, test=False, duration=None):
    """Turn one minion's ``state.apply mosmu`` return (``full_return=True``) into an entry.

    A minion that did not return is ``TIMEOUT`` (its update may still be running); a
    render or compile error (a list or string return) is ``FAIL`` with the text; a mosmu
    state that says ``mosmu_result: PARTIAL`` (and no other failure) is ``PARTIAL``; any
    state with ``result`` False, or no ``mosmu.*`` state in the return, is ``FAIL``;
    otherwise ``OK``. Only states whose key starts with ``mosmu_|-`` give ``changes``.

    :param node: the node (``id``, ``ip``, ``cluster``, ``roles``, ``minion``)
    :param minion_return: ``{"ret": {state_key: {...}} | [errors] | "text", "retcode": n}``
        as LocalClient returns it with ``full_return=True``, or None when absent
    :param test: the run was a dry run (``changes`` are what would be upgraded)
    :param duration: wall time in seconds the runner measured; default the sum of the
        mosmu states' own ``duration`` (ms)
    :return: an :func:`entry`; ``test`` True is added in test mode
    """
    extra = {"test": True} if test else {}
    if minion_return is None:
        return entry(node, "TIMEOUT", comment=_not_returned(node), duration=_seconds(duration),
                     **extra)
    data = minion_return.get("ret") if isinstance(minion_return, dict) else minion_return
    if isinstance(minion_return, dict) and "ret" not in minion_return:
        if minion_return.get("failed"):
            return entry(node, "TIMEOUT", comment=_not_returned(node), **extra)
        data = minion_return
    if isinstance(data, str) and data.startswith("Minion did not return"):
        return entry(node, "TIMEOUT", comment=f"{_not_returned(node)} ({data})", **extra)
    if not isinstance(data, dict):
        text = _text(data)
        return entry(node, "FAIL", comment=f"state did not run: {text}{_hint(text)}",
                     duration=_seconds(duration), **extra)
    bad = [k for k, v in data.items() if not isinstance(v, dict)]
    if bad:
        return entry(node, "FAIL", duration=_seconds(duration), **extra,
                     comment=f"unexpected state return for {', '.join(map(str, bad))}")
    ours = {k: v for k, v in data.items() if str(k).startswith(STATE_PREFIX)}
    failed = {k: v for k, v in data.items() if v.get("result") is False}
    changes, finish = {}, {}
    for state in ours.values():
        changes.update(state.get("changes") or {})
        if isinstance(state.get("mosmu_finish"), Mapping):
            finish.update(state["mosmu_finish"])
    if duration is None and ours:
        duration = sum(float(v.get("duration") or 0) for v in ours.values()) / 1000
    reboot = reboot_required(changes) or any(v.get("reboot_required") for v in ours.values())
    common = {"changes": changes, "duration": _seconds(duration), "reboot_required": reboot,
              **({"finish": finish} if finish else {}), **extra}
    if failed:
        comment = "; ".join(str(v.get("comment", "")) if k in ours
                            else f"{_state_name(k)}: {v.get('comment', '')}"
                            for k, v in failed.items())
        partial = all(k in ours and v.get("mosmu_result") == "PARTIAL"
                      for k, v in failed.items())
        return entry(node, "PARTIAL" if partial else "FAIL", comment=comment, **common)
    if not ours:
        return entry(node, "FAIL", comment="the mosmu state did not run: no mosmu.* state "
                     "in the return; check the mosmu SLS" + _SYNC_HINT, **common)
    comment = "; ".join(str(v.get("comment", "")) for v in ours.values())
    retcode = minion_return.get("retcode") if isinstance(minion_return, dict) else None
    if retcode not in (None, 0) and not test:
        return entry(node, "FAIL", comment=f"{comment}; state.apply exited {retcode}", **common)
    return entry(node, "OK", comment=comment, **common)


SSH_RESULTS = {"auth": "UNREACHABLE", "hostkey": "UNREACHABLE", "unreachable": "UNREACHABLE",
               "timeout": "TIMEOUT"}


def run_entry(node, done=None, error=None, test=False, duration=None, comment="", finish=None):
    """An entry for a node run driven from the master (the ssh transport).

    :param node: the node
    :param done: the node run's result: ``mosmu_noderun.upgrade``'s dict (``PARTIAL`` when
        its ``short`` is not empty), or in test mode ``pending``'s ``{package: {old, new}}``;
        None when it failed
    :param error: the failure: ``(kind, message)`` with kind ``fail`` or an ssh error kind
        (``auth hostkey unreachable timeout``), and ``changes`` done before it, if any
    :param test: the run was a dry run
    :param duration: the node's own wall time, seconds
    :param comment: the node run's comment (``mosmu_noderun.done_comment`` ...)
    :param finish: restarts, holds and local changes of the node run (``finish`` key)
    """
    extra = {"test": True} if test else {}
    if finish:
        extra["finish"] = finish
    if error is not None:
        kind, message, changes = [*error, {}][:3]
        return entry(node, SSH_RESULTS.get(kind, "FAIL"), comment=message,
                     changes=changes or {}, duration=_seconds(duration), **extra)
    changes = done if test else done.get("changes") or {}
    result = "PARTIAL" if not test and done.get("short") else "OK"
    return entry(node, result, comment=comment, changes=changes, duration=_seconds(duration),
                 reboot_required=reboot_required(changes), **extra)


def _duration_of(record):
    try:
        start = datetime.datetime.fromisoformat(record["started"])
        end = datetime.datetime.fromisoformat(record["finished"])
    except (KeyError, TypeError, ValueError):
        return None
    return _seconds((end - start).total_seconds())


def status_from_record(node, status_return):
    """Turn one minion's ``mosmu.status`` return into a ``mosmu.status`` report entry.

    :param node: the node (``id``, ``ip``, ``cluster``, ``roles``, ``minion``)
    :param status_return: the module's ``{"state", "line", "record"}``, or LocalClient's
        ``full_return`` wrapping of it (``{"ret": {...}, "retcode": n}``), or None when the
        minion did not answer
    :return: an :func:`entry` with ``result`` the node's state (``OK PARTIAL FAIL STARTED
        NONE UNKNOWN``; ``TIMEOUT`` or ``FAIL`` when there is no usable answer) and ``line``,
        ``record``; ``changes``, ``duration``, ``finished`` and ``comment`` from the record
        (a record of any shape is read safely: what is not of the expected type is left out)
    """
    if status_return is None:
        return entry(node, "TIMEOUT", line=None, record=None,
                     comment=f"{node.get('minion') or '<minion>'} did not answer; is it up? "
                             f"(salt {node.get('minion') or '<minion>'} test.ping)")
    data = status_return
    if isinstance(data, dict) and "ret" in data and "state" not in data:
        data = data["ret"]
    if not isinstance(data, dict) or data.get("state") not in ("OK", "PARTIAL", "FAIL",
                                                               *STATUS_RESULTS):
        text = _text(data)
        if text.startswith("Minion did not return"):
            return entry(node, "TIMEOUT", line=None, record=None, comment=text)
        return entry(node, "FAIL", line=None, record=None,
                     comment=f"mosmu.status failed: {text}{_hint(text)}")
    record = data.get("record") if isinstance(data.get("record"), dict) else None
    line = data.get("line") if isinstance(data.get("line"), str) else None
    fields = {"line": line, "record": data.get("record")}
    if record:
        changes = record.get("changes") if isinstance(record.get("changes"), dict) else {}
        changes = {str(k): v for k, v in changes.items() if isinstance(v, dict)}
        comment = ""
        if record.get("error"):
            step = record.get("failed_step")
            comment = f"{step}: {record['error']}" if step else str(record["error"])
        elif data["state"] == "PARTIAL" and isinstance(record.get("short"), dict):
            comment = (f"PARTIAL: {len(record['short'])} offered package(s) did not reach "
                       f"their MU version: {', '.join(sorted(map(str, record['short'])))}")
        finished = record.get("finished") if isinstance(record.get("finished"), str) else None
        fields.update(changes=changes, duration=_duration_of(record), comment=comment,
                      finished=finished, reboot_required=reboot_required(changes))
    if data["state"] == "NONE":
        fields["comment"] = "never updated (no status file)"
    elif data["state"] == "STARTED" and not fields.get("comment"):
        fields["comment"] = "a run started and did not finish: still running, or interrupted"
    elif data["state"] == "UNKNOWN":
        fields["comment"] = f"unrecognised last status line {_cut(data.get('line'), 60)!r}"
    return entry(node, data["state"], **fields)


# -- summary --------------------------------------------------------------------------------

def entries_of(report):
    """The node entries of a report.

    :param report: the runner's report (``{ip: entry, "summary": ..., ...}``) or an
        iterable of entries
    :return: a list of entries (dicts with a ``result``)
    """
    values = report.values() if isinstance(report, Mapping) else report
    return [e for e in values if isinstance(e, Mapping) and "result" in e]


def summary(entries):
    """Count entries per result.

    :param entries: a report or an iterable of entries (see :func:`entries_of`)
    :return: ``{result: count}`` with results in :data:`RESULTS` order, absent ones left out
    """
    counts = {}
    for item in entries_of(entries):
        counts[item["result"]] = counts.get(item["result"], 0) + 1
    known = [r for r in RESULTS if r in counts]
    return {r: counts[r] for r in known + sorted(set(counts) - set(known), key=str)}


def failures(entries, accept_partial=False):
    """Number of entries that ended in one of :data:`FAILED` (what the stop threshold counts).

    :param entries: a report or an iterable of entries
    :param accept_partial: PARTIAL nodes do not count (``accept_partial=True``)
    :return: an int
    """
    failed = [r for r in FAILED if not (accept_partial and r == "PARTIAL")]
    return sum(1 for e in entries_of(entries) if e["result"] in failed)


def retcode(entries, failed_skips=(), accept_partial=False):
    """The run's exit code: 0 only when there are entries and every one is ``OK``.

    :param entries: a report or an iterable of entries
    :param failed_skips: selection skips that count as failures (records with
        ``"failed": True``; records with ``failed`` False are ignored), or their number
    :param accept_partial: ``PARTIAL`` counts as ``OK`` (the operator accepted packages
        left behind: ``accept_partial=True``)
    :return: 0 or 2
    """
    good = ("OK", "PARTIAL") if accept_partial else ("OK",)
    if isinstance(failed_skips, int):
        failed = failed_skips
    else:
        failed = sum(1 for s in failed_skips if not isinstance(s, Mapping) or
                     s.get("failed", True))
    items = entries_of(entries)
    return 0 if items and not failed and all(e["result"] in good for e in items) else 2


def summary_line(counts, code=None):
    """``3 OK, 1 FAIL, 2 SKIPPED — retcode 2``.

    :param counts: ``{result: count}`` as :func:`summary` returns it
    :param code: the retcode to show, or None to leave it out
    :return: one line
    """
    text = ", ".join(f"{n} {r}" for r, n in counts.items()) or "no nodes"
    return text if code is None else f"{text} — retcode {code}"


def is_report(data):
    """Whether ``data`` is a ``mosmu.update`` / ``mosmu.status`` report.

    Other top-level keys do not matter (``test``, ``interrupted``, ``mirror``, ``skipped``,
    ``outputter``, and whatever a later version adds): :func:`table` shows what it knows.

    :param data: anything a runner returned
    :return: True for a mapping with a ``summary`` mapping and a ``retcode``
    """
    return isinstance(data, Mapping) and "retcode" in data and \
        isinstance(data.get("summary"), Mapping)


# -- text -----------------------------------------------------------------------------------
# Everything below renders for a terminal: each value from a node, Nailgun or a tool goes
# through mosmu_text.safe (escaped, cut only between escapes); the data stays untouched.

def _cut(text, width):
    """One line of at most ``width`` characters, for data (entry comments, event payloads),
    not for a terminal: rendering escapes it with :func:`mosmu_text.safe`."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _safe(value, width=None):
    """A one-line table cell: ``-`` for None, escaped, cut to ``width``."""
    return mosmu_text.safe("-" if value is None else value, width)


def _prose(text, width=None):
    """A one-line sentence: whitespace runs as one space, escaped, cut to ``width``."""
    return mosmu_text.safe(text, width, newlines="space")


def _roles(value):
    if isinstance(value, (list, tuple)):
        return ",".join(str(r) for r in value) or "-"
    return "-" if value in (None, "") else str(value)


def _seconds_text(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.1f}s"
    return "-" if value is None else _safe(value, 10)


def _order(value):
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))


def _is_status(items):
    return any("line" in e for e in items)


def _row(item, status):
    cells = [_safe(item.get("ip") or "-", 39), _safe(f"node-{item.get('id')}", 16),
             _safe(str(item.get("env")), 10), _safe(_roles(item.get("roles")), 24),
             _safe(item["result"], 12)]
    if status:
        return [*cells, _safe(item.get("line") or "-", 12), _safe(item.get("finished") or "-", 25)]
    changes = item.get("changes")
    count = len(changes) if isinstance(changes, Mapping) else 0
    down = len(downgrades(item))
    return [*cells, str(count) if count or item["result"] in ("OK", "PARTIAL", "FAIL") else "-",
            str(down) if down else "-", _seconds_text(item.get("duration")),
            "yes" if item.get("reboot_required") else "-"]


def downgrades(item):
    """``{package: change}`` of an entry's changes that move a package down (flagged
    ``downgrade`` by the node run: apt said so)."""
    changes = item.get("changes")
    if not isinstance(changes, Mapping):
        return {}
    return {name: change for name, change in changes.items()
            if isinstance(change, Mapping) and change.get("downgrade") is True}


def _downgrade_lines(items, test):
    """One wrapped line per node with downgrades: which packages, from what to what."""
    lines = []
    for item in items:
        down = downgrades(item)
        if down:
            text = ", ".join(f"{name} {c.get('old')} -> {c.get('new')}"
                             for name, c in sorted(down.items(), key=lambda i: str(i[0])))
            lines += mosmu_text.wrap(f"node-{item.get('id')} {item.get('ip')} "
                                     f"{'would downgrade' if test else 'downgraded'}: {text}",
                                     WIDTH, indent="      ", first="  ")
    return lines


def _cut_list(items, limit=10):
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more"
                                       if len(items) > limit else "")


def finish_notes(finish, test=False):
    """Short notes on what finished (or would finish) a node's update: restarts, Pacemaker
    resources it needs restarted, held packages, local changes (plain text, not escaped)."""
    out = []
    restarts = [r for r in finish.get("restarts") or () if isinstance(r, Mapping)]
    if restarts and test:
        out.append("would restart " + _cut_list(
            [f"{r.get('service')} ({r.get('package')} would be upgraded)" for r in restarts]))
    elif restarts:
        out.append("restarted " + _cut_list(
            [f"{r.get('service')} (pid {r.get('old_pid') or '-'} -> {r.get('new_pid') or '-'})"
             + ("" if r.get("ok") else f" FAILED: {r.get('detail')}") for r in restarts]))
    pacemaker = finish.get("pacemaker") if isinstance(finish.get("pacemaker"), Mapping) else {}
    if pacemaker:
        out.append(f"{'would need' if test else 'needs'} Pacemaker restart of "
                   + _cut_list(sorted(map(str, pacemaker))))
    if isinstance(finish.get("held"), list) and finish["held"]:
        out.append("held (not upgraded): " + _cut_list([str(h) for h in finish["held"]]))
    changed = [c for c in finish.get("local_changes") or () if isinstance(c, Mapping)]
    if changed:
        out.append(f"local changes in {len(changed)} file(s) of MU packages: "
                   + _cut_list([str(c.get("path")) + (" (config)" if c.get("config") else "")
                                for c in changed]))
    if finish.get("local_changes_error"):
        out.append(f"local changes not checked: {finish['local_changes_error']}")
    return out


def _finish_lines(items, test):
    """One wrapped line per node with restarts, holds or local changes."""
    lines = []
    for item in items:
        finish = item.get("finish")
        notes = finish_notes(finish, test) if isinstance(finish, Mapping) else []
        if notes:
            lines += mosmu_text.wrap(f"node-{item.get('id')} {item.get('ip')}: "
                                     + "; ".join(notes), WIDTH, indent="      ", first="  ")
    return lines


def _env_lines(envs):
    """The environments' checks and Pacemaker restarts (``report["envs"]``), one line each
    plus every problem whole."""
    lines = []
    items = envs.items() if isinstance(envs, Mapping) else ()
    for env, data in sorted(items, key=lambda i: _order(i[0])):
        if not isinstance(data, Mapping):
            continue
        for step in data.get("steps") or ():
            if not isinstance(step, Mapping):
                continue
            lines += mosmu_text.wrap(f"env {env} {step.get('name')}: {step.get('result')}"
                                     + (f" ({step['summary']})" if step.get("summary") else ""),
                                     WIDTH, indent="      ", first="  ")
            for problem in step.get("problems") or ():
                lines += mosmu_text.wrap(str(problem), WIDTH, indent="        ",
                                         first="      ")
    return lines


def _widths(headers, rows):
    return [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]


def _line(cells, widths):
    return ("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths))).rstrip()


def _mirror_lines(mirror):
    lines = []
    items = mirror.items() if isinstance(mirror, Mapping) else ()
    for name, result in sorted(items, key=lambda i: str(i[0])):
        if isinstance(result, Mapping):
            lines.append(_prose(f"mirror {name}: {result.get('state', '?')} "
                                f"({result.get('files', 0)} file(s) fetched)", WIDTH))
    return lines


def _notes(items):
    """Each not-OK node's reason whole, wrapped under its node (never cut)."""
    lines = []
    for item in items:
        if item["result"] != "OK" and item.get("comment"):
            lines += mosmu_text.wrap(f"node-{item.get('id')} {item.get('ip')} {item['result']}: "
                                     f"{item['comment']}", WIDTH, indent="      ", first="  ")
    return lines


def table(report):
    """A runner report as the compact text an operator reads at a glance.

    One row per node (ip, node id, roles, result, and packages changed, of them downgraded,
    duration, reboot required for ``mosmu.update``; status line and finish time for
    ``mosmu.status``), grouped by environment in env id order, nodes in id order; then each
    node's downgrades by name; then, for each node that did not end OK, its comment whole
    (wrapped); the summary line with the retcode; the number
    of nodes skipped by the selection. A dry run (``test``) and an interrupted run
    (``interrupted``) say so first; a run that stopped on an error after some nodes
    (``error``) ends with that error, whole; other top-level keys are not shown. Lines stay under
    120 columns, cells are cut, and every value is shown terminal-safe
    (:func:`mosmu_text.safe`).

    :param report: the runner's report, ``{ip: entry, ..., "skipped": [...], "summary":
        {...}, "retcode": n}`` (``mirror``, ``test``, ``interrupted`` optional)
    :return: a multi-line string
    """
    items = entries_of(report)
    status = _is_status(items)
    headers = (["ip", "node", "env", "roles", "state", "line", "finished"] if status else
               ["ip", "node", "env", "roles", "result", "pkgs", "down", "time", "reboot"])
    lines = _mirror_lines(report.get("mirror"))
    test = report.get("test") is True or any(e.get("test") for e in items)
    if test:
        lines.append("test mode: nothing was changed; pkgs = packages that would be upgraded "
                     "(down: of them, downgraded)")
    if report.get("interrupted"):
        lines += mosmu_text.wrap(f"interrupted ({report['interrupted']}): the nodes below that "
                                 "did not start are SKIPPED; rerun with retry_failed=True",
                                 WIDTH, indent="  ")
    by_env = {}
    for item in items:
        by_env.setdefault(item.get("env"), []).append(item)
    groups = [(env, sorted(by_env[env], key=lambda e: (_order(e.get("id")), str(e.get("ip")))))
              for env in sorted(by_env, key=_order)]
    widths = _widths(headers, [_row(e, status) for e in items])
    for env, group in groups:
        lines.append(f"environment {_safe(str(env), 40)}: {len(group)} node(s)")
        lines.append(_line(headers, widths))
        lines += [_line(_row(e, status), widths) for e in group]
    down = _downgrade_lines([e for _env, group in groups for e in group], test)
    if down:
        lines += ["downgrades (an MU pin moves these below what the node had):", *down]
    finished = _finish_lines([e for _env, group in groups for e in group], test)
    if finished:
        lines += [("would restart, holds, local changes:" if test else
                   "restarts, holds, local changes:"), *finished]
    env_lines = _env_lines(report.get("envs"))
    if env_lines:
        lines += ["environment checks and Pacemaker:", *env_lines]
    notes = _notes([e for _env, group in groups for e in group])
    if notes:
        lines += ["not OK:", *notes]
    code = report.get("retcode", retcode(items))
    lines.append(_prose(summary_line(summary(items), code), WIDTH))
    if isinstance(report.get("error"), str):     # the run stopped after these nodes
        lines += mosmu_text.wrap(f"error: {report['error']}", WIDTH, indent="  ")
    skipped = report.get("skipped") or []
    if skipped:
        failed = sum(1 for s in skipped if isinstance(s, Mapping) and s.get("failed"))
        lines.append(f"skipped by selection: {len(skipped)} node(s)"
                     + (f", {failed} counted as failed" if failed else "")
                     + " (salt-run mosmu.nodes with the same arguments says why)")
    return "\n".join(lines)


def progress_line(event):
    """One readable, terminal-safe line for a runner progress event.

    :param event: a progress payload as :func:`event_data` builds it, by ``kind``:
        ``wave`` (``env``, ``wave``, ``waves``, ``nodes``), ``node`` (an entry's ``id``,
        ``ip``, ``env``, ``result``, ``changes``, ``comment``), ``wait`` (``seconds``,
        ``wave``, ``waves``, ``env``), ``mirror``/``stop``/other (``message``); or a plain
        ``{"message": text}``
    :return: one line (no newline) of at most :data:`WIDTH` characters
    """
    return _prose(_progress_text(event), WIDTH)


def _progress_text(event):
    if not isinstance(event, Mapping):
        return event
    kind = event.get("kind") or ("node" if "result" in event else "message")
    env = event.get("env")
    if kind == "wave":
        nodes = event.get("nodes")
        nodes = nodes if isinstance(nodes, (list, tuple)) else []
        names = ", ".join(f"node-{n}" for n in nodes)
        return (f"env {env} wave {event.get('wave')}/{event.get('waves')}: starting "
                f"{len(nodes)} node(s): {names}")
    if kind == "node":
        count = event.get("changes") or 0
        text = f"env {env} node-{event.get('id')} {event.get('ip')}: {event.get('result')}"
        if event.get("result") in ("OK", "PARTIAL", "FAIL"):
            text += f", {count} package(s)"
            if event.get("downgrades"):
                text += f" ({event['downgrades']} downgraded)"
        if event.get("duration") is not None:
            text += f", {_seconds_text(event['duration'])}"
        if event.get("result") != "OK" and event.get("comment"):
            text += f" — {event['comment']}"
        return text
    if kind == "wait":
        return (f"waiting {event.get('seconds')} s before wave {event.get('wave')}/"
                f"{event.get('waves')} of env {env}")
    if kind == "done":
        counts = event.get("summary")
        counts = counts if isinstance(counts, Mapping) else {}
        return f"env {env} done: {summary_line(counts, event.get('retcode'))}"
    prefix = "" if kind == "message" else f"{kind}: "
    return prefix + str(event.get("message", ""))


# -- events ---------------------------------------------------------------------------------

def _tag_part(value, name):
    text = str(value)
    if isinstance(value, bool) or not _TAG_PART_RE.fullmatch(text):
        raise ValueError(f"{name}={value!r} cannot be part of an event tag")
    return text


def event_tags(env, node_id=None, result=None):
    """Event bus tags of a ``mosmu.update`` run, for reactors and ``salt-run state.event``.

    :param env: environment id
    :param node_id: a node id, for the per-node tag
    :param result: that node's result (one of :data:`RESULTS`)
    :return: ``{"start": "mosmu/update/<env>/start", "node":
        "mosmu/update/<env>/node/<id>/<result>" (None without node_id and result),
        "done": "mosmu/update/<env>/done"}``
    :raises ValueError: for an id or result that would break the tag
    """
    base = f"mosmu/update/{_tag_part(env, 'env')}"
    node = None
    if node_id is not None or result is not None:
        if result not in RESULTS:
            raise ValueError(f"result={result!r} is not one of {', '.join(RESULTS)}")
        node = f"{base}/node/{_tag_part(node_id, 'node_id')}/{result}"
    return {"start": f"{base}/start", "node": node, "done": f"{base}/done"}


def _clean(text):
    return _USERINFO_RE.sub(r"\1***@", _cut(text, 500))


def event_data(source, jid=None, **extra):
    """The payload of a progress or bus event: only what is meant for the bus.

    Keeps ``kind``, ``id``, ``ip``, ``env`` (or a node's ``cluster``), ``result``,
    ``changes`` (as a count), ``downgrades`` (a count, when any), ``duration``, ``comment``
    (one line, at most 500 characters, URL credentials masked), ``jid`` and, for
    wave/wait/done events, ``wave``, ``waves``, ``nodes`` (ids), ``seconds``, ``summary``
    (counts), ``retcode``, ``message``. Anything else (fqdn, minion, records, package names,
    pillar) is dropped.

    :param source: a report entry, a node, or a dict of event fields
    :param jid: the runner's job id
    :param extra: fields added to or overriding ``source`` (e.g. ``kind="wave"``)
    :return: a new dict
    """
    raw = dict(source or {}, **extra)
    if "env" not in raw and "cluster" in raw:
        raw["env"] = raw["cluster"]
    out = {}
    for key in ("kind", "id", "ip", "env", "result", "wave", "waves", "seconds", "retcode"):
        if isinstance(raw.get(key), (int, float, str)) and not isinstance(raw[key], bool):
            out[key] = raw[key]
    if "changes" in raw:
        changes = raw["changes"]
        out["changes"] = changes if isinstance(changes, int) else len(changes or ())
        if isinstance(changes, Mapping) and downgrades(raw):
            out["downgrades"] = len(downgrades(raw))
    if isinstance(raw.get("duration"), (int, float)):
        out["duration"] = raw["duration"]
    for key in ("comment", "message"):
        if raw.get(key):
            out[key] = _clean(raw[key])
    if isinstance(raw.get("nodes"), (list, tuple)):
        out["nodes"] = [n for n in raw["nodes"] if isinstance(n, (int, str))]
    if isinstance(raw.get("summary"), Mapping):
        out["summary"] = {str(k): v for k, v in raw["summary"].items() if isinstance(v, int)}
    if jid is not None:
        out["jid"] = str(jid)
    return out


# -- mosmu.nodes preview --------------------------------------------------------------------

NODE_COLUMNS = ("id", "fqdn", "ip", "roles", "status", "online", "version", "transport",
                "minion")
NODE_CELL = {"id": 12, "ip": 39, "status": 16, "version": 12, "transport": 10}   # else 48


def nodes_table(result):
    """``mosmu.nodes``' result as a compact text table per environment, then skipped nodes.

    Every cell and reason is shown terminal-safe (:func:`mosmu_text.safe`); reasons whole.

    :param result: ``{"selected": [...], "skipped": [...]}`` as the runner returns it
        (selected nodes carry ``cluster``, ``mos_version``, ``minion``)
    :return: a multi-line string
    """
    def cell(node, col):
        value = node.get("mos_version" if col == "version" else col)
        if col == "roles":
            return _safe(_roles(value), 40)
        if col == "online":
            return "yes" if value else "no"
        return _safe(value, NODE_CELL.get(col, 48))

    lines = []
    by_env = {}
    for node in result.get("selected") or []:
        if isinstance(node, Mapping):
            by_env.setdefault(node.get("cluster"), []).append(node)
    for env in sorted(by_env, key=str):
        rows = [[cell(n, c) for c in NODE_COLUMNS]
                for n in sorted(by_env[env], key=lambda n: _order(n.get("id")))]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(NODE_COLUMNS)]
        lines.append(f"environment {_safe(str(env), 40)}: {len(rows)} selected")
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(NODE_COLUMNS, widths)).rstrip())
        lines.extend("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()
                     for r in rows)
    skipped = result.get("skipped") or []
    if skipped:
        lines.append(f"skipped: {len(skipped)}")
        rows = [[_safe(s.get("id", "-"), 12), _safe(s.get("ip") or "-", 39),
                 _safe(s.get("env"), 10), s.get("reason", "")]
                if isinstance(s, Mapping) else ["-", "-", "-", s] for s in skipped]
        widths = [max(len(h), *(len(r[i]) for r in rows))
                  for i, h in enumerate(("id", "ip", "env"))]
        lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(("id", "ip", "env"), widths))
                     + "  reason")
        for row in rows:         # the reason whole, wrapped under itself
            first = "  " + "  ".join(v.ljust(w) for v, w in zip(row[:3], widths)) + "  "
            lines += mosmu_text.wrap(row[3], WIDTH, indent=" " * min(len(first), 40),
                                     first=first)
    if not lines:
        lines.append("no nodes")
    return "\n".join(lines)


def is_nodes(data):
    """Whether ``data`` is a ``mosmu.nodes`` preview (``selected`` and ``skipped`` lists)."""
    return isinstance(data, Mapping) and isinstance(data.get("selected"), list) \
        and isinstance(data.get("skipped"), list) and not entries_of(data)
