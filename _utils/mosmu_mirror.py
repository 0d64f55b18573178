"""Sync the MU suites a plan needs from the upstream mirror into the master's web root.

Only what the plan needs, never half-published:

1. rsync each suite's ``dists/<suite>/`` into a private staging dir;
2. skip suites whose upstream ``Release`` equals the published one;
3. verify the staged indices against ``Release`` (size + SHA256) and read the pool files
   they name;
4. rsync exactly those pool files into the shared ``pool/`` (added, never deleted, so the
   published indices stay valid meanwhile), then verify each (size + SHA256);
5. publish each suite by renaming a symlink ``dists/<suite>`` onto the new index dir
   (``rename(2)``: atomic); the previous index dir is kept for rollback.

A failure at any step raises :class:`MirrorError` and leaves the published tree as it was.
"""

import gzip
import hashlib
import logging
import lzma
import os
import shutil
import subprocess
import tempfile
import time

import mosmu_catalog
from mosmu_errors import MirrorError

log = logging.getLogger(__name__)

STAGING = ".mosmu-staging"
INDEX_NAMES = ("Packages", "Packages.gz", "Packages.xz")
RSYNC_HINTS = {
    5: "the upstream rsync module or path does not exist; check mosmu:mirror_upstream",
    10: "cannot connect to the upstream rsync daemon; check mosmu:mirror_upstream and the "
        "master's network/proxy (RSYNC_PROXY)",
    23: "some files are missing upstream (unknown suite or MOS version?)",
    24: "files vanished upstream while syncing (upstream mid-update); run again later",
    30: "upstream stopped answering (I/O timeout); run again later",
    35: "timed out connecting to the upstream rsync daemon; check mosmu:mirror_upstream",
}


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _rsync(argv, what):
    """Run rsync; raise MirrorError with rsync's own words and a hint on failure."""
    if shutil.which("rsync") is None:
        raise MirrorError("rsync is not installed on the master; install it (apt-get install "
                          "rsync / yum install rsync)")
    log.debug("running %s", argv)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        hint = RSYNC_HINTS.get(proc.returncode, "see the rsync message")
        raise MirrorError(f"rsync of {what} failed (exit {proc.returncode}: {detail}); {hint}")
    return [ln for ln in proc.stdout.splitlines() if ln and not ln.endswith("/")]


def _rsync_base(upstream, timeout):
    argv = ["rsync", "-rlptH", "--safe-links", "--chmod=D755,F644", f"--timeout={timeout}",
            "--out-format=%n"]
    if upstream.startswith("rsync://"):
        argv.append("--contimeout=30")
    return argv


def release_entries(text):
    """``{relpath: (size, sha256)}`` from the ``SHA256:`` section of a Release file."""
    out, in_section = {}, False
    for line in text.splitlines():
        if not line.startswith(" "):
            in_section = line.strip() == "SHA256:"
            continue
        if in_section:
            parts = line.split()
            if len(parts) == 3:
                out[parts[2]] = (int(parts[1]), parts[0])
    return out


def packages_entries(raw, name):
    """``[(Filename, Size, SHA256)]`` of a Packages index (plain, .gz or .xz)."""
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    elif name.endswith(".xz"):
        raw = lzma.decompress(raw)
    out = []
    for block in raw.decode("utf-8", "replace").split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if "Filename" in fields:
            try:
                out.append((fields["Filename"], int(fields["Size"]), fields["SHA256"]))
            except (KeyError, ValueError) as err:
                raise MirrorError(f"index {name} has a stanza for {fields['Filename']} without "
                                  "a valid Size/SHA256; upstream is broken") from err
    return out


def verify_suite(dist_dir, suite):
    """Check a suite's indices against its Release; return the pool files they name.

    :return: ``{Filename: (size, sha256)}``
    """
    release = os.path.join(dist_dir, "Release")
    if not os.path.isfile(release):
        raise MirrorError(f"suite {suite} has no Release file upstream; check the MOS "
                          "version and repos")
    with open(release, encoding="utf-8", errors="replace") as handle:
        entries = release_entries(handle.read())
    pool, indices = {}, 0
    for relpath, (size, digest) in sorted(entries.items()):
        path = os.path.join(dist_dir, relpath)
        if os.path.basename(relpath) in ("Release", "InRelease", "Release.gpg") or \
                not os.path.exists(path):
            continue
        if os.path.getsize(path) != size or sha256_file(path) != digest:
            raise MirrorError(f"{suite}/{relpath} does not match its Release entry (size or "
                              "SHA256); upstream is mid-update or broken, run again later")
        if os.path.basename(relpath) in INDEX_NAMES:
            indices += 1
            with open(path, "rb") as handle:
                for filename, fsize, fdigest in packages_entries(handle.read(), relpath):
                    pool[filename] = (fsize, fdigest)
    if not indices:
        raise MirrorError(f"suite {suite}: Release lists no Packages index that upstream has")
    return pool


