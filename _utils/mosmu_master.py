"""Facts about the Fuel master itself: its admin IP and its own Fuel/MOS release.

Each fact comes from the master config first, then from the master's files (paths are
parameters), then from the API; a missing or unreadable source names the config key that
settles it. Values are validated like everything else that reaches a URL or a path.
"""

import yaml

import mosmu_validate
from mosmu_errors import ConfigError

ASTUTE_YAML = "/etc/fuel/astute.yaml"
VERSION_YAML = "/etc/fuel/version.yaml"
FUEL_RELEASE = "/etc/fuel_release"


def _read(path):
    """Text of ``path``, or ``(None, why)``."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(1 << 20), None
    except FileNotFoundError:
        return None, f"{path} does not exist"
    except (OSError, UnicodeDecodeError) as err:
        return None, f"{path} is unreadable ({err.__class__.__name__})"


def master_ip(configured=None, astute_path=ASTUTE_YAML):
    """The master's admin IP: ``configured`` (argument or ``mosmu:master_ip``), else astute.yaml.

    :param configured: ``master_ip=`` or ``mosmu:master_ip``, or None
    :param astute_path: the master's ``astute.yaml`` (``ADMIN_NETWORK.ipaddress``)
    :return: a dotted IPv4 string or a host name
    :raise ConfigError: naming ``mosmu:master_ip`` when nothing gives a valid value
    """
    source = "mosmu:master_ip"
    value = configured
    if value is None:
        text, why = _read(astute_path)
        if text is None:
            raise ConfigError(f"the master IP is unknown: {why}; set mosmu:master_ip in the "
                              "master config or pass master_ip=")
        try:
            data = yaml.safe_load(text)
            value = data["ADMIN_NETWORK"]["ipaddress"]
        except (yaml.YAMLError, KeyError, TypeError) as err:
            raise ConfigError(f"the master IP is unknown: {astute_path} has no "
                              "ADMIN_NETWORK.ipaddress; set mosmu:master_ip in the master "
                              "config") from err
        source = f"{astute_path} ADMIN_NETWORK.ipaddress"
    try:
        text = str(value) if not isinstance(value, (bool, list, dict)) else None
        try:
            return mosmu_validate.ipv4(text)
        except ValueError:
            return mosmu_validate.hostname(text)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}; set mosmu:master_ip in the master config") from err


def _release_of(text, path):
    """``VERSION.release`` of a version.yaml, or the one-line release of /etc/fuel_release."""
    if path.endswith((".yaml", ".yml")):
        data = yaml.safe_load(text)
        return data["VERSION"]["release"]
    return text.strip()


def master_version(configured=None, version_yaml=VERSION_YAML, fuel_release=FUEL_RELEASE,
                   api_version=None):
    """The master's own Fuel release, e.g. ``8.0`` or ``9.2``.

    Tried in order: ``configured`` (``mosmu:master_version``), ``version_yaml``
    (``VERSION.release``, Fuel <= 8.0), ``fuel_release`` (one line, Fuel 8.0+), then
    ``api_version`` -- a callable returning ``GET /api/v1/version`` (e.g.
    ``FuelClient.version``), called only when no file gives it.

    :return: ``(version, source)``
    :raise ConfigError: listing every source tried and naming ``mosmu:master_version``
    """
    tried = []
    if configured is not None:
        try:
            return mosmu_validate.mos_version(configured), "mosmu:master_version"
        except ValueError as err:
            raise ConfigError(f"mosmu:master_version: {err}") from err
    for path in (version_yaml, fuel_release):
        if path is None:
            continue
        text, why = _read(path)
        if text is None:
            tried.append(why)
            continue
        try:
            return mosmu_validate.mos_version(_release_of(text, path)), path
        except (yaml.YAMLError, KeyError, TypeError, ValueError) as err:
            tried.append(f"{path} holds no valid release ({str(err)[:80]})")
    if api_version is not None:
        data = api_version()
        try:
            release = data["release"]
            return mosmu_validate.mos_version(release), "GET /api/v1/version"
        except (KeyError, TypeError, ValueError) as err:
            tried.append(f"GET /api/v1/version gave no valid release ({str(err)[:80]})")
    raise ConfigError(f"the master's Fuel release is unknown: {'; '.join(tried) or 'no source'};"
                      " set mosmu:master_version in the master config")
