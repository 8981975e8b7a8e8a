"""Builds the Definitions from a catalogue file and a warehouse path (tests pass their own)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from magpie_dagster.defs.assets.curation import build_curated_subset
from magpie_dagster.defs.assets.decontamination import build_decontamination_asset
from magpie_dagster.defs.assets.dedup import build_dedup_asset
from magpie_dagster.defs.assets.exports import build_dataset_export
from magpie_dagster.defs.assets.generation import build_generation_assets
from magpie_dagster.defs.assets.preference import build_preference_pairs
from magpie_dagster.defs.assets.rounds import build_night_rounds
from magpie_dagster.defs.assets.scorecard import build_night_scorecard
from magpie_dagster.defs.assets.tagging import build_tagging_asset
from magpie_dagster.defs.jobs import asset_graph_executor, build_magpie_job, build_nightly_curation_job
from magpie_dagster.defs.partitions import build_model_date_partitions, build_nights
from magpie_dagster.defs.resources import CatalogueResource, EmbedderResource, EngineResource, WarehouseResource
from magpie_dagster.defs.round_sensor import build_night_rounds_sensor
from magpie_dagster.defs.schedules import build_nightly_schedule
from magpie_dagster.defs.sensors import build_native_crash_sensor, build_night_automation_sensor
from magpie_dagster.domain.catalogue import load_catalogue


def build_definitions(
    catalogue_path: str | Path,
    warehouse_location: str | Path,
    engines: EngineResource | None = None,
    embedder: EmbedderResource | None = None,
    *,
    lake_data_path: str | None = None,
    exports_path: str | Path | None = None,
) -> dg.Definitions:
    """`warehouse_location`: a DuckDB file, or `ducklake:postgres:<conninfo>` with `lake_data_path`."""
    catalogue = load_catalogue(catalogue_path)
    partitions_def = build_model_date_partitions(catalogue)
    nights = build_nights(catalogue)
    per_model = [
        *build_generation_assets(partitions_def, catalogue.retries),
        build_tagging_asset(partitions_def),
        build_dedup_asset(partitions_def),
        build_decontamination_asset(partitions_def),
    ]
    nightly = [
        build_curated_subset(nights),
        build_preference_pairs(nights),
        build_night_scorecard(nights),
        build_dataset_export(nights),
        build_night_rounds(nights),
    ]
    model_job = build_magpie_job(partitions_def, per_model)
    curation_job = build_nightly_curation_job(nights, nightly)
    return dg.Definitions(
        assets=[*per_model, *nightly],
        executor=asset_graph_executor(catalogue),
        jobs=[model_job, curation_job],
        schedules=[build_nightly_schedule(model_job, catalogue)],
        sensors=[
            build_native_crash_sensor(catalogue),
            build_night_rounds_sensor(model_job, curation_job),
            build_night_automation_sensor(catalogue),
        ],
        resources={
            "catalogue": CatalogueResource(path=str(catalogue_path)),
            "warehouse": WarehouseResource(
                path=str(warehouse_location),
                lake_data_path=lake_data_path,
                exports_path=str(exports_path) if exports_path else None,
            ),
            "engines": engines or EngineResource(),
            "embedder": embedder or EmbedderResource(),
        },
    )
