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

import mosmu_report

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT_DIR = os.path.join(REPO, "_output")
UTILS_DIR = os.path.join(REPO, "_utils")
HELPERS = ("mosmu_text.py", "mosmu_report.py")

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
    assert outputter.output(report) == mosmu_report.table(report)
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
        mosmu_report.table(report)
    error = salt.output.out_format({"error": "boom", "retcode": 2}, "mosmu", _opts(tmp_path))
    assert error == "error: boom"
    other = salt.output.out_format({"a": {"b": 1}}, "mosmu", _opts(tmp_path))
    assert other.splitlines()[0].strip() == "a:" and "b:" in other


def test_out_json_wins_and_prints_one_document(tmp_path):
    report = _report(outputter="mosmu")
    text = salt.output.out_format(report, "mosmu", _opts(tmp_path, output="json"))
    assert json.loads(text) == report


def test_file_roots_layout_loads_the_synced_helpers(tmp_path, monkeypatch):
    """As after ``salt-run saltutil.sync_all``: extmods/output/mosmu.py and
    extmods/utils/mosmu_report.py + mosmu_text.py; Salt does not put utils dirs on sys.path
    for outputters, so the outputter loads both by path (report imports text)."""
    ext = tmp_path / "extmods"
    (ext / "output").mkdir(parents=True)
    (ext / "utils").mkdir()
    shutil.copy(os.path.join(OUTPUT_DIR, "mosmu.py"), ext / "output" / "mosmu.py")
    for name in HELPERS:
        shutil.copy(os.path.join(UTILS_DIR, name), ext / "utils" / name)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p) != UTILS_DIR])
    monkeypatch.delitem(sys.modules, "mosmu_report")
    monkeypatch.delitem(sys.modules, "mosmu_text")
    report = _report(comment="\x1b]0;owned\x07")
    text = salt.output.out_format(report, "mosmu", _opts(tmp_path, outputter_dirs=[]))
    assert "1 OK, 1 FAIL — retcode 2" in text and "\\x1b]0;owned\\x07" in text
    for name in HELPERS:
        module = sys.modules[name[:-3]]
        assert module.__file__ == str(ext / "utils" / name)


@pytest.mark.parametrize("present", [(), ("mosmu_report.py",), ("mosmu_text.py",)])
def test_a_utils_dir_without_both_helpers_is_not_used(tmp_path, monkeypatch, present):
    """Half a sync (one helper of the two) is not loaded: the outputter is not available and
    salt-run falls back to nested, instead of failing on the import inside mosmu_report."""
    ext = tmp_path / "extmods"
    (ext / "output").mkdir(parents=True)
    (ext / "utils").mkdir()
    shutil.copy(os.path.join(OUTPUT_DIR, "mosmu.py"), ext / "output" / "mosmu.py")
    for name in present:
        shutil.copy(os.path.join(UTILS_DIR, name), ext / "utils" / name)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p) != UTILS_DIR])
    monkeypatch.delitem(sys.modules, "mosmu_report")
    monkeypatch.delitem(sys.modules, "mosmu_text")
    spec = importlib.util.spec_from_file_location("mosmu_output_half",
                                                  ext / "output" / "mosmu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._load_report(_opts(tmp_path)) == (None, None)
    assert "mosmu_report" not in sys.modules and "mosmu_text" not in sys.modules


def test_missing_helper_falls_back_to_nested(tmp_path, monkeypatch, caplog):
    ext = tmp_path / "extmods"
    (ext / "output").mkdir(parents=True)
    shutil.copy(os.path.join(OUTPUT_DIR, "mosmu.py"), ext / "output" / "mosmu.py")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p) != UTILS_DIR])
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
    assert capsys.readouterr().out.rstrip("\n") == mosmu_report.table(report)


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
    assert mosmu_report.is_nodes(preview) and not mosmu_report.is_report(preview)
    text = mosmu_report.nodes_table(preview)
    assert "environment 1: 1 selected" in text and "node-1.d" in text
    assert "unassigned (in no environment)" in text
