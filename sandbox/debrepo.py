"""Build the sandbox's upstream MOS mirror: real ``.deb`` files and real apt indices.

Layout as on mirror.fuel-infra.org: ``mos-repos/ubuntu/<ver>/pool/main/<x>/<src>/*.deb`` and
``dists/mos<ver>[-<repo>]/{Release, main|restricted/binary-amd64/Packages(.gz)}``.
Packages carry no maintainer scripts (dpkg would run them chrooted into the node root).
"""

import gzip
import hashlib
import os
import subprocess
import tempfile

# package -> source dir; versions per suite below
PACKAGES = {"nova-common": "nova", "python-nova": "nova", "neutron-common": "neutron"}
GA_VERSION = "1.0"
SUITE_VERSIONS = {          # suite suffix -> {package: version}
    "": {p: GA_VERSION for p in PACKAGES},
    "-updates": {p: "1.1" for p in PACKAGES},
    "-security": {"python-nova": "1.1"},
    "-proposed": {"nova-common": "1.2"},
    "-holdback": {},
}
COMPONENTS = ("main", "restricted")


def _run(argv, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def build_deb(outdir, name, version):
    """``<outdir>/<name>_<version>_all.deb`` with one data file, no maintainer scripts."""
    path = os.path.join(outdir, f"{name}_{version}_all.deb")
    if os.path.exists(path):
        return path
    with tempfile.TemporaryDirectory() as tree:
        os.makedirs(os.path.join(tree, "DEBIAN"))
        data = os.path.join(tree, "usr", "share", "mos", name)
        os.makedirs(data)
        with open(os.path.join(data, "VERSION"), "w", encoding="utf-8") as handle:
            handle.write(f"{name} {version}\n")
        with open(os.path.join(tree, "DEBIAN", "control"), "w", encoding="utf-8") as handle:
            handle.write(f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
                         "Maintainer: MOS sandbox <sandbox@mosmu.invalid>\nSection: net\n"
                         f"Priority: optional\nDescription: MOS {name} (sandbox)\n"
                         " Sandbox stand-in for a Mirantis OpenStack package.\n")
        _run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", tree, path])
    return path


def _stanza(repo_root, deb):
    control = _run(["dpkg-deb", "-f", deb]).rstrip("\n")
    with open(deb, "rb") as handle:
        blob = handle.read()
    rel = os.path.relpath(deb, repo_root)
    return (f"{control}\nFilename: {rel}\nSize: {len(blob)}\n"
            f"MD5sum: {hashlib.md5(blob).hexdigest()}\n"  # noqa: S324 - apt index field
            f"SHA1: {hashlib.sha1(blob).hexdigest()}\n"  # noqa: S324 - apt index field
            f"SHA256: {hashlib.sha256(blob).hexdigest()}\n")


def write_suite(repo_root, suite, debs):
    """Packages(.gz) for ``main`` (the debs) and ``restricted`` (empty), then Release."""
    dist = os.path.join(repo_root, "dists", suite)
    for component in COMPONENTS:
        bdir = os.path.join(dist, component, "binary-amd64")
        os.makedirs(bdir, exist_ok=True)
        text = "\n".join(_stanza(repo_root, d) for d in debs) if component == "main" else ""
        with open(os.path.join(bdir, "Packages"), "w", encoding="utf-8") as handle:
            handle.write(text)
        with gzip.GzipFile(os.path.join(bdir, "Packages.gz"), "wb", mtime=0) as handle:
            handle.write(text.encode())
    release = _run([
        "apt-ftparchive",
        "-o", "APT::FTPArchive::Release::Origin=Mirantis",
        "-o", "APT::FTPArchive::Release::Label=mos8.0",
        "-o", f"APT::FTPArchive::Release::Suite={suite}",
        "-o", f"APT::FTPArchive::Release::Codename={suite}",
        "-o", "APT::FTPArchive::Release::Architectures=amd64",
        "-o", f"APT::FTPArchive::Release::Components={' '.join(COMPONENTS)}",
        "-o", "APT::FTPArchive::Release::Default-Patterns=false",
        "-o", "APT::FTPArchive::Release::Patterns::=Packages*",
        "release", dist])
    tmp = os.path.join(dist, ".Release.new")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(release)
    os.replace(tmp, os.path.join(dist, "Release"))   # Release last, atomically


def build_upstream(upstream_root, mos_version="8.0", suite_versions=None):
    """Write ``mos-repos/ubuntu/<ver>`` under ``upstream_root``; return the GA debs' paths."""
    suite_versions = suite_versions or SUITE_VERSIONS
    repo_root = os.path.join(upstream_root, "mos-repos", "ubuntu", mos_version)
    ga = []
    for suffix, versions in suite_versions.items():
        debs = []
        for name, version in sorted(versions.items()):
            pool = os.path.join(repo_root, "pool", "main", PACKAGES[name][0], PACKAGES[name])
            os.makedirs(pool, exist_ok=True)
            debs.append(build_deb(pool, name, version))
        write_suite(repo_root, f"mos{mos_version}{suffix}", debs)
        if suffix == "":
            ga = debs
    return ga
