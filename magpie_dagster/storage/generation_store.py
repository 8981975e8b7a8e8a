"""Every SQL statement of the generation stages: what is stored, batch replacement, usable instructions.

A partition's rows are replaced only by their replacements: each finished batch replaces the rows with its
conversation ids in one transaction, under the partition's lease. Rows the plan no
longer has are removed only after every batch is stored, so a run that fails changes nothing it did not
replace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from functools import partial
from typing import Any

from magpie_dagster.domain.generation.resume import GeneratedRows
from magpie_dagster.storage.generation_schema import INSTRUCTIONS, RESPONSES
from magpie_dagster.storage.leases import Lease
from magpie_dagster.storage.tables import dict_rows, typed_batch, upsert
from magpie_dagster.storage.usable import usable
from magpie_dagster.storage.warehouse import Warehouse

GENERATED_TABLES = (INSTRUCTIONS, RESPONSES)


def stored_fingerprints(warehouse: Warehouse, table: str, model: str, partition_date: dt.date) -> dict[str, str]:
    """conversation_id -> fingerprint of the partition's stored rows (rows from before fingerprints: '')."""
    _check_table(table)
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            f"SELECT conversation_id, coalesce(fingerprint, '') FROM {table} WHERE model = ? AND partition_date = ?",
            [model, partition_date],
        ).fetchall()
    return dict(rows)


def replace_batch(warehouse: Warehouse, lease: Lease, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Stores a finished batch in place of the rows with the same conversation ids; returns how many it replaced."""
    _check_table(table)
    if not rows:
        return 0
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        batch = typed_batch(connection, table, rows)
        replaced = connection.execute(
            f"SELECT count(*) FROM {table} WHERE list_contains(?, conversation_id)",
            [batch.column("conversation_id").to_pylist()],
        ).fetchone()[0]
        upsert(connection, table, batch)
    return int(replaced)


def remove_all_but(
    warehouse: Warehouse, lease: Lease, table: str, model: str, partition_date: dt.date, keep: Collection[str]
) -> int:
    """Removes the partition's rows whose conversation id is not in `keep` (no longer planned or answerable)."""
    _check_table(table)
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        return int(
            connection.execute(
                f"DELETE FROM {table} WHERE model = ? AND partition_date = ? AND NOT list_contains(?, conversation_id)",
                [model, partition_date, list(keep)],
            ).fetchone()[0]
        )


def usable_instructions(warehouse: Warehouse, model: str, partition_date: dt.date) -> list[dict[str, Any]]:
    """The partition's usable instructions (no drop reason), in sample order."""
    with warehouse.connect(read_only=True) as connection:
        cursor = connection.execute(
            f"""
            SELECT conversation_id, sample_index, instruction, system_prompt_name
            FROM {INSTRUCTIONS}
            WHERE model = ? AND partition_date = ? AND {usable()}
            ORDER BY sample_index
            """,
            [model, partition_date],
        )
        return dict_rows(cursor)


def drop_reasons(warehouse: Warehouse, table: str, model: str, partition_date: dt.date) -> dict[str, int]:
    """drop reason -> rows of the partition, usable rows counted as `kept`."""
    _check_table(table)
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            f"SELECT coalesce(drop_reason, 'kept'), count(*) FROM {table} WHERE model = ? AND partition_date = ? "
            "GROUP BY 1 ORDER BY 1",
            [model, partition_date],
        ).fetchall()
    return dict(rows)


def generated_rows(
    warehouse: Warehouse, lease: Lease, table: str, model: str, partition_date: dt.date
) -> GeneratedRows:
    """The partition's rows of `table` as the generation domain resumes them."""
    return GeneratedRows(
        stored_fingerprints=partial(stored_fingerprints, warehouse, table, model, partition_date),
        replace_batch=partial(replace_batch, warehouse, lease, table),
        remove_all_but=partial(remove_all_but, warehouse, lease, table, model, partition_date),
        drop_reasons=partial(drop_reasons, warehouse, table, model, partition_date),
    )


def _check_table(table: str) -> None:
    if table not in GENERATED_TABLES:
        raise ValueError(f"Unknown table {table!r}; expected one of {GENERATED_TABLES}")
