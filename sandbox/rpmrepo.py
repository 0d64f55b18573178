"""Build the sandbox's upstream yum trees (real ``.rpm`` files, ``createrepo_c`` metadata) and
CentOS node roots (an rpm database inside the root, GA packages installed with ``rpm --root``).

One yum repo per MU repo of a catalog row: ``<upstream>/<tree.upstream>/<tree.suite_of(repo)>/``
holds ``Packages/*.rpm`` and ``repodata/``. Packages are noarch, with a VERSION file, the
``sandbox.services.package_files`` of the package (``openstack-nova-common`` and
``openstack-neutron``: init scripts; ``/etc/nova/nova.conf`` as ``%config(noreplace)``), and no
scriptlets. Building is idempotent: a repo's metadata is regenerated only when its set of
packages changes.

With a ``signer`` (``sandbox.signing.Signer``) every rpm is signed when it is built
(``rpmsign --addsign``, private ``_dbpath``) and every repo gets ``repodata/repomd.xml.asc``,
an armoured detached signature of ``repomd.xml``, made again whenever the metadata changes.

Debian's rpm keeps its database at ``%_dbpath`` = ``~/.rpmdb`` (not ``/var/lib/rpm``), so:
every rpm command on a *package file* (rpmbuild, ``rpm -qp``) gets a private ``_dbpath``, or it
would create ``$HOME/.rpmdb`` on the host; every command on a *node root* runs with
``rpm_env()`` (``HOME`` = the user's passwd home) so the sandbox, its minions (dnf) and the
tests all find the node's database at ``<root>/<home>/.rpmdb``.
"""

import os
import pwd
import shutil
import subprocess
import tempfile

from . import services

PACKAGES = ("openstack-nova-common", "python-nova", "openstack-neutron", "ceph")
GA_VERSION = "1.0"
RELEASE = "1"
# installed only on the Ceph nodes of an environment with Ceph (``services.ceph_node``)
CEPH_GA_VERSIONS = {"ceph": GA_VERSION}
GA_VERSIONS = {name: GA_VERSION for name in PACKAGES if name not in CEPH_GA_VERSIONS}
REPO_VERSIONS = {           # MU repo -> {package: version} it publishes (yum has no holdback)
    "updates": dict.fromkeys(PACKAGES, "1.1"),
    "security": {"python-nova": "1.1"},
    "proposed": {"openstack-nova-common": "1.2"},
}
QUERY_FORMAT = "%{NAME}\t%{VERSION}-%{RELEASE}\n"
VENDOR = "MOS sandbox, content {}"       # services.CONTENT_VERSION the rpm was built with

SPEC = """\
Name: %{pkgname}
Version: %{pkgver}
Release: %{pkgrel}
Summary: MOS %{pkgname} (sandbox)
License: Apache-2.0
Vendor: %{pkgvendor}
BuildArch: noarch
AutoReqProv: no
%{?pkgrequires:Requires: %{pkgrequires}}
%description
Sandbox stand-in for a Mirantis OpenStack package.
%install
mkdir -p %{buildroot}/usr/share/mos/%{pkgname}
echo "%{pkgname} %{pkgver}" > %{buildroot}/usr/share/mos/%{pkgname}/VERSION
%{?payloadsrc:cp %{payloadsrc} %{buildroot}/usr/share/mos/%{pkgname}/payload.bin}
%{?filesrc:cp -a %{filesrc}/. %{buildroot}/}
%files
/usr/share/mos/%{pkgname}/VERSION
%{?payloadsrc:/usr/share/mos/%{pkgname}/payload.bin}
"""


def _run(argv, env=None):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def rpm_env():
    """Environment for rpm/dnf on a node root: ``HOME`` pinned to the passwd home, because
    Debian's ``%_dbpath`` is ``~/.rpmdb`` (inside the root: ``<root>/<home>/.rpmdb``)."""
    return dict(os.environ, HOME=pwd.getpwuid(os.getuid()).pw_dir)


def rpm_name(name, version, release=RELEASE):
    return f"{name}-{version}-{release}.noarch.rpm"


