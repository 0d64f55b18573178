"""Every public loader function documents itself (STYLE.md), checked with ast."""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOADER_FILES = ["_modules/mosmu.py", "_runners/mosmu.py", "_states/mosmu.py"]


def _public_functions(relpath):
    with open(os.path.join(REPO, relpath), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    return [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]


@pytest.mark.parametrize("relpath", LOADER_FILES)
def test_public_functions_have_full_docstrings(relpath):
    functions = _public_functions(relpath)
    assert functions
    for func in functions:
        doc = ast.get_docstring(func) or ""
        assert doc.strip(), f"{relpath}:{func.name} has no docstring"
        args = [a.arg for a in func.args.args + func.args.kwonlyargs]
        for arg in args:
            assert f"\n{arg}\n" in f"\n{doc}\n" or f"\n{arg}" in doc, \
                f"{relpath}:{func.name} does not describe argument {arg}"
        if not relpath.startswith("_states"):
            assert "CLI Example:" in doc, f"{relpath}:{func.name} has no CLI Example"
