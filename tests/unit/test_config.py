"""The mosmu: master config: safe defaults, and every value checked before it is used.

The security-relevant defaults (TLS verification on, timeouts set and positive, trusted off)
and every refusal of :func:`mosmu_config.load`: a bad value never reaches Nailgun, rsync or apt;
each refusal is one line naming the key to fix and the value, never the password; every
number has an upper bound.
"""

import os
import re

import pytest

import mosmu_config
from mosmu_errors import ConfigError
from sandbox import inventory as inv

KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF\n-----END PGP PUBLIC KEY BLOCK-----\n"


def _raw(**over):
    raw = {"fuel_url": "http://10.20.0.2:8000", "password": "s3cret", "master_ip": "10.20.0.2"}
    raw.update(over)
    return {k: val for k, val in raw.items() if val is not _DROP}


_DROP = object()


def _load(tmp_path, **over):
    return mosmu_config.load(_raw(**over), astute_path=str(tmp_path / "no-astute.yaml"))


def _names(message, *words):
    """The message names each word as a word of its own (the key, value or command to fix)."""
    for word in words:
        assert re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", message), (word, message)


def _refusal(tmp_path, raw=_DROP, **over):
    """The message of the ConfigError ``load`` raises (raw section given whole, or _raw)."""
    with pytest.raises(ConfigError) as err:
        if raw is _DROP:
            _load(tmp_path, **over)
        else:
            mosmu_config.load(raw, astute_path=str(tmp_path / "none"))
    return str(err.value)


# --- a minimal config: safe defaults, never shared between loads ----------------------------

def test_a_minimal_config_gets_safe_defaults(tmp_path):
    """TLS verified, signatures checked, every wait bounded: what an operator who sets only
    the three required keys gets (docs/configuration.md lists these defaults)."""
    cfg = _load(tmp_path)
    assert cfg["verify_tls"] is True and cfg["trusted"] is False
    assert cfg["timeout"] == 30 and cfg["apply_timeout"] == 3600
    assert cfg["keep_snapshots"] >= 1
    assert cfg["username"] == "admin" and cfg["tenant"] == "admin"
    assert cfg["repo_url"] == "http://10.20.0.2:8080"
    assert cfg["mirror_root"].startswith("/")
    assert cfg["mirror_upstream"] == "rsync://mirror.fuel-infra.org/mirror"
    assert cfg["match"] == "ip"
    assert cfg["serial_roles"] == ["controller", "ceph-osd"] and cfg["serial_order"] == "last"
    for key in ("keystone_url", "mos_version", "mirror_key", "catalog", "mirror_staging"):
        assert cfg[key] is None, key
    assert set(cfg) == set(mosmu_config.DEFAULTS)


def test_defaults_are_not_shared_between_loads(tmp_path):
    first = _load(tmp_path)
    first["serial_roles"].append("compute")
    assert mosmu_config.DEFAULTS["serial_roles"] == ["controller", "ceph-osd"]
    assert _load(tmp_path)["serial_roles"] == ["controller", "ceph-osd"]


# --- good values are kept, normalised; None means the default -------------------------------

@pytest.mark.parametrize("over, key, expected", [
    ({"fuel_url": "https://fuel.example:8443/"}, "fuel_url", "https://fuel.example:8443"),
    ({"keystone_url": "http://10.20.0.2:5000/v2.0/"}, "keystone_url",
     "http://10.20.0.2:5000/v2.0"),
    ({"mirror_upstream": "/srv/upstream"}, "mirror_upstream", "/srv/upstream"),
    ({"mirror_upstream": "rsync://m.example/mirror/"}, "mirror_upstream",
     "rsync://m.example/mirror"),
    ({"repo_url": "https://{master_ip}/repos/"}, "repo_url", "https://10.20.0.2/repos"),
    ({"mos_version": 8.0}, "mos_version", "8.0"),
    ({"match": "fqdn"}, "match", "fqdn"),
    ({"match": "hostname"}, "match", "hostname"),
    ({"keep_snapshots": 1}, "keep_snapshots", 1),
    ({"mirror_staging": "/srv/.staging"}, "mirror_staging", "/srv/.staging"),
    ({"serial_roles": "controller, ceph-osd,,"}, "serial_roles", ["controller", "ceph-osd"]),
    ({"serial_roles": []}, "serial_roles", []),
    ({"serial_order": "first"}, "serial_order", "first"),
    ({"timeout": 0.5}, "timeout", 0.5),
    ({"apply_timeout": 1}, "apply_timeout", 1),
    ({"verify_tls": False}, "verify_tls", False),
    ({"trusted": True}, "trusted", True),
    ({"master_ip": "fuel.example"}, "master_ip", "fuel.example"),
])
def test_good_values_are_kept_normalised(over, key, expected, tmp_path):
    assert _load(tmp_path, **over)[key] == expected


