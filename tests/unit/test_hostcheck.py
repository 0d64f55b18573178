"""sandbox.hostcheck: the host fingerprint that a whole `make test`, `make demo` or `make bench`
must leave identical, and the checks built on it (the pytest session hooks in tests/conftest.py,
``python -m sandbox.hostcheck -- COMMAND``). Every test watches a temporary home, never the
real one, so a failing check here dirties nothing."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from sandbox import hostcheck
from tests.conftest import REPO
from tests.mirror import helpers

needs_rpmbuild = pytest.mark.skipif(not shutil.which("rpmbuild"), reason="needs rpmbuild")

SPEC = """Name: stray
Version: 1
Release: 1
Summary: a package built by a test
License: MIT
BuildArch: noarch
%description
test
%files
"""


def _rpmbuild(tmp, *defines):
    spec = tmp / "stray.spec"
    spec.write_text(SPEC)
    argv = ["rpmbuild", "--define", f"_topdir {tmp}/top", "--define", f"_tmppath {tmp}"]
    for define in defines:
        argv += ["--define", define]
    subprocess.run([*argv, "-bb", str(spec)], check=True, capture_output=True)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A temporary home, and ``$HOME`` pointing at it (for tools run by the test)."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


# -- what the fingerprint sees ---------------------------------------------------------------

@needs_rpmbuild
def test_a_stray_rpmbuild_without_dbpath_is_named(home, tmp_path):
    """Regression (issue 20): the mirror tier's rpmbuild had no private ``_dbpath``, so
    Debian's rpm created ``~/.rpmdb`` in the host's home and no check noticed."""
    before = hostcheck.fingerprint(home=str(home))
    _rpmbuild(tmp_path)
    changes = hostcheck.diff(before, hostcheck.fingerprint(home=str(home)))
    assert changes and changes[0].startswith(f"added {home}/.rpmdb")
    assert [line.split()[1] for line in changes] == [f"{home}/.rpmdb"]


@needs_rpmbuild
def test_rpmbuild_with_a_private_dbpath_leaves_the_home_alone(home, tmp_path):
    before = hostcheck.fingerprint(home=str(home))
    _rpmbuild(tmp_path, f"_dbpath {tmp_path}/rpmdb")
    assert hostcheck.diff(before, hostcheck.fingerprint(home=str(home))) == []
    assert (tmp_path / "rpmdb").is_dir()


@pytest.mark.skipif(not (shutil.which("rpmbuild") and shutil.which("createrepo_c")),
                    reason="needs rpmbuild and createrepo_c")
def test_mirror_tier_yum_upstream_leaves_the_home_alone(home, tmp_path):
    """Regression (issue 20): ``tests/mirror/helpers.YumUpstream`` wrote ``~/.rpmdb``."""
    before = hostcheck.fingerprint(home=str(home))
    (tmp_path / "work").mkdir()
    up = helpers.YumUpstream(tmp_path / "up", tmp_path / "work")
    up.publish({"mos-dummy": "1.0"})
    assert os.path.isfile(up.rpm("mos-dummy", "1.0"))
    assert hostcheck.diff(before, hostcheck.fingerprint(home=str(home))) == []


def test_ssh_gnupg_and_new_home_entries_are_named_but_not_cache_contents(home):
    for sub in (".ssh", ".gnupg", ".cache"):
        (home / sub).mkdir(mode=0o700)
    (home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA one\n")
    (home / ".gnupg" / "pubring.kbx").write_bytes(b"keys")
    (home / ".cache" / "pip").write_text("old")
    (home / ".bashrc").write_text("# old\n")
    before = hostcheck.fingerprint(home=str(home))

    (home / ".ssh" / "known_hosts").write_text("[127.0.0.1]:2222 ssh-ed25519 AAAA\n")
    (home / ".ssh" / "authorized_keys").chmod(0o600)
    (home / ".gnupg" / "pubring.kbx").write_bytes(b"more keys")
    (home / ".cache" / "pip").write_text("new")          # contents of other entries: not seen
    (home / ".cache" / "salt").mkdir()
    (home / ".bashrc").write_text("# new\n")
    (home / ".salt").mkdir()                              # a new entry: seen
    (home / ".salt" / "master").write_text("x")

    assert hostcheck.diff(before, hostcheck.fingerprint(home=str(home))) == [
        f"changed {home}/.gnupg/pubring.kbx",
        f"added {home}/.salt",
        f"changed {home}/.ssh/authorized_keys",
        f"added {home}/.ssh/known_hosts",
    ]


def test_a_removed_home_entry_is_named(home):
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519").write_text("key")
    before = hostcheck.fingerprint(home=str(home))
    shutil.rmtree(home / ".ssh")
    assert hostcheck.diff(before, hostcheck.fingerprint(home=str(home))) == [
        f"removed {home}/.ssh (and 1 entries below it)"]


def test_the_default_fingerprint_watches_home_too(home):
    """Without ``home=``: the passwd home's entry names, and ``.rpmdb``/``.gnupg``/``.ssh``
    below both the passwd home and ``$HOME`` (rpm and gpg follow ``$HOME``)."""
    (home / ".gnupg").mkdir()
    (home / ".gnupg" / "trustdb.gpg").write_bytes(b"t")
    print_ = hostcheck.fingerprint()
    assert print_[f"{home}/.gnupg/trustdb.gpg"].startswith("file ")
    assert hostcheck.homes()[-1] == str(home)
    assert hostcheck.passwd_home() in hostcheck.homes()
    assert any(key.startswith(hostcheck.passwd_home() + "/") for key in print_)
    assert any(key.startswith("/etc/apt/") for key in print_)
    if shutil.which("dpkg-query"):
        assert print_[f"{hostcheck.PACKAGES} dpkg"].startswith("ii ")


def test_fingerprint_is_stable_when_nothing_changes(home):
    assert hostcheck.diff(hostcheck.fingerprint(), hostcheck.fingerprint()) == []


# -- diff ------------------------------------------------------------------------------------

def test_diff_names_each_path_and_folds_the_contents_of_added_dirs():
    before = {"/etc/apt/a": "file 644 x", "/etc/apt/gone": "file 644 y",
              "dpkg -l nova": "ii 1.0", "/r/.ssh": "dir 700"}
    after = {"/etc/apt/a": "file 644 z", "/r/.rpmdb": "dir 755",
             "/r/.rpmdb/rpmdb.sqlite": "file 644 s", "/r/.rpmdb/rpmdb.sqlite-wal": "file 644 w",
             "/r/.rpmdb-x": "file 644 q", "dpkg -l nova": "ii 1.1", "/r/.ssh": "dir 700"}
    assert hostcheck.diff(before, after) == [
        "changed /etc/apt/a", "removed /etc/apt/gone", "added /r/.rpmdb (and 2 entries below it)",
        "added /r/.rpmdb-x", "changed dpkg -l nova (ii 1.0 -> ii 1.1)"]
    assert hostcheck.diff(after, after) == []


# -- the checks: a pytest session, a command -------------------------------------------------

def _session(tmp_path, home, defines):
    """A pytest run of one test that builds an rpm with ``defines``, with the session hooks of
    tests/conftest.py and ``HOME`` = ``home``; ``(returncode, output)``."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(
        "from tests.conftest import (  # noqa: F401\n"
        "    pytest_sessionfinish, pytest_sessionstart, pytest_terminal_summary)\n")
    spec = suite / "stray.spec"
    spec.write_text(SPEC)
    (suite / "test_build.py").write_text(textwrap.dedent(f"""\
        import subprocess

        def test_builds_a_package(tmp_path):
            defines = ["_topdir " + str(tmp_path), "_tmppath " + str(tmp_path)]
            defines += [d.replace("TMP", str(tmp_path)) for d in {defines!r}]
            argv = ["rpmbuild", *(x for d in defines for x in ("--define", d))]
            subprocess.run([*argv, "-bb", {str(spec)!r}], check=True)
        """))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'basetemp'}", str(suite)],
        capture_output=True, text=True, check=False, cwd=suite, timeout=300,
        # the inner session is a plain one even under mutmut (whose sessions skip the check)
        env={**{k: v for k, v in os.environ.items() if k != "MUTANT_UNDER_TEST"},
             "HOME": str(home), "PYTHONPATH": REPO})
    return proc.returncode, proc.stdout + proc.stderr


