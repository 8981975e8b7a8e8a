"""The warehouse every command works on: the one the environment names (MAGPIE_WAREHOUSE and its options)."""

from __future__ import annotations

from magpie_dagster.settings import warehouse_location, warehouse_options
from magpie_dagster.storage.warehouse import Warehouse


def configured_warehouse() -> Warehouse:
    return Warehouse(warehouse_location(), **warehouse_options())
