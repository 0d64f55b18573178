"""Validators for every value that reaches a command line, a file name or a URL.

Inventory data comes from an API we do not control: each value is checked here before use.
Each function returns the normalised value or raises ``ValueError`` with a short reason.
"""

import ipaddress
import re

# Every pattern is used with re.fullmatch: "$" alone lets a trailing newline through.
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_ROLE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_MOS_VERSION = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}(\.[0-9]{1,2})?(-mu-[0-9]{1,2})?")
_WORD = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_URL = re.compile(r"(https?|rsync)://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/\-]*)?")
_PATH_PART = re.compile(r"[A-Za-z0-9._+-]{1,128}")


def ipv4(value):
    """An IPv4 address as a dotted string."""
    if not isinstance(value, str):
        raise ValueError(f"ip {value!r} is not a string")
    try:
        return str(ipaddress.IPv4Address(value))
    except ipaddress.AddressValueError as err:
        raise ValueError(f"ip {value!r} is not an IPv4 address") from err


def hostname(value):
    """A DNS name (hostname or FQDN), max 253 characters."""
    if not isinstance(value, str) or not value or len(value) > 253:
        raise ValueError(f"host name {value!r} is not a DNS name")
    if not all(_HOST_LABEL.fullmatch(label) for label in value.split(".")):
        raise ValueError(f"host name {value!r} is not a DNS name")
    return value


def role(value):
    """A Nailgun role name (core or plugin), e.g. ``compute``, ``ceph-osd``."""
    if not isinstance(value, str) or not _ROLE.fullmatch(value):
        raise ValueError(f"role {value!r} is not a role name")
    return value


def mos_version(value):
    """A MOS version such as ``8.0``, ``5.1.1`` or a frozen MU snapshot ``8.0-mu-3``.

    YAML may have typed ``8.0`` as a float; a bool or any other type is refused.
    """
    if isinstance(value, bool) or not isinstance(value, (str, float)):
        raise ValueError(f"MOS version {value!r} is not of the form 8.0 or 9.2")
    text = str(value)
    if not _MOS_VERSION.fullmatch(text):
        raise ValueError(f"MOS version {value!r} is not of the form 8.0, 9.2 or 8.0-mu-3")
    return text


def word(value, what="value"):
    """A lower-case identifier (repo name, OS platform, distro)."""
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a lower-case identifier")
    return value


def url(value, what="URL"):
    """An http(s):// or rsync:// URL without credentials, query or odd characters."""
    if not isinstance(value, str) or not _URL.fullmatch(value.rstrip("/") or "x"):
        raise ValueError(f"{what} {value!r} is not a plain http(s):// or rsync:// URL")
    return value.rstrip("/")


def node_id(value):
    """A positive integer id (bool is rejected although it is an int)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"id {value!r} is not a positive integer")
    return value


def relpath(value, what="path"):
    """A relative path of plain parts (``mos-repos/ubuntu/8.0``): no ``..``, no leading ``/``."""
    if not isinstance(value, str) or not value or len(value) > 512:
        raise ValueError(f"{what} {value!r} is not a relative path")
    parts = value.strip("/").split("/") if not value.startswith("/") else ["/"]
    if not all(_PATH_PART.fullmatch(p) and p not in (".", "..") for p in parts):
        raise ValueError(f"{what} {value!r} is not a relative path of plain names")
    return "/".join(parts)


def filename(value, what="file name"):
    """One plain file name (no directory part)."""
    if not isinstance(value, str) or not _PATH_PART.fullmatch(value) or value.startswith("."):
        raise ValueError(f"{what} {value!r} is not a plain file name")
    return value
