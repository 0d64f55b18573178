"""The ``mosmu:`` section of the master config: defaults and validation.

Secrets are resolved by the caller (``sdb://`` needs Salt) before :func:`load` sees them.
"""

import os
import re

import yaml

import mosmu_finish
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
    "serial_roles": ["controller", "ceph-osd"],   # updated one at a time, in this order
    "serial_order": "last",   # serial-role nodes after ("last": computes restart first, as
                              # Mirantis' MU playbooks do) or before ("first") the rest
    "finish": None,           # restart and health-check rules (mosmu_finish)
    "transport": "auto",      # minion, ssh, or auto: the minion where one maps, else ssh
    "ssh": None,              # the ssh transport (SSH_DEFAULTS); None: no ssh transport
}
SERIAL_ORDERS = ("first", "last")
# upper bounds: a timeout beyond these is a typo, and near 1e300 sockets and waits overflow
MAX_SECONDS = {"timeout": 10 ** 6, "apply_timeout": 10 ** 6}     # ~11.5 days
MAX_KEEP = 100
TRANSPORTS = ("auto", "minion", "ssh")
SSH_DEFAULTS = {
    "priv": "/root/.ssh/id_rsa",   # the Fuel master's root key (Fuel installs it on nodes)
    "user": "root",
    "port": 22,
    "host": "{ip}",                # address template: {ip} {id} {fqdn} {hostname}
    "hosts": {},                   # per admin IP: {host, port, user, root}
    "known_hosts": None,           # default <pki_dir>/ssh/mosmu_known_hosts (the runner's)
    "accept_new_hostkeys": False,  # record unknown nodes' keys (a changed key is refused)
    "ssh_options": [],             # extra -o options, e.g. ProxyJump=root@10.20.0.2
    "timeout": 10,                 # connect timeout, seconds
    "command_timeout": 900,        # one round trip (refresh, simulation), seconds
    "parallel": 16,                # ssh nodes worked on at once in a wave
}
HOST_FIELDS = ("ip", "id", "fqdn", "hostname")
# options that would weaken or redirect what mosmu sets itself
RESERVED_SSH_OPTIONS = ("stricthostkeychecking", "userknownhostsfile", "globalknownhostsfile",
                        "controlmaster", "controlpath", "controlpersist", "batchmode",
                        "identityfile", "port", "user", "localcommand", "permitlocalcommand")


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


def _int(value, key, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"mosmu:{key} {value!r} must be a whole number from {low} to {high}")
    return value


def _abs(value, key):
    if not isinstance(value, str) or not os.path.isabs(value) or "\n" in value:
        raise ConfigError(f"mosmu:{key} {value!r} must be an absolute path")
    return value


def _ssh_host(key, entry):
    if not isinstance(entry, dict) or set(entry) - {"host", "port", "user", "root"}:
        raise ConfigError(f"mosmu:ssh:hosts:{key} must be a mapping of host, port, user, root")
    out = {}
    try:
        mosmu_validate.ipv4(str(key))
        if "host" in entry:
            out["host"] = mosmu_validate.hostname(str(entry["host"]))
        if "user" in entry:
            out["user"] = mosmu_validate.word(str(entry["user"]), "user")
    except ValueError as err:
        raise ConfigError(f"mosmu:ssh:hosts:{key}: {err}; key the map by admin IP") from err
    if "port" in entry:
        out["port"] = _int(entry["port"], f"ssh:hosts:{key}:port", 1, 65535)
    if "root" in entry:
        out["root"] = _abs(entry["root"], f"ssh:hosts:{key}:root")
    return str(key), out


