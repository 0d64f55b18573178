"""Support for `make mutate` (mutmut) only: a pytest plugin, plus a score report as __main__.
The plugin makes `import mosmu_x` the `_utils.mosmu_x` module:

The helpers are imported flat (`import mosmu_validate`, `_utils` on sys.path), but mutmut names
every mutant after the file's path (`_utils.mosmu_validate.x_fn__mutmut_1`) and activates a
mutant only in a module whose `__name__` matches. This finder maps each flat name onto the
dotted module, so both names are one module object and every mutant can be switched on. It is
loaded with `-p tests.mutmut_support` from setup.cfg's [mutmut] section; plain pytest never loads
it.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_utils")


class _FlatToDotted(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    preloading = False

    def find_spec(self, name, path=None, target=None):
        if path is not None or not name.startswith("mosmu_"):
            return None
        flat = importlib.machinery.PathFinder.find_spec(name)  # what sys.path alone would load
        if flat is None and self.preloading and os.path.isfile(os.path.join(_UTILS, name + ".py")):
            pass  # _preload() runs before conftest puts _utils on sys.path
        elif flat is None or os.path.dirname(os.path.abspath(flat.origin)) != _UTILS:
            return None  # not the tree's _utils (e.g. a synced extmods copy): leave it alone
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        module = importlib.import_module("_utils." + spec.name)
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec  # keep the dotted module's own spec


def _preload(finder):
    """Import every helper now, with no mutant active and no stats recorded.

    Module-level code (the catalog's built-in rows) calls trampolined functions; imported
    during collection, those calls would be attributed to whichever test imported the module
    first. mutmut forks every mutant's run from this process, so import-time code never runs
    with a mutant active: tests must call such functions themselves to kill their mutants.
    """
    saved = os.environ.get("MUTANT_UNDER_TEST")
    os.environ["MUTANT_UNDER_TEST"] = ""
    finder.preloading = True
    try:
        for name in sorted(os.listdir(_UTILS)):
            if name.startswith("mosmu_") and name.endswith(".py"):
                importlib.import_module(name[:-3])
    finally:
        finder.preloading = False
        if saved is None:
            del os.environ["MUTANT_UNDER_TEST"]
        else:
            os.environ["MUTANT_UNDER_TEST"] = saved


if __name__ != "__main__" and not any(isinstance(f, _FlatToDotted) for f in sys.meta_path):
    _FINDER = _FlatToDotted()
    sys.meta_path.insert(0, _FINDER)
    _preload(_FINDER)


# Mutation runs only: no hypothesis shrinking (a failing example is enough to kill a mutant and
# shrinking can outlast mutmut's timeout), no example database, the same examples every run.
try:
    from hypothesis import Phase, settings
except ImportError:  # pragma: no cover
    settings = None
if settings is not None:
    settings.register_profile("mutmut", database=None, derandomize=True, deadline=None,
                              phases=[Phase.explicit, Phase.reuse, Phase.generate])
    settings.load_profile("mutmut")


def _durations():
    import json
    try:
        with open("mutmut-stats.json", encoding="utf-8") as handle:  # cwd is mutants/
            return json.load(handle)["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return {}


def pytest_collection_modifyitems(items):
    """Fastest tests first: a killed mutant costs only the tests run until the first failure."""
    durations = _durations()
    if durations:
        items.sort(key=lambda item: durations.get(item.nodeid, 0.0))


# -- `python tests/mutmut_support.py`: score per file and the surviving mutants ----------------

KILLED = {1, 3, 36, 37, -24, 24, 152, 255}   # mutmut exit codes: a test failed / timeout / type
TIMEOUTS = {36, -24, 24, 152, 255}            # counted as killed, shown apart: a busy machine
NO_TESTS = 33                                 # no unit test reaches the mutated function


def _codes(roots):
    """``{file: {mutant: exit code}}`` over one or more mutants/ dirs; a mutant counts as
    killed if it was killed in any of them (runs of the same tree with different tests)."""
    import glob
    import json

    out = {}
    for root in roots:
        for meta in glob.glob(os.path.join(root, "_utils", "*.py.meta")):
            with open(meta, encoding="utf-8") as handle:
                codes = json.load(handle)["exit_code_by_key"]
            merged = out.setdefault(os.path.basename(meta)[:-5], {})
            for key, code in codes.items():
                if merged.get(key) not in KILLED and code is not None:
                    merged[key] = code
                merged.setdefault(key, code)
    return out


def report(roots=("mutants",)):
    """Print killed/total per mutated file from mutmut's ``.meta`` files and the surviving
    mutants; return the overall share killed (timeouts count as killed, "no tests" as
    survivors, mutants not run yet are left out and counted per file)."""
    killed_all = done_all = pending_all = 0
    survivors = []
    print(f"{'file':32} {'killed':>7} {'total':>6} {'score':>7}  (no tests, timeouts)")
    for name, codes in sorted(_codes(roots).items()):
        done = {k: c for k, c in codes.items() if c is not None}
        if not codes:
            continue
        killed = sum(c in KILLED for c in done.values())
        untested = sum(c == NO_TESTS for c in done.values())
        timeouts = sum(c in TIMEOUTS for c in done.values())
        survivors += sorted(k for k, c in done.items() if c not in KILLED)
        killed_all, done_all = killed_all + killed, done_all + len(done)
        score = 100.0 * killed / len(done) if done else 0.0
        pending = len(codes) - len(done)
        pending_all += pending
        print(f"{name:32} {killed:7} {len(done):6} {score:6.1f}%  ({untested}, {timeouts})"
              + (f"  {pending} not run" if pending else ""))
    overall = 100.0 * killed_all / done_all if done_all else 0.0
    print(f"{'TOTAL':32} {killed_all:7} {done_all:6} {overall:6.1f}%"
          + (f"  ({pending_all} not run: the score covers only the mutants run)"
             if pending_all else ""))
    print(f"\nsurviving mutants ({len(survivors)}); see one with: .venv/bin/mutmut show NAME")
    for name in survivors:
        print("   ", name)
    return overall


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="mutmut score per file of _utils/")
    parser.add_argument("roots", nargs="*", default=["mutants"],
                        help="mutants/ dirs (several: a mutant killed in any counts as killed)")
    parser.add_argument("--fail-under", type=float, default=None, metavar="PERCENT",
                        help="exit 1 when the overall score is below PERCENT")
    args = parser.parse_args(argv)
    overall = report(args.roots)
    if args.fail_under is not None and overall < args.fail_under:
        print(f"\nscore {overall:.1f}% is below {args.fail_under:g}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