@pytest.mark.parametrize("value", [True, False, "/etc/ssl/certs/fuel-ca.pem"])
def test_verify_tls_good_values_are_kept(value, tmp_path):
    assert _load(tmp_path, verify_tls=value)["verify_tls"] == value


@pytest.mark.parametrize("key", ["timeout", "apply_timeout"])
@pytest.mark.parametrize("value", [1e-3, 1, 10 ** 6, 86400.0])
def test_small_and_large_finite_timeouts_are_kept(key, value, tmp_path):
    assert _load(tmp_path, **{key: value})[key] == value


def test_unset_optional_keys_are_not_validated_as_values(tmp_path):
    """None means "default" for keystone_url, mos_version, mirror_staging and mirror_key."""
    cfg = _load(tmp_path, keystone_url=None, mos_version=None, mirror_staging=None,
                mirror_key=None)
    assert (cfg["keystone_url"], cfg["mos_version"], cfg["mirror_staging"],
            cfg["mirror_key"]) == (None, None, None, None)


@pytest.mark.parametrize("path", ["/srv/upstream", "/srv/mos mirror"])
def test_local_upstream_dir_is_not_a_url(path, tmp_path):
    """An absolute mirror_upstream is a local directory: kept as given, never URL-checked."""
    assert _load(tmp_path, mirror_upstream=path)["mirror_upstream"] == path


# --- a bad value is refused in one line naming the key and the value, never the password ----

@pytest.mark.parametrize("over", [
    {"verify_ssl": False}, {"fuel_url_": "http://h"}, {"Timeout": 5},
    {"fuel_url": _DROP}, {"fuel_url": ""}, {"password": _DROP}, {"password": ""},
    {"fuel_url": "http://u:p@h"}, {"fuel_url": "file:///etc/passwd"},
    {"fuel_url": "http://h/\n"}, {"keystone_url": "http://h/?x=1"}, {"keystone_url": ""},
    {"mirror_upstream": "http://h/;rm"}, {"mirror_upstream": "relative/dir"},
    {"master_ip": "10.20.0.2;rm"}, {"master_ip": "-h"},
    {"repo_url": "ftp://{master_ip}/"}, {"repo_url": "http://{master_ip}:8080/?a"},
    {"mos_version": "8.0\n"}, {"mos_version": True}, {"mos_version": 8},
    {"match": "id"}, {"match": None},
    {"mirror_root": "var/www"}, {"mirror_root": ""},
    {"keep_snapshots": 0}, {"keep_snapshots": -1}, {"keep_snapshots": True},
    {"keep_snapshots": "3"}, {"keep_snapshots": 2.0},
    {"mirror_staging": "staging"}, {"mirror_staging": ""},
    {"serial_roles": "controller;rm"}, {"serial_roles": ["Controller"]},
    {"serial_roles": {"controller": 1}}, {"serial_roles": 5}, {"serial_roles": [None]},
    {"serial_order": "middle"}, {"serial_order": None},
    {"mirror_key": "relative.asc"}, {"mirror_key": 5},
    {"timeout": 0}, {"timeout": -1}, {"timeout": True}, {"timeout": "30"}, {"timeout": None},
    {"apply_timeout": 0}, {"apply_timeout": -0.5}, {"apply_timeout": False},
    {"apply_timeout": "3600"}, {"apply_timeout": None},
])
def test_a_bad_value_or_a_missing_required_key_is_refused(over, tmp_path):
    with pytest.raises(ConfigError):
        _load(tmp_path, **over)


