"""Runner arguments become one validated Request before any I/O.

Every argument has its accepted forms (Salt's YAML typing included: ``env=011`` is 11,
``yes`` is True) and bounds; a bad value, an unknown argument or a positional one is refused in
one line naming the argument to fix; a status that never means "deployed" cannot be declared
deployed; nodes are keyed by id, ip, fqdn or hostname.
"""

import contextlib
import dataclasses
import importlib.util

import pytest

import mosmu_request
from mosmu_errors import ConfigError


def _parse(**kwargs):
    return mosmu_request.parse(kwargs, mosmu_request.ALL)


def _p(**kw):
    return mosmu_request.parse(dict({"env": 1}, **kw), mosmu_request.ALL)


# --- choosing environments, unknown and Salt's own arguments --------------------------------

@pytest.mark.parametrize("env, expected", [
    (11, (11,)), ("11", (11,)), ("011", (11,)), ("1,2", (1, 2)), ([3, "4"], (3, 4)),
    (" 5 , 5 ", (5,)),
])
def test_env_forms(env, expected):
    assert _parse(env=env).envs == expected


@pytest.mark.parametrize("env, words", [
    (1.5, "env=1.5 is not a whole number"),
    ("1.5", "env='1.5' is not a number"),
    ("abc", "env='abc' is not a number"),
    (0, "env=0 is not an environment id"),
    (-1, "env=-1 is not an environment id"),
    ("-1", "env='-1' is not a number"),
    (True, "env=True is a boolean"),
    (False, "env=False is a boolean"),
    ("", "env= is empty"),
    ({"a": 1}, "env= must be a value"),
    ([[1]], "nested list"),
])
def test_env_refused_with_one_line_naming_it(env, words):
    with pytest.raises(ConfigError) as err:
        _parse(env=env)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_exactly_one_of_env_and_all_envs():
    with pytest.raises(ConfigError, match="not both"):
        _parse(env=1, all_envs=True)
    with pytest.raises(ConfigError, match="no environment chosen"):
        _parse()
    assert _parse(all_envs=True).envs == ()
    assert _parse(all_envs="yes").all_envs is True
    with pytest.raises(ConfigError):
        _parse(all_envs=False)
    assert mosmu_request.parse({}, mosmu_request.SYNC, require_env=False).envs == ()


def test_unknown_argument_is_named_with_a_suggestion_and_the_known_ones():
    with pytest.raises(ConfigError) as err:
        mosmu_request.parse({"enviroment": 1}, mosmu_request.UPDATE)
    text = str(err.value)
    assert "enviroment (did you mean env?)" in text
    assert "known: accept_partial, all_envs, batch, checks, env, interval, master_ip" in text


def test_argument_of_another_function_is_unknown():
    with pytest.raises(ConfigError, match=r"unknown argument.*batch"):
        mosmu_request.parse({"env": 1, "batch": 2}, mosmu_request.NODES)


def test_salt_private_keys_are_ignored():
    req = mosmu_request.parse({"env": 1, "__pub_user": "root", "__pub_jid": "2024",
                               "__pub_fun": "runner.mosmu.update"}, mosmu_request.UPDATE)
    assert req.envs == (1,)


