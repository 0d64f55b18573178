"""The mosmu outputter: called directly, through Salt's outputter loader, and as salt-run
picks it (``print_async_event``): the report's ``outputter`` key selects the table, ``--out``
wins over it."""

import importlib.util
import json
import logging
import os
import shutil
import sys

import pytest
import salt.client.mixins
import salt.config
import salt.output

import mosmu_render
import mosmu_report

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT_DIR = os.path.join(REPO, "_output")
UTILS_DIR = os.path.join(REPO, "_utils")
HELPERS = ("mosmu_text.py", "mosmu_report.py", "mosmu_render.py")

NODE = {"id": 3, "ip": "10.20.0.3", "cluster": 11, "roles": ["compute"], "minion": "node-3"}


def _report(comment="apt failed", **extra):
    entries = [mosmu_report.entry(NODE, "FAIL", comment=comment, changes={"a": {}}),
               mosmu_report.entry(dict(NODE, id=4, ip="10.20.0.4"), "OK", duration=2.0)]
    report = {e["ip"]: e for e in entries}
    report.update(skipped=[], summary=mosmu_report.summary(entries), retcode=2, **extra)
    return report


@pytest.fixture(name="outputter")
def fixture_outputter():
    spec = importlib.util.spec_from_file_location("mosmu_output_under_test",
                                                  os.path.join(OUTPUT_DIR, "mosmu.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _opts(tmp_path, **extra):
    """salt-run's opts: ``salt.config.master_config`` of a config file under tmp_path, so every
    default is there as each Salt release sets it (3006/3007's loader finds no outputter at all
    without e.g. ``optimization_order``, which only 3008's loader fills in). ``id`` is given so
    that no host name is resolved."""
    conf = tmp_path / "master"
    if not conf.exists():
        conf.write_text(f"root_dir: {tmp_path}\nid: mosmu-test\n", encoding="utf-8")
    opts = salt.config.master_config(str(conf))
    opts.update({"extension_modules": str(tmp_path / "extmods"), "outputter_dirs": [OUTPUT_DIR],
                 "color": False, "nested_indent": 0})
    opts.update(extra)
    return opts


def test_direct_report_is_the_table(outputter):
    report = _report(outputter="mosmu")
    assert outputter.output(report) == mosmu_render.table(report)
    assert "1 OK, 1 FAIL — retcode 2" in outputter.output(report)


def test_direct_error_is_one_line(outputter):
    text = outputter.output({"error": "give env=N or all_envs=True,\n not both", "retcode": 2})
    assert text == "error: give env=N or all_envs=True, not both"


def test_direct_progress_event(outputter):
    event = {"kind": "wave", "env": 11, "wave": 1, "waves": 2, "nodes": [3], "outputter": "mosmu"}
    assert outputter.output({"suffix": "progress", "event": event}) == \
        "env 11 wave 1/2: starting 1 node(s): node-3"


def test_direct_other_data_goes_to_nested(outputter, tmp_path, monkeypatch):
    monkeypatch.setattr(outputter, "__opts__", _opts(tmp_path, output="mosmu"), raising=False)
    text = outputter.output({"hosts": [], "other": [{"id": 1}]})
    assert "hosts:" in text and "other:" in text and "retcode" not in text


def test_through_salt_loader(tmp_path):
    report = _report()
    assert salt.output.out_format(report, "mosmu", _opts(tmp_path)) == \
        mosmu_render.table(report)
    error = salt.output.out_format({"error": "boom", "retcode": 2}, "mosmu", _opts(tmp_path))
    assert error == "error: boom"
    other = salt.output.out_format({"a": {"b": 1}}, "mosmu", _opts(tmp_path))
    assert other.splitlines()[0].strip() == "a:" and "b:" in other


def test_out_json_wins_and_prints_one_document(tmp_path):
    report = _report(outputter="mosmu")
    text = salt.output.out_format(report, "mosmu", _opts(tmp_path, output="json"))
    assert json.loads(text) == report


def _synced(tmp_path, monkeypatch, helpers):
    """A master's extension modules after a sync: the outputter in ``extmods/output`` and
    ``helpers`` in ``extmods/utils``; the source tree's helpers out of reach."""
    ext = tmp_path / "extmods"
    (ext / "output").mkdir(parents=True)
    (ext / "utils").mkdir()
    shutil.copy(os.path.join(OUTPUT_DIR, "mosmu.py"), ext / "output" / "mosmu.py")
    for name in helpers:
        shutil.copy(os.path.join(UTILS_DIR, name), ext / "utils" / name)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p) != UTILS_DIR])
    for name in HELPERS:
        monkeypatch.delitem(sys.modules, name[:-3])
    return ext


