"""Gaps mutation testing found in the runner's report (mosmu issue 10).

Whole entries from every branch of :func:`mosmu_report.state_entry` and
:func:`mosmu_report.status_from_record` (a TIMEOUT keeps the runner's duration and the test
flag, a FAIL keeps the changes it made), the exact text of the tables an operator reads, the
progress lines, and the event payload whitelist (what may go on the bus, and nothing else).
"""

import pytest

import mosmu_events
import mosmu_render
import mosmu_report

NODE = {"id": 3, "ip": "10.20.0.3", "cluster": 11, "roles": ["compute"], "fqdn": "node-3.local",
        "minion": "node-3"}
BARE = {"id": 4, "ip": "10.20.0.4", "cluster": 11, "roles": []}          # no minion known
KEY = "mosmu_|-mosmu-init-mosmu-updated_|-mos-8.0_|-updated"
KEY2 = "mosmu_|-mosmu-init-mosmu-held_|-mos-8.0_|-updated"
FOREIGN = "file_|-motd_|-/etc/motd_|-managed"
PKG = {"a": {"old": "1", "new": "2"}}
KERNEL = {"linux-image-3.13.0-100-generic": {"old": "", "new": "3.13.0-100.147"}}


def _base(node=NODE, **fields):
    """The spec of an entry: the node's identity plus the defaults, overridden by ``fields``."""
    out = {"id": node["id"], "ip": node["ip"], "fqdn": node.get("fqdn"), "env": node["cluster"],
           "roles": list(node["roles"]), "minion": node.get("minion"),
           "transport": node.get("transport"), "changes": {},
           "comment": "", "duration": None, "reboot_required": False}
    out.update(fields)
    return out


def _state(**over):
    state = {"name": "mos-8.0", "result": True, "changes": {}, "comment": "done",
             "duration": 1500.0}
    state.update(over)
    return state


def _ret(states, retcode=0):
    return {"ret": states, "retcode": retcode, "jid": "20250101000000000000"}


# -- state_entry ----------------------------------------------------------------------------

@pytest.mark.parametrize("test, extra", [(False, {}), (True, {"test": True})])
def test_timeout_keeps_runner_duration_and_test_flag(test, extra):
    got = mosmu_report.state_entry(NODE, None, test=test, duration=12.34)
    assert got == _base(result="TIMEOUT", duration=12.3, comment=got["comment"], **extra)
    assert "salt node-3 mosmu.status" in got["comment"]


@pytest.mark.parametrize("ret", [{"failed": True},
                                 {"ret": "Minion did not return. [No response]"}])
@pytest.mark.parametrize("test, extra", [(False, {}), (True, {"test": True})])
def test_did_not_return_forms_are_whole_timeout_entries(ret, test, extra):
    got = mosmu_report.state_entry(NODE, ret, test=test)
    assert got == _base(result="TIMEOUT", comment=got["comment"], **extra)
    assert "salt-run mosmu.status" in got["comment"]
    assert "salt node-3 mosmu.status" in got["comment"]
    if "ret" in ret:
        assert "[No response]" in got["comment"]


def test_timeout_without_minion_names_a_placeholder():
    for ret in (None, {"failed": True}):
        comment = mosmu_report.state_entry(BARE, ret)["comment"]
        assert "salt <minion> mosmu.status" in comment


def test_bare_state_dict_without_ret_wrapper_is_read():
    """A return that is the state dict itself (no ``ret`` key) is read as the states."""
    got = mosmu_report.state_entry(NODE, {KEY: _state(changes=PKG)})
    assert got == _base(result="OK", changes=PKG, comment="done", duration=1.5)


@pytest.mark.parametrize("test, extra", [(False, {}), (True, {"test": True})])
def test_render_error_list_is_fail_with_duration(test, extra):
    got = mosmu_report.state_entry(NODE, {"ret": ["first error", "second error"], "retcode": 1},
                                   test=test, duration=7.06)
    assert got == _base(result="FAIL", duration=7.1, comment="state did not run: first error; "
                        "second error", **extra)


