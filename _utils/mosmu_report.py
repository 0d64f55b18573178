"""The runner's report entries: one per node, built from what the node returned, and the
counts, failures and retcode of a set of entries.

Pure functions, no Salt: the runner builds entries from minion returns with
:func:`state_entry` / :func:`status_from_record` (and :func:`run_entry` for nodes run over
ssh). Rendering them for a terminal is ``mosmu_render``; bus events are ``mosmu_events``.
Standard library only, so the outputter can load it on its own.
"""

import datetime
import re
from collections.abc import Mapping

UPDATE_RESULTS = ("OK", "PARTIAL", "FAIL", "TIMEOUT", "UNREACHABLE", "NO_MINION", "SKIPPED")
STATUS_RESULTS = ("STARTED", "NONE", "UNKNOWN")
RESULTS = UPDATE_RESULTS + STATUS_RESULTS
# Results that count as failed nodes (retcode, max_failures). PARTIAL (an offered package did
# not reach its MU version) is one, unless the operator accepted it (``accept_partial=True``).
FAILED = ("FAIL", "PARTIAL", "TIMEOUT", "UNREACHABLE")
STATE_PREFIX = "mosmu_|-"

_SYNC_HINT = " (run salt '*' saltutil.sync_all)"
_KERNEL_RE = re.compile(r"(linux-(signed-)?image-.*|kernel(-core|-default|-PAE|-xen)?)")


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
        fields["comment"] = f"unrecognised last status line {one_line(data.get('line'), 60)!r}"
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


# -- what an entry says, as plain text -------------------------------------------------------

def one_line(text, width):
    """One line of at most ``width`` characters, for data (entry comments, event payloads),
    not for a terminal: rendering escapes it with ``mosmu_text.safe``."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def downgrades(item):
    """``{package: change}`` of an entry's changes that move a package down (flagged
    ``downgrade`` by the node run: apt said so)."""
    changes = item.get("changes")
    if not isinstance(changes, Mapping):
        return {}
    return {name: change for name, change in changes.items()
            if isinstance(change, Mapping) and change.get("downgrade") is True}


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
