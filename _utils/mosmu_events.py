"""Event bus tags and payloads of a ``mosmu.update`` run, for reactors and progress.

:func:`event_tags` names the ``mosmu/update/<env>/...`` tags; :func:`event_data` keeps only
what is meant for the bus from an entry or a dict of event fields (no fqdn, minion, records,
package names or pillar; comments on one line with URL credentials masked). Pure functions,
no Salt: the runner fires them.
"""

import re
from collections.abc import Mapping

import mosmu_report

_USERINFO_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_TAG_PART_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _tag_part(value, name):
    text = str(value)
    if isinstance(value, bool) or not _TAG_PART_RE.fullmatch(text):
        raise ValueError(f"{name}={value!r} cannot be part of an event tag")
    return text


def event_tags(env, node_id=None, result=None):
    """Event bus tags of a ``mosmu.update`` run, for reactors and ``salt-run state.event``.

    :param env: environment id
    :param node_id: a node id, for the per-node tag
    :param result: that node's result (one of :data:`mosmu_report.RESULTS`)
    :return: ``{"start": "mosmu/update/<env>/start", "node":
        "mosmu/update/<env>/node/<id>/<result>" (None without node_id and result),
        "done": "mosmu/update/<env>/done"}``
    :raises ValueError: for an id or result that would break the tag
    """
    base = f"mosmu/update/{_tag_part(env, 'env')}"
    node = None
    if node_id is not None or result is not None:
        if result not in mosmu_report.RESULTS:
            raise ValueError(f"result={result!r} is not one of {', '.join(mosmu_report.RESULTS)}")
        node = f"{base}/node/{_tag_part(node_id, 'node_id')}/{result}"
    return {"start": f"{base}/start", "node": node, "done": f"{base}/done"}


def _clean(text):
    return _USERINFO_RE.sub(r"\1***@", mosmu_report.one_line(text, 500))


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
        if isinstance(changes, Mapping) and mosmu_report.downgrades(raw):
            out["downgrades"] = len(mosmu_report.downgrades(raw))
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