def test_render_error_passed_unwrapped():
    got = mosmu_report.state_entry(NODE, ["only error"])
    assert got == _base(result="FAIL", comment="state did not run: only error")


def test_missing_formula_hint_is_at_the_end():
    got = mosmu_report.state_entry(NODE, {"ret": "No matching sls found for 'mosmu' in env "
                                                 "'base'"})
    assert got["result"] == "FAIL"
    assert got["comment"].startswith("state did not run: No matching sls found for 'mosmu'")
    assert got["comment"].endswith("(is the mosmu formula in the master's file_roots?)")


@pytest.mark.parametrize("test, extra", [(False, {}), (True, {"test": True})])
def test_malformed_state_values_are_fail_with_duration(test, extra):
    got = mosmu_report.state_entry(NODE, _ret({KEY: "oops", FOREIGN: ["x"]}), test=test,
                                   duration=3.0)
    assert got == _base(result="FAIL", duration=3.0, comment=got["comment"], **extra)
    assert got["comment"].endswith(f"{KEY}, {FOREIGN}")


def test_duration_is_the_sum_of_our_states_in_seconds():
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state(duration=100000.0),
                                               KEY2: _state(duration=None, comment="held")}))
    assert got == _base(result="OK", duration=100.0, comment="done; held")
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state(duration=1549.0),
                                               KEY2: _state(duration=None, comment="held")}))
    assert got["duration"] == 1.5


def test_reboot_flag_of_a_state_without_kernel_changes():
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state(changes=PKG, reboot_required=True)}))
    assert got == _base(result="OK", changes=PKG, comment="done", duration=1.5,
                        reboot_required=True)


def test_every_failed_state_is_named_and_changes_kept():
    got = mosmu_report.state_entry(NODE, _ret({
        KEY: _state(result=False, comment="upgrade failed", changes=PKG),
        KEY2: {"result": False, "changes": KERNEL, "duration": 1500.0},
        FOREIGN: _state(result=False, comment="disk full", changes={"diff": "x"}),
        "odd-key": {"result": False},
    }, retcode=2))
    assert got == _base(result="FAIL", changes={**PKG, **KERNEL}, duration=3.0,
                        reboot_required=True,
                        comment="upgrade failed; ; file.managed motd: disk full; odd-key: ")


@pytest.mark.parametrize("test, extra", [(False, {}), (True, {"test": True})])
def test_foreign_states_only_is_a_whole_fail_entry(test, extra):
    got = mosmu_report.state_entry(NODE, _ret({"pkg_|-x_|-x_|-installed": _state()}),
                                   test=test)
    assert got == _base(result="FAIL", comment=got["comment"], **extra)
    assert "mosmu SLS" in got["comment"] and "saltutil.sync_all" in got["comment"]


def test_ok_comment_is_every_state_comment():
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state(comment="upgraded 2"),
                                               KEY2: {"result": True, "changes": {}}}))
    assert got == _base(result="OK", comment="upgraded 2; ", duration=1.5)


def test_nonzero_retcode_keeps_changes_duration_reboot():
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state(changes=KERNEL)}, retcode=2))
    assert got == _base(result="FAIL", changes=KERNEL, duration=1.5, reboot_required=True,
                        comment="done; state.apply exited 2")
    got = mosmu_report.state_entry(NODE, _ret({KEY: _state(result=None)}, retcode=1), test=True)
    assert got == _base(result="OK", comment="done", duration=1.5, test=True)


# -- status_from_record ---------------------------------------------------------------------

def test_status_no_answer_is_a_whole_timeout_entry():
    got = mosmu_report.status_from_record(NODE, None)
    assert got == _base(result="TIMEOUT", line=None, record=None, comment=got["comment"])
    assert "salt node-3 test.ping" in got["comment"] and got["comment"].startswith("node-3 ")
    comment = mosmu_report.status_from_record(BARE, None)["comment"]
    assert comment.startswith("<minion> ") and "salt <minion> test.ping" in comment


