"""Builds the Definitions from a catalogue file and a warehouse path (tests pass their own)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from magpie_dagster.defs.assets.generation import build_generation_assets
from magpie_dagster.defs.assets.tagging import build_tagging_asset
from magpie_dagster.defs.jobs import build_magpie_job
from magpie_dagster.defs.partitions import build_model_date_partitions
from magpie_dagster.defs.resources import CatalogueResource, EngineResource, WarehouseResource
from magpie_dagster.defs.schedules import build_nightly_schedule
from magpie_dagster.domain.catalogue import load_catalogue


def build_definitions(
    catalogue_path: str | Path,
    warehouse_path: str | Path,
    engines: EngineResource | None = None,
) -> dg.Definitions:
    catalogue = load_catalogue(catalogue_path)
    partitions_def = build_model_date_partitions(catalogue)
    job = build_magpie_job(partitions_def)
    generation = build_generation_assets(partitions_def)
    return dg.Definitions(
        assets=[*generation, build_tagging_asset(partitions_def, upstream=generation)],
        jobs=[job],
        schedules=[build_nightly_schedule(job, catalogue)],
        resources={
            "catalogue": CatalogueResource(path=str(catalogue_path)),
            "warehouse": WarehouseResource(path=str(warehouse_path)),
            "engines": engines or EngineResource(),
        },
    )
