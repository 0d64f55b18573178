"""Docs that cannot drift: docs/configuration.md lists every key the code knows, with its
default; pillar.example shows every pillar key the formula reads; README's layout gives every
helper and sandbox file one line."""

import ast
import os
import re

import yaml

import mosmu_config
import mosmu_plan

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _section(title):
    with open(os.path.join(REPO, "docs", "configuration.md"), encoding="utf-8") as handle:
        text = handle.read()
    body = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z_:]+)`", cells[0]) if len(cells) >= 3 else None
        if match:
            rows[match.group(1)] = cells[1]
    return rows


def _default(cell):
    if cell == "(required)":
        return None
    value = cell.strip("`")
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def test_every_master_key_is_documented_with_its_default():
    rows = _section("Master config: `mosmu:`")
    assert set(rows) == set(mosmu_config.DEFAULTS)
    for key, cell in rows.items():
        assert _default(cell) == mosmu_config.DEFAULTS[key], key


def test_every_pillar_key_is_documented_and_in_pillar_example():
    rows = _section("Pillar (formula / highstate)")
    keys = {k.split(":", 1)[1] for k in rows}
    assert keys == set(mosmu_plan.SHORT_KEYS) | {"lookup"}
    with open(os.path.join(REPO, "mosmu", "defaults.yaml"), encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle)["mosmu"]
    for key, cell in rows.items():
        name = key.split(":", 1)[1]
        if name in defaults and cell != "(required)":
            assert _default(cell) == defaults[name], key
    with open(os.path.join(REPO, "pillar.example"), encoding="utf-8") as handle:
        example = yaml.safe_load(handle)["mosmu"]
    assert set(example) == keys
    mosmu_plan.Plan.from_pillar(example)           # the example is a working plan


# -- README's layout names every helper and sandbox file, and nothing else -------------------

def _layout_files():
    """``{"_utils": {file names}, "sandbox": {file names}}`` listed in README's Layout."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        body = handle.read().split("\n## Layout", 1)[1].split("\n## ", 1)[0]
    listed, parent = {"_utils": set(), "sandbox": set()}, None
    for line in body.splitlines():
        top = re.fullmatch(r" {4}(\S+)/\s.*", line)
        if top:
            parent = top.group(1)
            continue
        item = re.fullmatch(r" {6}(\S+\.py)\s+\S.*", line)
        if item and parent in listed:
            listed[parent].add(item.group(1))
    return listed


def _tree_files(directory, pattern):
    return {name for name in os.listdir(os.path.join(REPO, directory))
            if re.fullmatch(pattern, name)}


def test_readme_layout_gives_each_helper_and_sandbox_file_its_job_and_names_no_other():
    """One line per file says its job: a new file must be listed there, a removed one must
    leave the list."""
    listed = _layout_files()
    assert listed["_utils"] == _tree_files("_utils", r"mosmu_\w+\.py")
    assert listed["sandbox"] == _tree_files("sandbox", r"\w+\.py")