def ssh_config(raw):
    """The validated ``mosmu:ssh`` section (None stays None: no ssh transport)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("mosmu:ssh must be a mapping (see docs/configuration.md)")
    unknown = sorted(set(raw) - set(SSH_DEFAULTS))
    if unknown:
        hint = ("; a key with a passphrase: load it into an ssh-agent of the salt-master's "
                "user (SSH_AUTH_SOCK) and point priv at it") if "passphrase" in unknown else ""
        raise ConfigError(f"unknown key(s) in mosmu:ssh: {', '.join(unknown)}; known: "
                          f"{', '.join(sorted(SSH_DEFAULTS))}{hint}")
    cfg = dict(SSH_DEFAULTS, **raw)
    cfg["priv"] = _abs(cfg["priv"], "ssh:priv")
    if cfg["known_hosts"] is not None:
        cfg["known_hosts"] = _abs(cfg["known_hosts"], "ssh:known_hosts")
    try:
        cfg["user"] = mosmu_validate.word(str(cfg["user"]), "user")
    except ValueError as err:
        raise ConfigError(f"mosmu:ssh:user: {err}") from err
    cfg["port"] = _int(cfg["port"], "ssh:port", 1, 65535)
    cfg["timeout"] = _int(cfg["timeout"], "ssh:timeout", 1, 600)
    cfg["command_timeout"] = _int(cfg["command_timeout"], "ssh:command_timeout", 10, 86400)
    cfg["parallel"] = _int(cfg["parallel"], "ssh:parallel", 1, 256)
    if not isinstance(cfg["accept_new_hostkeys"], bool):
        raise ConfigError(f"mosmu:ssh:accept_new_hostkeys {cfg['accept_new_hostkeys']!r} must "
                          "be true or false")
    template = cfg["host"]
    try:
        if not isinstance(template, str):
            raise ValueError("not a string")
        template.format(**dict.fromkeys(HOST_FIELDS, "x"))
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"mosmu:ssh:host {template!r} must be a host name or a template of "
                          f"{', '.join('{' + f + '}' for f in HOST_FIELDS)}") from err
    if not isinstance(cfg["hosts"], dict):
        raise ConfigError("mosmu:ssh:hosts must map admin IPs to {host, port, user, root}")
    cfg["hosts"] = dict(_ssh_host(k, v) for k, v in cfg["hosts"].items())
    options = cfg["ssh_options"]
    if not isinstance(options, list) or not all(
            isinstance(o, str) and re.fullmatch(r"[A-Za-z]+=[^\s]+", o) for o in options):
        raise ConfigError(f"mosmu:ssh:ssh_options {options!r} must be a list of Key=Value "
                          "ssh options, e.g. [ProxyJump=root@10.20.0.2]")
    reserved = [o for o in options if o.split("=")[0].lower() in RESERVED_SSH_OPTIONS]
    if reserved:
        raise ConfigError(f"mosmu:ssh:ssh_options {', '.join(reserved)}: mosmu sets these "
                          "itself (host keys, key, port, user, connection sharing); use "
                          "mosmu:ssh:known_hosts, priv, port, user, hosts instead")
    return cfg


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
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEEP:
        raise ConfigError(f"mosmu:keep_snapshots {keep!r} must be an integer >= 1 and "
                          f"<= {MAX_KEEP}")
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
    try:
        for distro, family in mosmu_finish.ROWS:
            mosmu_finish.load(distro, f"{family}.0", cfg["finish"])
    except ValueError as err:
        raise ConfigError(f"{err}; fix the mosmu: master config (docs/configuration.md)") \
            from err
    if cfg["mirror_key"] is not None:
        cfg["mirror_key"] = read_key(cfg["mirror_key"])
    if cfg["transport"] not in TRANSPORTS:
        raise ConfigError(f"mosmu:transport {cfg['transport']!r} is not one of "
                          f"{', '.join(TRANSPORTS)}")
    cfg["ssh"] = ssh_config(cfg["ssh"])
    if cfg["transport"] == "ssh" and cfg["ssh"] is None:
        raise ConfigError("mosmu:transport is ssh but there is no mosmu:ssh section; add one "
                          "(ssh: {} takes the Fuel master's /root/.ssh/id_rsa)")
    tls = cfg["verify_tls"]
    if not isinstance(tls, bool) and not (isinstance(tls, str) and os.path.isabs(tls)):
        # None or 0 would silently turn TLS verification off in requests
        raise ConfigError(f"mosmu:verify_tls {tls!r} must be true, false or the absolute path "
                          "of a CA bundle")
    if not isinstance(cfg["trusted"], bool):
        # a string such as "no" would be true: nodes would skip signature checks
        raise ConfigError(f"mosmu:trusted {cfg['trusted']!r} must be true or false")
    for key, high in MAX_SECONDS.items():
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not 0 < value <= high:   # NaN fails too; a huge one overflows socket timeouts
            raise ConfigError(f"mosmu:{key} {value!r} must be a positive number of seconds, "
                              f"at most {high}")
    return cfg
