"""Report entries from real-shaped Salt returns, summary, retcode, the text table, events."""

import pytest

import mosmu_events
import mosmu_render
import mosmu_report
import mosmu_text

NODE = {"id": 3, "ip": "10.20.0.3", "cluster": 11, "roles": ["compute"], "fqdn": "node-3.local",
        "minion": "node-3"}
KEY = "mosmu_|-mosmu-init-mosmu-updated_|-mos-8.0_|-updated"


def _state(result=True, changes=None, comment="upgraded 1 package(s)", duration=1500.0):
    return {"name": "mos-8.0", "result": result, "changes": changes or {}, "comment": comment,
            "duration": duration, "__run_num__": 0, "__id__": "mosmu-init-mosmu-updated"}


def _ret(states, retcode=0):
    return {"ret": states, "retcode": retcode, "jid": "20250101000000000000"}


def test_entry_shape_and_defaults():
    got = mosmu_report.entry(NODE, "OK", comment="fine")
    assert got == {"id": 3, "ip": "10.20.0.3", "fqdn": "node-3.local", "env": 11,
                   "roles": ["compute"], "minion": "node-3", "transport": None, "result": "OK",
                   "changes": {}, "comment": "fine", "duration": None, "reboot_required": False}
    with pytest.raises(ValueError, match="result='DONE'"):
        mosmu_report.entry(NODE, "DONE")


def test_ok_with_changes_and_reboot():
    changes = {"nova-compute": {"old": "1", "new": "2"},
               "linux-image-3.13.0-100-generic": {"old": "", "new": "3.13.0-100.147"}}
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state(changes=changes)}))
    assert got["result"] == "OK" and got["changes"] == changes
    assert got["reboot_required"] is True and got["duration"] == 1.5
    assert "test" not in got


def test_runner_measured_duration_wins():
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state()}), duration=42.04)
    assert got["duration"] == 42.0


def test_no_reboot_for_ordinary_packages():
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state(changes={
        "linux-firmware": {"old": "1", "new": "2"}, "kernel-headers": {"old": "1", "new": "2"}})}))
    assert got["reboot_required"] is False
    assert mosmu_report.reboot_required({"kernel": {"old": "1", "new": "2"}}) is True


def test_test_mode_result_none_is_ok():
    got = mosmu_report.state_entry(
        NODE, _ret({KEY: _state(result=None, changes={"a": {"old": "1", "new": "2"}},
                                comment="would upgrade 1 package(s): a 1 -> 2")}), test=True)
    assert got["result"] == "OK" and got["test"] is True and len(got["changes"]) == 1


def test_no_return_is_timeout_with_hint():
    got = mosmu_report.state_entry(NODE, None)
    assert got["result"] == "TIMEOUT"
    assert "salt-run mosmu.status" in got["comment"]
    assert "salt node-3 mosmu.status" in got["comment"]


@pytest.mark.parametrize("ret", [
    {"ret": "Minion did not return. [No response]", "retcode": 254},
    {"failed": True},
])
def test_minion_did_not_return_forms(ret):
    assert mosmu_report.state_entry(NODE, ret)["result"] == "TIMEOUT"


def test_render_error_list_gets_sync_hint():
    ret = {"ret": ["Rendering SLS 'base:mosmu' failed: State 'mosmu.updated' was not found "
                   "in SLS 'mosmu'"], "retcode": 1}
    got = mosmu_report.state_entry(NODE, ret)
    assert got["result"] == "FAIL"
    assert got["comment"].startswith("state did not run: Rendering SLS")
    assert got["comment"].endswith("(run salt '*' saltutil.sync_all)")


def test_missing_formula_gets_its_own_hint():
    got = mosmu_report.state_entry(NODE, {"ret": ["No matching sls found for 'mosmu' in env "
                                                  "'base'"], "retcode": 1})
    assert got["result"] == "FAIL" and "file_roots" in got["comment"]
    assert "sync_all" not in got["comment"]


def test_failed_state_of_ours():
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state(
        result=False, comment="apt-get upgrade failed: E: broken; status UPDATE=FAIL",
        changes={"a": {"old": "1", "new": "2"}})}, retcode=2))
    assert got["result"] == "FAIL" and got["changes"] == {"a": {"old": "1", "new": "2"}}
    assert got["comment"] == "apt-get upgrade failed: E: broken; status UPDATE=FAIL"


