"""The scorecard's table: one row per model and night, and the night's totals (`model` = '*'), a column per number
(`domain/scorecard/metrics.py` names and explains them) and a MAP per distribution, e.g.
`SELECT night, usable_rate, task_category_shares['Math'] FROM night_scorecard WHERE model = '*' ORDER BY night`."""

from __future__ import annotations

from magpie_dagster.domain.scorecard.metrics import COUNTS, DISTRIBUTIONS, TRENDED

SCORECARD = "night_scorecard"
SECOND_JUDGEMENTS = "second_judgements"
_COUNT_MAPS = ("instruction_drop_reasons", "response_drop_reasons", "contamination_by_benchmark")


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

# The second judge's label beside the first judge's, per sampled instruction and tag (catalogue
# `scorecard.second_judge`); the scorecard's agreement and kappa are computed from these rows.
SECOND_JUDGEMENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {SECOND_JUDGEMENTS} (
    night DATE NOT NULL,
    conversation_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    tag VARCHAR NOT NULL,
    judge_model VARCHAR NOT NULL,
    second_judge_model VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    first_label VARCHAR,
    second_label VARCHAR,
    status VARCHAR NOT NULL,
    error VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""

# Numbers added after the table first shipped: a warehouse whose scorecard predates them gains their columns.
SCORECARD_COLUMNS_ADDED = tuple(
    f"ALTER TABLE {SCORECARD} ADD COLUMN IF NOT EXISTS {definition}"
    for definition in (
        _column("contamination_rate"),
        _distribution("contamination_by_benchmark"),
        _distribution("tagger_held_out_accuracy"),
        _distribution("tagger_constant_accuracy"),
    )
)
