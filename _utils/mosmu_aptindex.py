"""apt repository indices on the master's mirror: Release -> Packages -> pool files.

:class:`Apt` is the apt backend of the mirror (one shape with ``mosmu_yumindex.Yum``): a unit
is a suite (``dists/<suite>``), pool paths are relative to the tree. It reads and verifies a
suite's indices (python-debian's ``deb822``), checks ``InRelease``/``Release.gpg`` with gpgv
(``mosmu_gpg``), lists a snapshot's package versions and orders Debian versions.
"""

import hashlib
import io
import os
import re

import mosmu_gpg
import mosmu_index
from mosmu_errors import MirrorError, MissingDependency

try:
    from debian import deb822
    from debian.debian_support import Version
except ImportError:     # the runner loads without it; only reading apt indices needs it
    deb822 = Version = None

APT_INDEX = re.compile(r"(?:.*/)?Packages(?:\.gz|\.xz|\.bz2)?")
APT_ANCHORS = ("Release", "InRelease", "Release.gpg")


def _debian():
    """python-debian's ``(deb822, Version)``, or :class:`MissingDependency` naming the fix."""
    if deb822 is None:
        raise MissingDependency(
            "python-debian is not installed in the salt-master's Python: apt mirror indices "
            "cannot be read or verified; install it (salt-pip install python-debian, or the "
            "python3-debian package). mosmu.nodes, mosmu.status and mosmu.update sync=False "
            "work without it")
    return deb822, Version


