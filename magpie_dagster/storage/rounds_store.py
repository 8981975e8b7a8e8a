"""Every SQL statement about a night's rounds (`rounds_schema`): the plan a round generates, and its outcome."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from magpie_dagster.domain.curation.selection import BEYOND_TARGET
from magpie_dagster.domain.rounds.config import Target
from magpie_dagster.domain.rounds.targets import first_round_samples
from magpie_dagster.storage.curation_schema import CURATED
from magpie_dagster.storage.generation_schema import INSTRUCTIONS
from magpie_dagster.storage.leases import Lease
from magpie_dagster.storage.rounds_schema import NIGHT_ROUNDS
from magpie_dagster.storage.tables import dict_rows, has_table, typed_batch, upsert
from magpie_dagster.storage.usable import usable
from magpie_dagster.storage.warehouse import Warehouse


def rounds(warehouse: Warehouse, model: str, night: dt.date) -> list[dict[str, Any]]:
    """The partition's rounds in order (none: it has no target, or has not run with one)."""
    with warehouse.connect(read_only=True) as connection:
        return dict_rows(
            connection.execute(
                f"SELECT * EXCLUDE (created_at) FROM {NIGHT_ROUNDS} WHERE model = ? AND partition_date = ? "
                "ORDER BY round",
                [model, night],
            )
        )


def steering(planned: Sequence[Mapping[str, Any]]) -> list[tuple[int, dict[str, float]]]:
    """(first sample index, prompt weights) of each round that re-weighted the system prompts."""
    changes = []
    for previous, current in zip(planned, planned[1:], strict=False):
        if current["prompt_weights"]:
            changes.append((previous["planned_samples"], json.loads(current["prompt_weights"])))
    return changes


def start_first_round(
    warehouse: Warehouse, lease: Lease, model: str, night: dt.date, planned_samples: int, target_rows: int
) -> None:
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        row = {
            "model": model,
            "partition_date": night,
            "round": 1,
            "planned_samples": planned_samples,
            "target_rows": target_rows,
        }
        upsert(connection, NIGHT_ROUNDS, typed_batch(connection, NIGHT_ROUNDS, [row]))


def close_round(
    warehouse: Warehouse, lease: Lease, outcome: Mapping[str, Any], next_round: Mapping[str, Any] | None
) -> None:
    """Records a round's outcome and, unless it stopped, plans the next one, in one transaction."""
    rows = [outcome, *([next_round] if next_round else [])]
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        upsert(connection, NIGHT_ROUNDS, typed_batch(connection, NIGHT_ROUNDS, rows))


def measured_yield(warehouse: Warehouse, model: str, before: dt.date) -> float | None:
    """Curated rows per planned sample over the model's earlier nights with a target (None: no such night)."""
    with warehouse.connect(read_only=True) as connection:
        if not has_table(connection, NIGHT_ROUNDS):
            return None
        curated, planned = connection.execute(
            f"""
            SELECT sum(curated), sum(planned_samples) FROM (
                SELECT curated, planned_samples FROM {NIGHT_ROUNDS}
                WHERE model = ? AND partition_date < ? AND curated IS NOT NULL
                QUALIFY round = max(round) OVER (PARTITION BY partition_date)
            )
            """,
            [model, before],
        ).fetchone()
    return curated / planned if planned else None


def open_rounds(warehouse: Warehouse, night: dt.date, models: Sequence[str]) -> dict[str, int]:
    """model -> the round planned for the night and not yet curated (the rounds a driver still has to run)."""
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            f"""
            SELECT model, round FROM {NIGHT_ROUNDS}
            WHERE partition_date = ? AND list_contains(?, model) AND curated IS NULL AND stop_reason IS NULL
            QUALIFY round = max(round) OVER (PARTITION BY model)
            """,
            [night, list(models)],
        ).fetchall()
    return dict(rows)


def night_so_far(warehouse: Warehouse, model: str, night: dt.date) -> dict[str, Any]:
    """What the model's night holds now: samples stored, and rows curation kept (before and after the target's
    cut). What it spent is `costs_store.partition_spend`."""
    with warehouse.connect(read_only=True) as connection:
        [row] = dict_rows(
            connection.execute(
                f"""
                SELECT
                    (SELECT count(*) FROM {INSTRUCTIONS} WHERE model = $model AND partition_date = $night)
                        AS stored_samples,
                    (SELECT count(*) FROM {CURATED} WHERE model = $model AND night = $night
                        AND ({usable()} OR drop_reason = $beyond)) AS curated,
                    (SELECT count(*) FROM {CURATED} WHERE model = $model AND night = $night AND {usable()})
                        AS kept
                """,
                {"model": model, "night": night, "beyond": BEYOND_TARGET},
            )
        )
    return row


def samples_to_plan(
    warehouse: Warehouse, lease: Lease, model: str, night: dt.date, target: Target | None, default: int
) -> tuple[int, list[tuple[int, dict[str, float]]]]:
    """How many samples the partition plans, and the system prompt weights of later rounds: with a target, what
    its latest round planned; round 1 is planned (and recorded) here, from the yield of the model's earlier
    nights."""
    if target is None:
        return default, []
    planned = rounds(warehouse, model, night)
    if planned:
        return planned[-1]["planned_samples"], steering(planned)
    count = first_round_samples(target, default, measured_yield(warehouse, model, night))
    start_first_round(warehouse, lease, model, night, count, target.curated_rows)
    return count, []
