"""Small real upstreams for the mirror tests: .debs + apt indices, rpms + repodata, an rsync
daemon on 127.0.0.1, a throwaway signing key. Nothing here touches ~/.gnupg or the host."""

import dataclasses
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import mosmu_catalog

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APT_PATH = "mos-repos/ubuntu/8.0"
YUM_PATH = "mos-repos/centos/mos8.0-centos7-fuel"


def run(argv, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def tree(distro="ubuntu", version="8.0", **fields):
    """A catalog row, optionally with fields overridden (e.g. ``key``)."""
    return dataclasses.replace(mosmu_catalog.Catalog().get(distro, version), **fields)


# -- apt -------------------------------------------------------------------------------------

def build_deb(outdir, name, version, pad=0):
    """``<outdir>/<name>_<version>_all.deb``; ``pad`` bytes of random data make it big."""
    path = os.path.join(outdir, f"{name}_{version}_all.deb")
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "DEBIAN"))
        data = os.path.join(root, "usr", "share", "mos", name)
        os.makedirs(data)
        with open(os.path.join(data, "VERSION"), "w", encoding="utf-8") as handle:
            handle.write(f"{name} {version}\n")
        if pad:
            with open(os.path.join(data, "pad"), "wb") as handle:
                handle.write(os.urandom(pad))
        with open(os.path.join(root, "DEBIAN", "control"), "w", encoding="utf-8") as handle:
            handle.write(f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
                         "Maintainer: mosmu tests <t@mosmu.invalid>\n"
                         f"Description: {name}\n test package\n")
        run(["dpkg-deb", "--root-owner-group", "-Znone" if pad else "-Zgzip", "-b", root, path])
    return path


class AptUpstream:
    """An rsync module root holding one apt tree at ``APT_PATH``.

    ``suites``: ``{suite: {package: version}}``; ``publish()`` writes pool files that are
    missing, then Packages(.gz) and Release (and signatures when a ``gpg`` home is given).
    """

    def __init__(self, root, gpg=None):
        self.root = str(root)
        self.tree = os.path.join(self.root, APT_PATH)
        self.gpg = gpg
        self.suites = {}
        self.pads = {}

    def pool(self, name, version):
        return os.path.join(self.tree, "pool", "main", name[0], name, f"{name}_{version}_all.deb")

    def publish(self, **suites):
        self.suites.update(suites)
        for suite, pkgs in self.suites.items():
            if suites and suite not in suites:
                continue
            dist = os.path.join(self.tree, "dists", suite)
            for comp in ("main", "restricted"):
                os.makedirs(os.path.join(dist, comp, "binary-amd64"), exist_ok=True)
            stanzas = []
            for name, version in sorted(pkgs.items()):
                deb = self.pool(name, version)
                if not os.path.exists(deb):
                    os.makedirs(os.path.dirname(deb), exist_ok=True)
                    built = build_deb(os.path.dirname(deb), name, version,
                                      self.pads.get(name, 0))
                    assert built == deb
                stanzas.append(run(["apt-ftparchive", "packages",
                                    os.path.relpath(deb, self.tree)], cwd=self.tree))
            self._write(os.path.join(dist, "main/binary-amd64/Packages"), "".join(stanzas))
            self._write(os.path.join(dist, "restricted/binary-amd64/Packages"), "")
            for comp in ("main", "restricted"):
                index = os.path.join(dist, comp, "binary-amd64", "Packages")
                run(["gzip", "-9nkf", index])
            self.release(suite)

    def release(self, suite, patterns="Packages*"):
        dist = os.path.join(self.tree, "dists", suite)
        for name in ("Release", "InRelease", "Release.gpg"):
            if os.path.exists(os.path.join(dist, name)):
                os.unlink(os.path.join(dist, name))
        text = run(["apt-ftparchive", "-o", f"APT::FTPArchive::Release::Suite={suite}",
                    "-o", "APT::FTPArchive::Release::Architectures=amd64",
                    "-o", "APT::FTPArchive::Release::Components=main restricted",
                    "-o", "APT::FTPArchive::Release::Default-Patterns=false",
                    "-o", f"APT::FTPArchive::Release::Patterns::={patterns}",
                    "release", "."], cwd=dist)
        self._write(os.path.join(dist, "Release"), text)
        if self.gpg:
            self.gpg.sign(os.path.join(dist, "Release"))

    @staticmethod
    def _write(path, text):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


# -- yum -------------------------------------------------------------------------------------

SPEC = """Name: %{pkg}
Version: %{ver}
Release: 1
Summary: mosmu test package
License: MIT
BuildArch: noarch
%description
Test package.
%install
mkdir -p %{buildroot}/usr/share/%{pkg}
echo "%{pkg} %{version}" > %{buildroot}/usr/share/%{pkg}/VERSION
%files
/usr/share/%{pkg}/VERSION
"""


