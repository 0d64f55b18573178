"""Loader modules under unit test: import one by path, give it the dunders Salt's loader would.

What pytest-salt-factories' ``configure_loader_modules`` does, in a few lines: each test sets
``__salt__``, ``__opts__``, ``__grains__``, ``__pillar__`` on the module object and gets the
module back unchanged afterwards (``monkeypatch``). The functions in ``__salt__`` are either
the module's own (the loader gives a module its own functions too) or mocks built with
``create_autospec`` from the real function, so a call with a wrong signature fails the test.
"""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DUNDERS = ("__salt__", "__opts__", "__grains__", "__pillar__")


def load(relpath, name):
    """Import ``relpath`` (``_modules/mosmu.py``) as a fresh module called ``name``."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def configure(monkeypatch, module, **dunders):
    """Set each ``salt=..., opts=...`` as ``__salt__``, ``__opts__`` ... on ``module`` for one
    test; the ones not given are empty dicts, as a loader with nothing configured has."""
    unknown = set(dunders) - {d.strip("_") for d in DUNDERS}
    if unknown:
        raise TypeError(f"unknown loader dunders: {sorted(unknown)}")
    for dunder in DUNDERS:
        monkeypatch.setattr(module, dunder, dunders.get(dunder.strip("_"), {}), raising=False)
    return module