def test_failed_foreign_state_fails_and_is_named_but_gives_no_changes():
    other = "file_|-motd_|-/etc/motd_|-managed"
    got = mosmu_report.state_entry(NODE, _ret({
        KEY: _state(), other: _state(result=False, comment="disk full",
                                     changes={"diff": "x"})}, retcode=2))
    assert got["result"] == "FAIL"
    assert got["comment"] == "file.managed motd: disk full"
    assert "diff" not in got["changes"]


def test_foreign_states_only_is_fail():
    got = mosmu_report.state_entry(NODE, _ret({"pkg_|-x_|-x_|-installed": _state()}))
    assert got["result"] == "FAIL" and "mosmu state did not run" in got["comment"]


def test_nonzero_retcode_without_a_failed_state_is_fail():
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state()}, retcode=2))
    assert got["result"] == "FAIL" and "exited 2" in got["comment"]


def test_malformed_state_value_is_fail():
    got = mosmu_report.state_entry(NODE, _ret({KEY: "oops"}))
    assert got["result"] == "FAIL" and KEY in got["comment"]


def test_status_from_record():
    record = {"started": "2025-01-01T10:00:00+00:00", "finished": "2025-01-01T10:01:30+00:00",
              "changes": {"a": {"old": "1", "new": "2"}}, "state": "OK"}
    got = mosmu_report.status_from_record(NODE, {"ret": {"state": "OK", "line": "UPDATE=OK",
                                                         "record": record}, "retcode": 0})
    assert got["result"] == "OK" and got["line"] == "UPDATE=OK"
    assert got["duration"] == 90.0 and got["finished"] == record["finished"]
    assert got["changes"] == record["changes"] and got["record"] == record


def test_status_failed_record_names_step():
    record = {"started": "x", "state": "FAIL", "failed_step": "upgrade", "error": "E: broken"}
    got = mosmu_report.status_from_record(NODE, {"state": "FAIL", "line": "UPDATE=FAIL",
                                                 "record": record})
    assert got["result"] == "FAIL" and got["comment"] == "upgrade: E: broken"
    assert got["duration"] is None


@pytest.mark.parametrize("ret, result, text", [
    (None, "TIMEOUT", "test.ping"),
    ({"ret": "'mosmu.status' is not available.", "retcode": 254}, "FAIL", "sync_all"),
    ({"ret": {"state": "WEIRD"}, "retcode": 0}, "FAIL", "mosmu.status failed"),
    ({"ret": "Minion did not return. [Not connected]"}, "TIMEOUT", "Not connected"),
    ({"state": "NONE", "line": None, "record": None}, "NONE", "never updated"),
    ({"state": "STARTED", "line": "STARTED", "record": None}, "STARTED", "did not finish"),
    ({"state": "UNKNOWN", "line": "REPO_UPD=OK", "record": None}, "UNKNOWN", "'REPO_UPD=OK'"),
])
def test_status_edge_cases(ret, result, text):
    got = mosmu_report.status_from_record(NODE, ret)
    assert got["result"] == result and text in got["comment"]


def _report(entries, skipped=(), **extra):
    report = {e["ip"]: e for e in entries}
    report.update(skipped=list(skipped), summary=mosmu_report.summary(entries),
                  retcode=mosmu_report.retcode(entries, skipped), **extra)
    return report


def _n(node_id, env, roles=("compute",), ip=None):
    return {"id": node_id, "ip": ip or f"10.20.{env}.{node_id}", "cluster": env,
            "roles": list(roles), "minion": f"node-{node_id}"}


DOWN = {"nova-common": {"old": "1.2", "new": "1.1", "downgrade": True},
        "python-nova": {"old": "1.0", "new": "1.1"}}


@pytest.mark.parametrize("test", [False, True], ids=["run", "dry-run"])
def test_downgrades_have_their_own_column_and_lines(test):
    entry = mosmu_report.entry(_n(3, 1), "OK", changes=DOWN, duration=1.0,
                               **({"test": True} if test else {}))
    lines = mosmu_render.table(_report([entry])).splitlines()
    header = next(ln for ln in lines if ln.split()[:1] == ["ip"])
    row = next(ln for ln in lines if "node-3" in ln and "10.20.1.3" in ln.split()[0])
    assert header.split()[5:7] == ["pkgs", "down"] and row.split()[5:7] == ["2", "1"]
    verb = "would downgrade" if test else "downgraded"
    assert f"  node-3 10.20.1.3 {verb}: nova-common 1.2 -> 1.1" in lines
    assert not any("python-nova" in ln for ln in lines)