class Apt:
    """apt: units are suites (``dists/<suite>``); pool paths are relative to the tree."""

    @staticmethod
    def anchors(unit):
        return [f"dists/{unit}/{name}" for name in APT_ANCHORS]

    @staticmethod
    def present(snap, unit):
        return os.path.isfile(os.path.join(snap, "dists", unit, "Release"))

    @staticmethod
    def units_in(snap):
        dists = os.path.join(snap, "dists")
        try:
            return sorted(s for s in os.listdir(dists) if not s.startswith(".") and
                          os.path.isfile(os.path.join(dists, s, "Release")))
        except FileNotFoundError:
            return []

    @staticmethod
    def _release(snap, unit):
        path = os.path.join(snap, "dists", unit, "Release")
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                release = _debian()[0].Release(handle)
        except FileNotFoundError:
            raise MirrorError(f"dists/{unit}/Release is missing upstream; check the MOS "
                              "version and repos (catalog row)") from None
        entries = {}
        for item in release.get("SHA256", []):
            try:
                entries[item["name"]] = (int(item["size"]), item["sha256"])
            except (KeyError, ValueError) as err:
                raise MirrorError(f"dists/{unit}/Release has a malformed SHA256 line; "
                                  "upstream is broken") from err
        return entries

    def indices(self, snap, unit):
        """Index files to fetch: the Packages* entries the suite's Release lists."""
        return [f"dists/{unit}/{name}" for name in self._release(snap, unit)
                if APT_INDEX.fullmatch(name)]

    def check(self, snap, unit, verify=True, problems=None, hashing=True):
        """Verify the suite's indices against Release; return ``{pool path: (size, algo, hex)}``.

        Indices listed but absent are allowed if another compression of the same index is
        present; a Release with no present Packages index fails. ``verify=False`` only
        reads the pool entries (of a snapshot verified before). With a ``problems`` list,
        each bad index is added to it (:func:`mosmu_index.problem`, path relative to
        ``snap``) and skipped instead of raising; ``hashing=False`` compares sizes only.
        """
        stems, pool, seen = {}, {}, set()
        for name, (size, digest) in sorted(self._release(snap, unit).items()):
            if not APT_INDEX.fullmatch(name):
                continue
            rel = f"dists/{unit}/{name}"
            stem = re.sub(r"\.(gz|xz|bz2)$", "", name)
            path = os.path.join(snap, rel)
            stems.setdefault(stem, False)
            if not os.path.isfile(path):
                continue
            stems[stem] = True
            bad = None
            if verify:
                bad = mosmu_index.stat_problem(path, size, "Release", follow=True)[0] or (
                    mosmu_index.digest_problem(path, "sha256", digest, "Release")
                    if hashing else None)
            if bad and problems is None:
                raise MirrorError(f"{rel} does not match its Release entry (size or SHA256; "
                                  "truncated or mid-update); nothing was published, run again "
                                  "later")
            if bad:
                problems.append(mosmu_index.problem(rel, *bad))
                continue
            for fields in mosmu_index.collecting(problems, rel, self._stanzas, path, rel, seen):
                mosmu_index.merge(pool, fields[0], fields[1:], rel)
        if not verify:
            return pool
        if not stems:
            raise MirrorError(f"dists/{unit}/Release lists no Packages index; upstream is "
                              "broken or this is not an apt tree (check the catalog row)")
        absent = sorted(s for s, ok in stems.items() if not ok)
        if absent and problems is None:
            raise MirrorError(f"dists/{unit}/{absent[0]} (any compression) is missing though "
                              "Release lists it; upstream is mid-update or broken")
        for stem in absent:
            problems.append(mosmu_index.problem(f"dists/{unit}/{stem}", "missing",
                                     "is missing in every compression Release lists"))
        return pool

    @staticmethod
    def _paragraphs(path, rel, seen):
        """deb822 paragraphs of an index; none if the same content was read already
        (``Packages`` and ``Packages.gz`` usually say the same)."""
        raw = mosmu_index.decompress(mosmu_index.read(path), rel)
        digest = hashlib.sha256(raw).digest()
        if digest in seen:
            return []
        seen.add(digest)
        return _debian()[0].Deb822.iter_paragraphs(io.BytesIO(raw), use_apt_pkg=False)

    def _stanzas(self, path, rel, seen):
        out = []
        for para in self._paragraphs(path, rel, seen):
            if "Filename" not in para:
                continue
            try:
                out.append((os.path.normpath(para["Filename"]), int(para["Size"]), "sha256",
                            para["SHA256"].strip().lower()))
            except (KeyError, ValueError) as err:
                raise MirrorError(f"{rel}: the stanza of {para['Filename']} has no valid Size/"
                                  "SHA256; upstream is broken") from err
            if out[-1][0].startswith(("..", "/")):
                raise MirrorError(f"{rel}: Filename {para['Filename']} leaves the tree; "
                                  "upstream is broken")
        return out

    def packages(self, snap):
        """``{"name:arch": version}`` of every suite's Packages in a snapshot."""
        out, seen = {}, set()
        version = _debian()[1]
        for unit in self.units_in(snap):
            for name in self._release(snap, unit):
                path = os.path.join(snap, "dists", unit, name)
                if not APT_INDEX.fullmatch(name) or not os.path.isfile(path):
                    continue
                for para in self._paragraphs(path, name, seen):
                    if "Package" in para and "Version" in para:
                        key = f"{para['Package']}:{para.get('Architecture', 'all')}"
                        if key not in out or version(para["Version"]) > version(out[key]):
                            out[key] = para["Version"]
        return out

    @staticmethod
    def signatures(snap, unit, keyring, work):
        """gpgv InRelease and/or Release.gpg; at least one must be there and good."""
        dist = os.path.join(snap, "dists", unit)
        inrelease = os.path.join(dist, "InRelease")
        detached = os.path.join(dist, "Release.gpg")
        release = os.path.join(dist, "Release")
        if not os.path.isfile(inrelease) and not os.path.isfile(detached):
            raise MirrorError(f"dists/{unit} has neither InRelease nor Release.gpg but the "
                              "catalog row has a key; upstream is unsigned or mid-update")
        if os.path.isfile(inrelease):
            signed = os.path.join(work, f"InRelease-{unit.replace('/', '_')}.txt")
            mosmu_gpg.gpgv(keyring, work, ["--output", signed, inrelease],
                           f"dists/{unit}/InRelease")
            if os.path.isfile(release) and mosmu_index.read(signed).rstrip(b"\n") != \
                    mosmu_index.read(release).rstrip(b"\n"):
                raise MirrorError(f"dists/{unit}/InRelease and Release differ; upstream is "
                                  "mid-update or tampered with, run again later")
        if os.path.isfile(detached):
            mosmu_gpg.gpgv(keyring, work, [detached, release], f"dists/{unit}/Release.gpg")

    @staticmethod
    def newer(new, old):
        """Whether Debian version ``new`` sorts after ``old``."""
        version = _debian()[1]
        return version(new) > version(old)