def rpm_content(path):
    """The ``services.CONTENT_VERSION`` an rpm was built with ("" for older sandbox rpms)."""
    with tempfile.TemporaryDirectory() as scratch:
        proc = subprocess.run(["rpm", "--define", f"_dbpath {scratch}", "-qp", "--qf",
                               "%{VENDOR}", path], capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL)
    prefix = VENDOR.format("")
    out = proc.stdout.strip() if proc.returncode == 0 else ""
    return out[len(prefix):] if out.startswith(prefix) else ""


def _file_lines(name):
    """The spec's ``%files`` lines for the package's ``services.package_files``."""
    lines = []
    for rel, (_text, mode) in sorted(services.package_files(name).items()):
        config = "%config(noreplace) " if f"/{rel}" in services.config_files(name) else ""
        lines.append(f"%attr({mode:04o},root,root) {config}/{rel}")
    return "".join(f"{line}\n" for line in lines)


def build_rpm(outdir, name, version, release=RELEASE, signer=None, payload=0, requires=None):
    """``<outdir>/<name>-<version>-<release>.noarch.rpm`` built with rpmbuild (and signed by
    ``signer`` before it appears under its name); its path. Besides a VERSION file it carries
    the package's ``sandbox.services.package_files`` (init scripts; config files as
    ``%config(noreplace)``).

    :param payload: bytes of random data to carry as ``/usr/share/mos/<name>/payload.bin``
        (0: none); such an rpm gets a gzip level 1 payload (the data is incompressible). An
        existing rpm of that name is reused when it was built with the current
        ``services.CONTENT_VERSION`` (its Vendor tag), else built again.
    :param requires: a package name the rpm requires (``Requires:``); such rpms are kept in
        ``<outdir>/requires-<name>/``, apart from the plain ones of the same name
    """
    if requires:
        outdir = os.path.join(outdir, f"requires-{requires}")
    path = os.path.join(outdir, rpm_name(name, version, release))
    if os.path.exists(path) and rpm_content(path) == services.CONTENT_VERSION:
        return path
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as top:
        spec = os.path.join(top, "sandbox.spec")
        with open(spec, "w", encoding="utf-8") as handle:
            handle.write(SPEC + _file_lines(name))
        out = os.path.join(top, "out")
        extra = []
        if payload:
            from .debrepo import write_payload  # pylint: disable=import-outside-toplevel
            write_payload(os.path.join(top, "payload.bin"), payload)
            extra = ["--define", f"payloadsrc {top}/payload.bin",
                     "--define", "_binary_payload w1.gzdio"]
        if services.package_files(name):
            services.write_files(os.path.join(top, "files"), name)
            extra += ["--define", f"filesrc {top}/files"]
        _run(["rpmbuild", "-bb", "--quiet", *extra,
              "--define", f"_topdir {top}", "--define", f"_tmppath {top}",
              "--define", f"_dbpath {top}/rpmdb", "--define", f"_rpmdir {out}",
              "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
              "--define", "__os_install_post %{nil}",
              "--define", f"pkgname {name}", "--define", f"pkgver {version}",
              "--define", f"pkgrel {release}",
              "--define", f"pkgvendor {VENDOR.format(services.CONTENT_VERSION)}",
              *(["--define", f"pkgrequires {requires}"] if requires else []), spec])
        built = os.path.join(out, os.path.basename(path))
        if signer is not None:
            _run([*signer.rpmsign_argv(f"{top}/rpmdb"), built])
        shutil.move(built, f"{path}.new")
    os.replace(f"{path}.new", path)
    return path


def build_ga(outdir, versions=None):
    """The GA rpms CentOS nodes start with (``GA_VERSIONS``), in ``outdir``; their paths."""
    return [build_rpm(outdir, name, version)
            for name, version in sorted((versions or GA_VERSIONS).items())]


def query_package(path):
    """``(name, "version-release")`` of an rpm file, without touching any rpm database."""
    with tempfile.TemporaryDirectory() as scratch:
        out = _run(["rpm", "--define", f"_dbpath {scratch}", "-qp", "--qf",
                    "%{NAME}\t%{VERSION}-%{RELEASE}", path])
    name, version = out.split("\t")
    return name, version


def sign_repomd(repo_dir, signer):
    """``repodata/repomd.xml.asc``: armoured detached signature of ``repomd.xml``."""
    repomd = os.path.join(repo_dir, "repodata", "repomd.xml")
    with open(repomd, "rb") as handle:
        signature = signer.detach_sign(handle.read())
    with open(f"{repomd}.asc.new", "wb") as handle:
        handle.write(signature)
    os.replace(f"{repomd}.asc.new", f"{repomd}.asc")


