"""What a repository index says about a file, and whether the file on disk matches it.

Shared by the apt and yum index formats (``mosmu_aptindex``, ``mosmu_yumindex``) and the
snapshot verification (``mosmu_verify``): digests, decompression of an index, pool entries
merged from several indices, and the problems a file can have against its entry.

A pool is ``{path: (size, algo, hex digest)}`` (paths relative to the tree); a problem is
``{"path", "problem", "detail"}`` (:func:`problem`).
"""

import bz2
import gzip
import hashlib
import lzma
import os
import re
import stat
import zlib

from mosmu_errors import MirrorError

_REL = re.compile(r"[^\x00-\x1f\x7f]+")


def file_digest(path, algo="sha256"):
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algo)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def decompress(raw, name):
    """``raw`` decompressed by the suffix of ``name`` (``.gz``, ``.xz``, ``.bz2``; else as it
    is); damaged data raises :class:`MirrorError`."""
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


def read(path):
    """The bytes of a file."""
    with open(path, "rb") as handle:
        return handle.read()


def merge(pool, rel, entry, where):
    """Add a pool entry; two indices giving one file different sizes/digests is an error."""
    if not _REL.fullmatch(rel) or rel.startswith(("../", "/")) or rel == "..":
        raise MirrorError(f"{where} names {rel!r}, which is not a plain path inside the tree; "
                          "upstream is broken")
    if pool.setdefault(rel, entry) != entry:
        raise MirrorError(f"{where} gives {rel} another size or digest than another index of "
                          "the tree; upstream is broken or mid-update, run again later")


def problem(rel, kind, detail):
    """One thing wrong with a published file: ``kind`` is ``missing``, ``type``, ``size``,
    ``digest`` or ``unreadable``; ``detail`` completes the sentence "<path> <detail>"."""
    return {"path": rel, "problem": kind, "detail": detail}


def stat_problem(path, size, source="its index", follow=False):
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


def digest_problem(path, algo, digest, source="its index"):
    """``(kind, detail)`` when the file's ``algo`` digest is not ``digest``, else None."""
    if file_digest(path, algo) != digest:
        return ("digest", f"does not match the {algo} {source} gives")
    return None


def collecting(problems, rel, parse, *args):
    """``parse(*args)``; an index it cannot read raises, or with a ``problems`` list is added
    to it as ``unreadable`` and read as empty."""
    try:
        return parse(*args)
    except MirrorError as err:
        if problems is None:
            raise
        problems.append(problem(rel, "unreadable", f"cannot be read ({err})"))
        return []

