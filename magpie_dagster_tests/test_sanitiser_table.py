"""The sanitiser table of docs/generation.md is a promise: every row of it holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from magpie_dagster.domain.generation.sanitise import sanitise_instruction
from magpie_dagster.domain.generation.sanitise_rules import RULE_IDS

PAGE = Path(__file__).resolve().parents[1] / "docs" / "generation.md"
# One code span: `text`, or `` text `` when the text holds backticks (a code fence).
_CODE_CELL = re.compile(r"^(?:`` (?P<fenced>.*) ``|`(?P<plain>[^`].*)`)$")


def _table_rows() -> list[tuple[str, str, str, str]]:
    text = PAGE.read_text(encoding="utf-8")
    table = text.split("<!-- sanitiser-table:start -->")[1].split("<!-- sanitiser-table:end -->")[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        behaviour, rule, raw, stored = (cell.strip() for cell in line.strip().strip("|").split(" | "))
        raw = _unquote(raw)
        stored = raw if stored == "unchanged" else _unquote(stored)
        rows.append((behaviour, rule.strip("`"), raw, stored))
    return rows


def _unquote(cell: str) -> str:
    match = _CODE_CELL.match(cell)
    assert match, f"docs/generation.md sanitiser table: {cell!r} is not one code span"
    return (match["fenced"] or match["plain"]).replace("\\n", "\n")


ROWS = _table_rows()


def test_the_table_covers_every_rule_and_the_kept_material():
    assert {rule for _, rule, _, _ in ROWS} == set(RULE_IDS) | {"none"}
    assert sum(rule == "none" for _, rule, _, _ in ROWS) >= 5


@pytest.mark.parametrize(("behaviour", "rule", "raw", "stored"), ROWS, ids=[row[0] for row in ROWS])
def test_each_row_of_the_table_holds(behaviour, rule, raw, stored):
    result = sanitise_instruction(raw)
    assert result.text == stored
    if rule == "none":
        assert result.rules_fired == ()
    else:
        assert rule in result.rules_fired
