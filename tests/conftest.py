"""Shared test set-up: helpers and the sandbox import from the source tree, and the host check
over the whole session (``sandbox.hostcheck``): the host's fingerprint is taken before the
first test of any tier and compared after the last; a difference fails the run and names
each path."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (REPO, os.path.join(REPO, "_utils")):
    if path not in sys.path:
        sys.path.insert(0, path)

import pytest  # noqa: E402

from sandbox import hostcheck  # noqa: E402

_BEFORE = pytest.StashKey[dict]()
_CHANGES = pytest.StashKey[str]()


def _checked(session):
    # xdist workers share the controller's check; mutmut runs the unit tier once per mutant
    # (MUTANT_UNDER_TEST set) and is not `make test`
    return not hasattr(session.config, "workerinput") and "MUTANT_UNDER_TEST" not in os.environ


def pytest_sessionstart(session):
    if _checked(session):
        session.stash[_BEFORE] = hostcheck.fingerprint()


def pytest_sessionfinish(session, exitstatus):
    before = session.stash.get(_BEFORE, None)
    if before is None:
        return
    changes = hostcheck.diff(before, hostcheck.fingerprint())
    if not changes:
        return
    message = hostcheck.report(changes, "this test session")
    session.config.stash[_CHANGES] = message
    if session.config.pluginmanager.get_plugin("terminalreporter") is None:
        print(message, file=sys.stderr)
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    """The host check's failure, just above the final summary line."""
    message = terminalreporter.config.stash.get(_CHANGES, None)
    if message:
        terminalreporter.write_sep("=", "host check failed", red=True, bold=True)
        terminalreporter.write_line(message)
