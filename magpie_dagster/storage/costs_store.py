"""Writes to and reads from the cost ledger (`costs_schema`): appended per engine call, summed per partition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from magpie_dagster.domain.costs.planning import MeasuredRate
from magpie_dagster.storage.costs_schema import ENGINE_CALLS, SPEND_COLUMNS
from magpie_dagster.storage.generation_schema import INSTRUCTIONS
from magpie_dagster.storage.leases import Lease
from magpie_dagster.storage.tables import dict_rows, has_table, typed_batch, upsert
from magpie_dagster.storage.warehouse import Warehouse


def record_call(warehouse: Warehouse, lease: Lease, row: Mapping[str, Any]) -> None:
    """Appends one engine call (its `call_id` is new, so nothing is replaced) under the stage's lease."""
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        upsert(connection, ENGINE_CALLS, typed_batch(connection, ENGINE_CALLS, [row]))


def partition_spend(
    warehouse: Warehouse, model: str, partition_date: dt.date, stage: str | None = None
) -> dict[str, Any]:
    """What a stage of a partition (every stage when `stage` is None) has spent over every attempt: calls, failed
    calls, attempts, tokens, time, money."""
    with warehouse.connect(read_only=True) as connection:
        [row] = dict_rows(
            connection.execute(
                f"""
                SELECT {SPEND_COLUMNS} FROM {ENGINE_CALLS}
                WHERE model = ? AND partition_date = ? AND (? IS NULL OR stage = ?)
                """,
                [model, partition_date, stage, stage],
            )
        )
    return row


def measured_rates(warehouse: Warehouse) -> dict[str, MeasuredRate]:
    """model -> what its partitions with both a ledger and planned samples spent, and how many samples they planned."""
    if not warehouse.exists():
        return {}
    with warehouse.connect(read_only=True) as connection:
        if not has_table(connection, ENGINE_CALLS):
            return {}
        rows = connection.execute(
            f"""
            WITH spent AS (
                SELECT model, partition_date, sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion,
                    sum(seconds) AS seconds, sum(cost_usd) AS cost
                FROM {ENGINE_CALLS} GROUP BY ALL
            ),
            planned AS (SELECT model, partition_date, count(*) AS samples FROM {INSTRUCTIONS} GROUP BY ALL)
            SELECT model, count(*), sum(samples), sum(prompt), sum(completion), sum(seconds), sum(cost)
            FROM spent JOIN planned USING (model, partition_date) GROUP BY model
            """
        ).fetchall()
    return {
        model: MeasuredRate(int(partitions), int(samples), int(prompt), int(completion), float(seconds), float(cost))
        for model, partitions, samples, prompt, completion, seconds, cost in rows
    }


def generated_nights(warehouse: Warehouse, model: str, start: dt.date, end: dt.date) -> int:
    """How many nights from `start` to `end` (inclusive) already hold the model's instructions."""
    if not warehouse.exists():
        return 0
    with warehouse.connect(read_only=True) as connection:
        if not has_table(connection, INSTRUCTIONS):
            return 0
        return connection.execute(
            f"SELECT count(DISTINCT partition_date) FROM {INSTRUCTIONS} "
            "WHERE model = ? AND partition_date BETWEEN ? AND ?",
            [model, start, end],
        ).fetchone()[0]

