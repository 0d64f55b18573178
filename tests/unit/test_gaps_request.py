"""Gaps mutation testing found in the runner's argument gate (mosmu issue 10).

Bounds of every count, every flag spelling, batch percentages, node keys by kind, and the
rule that a status which never means "deployed" cannot be declared deployed."""

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
