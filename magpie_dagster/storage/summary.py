"""What a run left in the warehouse, counted per stage (the CLI prints it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from magpie_dagster.storage.curation_schema import CURATED
from magpie_dagster.storage.dedup_schema import DEDUP_VIEW
from magpie_dagster.storage.generation_schema import INSTRUCTIONS, RESPONSES
from magpie_dagster.storage.preference_schema import PREFERENCE
from magpie_dagster.storage.rounds_schema import NIGHT_ROUNDS
from magpie_dagster.storage.tagging_schema import JUDGEMENTS
from magpie_dagster.storage.usable import usable
from magpie_dagster.storage.warehouse import Warehouse

_PARTITION_COUNTS = f"""
SELECT
    (SELECT count(*) FROM {INSTRUCTIONS} WHERE model = $1 AND partition_date = $2),
    (SELECT count(*) FROM {INSTRUCTIONS} WHERE model = $1 AND partition_date = $2 AND {usable()}),
    (SELECT count(*) FROM {RESPONSES} WHERE model = $1 AND partition_date = $2 AND {usable()}),
    (SELECT count(*) FROM {JUDGEMENTS} WHERE model = $1 AND partition_date = $2 AND status = 'ok'),
    (SELECT count(*) FROM {JUDGEMENTS} WHERE model = $1 AND partition_date = $2 AND status = 'failed'),
    (SELECT count(*) FROM {DEDUP_VIEW} WHERE model = $1 AND partition_date = $2 AND repeat_count > 0),
    (SELECT count(*) FROM {CURATED} WHERE model = $1 AND night = $2 AND {usable()})
"""
_DROP_REASONS = f"""
SELECT drop_reason, count(*) FROM (
    SELECT drop_reason FROM {INSTRUCTIONS} WHERE model = $1 AND partition_date = $2
    UNION ALL SELECT drop_reason FROM {RESPONSES} WHERE model = $1 AND partition_date = $2
) WHERE drop_reason IS NOT NULL GROUP BY drop_reason ORDER BY count(*) DESC, drop_reason
"""


@dataclass(frozen=True)
class PartitionCounts:
    """Rows a model's partition holds at each stage, and why generated rows were dropped."""

    instructions: int
    usable: int
    pairs: int  # usable instruction/response pairs
    judged: int
    judge_failed: int
    near_duplicates: int
    curated: int  # kept by the night's recipe
    drop_reasons: dict[str, int]  # instructions' and responses' together


def partition_counts(warehouse: Warehouse, model: str, partition_date: dt.date) -> PartitionCounts:
    with warehouse.connect(read_only=True) as connection:
        counts = connection.execute(_PARTITION_COUNTS, [model, partition_date]).fetchone()
        reasons = dict(connection.execute(_DROP_REASONS, [model, partition_date]).fetchall())
    return PartitionCounts(*counts, drop_reasons=reasons)


def rounds_summary(warehouse: Warehouse, model: str, partition_date: dt.date) -> str | None:
    """The night's rounds toward the model's row target, or None when it has none."""
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            "SELECT round, planned_samples, kept, target_rows, yield, tokens, cost_usd, stop_reason "
            f"FROM {NIGHT_ROUNDS} WHERE model = ? AND partition_date = ? AND curated IS NOT NULL "
            "ORDER BY round DESC LIMIT 1",
            [model, partition_date],
        ).fetchall()
    if not rows:
        return None
    [(rounds, planned, kept, target, yield_, tokens, cost, stop_reason)] = rows
    return (
        f"{model} {partition_date}: {kept} of {target} target rows after {rounds} round(s), {planned} samples "
        f"(yield {yield_:.2f}), {tokens:,} tokens, ${cost:.4f}; {stop_reason or 'another round planned'}"
    )


def night_summary(warehouse: Warehouse, night: dt.date) -> str:
    with warehouse.connect(read_only=True) as connection:
        kept, total = connection.execute(
            f"SELECT count(*) FILTER ({usable()}), count(*) FROM {CURATED} WHERE night = ?", [night]
        ).fetchone()
        pairs = connection.execute(f"SELECT count(*) FROM {PREFERENCE} WHERE night = ?", [night]).fetchone()[0]
    exports = warehouse.export_directory(night)
    return (
        f"night {night}: curated subset {kept} of {total} rows, {pairs} preference pairs; "
        f"warehouse {warehouse.label}, exports {exports}"
    )


def left_out_line(left_out: dict[str, int]) -> str:
    models = ", ".join(f"{key} ({count} instructions)" for key, count in left_out.items())
    return (
        f"not in the catalogue, left out of curation and exports: {models}; "
        "`magpie-dagster prune --model KEY` deletes a key's rows"
    )
