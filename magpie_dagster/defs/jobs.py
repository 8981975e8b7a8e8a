"""The main job: every stage for one model x date partition, in one process so engines load once."""

from __future__ import annotations

import dagster as dg

MAGPIE_JOB = "magpie_job"


def build_magpie_job(partitions_def: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=MAGPIE_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions_def,
        executor_def=dg.in_process_executor,
        description="Generates (and, as later stages land, judges, dedups and curates) one model x date partition.",
    )