def test_defaults_and_full_request():
    req = _parse(env=1)
    assert req == mosmu_request.Request(envs=(1,))
    assert (req.sync, req.test, req.offline, req.batch, req.interval) == (True, False, False,
                                                                         None, 0)
    assert req.statuses == ("ready", "error")
    full = _parse(env="1", roles="compute,cinder,compute", nodes="10.20.0.3,node-4,7,"
                  "node-5.domain.local", offline=True, repos=["security", "proposed"],
                  mos_version=8.0, master_ip="10.20.0.2", sync=False, batch=5, interval=60,
                  test=True, statuses="ready")
    assert full.roles == ("compute", "cinder")
    assert full.nodes == ("10.20.0.3", "node-4", 7, "node-5.domain.local")
    assert full.node_keys() == {"id": {7}, "ip": {"10.20.0.3"}, "fqdn": {"node-5.domain.local"},
                                "hostname": {"node-4"}}
    assert full.repos == ("security", "proposed") and full.mos_version == "8.0"
    assert (full.sync, full.batch, full.interval, full.test) == (False, 5, 60, True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.env = 2  # pylint: disable=assigning-non-slot


@pytest.mark.parametrize("kwargs, words", [
    ({"roles": "compute;rm"}, "roles=: role 'compute;rm' is not a role name"),
    ({"roles": "Compute"}, "not a role name"),
    ({"nodes": "10.20.0.999"}, "nodes=: ip '10.20.0.999' is not an IPv4 address"),
    ({"nodes": "$(reboot)"}, "nodes=: host name"),
    ({"nodes": "node-1;id"}, "nodes=: host name"),
    ({"nodes": "node-1\n"}, None),  # surrounding whitespace of CLI items is trimmed
    ({"nodes": 1.5}, "nodes= item 1.5"),
    ({"nodes": 0}, "nodes=: id 0"),
    ({"offline": "maybe"}, "offline='maybe' is not a boolean"),
    ({"test": 1}, "test=1 is not a boolean"),
    ({"sync": None, "test": []}, "test=[] is not a boolean"),
    ({"repos": "updates,bogus"}, "repos=: unknown repo 'bogus'"),
    ({"mos_version": "8"}, "mos_version=: MOS version '8'"),
    ({"mos_version": True}, "mos_version=: MOS version True"),
    ({"master_ip": "10.20.0.256"}, "master_ip=: ip '10.20.0.256'"),
    ({"master_ip": "evil;host"}, "master_ip=: host name"),
    ({"batch": 0}, "batch=0 must be a whole number >= 1"),
    ({"batch": True}, "batch=True must be"),
    ({"interval": -1}, "interval=-1 must be a whole number >= 0"),
    ({"interval": 1.5}, "interval=1.5 must be"),
    ({"statuses": "ready,deploying"}, "'deploying' cannot count as deployed"),
    ({"statuses": ""}, "nothing cannot count"),
])
def test_bad_arguments(kwargs, words):
    if words is None:
        assert _parse(env=1, **kwargs).nodes == ("node-1",)
        return
    with pytest.raises(ConfigError) as err:
        _parse(env=1, **kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_counts_from_strings():
    req = _parse(env=1, batch="3", interval="0", max_failures="2")
    assert (req.batch, req.interval, req.max_failures) == (3, 0, 2)


def test_batch_percentage_max_failures_and_retry_failed():
    req = _parse(env=1, batch="25%", max_failures=1, retry_failed=True)
    assert (req.batch, req.max_failures, req.retry_failed) == ("25%", 1, True)
    assert _parse(env=1).max_failures == 0 and _parse(env=1).retry_failed is False
    for bad, words in (("0%", "not a percentage"), ("150%", "not a percentage"),
                       ("x%", "not a percentage")):
        with pytest.raises(ConfigError, match=words):
            _parse(env=1, batch=bad)
    with pytest.raises(ConfigError, match="max_failures=-1 must be"):
        _parse(env=1, max_failures=-1)
    with pytest.raises(ConfigError, match=r"unknown argument.*retry_failed"):
        mosmu_request.parse({"env": 1, "retry_failed": True}, mosmu_request.NODES)


# --- every argument of every runner function: bad values end as one line naming it ----------

NAN, INF = float("nan"), float("inf")
FLAG_BAD = ["maybe", 1, 0.0, [True], "nan", "inf", NAN, {"a": 1}]
COUNT_BAD = [-1, "-1", 99999999999, "9" * 40, "abc", "nan", "inf", NAN, INF, -INF, 1.5, [1],
             True, False, {"a": 1}]
BAD = {
    "env": [-1, 0, "abc", 2 ** 31, "9" * 40, "nan", "inf", NAN, INF, [[1]], True, {"a": 1},
            1.5],
    "all_envs": FLAG_BAD,
    "roles": [5, "a;b", [[1]], NAN, True, "nan;x"],
    "nodes": [True, 1.5, -1, 0, 2 ** 31, "9" * 40, INF, NAN, [[1]], {"a": 1}, "inf;x"],
    "offline": FLAG_BAD, "sync": FLAG_BAD, "test": FLAG_BAD, "retry_failed": FLAG_BAD,
    "rollback": FLAG_BAD, "verify": FLAG_BAD, "accept_partial": FLAG_BAD,
    "checks": FLAG_BAD, "restart": FLAG_BAD,
    "repos": ["bogus", 5, [[1]], "nan", True, NAN],
    "mos_version": ["8", 8, True, [8.0], NAN, INF, "inf", "nan", {"a": 1}],
    "master_ip": [5, "10.20.0.300", True, [1], NAN, "a b", {"a": 1}],
    "statuses": ["discover", [None], True, "nan", NAN, [], [[1]]],
    "batch": [*COUNT_BAD, 0, "0", "101%", "0%", "9" * 40 + "%", "nan%", "abc%", 10001],
    "interval": [*COUNT_BAD, 86401],
    "max_failures": [*COUNT_BAD, 10001],
    "transport": ["ftp", ["ssh"], 5, True, NAN, {"ssh": 1}],
    "distro": ["debian", ["ubuntu"], 5, True, NAN, "nan"],
}
CASES = [(function, name, value) for function, allowed in
         sorted(mosmu_request.FUNCTIONS.items()) for name in sorted(allowed)
         for value in BAD[name]]


def _call(function, **kwargs):
    """Parse as the runner function does (sync and snapshots need no env)."""
    allowed = mosmu_request.FUNCTIONS[function]
    needs_env = function in ("nodes", "update", "status")
    if needs_env and not {"env", "all_envs"} & set(kwargs):
        kwargs["env"] = 1
    return mosmu_request.parse(kwargs, allowed, require_env=needs_env)


def test_every_argument_of_every_function_has_bad_values_in_the_table():
    assert set(BAD) == set().union(*mosmu_request.FUNCTIONS.values())


@pytest.mark.parametrize("function, name, value", CASES,
                         ids=[f"{f}-{n}-{v!r}" for f, n, v in CASES])
def test_a_bad_value_of_any_argument_is_refused_naming_the_argument(function, name, value):
    with pytest.raises(ConfigError) as err:
        _call(function, **{name: value})
    text = str(err.value)
    assert f"{name}=" in text and "\n" not in text and len(text) < 400


@pytest.mark.parametrize("function", sorted(mosmu_request.FUNCTIONS))
def test_an_unknown_argument_is_refused_naming_it_and_the_accepted_ones(function):
    with pytest.raises(ConfigError) as err:
        _call(function, zzzzzz=1)
    text = str(err.value)
    assert "unknown argument(s): zzzzzz;" in text
    assert "known: " + ", ".join(sorted(mosmu_request.FUNCTIONS[function])) in text


@pytest.mark.parametrize("name, low, high", [
    ("env", 1, 2 ** 31 - 1), ("nodes", 1, 2 ** 31 - 1), ("batch", 1, 10000),
    ("interval", 0, 86400), ("max_failures", 0, 10000),
])
def test_every_number_is_bounded_and_the_bounds_are_accepted(name, low, high):
    field = {"env": "envs"}.get(name, name)
    for good in (low, high, str(high)):
        value = getattr(_call("update", **{name: good}), field)
        assert value in (good, (good,), int(good), (int(good),))
    for bad in (low - 1, high + 1):
        with pytest.raises(ConfigError) as err:
            _call("update", **{name: bad})
        assert f"{name}=" in str(err.value)


def test_interval_beyond_a_day_is_refused_naming_the_range():
    """interval=99999999999 used to be accepted; time.sleep then raised OverflowError after
    the first wave and that wave's results were lost."""
    with pytest.raises(ConfigError) as err:
        _call("update", interval=99999999999)
    assert str(err.value) == ("interval=99999999999 must be a whole number >= 0 and <= 86400 "
                              "(seconds)")


@pytest.mark.parametrize("value", ["abc", "1.5", [2], True, 0, "nan", "2x"])
def test_a_bad_batch_says_a_count_or_a_percentage_is_allowed(value):
    """batch=abc used to say only 'must be a whole number >= 1': N% was not mentioned."""
    with pytest.raises(ConfigError) as err:
        _call("update", batch=value)
    assert "batch=N or batch=N%" in str(err.value) and "1% to 100%" in str(err.value)


def test_a_huge_digit_string_is_refused_without_converting_it():
    with pytest.raises(ConfigError, match=r"^env='9999"):
        _call("update", env="9" * 5000)   # int() of 5000 digits raises ValueError itself


# --- sync and snapshots: the same gate, every accepted form kept ----------------------------

@pytest.mark.parametrize("kwargs, expected", [
    ({"mos_version": 8.0}, {"mos_version": "8.0", "distro": "ubuntu"}),
    ({"mos_version": "6.1", "distro": "centos"}, {"distro": "centos"}),
    ({"mos_version": "8.0", "repos": "updates,security"}, {"repos": ("updates", "security")}),
    ({"env": 11}, {"envs": (11,)}), ({"all_envs": True}, {"all_envs": True}),
    ({"rollback": True, "mos_version": "8.0"}, {"rollback": True}),
    ({"rollback": "yes", "mos_version": "8.0"}, {"rollback": True}),
    ({"test": "true", "mos_version": "8.0"}, {"test": True}),
    ({"verify": True, "mos_version": "8.0"}, {"verify": True}),
    ({}, {"verify": False, "rollback": False, "test": False, "distro": "ubuntu"}),
])
def test_sync_forms(kwargs, expected):
    req = _call("sync", **kwargs)
    assert {k: getattr(req, k) for k in expected} == expected


def test_snapshots_takes_only_a_tree():
    assert _call("snapshots", mos_version=8.0, distro="centos").distro == "centos"
    with pytest.raises(ConfigError, match=r"unknown argument.*repos"):
        _call("snapshots", mos_version="8.0", repos="security")


# --- positional arguments, the preview command ----------------------------------------------

@pytest.mark.parametrize("function, args, words", [
    ("update", (1,), "positional argument '1': give name=value, e.g. env=1; mosmu.update "
                     "takes accept_partial, all_envs, batch, checks, env,"),
    ("nodes", ("11", "x"), "positional argument '11': give name=value, e.g. env=11;"),
    ("status", ([1, 2],), "positional argument '[1, 2]': give name=value"),
    ("sync", (8.0,), "positional argument '8.0': give name=value, e.g. mos_version=8.0; "
                     "mosmu.sync takes all_envs, distro, env,"),
    ("snapshots", ("8.0",), "e.g. mos_version=8.0; mosmu.snapshots takes distro, mos_version"),
    ("update", ("a\nb" * 30,), "positional argument 'a ba ba b"),
])
def test_a_positional_argument_is_named_with_the_name_value_form(function, args, words):
    text = mosmu_request.positional_error(function, args)
    assert words in text and "\n" not in text


@pytest.mark.parametrize("kwargs, command", [
    ({"env": "2,1"}, "salt-run mosmu.nodes env=2,1"),
    ({"all_envs": True, "roles": "compute", "retry_failed": True, "batch": "25%",
      "interval": 60, "max_failures": 2, "sync": False, "test": True},
     "salt-run mosmu.nodes all_envs=True roles=compute"),
    ({"env": 1, "nodes": "node-4,7", "offline": True, "repos": "security",
      "mos_version": "8.0", "master_ip": "10.20.0.2", "statuses": "stopped",
      "transport": "ssh"},
     "salt-run mosmu.nodes env=1 nodes=node-4,7 offline=True repos=security mos_version=8.0 "
     "master_ip=10.20.0.2 statuses=stopped transport=ssh"),
])
def test_the_preview_command_names_the_same_selection_and_nothing_else(kwargs, command):
    """The advice 'see salt-run mosmu.nodes with the same arguments' used to fail when those
    arguments included retry_failed, batch or interval (mosmu.nodes refuses them)."""
    req = _call("update", **kwargs)
    assert mosmu_request.nodes_command(req) == command
    again = dict(arg.split("=", 1) for arg in command.split()[2:])
    preview = mosmu_request.parse(again, mosmu_request.NODES)
    for field in ("envs", "all_envs", "roles", "nodes", "offline", "repos", "mos_version",
                  "master_ip", "statuses", "transport"):
        assert getattr(preview, field) == getattr(req, field)


# --- defaults, flags, counts, batch, env ids, node keys, statuses ---------------------------
def test_a_bare_request_updates_ready_and_error_nodes_one_env_at_a_time():
    req = _p()
    assert req.envs == (1,) and req.all_envs is False and req.roles == () and req.nodes == ()
    assert req.offline is False and req.sync is True and req.test is False
    assert req.batch is None and req.interval == 0 and req.max_failures == 0
    assert req.statuses == ("ready", "error") and req.retry_failed is False
    assert req.repos == () and req.mos_version is None and req.master_ip is None


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("true", True), ("YES", True), ("False", False), ("no", False),
])
def test_a_flag_is_a_bool_or_its_yaml_spellings(value, expected):
    for name in ("offline", "test", "retry_failed", "sync"):
        assert getattr(_p(**{name: value}), name) is expected


