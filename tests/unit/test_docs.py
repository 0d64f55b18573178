"""Docs that cannot drift: docs/configuration.md lists every key the code knows, with its
default; pillar.example shows every pillar key the formula reads."""

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
