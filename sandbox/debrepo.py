"""Build the sandbox's upstream apt trees: real ``.deb`` files and real apt indices.

One tree per catalog row (``mosmu_catalog.Tree`` with ``backend == "apt"``), laid out as on
mirror.fuel-infra.org: ``<upstream>/<tree.upstream>/pool/<component>/<x>/<src>/*.deb`` and
``dists/<tree.suite_of(repo)>/{Release, <component>/binary-amd64/Packages(.gz)}`` for every
repo the row offers. Packages carry no maintainer scripts (dpkg would run them chrooted into
the node root). Besides a VERSION file, ``nova-common`` and ``neutron-common`` carry their
services' init scripts and ``nova-common`` its ``/etc/nova/nova.conf`` (``sandbox.services``:
every file below /etc is a conffile, as debhelper marks them). Building is idempotent: an
index file is rewritten only when its content changes, and ``Release`` (written last,
atomically) only when an index changed.

With a ``signer`` (``sandbox.signing.Signer``: ``clearsign(bytes)``, ``detach_sign(bytes)``)
every suite also gets ``InRelease`` (clearsigned Release) and ``Release.gpg`` (armoured
detached signature), written just before the Release they sign; they are made again whenever
Release changes or one of them is missing (a signature is not deterministic, so an unchanged
Release keeps its signatures and the tree stays byte-identical).
"""

import gzip
import hashlib
import os
import subprocess
import tempfile

from . import services

# package -> source package (the pool directory)
PACKAGES = {"nova-common": "nova", "python-nova": "nova", "neutron-common": "neutron",
            "ceph": "ceph"}
# installed only on the Ceph nodes of an environment with Ceph (``services.ceph_node``)
CEPH_GA_VERSIONS = {"ceph": "1.0"}
GA_VERSION = "1.0"
# Below updates' 1.1 for dpkg (1.05 would sort above 1.1: dpkg compares 05 and 1 as numbers),
# so only apt pinning (holdback 1100 > updates 1050) can make a node end at this version.
HOLDBACK_VERSION = "1.0.5"
GA_VERSIONS = {name: GA_VERSION for name in PACKAGES if name not in CEPH_GA_VERSIONS}
REPO_VERSIONS = {           # MU repo -> {package: version} it publishes
    "updates": dict.fromkeys(PACKAGES, "1.1"),
    "security": {"python-nova": "1.1"},
    "proposed": {"nova-common": "1.2"},
    "holdback": {"neutron-common": HOLDBACK_VERSION},
}
COMPONENTS = ("main", "restricted")
CONTENT_FIELD = "X-Mosmu-Sandbox-Content"    # services.CONTENT_VERSION the deb was built with
REPO_PLACEHOLDER = "-{repo}"