@pytest.mark.parametrize("value", ["1", "0", "y", "on", 1, 0, 1.0, "", [True]])
def test_a_flag_is_never_a_number_or_a_bare_letter(value):
    with pytest.raises(ConfigError):
        _p(test=value)


@pytest.mark.parametrize("value, expected", [
    (1, 1), ("7", 7), ("1%", "1%"), ("100%", "100%"), ("025%", "25%"), (" 50 %", "50%"),
])
def test_batch_is_a_count_or_a_percentage_written_plainly(value, expected):
    assert _p(batch=value).batch == expected


@pytest.mark.parametrize("value", [0, "0", -1, "0%", "101%", "%", "x%", "1.5%", "٣%", True,
                                   1.0, "١", "-1"])
def test_batch_outside_1_to_100_percent_or_not_ascii_is_refused(value):
    with pytest.raises(ConfigError):
        _p(batch=value)


@pytest.mark.parametrize("name", ["interval", "max_failures"])
def test_interval_and_max_failures_count_from_zero(name):
    assert getattr(_p(**{name: 0}), name) == 0
    assert getattr(_p(**{name: "12"}), name) == 12
    for bad in (-1, "-1", True, 1.5, "x", "²"):
        with pytest.raises(ConfigError):
            _p(**{name: bad})