def verify_pool(root, files):
    """Each pool file exists with the size and SHA256 its index says."""
    bad = []
    for filename, (size, digest) in sorted(files.items()):
        path = os.path.join(root, filename)
        if not os.path.isfile(path):
            bad.append(f"missing {filename}")
        elif os.path.getsize(path) != size or sha256_file(path) != digest:
            bad.append(f"corrupt {filename}")
    if bad:
        raise MirrorError(f"{len(bad)} pool file(s) failed verification ({', '.join(bad[:3])}"
                          f"{', ...' if len(bad) > 3 else ''}); nothing was published, run again")


def _same_file(a, b):
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except FileNotFoundError:
        return False


def _publish(dists, suite, staged):
    """Point ``dists/<suite>`` at the staged index dir atomically; keep one previous dir."""
    stamp = time.strftime("%Y%m%d%H%M%S") + f"-{os.getpid()}"
    target = f".{suite}.{stamp}"
    os.rename(staged, os.path.join(dists, target))
    link = os.path.join(dists, suite)
    previous = os.readlink(link) if os.path.islink(link) else None
    if os.path.isdir(link) and not os.path.islink(link):
        # first sync over a plain directory (an older mirror): move it aside, keep it
        os.rename(link, os.path.join(dists, f".{suite}.pre-mosmu"))
    tmp = os.path.join(dists, f".{suite}.link-{stamp}")
    os.symlink(target, tmp)
    os.replace(tmp, link)
    for entry in os.listdir(dists):
        if entry.startswith(f".{suite}.2") and entry not in (target, previous):
            shutil.rmtree(os.path.join(dists, entry), ignore_errors=True)


def sync_apt(upstream, mirror_root, mos_version, suites, timeout=120):
    """Mirror ``suites`` of one MOS version; see the module docstring for the steps.

    :param upstream: e.g. ``rsync://mirror.fuel-infra.org/mirror``
    :param mirror_root: the master's web root, e.g. ``/var/www/nailgun``
    :param mos_version: e.g. ``8.0``
    :param suites: e.g. ``["mos8.0-updates"]``
    :return: ``{"path", "suites": {suite: "updated"|"unchanged"}, "files": n, "seconds"}``
    """
    started = time.monotonic()
    rel = mosmu_catalog.apt_path(mos_version)
    src = f"{upstream.rstrip('/')}/{rel}"
    dst = os.path.join(mirror_root, rel)
    dists = os.path.join(dst, "dists")
    try:
        os.makedirs(dists, exist_ok=True)
        os.makedirs(os.path.join(mirror_root, STAGING), exist_ok=True)
        work = tempfile.mkdtemp(dir=os.path.join(mirror_root, STAGING), prefix="sync-")
    except OSError as err:
        raise MirrorError(f"cannot write the mirror under {mirror_root} ({err.strerror}); "
                          "check mosmu:mirror_root and its permissions") from err
    result = {"path": rel, "suites": {}, "files": 0}
    try:
        base = _rsync_base(upstream, timeout)
        staged = {}
        for suite in suites:
            staged[suite] = os.path.join(work, suite)
            _rsync(base + [f"{src}/dists/{suite}/", staged[suite] + "/"],
                   f"{rel}/dists/{suite}")
        changed = [s for s in suites if not _same_file(
            os.path.join(staged[s], "Release"), os.path.join(dists, s, "Release"))]
        for suite in suites:
            result["suites"][suite] = "updated" if suite in changed else "unchanged"
        if changed:
            wanted = {}
            for suite in changed:
                wanted.update(verify_suite(staged[suite], suite))
            # The list is relative to the upstream root, not to {src}: rsync 3.5's daemon
            # reports every file "vanished" for --files-from below a module subdirectory.
            listing = os.path.join(work, "files-from")
            with open(listing, "w", encoding="utf-8") as handle:
                handle.write("".join(f"{rel}/{name}\n" for name in sorted(wanted)))
            transferred = _rsync(base + [f"--files-from={listing}", f"{upstream.rstrip('/')}/",
                                         mirror_root.rstrip("/") + "/"],
                                 f"{rel}/pool ({len(wanted)} files)")
            result["files"] = len(transferred)
            verify_pool(dst, wanted)
            for suite in changed:
                _publish(dists, suite, staged[suite])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result
