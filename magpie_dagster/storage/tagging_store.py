"""Every SQL statement of the tagging stage: inputs, the re-judging cache, batch writes, label counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from magpie_dagster.storage.generation_schema import INSTRUCTIONS, RESPONSES
from magpie_dagster.storage.generation_store import usable_instructions
from magpie_dagster.storage.leases import Lease
from magpie_dagster.storage.tables import dict_rows, typed_batch, upsert
from magpie_dagster.storage.tagging_schema import INSTRUCTION_TAGS_VIEW, JUDGEMENTS, TAGGER_SCORES
from magpie_dagster.storage.usable import usable
from magpie_dagster.storage.warehouse import Warehouse

LABEL_COLUMNS = ("difficulty", "input_quality", "task_category", "language", "safety")


def judging_inputs(warehouse: Warehouse, model: str, partition_date: dt.date) -> list[dict[str, Any]]:
    """Usable instructions of the partition (what instruction-level tags judge), in sample order."""
    return [
        {"conversation_id": row["conversation_id"], "instruction": row["instruction"], "response": ""}
        for row in usable_instructions(warehouse, model, partition_date)
    ]


def answered_inputs(warehouse: Warehouse, model: str, partition_date: dt.date) -> list[dict[str, Any]]:
    """Every usable answer of the partition, each by its own id (what response-level tags judge): one per
    instruction and responder."""
    with warehouse.connect(read_only=True) as connection:
        cursor = connection.execute(
            f"""
            SELECT r.conversation_id, i.instruction, r.response
            FROM {RESPONSES} r
            JOIN {INSTRUCTIONS} i ON i.conversation_id = r.instruction_id AND i.model = r.model
                AND i.partition_date = r.partition_date AND {usable('i')}
            WHERE r.model = ? AND r.partition_date = ? AND {usable('r')}
            ORDER BY i.sample_index, r.response_model
            """,
            [model, partition_date],
        )
        return dict_rows(cursor)


def cached_judgements(
    warehouse: Warehouse, model: str, partition_date: dt.date, tag: str
) -> dict[str, tuple[str, str, str, str]]:
    """conversation_id -> (input_hash, judge_model, prompt_version, status) of the stored judgements."""
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            f"""
            SELECT conversation_id, input_hash, judge_model, prompt_version, status FROM {JUDGEMENTS}
            WHERE model = ? AND partition_date = ? AND tag = ?
            """,
            [model, partition_date, tag],
        ).fetchall()
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def drop_stale_judgements(
    warehouse: Warehouse, lease: Lease, model: str, partition_date: dt.date, tag: str, current_ids: Sequence[str]
) -> int:
    """Removes judgements of instructions the partition no longer has (it was regenerated)."""
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        return connection.execute(
            f"""
            DELETE FROM {JUDGEMENTS} WHERE model = ? AND partition_date = ? AND tag = ?
                AND NOT list_contains(?, conversation_id)
            """,
            [model, partition_date, tag, list(current_ids)],
        ).fetchone()[0]


def write_judgements(warehouse: Warehouse, lease: Lease, rows: Sequence[Mapping[str, Any]]) -> None:
    """Replaces the (conversation, tag) rows given, in one short transaction."""
    if not rows:
        return
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        upsert(connection, JUDGEMENTS, typed_batch(connection, JUDGEMENTS, rows))


def tag_outcomes(warehouse: Warehouse, model: str, partition_date: dt.date) -> dict[str, dict[str, int]]:
    """tag -> {"ok": n, "failed": m} for the partition."""
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            f"""
            SELECT tag, status, count(*) FROM {JUDGEMENTS}
            WHERE model = ? AND partition_date = ? GROUP BY ALL
            """,
            [model, partition_date],
        ).fetchall()
    outcomes: dict[str, dict[str, int]] = {}
    for tag, status, count in rows:
        outcomes.setdefault(tag, {"ok": 0, "failed": 0})[status] = count
    return outcomes


def label_counts(warehouse: Warehouse, model: str, partition_date: dt.date) -> dict[str, dict[str | None, int]]:
    """column -> label -> rows, for every label column of `instruction_tags` in the partition."""
    counts: dict[str, dict[str | None, int]] = {}
    with warehouse.connect(read_only=True) as connection:
        for column in LABEL_COLUMNS:
            rows = connection.execute(
                f"""
                SELECT {column}, count(*) FROM {INSTRUCTION_TAGS_VIEW}
                WHERE model = ? AND partition_date = ? GROUP BY 1 ORDER BY 2 DESC
                """,
                [model, partition_date],
            ).fetchall()
            counts[column] = {label: count for label, count in rows}
    return counts


def write_tagger_score(warehouse: Warehouse, lease: Lease, row: Mapping[str, Any]) -> None:
    """Stores (or replaces) a tagger's held-out score, keyed by tag, model and prompt version."""
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        upsert(connection, TAGGER_SCORES, typed_batch(connection, TAGGER_SCORES, [row]))