def test_file_roots_layout_loads_the_synced_helpers(tmp_path, monkeypatch):
    """As after ``salt-run saltutil.sync_all``: extmods/output/mosmu.py and
    extmods/utils/mosmu_render.py + mosmu_report.py + mosmu_text.py; Salt does not put utils
    dirs on sys.path for outputters, so the outputter loads all three by path (render imports
    report and text)."""
    ext = _synced(tmp_path, monkeypatch, HELPERS)
    report = _report(comment="\x1b]0;owned\x07")
    text = salt.output.out_format(report, "mosmu", _opts(tmp_path, outputter_dirs=[]))
    assert "1 OK, 1 FAIL — retcode 2" in text and "\\x1b]0;owned\\x07" in text
    for name in HELPERS:
        module = sys.modules[name[:-3]]
        assert module.__file__ == str(ext / "utils" / name)


@pytest.mark.parametrize("present", [(), ("mosmu_report.py",), ("mosmu_text.py",),
                                     ("mosmu_render.py",), ("mosmu_render.py", "mosmu_text.py")])
def test_a_utils_dir_without_all_helpers_is_not_used(tmp_path, monkeypatch, present):
    """Half a sync (some of the three helpers) is not loaded: the outputter is not available
    and salt-run falls back to nested, instead of failing on an import inside mosmu_render."""
    ext = _synced(tmp_path, monkeypatch, present)
    spec = importlib.util.spec_from_file_location("mosmu_output_half",
                                                  ext / "output" / "mosmu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._load_helpers(_opts(tmp_path)) == (None, None)
    assert not {name[:-3] for name in HELPERS} & set(sys.modules)


def test_missing_helper_falls_back_to_nested(tmp_path, monkeypatch, caplog):
    ext = tmp_path / "extmods"
    (ext / "output").mkdir(parents=True)
    shutil.copy(os.path.join(OUTPUT_DIR, "mosmu.py"), ext / "output" / "mosmu.py")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p) != UTILS_DIR])
    monkeypatch.delitem(sys.modules, "mosmu_render")
    monkeypatch.delitem(sys.modules, "mosmu_report")
    with caplog.at_level(logging.ERROR):
        text = salt.output.out_format({"error": "boom", "retcode": 2}, "mosmu",
                                      _opts(tmp_path, outputter_dirs=[]))
    assert "error:" in text and "boom" in text and "retcode:" in text      # nested, not ours
    assert "Invalid outputter mosmu" in caplog.text


class _Client(salt.client.mixins.AsyncClientMixin):
    """Just enough of salt-run's RunnerClient to call the real ``print_async_event``."""

    def __init__(self, opts):  # pylint: disable=super-init-not-called
        self.opts = opts


def test_salt_run_picks_the_outputter_from_the_report(tmp_path, capsys):
    report = _report(outputter="mosmu")
    _Client(_opts(tmp_path)).print_async_event("ret", {"return": report, "fun": "runner.x"})
    assert capsys.readouterr().out.rstrip("\n") == mosmu_render.table(report)


def test_salt_run_out_json_prints_the_report_as_json(tmp_path, capsys):
    report = _report(outputter="mosmu")
    _Client(_opts(tmp_path, output="json")).print_async_event("ret", {"return": report})
    assert json.loads(capsys.readouterr().out) == report


def test_salt_run_progress_event_with_outputter_key(tmp_path, capsys):
    event = {"kind": "node", "env": 11, "id": 3, "ip": "10.20.0.3", "result": "OK",
             "changes": 2, "outputter": "mosmu"}
    _Client(_opts(tmp_path)).print_async_event("progress", event)
    assert capsys.readouterr().out == "env 11 node-3 10.20.0.3: OK, 2 package(s)\n"
    _Client(_opts(tmp_path)).print_async_event("progress", {"message": "plain"})
    assert "suffix:" in capsys.readouterr().out          # without the key: nested, verbose


def test_nodes_preview_renders_as_tables_per_environment():
    preview = {"selected": [{"id": 1, "ip": "10.20.0.3", "fqdn": "node-1.d", "cluster": 1,
                             "roles": ["controller"], "status": "ready", "online": True,
                             "mos_version": "8.0", "minion": "node-1.d"}],
               "skipped": [{"id": 9, "ip": "10.20.0.11", "env": None,
                            "reason": "unassigned (in no environment)"}], "retcode": 0}
    assert mosmu_render.is_nodes(preview) and not mosmu_render.is_report(preview)
    text = mosmu_render.nodes_table(preview)
    assert "environment 1: 1 selected" in text and "node-1.d" in text
    assert "unassigned (in no environment)" in text


# -- terminal safety: what the outputter prints besides the table ----------------------------

FORBIDDEN = frozenset([*range(0x0A), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0),
                       *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C,
                       0x2028, 0x2029, *range(0xD800, 0xE000)])