def test_downgrades_are_counted_in_progress_and_events():
    entry = mosmu_report.entry(_n(3, 1), "OK", changes=DOWN)
    event = mosmu_events.event_data(entry, kind="node")
    assert (event["changes"], event["downgrades"]) == (2, 1)
    assert "2 package(s) (1 downgraded)" in mosmu_render.progress_line(event)
    plain = mosmu_events.event_data(mosmu_report.entry(_n(3, 1), "OK", changes={
        "python-nova": DOWN["python-nova"]}), kind="node")
    assert "downgrades" not in plain and "downgraded" not in mosmu_render.progress_line(plain)


def test_a_report_that_stopped_on_an_error_shows_its_nodes_then_the_error_whole():
    entry = mosmu_report.entry(_n(3, 1), "OK", changes={})
    report = _report([entry], error="No space left on device (ENOSPC): " + "/x" * 80)
    lines = mosmu_render.table(report).splitlines()
    assert any("node-3" in ln for ln in lines)
    start = next(i for i, ln in enumerate(lines) if ln.startswith("error: No space left"))
    assert "".join(ln.strip() for ln in lines[start:]).endswith("/x" * 80)
    assert all(len(ln) <= 120 for ln in lines)


def test_summary_order_and_retcode():
    entries = [mosmu_report.entry(_n(1, 11), "SKIPPED"), mosmu_report.entry(_n(2, 11), "OK"),
               mosmu_report.entry(_n(3, 11), "FAIL"), mosmu_report.entry(_n(4, 11), "OK")]
    assert list(mosmu_report.summary(entries).items()) == [("OK", 2), ("FAIL", 1), ("SKIPPED", 1)]
    assert mosmu_report.retcode(entries) == 2
    assert mosmu_report.failures(entries) == 1
    oks = [e for e in entries if e["result"] == "OK"]
    assert mosmu_report.retcode(oks) == 0
    assert mosmu_report.retcode(oks, [{"id": 9, "failed": False}]) == 0
    assert mosmu_report.retcode(oks, [{"id": 9, "failed": True}]) == 2
    assert mosmu_report.retcode(oks, 1) == 2
    assert mosmu_report.retcode([]) == 2
    report = _report(oks)
    assert mosmu_report.summary(report) == {"OK": 2} and mosmu_report.retcode(report) == 0


def test_table_groups_by_env_and_is_narrow_and_deterministic():
    long_roles = ("controller", "mongo", "cinder", "ceph-osd", "base-os", "zabbix-server")
    entries = [
        mosmu_report.entry(_n(12, 11), "OK", changes={"a": {}, "b": {}}, duration=12.34,
                           reboot_required=True),
        mosmu_report.entry(_n(2, 11, long_roles), "FAIL", comment="apt failed: " + "x" * 300),
        mosmu_report.entry(_n(5, 3), "TIMEOUT", comment="node-5 did not return"),
        mosmu_report.entry(_n(7, 11), "SKIPPED", comment="not started: 1 node failed"),
    ]
    report = _report(entries, skipped=[{"id": 40, "ip": "10.20.0.40", "reason": "offline",
                                        "failed": False}])
    text = mosmu_render.table(report)
    lines = text.splitlines()
    assert all(len(line) < 120 for line in lines)
    assert lines[0] == "environment 3: 1 node(s)"
    env11 = lines.index("environment 11: 3 node(s)")
    rows = lines[env11 + 2:env11 + 5]
    assert [r.split()[1] for r in rows] == ["node-2", "node-7", "node-12"]
    assert rows[2].split()[2:] == ["11", "compute", "OK", "2", "-", "12.3s", "yes"]
    assert rows[1].split()[4:] == ["SKIPPED", "-", "-", "-", "-"]
    assert len({len(lines[1]), len(lines[env11 + 1])}) == 1     # one column layout for all envs
    assert "1 OK, 1 FAIL, 1 TIMEOUT, 1 SKIPPED — retcode 2" in lines
    assert lines[-1].startswith("skipped by selection: 1 node(s) (")
    assert "  node-5 10.20.3.5 TIMEOUT: node-5 did not return" in lines
    reordered = dict(reversed(list(report.items())))
    assert mosmu_render.table(reordered) == text


