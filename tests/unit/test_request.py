"""Runner arguments become one validated Request before any I/O."""

import dataclasses

import pytest

import mosmu_request
from mosmu_errors import ConfigError


def _parse(**kwargs):
    return mosmu_request.parse(kwargs, mosmu_request.ALL)


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
    assert mosmu_request.parse({}, mosmu_request.SYNC, require_env=False).envs == ()


def test_unknown_argument_is_named_with_a_suggestion_and_the_known_ones():
    with pytest.raises(ConfigError) as err:
        mosmu_request.parse({"enviroment": 1}, mosmu_request.UPDATE)
    text = str(err.value)
    assert "enviroment (did you mean env?)" in text
    assert "known: accept_partial, all_envs, batch, env, interval, master_ip, max_failures" in text


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
