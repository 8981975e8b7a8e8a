"""The jobs: every per-model stage for one model x date partition, and the nightly stages across models.

Both run in one process (in_process_executor) so models and engines load once per run.
"""

from __future__ import annotations

import dagster as dg

MAGPIE_JOB = "magpie_job"
NIGHTLY_CURATION_JOB = "nightly_curation_job"


def build_magpie_job(partitions_def: dg.PartitionsDefinition, assets: list) -> dg.UnresolvedAssetJobDefinition:
    return _in_process_job(MAGPIE_JOB, partitions_def, assets, "Generates, judges and deduplicates one model x date.")


def build_nightly_curation_job(nights: dg.PartitionsDefinition, assets: list) -> dg.UnresolvedAssetJobDefinition:
    return _in_process_job(
        NIGHTLY_CURATION_JOB, nights, assets, "Curates one night across every model: subset, preference pairs, exports."
    )


def _in_process_job(name: str, partitions_def, assets: list, description: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=name,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=partitions_def,
        executor_def=dg.in_process_executor,
        description=description,
    )