@pytest.mark.parametrize("value, expected", [
    (11, (11,)), ("11", (11,)), ("011", (11,)), ("1, 2,1", (1, 2)), ([3, "4"], (3, 4)),
])
def test_env_is_one_or_more_positive_ids(value, expected):
    assert mosmu_request.parse({"env": value}, mosmu_request.ALL).envs == expected


@pytest.mark.parametrize("value", [0, "0", -3, True, 1.0, "1.5", "x", "١", ",", [[1]], {"a": 1},
                                   [None]])
def test_an_env_that_is_not_a_positive_id_is_refused(value):
    with pytest.raises(ConfigError):
        mosmu_request.parse({"env": value}, mosmu_request.ALL)


@pytest.mark.parametrize("value, expected", [
    (7, (7,)), ("7", (7,)), ("10.20.0.3", ("10.20.0.3",)), ("node-4", ("node-4",)),
    ("node-4.domain.tld", ("node-4.domain.tld",)), ("7,7, node-4", (7, "node-4")),
])
def test_nodes_are_ids_ips_or_names_deduplicated(value, expected):
    assert _p(nodes=value).nodes == expected


@pytest.mark.parametrize("value", [0, True, 1.0, "10.20.0.300", "1.2.3", "node 4", "-x",
                                   "node;rm", "a" * 64])