class YumUpstream:
    """An rsync module root holding one yum tree at ``YUM_PATH`` (repo dir ``updates``)."""

    def __init__(self, root, work):
        self.root = str(root)
        self.repo = os.path.join(self.root, YUM_PATH, "updates")
        self.work = str(work)

    def rpm(self, name, version):
        return os.path.join(self.repo, "Packages", f"{name}-{version}-1.noarch.rpm")

    def publish(self, pkgs):
        os.makedirs(os.path.join(self.repo, "Packages"), exist_ok=True)
        spec = os.path.join(self.work, "pkg.spec")
        with open(spec, "w", encoding="utf-8") as handle:
            handle.write(SPEC)
        for name, version in pkgs.items():
            if os.path.exists(self.rpm(name, version)):
                continue
            top = os.path.join(self.work, "rpmbuild")
            # a private _dbpath and _tmppath: Debian's rpm would open (create) ~/.rpmdb and
            # write its build scripts to /var/tmp (issue 20: make test created ~/.rpmdb)
            run(["rpmbuild", "--define", f"_topdir {top}", "--define", f"_tmppath {top}",
                 "--define", f"_dbpath {top}/rpmdb", "--define", f"pkg {name}",
                 "--define", f"ver {version}", "-bb", spec])
            shutil.copy2(os.path.join(top, "RPMS", "noarch", f"{name}-{version}-1.noarch.rpm"),
                         self.rpm(name, version))
        for entry in os.listdir(os.path.join(self.repo, "Packages")):
            if entry.endswith(".rpm") and entry not in {
                    os.path.basename(self.rpm(n, v)) for n, v in pkgs.items()}:
                os.unlink(os.path.join(self.repo, "Packages", entry))
        run(["createrepo_c", "-q", "--update", self.repo])


# -- gpg -------------------------------------------------------------------------------------

class Gpg:
    """A throwaway ed25519 signing key in a private home (never ~/.gnupg)."""

    def __init__(self, home, uid="mosmu test <t@mosmu.invalid>"):
        self.home = str(home)
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        self._gpg("--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key", uid,
                  "ed25519", "sign", "never")
        self.public = self._gpg("--armor", "--export")

    def _gpg(self, *args):
        return run(["gpg", "--batch", "--homedir", self.home, *args])

    def sign(self, release):
        dist = os.path.dirname(release)
        self._gpg("--yes", "--clearsign", "-o", os.path.join(dist, "InRelease"), release)
        self._gpg("--yes", "-abs", "-o", os.path.join(dist, "Release.gpg"), release)

    def close(self):
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "gpg-agent"],
                       capture_output=True, check=False)


# -- rsync daemon ----------------------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port):
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RsyncDaemon:
    """``rsync --daemon --no-detach`` serving ``path`` as module ``mirror`` on 127.0.0.1."""

    def __init__(self, path, workdir):
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "rsyncd.conf")
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write("\n".join([
                f"port = {self.port}", "address = 127.0.0.1",
                f"pid file = {self.dir}/rsyncd.pid", f"lock file = {self.dir}/rsyncd.lock",
                f"log file = {self.dir}/rsyncd.log", "use chroot = no",
                "max connections = 16", "timeout = 300", "[mirror]", f"    path = {path}",
                "    read only = yes", "    list = yes", ""]))
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            ["rsync", "--daemon", "--no-detach", f"--config={conf}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the test rsync daemon did not start")
            time.sleep(0.02)
        self.url = f"rsync://127.0.0.1:{self.port}/mirror"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- observing the mirror --------------------------------------------------------------------

def fingerprint(root):
    """``{relpath: sha256 | "-> target"}`` of everything under ``root`` (links not followed)."""
    out = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    out[rel] = hashlib.sha256(handle.read()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def full_fingerprint(root):
    """``{relpath: (mode, size, mtime_ns, sha256 | "-> target" | "dir")}`` of ``root`` and
    everything under it (links not followed): what "nothing changed on disk" compares."""
    out = {}
    for top, dirs, files in os.walk(root):
        for path in [top] + [os.path.join(top, name) for name in dirs + files]:
            st = os.lstat(path)
            if os.path.islink(path):
                what = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    what = hashlib.sha256(handle.read()).hexdigest()
            else:
                what = "dir"
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, what)
    return out


def subprocess_sync(upstream, mirror_root, staging, distro="ubuntu", version="8.0",
                    repos=("updates",), **kwargs):
    """Start ``sync_tree`` in a child process (own session, so it can be killed as a group)."""
    code = (
        "import sys, json\n"
        f"sys.path[:0] = [{REPO!r}, {os.path.join(REPO, '_utils')!r}]\n"
        "import mosmu_catalog, mosmu_mirror\n"
        f"tree = mosmu_catalog.Catalog().get({distro!r}, {version!r})\n"
        f"r = mosmu_mirror.sync_tree({upstream!r}, {mirror_root!r}, tree, {list(repos)!r}, "
        f"staging_dir={staging!r}, **{kwargs!r})\n"
        "print(json.dumps(r))\n")
    return subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
