"""The scorecard's table: one row per model and night, and the night's totals (`model` = '*'), a column per number
(`domain/scorecard/metrics.py` names and explains them) and a MAP per distribution, e.g.
`SELECT night, usable_rate, task_category_shares['Math'] FROM night_scorecard WHERE model = '*' ORDER BY night`."""

from __future__ import annotations

from magpie_dagster.domain.scorecard.metrics import COUNTS, DISTRIBUTIONS, TRENDED

SCORECARD = "night_scorecard"
_COUNT_MAPS = ("instruction_drop_reasons", "response_drop_reasons")


def _column(name: str) -> str:
    return f"{name} {'BIGINT' if name in COUNTS else 'DOUBLE'}"


def _distribution(name: str) -> str:
    return f"{name} MAP(VARCHAR, {'BIGINT' if name in _COUNT_MAPS else 'DOUBLE'})"


SCORECARD_DDL = f"""
CREATE TABLE IF NOT EXISTS {SCORECARD} (
    night DATE NOT NULL,
    model VARCHAR NOT NULL,
    {", ".join(_column(name) for name in TRENDED)},
    {", ".join(_distribution(name) for name in DISTRIBUTIONS)},
    degenerate_tags VARCHAR[],
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""
