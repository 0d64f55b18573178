"""mos_apply_mu compatibility command: old options, old validation codes, runner mapping,
report lines. Pure functions only; no Salt daemons."""

import unicodedata

import pytest

from mosmu_salt import compat
from mosmu_salt.compat import UsageError, parse, report_lines, runner_call


def _call(*argv):
    return runner_call(parse(argv))


def _code(*argv):
    with pytest.raises(UsageError) as info:
        parse(argv)
    return info.value.code, str(info.value)


# -- the old tool's validation and its exit codes --------------------------------------------

@pytest.mark.parametrize("argv, code", [
    (["--env-id=1", "--all-envs", "--update"], 5),
    (["--env-id=1", "--nodes=10.20.0.3", "--update"], 5),   # --nodes implied --all-envs
    (["--update"], 6),
    (["--env-id=0", "--update"], 6),                         # 0 meant "not given"
    (["--roles=compute", "--check"], 6),
    (["--env-id=1", "--check", "--update"], 7),
    (["--all-envs", "--update", "--check"], 7),
    (["--env-id=1"], 8),
    (["--all-envs", "--offline"], 8),
])
def test_old_validation_codes(argv, code):
    assert _code(*argv)[0] == code


def test_env_checks_come_before_mode_checks_as_in_the_old_tool():
    assert _code("--check", "--update")[0] == 6
    assert _code("--env-id=2", "--all-envs")[0] == 5


def test_old_messages_are_kept():
    assert _code("--update")[1] == "ERROR: At least one option (env-id or all-envs) must be set."
    assert _code("--env-id=1")[1] == "ERROR: Either --check or --update must be set."
    assert "--nodes implies --all-envs" in _code("--env-id=1", "--nodes=1.2.3.4", "--check")[1]


def test_version_wins_over_everything_and_exits_19(capsys):
    assert parse(["--env-id=1", "--all-envs", "--version"]).version is True
    assert compat.main(["--version", "--check", "--update"]) == 19
    assert capsys.readouterr().out == "VER_ID: 29042016\n"


@pytest.mark.parametrize("arg", ["--user=op", "--pass=V3ryS3Cur3", "--password=V3ryS3Cur3",
                                 "--tenant=admin", "--pass", "--user"])
def test_credentials_are_refused_without_echoing_them(arg, capsys):
    code, message = _code("--env-id=11", "--update", arg)
    assert code == 2
    assert "mosmu:password" in message and "sdb://" in message
    assert "V3ryS3Cur3" not in message
    assert compat.main(["--env-id=11", arg, "--update"]) == 2
    captured = capsys.readouterr()
    assert "V3ryS3Cur3" not in captured.out + captured.err
    assert "visible to every user" in captured.err


@pytest.mark.parametrize("argv, words", [
    (["--env-id=abc", "--update"], "not a number"),
    (["--env-id=-3", "--update"], "not an environment id"),
    (["--env-id=1", "--update", "--interval=soon"], "not a number"),
    (["--env-id=1", "--update", "--interval=-5"], "0 or more"),
    (["--env-id=1", "--update", "--roles="], "is empty"),
    (["--env-id=1", "--update", "--mos-securty"], "unrecognized arguments"),
    (["--env-id=1", "--update", "stray"], "unrecognized arguments"),
    (["--env=1", "--update"], "unrecognized arguments"),          # no abbreviations
    (["--env-id=1", "--update", "--fuel-ip=http://x/"], "not an IPv4 address or host name"),
])
def test_bad_values_exit_2_with_the_fix(argv, words):
    code, message = _code(*argv)
    assert code == 2 and words in message and message.startswith("ERROR: ")


# -- mapping to runner arguments -------------------------------------------------------------

def test_update_of_one_env():
    assert _call("--env-id=11", "--update") == ("mosmu.update", {"env": 11, "sync": True})


def test_both_syntaxes_of_values_are_accepted():
    assert _call("--env-id", "11", "--update") == _call("--env-id=11", "--update")


def test_update_with_every_option():
    fun, kwargs = _call("--all-envs", "--update", "--roles=compute, cinder", "--offline",
                        "--interval=60", "--mos-version=8.0", "--master-ip=10.20.0.2",
                        "--mos-proposed", "--mos-security", "--no-rsync", "--use-latest")
    assert fun == "mosmu.update"
    assert kwargs == {"all_envs": True, "roles": ["compute", "cinder"], "offline": True,
                      "batch": 1, "interval": 60, "mos_version": "8.0",
                      "master_ip": "10.20.0.2", "repos": ["proposed", "security"],
                      "sync": False}


def test_nodes_without_env_means_all_envs_as_before():
    assert _call("--nodes=10.20.0.3,10.20.0.4", "--update") == (
        "mosmu.update", {"all_envs": True, "nodes": ["10.20.0.3", "10.20.0.4"], "sync": True})


def test_interval_zero_keeps_mosmu_waves():
    assert "batch" not in _call("--env-id=1", "--update", "--interval=0")[1]