def test_status_not_connected_and_module_missing():
    got = mosmu_report.status_from_record(NODE, {"ret": "Minion did not return. [Not connected]"})
    assert got == _base(result="TIMEOUT", line=None, record=None,
                        comment="Minion did not return. [Not connected]")
    got = mosmu_report.status_from_record(NODE, {"ret": ["boom", "bang"], "retcode": 1})
    assert got == _base(result="FAIL", line=None, record=None,
                        comment="mosmu.status failed: boom; bang")


@pytest.mark.parametrize("ret", ["some error", ["a", "b"], 42])
def test_status_non_dict_answer_is_fail(ret):
    got = mosmu_report.status_from_record(NODE, ret)
    assert got["result"] == "FAIL" and got["line"] is None and got["record"] is None


def test_status_answer_with_state_is_not_unwrapped():
    got = mosmu_report.status_from_record(NODE, {"state": "NONE", "ret": "ignored",
                                                 "line": None, "record": None})
    assert got["result"] == "NONE"


def test_status_ok_record_is_a_whole_entry():
    record = {"started": "2025-01-01T10:00:00+00:00", "finished": "2025-01-01T10:00:02+00:00",
              "changes": KERNEL, "state": "OK"}
    got = mosmu_report.status_from_record(NODE, {"state": "OK", "line": "UPDATE=OK",
                                                 "record": record})
    assert got == _base(result="OK", line="UPDATE=OK", record=record, changes=KERNEL,
                        duration=2.0, finished="2025-01-01T10:00:02+00:00",
                        reboot_required=True)


def test_status_record_not_a_dict_is_kept_but_not_read():
    got = mosmu_report.status_from_record(NODE, {"state": "OK", "line": "UPDATE=OK",
                                                 "record": "garbage"})
    assert got == _base(result="OK", line="UPDATE=OK", record="garbage")


def test_status_record_changes_not_a_dict_are_dropped():
    record = {"state": "OK", "changes": ["a", "b"]}
    got = mosmu_report.status_from_record(NODE, {"state": "OK", "line": "UPDATE=OK",
                                                 "record": record})
    assert got == _base(result="OK", line="UPDATE=OK", record=record, finished=None)


def test_status_error_without_step_is_the_error():
    record = {"state": "FAIL", "error": "E: broken"}
    got = mosmu_report.status_from_record(NODE, {"state": "FAIL", "line": "UPDATE=FAIL",
                                                 "record": record})
    assert got == _base(result="FAIL", line="UPDATE=FAIL", record=record, finished=None,
                        comment="E: broken")


def test_status_started_keeps_the_records_error():
    record = {"state": "STARTED", "failed_step": "upgrade", "error": "E: lock"}
    got = mosmu_report.status_from_record(NODE, {"state": "STARTED", "line": "STARTED",
                                                 "record": record})
    assert got["result"] == "STARTED" and got["comment"] == "upgrade: E: lock"


def test_status_unknown_line_is_cut():
    line = "X" * 61
    got = mosmu_report.status_from_record(NODE, {"state": "UNKNOWN", "line": line,
                                                 "record": None})
    assert got["result"] == "UNKNOWN"
    assert repr("X" * 59 + "…") in got["comment"] and line not in got["comment"]
    line = "Y" * 60
    got = mosmu_report.status_from_record(NODE, {"state": "UNKNOWN", "line": line,
                                                 "record": None})
    assert repr(line) in got["comment"]


# -- summary, retcode, is_report ------------------------------------------------------------

def _e(node_id=1, result="OK", env=11, **fields):
    node = {"id": node_id, "ip": f"10.20.{env}.{node_id}", "cluster": env, "roles": ["compute"]}
    return mosmu_report.entry(node, result, **fields)


