"""The runner's report and progress as text an operator reads: tables and one-line events.

:func:`table` renders a ``mosmu.update`` / ``mosmu.status`` report (:func:`is_report`),
:func:`nodes_table` a ``mosmu.nodes`` preview (:func:`is_nodes`), :func:`progress_line` one
progress event; the ``mosmu`` outputter and ``mos_apply_mu`` call them. Every value from a
node, Nailgun or a tool goes through ``mosmu_text.safe`` (escaped, cut only between
escapes); the data stays untouched. Standard library only (with ``mosmu_report`` and
``mosmu_text``), so the outputter can load it on its own.
"""

from collections.abc import Mapping

import mosmu_report
import mosmu_text

WIDTH = 118


def summary_line(counts, code=None, failed_envs=()):
    """``3 OK, 1 FAIL, 2 SKIPPED — retcode 2``; ``3 OK; env 1 FAIL — retcode 2`` when an
    environment's step failed although its nodes are OK.

    :param counts: ``{result: count}`` as :func:`mosmu_report.summary` returns it
    :param code: the retcode to show, or None to leave it out
    :param failed_envs: ids of the environments whose result is FAIL (``report["envs"]``)
    :return: one line
    """
    text = ", ".join(f"{n} {r}" for r, n in counts.items()) or "no nodes"
    if failed_envs:
        text += "; " + ", ".join(f"env {_safe(str(e), 20)} FAIL" for e in failed_envs)
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
    down = len(mosmu_report.downgrades(item))
    return [*cells, str(count) if count or item["result"] in ("OK", "PARTIAL", "FAIL") else "-",
            str(down) if down else "-", _seconds_text(item.get("duration")),
            "yes" if item.get("reboot_required") else "-"]


def _downgrade_lines(items, test):
    """One wrapped line per node with downgrades: which packages, from what to what."""
    lines = []
    for item in items:
        down = mosmu_report.downgrades(item)
        if down:
            text = ", ".join(f"{name} {c.get('old')} -> {c.get('new')}"
                             for name, c in sorted(down.items(), key=lambda i: str(i[0])))
            lines += mosmu_text.wrap(f"node-{item.get('id')} {item.get('ip')} "
                                     f"{'would downgrade' if test else 'downgraded'}: {text}",
                                     WIDTH, indent="      ", first="  ")
    return lines


def _finish_lines(items, test):
    """One wrapped line per node with restarts, holds or local changes."""
    lines = []
    for item in items:
        finish = item.get("finish")
        notes = mosmu_report.finish_notes(finish, test) if isinstance(finish, Mapping) else []
        if notes:
            lines += mosmu_text.wrap(f"node-{item.get('id')} {item.get('ip')}: "
                                     + "; ".join(notes), WIDTH, indent="      ", first="  ")
    return lines


def _env_lines(envs):
    """The environments' steps (health checks, Ceph, Pacemaker restarts; ``report["envs"]``),
    one line each plus every problem whole."""
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
    items = mosmu_report.entries_of(report)
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
        lines += ["environment steps (health checks, Ceph, Pacemaker):", *env_lines]
    notes = _notes([e for _env, group in groups for e in group])
    if notes:
        lines += ["not OK:", *notes]
    code = report.get("retcode", mosmu_report.retcode(items))
    envs = report.get("envs") if isinstance(report.get("envs"), Mapping) else {}
    failed_envs = sorted((env for env, data in envs.items()
                          if isinstance(data, Mapping) and data.get("result") == "FAIL"),
                         key=_order)
    lines.append(_prose(summary_line(mosmu_report.summary(items), code, failed_envs), WIDTH))
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

    :param event: a progress payload as :func:`mosmu_events.event_data` builds it, by ``kind``:
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
        and isinstance(data.get("skipped"), list) and not mosmu_report.entries_of(data)