def test_a_node_key_that_is_no_id_ip_or_name_is_refused(value):
    with pytest.raises(ConfigError):
        _p(nodes=value)


@pytest.mark.parametrize("key, kind", [
    (5, "id"), ("10.20.0.3", "ip"), ("1.2", "ip"), ("node-1.x", "fqdn"), ("node-1", "hostname"),
    ("123", "hostname"), ("1a.2", "fqdn"),
])
def test_a_node_key_s_kind_follows_its_form(key, kind):
    assert mosmu_request.node_key_kind(key) == kind


def test_node_keys_split_by_kind():
    req = _p(nodes="7,10.20.0.3,node-4,node-5.x")
    assert req.node_keys() == {"id": {7}, "ip": {"10.20.0.3"}, "fqdn": {"node-5.x"},
                               "hostname": {"node-4"}}


@pytest.mark.parametrize("value", ["discover", "provisioning", "deploying", "removing", "",
                                   ",", "Ready"])
def test_statuses_that_never_mean_deployed_are_refused(value):
    with pytest.raises(ConfigError):
        _p(statuses=value)


def test_statuses_may_be_overridden_without_duplicates():
    assert _p(statuses="ready,stopped,ready").statuses == ("ready", "stopped")
    assert _p(statuses=["provisioned"]).statuses == ("provisioned",)


def test_repos_roles_version_and_master_ip_are_validated():
    req = _p(repos="updates,security,updates", roles="compute, ceph-osd",
             mos_version=8.0, master_ip="10.20.0.2")
    assert req.repos == ("updates", "security") and req.roles == ("compute", "ceph-osd")
    assert req.mos_version == "8.0" and req.master_ip == "10.20.0.2"
    assert _p(master_ip="fuel.domain").master_ip == "fuel.domain"
    for bad in ({"repos": "update"}, {"roles": "Compute"}, {"mos_version": "8"},
                {"master_ip": "10.20.0.256"}, {"master_ip": "fuel;rm"}, {"roles": [["x"]]},
                {"repos": object()}):
        with pytest.raises(ConfigError):
            _p(**bad)