def test_a_failed_environment_step_is_named_in_the_summary_line_beside_ok_nodes():
    report = _report([mosmu_report.entry(_n(1, 11), "OK", changes={"a": {}})])
    report.update(retcode=2, envs={
        11: {"result": "FAIL", "steps": [{"name": "Ceph OSDs of node-1", "result": "FAILED",
                                          "summary": "flags left set", "problems": ["why"]}]},
        3: {"result": "OK", "steps": []}})
    text = mosmu_render.table(report)
    assert text.splitlines()[-1] == "1 OK; env 11 FAIL — retcode 2"
    assert "environment steps (health checks, Ceph, Pacemaker):" in text
    assert "  env 11 Ceph OSDs of node-1: FAILED (flags left set)" in text


def test_table_test_mode_and_mirror_and_status_columns():
    entries = [mosmu_report.entry(_n(1, 11), "OK", changes={"a": {}}, test=True)]
    text = mosmu_render.table(_report(entries, mirror={"mos8.0-ubuntu": {
        "state": "published", "files": 12, "suites": {}}}))
    assert text.splitlines()[0] == "mirror mos8.0-ubuntu: published (12 file(s) fetched)"
    assert "test mode" in text and text.endswith("1 OK — retcode 0")
    status = [mosmu_report.entry(_n(1, 11), "STARTED", line="STARTED", record=None)]
    text = mosmu_render.table(_report(status))
    assert "  ip" in text and "line" in text.splitlines()[1]
    assert "pkgs" not in text
    assert mosmu_render.table({"summary": {}, "retcode": 2}) == "no nodes — retcode 2"


def test_is_report():
    entries = [mosmu_report.entry(_n(1, 11), "OK")]
    assert mosmu_render.is_report(_report(entries, outputter="mosmu"))
    assert not mosmu_render.is_report({"error": "x", "retcode": 2})
    assert not mosmu_render.is_report({"selected": [], "skipped": []})
    assert mosmu_render.is_report(dict(_report(entries), extra="x"))       # a later key


@pytest.mark.parametrize("event, line", [
    ({"kind": "wave", "env": 11, "wave": 1, "waves": 3, "nodes": [1, 2]},
     "env 11 wave 1/3: starting 2 node(s): node-1, node-2"),
    ({"kind": "node", "env": 11, "id": 3, "ip": "10.0.0.3", "result": "OK", "changes": 4,
      "duration": 3.25}, "env 11 node-3 10.0.0.3: OK, 4 package(s), 3.2s"),
    ({"env": 11, "id": 3, "ip": "10.0.0.3", "result": "TIMEOUT", "comment": "no answer"},
     "env 11 node-3 10.0.0.3: TIMEOUT — no answer"),
    ({"kind": "wait", "env": 11, "seconds": 60, "wave": 2, "waves": 3},
     "waiting 60 s before wave 2/3 of env 11"),
    ({"kind": "mirror", "message": "syncing mos8.0"}, "mirror: syncing mos8.0"),
    ({"message": "selected 4 node(s)"}, "selected 4 node(s)"),
    ({"kind": "done", "env": 11, "summary": {"OK": 3, "FAIL": 1}, "retcode": 2},
     "env 11 done: 3 OK, 1 FAIL — retcode 2"),
])
def test_progress_line(event, line):
    assert mosmu_render.progress_line(event) == line


def test_progress_line_is_one_short_line():
    line = mosmu_render.progress_line({"message": "a\nb " + "y" * 300})
    assert "\n" not in line and len(line) <= mosmu_render.WIDTH


def test_event_tags():
    tags = mosmu_events.event_tags(11, 3, "FAIL")
    assert tags == {"start": "mosmu/update/11/start", "node": "mosmu/update/11/node/3/FAIL",
                    "done": "mosmu/update/11/done"}
    assert mosmu_events.event_tags(11)["node"] is None