@pytest.mark.parametrize("skips, code", [
    ([{"id": 9}], 2), ([{"id": 9, "failed": None}], 0), ([{"id": 9, "failed": False}], 0),
    (["node-9"], 2), ([], 0), (0, 0), (2, 2),
])
def test_retcode_skips_count_as_failed_unless_told_not_to(skips, code):
    assert mosmu_report.retcode([_e()], skips) == code


def test_summary_line_without_code():
    assert mosmu_render.summary_line({"OK": 2, "FAIL": 1}) == "2 OK, 1 FAIL"
    assert mosmu_render.summary_line({}) == "no nodes"
    assert mosmu_render.summary_line({}, 0) == "no nodes — retcode 0"


@pytest.mark.parametrize("data", [
    {"retcode": 0, "summary": "x"}, {"summary": {}}, "retcode", ["retcode"],
])
def test_is_report_refuses(data):
    assert mosmu_render.is_report(data) is False


def test_is_report_accepts():
    assert mosmu_render.is_report({"retcode": 0, "summary": {}}) is True
    assert mosmu_render.is_report({"retcode": 0, "summary": {}, "10.0.0.1": _e()}) is True
    assert mosmu_render.is_report({"retcode": 0, "summary": {}, "extra": {"x": 1}}) is True
    assert mosmu_render.is_report({"retcode": 0, "summary": {}, "extra": "the result"}) is True


@pytest.mark.parametrize("data, expected", [
    ({"selected": [], "skipped": []}, True), ({"selected": []}, False),
    ({"selected": [], "skipped": "x"}, False), ({"x": 1}, False), ([], False),
    ({"selected": [], "skipped": [], "10.0.0.1": {"result": "OK"}}, False),
])
def test_is_nodes(data, expected):
    assert mosmu_render.is_nodes(data) is expected


# -- table ----------------------------------------------------------------------------------

def _report(entries, skipped=(), **extra):
    report = {e["ip"]: e for e in entries}
    report.update(skipped=list(skipped), summary=mosmu_report.summary(entries),
                  retcode=mosmu_report.retcode(entries, skipped))
    report.update(extra)
    return report


def test_update_table_exact():
    entries = [
        _e(2, "OK", changes={"a": {}, "b": {"old": "1.2", "new": "1.1", "downgrade": True}},
           duration=12.34, reboot_required=True, comment="fine"),
        _e(1, "FAIL", roles=["controller", "mongo", "cinder", "zabbix"], comment="apt failed"),
        _e(5, "OK", ip=None),
        _e(6, "TIMEOUT", roles=[], changes=None),
    ]
    text = mosmu_render.table(_report(entries, skipped=[{"id": 9, "failed": True}, "x"]))
    assert text.splitlines() == [
        "environment 11: 4 node(s)",
        "  ip          node    env  roles                     result   pkgs  down  time   reboot",
        "  10.20.11.1  node-1  11   controller,mongo,cinder…  FAIL     0     -     -      -",
        "  10.20.11.2  node-2  11   compute                   OK       2     1     12.3s  yes",
        "  -           node-5  11   compute                   OK       0     -     -      -",
        "  10.20.11.6  node-6  11   -                         TIMEOUT  -     -     -      -",
        "downgrades (an MU pin moves these below what the node had):",
        "  node-2 10.20.11.2 downgraded: b 1.2 -> 1.1",
        "not OK:",
        "  node-1 10.20.11.1 FAIL: apt failed",
        "2 OK, 1 FAIL, 1 TIMEOUT — retcode 2",
        "skipped by selection: 2 node(s), 1 counted as failed (salt-run mosmu.nodes with the "
        "same arguments says why)",
    ]


