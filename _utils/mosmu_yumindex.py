"""yum repository metadata on the master's mirror: repomd.xml -> primary -> rpms.

:class:`Yum` is the yum backend of the mirror (one shape with ``mosmu_aptindex.Apt``): a unit
is a repo dir inside the tree (where ``repodata/`` is). It reads and verifies a repo's
metadata (XML without DTDs), checks ``repomd.xml.asc`` with gpgv (``mosmu_gpg``), lists a
snapshot's package versions and orders rpm versions.
"""

import os
import re
import xml.etree.ElementTree as ET

import mosmu_gpg
import mosmu_index
from mosmu_errors import MirrorError

YUM_ANCHORS = ("repodata/repomd.xml", "repodata/repomd.xml.asc")
REPO_NS = "{http://linux.duke.edu/metadata/repo}"
COMMON_NS = "{http://linux.duke.edu/metadata/common}"
RPM_NS = "{http://linux.duke.edu/metadata/rpm}"
ALGOS = {"sha256": "sha256", "sha": "sha1", "sha1": "sha1", "sha512": "sha512"}


def _xml(raw, rel):
    """Parse repo metadata. It never has a DTD; refusing one defuses entity expansion and
    external entities before expat sees the data."""
    if b"<!DOCTYPE" in raw:   # an <!ENTITY outside one does not parse either
        raise MirrorError(f"{rel} contains a DTD, which repo metadata never has; upstream is "
                          "broken or hostile")
    try:
        return ET.fromstring(raw)  # noqa: S314 - DTDs refused above
    except ET.ParseError as err:
        raise MirrorError(f"{rel} is not valid XML ({err}); upstream is mid-update or "
                          "broken") from err