def write_repo(repo_dir, rpms, signer=None):
    """``repo_dir/Packages/`` = exactly ``rpms`` (hard links or copies), then createrepo_c
    (and ``repomd.xml.asc`` with a ``signer``).

    Returns True when the repo changed.
    """
    pkgdir = os.path.join(repo_dir, "Packages")
    os.makedirs(pkgdir, exist_ok=True)
    wanted = {os.path.basename(p): p for p in rpms}
    have = {n for n in os.listdir(pkgdir) if n.endswith(".rpm")}
    if have == set(wanted) and os.path.exists(os.path.join(repo_dir, "repodata", "repomd.xml")):
        if signer is not None and not os.path.exists(
                os.path.join(repo_dir, "repodata", "repomd.xml.asc")):
            sign_repomd(repo_dir, signer)
            return True
        return False
    for name in have - set(wanted):
        os.unlink(os.path.join(pkgdir, name))
    for name in sorted(set(wanted) - have):
        try:
            os.link(wanted[name], os.path.join(pkgdir, name))
        except OSError:
            shutil.copy2(wanted[name], os.path.join(pkgdir, name))
    _run(["createrepo_c", "--quiet", "--no-database", repo_dir])
    if signer is not None:
        sign_repomd(repo_dir, signer)
    return True


def build_tree(upstream_root, tree, repo_versions=None, pool=None, signer=None, payload=0):
    """Write the yum tree of catalog row ``tree`` under ``upstream_root``; return its path.

    :param upstream_root: the rsync module root (``<sandbox>/upstream``)
    :param tree: a ``mosmu_catalog.Tree`` with ``backend == "yum"``
    :param repo_versions: ``{repo: {package: version}}`` (default ``REPO_VERSIONS``); a repo
        the row offers but the mapping lacks gets an empty repo. A version may be a pair
        ``(version, requires)``: that rpm requires package ``requires`` (e.g. one no repo has,
        which ``yum update --skip-broken`` skips)
    :param pool: where built rpms are kept (default ``<tree>/.pool``, not below any repo)
    :param signer: signs the rpms and each ``repomd.xml``; None: unsigned
    :param payload: bytes of random data each package of the ``updates`` repo carries
        (the same rpm in other repos too); 0: tiny packages
    """
    if tree.backend != "yum":
        raise ValueError(f"{tree.name} is a {tree.backend} tree, not yum")
    repo_versions = REPO_VERSIONS if repo_versions is None else repo_versions
    dirs = {repo: tree.suite_of(repo) for repo in tree.repos}
    if len(set(dirs.values())) != len(dirs):
        raise ValueError(f"{tree.name}: several repos share one directory ({tree.suite})")
    tree_root = os.path.join(upstream_root, tree.upstream)
    pool = pool or os.path.join(upstream_root, ".rpm-pool")
    big = set(repo_versions.get("updates", {}).items()) if payload else set()
    for repo, subdir in dirs.items():
        rpms = [build_rpm(pool, name, version, signer=signer,
                          payload=payload if (name, version) in big else 0, requires=requires)
                for name, (version, requires) in sorted(
                    (n, v if isinstance(v, tuple) else (v, None))
                    for n, v in repo_versions.get(repo, {}).items())]
        write_repo(os.path.join(tree_root, subdir), rpms, signer)
    return tree_root


# -- node roots ------------------------------------------------------------------------------

def init_root(root, rpms):
    """An rpm database inside ``root`` and the ``rpms`` installed into it (``--nodeps``: the
    root has no base system). Nothing outside ``root`` is written."""
    for sub in ("etc/yum.repos.d", "var/log", "var/cache/dnf", "var/lib/dnf", "tmp"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    env = rpm_env()
    _run(["rpm", f"--root={root}", "--initdb"], env=env)
    if rpms:
        _run(["rpm", f"--root={root}", "-i", "--nodeps", *rpms], env=env)


def installed(root):
    """``{name: "version-release"}`` of the packages in a node root's rpm database."""
    out = _run(["rpm", f"--root={root}", "-qa", "--qf", QUERY_FORMAT], env=rpm_env())
    return dict(line.split("\t", 1) for line in out.splitlines() if line.strip())