def test_status_table_exact():
    entries = [
        _e(1, "OK", line="UPDATE=OK-and-more-text", finished="2025-01-01T10:01:30.123456+00:00"),
        _e(2, "NONE", line=None, finished=None),
    ]
    text = mosmu_render.table(_report(entries))
    assert text.splitlines() == [
        "environment 11: 2 node(s)",
        "  ip          node    env  roles    state  line          finished",
        "  10.20.11.1  node-1  11   compute  OK     UPDATE=OK-a…  2025-01-01T10:01:30.1234…",
        "  10.20.11.2  node-2  11   compute  NONE   -             -",
        "1 OK, 1 NONE — retcode 2",
    ]


def test_table_test_mode_line_and_no_skip_line():
    text = mosmu_render.table(_report([_e(1, "OK", test=True)]))
    assert text.splitlines()[0] == ("test mode: nothing was changed; pkgs = packages that would "
                                    "be upgraded (down: of them, downgraded)")
    assert not any(line.startswith("skipped") for line in text.splitlines())


def test_table_role_cut_at_24():
    roles = ["a" * 12, "b" * 12]                   # 25 characters joined
    row = mosmu_render.table(_report([_e(1, roles=roles)])).splitlines()[2]
    assert "a" * 12 + "," + "b" * 10 + "…" in row and "b" * 12 not in row
    roles = ["a" * 11, "b" * 12]                   # 24: kept whole
    row = mosmu_render.table(_report([_e(1, roles=roles)])).splitlines()[2]
    assert "a" * 11 + "," + "b" * 12 + " " in row


def test_table_status_cells_are_cut():
    line, finished = "L" * 13, "F" * 26
    row = mosmu_render.table(_report([_e(1, line=line, finished=finished)])).splitlines()[2]
    assert row.split()[-2:] == ["L" * 11 + "…", "F" * 24 + "…"]
    row = mosmu_render.table(_report([_e(1, line="L" * 12, finished="F" * 25)])).splitlines()[2]
    assert row.split()[-2:] == ["L" * 12, "F" * 25]


def test_table_note_is_wrapped_to_width_never_cut():
    text = mosmu_render.table(_report([_e(1, "FAIL", comment="x" * 300)]))
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  node-1 "))
    note = lines[start:start + 4]
    assert note[0] == "  node-1 10.20.11.1 FAIL:" and "…" not in text
    assert all(len(line) <= mosmu_render.WIDTH for line in note)
    assert "".join(line.strip() for line in note[1:]) == "x" * 300


def test_table_mixed_env_and_node_ids_order():
    """Int ids sort numerically before text ids; same id falls back to the ip."""
    entries = [_e("b", env="y"), _e("a", env="y"), _e(10, env="x"), _e(9, env=10), _e(9, env=9),
               mosmu_report.entry({"id": 4, "ip": "10.9.0.9", "cluster": 10}, "OK"),
               mosmu_report.entry({"id": 4, "ip": "10.9.0.1", "cluster": 10}, "OK")]
    lines = mosmu_render.table(_report(entries)).splitlines()
    assert [line for line in lines if line.startswith("environment")] == [
        "environment 9: 1 node(s)", "environment 10: 3 node(s)", "environment x: 1 node(s)",
        "environment y: 2 node(s)"]
    rows = [line.split()[:2] for line in lines if line.startswith("  1")]
    assert rows == [["10.20.9.9", "node-9"], ["10.9.0.1", "node-4"], ["10.9.0.9", "node-4"],
                    ["10.20.10.9", "node-9"], ["10.20.x.10", "node-10"],
                    ["10.20.y.a", "node-a"], ["10.20.y.b", "node-b"]]


def test_table_retcode_from_report_or_computed():
    report = _report([_e(1, "OK")], retcode=5)
    assert mosmu_render.table(report).endswith("1 OK — retcode 5")
    report = {"10.0.0.1": _e(1, "FAIL"), "summary": {}}
    assert mosmu_render.table(report).splitlines()[-1] == "1 FAIL — retcode 2"
    report = {"10.0.0.1": _e(1, "OK"), "summary": {}}
    assert mosmu_render.table(report).splitlines()[-1] == "1 OK — retcode 0"


