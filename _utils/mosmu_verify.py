"""Verify a snapshot dir against its own indices: every index, then every file they name.

Works on either index format through its backend (``mosmu_aptindex.Apt``,
``mosmu_yumindex.Yum``): Release -> Packages (size + SHA256) -> every pool file, or
repomd.xml -> metadata -> every rpm. A file that is the very inode of a previous snapshot
the sync verified, with the same index entry, is trusted without hashing it again.
"""

import contextlib
import logging
import os

import mosmu_index
import mosmu_snapshots
import mosmu_text
from mosmu_errors import MirrorError

log = logging.getLogger(__name__)


def pool_of(backend, snap, units, verify=True, problems=None, hashing=True):
    """``{pool path: (size, algo, hex)}`` the indices of ``units`` name (verified first;
    ``problems`` and ``hashing`` as for :meth:`mosmu_aptindex.Apt.check`)."""
    pool = {}
    for unit in units:
        for rel, entry in backend.check(snap, unit, verify, problems, hashing).items():
            mosmu_index.merge(pool, rel, entry, f"the index of {unit}")
    return pool


def trusted_pool(backend, previous, units):
    """Pool entries of the previous snapshot, which the sync verified when it published
    it; ``{}`` for none or for an adopted one (an older mirror's files were never checked)."""
    if not previous or os.path.basename(previous).endswith(mosmu_snapshots.ADOPTED):
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
    always, digest unless it is the same inode as in ``previous`` (a snapshot the sync
    verified) whose index gave it the same digest.

    :param backend: ``mosmu_mirror.INDEX_FORMATS["apt"]`` or ``["yum"]``
    :param snap: the snapshot directory
    :param units: suites (apt) or repo dirs (yum)
    :param previous: the previous verified snapshot dir, or None (hash everything)
    :param pool: :func:`pool_of` of ``snap`` when the caller already verified the indices
    :param trusted: :func:`trusted_pool` of ``previous`` when the caller has it
    :param problems: a list: add every problem to it (:func:`mosmu_index.problem`, paths
        relative to ``snap``) instead of raising on the first
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
        bad, st = mosmu_index.stat_problem(path, size)
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
            bad = mosmu_index.digest_problem(path, algo, digest)
            if bad and linked:
                stats["linked_bad"].append(rel)
                continue
        if bad and problems is None:
            raise MirrorError(f"{rel} {bad[1]}{_RAISED[bad[0]]}")
        if bad:
            problems.append(mosmu_index.problem(rel, *bad))
    return stats


_RAISED = {"missing": "; nothing was published, run again later",
           "type": "; upstream is broken",
           "size": " (truncated or mid-update); nothing was published",
           "digest": " (corrupt upstream copy or transfer); nothing was published"}


def verify_dir(backend, snap, units, hashing=True):
    """Every problem of the snapshot dir ``snap`` against its own indices, hashing each file
    (or, ``hashing=False``, by stat alone): ``(pool, problems)``, paths relative to ``snap``;
    ``pool`` holds the entries of the indices found intact."""
    problems = []
    pool = pool_of(backend, snap, units, problems=problems, hashing=hashing)
    verify_snapshot(backend, snap, units, pool=pool, trusted={}, problems=problems,
                    hashing=hashing)
    return pool, problems