@pytest.mark.parametrize("args", [("11/x",), (11, "3/../4", "OK"), (11, 3, "DONE"),
                                  (True,), (11, 3, None)])
def test_event_tags_reject(args):
    with pytest.raises(ValueError):
        mosmu_events.event_tags(*args)


def test_event_data_keeps_only_bus_fields():
    entry = mosmu_report.entry(NODE, "FAIL", changes={"a": {"old": "1", "new": "2"}},
                               comment="fetch http://admin:s3cret@10.20.0.2:8080/x failed\nE",
                               record={"password": "s3cret"}, duration=2.5)
    got = mosmu_events.event_data(entry, jid=20250101)
    assert got == {"id": 3, "ip": "10.20.0.3", "env": 11, "result": "FAIL", "changes": 1,
                   "duration": 2.5, "jid": "20250101",
                   "comment": "fetch http://***@10.20.0.2:8080/x failed E"}
    assert "s3cret" not in repr(got)
    wave = mosmu_events.event_data({"pillar": {"password": "p"}}, jid="1", kind="wave",
                                   env=11, wave=1, waves=2, nodes=[1, 2])
    assert wave == {"kind": "wave", "env": 11, "wave": 1, "waves": 2, "nodes": [1, 2],
                    "jid": "1"}
    assert mosmu_events.event_data(NODE)["env"] == 11


# -- terminal safety: foreign text through every rendering path ------------------------------
# Each hostile string goes into one field of a report, a progress event or a nodes preview;
# the rendered text must hold no raw control/bidi/separator character and show the escape.

FORBIDDEN = frozenset([*range(0x0A), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0),
                       *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C,
                       0x2028, 0x2029, *range(0xD800, 0xE000)])
HOSTILE = [   # (name, raw, escape of its first unsafe character, within the first 8 columns)
    ("OSC title + BEL", "\x1b]0;title\x07", "\\x1b"),
    ("clear screen", "\x1b[2J", "\\x1b[2J"),
    ("C1 CSI", "\x9b2J", "\\x9b"),
    ("bidi RLO", "\u202eexe.txt", "\\u202e"),
    ("NUL", "a\x00b", "\\x00"),
    ("backspace", "ok\x08\x08", "\\x08"),
    ("carriage return", "5%\r99%", "\\r"),
    ("line separator", "a\u2028b", "\\u2028"),
    ("lone surrogate", "x\udc9b", "\\udc9b"),
    ("newline in a cell", "a\nb", None),       # a cell shows \n, prose a space: nothing raw
    ("long", "\x1b[31m" + "A" * 3000 + "\x1b[2J" + "B" * 3000, "\\x1b[31m"),
]


def _forbidden(text):
    return [hex(ord(c)) for c in text if ord(c) in FORBIDDEN]


def _entry(result="FAIL", **fields):
    return mosmu_report.entry(_n(1, 11), result, **fields)


def _status_report(field, value):
    entry = _entry("FAIL", line="UPDATE=FAIL", finished="2025-01-01T10:00:00")
    return _report([dict(entry, **{field: value})])


