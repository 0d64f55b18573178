"""Mirror one catalog tree from upstream as verified snapshots, published atomically.

Layout on the master (``P`` = ``tree.path``, ``<id>`` = ``20261125T175314.123456Z``)::

    <mirror_root>/P                     -> symlink to .snapshots/P/<id> (what nodes read)
    <mirror_root>/.snapshots/P/<id>/    one verified snapshot, also served by this fixed path
    <staging_dir>/P/lock                fcntl lock: one sync of a tree at a time
    <staging_dir>/P/build-<id>/         the snapshot being built (never inside the web root)
    <staging_dir>/P/partial/            rsync --partial-dir, so a killed transfer resumes

``staging_dir`` defaults to ``<dirname(mirror_root)>/.mosmu-staging``; it must be on the
same filesystem as ``mirror_root`` (hard links, ``rename(2)``).

One :func:`sync_tree` run:

1. rsync only the index anchors of every wanted suite (apt ``dists/<suite>/Release``,
   ``InRelease``, ``Release.gpg``; yum ``<dir>/repodata/repomd.xml(.asc)``) into a fresh
   build dir; identical to the published ones -> ``unchanged``, nothing else is done;
2. check the signatures (``gpgv``) when the catalog row has a ``key``;
3. rsync the indices the anchors name, then exactly the pool files / rpms the indices name
   (``--files-from``, ``--link-dest`` the published snapshot: unchanged files become hard
   links);
4. verify the whole build: Release -> Packages (size + SHA256) -> every pool file (size;
   SHA256 unless the file is the very inode the previous snapshot verified with the same
   digest), or repomd.xml -> primary -> every rpm;
5. move the build into ``.snapshots/`` and swap the symlink (``os.replace``: atomic); a plain
   directory left by an older mirror is adopted as the first snapshot; keep ``keep``
   snapshots.

Any failure raises :class:`MirrorError` with a one-line message; the published tree is not
touched and the build dir is removed.

``sync_tree(verify=True)`` also checks the published snapshot against its own indices after
step 1, even when upstream is unchanged (a file deleted or damaged on the master is invisible
to step 1); a problem makes it go on through steps 2-5 with the damaged files fetched afresh
(never hard-linked), so the repair is a new snapshot and the damaged one is left as it was.
:func:`verify_published` is the same check on its own; ``hashing=False`` (stat only) is the
update pre-flight, :func:`damaged_message` its error line.

Public API: :func:`sync_tree`, :func:`rollback`, :func:`snapshots`, :func:`missing`,
:func:`current_snapshot`, :func:`verify_published`, :func:`damaged_message`; for tools and
benchmarks :func:`verify_snapshot`, :func:`pool_of`, :func:`trusted_pool`.
"""

import bz2
import contextlib
import errno
import fcntl
import gzip
import hashlib
import io
import logging
import lzma
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib

import mosmu_text
from mosmu_errors import MirrorError, MissingDependency

try:
    from debian import deb822
    from debian.debian_support import Version
except ImportError:     # the runner loads without it; only reading apt indices needs it
    deb822 = Version = None

log = logging.getLogger(__name__)


def _debian():
    """python-debian's ``(deb822, Version)``, or :class:`MissingDependency` naming the fix."""
    if deb822 is None:
        raise MissingDependency(
            "python-debian is not installed in the salt-master's Python: apt mirror indices "
            "cannot be read or verified; install it (salt-pip install python-debian, or the "
            "python3-debian package). mosmu.nodes, mosmu.status and mosmu.update sync=False "
            "work without it")
    return deb822, Version

SNAPSHOTS = ".snapshots"
STAGING = ".mosmu-staging"
KEEP = 3
ADOPTED = "-adopted"
_REL = re.compile(r"[^\x00-\x1f\x7f]+")
_ID = re.compile(r"\d{8}T\d{6}\.\d{6}Z(?:-adopted)?")
APT_INDEX = re.compile(r"(?:.*/)?Packages(?:\.gz|\.xz|\.bz2)?")
APT_ANCHORS = ("Release", "InRelease", "Release.gpg")
YUM_ANCHORS = ("repodata/repomd.xml", "repodata/repomd.xml.asc")
REPO_NS = "{http://linux.duke.edu/metadata/repo}"
COMMON_NS = "{http://linux.duke.edu/metadata/common}"
RPM_NS = "{http://linux.duke.edu/metadata/rpm}"
ALGOS = {"sha256": "sha256", "sha": "sha1", "sha1": "sha1", "sha512": "sha512"}
RSYNC_HINTS = {
    5: "the upstream rsync module or path does not exist; check mosmu:mirror_upstream and "
       "the catalog row's upstream",
    10: "cannot connect to the upstream rsync daemon; check mosmu:mirror_upstream and the "
        "master's network/proxy (RSYNC_PROXY)",
    23: "files are missing upstream (upstream mid-update, or a wrong catalog row?)",
    24: "files vanished upstream twice while syncing (upstream mid-update); run again later",
    30: "upstream stopped answering (I/O timeout); run again later or raise the timeout",
    35: "timed out connecting to the upstream rsync daemon; check mosmu:mirror_upstream",
}


# -- small helpers ---------------------------------------------------------------------------

def file_digest(path, algo="sha256"):
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algo)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _decompress(raw, name):
    try:
        if name.endswith(".gz"):
            return gzip.decompress(raw)
        if name.endswith(".xz"):
            return lzma.decompress(raw)
        if name.endswith(".bz2"):
            return bz2.decompress(raw)
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as err:
        raise MirrorError(f"{name} is truncated or not valid compressed data ({err}); "
                          "upstream is mid-update or broken, run again later") from err
    return raw


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def _same_bytes(a, b):
    try:
        return _read(a) == _read(b)
    except FileNotFoundError:
        return not os.path.exists(a) and not os.path.exists(b)


def _merge(pool, rel, entry, where):
    """Add a pool entry; two indices giving one file different sizes/digests is an error."""
    if not _REL.fullmatch(rel) or rel.startswith(("../", "/")) or rel == "..":
        raise MirrorError(f"{where} names {rel!r}, which is not a plain path inside the tree; "
                          "upstream is broken")
    if pool.setdefault(rel, entry) != entry:
        raise MirrorError(f"{where} gives {rel} another size or digest than another index of "
                          "the tree; upstream is broken or mid-update, run again later")


