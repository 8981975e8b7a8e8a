"""Every SQL statement of the preference stage: a night's pairs replaced in one transaction, and read back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from magpie_dagster.storage.curation_schema import CURATION_RUNS
from magpie_dagster.storage.leases import Lease
from magpie_dagster.storage.preference_schema import PREFERENCE
from magpie_dagster.storage.tables import replace_scope, typed_batch
from magpie_dagster.storage.warehouse import Warehouse


def replace_pairs(
    warehouse: Warehouse, lease: Lease, night: dt.date, pairs: Sequence[dict], ties: int
) -> None:
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        connection.execute(f"UPDATE {CURATION_RUNS} SET preference_ties = ? WHERE night = ?", [ties, night])
        batch = typed_batch(connection, PREFERENCE, [{**pair, "night": night} for pair in pairs])
        replace_scope(connection, PREFERENCE, "night = ?", [night], batch)


def night_pairs(warehouse: Warehouse, night: dt.date) -> pl.DataFrame:
    with warehouse.connect(read_only=True) as connection:
        table = connection.execute(
            f"SELECT * EXCLUDE (created_at, night) FROM {PREFERENCE} WHERE night = ? ORDER BY conversation_id", [night]
        ).to_arrow_table()
    return pl.from_arrow(table)