def test_table_ok_with_comment_is_not_a_note():
    text = mosmu_render.table(_report([_e(1, "OK", comment="upgraded 2"),
                                       _e(2, "SKIPPED", comment="")]))
    assert "not OK:" not in text and "upgraded 2" not in text


def test_mirror_lines_sorted_by_name_as_text():
    mirror = {9: {"state": "published", "files": 3}, "b": {"files": 1},
              10: {"state": "aaa"}, "a": {"state": "zzz", "files": 2}, "c": "not a dict"}
    lines = mosmu_render.table(_report([_e()], mirror=mirror)).splitlines()
    assert lines[:4] == ["mirror 10: aaa (0 file(s) fetched)", "mirror 9: published (3 file(s) "
                         "fetched)", "mirror a: zzz (2 file(s) fetched)",
                         "mirror b: ? (1 file(s) fetched)"]
    assert lines[4] == "environment 11: 1 node(s)"


# -- progress_line --------------------------------------------------------------------------

@pytest.mark.parametrize("event, line", [
    ("plain text", "plain text"), (42, "42"), ("a\n  b", "a b"),
    ({"kind": "node", "env": 1, "id": 2, "ip": "i", "result": "OK", "changes": 0,
      "comment": "fine"}, "env 1 node-2 i: OK, 0 package(s)"),
    ({"kind": "node", "env": 1, "id": 2, "ip": "i", "result": "FAIL", "comment": "E: x"},
     "env 1 node-2 i: FAIL, 0 package(s) — E: x"),
    ({"kind": "node", "env": 1, "id": 2, "ip": "i", "result": "SKIPPED"},
     "env 1 node-2 i: SKIPPED"),
    ({"kind": "stop"}, "stop:"), ({}, ""),
])
def test_progress_line_more(event, line):
    assert mosmu_render.progress_line(event) == line


def test_progress_line_width_boundary():
    assert mosmu_render.progress_line("x" * 118) == "x" * 118
    assert mosmu_render.progress_line("x" * 119) == "x" * 117 + "…"
    assert mosmu_render.progress_line({"message": "y" * 119}) == "y" * 117 + "…"


# -- events ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, name", [
    (("11/x",), "env="), ((True,), "env="), ((11, "3/../4", "OK"), "node_id="),
    ((11, False, "OK"), "node_id="),
])
def test_event_tags_refusal_names_the_argument(args, name):
    with pytest.raises(ValueError, match="^" + name) as err:
        mosmu_events.event_tags(*args)
    assert repr(args[-2] if name == "node_id=" else args[0]) in str(err.value)


def test_event_tags_bad_result_is_named():
    with pytest.raises(ValueError, match="DONE"):
        mosmu_events.event_tags(11, 3, "DONE")
    with pytest.raises(ValueError, match="result=None"):
        mosmu_events.event_tags(11, 3)


def test_event_data_wait_and_done_fields():
    got = mosmu_events.event_data({}, kind="wait", env=11, wave=2, waves=3, seconds=60.5,
                                  message="pausing", fqdn="x.local")
    assert got == {"kind": "wait", "env": 11, "wave": 2, "waves": 3, "seconds": 60.5,
                   "message": "pausing"}
    got = mosmu_events.event_data({}, kind="done", env=11, retcode=2, changes=4,
                                  summary={"OK": 3, 5: 1, "bad": "x"})
    assert got == {"kind": "done", "env": 11, "retcode": 2, "changes": 4,
                   "summary": {"OK": 3, "5": 1}}


def test_event_data_env_wins_over_cluster():
    assert mosmu_events.event_data({"env": 5, "cluster": 7})["env"] == 5
    assert mosmu_events.event_data({"cluster": 7})["env"] == 7
    assert "env" not in mosmu_events.event_data({"id": 1})