def _problem(rel, kind, detail):
    """One thing wrong with a published file: ``kind`` is ``missing``, ``type``, ``size``,
    ``digest`` or ``unreadable``; ``detail`` completes the sentence "<path> <detail>"."""
    return {"path": rel, "problem": kind, "detail": detail}


def _stat_problem(path, size, source="its index", follow=False):
    """``(problem, stat)`` of a file against its index entry, by ``stat`` alone: problem is
    None or ``(kind, detail)``; stat is None when the file is missing."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return ("missing", f"is missing though {source} lists it"), None
    if not stat.S_ISREG(st.st_mode):
        return ("type", "is not a regular file"), st
    if size is not None and st.st_size != size:
        return ("size", f"has {st.st_size} bytes, {source} says {size}"), st
    return None, st


def _digest_problem(path, algo, digest, source="its index"):
    """``(kind, detail)`` when the file's ``algo`` digest is not ``digest``, else None."""
    if file_digest(path, algo) != digest:
        return ("digest", f"does not match the {algo} {source} gives")
    return None


def _collecting(problems, rel, parse, *args):
    """``parse(*args)``; an index it cannot read raises, or with a ``problems`` list is added
    to it as ``unreadable`` and read as empty."""
    try:
        return parse(*args)
    except MirrorError as err:
        if problems is None:
            raise
        problems.append(_problem(rel, "unreadable", f"cannot be read ({err})"))
        return []


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


def _new_id(parent):
    """Time-sortable snapshot id, unique in ``parent`` even within one second."""
    while True:
        now = time.time()
        sid = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
        if not os.path.lexists(os.path.join(parent, sid)) and \
                not os.path.lexists(os.path.join(parent, sid + ADOPTED)):
            return sid
        time.sleep(0.000002)


def _id_time(sid):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.strptime(sid[:15], "%Y%m%dT%H%M%S"))


# -- layout ----------------------------------------------------------------------------------

class _Layout:
    """Where a tree's link, snapshots and staging live."""

    def __init__(self, mirror_root, tree, staging_dir=None):
        if not os.path.isabs(str(mirror_root)):
            raise MirrorError(f"mirror_root {mirror_root!r} must be an absolute path; fix "
                              "mosmu:mirror_root")
        self.root = os.path.normpath(mirror_root)
        self.tree = tree
        self.link = os.path.join(self.root, tree.path)
        self.snapdir = os.path.join(self.root, SNAPSHOTS, tree.path)
        base = staging_dir or os.path.join(os.path.dirname(self.root), STAGING)
        if not os.path.isabs(base):
            raise MirrorError(f"staging dir {base!r} must be an absolute path; fix "
                              "mosmu:mirror_staging")
        base = os.path.normpath(base)
        if base == self.root or base.startswith(self.root + os.sep):
            raise MirrorError(f"staging dir {base} is inside mirror_root {self.root}, so the "
                              "web server would serve half-synced files; put it beside it")
        self.stage = os.path.join(base, tree.path)
        self.partial = os.path.join(self.stage, "partial")

    def ids(self):
        """Snapshot ids, oldest first."""
        try:
            return sorted(e for e in os.listdir(self.snapdir) if _ID.fullmatch(e))
        except FileNotFoundError:
            return []

    def current(self):
        """Id of the published snapshot, ``""`` for a plain (not yet adopted) dir, or None."""
        if os.path.islink(self.link):
            target = os.path.realpath(self.link)
            sid = os.path.basename(target)
            if os.path.dirname(target) == os.path.realpath(self.snapdir) and _ID.fullmatch(sid):
                return sid
            raise MirrorError(f"{self.link} is a symlink to {target}, not to a mosmu snapshot; "
                              "move it away and sync again")
        if os.path.isdir(self.link):
            return ""
        return None

    def current_dir(self):
        sid = self.current()
        if sid is None:
            return None
        return self.link if sid == "" else os.path.join(self.snapdir, sid)

    def rel(self, sid):
        return os.path.join(SNAPSHOTS, self.tree.path, sid)

    def point(self, sid):
        """Atomically point the link at snapshot ``sid``."""
        target = os.path.relpath(os.path.join(self.snapdir, sid), os.path.dirname(self.link))
        tmp = f"{self.link}.mosmu-link-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, self.link)

    def adopt(self):
        """Move a plain dir left by an older mirror into the snapshots; link to it."""
        os.makedirs(self.snapdir, exist_ok=True)
        sid = _new_id(self.snapdir) + ADOPTED
        os.rename(self.link, os.path.join(self.snapdir, sid))
        self.point(sid)
        log.info("adopted %s as snapshot %s", self.link, sid)
        return sid


@contextlib.contextmanager
def _locked(layout, timeout):
    """Hold the tree's lock file; wait up to ``timeout`` s, then name the holder's pid."""
    os.makedirs(layout.stage, exist_ok=True)
    path = os.path.join(layout.stage, "lock")
    with open(path, "a+", encoding="utf-8") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise MirrorError(
                        f"another sync of {layout.tree.name} holds {path} (pid {holder}) for "
                        f"over {timeout} s; wait for it to finish or stop that process") from None
                time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


# -- rsync -----------------------------------------------------------------------------------

def _source(upstream):
    upstream = str(upstream)
    if upstream.startswith("rsync://"):
        return upstream.rstrip("/") + "/"
    if os.path.isabs(upstream):
        if not os.path.isdir(upstream):
            raise MirrorError(f"upstream directory {upstream} does not exist; fix "
                              "mosmu:mirror_upstream")
        return upstream.rstrip("/") + "/"
    raise MirrorError(f"upstream {upstream!r} is neither rsync://host/module nor an absolute "
                      "directory; fix mosmu:mirror_upstream")


