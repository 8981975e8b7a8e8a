"""Compacting a DuckLake after a backfill (`magpie-dagster compact`).

Every committed batch is a snapshot, and small batches land as rows inlined in the catalog or as small Parquet
files; a lake that took thousands of them reads and upserts slower (see docs/performance.md). Compaction writes the
inlined rows out, merges adjacent small files, expires snapshots older than the time-travel window and deletes the
files nothing references any more. It runs under the lake's write lock, between batches of running writers.
"""

from __future__ import annotations

from dataclasses import dataclass

from magpie_dagster.storage.errors import WarehouseError
from magpie_dagster.storage.lake import LAKE_ALIAS
from magpie_dagster.storage.warehouse import Warehouse


@dataclass(frozen=True)
class LakeFootprint:
    data_files: int
    snapshots: int


@dataclass(frozen=True)
class Compaction:
    before: LakeFootprint
    after: LakeFootprint


def compact(warehouse: Warehouse, keep_days: int = 7) -> Compaction:
    """Compacts the lake, keeping `keep_days` of snapshots for time travel (0: only the current one)."""
    if not warehouse.lake:
        raise WarehouseError(
            f"The warehouse {warehouse.label} is a DuckDB file: it is checkpointed at every write, there is nothing "
            "to compact. `compact` is for a DuckLake (MAGPIE_WAREHOUSE=ducklake:postgres:...)."
        )
    before = footprint(warehouse)
    with warehouse.exclusive() as connection:
        connection.execute(f"CALL ducklake_flush_inlined_data('{LAKE_ALIAS}')")
        connection.execute(f"CALL ducklake_merge_adjacent_files('{LAKE_ALIAS}')")
        connection.execute(
            f"CALL ducklake_expire_snapshots('{LAKE_ALIAS}', older_than => now() - to_days(?))", [keep_days]
        )
        connection.execute(f"CALL ducklake_cleanup_old_files('{LAKE_ALIAS}', cleanup_all => true)")
    return Compaction(before, footprint(warehouse))


def footprint(warehouse: Warehouse) -> LakeFootprint:
    with warehouse.connect(read_only=True) as connection:
        files = connection.execute(f"SELECT sum(file_count) FROM ducklake_table_info('{LAKE_ALIAS}')").fetchone()[0]
        snapshots = connection.execute(f"SELECT count(*) FROM ducklake_snapshots('{LAKE_ALIAS}')").fetchone()[0]
    return LakeFootprint(int(files or 0), int(snapshots))
