"""rsync from the upstream mirror: one argv per transfer, the files it moved, errors that
name the fix.

The upstream is ``rsync://host[:port]/module`` or an absolute local directory; every transfer
is a ``--files-from`` list relative to the upstream root (:func:`rsync`).
"""

import logging
import os
import shutil
import subprocess
import tempfile

from mosmu_errors import MirrorError

log = logging.getLogger(__name__)

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



def source(upstream):
    """The rsync source argument of ``upstream`` (trailing ``/``); raise for one that is
    neither ``rsync://host/module`` nor an existing absolute directory."""
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


def rsync(upstream, dest, files, what, *, timeout, partial, link_dest=None, missing_ok=False,
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
    argv += [source(upstream), dest.rstrip("/") + "/"]
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