def _rsync(upstream, dest, files, what, *, timeout, partial, link_dest=None, missing_ok=False,
           dry_run=False, ignore_times=False, bwlimit=None, names=None):
    """rsync ``files`` (paths below the upstream root) into ``dest``.

    The list is relative to the module root, not to the tree: rsync 3.5's daemon reports
    every file "vanished" for ``--files-from`` below a module subdirectory.

    :param names: a list: the paths of the files transferred are added to it
    :return: ``(files transferred, bytes)``
    """
    if shutil.which("rsync") is None:
        raise MirrorError("rsync is not installed on the master; install it (apt-get install "
                          "rsync / yum install rsync)")
    with tempfile.NamedTemporaryFile("w", prefix="files-from-", dir=os.path.dirname(partial),
                                     encoding="utf-8", delete=False) as listing:
        listing.write("".join(f"{name}\n" for name in sorted(files)))
    argv = ["rsync", "-rlptH", "--safe-links", "--chmod=D755,F644", f"--timeout={timeout}",
            f"--partial-dir={partial}", f"--files-from={listing.name}",
            "--out-format=%i|%l|%b|%n"]
    if str(upstream).startswith("rsync://"):
        argv.append(f"--contimeout={timeout}")
    if link_dest:
        argv.append(f"--link-dest={link_dest}")
    if bwlimit:
        argv.append(f"--bwlimit={bwlimit}")
    if missing_ok:
        argv.append("--ignore-missing-args")
    if dry_run:
        argv.append("--dry-run")
    if ignore_times:
        argv.append("--ignore-times")
    argv += [_source(upstream), dest.rstrip("/") + "/"]
    try:
        for attempt in (1, 2):
            log.debug("running %s", argv)
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode == 24 and attempt == 1:
                log.warning("rsync of %s: files vanished upstream; retrying once", what)
                continue
            break
    finally:
        os.unlink(listing.name)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["no output"]
        detail = next((ln for ln in lines if "link_stat" in ln or "vanished" in ln), lines[-1])
        hint = RSYNC_HINTS.get(proc.returncode, "see the rsync message")
        raise MirrorError(f"rsync of {what} failed (exit {proc.returncode}: {detail.strip()}); "
                          f"{hint}")
    count = size = 0
    for line in proc.stdout.splitlines():
        parts = line.split("|", 3)
        if len(parts) == 4 and parts[0][:2] == ">f":
            count += 1
            size += int(parts[1] if dry_run else parts[2])
            if names is not None:
                names.append(parts[3])
    return count, size


# -- backends: one shape, apt and yum --------------------------------------------------------

class _Apt:
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
        each bad index is added to it (:func:`_problem`, path relative to ``snap``) and
        skipped instead of raising; ``hashing=False`` compares sizes only.
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
                bad = _stat_problem(path, size, "Release", follow=True)[0] or (
                    _digest_problem(path, "sha256", digest, "Release") if hashing else None)
            if bad and problems is None:
                raise MirrorError(f"{rel} does not match its Release entry (size or SHA256; "
                                  "truncated or mid-update); nothing was published, run again "
                                  "later")
            if bad:
                problems.append(_problem(rel, *bad))
                continue
            for fields in _collecting(problems, rel, self._stanzas, path, rel, seen):
                _merge(pool, fields[0], fields[1:], rel)
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
            problems.append(_problem(f"dists/{unit}/{stem}", "missing",
                                     "is missing in every compression Release lists"))
        return pool

    @staticmethod
    def _paragraphs(path, rel, seen):
        """deb822 paragraphs of an index; none if the same content was read already
        (``Packages`` and ``Packages.gz`` usually say the same)."""
        raw = _decompress(_read(path), rel)
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
            _gpgv(keyring, work, ["--output", signed, inrelease], f"dists/{unit}/InRelease")
            if os.path.isfile(release) and _read(signed).rstrip(b"\n") != \
                    _read(release).rstrip(b"\n"):
                raise MirrorError(f"dists/{unit}/InRelease and Release differ; upstream is "
                                  "mid-update or tampered with, run again later")
        if os.path.isfile(detached):
            _gpgv(keyring, work, [detached, release], f"dists/{unit}/Release.gpg")


class _Yum:
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
            root = _xml(_read(os.path.join(snap, rel)), rel)
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
        """As :meth:`_Apt.check`: repomd.xml -> every metadata file -> primary's rpms."""
        entries = self._repomd(snap, unit)
        if "primary" not in entries:
            raise MirrorError(f"{unit}/repodata/repomd.xml lists no primary metadata; upstream "
                              "is broken")
        broken = set()
        for rel, size, algo, digest in entries.values() if verify else ():
            path = os.path.join(snap, rel)
            bad = _stat_problem(path, size, "repomd.xml", follow=True)[0] or (
                _digest_problem(path, algo, digest, "repomd.xml") if hashing else None)
            if bad and problems is None and bad[0] in ("missing", "type"):
                raise MirrorError(f"{rel} is missing though repomd.xml lists it; upstream is "
                                  "mid-update or broken, run again later")
            if bad and problems is None:
                raise MirrorError(f"{rel} does not match repomd.xml (size or checksum; "
                                  "truncated or mid-update); nothing was published")
            if bad:
                problems.append(_problem(rel, *bad))
                broken.add(rel)
        pool, primary = {}, entries["primary"][0]
        if primary in broken:
            return pool
        for href, size, algo, digest, _n, _v in _collecting(problems, primary, self._primary,
                                                            snap, primary):
            _merge(pool, os.path.normpath(f"{unit}/{href}"), (size, algo, digest), primary)
        return pool

    @staticmethod
    def _primary(snap, rel):
        root = _xml(_decompress(_read(os.path.join(snap, rel)), rel), rel)
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
        _gpgv(keyring, work, [asc, os.path.join(snap, unit, "repodata", "repomd.xml")],
              f"{unit}/repodata/repomd.xml.asc")


BACKENDS = {"apt": _Apt(), "yum": _Yum()}


def _backend(tree):
    try:
        return BACKENDS[tree.backend]
    except KeyError:
        raise MirrorError(f"catalog row {tree.name} has backend {tree.backend!r}; mosmu "
                          f"mirrors {', '.join(BACKENDS)}") from None


# -- signatures ------------------------------------------------------------------------------