def _run(argv, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _put(path, data):
    """Write ``data`` (bytes) to ``path`` atomically unless it already holds it; True if
    written."""
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.new"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return True


def write_payload(path, size, chunk=1 << 20):
    """``size`` bytes of random (incompressible) data at ``path``: the bulk of a package of
    realistic size (see ``sandbox.stack`` ``realistic``)."""
    with open(path, "wb") as handle:
        left = size
        while left > 0:
            handle.write(os.urandom(min(chunk, left)))
            left -= chunk


def deb_content(path):
    """The ``services.CONTENT_VERSION`` a deb was built with ("" for older sandbox debs)."""
    proc = subprocess.run(["dpkg-deb", "-f", path, CONTENT_FIELD], capture_output=True,
                          text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def build_deb(outdir, name, version, payload=0):
    """``<outdir>/<name>_<version>_all.deb`` with a VERSION file and the package's
    ``sandbox.services.package_files`` (init scripts, conffiles), no maintainer scripts.

    :param payload: bytes of random data to carry as ``usr/share/mos/<name>/payload.bin``
        (0: none, a few kB in all); such a deb is built uncompressed (``-Znone``: the data
        is incompressible). An existing deb of that name is reused when it was built with
        the current ``services.CONTENT_VERSION`` (its ``X-Mosmu-Sandbox-Content`` field),
        else built again.
    """
    path = os.path.join(outdir, f"{name}_{version}_all.deb")
    if os.path.exists(path) and deb_content(path) == services.CONTENT_VERSION:
        return path
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tree:
        os.makedirs(os.path.join(tree, "DEBIAN"))
        data = os.path.join(tree, "usr", "share", "mos", name)
        os.makedirs(data)
        with open(os.path.join(data, "VERSION"), "w", encoding="utf-8") as handle:
            handle.write(f"{name} {version}\n")
        if payload:
            write_payload(os.path.join(data, "payload.bin"), payload)
        services.write_files(tree, name)
        conffiles = services.conffiles(name)
        if conffiles:
            with open(os.path.join(tree, "DEBIAN", "conffiles"), "w",
                      encoding="utf-8") as handle:
                handle.write("".join(f"{c}\n" for c in conffiles))
        with open(os.path.join(tree, "DEBIAN", "control"), "w", encoding="utf-8") as handle:
            handle.write(f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
                         "Maintainer: MOS sandbox <sandbox@mosmu.invalid>\nSection: net\n"
                         f"Priority: optional\n{CONTENT_FIELD}: {services.CONTENT_VERSION}\n"
                         f"Description: MOS {name} (sandbox)\n"
                         " Sandbox stand-in for a Mirantis OpenStack package.\n")
        _run(["dpkg-deb", "--root-owner-group", "-Znone" if payload else "-Zgzip", "-b", tree,
              f"{path}.new"])
    os.replace(f"{path}.new", path)
    return path


def build_ga(outdir, versions=None):
    """The GA debs nodes start with (``GA_VERSIONS``), in ``outdir``; their paths."""
    return [build_deb(outdir, name, version)
            for name, version in sorted((versions or GA_VERSIONS).items())]


def _stanza(repo_root, deb):
    control = _run(["dpkg-deb", "-f", deb]).rstrip("\n")
    with open(deb, "rb") as handle:
        blob = handle.read()
    rel = os.path.relpath(deb, repo_root)
    return (f"{control}\nFilename: {rel}\nSize: {len(blob)}\n"
            f"MD5sum: {hashlib.md5(blob).hexdigest()}\n"  # noqa: S324 - apt index field
            f"SHA1: {hashlib.sha1(blob).hexdigest()}\n"  # noqa: S324 - apt index field
            f"SHA256: {hashlib.sha256(blob).hexdigest()}\n")


def sign_release(dist, signer, release=None):
    """Write ``InRelease`` and ``Release.gpg`` of ``dist`` for ``release`` (bytes; default
    the Release on disk). Returns True when written."""
    if release is None:
        with open(os.path.join(dist, "Release"), "rb") as handle:
            release = handle.read()
    _put(os.path.join(dist, "InRelease"), signer.clearsign(release))
    _put(os.path.join(dist, "Release.gpg"), signer.detach_sign(release))
    return True


def write_suite(repo_root, suite, debs, components=COMPONENTS, label="mos", signer=None):
    """Packages(.gz) of the first component (the debs) and the others (empty), then Release
    (and, with a ``signer``, InRelease and Release.gpg just before it).

    Returns True when anything was (re)written.
    """
    dist = os.path.join(repo_root, "dists", suite)
    changed = False
    for index, component in enumerate(components):
        bdir = os.path.join(dist, component, "binary-amd64")
        text = "\n".join(_stanza(repo_root, d) for d in debs) if index == 0 else ""
        changed |= _put(os.path.join(bdir, "Packages"), text.encode())
        changed |= _put(os.path.join(bdir, "Packages.gz"),
                        gzip.compress(text.encode(), mtime=0))
    if not changed and os.path.exists(os.path.join(dist, "Release")):
        if signer is not None and not all(
                os.path.exists(os.path.join(dist, n)) for n in ("InRelease", "Release.gpg")):
            return sign_release(dist, signer)
        return False
    release = _run([
        "apt-ftparchive",
        "-o", "APT::FTPArchive::Release::Origin=Mirantis",
        "-o", f"APT::FTPArchive::Release::Label={label}",
        "-o", f"APT::FTPArchive::Release::Suite={suite}",
        "-o", f"APT::FTPArchive::Release::Codename={suite}",
        "-o", "APT::FTPArchive::Release::Architectures=amd64",
        "-o", f"APT::FTPArchive::Release::Components={' '.join(components)}",
        "-o", "APT::FTPArchive::Release::Default-Patterns=false",
        "-o", "APT::FTPArchive::Release::Patterns::=Packages*",
        "release", dist])
    if signer is not None:
        sign_release(dist, signer, release.encode())
    _put(os.path.join(dist, "Release"), release.encode())   # Release last, atomically
    return True


def ga_suite(tree):
    """The GA suite next to a row's MU suites (``mos8.0`` for ``mos8.0-{repo}``), or None
    when the row's suites have no such stem (5.1.1/6.0: ``precise``)."""
    if tree.suite.endswith(REPO_PLACEHOLDER) and "{" not in tree.suite[:-len(REPO_PLACEHOLDER)]:
        return tree.suite[:-len(REPO_PLACEHOLDER)]
    return None


def build_tree(upstream_root, tree, repo_versions=None, ga_versions=None, signer=None,
               payload=0):
    """Write the apt tree of catalog row ``tree`` under ``upstream_root``; return its path.

    :param upstream_root: the rsync module root (``<sandbox>/upstream``)
    :param tree: a ``mosmu_catalog.Tree`` with ``backend == "apt"``
    :param repo_versions: ``{repo: {package: version}}`` (default ``REPO_VERSIONS``); a repo
        the row offers but the mapping lacks gets an empty suite
    :param ga_versions: packages of the GA suite, when the row has one (``ga_suite``)
    :param signer: signs every suite (``InRelease``, ``Release.gpg``); None: unsigned
    :param payload: bytes of random data each package of the ``updates`` repo carries
        (the same package file in other suites too); 0: tiny packages
    """
    if tree.backend != "apt":
        raise ValueError(f"{tree.name} is a {tree.backend} tree, not apt")
    repo_versions = REPO_VERSIONS if repo_versions is None else repo_versions
    suites = {tree.suite_of(repo): repo_versions.get(repo, {}) for repo in tree.repos}
    if len(suites) != len(tree.repos):
        raise ValueError(f"{tree.name}: several repos share one suite ({tree.suite})")
    ga = ga_suite(tree)
    if ga is not None and ga not in suites:
        suites[ga] = GA_VERSIONS if ga_versions is None else ga_versions
    components = tuple(tree.components.split()) or ("main",)
    repo_root = os.path.join(upstream_root, tree.upstream)
    label = f"mos{tree.version}"
    big = set(repo_versions.get("updates", {}).items()) if payload else set()
    for suite, versions in suites.items():
        debs = []
        for name, version in sorted(versions.items()):
            source = PACKAGES.get(name, name)
            pool = os.path.join(repo_root, "pool", components[0], source[0], source)
            debs.append(build_deb(pool, name, version,
                                  payload if (name, version) in big else 0))
        write_suite(repo_root, suite, debs, components, label, signer)
    return repo_root


def build_upstream(upstream_root, mos_version="8.0", suite_versions=None):
    """Compatibility wrapper: the 8.0 layout (``mos-repos/ubuntu/<ver>``, suites
    ``mos<ver>`` + ``-<repo>``); ``suite_versions`` is keyed by suite suffix (``-updates``).
    Returns the GA debs' paths."""
    repo_root = os.path.join(upstream_root, "mos-repos", "ubuntu", mos_version)
    suite_versions = suite_versions or dict(
        {"": GA_VERSIONS}, **{f"-{r}": v for r, v in REPO_VERSIONS.items()})
    ga = []
    for suffix, versions in suite_versions.items():
        debs = []
        for name, version in sorted(versions.items()):
            pool = os.path.join(repo_root, "pool", "main", PACKAGES[name][0], PACKAGES[name])
            debs.append(build_deb(pool, name, version))
        write_suite(repo_root, f"mos{mos_version}{suffix}", debs, label=f"mos{mos_version}")
        if suffix == "":
            ga = debs
    return ga
