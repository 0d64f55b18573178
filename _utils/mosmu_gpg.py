"""Signature checks of mirrored indices: a keyring from the catalog row's key, then gpgv.

Both run in a private gpg home inside the sync's work dir (``--homedir``); the user's
``~/.gnupg`` is never read. A failure raises :class:`MirrorError` naming the fix.
"""

import os
import shutil
import subprocess

from mosmu_errors import MirrorError


def keyring(key, work):
    """A binary keyring built from the ASCII-armoured ``key`` in a private gpg home."""
    for tool in ("gpg", "gpgv"):
        if shutil.which(tool) is None:
            raise MirrorError(f"{tool} is not installed on the master but the catalog row has "
                              "a key; install gnupg (and gpgv)")
    home = os.path.join(work, "gnupg")
    os.makedirs(home, mode=0o700, exist_ok=True)
    armoured, binary = os.path.join(work, "key.asc"), os.path.join(work, "keyring.gpg")
    with open(armoured, "w", encoding="utf-8") as handle:
        handle.write(key)
    proc = subprocess.run(["gpg", "--batch", "--homedir", home, "--dearmor", "--output",
                           binary, armoured], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MirrorError(f"the catalog row's key is not a valid armoured key "
                          f"({proc.stderr.strip()[:200]}); fix mosmu:catalog key")
    return binary


def gpgv(keyring, work, args, what):
    """``gpgv`` with ``args`` (a signed file, or a detached signature and its data) against
    ``keyring``; a bad or unknown signature raises, naming ``what``."""
    proc = subprocess.run(["gpgv", "--homedir", os.path.join(work, "gnupg"), "--keyring",
                           keyring, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise MirrorError(f"{what}: bad or unknown signature ({detail}); nothing was "
                          "published (check the catalog row's key, or upstream was tampered)")