# Each refusal names the config key to fix and the refused value (its repr where the value is
# not a plain word), so an operator sees which line of the master config is wrong.
@pytest.mark.parametrize("over, needles", [
    ({"fuel_url": _DROP}, ["mosmu:fuel_url"]),
    ({"password": None}, ["mosmu:password", "sdb://"]),
    ({"fuel_url": "file:///etc/passwd"}, ["mosmu:fuel_url", "'file:///etc/passwd'"]),
    ({"fuel_url": 8000}, ["mosmu:fuel_url", "8000"]),
    ({"keystone_url": "http://u:p@h:5000"}, ["mosmu:keystone_url", "'http://u:p@h:5000'"]),
    ({"mirror_upstream": "ftp://m/x"}, ["mosmu:mirror_upstream", "'ftp://m/x'"]),
    ({"master_ip": "10.20.0.2;rm"}, ["'10.20.0.2;rm'", "fix the mosmu: master config"]),
    ({"repo_url": "ftp://{master_ip}/"}, ["mosmu:repo_url", "'ftp://10.20.0.2/'"]),
    ({"repo_url": "http://{master_ip}:8080/?a"}, ["mosmu:repo_url"]),
    ({"mos_version": "8.0\n"}, ["'8.0\\n'"]),
    ({"match": "id"}, ["mosmu:match", "'id'", "ip", "fqdn", "hostname"]),
    ({"mirror_root": "var/www"}, ["mosmu:mirror_root", "'var/www'"]),
    ({"keep_snapshots": -7}, ["mosmu:keep_snapshots", "-7"]),
    ({"keep_snapshots": "3"}, ["mosmu:keep_snapshots", "'3'"]),
    ({"mirror_staging": "staging"}, ["mosmu:mirror_staging", "'staging'"]),
    ({"serial_roles": {"controller": 1}}, ["mosmu:serial_roles", "{'controller': 1}"]),
    ({"serial_roles": 5}, ["mosmu:serial_roles", "5 is not a list"]),
    ({"serial_roles": ["Controller"]}, ["mosmu:serial_roles", "'Controller'"]),
    ({"serial_order": "middle"}, ["mosmu:serial_order", "'middle'", "first", "last"]),
    ({"mirror_key": "relative.asc"}, ["mosmu:mirror_key", "'relative.asc'"]),
    ({"timeout": 0}, ["mosmu:timeout"]),
    ({"timeout": -3}, ["mosmu:timeout", "-3"]),
    ({"apply_timeout": -0.5}, ["mosmu:apply_timeout", "-0.5"]),
    ({"apply_timeout": "3600"}, ["mosmu:apply_timeout", "'3600'"]),
    ({"verify_tls": None}, ["mosmu:verify_tls", "None"]),
    ({"trusted": "no"}, ["mosmu:trusted", "'no'"]),
])
def test_refusal_names_the_key_and_the_value(over, needles, tmp_path):
    _names(_refusal(tmp_path, **over), *needles)


@pytest.mark.parametrize("raw", [[], "fuel_url: x", 5, ("fuel_url",)])
def test_a_section_that_is_not_a_mapping_is_named(raw, tmp_path):
    _names(_refusal(tmp_path, raw=raw), "mosmu:")


def test_a_missing_section_names_where_to_add_it(tmp_path):
    message = _refusal(tmp_path, raw=None)
    _names(message, "mosmu:", "/etc/salt/master.d/mosmu.conf", "docs/configuration.md")


def test_every_unknown_key_is_named_with_the_known_ones(tmp_path):
    message = _refusal(tmp_path, verify_ssl=False, Timeout=5)
    _names(message, "verify_ssl", "Timeout")
    _names(message, "verify_tls", "apply_timeout")   # the known keys: the fix for a typo


def test_a_refusal_never_carries_the_password(tmp_path):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, password="hunter2-secret", timeout=0)
    assert "hunter2-secret" not in str(err.value)


# verify_tls: True, False or an absolute CA bundle path. None or 0 would reach requests as a
# false value and silently turn TLS verification off; a string "no" would be taken as a path.
@pytest.mark.parametrize("value", [None, 0, 1, "", "no", "false", "ca.pem", ["/ca.pem"], 1.0])
def test_verify_tls_must_be_a_bool_or_an_absolute_ca_bundle(value, tmp_path):
    _names(_refusal(tmp_path, verify_tls=value), "mosmu:verify_tls", repr(value))


# trusted turns signature checks off on every node: only a real bool may do that.
@pytest.mark.parametrize("value", [None, "no", "false", "yes", 0, 1, "", [True]])
def test_trusted_must_be_a_bool(value, tmp_path):
    _names(_refusal(tmp_path, trusted=value), "mosmu:trusted", repr(value))


@pytest.mark.parametrize("key", ["timeout", "apply_timeout"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), float("-inf"), -1e-9, 0.0])
def test_timeouts_must_be_finite_and_positive(key, value, tmp_path):
    _names(_refusal(tmp_path, **{key: value}), f"mosmu:{key}", repr(value))


@pytest.mark.parametrize("key, good, bad", [
    ("timeout", 10 ** 6, [10 ** 6 + 1, 1e300, 10 ** 400]),
    ("apply_timeout", 10 ** 6, [10 ** 6 + 1, 1e300, 10 ** 400]),
    ("keep_snapshots", 100, [101, 10 ** 12]),
])
def test_every_number_of_the_config_has_an_upper_bound(key, good, bad, tmp_path):
    """mosmu:timeout: 1e300 was accepted; socket timeouts and waits then raise OverflowError
    mid-run (a traceback, not a message)."""
    assert _load(tmp_path, **{key: good})[key] == good
    for value in bad:
        with pytest.raises(ConfigError) as err:
            _load(tmp_path, **{key: value})
        text = str(err.value)
        assert text.startswith(f"mosmu:{key} ") and f"{good}" in text and "\n" not in text


# --- the master's address: the argument, else the config, else the Fuel master's astute.yaml ---