def test_a_request_is_frozen():
    with pytest.raises(AttributeError):
        _p().test = True


# --- every argument: its accepted forms, and a refusal that names the argument to fix -----

@pytest.mark.parametrize("name, value, expected", [
    ("env", "1,,2", (1, 2)), ("env", ["2", 1, " 3 "], (2, 1, 3)), ("env", (4,), (4,)),
    ("env", "1", (1,)), ("env", 1, (1,)),
    ("roles", "compute,,cinder", ("compute", "cinder")), ("roles", ["ceph-osd"], ("ceph-osd",)),
    ("roles", None, ()),
    ("nodes", "7,,node-4", (7, "node-4")), ("nodes", ["10.20.0.3", 1], ("10.20.0.3", 1)),
    ("nodes", "node-4.Domain.tld", ("node-4.Domain.tld",)), ("nodes", None, ()),
    ("repos", "security, updates", ("security", "updates")), ("repos", ["holdback"], ("holdback",)),
    ("repos", "proposed,,proposed", ("proposed",)), ("repos", None, ()),
    ("statuses", "ready, error", ("ready", "error")), ("statuses", ["stopped", "stopped"],
                                                       ("stopped",)),
    ("statuses", None, ("ready", "error")),
    ("mos_version", "9.2", "9.2"), ("mos_version", "8.0-mu-3", "8.0-mu-3"), ("mos_version", None,
                                                                            None),
    ("master_ip", "10.20.0.2", "10.20.0.2"), ("master_ip", "fuel", "fuel"),
    ("master_ip", "fuel-1.domain", "fuel-1.domain"),
    ("batch", None, None), ("batch", "100", 100), ("batch", "1%", "1%"),
    ("interval", None, 0), ("interval", 3600, 3600), ("interval", "0", 0),
    ("max_failures", None, 0), ("max_failures", 1, 1), ("max_failures", "3", 3),
    ("retry_failed", "yes", True), ("retry_failed", None, False),
    ("offline", "no", False), ("offline", None, False), ("test", None, False),
    ("sync", None, True), ("sync", "NO", False), ("all_envs", None, False),
])
def test_each_argument_form(name, value, expected):
    kw = {name: value}
    if name != "env":
        kw["env"] = 1
    req = mosmu_request.parse(kw, mosmu_request.ALL)
    assert getattr(req, name if name != "env" else "envs") == expected


@pytest.mark.parametrize("name, value", [
    ("env", [b"1"]), ("env", object()), ("env", "1,x"), ("env", [1, True]), ("env", "+1"),
    ("env", " "), ("env", []),
    ("roles", "compute;rm"), ("roles", [None]), ("roles", {"compute"}), ("roles", 5),
    ("nodes", [1.5]), ("nodes", [False]), ("nodes", "node_4"), ("nodes", {"a": 1}),
    ("nodes", "10.20.0"), ("nodes", "-1"), ("nodes", [[7]]),
    ("repos", "updates,bogus"), ("repos", [5]), ("repos", "Updates"), ("repos", [["updates"]]),
    ("repos", {"updates": 1}),
    ("statuses", "ready,discover"), ("statuses", [None]), ("statuses", ["ready", 1]),
    ("statuses", []), ("statuses", "error,removing"),
    ("mos_version", "8"), ("mos_version", 8), ("mos_version", "8.0;x"),
    ("master_ip", 5), ("master_ip", "10.20.0.300"), ("master_ip", "fuel master"),
    ("master_ip", True),
    ("batch", "0"), ("batch", -5), ("batch", "50%%"), ("batch", "101%"), ("batch", 1.5),
    ("batch", "2 %x"), ("batch", [2]),
    ("interval", "-1"), ("interval", "1.0"), ("interval", False), ("interval", [1]),
    ("max_failures", "-1"), ("max_failures", 2.0), ("max_failures", True), ("max_failures", "x"),
    ("retry_failed", "1"), ("retry_failed", 1), ("retry_failed", "ja"),
    ("offline", 0), ("offline", "off"), ("sync", "y"), ("test", "t"), ("all_envs", "all"),
    ("all_envs", 1),
])
def test_each_argument_refusal_names_the_argument(name, value):
    kw = {name: value}
    if name not in ("env", "all_envs"):
        kw["env"] = 1
    with pytest.raises(ConfigError) as err:
        mosmu_request.parse(kw, mosmu_request.ALL)
    assert f"{name}=" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["offline", "test", "retry_failed", "sync", "all_envs"])