def _keyring(key, work):
    """A binary keyring built from the ASCII-armoured ``key`` in a private gpg home."""
    for tool in ("gpg", "gpgv"):
        if shutil.which(tool) is None:
            raise MirrorError(f"{tool} is not installed on the master but the catalog row has "
                              "a key; install gnupg (and gpgv)")
    home = os.path.join(work, "gnupg")
    os.makedirs(home, mode=0o700, exist_ok=True)
    armoured, keyring = os.path.join(work, "key.asc"), os.path.join(work, "keyring.gpg")
    with open(armoured, "w", encoding="utf-8") as handle:
        handle.write(key)
    proc = subprocess.run(["gpg", "--batch", "--homedir", home, "--dearmor", "--output",
                           keyring, armoured], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MirrorError(f"the catalog row's key is not a valid armoured key "
                          f"({proc.stderr.strip()[:200]}); fix mosmu:catalog key")
    return keyring


def _gpgv(keyring, work, args, what):
    proc = subprocess.run(["gpgv", "--homedir", os.path.join(work, "gnupg"), "--keyring",
                           keyring, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise MirrorError(f"{what}: bad or unknown signature ({detail}); nothing was "
                          "published (check the catalog row's key, or upstream was tampered)")


# -- verification ----------------------------------------------------------------------------

def pool_of(backend, snap, units, verify=True, problems=None, hashing=True):
    """``{pool path: (size, algo, hex)}`` the indices of ``units`` name (verified first;
    ``problems`` and ``hashing`` as for :meth:`_Apt.check`)."""
    pool = {}
    for unit in units:
        for rel, entry in backend.check(snap, unit, verify, problems, hashing).items():
            _merge(pool, rel, entry, f"the index of {unit}")
    return pool


def trusted_pool(backend, previous, units):
    """Pool entries of the previous snapshot, which this module verified when it published
    it; ``{}`` for none or for an adopted one (an older mirror's files were never checked)."""
    if not previous or os.path.basename(previous).endswith(ADOPTED):
        return {}
    present = [u for u in units if backend.present(previous, u)]
    try:
        return pool_of(backend, previous, present, verify=False)
    except MirrorError as err:
        log.warning("cannot read the previous snapshot's indices (%s); hashing every file",
                    mosmu_text.safe(err, newlines="space"))
        return {}


def verify_snapshot(backend, snap, units, previous=None, pool=None, trusted=None,
                    problems=None, hashing=True):
    """Verify ``units`` of the snapshot dir ``snap``; raise on the first problem.

    Every index against its anchor (size + digest); every pool file its index names: size
    always, digest unless it is the same inode as in ``previous`` (a snapshot this module
    verified) whose index gave it the same digest.

    :param backend: ``BACKENDS["apt"]`` or ``BACKENDS["yum"]``
    :param snap: the snapshot directory
    :param units: suites (apt) or repo dirs (yum)
    :param previous: the previous verified snapshot dir, or None (hash everything)
    :param pool: :func:`pool_of` of ``snap`` when the caller already verified the indices
    :param trusted: :func:`trusted_pool` of ``previous`` when the caller has it
    :param problems: a list: add every problem to it (:func:`_problem`, paths relative to
        ``snap``) instead of raising on the first
    :param hashing: False: check that each file exists with its size, hash nothing
    :return: ``{"files": n, "hashed": n, "bytes_hashed": n, "linked_bad": [paths]}``;
        ``linked_bad`` lists hard-linked files whose content is wrong (upstream changed a
        file but kept its size and mtime): fetch them again with ``--ignore-times``.
    """
    if pool is None:
        pool = pool_of(backend, snap, units, problems=problems, hashing=hashing)
    if trusted is None:
        trusted = trusted_pool(backend, previous, units)
    stats = {"files": len(pool), "hashed": 0, "bytes_hashed": 0, "linked_bad": []}
    for rel, (size, algo, digest) in sorted(pool.items()):
        path = os.path.join(snap, rel)
        bad, st = _stat_problem(path, size)
        if bad is None and hashing:
            linked = False
            if previous:
                with contextlib.suppress(OSError):
                    old = os.stat(os.path.join(previous, rel))
                    linked = (old.st_dev, old.st_ino) == (st.st_dev, st.st_ino)
            if linked and trusted.get(rel) == (size, algo, digest):
                continue
            stats["hashed"] += 1
            stats["bytes_hashed"] += size
            bad = _digest_problem(path, algo, digest)
            if bad and linked:
                stats["linked_bad"].append(rel)
                continue
        if bad and problems is None:
            raise MirrorError(f"{rel} {bad[1]}{_RAISED[bad[0]]}")
        if bad:
            problems.append(_problem(rel, *bad))
    return stats


_RAISED = {"missing": "; nothing was published, run again later",
           "type": "; upstream is broken",
           "size": " (truncated or mid-update); nothing was published",
           "digest": " (corrupt upstream copy or transfer); nothing was published"}


def _verify_dir(backend, snap, units, hashing=True):
    """Every problem of the snapshot dir ``snap`` against its own indices, hashing each file
    (or, ``hashing=False``, by stat alone): ``(pool, problems)``, paths relative to ``snap``;
    ``pool`` holds the entries of the indices found intact."""
    problems = []
    pool = pool_of(backend, snap, units, problems=problems, hashing=hashing)
    verify_snapshot(backend, snap, units, pool=pool, trusted={}, problems=problems,
                    hashing=hashing)
    return pool, problems


def _link_known(previous, snap, pool, trusted):
    """Hard-link from ``previous`` every file whose index entry did not change (its content
    was verified against that very entry); return the files left to fetch."""
    fetch = []
    for rel, entry in sorted(pool.items()):
        if trusted.get(rel) == entry:
            source, dest = os.path.join(previous, rel), os.path.join(snap, rel)
            os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                # a copy damaged since it was verified (truncated, cut) is fetched instead
                if _stat_problem(source, entry[0])[0] is None:
                    os.link(source, dest)
                    continue
        fetch.append(rel)
    return fetch


# -- the sync --------------------------------------------------------------------------------

def _units(tree, repos):
    out = []
    for repo in repos:
        unit = tree.suite_of(repo)
        if unit not in out:
            out.append(unit)
    if not out:
        raise MirrorError(f"no repos given to mirror for {tree.name}; pass e.g. ['updates']")
    return out


def sync_tree(upstream, mirror_root, tree, repos, timeout=120, keep=KEEP, staging_dir=None,
              test=False, lock_timeout=600, bwlimit=None, verify=False):
    """Sync the ``repos`` of one catalog tree into a new verified snapshot and publish it.

    :param upstream: ``rsync://host[:port]/module`` (``mosmu:mirror_upstream``) or an
        absolute local directory
    :param mirror_root: the master's web root (``mosmu:mirror_root``)
    :param tree: the catalog row (``mosmu_catalog.Tree``)
    :param repos: repos the plan needs, e.g. ``["updates", "security"]``; suites already
        published in the tree are kept in sync too
    :param timeout: rsync ``--timeout``/``--contimeout`` in seconds
    :param keep: snapshots to keep (the published one included), at least 1
    :param staging_dir: where builds, partial files and the lock live; default
        ``<dirname(mirror_root)>/.mosmu-staging``, same filesystem as ``mirror_root``
    :param test: only report what would be transferred; write nothing
    :param lock_timeout: seconds to wait for another sync of the same tree
    :param bwlimit: rsync ``--bwlimit`` in KiB/s, or None (no limit)
    :param verify: after the upstream check (also when upstream is unchanged), check the
        published snapshot against its own indices: every index and every file they name
        present, with its size and SHA256. A problem is repaired through a new snapshot
        (the damaged files fetched again from upstream, never hard-linked from the damaged
        snapshot), verified and published like any other; the damaged snapshot is left as
        it is. Upstream lacking a damaged file raises, and nothing is published. With
        ``test``: only report the problems and what would be fetched
    :return: ``{"tree", "path", "state": "updated"|"unchanged"|"would update", "snapshot",
        "snapshot_path", "suites": {unit: "updated"|"unchanged"|"dropped"}, "files",
        "bytes", "seconds"}``; with ``verify``, ``state`` may also be ``"verified"``
        (nothing wrong, upstream unchanged), ``"repaired"`` or ``"would repair"``, and
        ``"problems": [{"path", "problem", "detail"}]`` (paths below ``mirror_root`` in
        the snapshot checked; ``problem``: ``missing``, ``type``, ``size``, ``digest``,
        ``unreadable``) with ``"repaired"`` (the paths in the new snapshot) or, in test
        mode, ``"would_repair"`` (the tree's paths)

    CLI Example (through the runner)::

        salt-run mosmu.sync mos_version=8.0
        salt-run mosmu.sync mos_version=8.0 verify=True
    """
    started = time.monotonic()
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise MirrorError(f"keep={keep!r} must be an integer >= 1; fix mosmu:keep_snapshots")
    backend = _backend(tree)
    layout = _Layout(mirror_root, tree, staging_dir)
    wanted = _units(tree, repos)
    _source(upstream)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 1:
        raise MirrorError(f"timeout={timeout!r} must be a positive number of seconds")
    timeout = int(timeout)
    if bwlimit is not None and (isinstance(bwlimit, bool) or not isinstance(bwlimit, int)
                                or bwlimit < 1):
        raise MirrorError(f"bwlimit={bwlimit!r} must be a positive number of KiB/s or None")
    if not isinstance(verify, bool):
        raise MirrorError(f"verify={verify!r} must be True or False")
    rsync_opts = {"timeout": timeout, "bwlimit": bwlimit}
    if test:
        result = _dry_run(upstream, layout, backend, wanted, rsync_opts, verify)
    else:
        _prepare(layout)
        with _locked(layout, lock_timeout):
            result = _sync_locked(upstream, layout, backend, wanted, rsync_opts, keep, verify)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def _prepare(layout):
    try:
        os.makedirs(layout.root, exist_ok=True)
        os.makedirs(os.path.dirname(layout.link), exist_ok=True)
        os.makedirs(layout.snapdir, exist_ok=True)
        os.makedirs(layout.partial, exist_ok=True)
    except OSError as err:
        raise MirrorError(f"cannot create {err.filename} ({err.strerror}); check "
                          "mosmu:mirror_root, the staging dir and their permissions") from err
    if os.stat(layout.stage).st_dev != os.stat(layout.snapdir).st_dev:
        raise MirrorError(f"staging dir {layout.stage} is on another filesystem than "
                          f"{layout.root}; hard links and rename need one: set "
                          "mosmu:mirror_staging to a dir on the mirror's filesystem")


def _result(layout, state, sid, suites, files=0, size=0, **extra):
    return {"tree": layout.tree.name, "path": layout.tree.path, "state": state,
            "snapshot": sid, "snapshot_path": layout.rel(sid) if sid else None,
            "suites": suites, "files": files, "bytes": size, **extra}


def _rooted(layout, sid, problems):
    """``problems`` with paths below the mirror root, in snapshot ``sid`` (``""``: the tree's
    plain dir)."""
    base = layout.rel(sid) if sid else layout.tree.path
    return [dict(p, path=os.path.join(base, p["path"])) for p in problems]


def _check_published(upstream, layout, backend, cur_dir, units, root, partial, opts):
    """Verify the published snapshot ``cur_dir`` (hashing every file): ``(pool, problems)``,
    paths relative to the tree; ``pool`` holds the entries of its intact indices.

    An index its Release lists that it lacks, while another compression of it is there, is
    a problem only when upstream has it (apt falls back to another compression; Ubuntu's
    Releases list uncompressed indices the archive never serves): those are fetched into
    ``root`` to know.
    """
    present = [u for u in units if backend.present(cur_dir, u)]
    pool, problems = _verify_dir(backend, cur_dir, present)
    known = {re.sub(r"\.(gz|xz|bz2)$", "", p["path"]) for p in problems}
    absent = [rel for unit in present for rel in backend.indices(cur_dir, unit)
              if re.sub(r"\.(gz|xz|bz2)$", "", rel) not in known
              and not os.path.lexists(os.path.join(cur_dir, rel))]
    if absent:
        up, got = layout.tree.upstream, []
        _rsync(upstream, root, [f"{up}/{rel}" for rel in absent],
               f"{layout.tree.name} indices the published snapshot lacks", partial=partial,
               missing_ok=True, names=got, **opts)
        problems += [_problem(rel, "missing", "is missing though Release lists it (and "
                              "upstream has it)") for rel in absent if f"{up}/{rel}" in got]
    return pool, problems


def _fetch_damaged(upstream, root, tree, damaged, partial, opts, dry_run=False):
    """Fetch the files ``damaged`` (tree paths) afresh, without ``--link-dest``: its quick
    check (size and mtime) could link the damaged copy back. Raise when upstream lacks one.

    :return: ``(files transferred, bytes)``
    """
    got = []
    count, size = _rsync(upstream, root, [f"{tree.upstream}/{rel}" for rel in damaged],
                         f"{tree.name} files to repair ({len(damaged)})", partial=partial,
                         missing_ok=True, dry_run=dry_run, names=got, **opts)
    lacking = sorted(set(damaged) - {os.path.relpath(name, tree.upstream) for name in got})
    if lacking:
        more = f" and {len(lacking) - 1} more file(s)" if len(lacking) > 1 else ""
        raise MirrorError(
            f"upstream lacks {tree.upstream}/{lacking[0]}{more}, missing or damaged in the "
            f"published snapshot of {tree.name}; nothing was published and that snapshot "
            "stays as it is: wait until upstream has it again, or roll back with salt-run "
            f"mosmu.sync rollback=True mos_version={tree.version} distro={tree.distro}")
    return count, size


def _sync_locked(upstream, layout, backend, wanted, opts, keep, verify=False):
    tree = layout.tree
    for entry in os.listdir(layout.stage):           # leftovers of a killed sync
        if entry.startswith("build-"):
            shutil.rmtree(os.path.join(layout.stage, entry), ignore_errors=True)
        elif entry.startswith("files-from-"):
            os.unlink(os.path.join(layout.stage, entry))
    parent, base = os.path.split(layout.link)
    for entry in os.listdir(parent):
        if entry.startswith(f"{base}.mosmu-link-") and os.path.islink(os.path.join(parent, entry)):
            os.unlink(os.path.join(parent, entry))
    if layout.current() == "":
        layout.adopt()
    current = layout.current()
    cur_dir = layout.current_dir()
    offered = {tree.suite_of(r) for r in tree.repos}
    carried = [u for u in backend.units_in(cur_dir) if u in offered and u not in wanted] \
        if cur_dir else []
    units = wanted + carried
    sid = _new_id(layout.snapdir)
    build = os.path.join(layout.stage, f"build-{sid}")
    root = os.path.join(build, "root")
    snap = os.path.join(root, tree.upstream)
    up = tree.upstream
    try:
        os.makedirs(root)
        link_dest = None
        if cur_dir:
            link_dest = os.path.join(build, "link")
            os.makedirs(os.path.dirname(os.path.join(link_dest, up)), exist_ok=True)
            os.symlink(os.path.realpath(cur_dir), os.path.join(link_dest, up))
        # 1. anchors only
        anchors = [f"{up}/{a}" for u in units for a in backend.anchors(u)]
        _rsync(upstream, root, anchors, f"{tree.name} index anchors", partial=layout.partial,
               missing_ok=True, **opts)
        suites = {}
        for unit in list(units):
            if backend.present(snap, unit):
                continue
            if unit in wanted:
                first = backend.anchors(unit)[0]
                raise MirrorError(f"{up}/{first} is missing upstream; {tree.name} has no "
                                  f"{unit} there (check the MOS version, repos and the "
                                  "catalog row)")
            log.warning("%s: %s vanished upstream; dropping it from the mirror", tree.name, unit)
            units.remove(unit)
            suites[unit] = "dropped"
        for unit in units:
            same = cur_dir and all(
                _same_bytes(os.path.join(snap, a), os.path.join(cur_dir, a))
                for a in backend.anchors(unit))
            suites[unit] = "unchanged" if same else "updated"
        # 1b. verify=True: the published snapshot against its own indices, whatever upstream did
        published, problems = None, []
        if verify and cur_dir:
            published, problems = _check_published(upstream, layout, backend, cur_dir, units,
                                                   root, layout.partial, opts)
        if not problems and all(state == "unchanged" for state in suites.values()):
            if verify:
                return _result(layout, "verified", current, suites, problems=[])
            return _result(layout, "unchanged", current, suites)
        # 2. signatures, before anything else is fetched
        if tree.key:
            keyring = _keyring(tree.key, build)
            for unit in units:
                backend.signatures(snap, unit, keyring, build)
        # 3. indices (always fetched whole: a rebuilt index may keep its size and mtime, and
        #    rsync's quick check would then link the old one), then the files they name
        files, size = _rsync(
            upstream, root, [f"{up}/{i}" for u in units for i in backend.indices(snap, u)],
            f"{tree.name} indices", partial=layout.partial, **opts, missing_ok=True)
        pool = pool_of(backend, snap, units)
        bad = {p["path"] for p in problems}
        if published is None:
            trusted = trusted_pool(backend, cur_dir, units)
        else:     # hashed whole just now: its intact files are trusted, even if adopted
            trusted = {rel: entry for rel, entry in published.items() if rel not in bad}
        fetch = _link_known(cur_dir, snap, pool, trusted)
        damaged = [p for p in fetch if p in bad]
        fetch = [p for p in fetch if p not in bad]
        if fetch:
            count, nbytes = _rsync(upstream, root, [f"{up}/{p}" for p in fetch],
                                   f"{tree.name} packages ({len(fetch)} files)",
                                   partial=layout.partial, link_dest=link_dest, **opts)
            files, size = files + count, size + nbytes
        if damaged:
            count, nbytes = _fetch_damaged(upstream, root, tree, damaged, layout.partial, opts)
            files, size = files + count, size + nbytes
        # 4. verify everything; refetch hard-linked files upstream changed in place
        stats = verify_snapshot(backend, snap, units, cur_dir, pool=pool, trusted=trusted)
        if stats["linked_bad"]:
            log.warning("%s: %d file(s) changed upstream with the same size and mtime; "
                        "fetching them again", tree.name, len(stats["linked_bad"]))
            for rel in stats["linked_bad"]:
                os.unlink(os.path.join(snap, rel))
            count, nbytes = _rsync(upstream, root, [f"{up}/{p}" for p in stats["linked_bad"]],
                                   f"{tree.name} changed packages", partial=layout.partial,
                                   **opts, ignore_times=True)
            files, size = files + count, size + nbytes
            # no previous snapshot: nothing counts as linked, a still-bad copy raises
            verify_snapshot(backend, snap, units, pool=pool)
        # 5. publish
        os.rename(snap, os.path.join(layout.snapdir, sid))
        layout.point(sid)
        log.info("%s: published snapshot %s (%d files, %d bytes fetched)", tree.name, sid,
                 files, size)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    _prune(layout, keep, after=current)
    if not verify:
        return _result(layout, "updated", sid, suites, files, size)
    return _result(layout, "repaired" if problems else "updated", sid, suites, files, size,
                   problems=_rooted(layout, current, problems),
                   repaired=sorted(os.path.join(layout.rel(sid), p["path"]) for p in problems))


def _dry_run(upstream, layout, backend, wanted, opts, verify=False):
    """What a sync would fetch: indices into a private temp dir, pool files with ``-n``;
    with ``verify``, the problems of the published snapshot (read, never written)."""
    tree, up = layout.tree, layout.tree.upstream
    cur_dir = layout.current_dir()
    units = list(wanted)
    if verify and cur_dir:        # as a real sync: the suites already published come too
        offered = {tree.suite_of(r) for r in tree.repos}
        units += [u for u in backend.units_in(cur_dir) if u in offered and u not in wanted]
    with tempfile.TemporaryDirectory(prefix="mosmu-mirror-test-") as tmp:
        root = os.path.join(tmp, "root")
        partial = os.path.join(tmp, "partial")
        os.makedirs(root)
        os.makedirs(partial)
        snap = os.path.join(root, up)
        _rsync(upstream, root, [f"{up}/{a}" for u in units for a in backend.anchors(u)],
               f"{tree.name} index anchors", partial=partial, **opts, missing_ok=True)
        suites = {}
        for unit in list(units):
            if not backend.present(snap, unit) and unit not in wanted:
                units.remove(unit)
                suites[unit] = "dropped"
                continue
            if not backend.present(snap, unit):
                raise MirrorError(f"{up}/{backend.anchors(unit)[0]} is missing upstream; "
                                  f"{tree.name} has no {unit} there (check the catalog row)")
            same = cur_dir and all(_same_bytes(os.path.join(snap, a), os.path.join(cur_dir, a))
                                   for a in backend.anchors(unit))
            suites[unit] = "unchanged" if same else "updated"
        current = layout.current() or None
        published, problems = None, []
        if verify and cur_dir:
            published, problems = _check_published(upstream, layout, backend, cur_dir, units,
                                                   root, partial, opts)
        extra = {}
        if verify:
            extra = {"problems": _rooted(layout, layout.current(), problems),
                     "would_repair": sorted(os.path.join(tree.path, p["path"])
                                            for p in problems)}
        if not problems and all(state == "unchanged" for state in suites.values()):
            if verify:
                return _result(layout, "verified", current, suites, problems=[])
            return _result(layout, "unchanged", current, suites)
        link_dest = None
        if cur_dir:
            link_dest = os.path.join(tmp, "link")
            os.makedirs(os.path.dirname(os.path.join(link_dest, up)), exist_ok=True)
            os.symlink(os.path.realpath(cur_dir), os.path.join(link_dest, up))
        files, size = _rsync(
            upstream, root, [f"{up}/{i}" for u in units for i in backend.indices(snap, u)],
            f"{tree.name} indices", partial=partial, **opts, missing_ok=True)
        pool = pool_of(backend, snap, units)
        bad = {p["path"] for p in problems}
        if published is None:
            trusted = trusted_pool(backend, cur_dir, units)
        else:
            trusted = {rel: entry for rel, entry in published.items() if rel not in bad}
        fetch = [p for p, entry in pool.items() if trusted.get(p) != entry and p not in bad]
        damaged = sorted(p for p in pool if p in bad)
        count = nbytes = 0
        if fetch:
            count, nbytes = _rsync(upstream, root, [f"{up}/{p}" for p in fetch],
                                   f"{tree.name} packages", partial=partial, **opts,
                                   link_dest=link_dest, dry_run=True)
        if damaged:
            more, more_bytes = _fetch_damaged(upstream, root, tree, damaged, partial, opts,
                                              dry_run=True)
            count, nbytes = count + more, nbytes + more_bytes
    state = "would repair" if problems else "would update"
    return _result(layout, state, current, suites, files + count, size + nbytes, **extra)


def _prune(layout, keep, after=None):
    """Keep the newest ``keep`` snapshots and the published one. Snapshots newer than
    ``after`` (the one published before this sync) but older than the published one were
    rolled back from: they go first, so a later rollback never returns to them."""
    current = layout.current()
    ids = [sid for sid in layout.ids() if not after or not after < sid < current]
    for sid in sorted(set(layout.ids()) - set(ids)):
        log.info("%s: removing snapshot %s (rolled back from)", layout.tree.name, sid)
        shutil.rmtree(os.path.join(layout.snapdir, sid), ignore_errors=True)
    for sid in ids[:-keep]:
        if sid != current:
            log.info("%s: removing old snapshot %s", layout.tree.name, sid)
            shutil.rmtree(os.path.join(layout.snapdir, sid), ignore_errors=True)


# -- history, rollback, pre-flight -----------------------------------------------------------

def current_snapshot(mirror_root, tree):
    """Path below ``mirror_root`` of the published snapshot dir, or None.

    :param mirror_root: the master's web root
    :param tree: the catalog row
    :return: e.g. ``.snapshots/mos-repos/ubuntu/8.0/20261125T175314.123456Z``; the tree's
        own path if it is a plain dir not yet adopted; None if nothing is published

    CLI Example (through the runner)::

        salt-run mosmu.mirror_status
    """
    layout = _Layout(mirror_root, tree)
    sid = layout.current()
    if sid is None:
        return None
    return tree.path if sid == "" else layout.rel(sid)


def rollback(mirror_root, tree, staging_dir=None, lock_timeout=600, test=False):
    """Point the tree back at the snapshot before the published one (atomically).

    :param mirror_root: the master's web root
    :param tree: the catalog row
    :param staging_dir: as for :func:`sync_tree` (the lock lives there)
    :param lock_timeout: seconds to wait for a running sync of the tree
    :param test: only say what would be rolled back: no lock, no change
    :return: ``{"from": id, "to": id}``; the snapshot rolled back from stays (a second
        rollback goes further back) until the next successful sync discards it

    CLI Example (through the runner)::

        salt-run mosmu.mirror_rollback mos_version=8.0
    """
    layout = _Layout(mirror_root, tree, staging_dir)

    def target():
        current = layout.current()
        if not current:
            raise MirrorError(f"{tree.name} has no mosmu snapshot published at {layout.link}; "
                              "nothing to roll back")
        older = [sid for sid in layout.ids() if sid < current]
        if not older:
            raise MirrorError(f"{tree.name}: snapshot {current} is the oldest kept; nothing "
                              "to roll back to (raise keep_snapshots to keep more)")
        return current, older[-1]

    if test:
        current, previous = target()
        return {"from": current, "to": previous}
    with _locked(layout, lock_timeout):
        current, previous = target()
        layout.point(previous)
    log.info("%s: rolled back from %s to %s", tree.name, current, previous)
    return {"from": current, "to": previous}


def snapshots(mirror_root, tree):
    """The tree's snapshots, oldest first, with the package changes of each.

    :param mirror_root: the master's web root
    :param tree: the catalog row
    :return: ``[{"id", "time", "path", "current", "added": ["name:arch ver"],
        "upgraded": ["name:arch old -> new"], "downgraded": [...], "removed": [...]}]``

    CLI Example (through the runner)::

        salt-run mosmu.mirror_history mos_version=8.0
    """
    layout = _Layout(mirror_root, tree)
    backend = _backend(tree)
    current = layout.current()
    out, before = [], {}
    for sid in layout.ids():
        pkgs = backend.packages(os.path.join(layout.snapdir, sid))
        row = {"id": sid, "time": _id_time(sid), "path": layout.rel(sid),
               "current": sid == current, "added": [], "upgraded": [], "downgraded": [],
               "removed": []}
        for key in sorted(set(pkgs) | set(before)):
            old, new = before.get(key), pkgs.get(key)
            if old is None:
                row["added"].append(f"{key} {new}")
            elif new is None:
                row["removed"].append(f"{key} {old}")
            elif old != new:
                kind = "upgraded" if _newer(new, old, tree.backend) else "downgraded"
                row[kind].append(f"{key} {old} -> {new}")
        out.append(row)
        before = pkgs
    return out


def _newer(new, old, backend):
    if backend == "apt":
        version = _debian()[1]
        return version(new) > version(old)
    return _rpm_key(new) > _rpm_key(old)


def _rpm_key(evr):
    epoch, _, rest = evr.partition(":")
    return [int(epoch or 0)] + [(0, int(p)) if p.isdigit() else (1, p)
                                for p in re.findall(r"\d+|[a-zA-Z]+", rest)]


def missing(mirror_root, tree, repos):
    """Suites (apt) or repo dirs (yum) of ``repos`` the published tree lacks.

    :param mirror_root: the master's web root
    :param tree: the catalog row
    :param repos: repos a plan needs, e.g. ``["updates"]``
    :return: e.g. ``["mos8.0-security"]``; empty when the mirror has them all

    CLI Example (through the runner)::

        salt-run mosmu.update env=1
    """
    layout = _Layout(mirror_root, tree)
    backend = _backend(tree)
    cur_dir = layout.current_dir()
    return [u for u in _units(tree, repos) if not cur_dir or not backend.present(cur_dir, u)]


def verify_published(mirror_root, tree, repos=None, hashing=True):
    """Problems of the published snapshot of ``tree`` against its own indices.

    The same checks a sync makes before it publishes (Release -> Packages -> pool, or
    repomd.xml -> metadata -> rpms), reading the published snapshot, never writing it: each
    index and each file an index names must be there, a regular file, of the size (and,
    with ``hashing``, the SHA256) its index gives. Files no index names are no problem.
    An index Release lists that is absent while another compression of it is there is no
    problem here (apt falls back); ``sync_tree(verify=True)`` asks upstream about those.

    :param mirror_root: the master's web root
    :param tree: the catalog row
    :param repos: repos whose suites (apt) or repo dirs (yum) to check, e.g.
        ``["updates"]``; None: every one published. A suite not published is no problem
        here (:func:`missing` reports it)
    :param hashing: False: stat every file only (the update pre-flight; a corruption that
        keeps the size is then not seen)
    :return: ``[{"path", "problem", "detail"}]``: ``path`` below ``mirror_root`` (in the
        published snapshot), ``problem`` one of ``missing``, ``type``, ``size``,
        ``digest``, ``unreadable``; empty when nothing is wrong or nothing is published

    CLI Example (through the runner)::

        salt-run mosmu.sync mos_version=8.0 verify=True test=True
    """
    layout = _Layout(mirror_root, tree)
    backend = _backend(tree)
    cur_dir = layout.current_dir()
    if cur_dir is None:
        return []
    units = backend.units_in(cur_dir) if repos is None else \
        [u for u in _units(tree, repos) if backend.present(cur_dir, u)]
    return _rooted(layout, layout.current(), _verify_dir(backend, cur_dir, units, hashing)[1])


def damaged_message(mirror_root, tree, problems, shown=3):
    """The one-line error for :func:`verify_published`'s ``problems``: the first ``shown``
    paths, how many in all, and the command that repairs them.

    CLI Example (through the runner)::

        salt-run mosmu.update env=1
    """
    first = "; ".join(f"{p['path']} {p['detail']}" for p in problems[:shown])
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return (f"the master's mirror of {tree.name} under {mirror_root} has {len(problems)} "
            f"missing or damaged file(s) that nodes would fail to fetch: {first}{more}; no "
            f"node was touched. Repair it: salt-run mosmu.sync mos_version={tree.version} "
            f"distro={tree.distro} verify=True")
