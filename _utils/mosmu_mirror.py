"""Mirror one catalog tree from upstream as verified snapshots, published atomically.

Where snapshots, the published link, the lock and the builds live is ``mosmu_snapshots``;
the pieces a sync uses are ``mosmu_rsync`` (transfers), ``mosmu_aptindex`` /
``mosmu_yumindex`` (the index formats, :data:`INDEX_FORMATS`), ``mosmu_gpg`` (signatures) and
``mosmu_verify`` (a snapshot against its indices). One :func:`sync_tree` run:

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

Public API: :func:`sync_tree`, :func:`snapshots` (history), :func:`missing`,
:func:`verify_published`, :func:`damaged_message`; ``mosmu_snapshots.rollback`` and
``mosmu_snapshots.current_snapshot`` for the published link.
"""

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time

import mosmu_aptindex
import mosmu_gpg
import mosmu_index
import mosmu_rsync
import mosmu_snapshots
import mosmu_verify
import mosmu_yumindex
from mosmu_errors import MirrorError

log = logging.getLogger(__name__)

# The index format of a catalog row's ``backend``, one shape: anchors, present, units_in,
# indices, check, packages, signatures, newer.
INDEX_FORMATS = {"apt": mosmu_aptindex.Apt(), "yum": mosmu_yumindex.Yum()}


def _backend(tree):
    """The index format of ``tree``, or :class:`MirrorError` naming the ones mosmu mirrors."""
    try:
        return INDEX_FORMATS[tree.backend]
    except KeyError:
        raise MirrorError(f"catalog row {tree.name} has backend {tree.backend!r}; mosmu "
                          f"mirrors {', '.join(INDEX_FORMATS)}") from None


def _same_bytes(a, b):
    """Whether two files hold the same bytes (two absent files do)."""
    try:
        return mosmu_index.read(a) == mosmu_index.read(b)
    except FileNotFoundError:
        return not os.path.exists(a) and not os.path.exists(b)


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
                if mosmu_index.stat_problem(source, entry[0])[0] is None:
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


def sync_tree(upstream, mirror_root, tree, repos, timeout=120, keep=mosmu_snapshots.KEEP,
              staging_dir=None, test=False, lock_timeout=600, bwlimit=None, verify=False):
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
    layout = mosmu_snapshots.Layout(mirror_root, tree, staging_dir)
    wanted = _units(tree, repos)
    mosmu_rsync.source(upstream)
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
        with mosmu_snapshots.locked(layout, lock_timeout):
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
    pool, problems = mosmu_verify.verify_dir(backend, cur_dir, present)
    known = {re.sub(r"\.(gz|xz|bz2)$", "", p["path"]) for p in problems}
    absent = [rel for unit in present for rel in backend.indices(cur_dir, unit)
              if re.sub(r"\.(gz|xz|bz2)$", "", rel) not in known
              and not os.path.lexists(os.path.join(cur_dir, rel))]
    if absent:
        up, got = layout.tree.upstream, []
        mosmu_rsync.rsync(upstream, root, [f"{up}/{rel}" for rel in absent],
                          f"{layout.tree.name} indices the published snapshot lacks",
                          partial=partial, missing_ok=True, names=got, **opts)
        problems += [mosmu_index.problem(rel, "missing", "is missing though Release lists it "
                                         "(and upstream has it)")
                     for rel in absent if f"{up}/{rel}" in got]
    return pool, problems


