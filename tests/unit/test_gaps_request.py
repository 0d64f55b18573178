"""Gaps mutation testing found in the runner's argument gate (mosmu issue 10).

Bounds of every count, every flag spelling, batch percentages, node keys by kind, and the
rule that a status which never means "deployed" cannot be declared deployed."""

import contextlib

import pytest

import mosmu_request as r
from mosmu_errors import ConfigError


def _p(**kw):
    return r.parse(dict({"env": 1}, **kw), r.ALL)


def test_defaults_of_a_bare_request():
    req = _p()
    assert req.envs == (1,) and req.all_envs is False and req.roles == () and req.nodes == ()
    assert req.offline is False and req.sync is True and req.test is False
    assert req.batch is None and req.interval == 0 and req.max_failures == 0
    assert req.statuses == ("ready", "error") and req.retry_failed is False
    assert req.repos == () and req.mos_version is None and req.master_ip is None


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("true", True), ("YES", True), ("False", False), ("no", False),
])
def test_flag_spellings(value, expected):
    for name in ("offline", "test", "retry_failed", "sync"):
        assert getattr(_p(**{name: value}), name) is expected


@pytest.mark.parametrize("value", ["1", "0", "y", "on", 1, 0, 1.0, "", [True]])
def test_flag_non_booleans_are_refused(value):
    with pytest.raises(ConfigError):
        _p(test=value)


@pytest.mark.parametrize("value, expected", [
    (1, 1), ("7", 7), ("1%", "1%"), ("100%", "100%"), ("025%", "25%"), (" 50 %", "50%"),
])
def test_batch_counts_and_percentages(value, expected):
    assert _p(batch=value).batch == expected


@pytest.mark.parametrize("value", [0, "0", -1, "0%", "101%", "%", "x%", "1.5%", "٣%", True,
                                   1.0, "١", "-1"])
def test_batch_out_of_range_is_refused(value):
    with pytest.raises(ConfigError):
        _p(batch=value)


@pytest.mark.parametrize("name", ["interval", "max_failures"])
def test_counts_from_zero(name):
    assert getattr(_p(**{name: 0}), name) == 0
    assert getattr(_p(**{name: "12"}), name) == 12
    for bad in (-1, "-1", True, 1.5, "x", "²"):
        with pytest.raises(ConfigError):
            _p(**{name: bad})


@pytest.mark.parametrize("value, expected", [
    (11, (11,)), ("11", (11,)), ("011", (11,)), ("1, 2,1", (1, 2)), ([3, "4"], (3, 4)),
])
def test_env_ids(value, expected):
    assert r.parse({"env": value}, r.ALL).envs == expected


@pytest.mark.parametrize("value", [0, "0", -3, True, 1.0, "1.5", "x", "١", ",", [[1]], {"a": 1},
                                   [None]])
def test_bad_env_ids_are_refused(value):
    with pytest.raises(ConfigError):
        r.parse({"env": value}, r.ALL)


def test_exactly_one_of_env_and_all_envs():
    assert r.parse({"all_envs": True}, r.ALL).envs == ()
    with pytest.raises(ConfigError):
        r.parse({"env": 1, "all_envs": True}, r.ALL)
    with pytest.raises(ConfigError):
        r.parse({}, r.ALL)
    with pytest.raises(ConfigError):
        r.parse({"all_envs": False}, r.ALL)
    assert r.parse({}, r.SYNC, require_env=False).envs == ()


def test_salt_keys_are_ignored_and_unknown_arguments_refused():
    assert _p(__pub_user="root", __pub_jid="1").envs == (1,)
    with pytest.raises(ConfigError):
        _p(batchsize=2)
    with pytest.raises(ConfigError):
        r.parse({"env": 1, "batch": 2}, r.NODES)   # batch belongs to update only


@pytest.mark.parametrize("value, expected", [
    (7, (7,)), ("7", (7,)), ("10.20.0.3", ("10.20.0.3",)), ("node-4", ("node-4",)),
    ("node-4.domain.tld", ("node-4.domain.tld",)), ("7,7, node-4", (7, "node-4")),
])
def test_node_keys(value, expected):
    assert _p(nodes=value).nodes == expected


@pytest.mark.parametrize("value", [0, True, 1.0, "10.20.0.300", "1.2.3", "node 4", "-x",
                                   "node;rm", "a" * 64])
def test_bad_node_keys_are_refused(value):
    with pytest.raises(ConfigError):
        _p(nodes=value)


@pytest.mark.parametrize("key, kind", [
    (5, "id"), ("10.20.0.3", "ip"), ("1.2", "ip"), ("node-1.x", "fqdn"), ("node-1", "hostname"),
    ("123", "hostname"), ("1a.2", "fqdn"),
])
def test_node_key_kind(key, kind):
    assert r.node_key_kind(key) == kind


def test_node_keys_split_by_kind():
    req = _p(nodes="7,10.20.0.3,node-4,node-5.x")
    assert req.node_keys() == {"id": {7}, "ip": {"10.20.0.3"}, "fqdn": {"node-5.x"},
                               "hostname": {"node-4"}}


@pytest.mark.parametrize("value", ["discover", "provisioning", "deploying", "removing", "",
                                   ",", "Ready"])
def test_statuses_that_never_mean_deployed_are_refused(value):
    with pytest.raises(ConfigError):
        _p(statuses=value)


def test_statuses_override():
    assert _p(statuses="ready,stopped,ready").statuses == ("ready", "stopped")
    assert _p(statuses=["provisioned"]).statuses == ("provisioned",)