def test_event_data_comment_is_cut_at_500():
    got = mosmu_events.event_data({"comment": "z" * 501})
    assert got["comment"] == "z" * 499 + "…"
    assert mosmu_events.event_data({"comment": "z" * 500})["comment"] == "z" * 500


# -- nodes_table ----------------------------------------------------------------------------

def test_nodes_table_exact():
    result = {
        "selected": [
            {"id": 12, "fqdn": "node-12.domain", "ip": "10.20.0.12", "roles": ["compute", "mongo"],
             "status": "ready", "online": True, "mos_version": "8.0", "minion": "node-12",
             "transport": "minion", "cluster": 11},
            {"id": 3, "fqdn": None, "ip": "10.20.0.3", "roles": [], "status": "ready",
             "online": False, "mos_version": None, "minion": None, "transport": "ssh",
             "cluster": 11},
            {"id": 7, "fqdn": "n7", "ip": "10.30.0.7", "roles": ["cinder"], "status": "ready",
             "online": 1, "mos_version": "9.0", "minion": "n7", "cluster": None},
        ],
        "skipped": [
            {"id": 40, "ip": "10.20.0.40", "env": 11, "reason": "offline\n  since  noon"},
            {"ip": None, "env": None},
        ],
    }
    assert mosmu_render.nodes_table(result).splitlines() == [
        "environment 11: 2 selected",
        "  id  fqdn            ip          roles          status  online  version  transport"
        "  minion",
        "  3   -               10.20.0.3   -              ready   no      -        ssh        -",
        "  12  node-12.domain  10.20.0.12  compute,mongo  ready   yes     8.0      minion     "
        "node-12",
        "environment None: 1 selected",
        "  id  fqdn  ip         roles   status  online  version  transport  minion",
        "  7   n7    10.30.0.7  cinder  ready   yes     9.0      -          n7",
        "skipped: 2",
        "  id  ip          env  reason",
        "  40  10.20.0.40  11   offline since noon",
        "  -   -           -    ",
    ]


def test_nodes_table_missing_keys():
    assert mosmu_render.nodes_table({}) == "no nodes"
    assert mosmu_render.nodes_table({"skipped": []}) == "no nodes"
    text = mosmu_render.nodes_table({"skipped": [{"id": 1, "ip": "i", "env": 2,
                                                  "reason": "r"}]})
    assert text.splitlines() == ["skipped: 1", "  id  ip  env  reason", "  1   i   2    r"]


# -- entry, summary -------------------------------------------------------------------------

def test_entry_env_from_a_skip_record_without_cluster():
    got = mosmu_report.entry({"id": 9, "ip": "10.0.0.9", "env": 7}, "SKIPPED")
    assert got == {"id": 9, "ip": "10.0.0.9", "fqdn": None, "env": 7, "roles": [],
                   "minion": None, "transport": None, "result": "SKIPPED", "changes": {},
                   "comment": "",
                   "duration": None, "reboot_required": False}
    assert mosmu_report.entry({"id": 9, "cluster": 8, "env": 7}, "OK")["env"] == 8
    assert mosmu_report.entry({"id": 9, "cluster": None, "env": 7}, "OK")["env"] is None


@pytest.mark.parametrize("call", [lambda: mosmu_report.entry(NODE, "DONE"),
                                  lambda: mosmu_events.event_tags(11, 3, "DONE")])
def test_unknown_result_refusal_lists_the_results(call):
    with pytest.raises(ValueError, match="'DONE'") as err:
        call()
    assert ", ".join(mosmu_report.RESULTS) in str(err.value)


def test_summary_unknown_results_after_known_ones_sorted_as_text():
    got = mosmu_report.summary([{"result": "ZZ"}, {"result": 5}, {"result": "OK"},
                                {"result": "ZZ"}, {"result": "FAIL"}, {"nope": 1}])
    assert list(got.items()) == [("OK", 1), ("FAIL", 1), (5, 1), ("ZZ", 2)]