PATHS = {   # name: (renders the hostile value, whether the value is shown)
    "table ip": (lambda v: mosmu_render.table(_report([_entry(ip=v)])), True),
    "table node id": (lambda v: mosmu_render.table(_report([_entry(id=v)])), True),
    "table fqdn": (lambda v: mosmu_render.table(_report([_entry(fqdn=v)])), False),
    "table env": (lambda v: mosmu_render.table(_report([_entry(env=v)])), True),
    "table roles": (lambda v: mosmu_render.table(_report([_entry(roles=[v, "compute"])])), True),
    "table result": (lambda v: mosmu_render.table(_report([dict(_entry(), result=v)])), True),
    "table duration": (lambda v: mosmu_render.table(_report([_entry(duration=v)])), True),
    "not-OK comment": (lambda v: mosmu_render.table(_report([_entry(comment=v)])), True),
    "status line": (lambda v: mosmu_render.table(_status_report("line", v)), True),
    "status finished": (lambda v: mosmu_render.table(_status_report("finished", v)), True),
    "mirror name": (lambda v: mosmu_render.table(_report([_entry()], mirror={
        v: {"state": "published", "files": 1}})), True),
    "mirror state": (lambda v: mosmu_render.table(_report([_entry()], mirror={
        "mos8.0": {"state": v, "files": 1}})), True),
    "mirror files": (lambda v: mosmu_render.table(_report([_entry()], mirror={
        "mos8.0": {"state": "published", "files": v}})), True),
    "skipped record": (lambda v: mosmu_render.table(_report([_entry()], skipped=[
        {"id": v, "ip": v, "reason": v, "failed": True}])), False),
    "interrupted": (lambda v: mosmu_render.table(_report([_entry()], interrupted=v)), True),
    "summary key": (lambda v: mosmu_render.table({"summary": {v: 1}, "retcode": 2}), False),
    "retcode": (lambda v: mosmu_render.table({"summary": {}, "retcode": v}), True),
    "progress wave": (lambda v: mosmu_render.progress_line(
        {"kind": "wave", "env": v, "wave": 1, "waves": 2, "nodes": [v]}), True),
    "progress node comment": (lambda v: mosmu_render.progress_line(
        {"kind": "node", "env": 11, "id": 3, "ip": "10.0.0.3", "result": "FAIL",
         "comment": v}), True),
    "progress node ip": (lambda v: mosmu_render.progress_line(
        {"kind": "node", "env": 11, "id": 3, "ip": v, "result": "OK"}), True),
    "progress node result": (lambda v: mosmu_render.progress_line(
        {"kind": "node", "env": 11, "id": v, "ip": "i", "result": v}), True),
    "progress wait": (lambda v: mosmu_render.progress_line(
        {"kind": "wait", "env": v, "seconds": v, "wave": 1, "waves": 2}), True),
    "progress done": (lambda v: mosmu_render.progress_line(
        {"kind": "done", "env": v, "summary": {v: 1}, "retcode": v}), True),
    "progress mirror": (lambda v: mosmu_render.progress_line(
        {"kind": "mirror", "message": v}), True),
    "progress other kind": (lambda v: mosmu_render.progress_line(
        {"kind": v, "message": v}), True),
    "progress message": (lambda v: mosmu_render.progress_line({"message": v}), True),
    "progress not a dict": (lambda v: mosmu_render.progress_line(v), True),
    "nodes cell": (lambda v: mosmu_render.nodes_table({"selected": [
        {"id": 1, "fqdn": v, "ip": v, "cluster": 1, "roles": [v], "status": v,
         "online": True, "mos_version": v, "transport": v, "minion": v}], "skipped": []}),
        True),
    "nodes env": (lambda v: mosmu_render.nodes_table({"selected": [
        {"id": 1, "ip": "i", "cluster": v}], "skipped": []}), True),
    "nodes skip reason": (lambda v: mosmu_render.nodes_table({"selected": [], "skipped": [
        {"id": v, "ip": v, "env": v, "reason": "invalid fqdn " + v}]}), True),
    "nodes skip not a dict": (lambda v: mosmu_render.nodes_table(
        {"selected": [], "skipped": [v]}), True),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name, raw, shown", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_foreign_text_reaches_no_output_path_raw(path, name, raw, shown):
    render, visible = PATHS[path]
    text = render(raw)
    assert not _forbidden(text), (path, name)
    text.encode("utf-8")
    if visible and shown:
        assert shown in text, (path, name, text[:300])
    # cells are cut and prose is wrapped: a 6,000-character value never makes a long line
    long_lines = [line for line in text.splitlines() if len(line) > 250]
    assert not long_lines, (path, name)


def test_rendering_leaves_the_report_data_untouched():
    """Escaping happens only in the text: the report (what --out=json prints) keeps every
    byte the node sent."""
    comment = "E: hook: \x1b]0;title\x07\x1b[2J\u202e" + "z" * 300
    report = _report([_entry(comment=comment, line="\x9b2J")], interrupted="SIG\x1bINT",
                     mirror={"m\x07": {"state": "\x1b[2J"}})
    before = repr(report)
    mosmu_render.table(report)
    mosmu_render.progress_line({"kind": "node", "comment": comment, "result": "FAIL"})
    assert repr(report) == before
    assert report["10.20.11.1"]["comment"] == comment


def test_dpkg_hook_escape_in_a_fail_comment_cut_at_118_columns():
    """Regression (issue 15.2): a node's dpkg hook printed ``ESC]0;...BEL ESC[2J`` into the
    FAIL comment; the progress line and the table's not-OK line printed it raw (it set the
    window title and cleared the screen), and the 118-column cut fell inside the escape."""
    hook = "\x1b]0;mosmu pwned\x07\x1b[2J"
    for pad in range(60, 120):      # the 118-column cut lands on every byte of the escape
        comment = "E: Sub-process /usr/bin/dpkg returned an error code (1) " + "x" * pad \
            + hook + " trailing"
        event = {"kind": "node", "env": 11, "id": 3, "ip": "10.20.0.3", "result": "FAIL",
                 "changes": 0, "comment": comment}
        line = mosmu_render.progress_line(event)
        assert not _forbidden(line) and len(line) == mosmu_render.WIDTH
        assert line.endswith("…")
        raw = f"env 11 node-3 10.20.0.3: FAIL, 0 package(s) — {comment}"
        cuts = {"".join(mosmu_text.escape_char(c) for c in raw[:k]) for k in range(len(raw))}
        assert line[:-1] in cuts, pad             # the cut falls between two escapes
        text = mosmu_render.table(_report([_entry(comment=comment)]))
        assert not _forbidden(text)
        joined = "".join(line.strip() for line in text.splitlines()).replace(" ", "")
        assert "\\x1b]0;mosmupwned\\x07\\x1b[2Jtrailing" in joined


@pytest.mark.parametrize("reason", [
    "E: Failed to fetch http://127.0.0.1:50397/.snapshots/mos-repo-20250101T000000/ubuntu/"
    "pool/main/n/nova/nova-common_2015.1.0-1~u14.04+mos19664_all.deb  404  Not Found; run "
    "salt-run mosmu.sync verify=True mos_version=8.0",
    "node-3.domain.tld did not answer saltutil.sync_all: Minion did not return. [No response] "
    "check that the minion runs (salt node-3.domain.tld test.ping) and rerun",
    "w" * 500,
    "step upgrade: " + "E: dpkg was interrupted\n" * 12,
])
def test_a_not_ok_reason_is_printed_whole_wrapped_never_cut(reason):
    """Regression (issue 16.3): the not-OK lines cut the reason at 118 columns, so the cause
    or the fix was lost (``... E: Failed to fetch http://127.0.0.1:50397/.snapshots/mos-repo…``).
    Each not-OK node's reason is printed whole, wrapped under the node; the table's columns
    may still be cut."""
    text = mosmu_render.table(_report([_entry("FAIL", comment=reason),
                                       mosmu_report.entry(_n(2, 11), "TIMEOUT", comment=reason)]))
    lines = text.splitlines()
    start = lines.index("not OK:")
    notes = lines[start + 1:-1]
    assert all(len(line) <= mosmu_render.WIDTH for line in notes)
    assert "…" not in "\n".join(notes)
    firsts = [i for i, line in enumerate(notes) if line.startswith("  node-")]
    assert [notes[i].split()[0] for i in firsts] == ["node-1", "node-2"]
    block = notes[firsts[0]:firsts[1]]
    assert all(line.startswith("      ") for line in block[1:])
    shown = " ".join(line.strip() for line in block)
    assert shown.split(": ", 1)[1].replace(" ", "") == " ".join(reason.split()).replace(" ", "")


def test_a_dry_run_and_an_interrupted_report_say_so_in_the_table():
    """``test`` and ``interrupted`` top-level keys are shown as lines; other keys are not."""
    entries = [mosmu_report.entry(_n(1, 11), "OK", changes={"a": {}}, test=True)]
    text = mosmu_render.table(_report(entries, test=True, accepted_partial=["x"]))
    assert text.splitlines()[0].startswith("test mode: nothing was changed")
    assert "accepted_partial" not in text
    entries = [mosmu_report.entry(_n(1, 11), "OK"),
               mosmu_report.entry(_n(2, 11), "SKIPPED", comment="not started: the run was "
                                  "interrupted (SIGINT)")]
    text = mosmu_render.table(_report(entries, interrupted="SIGINT"))
    assert text.splitlines()[0].startswith("interrupted (SIGINT): ")
    assert "retry_failed=True" in text.splitlines()[0]
    assert "environment 11: 2 node(s)" in text