def test_repos_roles_versions_and_master_ip():
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


def test_request_is_frozen():
    with pytest.raises(AttributeError):
        _p().test = True


# -- every argument: its accepted forms, and a refusal that names the argument to fix ---------

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
    assert getattr(r.parse(kw, r.ALL), name if name != "env" else "envs") == expected


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
        r.parse(kw, r.ALL)
    assert f"{name}=" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["offline", "test", "retry_failed", "sync", "all_envs"])
def test_flag_refusal_names_the_value_and_the_fix(name):
    kw = {name: "maybe"} if name == "all_envs" else {"env": 1, name: "maybe"}
    with pytest.raises(ConfigError) as err:
        r.parse(kw, r.ALL)
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
        r.parse({"env": 1, typo: 1}, r.ALL)
    text = str(err.value)
    assert f"{typo} (did you mean {suggestion}?)" in text
    assert "known: " + ", ".join(sorted(r.ALL)) in text


def test_unknown_arguments_are_all_named_and_a_far_one_gets_no_suggestion():
    with pytest.raises(ConfigError) as err:
        r.parse({"env": 1, "zzzzzz": 1, "qqqq": 2, 7: 1}, r.ALL)
    text = str(err.value)
    assert "7, qqqq, zzzzzz;" in text and "did you mean" not in text
    with pytest.raises(ConfigError) as err:
        r.parse({"env": 1, "repos": "updates"}, r.STATUS)
    assert "repos" in str(err.value) and "known: " + ", ".join(sorted(r.STATUS)) in str(err.value)


@pytest.mark.parametrize("allowed", [r.NODES, r.STATUS, r.UPDATE, r.SYNC])
def test_each_runner_accepts_its_own_arguments(allowed):
    kw = {"env": "1", "mos_version": "8.0", "repos": "updates", "roles": "compute",
          "nodes": "1", "offline": True, "master_ip": "10.20.0.2", "statuses": "ready",
          "sync": False, "batch": 2, "interval": 1, "test": True, "max_failures": 1,
          "retry_failed": True, "all_envs": False}
    req = r.parse({k: v for k, v in kw.items() if k in allowed}, allowed)
    assert req.envs == (1,)
    for name in ("nodes", "batch", "interval", "max_failures", "retry_failed"):
        with pytest.raises(ConfigError) if name not in allowed else contextlib.nullcontext():
            r.parse({"env": 1, name: kw[name]}, allowed)


def test_salt_keys_only_with_two_underscores_are_ignored():
    assert r.parse({"env": 1, "__pub_arg": [1], "__x": None}, r.ALL) == r.Request(envs=(1,))
    with pytest.raises(ConfigError):
        r.parse({"env": 1, "_pub_arg": 1}, r.ALL)


def test_sync_runner_may_go_without_env():
    req = r.parse({"mos_version": "8.0"}, r.SYNC, require_env=False)
    assert req.envs == () and req.all_envs is False and req.mos_version == "8.0"
    with pytest.raises(ConfigError):
        r.parse({"mos_version": "8.0"}, r.SYNC)
    assert r.parse({"env": 2}, r.SYNC, require_env=False).envs == (2,)
    with pytest.raises(ConfigError):
        r.parse({"env": ""}, r.SYNC, require_env=False)
    with pytest.raises(ConfigError):
        r.parse({"env": 2, "all_envs": "yes"}, r.SYNC, require_env=False)


def test_full_request_equals_the_spec():
    kw = {"env": "2,1", "roles": "compute", "nodes": "node-4,7", "offline": "yes",
          "repos": ["security"], "mos_version": 9.0, "master_ip": "10.20.0.2", "sync": "no",
          "batch": "25%", "interval": "30", "test": "true", "statuses": "ready,stopped",
          "max_failures": "2", "retry_failed": True, "__pub_user": "root"}
    assert r.parse(kw, r.UPDATE) == r.Request(
        envs=(2, 1), all_envs=False, roles=("compute",), nodes=("node-4", 7), offline=True,
        repos=("security",), mos_version="9.0", master_ip="10.20.0.2", sync=False, batch="25%",
        interval=30, test=True, statuses=("ready", "stopped"), max_failures=2,
        retry_failed=True)
    assert r.parse({"all_envs": "YES"}, r.ALL) == r.Request(all_envs=True)


@pytest.mark.parametrize("value, words", [
    ([[1]], "nested list"), ([(1,)], "nested tuple"), ([{"a": 1}], "nested dict"),
    ([{1}], "nested set"), ([None], "nested NoneType"), (object(), "not object"),
])
def test_items_refuses_nested_values_naming_the_argument(value, words):
    with pytest.raises(ConfigError) as err:
        r._items(value, "nodes")
    assert str(err.value).startswith("nodes=") and words in str(err.value)


def test_items_forms():
    assert r._items(None, "x") == [] and r._items("", "x") == [] and r._items(" , ", "x") == []
    assert r._items("a, b,,c ", "x") == ["a", "b", "c"]
    assert r._items(5, "x") == [5] and r._items(2.5, "x") == [2.5]
    assert r._items(("a", " b ", ""), "x") == ["a", "b"] and r._items([3, "4"], "x") == [3, "4"]


def test_node_keys_of_a_request_without_nodes():
    assert r.Request().node_keys() == {"id": set(), "ip": set(), "fqdn": set(),
                                       "hostname": set()}