@needs_rpmbuild
def test_a_stray_rpmbuild_in_any_test_fails_the_session_and_names_the_path(home, tmp_path):
    """Regression (issue 20): the host check watched only the integration tier, so the mirror
    tier's ``~/.rpmdb`` passed ``make test``. The session hooks fail the whole run."""
    returncode, output = _session(tmp_path, home, [])
    assert returncode == 1, output
    assert "1 passed" in output                           # the test itself passed
    assert "host check failed" in output
    assert f"added {home}/.rpmdb" in output


@needs_rpmbuild
def test_a_session_that_leaves_the_host_alone_passes(home, tmp_path):
    returncode, output = _session(tmp_path, home, ["_dbpath TMP/rpmdb"])
    assert returncode == 0, output
    assert "host check" not in output
    assert os.listdir(home) == []


def _hostcheck(home, *command):
    return subprocess.run([sys.executable, "-m", "sandbox.hostcheck", "--", *command],
                          capture_output=True, text=True, check=False, cwd=REPO, timeout=120,
                          env=dict(os.environ, HOME=str(home)))


def test_command_that_touches_the_home_fails_and_the_path_is_named(home):
    proc = _hostcheck(home, "sh", "-c", 'mkdir "$HOME/.ssh" && : > "$HOME/.ssh/known_hosts"')
    assert proc.returncode == 1
    assert f"added {home}/.ssh (and 1 entries below it)" in proc.stderr


def test_command_exit_status_is_kept_when_the_host_is_untouched(home):
    assert _hostcheck(home, "true").returncode == 0
    proc = _hostcheck(home, "sh", "-c", "exit 3")
    assert (proc.returncode, proc.stderr) == (3, "")


def test_command_is_required():
    proc = subprocess.run([sys.executable, "-m", "sandbox.hostcheck"], capture_output=True,
                          text=True, check=False, cwd=REPO, timeout=60)
    assert proc.returncode == 2 and "give a command" in proc.stderr