def test_the_master_ip_argument_wins_over_config_then_astute(tmp_path):
    astute = tmp_path / "astute.yaml"
    astute.write_text("ADMIN_NETWORK:\n  ipaddress: 10.20.0.9\n")
    raw = _raw()
    assert mosmu_config.load(raw, master_ip="10.20.0.7", astute_path=str(astute))[
        "master_ip"] == "10.20.0.7"
    assert mosmu_config.load(raw, astute_path=str(astute))["master_ip"] == "10.20.0.2"
    raw = _raw(master_ip=_DROP)
    cfg = mosmu_config.load(raw, astute_path=str(astute))
    assert cfg["master_ip"] == "10.20.0.9" and cfg["repo_url"] == "http://10.20.0.9:8080"


def test_an_unknown_master_ip_names_the_key_and_the_astute_file(tmp_path):
    astute = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as err:
        mosmu_config.load(_raw(master_ip=_DROP), astute_path=str(astute))
    _names(str(err.value), "mosmu:master_ip", str(astute), "master_ip=")


@pytest.mark.parametrize("text", [
    "", "ADMIN_NETWORK: 5\n", "ADMIN_NETWORK:\n  netmask: 255.0.0.0\n", "[1, 2]\n",
    "ADMIN_NETWORK: {ipaddress: [\n",
])
def test_an_astute_file_without_an_address_gives_none(text, tmp_path):
    path = tmp_path / "astute.yaml"
    path.write_text(text)
    assert mosmu_config.master_ip_from_astute(str(path)) is None


def test_the_astute_address_is_read(tmp_path):
    path = tmp_path / "astute.yaml"
    path.write_text("ADMIN_NETWORK:\n  ipaddress: 10.20.0.2\n")
    assert mosmu_config.master_ip_from_astute(str(path)) == "10.20.0.2"
    assert mosmu_config.master_ip_from_astute(str(tmp_path / "missing")) is None


def test_master_ip_from_the_real_fuel_8_astute_fixture():
    path = os.path.join(inv.DATA, "fuel-library_8.0_noop_master_astute.yaml")
    assert mosmu_config.master_ip_from_astute(path) == "10.109.0.2"


# --- the mirror key: an armoured public key in an absolute file, read bounded ---------------

def test_the_mirror_key_is_read_as_text(tmp_path):
    path = tmp_path / "key.asc"
    path.write_text(KEY)
    assert _load(tmp_path, mirror_key=str(path))["mirror_key"] == KEY
    assert mosmu_config.read_key(str(path)) == KEY


@pytest.mark.parametrize("content", [
    b"", b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n", b"\x99\x01\x0d binary key",
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\xe9\n".encode("latin-1"),
])
def test_a_mirror_key_that_is_not_an_armoured_public_key_is_refused(content, tmp_path):
    path = tmp_path / "key"
    path.write_bytes(content)
    with pytest.raises(ConfigError):
        mosmu_config.read_key(str(path))


def test_mirror_key_must_be_plain_ascii(tmp_path):
    """An armoured key is 7-bit text: UTF-8 bytes mean a corrupted or wrong file."""
    path = tmp_path / "key.asc"
    path.write_bytes(KEY.replace("mQENBF", "mQENBF\u00e9").encode("utf-8"))
    with pytest.raises(ConfigError) as err:
        mosmu_config.read_key(str(path))
    _names(str(err.value), str(path), "gpg --armor --export")


@pytest.mark.parametrize("path", [None, 5, "key.asc", ""])
def test_a_mirror_key_path_refusal_names_the_key_and_path(path):
    with pytest.raises(ConfigError) as err:
        mosmu_config.read_key(path)
    _names(str(err.value), "mosmu:mirror_key", repr(path))


def test_an_unreadable_mirror_key_names_the_path_and_the_export_command(tmp_path):
    path = tmp_path / "missing.asc"
    with pytest.raises(ConfigError) as err:
        mosmu_config.read_key(str(path))
    _names(str(err.value), str(path), "gpg --armor --export")


def test_a_mirror_key_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        mosmu_config.read_key(str(tmp_path))


def test_the_mirror_key_read_is_bounded(tmp_path):
    path = tmp_path / "big.asc"
    path.write_text("x" * (1 << 20) + KEY)   # the header lies past the first MiB
    with pytest.raises(ConfigError):
        mosmu_config.read_key(str(path))


def test_a_private_key_is_refused_naming_the_export_command(tmp_path):
    path = tmp_path / "secret.asc"
    path.write_text("-----BEGIN PGP PRIVATE KEY BLOCK-----\n")
    with pytest.raises(ConfigError) as err:
        mosmu_config.read_key(str(path))
    _names(str(err.value), str(path), "gpg --armor --export")