def test_empty_master_ip_means_guess_as_in_the_old_usage_example():
    assert "master_ip" not in _call("--env-id=11", "--update", '--master-ip=')[1]


def test_check_maps_to_status_with_selection_only():
    assert _call("--all-envs", "--check", "--roles=compute", "--offline",
                 "--mos-security", "--interval=5") == (
        "mosmu.status", {"all_envs": True, "roles": ["compute"], "offline": True})
    assert compat.notes(parse(["--env-id=1", "--check"])) == []
    notes = compat.notes(parse(["--env-id=1", "--check", "--interval=5", "--mos-security"]))
    assert notes == ["note: --interval, --mos-security ignored with --check"]


def test_use_latest_is_accepted_and_said_to_do_nothing():
    opts = parse(["--env-id=1", "--update", "--use-latest"])
    assert runner_call(opts) == _call("--env-id=1", "--update")
    assert "no effect" in compat.notes(opts)[0]


def test_no_secret_ever_reaches_runner_arguments():
    fun, kwargs = _call("--env-id=1", "--update", "--fuel-ip=10.20.0.2")
    assert fun == "mosmu.update" and not {"password", "username", "tenant",
                                          "fuel_url"} & set(kwargs)


def test_fuel_ip_overrides_urls_in_this_run_only():
    config = {"fuel_url": "http://10.0.0.1:8000", "password": "x", "username": "op"}
    opts = parse(["--env-id=1", "--check", "--fuel-ip=10.20.0.2"])
    assert compat.config_overrides(opts, config) == {
        "fuel_url": "http://10.20.0.2:8000", "keystone_url": "http://10.20.0.2:5000/v2.0",
        "password": "x", "username": "op"}
    assert config["fuel_url"] == "http://10.0.0.1:8000"
    assert compat.config_overrides(parse(["--env-id=1", "--check"]), config) is config
    assert compat.config_overrides(opts, None)["fuel_url"] == "http://10.20.0.2:8000"


def test_config_dir_defaults_to_etc_salt():
    assert parse(["--env-id=1", "--check"]).config_dir == "/etc/salt"
    assert parse(["-c", "/tmp/x", "--env-id=1", "--check"]).config_dir == "/tmp/x"


def test_help_documents_mapping_and_exit_codes(capsys):
    assert compat.main(["--help"]) == 0
    text = capsys.readouterr().out
    for words in ("--interval=N", "batch=1 interval=N", "mosmu:password", "Exit codes",
                  "VER_ID: 29042016", "--use-latest", "--fuel-ip=X"):
        assert words in text
    for code in ("0 ", "2 ", "5 ", "6 ", "7 ", "8 ", "19 "):
        assert f"\n  {code}" in text


# -- report lines ----------------------------------------------------------------------------

UPDATE = {
    "10.20.0.10": {"result": "OK", "changes": {"nova-common": {"old": "1.0", "new": "1.1"}},
                   "comment": "upgraded"},
    "10.20.0.3": {"result": "OK", "changes": {f"p{i}": {} for i in range(3)}, "comment": ""},
    "10.20.0.4": {"result": "FAIL", "changes": {}, "comment": "apt-get upgrade failed"},
    "10.20.0.5": {"result": "NO_MINION", "comment": "no minion matches ip"},
    "10.20.0.6": {"result": "OK", "changes": {}, "comment": "up to date"},
    "skipped": [{"id": 9, "ip": "10.20.0.9", "reason": "status discover"}],
    "summary": {"OK": 3, "FAIL": 1, "NO_MINION": 1},
    "retcode": 2,
}


def test_update_report_lines_in_ip_order_with_old_words():
    out, err, code = report_lines("mosmu.update", UPDATE)
    assert out == [
        "Node 10.20.0.3: UPDATE=OK (3 packages upgraded)",
        "Node 10.20.0.4: UPDATE=FAIL (apt-get upgrade failed)",
        "Node 10.20.0.5: NO_MINION (no minion matches ip)",
        "Node 10.20.0.6: UPDATE=OK (already up to date)",
        "Node 10.20.0.10: UPDATE=OK (1 package upgraded)",
        "Skipped 10.20.0.9: status discover",
        "Summary: 1 FAIL, 1 NO_MINION, 3 OK; 1 skipped",
    ]
    assert err == [] and code == 2


def test_all_ok_exits_0_and_extra_fields_are_ignored():
    ret = {"10.20.0.3": {"result": "OK", "changes": {}, "comment": "", "minion": "n1"},
           "skipped": [], "summary": {"OK": 1}, "mirror": {"8.0": {}}, "retcode": 0,
           "new_field": {"whatever": 1}}
    assert report_lines("mosmu.update", ret) == (
        ["Node 10.20.0.3: UPDATE=OK (already up to date)", "Summary: 1 OK"], [], 0)


def test_missing_or_odd_retcode_is_a_failure():
    assert report_lines("mosmu.update", {"summary": {}})[2] == 2
    assert report_lines("mosmu.update", {"summary": {}, "retcode": True})[2] == 2