def test_flag_refusal_names_the_value_and_the_fix(name):
    kw = {name: "maybe"} if name == "all_envs" else {"env": 1, name: "maybe"}
    with pytest.raises(ConfigError) as err:
        mosmu_request.parse(kw, mosmu_request.ALL)
    text = str(err.value)
    assert "'maybe'" in text and f"{name}=True" in text


@pytest.mark.parametrize("name, minimum", [("batch", 1), ("interval", 0), ("max_failures", 0)])
def test_count_refusal_names_the_minimum(name, minimum):
    assert getattr(_p(**{name: minimum}), name) == minimum
    with pytest.raises(ConfigError) as err:
        _p(**{name: minimum - 1})
    assert f"{name}={minimum - 1}" in str(err.value) and f">= {minimum}" in str(err.value)


@pytest.mark.parametrize("typo, suggestion", [
    ("enviroment", "env"), ("all_env", "all_envs"), ("role", "roles"), ("node", "nodes"),
    ("ofline", "offline"), ("batchsize", "batch"), ("intervall", "interval"),
    ("max_failure", "max_failures"), ("retry", "retry_failed"), ("status", "statuses"),
    ("mos-version", "mos_version"), ("masterip", "master_ip"), ("repo", "repos"),
])
def test_unknown_argument_is_refused_with_the_closest_known_name(typo, suggestion):
    with pytest.raises(ConfigError) as err:
        mosmu_request.parse({"env": 1, typo: 1}, mosmu_request.ALL)
    text = str(err.value)
    assert f"{typo} (did you mean {suggestion}?)" in text
    assert "known: " + ", ".join(sorted(mosmu_request.ALL)) in text


def test_unknown_arguments_are_all_named_and_a_far_one_gets_no_suggestion():
    with pytest.raises(ConfigError) as err:
        mosmu_request.parse({"env": 1, "zzzzzz": 1, "qqqq": 2, 7: 1}, mosmu_request.ALL)
    text = str(err.value)
    assert "7, qqqq, zzzzzz;" in text and "did you mean" not in text
    with pytest.raises(ConfigError) as err:
        mosmu_request.parse({"env": 1, "repos": "updates"}, mosmu_request.STATUS)
    known = "known: " + ", ".join(sorted(mosmu_request.STATUS))
    assert "repos" in str(err.value) and known in str(err.value)


@pytest.mark.parametrize("allowed", [mosmu_request.NODES, mosmu_request.STATUS,
                                     mosmu_request.UPDATE, mosmu_request.SYNC])
def test_each_runner_accepts_its_own_arguments(allowed):
    kw = {"env": "1", "mos_version": "8.0", "repos": "updates", "roles": "compute",
          "nodes": "1", "offline": True, "master_ip": "10.20.0.2", "statuses": "ready",
          "sync": False, "batch": 2, "interval": 1, "test": True, "max_failures": 1,
          "retry_failed": True, "all_envs": False}
    req = mosmu_request.parse({k: v for k, v in kw.items() if k in allowed}, allowed)
    assert req.envs == (1,)
    for name in ("nodes", "batch", "interval", "max_failures", "retry_failed"):
        with pytest.raises(ConfigError) if name not in allowed else contextlib.nullcontext():
            mosmu_request.parse({"env": 1, name: kw[name]}, allowed)


def test_salt_keys_only_with_two_underscores_are_ignored():
    assert mosmu_request.parse({"env": 1, "__pub_arg": [1], "__x": None},
                               mosmu_request.ALL) == mosmu_request.Request(envs=(1,))
    with pytest.raises(ConfigError):
        mosmu_request.parse({"env": 1, "_pub_arg": 1}, mosmu_request.ALL)


def test_sync_runner_may_go_without_env():
    req = mosmu_request.parse({"mos_version": "8.0"}, mosmu_request.SYNC, require_env=False)
    assert req.envs == () and req.all_envs is False and req.mos_version == "8.0"
    with pytest.raises(ConfigError):
        mosmu_request.parse({"mos_version": "8.0"}, mosmu_request.SYNC)
    assert mosmu_request.parse({"env": 2}, mosmu_request.SYNC, require_env=False).envs == (2,)
    with pytest.raises(ConfigError):
        mosmu_request.parse({"env": ""}, mosmu_request.SYNC, require_env=False)
    with pytest.raises(ConfigError):
        mosmu_request.parse({"env": 2, "all_envs": "yes"}, mosmu_request.SYNC, require_env=False)


