"""Warehouse housekeeping: `prune` deletes a removed model's rows (and refreshes the read copy, so analysts stop
seeing them), `compact` merges a DuckLake's small files."""

from __future__ import annotations

from magpie_dagster.cli.configured import configured_warehouse
from magpie_dagster.domain.catalogue import CatalogueError, load_catalogue
from magpie_dagster.settings import catalogue_path
from magpie_dagster.storage.maintenance import compact
from magpie_dagster.storage.prune import prune_model
from magpie_dagster.storage.read_copy import publish_read_copy


def compact_warehouse(keep_days: int) -> int:
    warehouse = configured_warehouse()
    warehouse.check()
    done = compact(warehouse, keep_days)
    print(
        f"compacted {warehouse.label}: data files {done.before.data_files} -> {done.after.data_files}, "
        f"snapshots {done.before.snapshots} -> {done.after.snapshots} (kept {keep_days} days for time travel)"
    )
    return 0


def prune(model_key: str) -> int:
    catalogue = load_catalogue(catalogue_path())
    if model_key in catalogue.model_keys:
        raise CatalogueError(
            f"{model_key!r} is still in the catalogue {catalogue_path()}: remove it there first, then prune its rows."
        )
    warehouse = configured_warehouse()
    warehouse.check()
    removed = prune_model(warehouse, model_key)
    total = sum(removed.values())
    details = ", ".join(f"{table} {count}" for table, count in removed.items() if count)
    print(f"pruned model {model_key!r}: {total} rows deleted" + (f" ({details})" if details else ""))
    if warehouse.read_copy_path and warehouse.read_copy_path.exists():
        published = publish_read_copy(warehouse)
        print(f"read copy {published} refreshed" if published else "read copy: refreshed when the running stage ends")
    return 0