class Yum:
    """yum: units are repo dirs inside the tree (where ``repodata/`` is)."""

    @staticmethod
    def anchors(unit):
        return [f"{unit}/{name}" for name in YUM_ANCHORS]

    @staticmethod
    def present(snap, unit):
        return os.path.isfile(os.path.join(snap, unit, "repodata", "repomd.xml"))

    @staticmethod
    def units_in(snap):
        out = []
        for top, dirs, _files in os.walk(snap):
            if os.path.isfile(os.path.join(top, "repodata", "repomd.xml")):
                out.append(os.path.relpath(top, snap))
                dirs[:] = []
            elif top.count(os.sep) - snap.count(os.sep) >= 3:
                dirs[:] = []
        return sorted(out)

    @staticmethod
    def _repomd(snap, unit):
        rel = f"{unit}/repodata/repomd.xml"
        try:
            root = _xml(mosmu_index.read(os.path.join(snap, rel)), rel)
        except FileNotFoundError:
            raise MirrorError(f"{rel} is missing upstream; check the MOS version and repos "
                              "(catalog row)") from None
        out = {}
        for data in root.findall(f"{REPO_NS}data"):
            loc = data.find(f"{REPO_NS}location")
            csum = data.find(f"{REPO_NS}checksum")
            size = data.find(f"{REPO_NS}size")
            if loc is None or csum is None or csum.get("type") not in ALGOS:
                raise MirrorError(f"{rel}: entry {data.get('type')} has no location or a "
                                  "known checksum; upstream is broken")
            href = os.path.normpath(loc.get("href", ""))
            if href.startswith(("..", "/")):
                raise MirrorError(f"{rel}: {href} leaves the repo; upstream is broken")
            out[data.get("type")] = (f"{unit}/{href}",
                                     int(size.text) if size is not None else None,
                                     ALGOS[csum.get("type")], (csum.text or "").strip().lower())
        return out

    def indices(self, snap, unit):
        return [entry[0] for entry in self._repomd(snap, unit).values()]

    def check(self, snap, unit, verify=True, problems=None, hashing=True):
        """As :meth:`mosmu_aptindex.Apt.check`: repomd.xml -> every metadata file ->
        primary's rpms."""
        entries = self._repomd(snap, unit)
        if "primary" not in entries:
            raise MirrorError(f"{unit}/repodata/repomd.xml lists no primary metadata; upstream "
                              "is broken")
        broken = set()
        for rel, size, algo, digest in entries.values() if verify else ():
            path = os.path.join(snap, rel)
            bad = mosmu_index.stat_problem(path, size, "repomd.xml", follow=True)[0] or (
                mosmu_index.digest_problem(path, algo, digest, "repomd.xml") if hashing else None)
            if bad and problems is None and bad[0] in ("missing", "type"):
                raise MirrorError(f"{rel} is missing though repomd.xml lists it; upstream is "
                                  "mid-update or broken, run again later")
            if bad and problems is None:
                raise MirrorError(f"{rel} does not match repomd.xml (size or checksum; "
                                  "truncated or mid-update); nothing was published")
            if bad:
                problems.append(mosmu_index.problem(rel, *bad))
                broken.add(rel)
        pool, primary = {}, entries["primary"][0]
        if primary in broken:
            return pool
        for href, size, algo, digest, _n, _v in mosmu_index.collecting(
                problems, primary, self._primary, snap, primary):
            mosmu_index.merge(pool, os.path.normpath(f"{unit}/{href}"), (size, algo, digest),
                              primary)
        return pool

    @staticmethod
    def _primary(snap, rel):
        root = _xml(mosmu_index.decompress(mosmu_index.read(os.path.join(snap, rel)), rel), rel)
        out = []
        for pkg in root.findall(f"{COMMON_NS}package"):
            loc, csum = pkg.find(f"{COMMON_NS}location"), pkg.find(f"{COMMON_NS}checksum")
            size, ver = pkg.find(f"{COMMON_NS}size"), pkg.find(f"{COMMON_NS}version")
            name, arch = pkg.findtext(f"{COMMON_NS}name"), pkg.findtext(f"{COMMON_NS}arch")
            try:
                href = os.path.normpath(loc.get("href"))
                entry = (href, int(size.get("package")), ALGOS[csum.get("type")],
                         csum.text.strip().lower(), f"{name}:{arch}",
                         f"{ver.get('epoch', '0')}:{ver.get('ver')}-{ver.get('rel')}")
            except (AttributeError, KeyError, TypeError, ValueError) as err:
                raise MirrorError(f"{rel}: package {name} has no valid location/size/"
                                  "checksum; upstream is broken") from err
            if href.startswith(("..", "/")):
                raise MirrorError(f"{rel}: {href} leaves the repo; upstream is broken")
            out.append(entry)
        return out

    def packages(self, snap):
        out = {}
        for unit in self.units_in(snap):
            primary = self._repomd(snap, unit).get("primary")
            if primary and os.path.isfile(os.path.join(snap, primary[0])):
                for *_rest, key, version in self._primary(snap, primary[0]):
                    out[key] = version
        return out

    @staticmethod
    def signatures(snap, unit, keyring, work):
        asc = os.path.join(snap, unit, "repodata", "repomd.xml.asc")
        if not os.path.isfile(asc):
            raise MirrorError(f"{unit}/repodata/repomd.xml.asc is missing but the catalog row "
                              "has a key; upstream is unsigned (drop the key) or mid-update")
        mosmu_gpg.gpgv(keyring, work, [asc, os.path.join(snap, unit, "repodata", "repomd.xml")],
                       f"{unit}/repodata/repomd.xml.asc")

    @staticmethod
    def newer(new, old):
        """Whether rpm ``epoch:version-release`` ``new`` sorts after ``old``."""
        return _rpm_key(new) > _rpm_key(old)


def _rpm_key(evr):
    epoch, _, rest = evr.partition(":")
    return [int(epoch or 0)] + [(0, int(p)) if p.isdigit() else (1, p)
                                for p in re.findall(r"\d+|[a-zA-Z]+", rest)]

