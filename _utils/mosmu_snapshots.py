"""Where a mirrored tree's snapshots live on the master, and how the published one moves.

Layout (``P`` = ``tree.path``, ``<id>`` = ``20261125T175314.123456Z``)::

    <mirror_root>/P                     -> symlink to .snapshots/P/<id> (what nodes read)
    <mirror_root>/.snapshots/P/<id>/    one verified snapshot, also served by this fixed path
    <staging_dir>/P/lock                fcntl lock: one sync of a tree at a time
    <staging_dir>/P/build-<id>/         the snapshot being built (never inside the web root)
    <staging_dir>/P/partial/            rsync --partial-dir, so a killed transfer resumes

``staging_dir`` defaults to ``<dirname(mirror_root)>/.mosmu-staging``; it must be on the
same filesystem as ``mirror_root`` (hard links, ``rename(2)``). A plain directory left by an
older mirror at ``<mirror_root>/P`` is adopted as the first snapshot (``<id>-adopted``).

:class:`Layout` names those paths and swaps the link atomically; :func:`locked` holds a
tree's lock; :func:`prune` keeps the newest snapshots; :func:`current_snapshot` and
:func:`rollback` are the public API (the sync itself is ``mosmu_mirror``).
"""

import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import time

from mosmu_errors import MirrorError

log = logging.getLogger(__name__)

SNAPSHOTS = ".snapshots"
STAGING = ".mosmu-staging"
KEEP = 3
ADOPTED = "-adopted"
_ID = re.compile(r"\d{8}T\d{6}\.\d{6}Z(?:-adopted)?")


def new_id(parent):
    """Time-sortable snapshot id, unique in ``parent`` even within one second."""
    while True:
        now = time.time()
        sid = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
        if not os.path.lexists(os.path.join(parent, sid)) and \
                not os.path.lexists(os.path.join(parent, sid + ADOPTED)):
            return sid
        time.sleep(0.000002)


def id_time(sid):
    """A snapshot id's time as ISO 8601 UTC (``2026-11-25T17:53:14Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.strptime(sid[:15], "%Y%m%dT%H%M%S"))


# -- layout ----------------------------------------------------------------------------------

class Layout:
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
        sid = new_id(self.snapdir) + ADOPTED
        os.rename(self.link, os.path.join(self.snapdir, sid))
        self.point(sid)
        log.info("adopted %s as snapshot %s", self.link, sid)
        return sid


@contextlib.contextmanager
def locked(layout, timeout):
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


# -- keeping and rolling back ----------------------------------------------------------------

def prune(layout, keep, after=None):
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


def current_snapshot(mirror_root, tree):
    """Path below ``mirror_root`` of the published snapshot dir, or None.

    :param mirror_root: the master's web root
    :param tree: the catalog row
    :return: e.g. ``.snapshots/mos-repos/ubuntu/8.0/20261125T175314.123456Z``; the tree's
        own path if it is a plain dir not yet adopted; None if nothing is published

    CLI Example (through the runner)::

        salt-run mosmu.mirror_status
    """
    layout = Layout(mirror_root, tree)
    sid = layout.current()
    if sid is None:
        return None
    return tree.path if sid == "" else layout.rel(sid)


def rollback(mirror_root, tree, staging_dir=None, lock_timeout=600, test=False):
    """Point the tree back at the snapshot before the published one (atomically).

    :param mirror_root: the master's web root
    :param tree: the catalog row
    :param staging_dir: as for ``mosmu_mirror.sync_tree`` (the lock lives there)
    :param lock_timeout: seconds to wait for a running sync of the tree
    :param test: only say what would be rolled back: no lock, no change
    :return: ``{"from": id, "to": id}``; the snapshot rolled back from stays (a second
        rollback goes further back) until the next successful sync discards it

    CLI Example (through the runner)::

        salt-run mosmu.mirror_rollback mos_version=8.0
    """
    layout = Layout(mirror_root, tree, staging_dir)

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
    with locked(layout, lock_timeout):
        current, previous = target()
        layout.point(previous)
    log.info("%s: rolled back from %s to %s", tree.name, current, previous)
    return {"from": current, "to": previous}