def _fetch_damaged(upstream, root, tree, damaged, partial, opts, dry_run=False):
    """Fetch the files ``damaged`` (tree paths) afresh, without ``--link-dest``: its quick
    check (size and mtime) could link the damaged copy back. Raise when upstream lacks one.

    :return: ``(files transferred, bytes)``
    """
    got = []
    count, size = mosmu_rsync.rsync(upstream, root,
                                    [f"{tree.upstream}/{rel}" for rel in damaged],
                                    f"{tree.name} files to repair ({len(damaged)})",
                                    partial=partial, missing_ok=True, dry_run=dry_run,
                                    names=got, **opts)
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
    sid = mosmu_snapshots.new_id(layout.snapdir)
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
        mosmu_rsync.rsync(upstream, root, anchors, f"{tree.name} index anchors",
                          partial=layout.partial, missing_ok=True, **opts)
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
            keyring = mosmu_gpg.keyring(tree.key, build)
            for unit in units:
                backend.signatures(snap, unit, keyring, build)
        # 3. indices (always fetched whole: a rebuilt index may keep its size and mtime, and
        #    rsync's quick check would then link the old one), then the files they name
        files, size = mosmu_rsync.rsync(
            upstream, root, [f"{up}/{i}" for u in units for i in backend.indices(snap, u)],
            f"{tree.name} indices", partial=layout.partial, **opts, missing_ok=True)
        pool = mosmu_verify.pool_of(backend, snap, units)
        bad = {p["path"] for p in problems}
        if published is None:
            trusted = mosmu_verify.trusted_pool(backend, cur_dir, units)
        else:     # hashed whole just now: its intact files are trusted, even if adopted
            trusted = {rel: entry for rel, entry in published.items() if rel not in bad}
        fetch = _link_known(cur_dir, snap, pool, trusted)
        damaged = [p for p in fetch if p in bad]
        fetch = [p for p in fetch if p not in bad]
        if fetch:
            count, nbytes = mosmu_rsync.rsync(upstream, root, [f"{up}/{p}" for p in fetch],
                                              f"{tree.name} packages ({len(fetch)} files)",
                                              partial=layout.partial, link_dest=link_dest,
                                              **opts)
            files, size = files + count, size + nbytes
        if damaged:
            count, nbytes = _fetch_damaged(upstream, root, tree, damaged, layout.partial, opts)
            files, size = files + count, size + nbytes
        # 4. verify everything; refetch hard-linked files upstream changed in place
        stats = mosmu_verify.verify_snapshot(backend, snap, units, cur_dir, pool=pool,
                                             trusted=trusted)
        if stats["linked_bad"]:
            log.warning("%s: %d file(s) changed upstream with the same size and mtime; "
                        "fetching them again", tree.name, len(stats["linked_bad"]))
            for rel in stats["linked_bad"]:
                os.unlink(os.path.join(snap, rel))
            count, nbytes = mosmu_rsync.rsync(upstream, root,
                                              [f"{up}/{p}" for p in stats["linked_bad"]],
                                              f"{tree.name} changed packages",
                                              partial=layout.partial, **opts,
                                              ignore_times=True)
            files, size = files + count, size + nbytes
            # no previous snapshot: nothing counts as linked, a still-bad copy raises
            mosmu_verify.verify_snapshot(backend, snap, units, pool=pool)
        # 5. publish
        os.rename(snap, os.path.join(layout.snapdir, sid))
        layout.point(sid)
        log.info("%s: published snapshot %s (%d files, %d bytes fetched)", tree.name, sid,
                 files, size)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    mosmu_snapshots.prune(layout, keep, after=current)
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
        mosmu_rsync.rsync(upstream, root,
                          [f"{up}/{a}" for u in units for a in backend.anchors(u)],
                          f"{tree.name} index anchors", partial=partial, **opts,
                          missing_ok=True)
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
        files, size = mosmu_rsync.rsync(
            upstream, root, [f"{up}/{i}" for u in units for i in backend.indices(snap, u)],
            f"{tree.name} indices", partial=partial, **opts, missing_ok=True)
        pool = mosmu_verify.pool_of(backend, snap, units)
        bad = {p["path"] for p in problems}
        if published is None:
            trusted = mosmu_verify.trusted_pool(backend, cur_dir, units)
        else:
            trusted = {rel: entry for rel, entry in published.items() if rel not in bad}
        fetch = [p for p, entry in pool.items() if trusted.get(p) != entry and p not in bad]
        damaged = sorted(p for p in pool if p in bad)
        count = nbytes = 0
        if fetch:
            count, nbytes = mosmu_rsync.rsync(upstream, root, [f"{up}/{p}" for p in fetch],
                                              f"{tree.name} packages", partial=partial, **opts,
                                              link_dest=link_dest, dry_run=True)
        if damaged:
            more, more_bytes = _fetch_damaged(upstream, root, tree, damaged, partial, opts,
                                              dry_run=True)
            count, nbytes = count + more, nbytes + more_bytes
    state = "would repair" if problems else "would update"
    return _result(layout, state, current, suites, files + count, size + nbytes, **extra)


# -- what is published ---------------------------------------------------------------------

def snapshots(mirror_root, tree):
    """The tree's snapshots, oldest first, with the package changes of each.

    :param mirror_root: the master's web root
    :param tree: the catalog row
    :return: ``[{"id", "time", "path", "current", "added": ["name:arch ver"],
        "upgraded": ["name:arch old -> new"], "downgraded": [...], "removed": [...]}]``

    CLI Example (through the runner)::

        salt-run mosmu.mirror_history mos_version=8.0
    """
    layout = mosmu_snapshots.Layout(mirror_root, tree)
    backend = _backend(tree)
    current = layout.current()
    out, before = [], {}
    for sid in layout.ids():
        pkgs = backend.packages(os.path.join(layout.snapdir, sid))
        row = {"id": sid, "time": mosmu_snapshots.id_time(sid), "path": layout.rel(sid),
               "current": sid == current, "added": [], "upgraded": [], "downgraded": [],
               "removed": []}
        for key in sorted(set(pkgs) | set(before)):
            old, new = before.get(key), pkgs.get(key)
            if old is None:
                row["added"].append(f"{key} {new}")
            elif new is None:
                row["removed"].append(f"{key} {old}")
            elif old != new:
                kind = "upgraded" if backend.newer(new, old) else "downgraded"
                row[kind].append(f"{key} {old} -> {new}")
        out.append(row)
        before = pkgs
    return out


def missing(mirror_root, tree, repos):
    """Suites (apt) or repo dirs (yum) of ``repos`` the published tree lacks.

    :param mirror_root: the master's web root
    :param tree: the catalog row
    :param repos: repos a plan needs, e.g. ``["updates"]``
    :return: e.g. ``["mos8.0-security"]``; empty when the mirror has them all

    CLI Example (through the runner)::

        salt-run mosmu.update env=1
    """
    layout = mosmu_snapshots.Layout(mirror_root, tree)
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
    layout = mosmu_snapshots.Layout(mirror_root, tree)
    backend = _backend(tree)
    cur_dir = layout.current_dir()
    if cur_dir is None:
        return []
    units = backend.units_in(cur_dir) if repos is None else \
        [u for u in _units(tree, repos) if backend.present(cur_dir, u)]
    problems = mosmu_verify.verify_dir(backend, cur_dir, units, hashing)[1]
    return _rooted(layout, layout.current(), problems)


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
