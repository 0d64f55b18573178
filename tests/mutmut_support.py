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

    Module-level code (the catalog's rows) calls trampolined functions; imported later, during
    collection, those calls would reach mutmut's max_stack_depth frame walk with importlib's
    frozen frames on the stack, which it cannot resolve (FileNotFoundError). The forked
    workers inherit the imported modules.
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


if not any(isinstance(f, _FlatToDotted) for f in sys.meta_path):
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


def _patch_mutmut_stack_walk():
    """mutmut 3.8's ``max_stack_depth`` walk resolves every frame's file with
    ``Path.resolve(strict=True)`` and crashes on frames without one (dataclass-generated
    ``__init__`` is ``<string>``, importlib is ``<frozen ...>``). Same walk, skipping those."""
    try:
        import inspect
        from pathlib import Path

        import mutmut.mutation.trampoline as trampoline
        from mutmut.configuration import config
        from mutmut.state import state
    except ImportError:  # plain pytest: nothing to patch
        return

    def record_trampoline_hit(name, caller=None):
        cfg = config()
        if cfg.max_stack_depth != -1:
            frame, left = inspect.currentframe(), cfg.max_stack_depth
            while left and frame:
                filename = frame.f_code.co_filename
                frame = frame.f_back
                if "pytest" in filename or "unittest" in filename:
                    break
                if filename.startswith("<"):
                    continue
                path = Path(filename).resolve()
                if any(src in path.parents for src in cfg.resolved_mutated_source_paths):
                    left -= 1
            if not left:
                return
        state()._stats.add(name)
        if caller is not None and cfg.track_dependencies:
            state().function_dependencies[name].add(caller)

    trampoline.record_trampoline_hit = record_trampoline_hit


_patch_mutmut_stack_walk()


# -- `python tests/mutmut_support.py`: score per file and the surviving mutants ----------------

def report(root="mutants"):
    """Print killed/total per mutated file from mutmut's ``.meta`` files; return the overall
    share of mutants killed (timeouts count as killed; untested mutants count as survivors)."""
    import glob
    import json

    killed_codes = {1, 3, 36, 37, -24, 24, 152, 255}   # test failed / timeout / type check
    totals = [0, 0]
    survivors = []
    print(f"{'file':32} {'killed':>7} {'total':>6} {'score':>7}  (no tests)")
    for meta in sorted(glob.glob(os.path.join(root, "_utils", "*.py.meta"))):
        with open(meta, encoding="utf-8") as handle:
            codes = json.load(handle)["exit_code_by_key"]
        done = {k: c for k, c in codes.items() if c is not None}
        killed = [k for k, c in done.items() if c in killed_codes]
        untested = [k for k, c in done.items() if c == 33]
        survivors += sorted(k for k in done if k not in killed)
        totals[0] += len(killed)
        totals[1] += len(done)
        name = os.path.basename(meta)[:-5]
        score = 100.0 * len(killed) / len(done) if done else 0.0
        pending = len(codes) - len(done)
        print(f"{name:32} {len(killed):7} {len(done):6} {score:6.1f}%  ({len(untested)})"
              + (f"  {pending} not run" if pending else ""))
    overall = 100.0 * totals[0] / totals[1] if totals[1] else 0.0
    print(f"{'TOTAL':32} {totals[0]:7} {totals[1]:6} {overall:6.1f}%")
    print(f"\nsurviving mutants ({len(survivors)}); see one with: .venv/bin/mutmut show NAME")
    for name in survivors:
        print("   ", name)
    return overall


if __name__ == "__main__":
    report(sys.argv[1] if len(sys.argv) > 1 else "mutants")