def test_full_request_equals_the_spec():
    kw = {"env": "2,1", "roles": "compute", "nodes": "node-4,7", "offline": "yes",
          "repos": ["security"], "mos_version": 9.0, "master_ip": "10.20.0.2", "sync": "no",
          "batch": "25%", "interval": "30", "test": "true", "statuses": "ready,stopped",
          "max_failures": "2", "retry_failed": True, "__pub_user": "root"}
    assert mosmu_request.parse(kw, mosmu_request.UPDATE) == mosmu_request.Request(
        envs=(2, 1), all_envs=False, roles=("compute",), nodes=("node-4", 7), offline=True,
        repos=("security",), mos_version="9.0", master_ip="10.20.0.2", sync=False, batch="25%",
        interval=30, test=True, statuses=("ready", "stopped"), max_failures=2,
        retry_failed=True)
    assert mosmu_request.parse({"all_envs": "YES"}, mosmu_request.ALL) == \
        mosmu_request.Request(all_envs=True)


@pytest.mark.parametrize("value, words", [
    ([[1]], "nested list"), ([(1,)], "nested tuple"), ([{"a": 1}], "nested dict"),
    ([{1}], "nested set"), ([None], "nested NoneType"), (object(), "not object"),
])
def test_a_list_argument_must_be_flat_and_the_refusal_names_it(value, words):
    with pytest.raises(ConfigError) as err:
        _p(nodes=value)
    assert str(err.value).startswith("nodes=") and words in str(err.value)


def test_a_list_argument_is_a_comma_string_a_list_or_one_value_blanks_dropped():
    assert _p(nodes=None).nodes == _p(nodes="").nodes == _p(nodes=" , ").nodes == ()
    assert _p(roles="a, b,,c ").roles == ("a", "b", "c")
    assert _p(nodes=5).nodes == (5,)
    assert _p(roles=("a", " b ", "")).roles == ("a", "b") and _p(nodes=[3, "4"]).nodes == (3, 4)


def test_node_keys_of_a_request_without_nodes():
    assert mosmu_request.Request().node_keys() == {"id": set(), "ip": set(), "fqdn": set(),
                                                   "hostname": set()}


# -- one table of arguments: parsing, the unknown-argument check and the docs --------------

def test_each_function_takes_and_documents_exactly_its_rows_of_the_table():
    for function, names in mosmu_request.FUNCTIONS.items():
        doc = mosmu_request.describe(function)
        listed = [line.strip() for line in doc.splitlines() if not line.startswith(" " * 8)]
        assert sorted(listed) == sorted(names), function
        for arg in mosmu_request.ARGS:
            if function in arg.functions:
                assert " ".join(arg.doc_for(function).split()) in " ".join(doc.split())


def test_a_new_argument_is_one_row_of_the_table(tmp_path):
    """A scratch copy of the module with one more row: parsed, defaulted, refused where it
    does not belong, suggested when misspelt and documented, with no other edit."""
    with open(mosmu_request.__file__, encoding="utf-8") as handle:
        source = handle.read()
    row = ('    Arg("reboot", _UPDATE, _boolean, False, "Reboot each node whose kernel '
           'changed."),\n')
    source = source.replace("ARGS = (\n", "ARGS = (\n" + row, 1)
    path = tmp_path / "mosmu_request_scratch.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("mosmu_request_scratch", path)
    scratch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scratch)
    assert scratch.parse({"env": 1, "reboot": "yes"}, scratch.UPDATE).reboot is True
    assert scratch.parse({"env": 1}, scratch.UPDATE).reboot is False
    with pytest.raises(ConfigError, match=r"reboot=5 is not a boolean"):
        scratch.parse({"env": 1, "reboot": 5}, scratch.UPDATE)
    with pytest.raises(ConfigError, match=r"unknown argument\(s\): reboot"):
        scratch.parse({"env": 1, "reboot": True}, scratch.STATUS)
    with pytest.raises(ConfigError, match=r"reboo \(did you mean reboot\?\)"):
        scratch.parse({"env": 1, "reboo": True}, scratch.UPDATE)
    assert "    reboot\n        Reboot each node whose kernel changed." in \
        scratch.describe("update")