def test_check_lines_match_the_old_tool():
    ret = {"10.20.0.3": {"result": "OK", "line": "UPDATE=OK"},
           "10.20.0.4": {"result": "STARTED", "line": "STARTED"},
           "10.20.0.5": {"result": "NONE", "line": ""},
           "10.20.0.6": {"result": "TIMEOUT", "comment": "no answer"},
           "summary": {"OK": 1, "STARTED": 1, "NONE": 1, "TIMEOUT": 1}, "retcode": 2}
    out, _err, code = report_lines("mosmu.status", ret)
    assert out[:4] == ["Node 10.20.0.3 state: UPDATE=OK", "Node 10.20.0.4 state: STARTED",
                       "Node 10.20.0.5: no updates information found.",
                       "Node 10.20.0.6: TIMEOUT (no answer)"]
    assert code == 2


@pytest.mark.parametrize("entry, line", [
    ({"result": "FAIL", "line": "UPDATE=OK", "comment": "the last run (job 1) ended FAIL: "
      "could not record"}, "Node 10.20.0.3: FAIL (the last run (job 1) ended FAIL: could "
     "not record)"),
    ({"result": "PARTIAL", "line": "UPDATE=FAIL", "comment": "PARTIAL: 1 offered package(s)"},
     "Node 10.20.0.3: PARTIAL (PARTIAL: 1 offered package(s))"),
    ({"result": "FAIL", "line": "UPDATE=FAIL"}, "Node 10.20.0.3 state: UPDATE=FAIL"),
], ids=["stale-ok-line", "partial", "fail"])
def test_check_prints_the_nodes_line_only_where_it_is_the_result(entry, line):
    """Regression: --check printed a node's stale UPDATE=OK, which the node could not
    overwrite, although the run's result was FAIL."""
    ret = {"10.20.0.3": entry, "summary": {}, "retcode": 2}
    assert report_lines("mosmu.status", ret)[0][0] == line


HOSTILE = ["\x1b]0;title\x07", "\x1b[2J", "\x9b2J", "\u202eexe.txt", "a\x00b", "5%\r99%",
           "a\u2028b", "x\udc9b", "a\nb"]


def _raw_controls(lines):
    return [ln for ln in lines
            if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in ln)]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_every_line_mos_apply_mu_prints_is_terminal_safe(hostile):
    """Node comments, status lines, skip reasons and runner errors reach the terminal
    escaped, on --update and --check alike."""
    ret = {"10.20.0.3": {"result": "FAIL", "comment": hostile, "line": hostile,
                         "changes": {hostile: {}}},
           "10.20.0.4": {"result": "OK", "line": hostile, "changes": {}},
           "skipped": [{"ip": hostile, "reason": hostile}],
           "summary": {hostile: 1}, "retcode": 2}
    for fun in ("mosmu.update", "mosmu.status"):
        out, err, _code = report_lines(fun, ret)
        assert out and _raw_controls(out + err) == [], out
    for ret in ({"error": hostile, "retcode": 2}, hostile):
        out, err, _code = report_lines("mosmu.update", ret)
        assert err and _raw_controls(out + err) == [], err


def test_update_lines_say_how_many_packages_were_downgraded():
    changes = {"a": {"old": "1.2", "new": "1.1", "downgrade": True}, "b": {"old": "1", "new": "2"}}
    ret = {"10.20.0.3": {"result": "OK", "changes": changes},
           "10.20.0.4": {"result": "OK", "changes": changes, "test": True},
           "summary": {"OK": 2}, "retcode": 0}
    assert report_lines("mosmu.update", ret)[0][:2] == [
        "Node 10.20.0.3: UPDATE=OK (2 packages upgraded, 1 of them downgraded)",
        "Node 10.20.0.4: UPDATE=OK (test mode, would upgrade 2 package(s), 1 of them downgraded)"]


def test_a_run_that_stopped_on_an_error_keeps_its_node_lines():
    ret = {"10.20.0.3": {"result": "OK", "changes": {}}, "summary": {"OK": 1},
           "error": "No space left on device (ENOSPC): /var/cache/salt/master/mosmu/locks",
           "retcode": 2}
    out, err, code = report_lines("mosmu.update", ret)
    assert out[0] == "Node 10.20.0.3: UPDATE=OK (already up to date)"
    assert err == [f"ERROR: {ret['error']}"] and code == 2


def test_runner_error_goes_to_stderr_with_exit_2():
    assert report_lines("mosmu.update", {"error": "Keystone rejected", "retcode": 2}) == (
        [], ["ERROR: Keystone rejected"], 2)


def test_runner_exception_text_is_a_failure():
    out, err, code = report_lines("mosmu.update", "Exception occurred in runner mosmu.update")
    assert out == [] and "did not return a report" in err[0] and code == 2


def test_missing_master_config_names_the_fix(tmp_path):
    with pytest.raises(UsageError) as info:
        compat.run(parse(["-c", str(tmp_path), "--env-id=1", "--check"]))
    assert info.value.code == 2 and "-c <config dir>" in str(info.value)