HOSTILE = [   # (name, raw, what is shown)
    ("OSC title + BEL", "\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    ("clear screen", "\x1b[2J", "\\x1b[2J"),
    ("C1 CSI", "\x9b2J", "\\x9b2J"),
    ("bidi RLO", "\u202eexe.txt", "\\u202eexe.txt"),
    ("NUL and backspace", "a\x00\x08b", "a\\x00\\x08b"),
    ("carriage return", "5%\r99%", "5%\\r99%"),
    ("line separator", "a\u2028b", "a\\u2028b"),
    ("lone surrogate", "x\udc9b", "x\\udc9b"),
]


def _forbidden(text):
    return [hex(ord(c)) for c in text if ord(c) in FORBIDDEN]


def _hostile_report(raw):
    node = dict(NODE, fqdn=raw, roles=[raw])
    entries = [mosmu_report.entry(node, "FAIL", comment=f"E: {raw} " + "y" * 200,
                                  line=raw, finished=raw)]
    report = {e["ip"]: e for e in entries}
    report.update(skipped=[{"id": 9, "ip": raw, "reason": raw}], interrupted=raw,
                  summary=mosmu_report.summary(entries), retcode=2,
                  mirror={raw: {"state": raw, "files": 1}})
    return report


def _finish_report(raw):
    node = dict(NODE, fqdn="node-1")
    finish = {"restarts": [{"service": raw, "package": raw, "old_pid": 1, "new_pid": 2,
                            "ok": False, "detail": raw}],
              "pacemaker": {raw: raw}, "held": [raw],
              "local_changes": [{"path": raw, "config": True, "flags": raw}],
              "local_changes_error": raw}
    entries = [mosmu_report.entry(node, "OK", finish=finish)]
    report = {e["ip"]: e for e in entries}
    report.update(summary=mosmu_report.summary(entries), retcode=0)
    return report


OUTPUT_PATHS = {    # name: data given to the outputter for a hostile value
    "report": _hostile_report,
    "error line": lambda v: {"error": f"mosmu:fuel_url {v} does not answer", "retcode": 2},
    "progress event": lambda v: {"suffix": "progress", "event": {
        "kind": "node", "env": 11, "id": 3, "ip": v, "result": "FAIL", "comment": v,
        "outputter": "mosmu"}},
    "progress message": lambda v: {"suffix": "progress", "event": {"message": v}},
    "nodes preview": lambda v: {"selected": [{"id": 1, "ip": v, "fqdn": v, "cluster": 1,
                                              "roles": [v], "status": v, "online": True,
                                              "mos_version": v, "minion": v}],
                                "skipped": [{"id": 2, "ip": v, "env": 1, "reason": v}]},
    "nested fallback": lambda v: {"snapshots": {v: [v, {"note": v}]}, "count": 1},
    "nested string": lambda v: v,
    "finish: restarts, holds, local changes": lambda v: _finish_report(v),
    "env checks and Pacemaker": lambda v: dict(_finish_report("ok"), envs={v: {
        "result": "FAIL", "steps": [{"name": v, "result": v, "summary": v,
                                     "problems": [f"pacemaker on node-1 ({v}): {v}"]}]}}),
    "progress of an env step": lambda v: {"suffix": "progress", "event": {
        "message": f"env 1 health checks before the update: FAILED: nova on {v}: {v}"}},
    "lookup_jid job": lambda v: {"mosmu-test_master": {
        "fun": "runner.mosmu.update", "jid": "1", "return": _hostile_report(v)}},
}


@pytest.mark.parametrize("path", OUTPUT_PATHS)
@pytest.mark.parametrize("name, raw, shown", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_no_output_path_prints_foreign_text_raw(tmp_path, path, name, raw, shown):
    data = OUTPUT_PATHS[path](raw)
    before = repr(data)
    text = salt.output.out_format(data, "mosmu", _opts(tmp_path))
    assert not _forbidden(text), (path, name)
    assert shown in text, (path, name, text[:400])
    assert repr(data) == before                        # the data itself is never changed


@pytest.mark.parametrize("path", OUTPUT_PATHS)
def test_out_json_keeps_foreign_text_exact(tmp_path, path):
    raw = "\x1b]0;title\x07\x1b[2J\u202e\x9b"
    data = OUTPUT_PATHS[path](raw)
    text = salt.output.out_format(data, "mosmu", _opts(tmp_path, output="json"))
    assert json.loads(text) == data


def test_the_error_line_is_whole_and_one_line(outputter):
    message = "mosmu:password is not set: \x1b[2J\n" + "give it in master.d/mosmu.conf " * 8
    text = outputter.output({"error": message, "retcode": 2})
    assert text.startswith("error: mosmu:password is not set: \\x1b[2J give it")
    assert "\n" not in text and text.endswith("master.d/mosmu.conf")


# -- reports with keys the table does not list -------------------------------------------------

def test_a_dry_run_report_prints_as_the_table(tmp_path, capsys):
    """Regression (issue 16.2): the dry run's report (top-level ``test: True``) printed ~110
    lines of Salt's nested YAML: ``is_report`` accepted only a closed list of keys."""
    report = _report(outputter="mosmu", test=True)
    _Client(_opts(tmp_path)).print_async_event("ret", {"return": report})
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("test mode: nothing was changed")
    assert "environment 11: 2 node(s)" in out and "retcode:" not in out


def test_an_interrupted_report_prints_as_the_table(tmp_path, capsys):
    """Regression (issue 16.2): the partial report after Ctrl-C (top-level ``interrupted``)
    printed as Salt's nested YAML instead of the table."""
    report = _report(outputter="mosmu", interrupted="SIGINT")
    _Client(_opts(tmp_path)).print_async_event("ret", {"return": report})
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("interrupted (SIGINT): ")
    assert "1 OK, 1 FAIL — retcode 2" in out and "interrupted:" not in out


@pytest.mark.parametrize("extra", [{"test": True}, {"interrupted": "SIGTERM"},
                                   {"accepted": ["nova-common"]}, {"run_id": "abc"},
                                   {"plans": {"11": {"mos_version": "8.0"}}},
                                   {"test": True, "interrupted": "SIGINT", "later": 1}])
def test_a_report_with_any_other_top_level_key_is_the_table(outputter, extra):
    report = _report(**extra)
    text = outputter.output(report)
    assert text == mosmu_render.table(report) and "1 OK, 1 FAIL — retcode 2" in text
    for key in set(extra) - {"test", "interrupted"}:
        assert key not in text


def _looked_up(tmp_path, report):
    """What ``salt-run jobs.lookup_jid <jid>`` returns for a runner job: the job stored as
    Salt's RunnerClient stores it (``salt.utils.job.store_job`` with the runner's whole event
    data as ``return``), then read back by the real ``jobs.lookup_jid`` runner."""
    import salt.runner  # pylint: disable=import-outside-toplevel
    import salt.utils.jid  # pylint: disable=import-outside-toplevel
    import salt.utils.job  # pylint: disable=import-outside-toplevel

    opts = _opts(tmp_path)
    os.makedirs(os.path.join(opts["cachedir"], "proc"), exist_ok=True)
    jid = salt.utils.jid.gen_jid(opts)
    data = {"fun": "runner.mosmu.update", "jid": jid, "user": "root", "fun_args": ["env=11"],
            "_stamp": "2026-01-01T00:00:00.000000", "return": report, "success": False}
    salt.utils.job.store_job(opts, {"id": opts["id"], "tgt": opts["id"], "jid": jid,
                                    "return": data})
    client = salt.runner.RunnerClient(opts)
    try:
        return client.cmd("jobs.lookup_jid", [jid], print_event=False)
    finally:
        if hasattr(client, "destroy"):
            client.destroy()


def test_lookup_jid_of_an_update_prints_the_table(tmp_path, capsys):
    """Regression (issue 16.2): ``salt-run jobs.lookup_jid <jid> --out=mosmu`` printed nested
    YAML: the looked-up runner job is ``{master_id: {"fun", "jid", ..., "return": report}}``,
    not the report. The shape here is the one Salt's own job cache and runner give."""
    report = _report(outputter="mosmu", test=True)
    looked_up = _looked_up(tmp_path, report)
    assert set(looked_up) == {"mosmu-test"} and looked_up["mosmu-test"]["return"] == report
    _Client(_opts(tmp_path, output="mosmu")).print_async_event("ret", {"return": looked_up})
    assert capsys.readouterr().out.rstrip("\n") == mosmu_render.table(report)
    text = salt.output.out_format(looked_up, "mosmu", _opts(tmp_path, output="json"))
    assert json.loads(text) == looked_up


@pytest.mark.parametrize("job, rendered", [
    ({"fun": "runner.mosmu.nodes", "return": {"selected": [], "skipped": []}}, "no nodes"),
    ({"fun": "runner.mosmu.update", "return": {"error": "boom", "retcode": 2}}, "error: boom"),
])
def test_lookup_jid_renders_any_mosmu_return(outputter, job, rendered):
    assert outputter.output({"master_master": job}) == rendered
    assert outputter.output({"outputter": "mosmu", "data": {"master_master": job}}) == rendered


def test_lookup_jid_of_a_minion_job_is_not_taken_for_a_runner_job(outputter, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(outputter, "__opts__", _opts(tmp_path, output="mosmu"), raising=False)
    text = outputter.output({"node-1": {"fun": "test.ping", "return": True}})
    assert "node-1:" in text and "test.ping" in text
