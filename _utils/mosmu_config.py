"""The ``mosmu:`` section of the master config: defaults and validation.

Secrets are resolved by the caller (``sdb://`` needs Salt) before :func:`load` sees them.
"""

import math
import os

import yaml

import mosmu_validate
from mosmu_errors import ConfigError

ASTUTE_YAML = "/etc/fuel/astute.yaml"
MATCHES = ("ip", "fqdn", "hostname")

DEFAULTS = {
    "fuel_url": None,
    "keystone_url": None,
    "username": "admin",
    "password": None,
    "tenant": "admin",
    "verify_tls": True,
    "timeout": 30,
    "master_ip": None,
    "mos_version": None,
    "mirror_upstream": "rsync://mirror.fuel-infra.org/mirror",
    "mirror_root": "/var/www/nailgun",
    "repo_url": "http://{master_ip}:8080",
    "match": "ip",
    "trusted": False,
    "apply_timeout": 3600,
    "catalog": None,          # rows added to / overriding the built-in release catalog
    "keep_snapshots": 3,      # published mirror snapshots kept for rollback
    "mirror_staging": None,   # default <dirname(mirror_root)>/.mosmu-staging (same filesystem)
    "mirror_key": None,       # ASCII-armoured key file signing the upstream trees
    "serial_roles": ["controller"],   # nodes with these roles are updated one at a time
    "serial_order": "first",  # serial-role nodes before ("first") or after ("last") the rest
}
SERIAL_ORDERS = ("first", "last")


def master_ip_from_astute(path=ASTUTE_YAML):
    """``ADMIN_NETWORK.ipaddress`` of the Fuel master's astute.yaml, or None."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        return data["ADMIN_NETWORK"]["ipaddress"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None


def read_key(path):
    """The text of an ASCII-armoured public key file (``mosmu:mirror_key``)."""
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ConfigError(f"mosmu:mirror_key {path!r} must be the absolute path of an "
                          "ASCII-armoured public key file")
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read(1 << 20)
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"mosmu:mirror_key {path}: cannot read it ({err}); fix the path or "
                          "export the key with gpg --armor --export") from err
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in text:
        raise ConfigError(f"mosmu:mirror_key {path} is not an ASCII-armoured public key; "
                          "export it with gpg --armor --export KEYID")
    return text


def load(raw, master_ip=None, astute_path=ASTUTE_YAML):
    """Validated config with defaults.

    :param raw: ``__opts__["mosmu"]`` with secrets already resolved
    :param master_ip: runner argument overriding config and astute.yaml
    :param astute_path: where to find the master IP when nothing else gives it
    """
    if raw is None:
        raise ConfigError("no mosmu: section in the master config; add one (see "
                          "docs/configuration.md), e.g. /etc/salt/master.d/mosmu.conf")
    if not isinstance(raw, dict):
        raise ConfigError("the mosmu: section of the master config must be a mapping")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown key(s) in the mosmu: master config: {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(DEFAULTS))}")
    cfg = dict(DEFAULTS, **raw)
    if not cfg["fuel_url"]:
        raise ConfigError("mosmu:fuel_url is not set in the master config; set it to Nailgun, "
                          "e.g. http://10.20.0.2:8000")
    if not cfg["password"]:
        raise ConfigError("mosmu:password is not set in the master config; set it (literal or "
                          "sdb://) there, never as a salt-run argument")
    try:
        for key in ("fuel_url", "keystone_url", "mirror_upstream"):
            value = cfg[key]
            if (key == "keystone_url" and value is None) or \
                    (key == "mirror_upstream" and os.path.isabs(str(value))):
                continue  # keystone_url defaults from fuel_url; a local upstream dir is fine
            cfg[key] = mosmu_validate.url(value, f"mosmu:{key}")
        cfg["master_ip"] = master_ip or cfg["master_ip"] or master_ip_from_astute(astute_path)
        if not cfg["master_ip"]:
            raise ConfigError(f"the master IP is unknown: {astute_path} is missing; set "
                              "mosmu:master_ip in the master config or pass master_ip=")
        cfg["master_ip"] = mosmu_validate.hostname(str(cfg["master_ip"]))
        cfg["repo_url"] = mosmu_validate.url(str(cfg["repo_url"]).format(
            master_ip=cfg["master_ip"]), "mosmu:repo_url")
        if cfg["mos_version"] is not None:
            cfg["mos_version"] = mosmu_validate.mos_version(cfg["mos_version"])
    except ValueError as err:
        raise ConfigError(f"{err}; fix the mosmu: master config") from err
    if cfg["match"] not in MATCHES:
        raise ConfigError(f"mosmu:match {cfg['match']!r} is not one of {', '.join(MATCHES)}")
    if not os.path.isabs(str(cfg["mirror_root"])):
        raise ConfigError(f"mosmu:mirror_root {cfg['mirror_root']!r} must be an absolute path")
    keep = cfg["keep_snapshots"]
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ConfigError(f"mosmu:keep_snapshots {keep!r} must be an integer >= 1")
    if cfg["mirror_staging"] is not None and not os.path.isabs(str(cfg["mirror_staging"])):
        raise ConfigError(f"mosmu:mirror_staging {cfg['mirror_staging']!r} must be an absolute "
                          "path on the mirror's filesystem")
    roles = cfg["serial_roles"]
    if isinstance(roles, str):
        roles = [r.strip() for r in roles.split(",") if r.strip()]
    try:
        if not isinstance(roles, list):
            raise ValueError(f"{roles!r} is not a list")
        cfg["serial_roles"] = [mosmu_validate.role(r) for r in roles]
    except ValueError as err:
        raise ConfigError(f"mosmu:serial_roles: {err}; give role names, e.g. [controller]") \
            from err
    if cfg["serial_order"] not in SERIAL_ORDERS:
        raise ConfigError(f"mosmu:serial_order {cfg['serial_order']!r} is not one of "
                          f"{', '.join(SERIAL_ORDERS)}")
    if cfg["mirror_key"] is not None:
        cfg["mirror_key"] = read_key(cfg["mirror_key"])
    tls = cfg["verify_tls"]
    if not isinstance(tls, bool) and not (isinstance(tls, str) and os.path.isabs(tls)):
        # None or 0 would silently turn TLS verification off in requests
        raise ConfigError(f"mosmu:verify_tls {tls!r} must be true, false or the absolute path "
                          "of a CA bundle")
    if not isinstance(cfg["trusted"], bool):
        # a string such as "no" would be true: nodes would skip signature checks
        raise ConfigError(f"mosmu:trusted {cfg['trusted']!r} must be true or false")
    for key in ("timeout", "apply_timeout"):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not 0 < value < math.inf:   # NaN and .inf are floats too: no bound at all
            raise ConfigError(f"mosmu:{key} {value!r} must be a positive number of seconds")
    return cfg
