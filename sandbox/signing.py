"""The throwaway OpenPGP key that signs the sandbox's upstream trees (:class:`Signer`)."""

import os
import shutil
import subprocess

from . import common
from .common import SandboxError


class Signer:
    """A throwaway OpenPGP key (ed25519, no passphrase) in its own gpg home that signs the
    sandbox's upstream trees: apt ``InRelease``/``Release.gpg``, yum ``repomd.xml.asc`` and
    the rpms themselves. Every gpg call names ``--homedir``; the user's ``~/.gnupg`` is
    never read or written. gpg starts a ``gpg-agent`` for the home: :meth:`close` stops it.

    :param home: the gpg home (created by :meth:`ensure`); ``<home>/upstream.asc`` is the
        armoured public key
    """

    UID = "MOS sandbox upstream <upstream@mosmu.invalid>"

    def __init__(self, home, uid=UID):
        self.home = os.path.abspath(home)
        self.uid = uid
        self.public_key = os.path.join(self.home, "upstream.asc")

    def _gpg(self, *args, data=None):
        proc = subprocess.run(["gpg", "--homedir", self.home, "--batch", "--quiet",
                               "--no-tty", "--yes", *args], input=data, capture_output=True,
                              check=False)
        if proc.returncode != 0:
            raise SandboxError(f"gpg {' '.join(args[:2])} in {self.home} failed (exit "
                               f"{proc.returncode}): {proc.stderr.decode(errors='replace')}")
        return proc.stdout

    def ensure(self):
        """Generate the key and export ``upstream.asc`` unless they exist; return self."""
        if os.path.isfile(self.public_key):
            return self
        common.check_tools({"gpg": "gnupg", "gpgv": "gpgv"})
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        os.chmod(self.home, 0o700)
        self._gpg("--passphrase", "", "--quick-gen-key", self.uid, "ed25519", "sign", "never")
        key = self._gpg("--armor", "--export", self.fingerprint)
        common.write(f"{self.public_key}.new", key.decode("ascii"))
        os.replace(f"{self.public_key}.new", self.public_key)
        return self

    @property
    def fingerprint(self):
        out = self._gpg("--with-colons", "--list-secret-keys", self.uid).decode()
        return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))

    def clearsign(self, data):
        """``InRelease`` of a Release (bytes in, bytes out)."""
        return self._gpg("--local-user", self.uid, "--digest-algo", "SHA256", "--clearsign",
                         data=data)

    def detach_sign(self, data):
        """An armoured detached signature (``Release.gpg``, ``repomd.xml.asc``)."""
        return self._gpg("--local-user", self.uid, "--digest-algo", "SHA256", "--armor",
                         "--detach-sign", data=data)

    def rpmsign_argv(self, dbpath):
        """``rpmsign --addsign`` with this key; ``dbpath`` a private rpm database dir
        (Debian's rpm would otherwise open ``~/.rpmdb``). ``__gpg``: Debian's rpm names a
        ``gpg2`` binary that Debian does not ship."""
        return ["rpmsign", "--define", f"__gpg {shutil.which('gpg') or 'gpg'}",
                "--define", f"_gpg_name {self.uid}", "--define", f"_gpg_path {self.home}",
                "--define", f"_dbpath {dbpath}", "--addsign"]

    def close(self):
        """Stop the gpg-agent gpg started for this home (nothing if none runs)."""
        if os.path.isdir(self.home) and shutil.which("gpgconf"):
            subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "gpg-agent"],
                           capture_output=True, check=False)

