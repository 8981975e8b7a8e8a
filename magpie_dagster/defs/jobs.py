"""The jobs: every per-model stage for one model x date partition, and the nightly stages across models.

Each step of the jobs runs in its own process, one at a time. A crash in native code (llama.cpp, torch) then
ends that step, not the run worker: Dagster records which step died by which signal, and the other partitions
of the night still run. One step at a time because llama.cpp's threads busy-wait: two engines on the same cores
slow each other down tenfold.

Materialisations picked in the asset graph run in one process instead (`asset_graph_executor`), so a model is
loaded once per run, not once per step; a crash then ends that run only.
"""

from __future__ import annotations

import dagster as dg

from magpie_dagster.domain.catalogue import Catalogue

MAGPIE_JOB = "magpie_job"
NIGHTLY_CURATION_JOB = "nightly_curation_job"

# What the forkserver imports once, so that each step's process forks with it loaded: about 3 s of imports per
# step otherwise (Dagster preloads only its executor when the config names no module). Modules without side
# effects only; an engine library (llama.cpp, vLLM, torch) loads in the step that uses it. A module that is not
# installed is skipped.
STEP_PROCESS_PRELOAD = [
    "magpie_dagster.defs.definitions_builder",  # the project, Dagster, DuckDB, Polars, PyArrow, openai
    "magpie_dagster.cli.run_command",  # where the command line's jobs are rebuilt from
    "dagster._core.instance.factory",  # the instance a step opens, and its SQLite storages
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
    "alembic.script",  # the storages check their schema revision
    "dagster_postgres",  # the production instance's storages
    "pandas",  # DuckDB imports it at a step's first query with parameters
]

STEP_PER_PROCESS = dg.multiprocess_executor.configured(
    {"max_concurrent": 1, "start_method": {"forkserver": {"preload_modules": STEP_PROCESS_PRELOAD}}},
    name="step_per_process",
)


def build_magpie_job(partitions_def: dg.PartitionsDefinition, assets: list) -> dg.UnresolvedAssetJobDefinition:
    return _isolated_steps_job(
        MAGPIE_JOB, partitions_def, assets, "Generates, judges and deduplicates one model x date."
    )


def build_nightly_curation_job(nights: dg.PartitionsDefinition, assets: list) -> dg.UnresolvedAssetJobDefinition:
    return _isolated_steps_job(
        NIGHTLY_CURATION_JOB, nights, assets, "Curates one night across every model: subset, preference pairs, exports."
    )


def _isolated_steps_job(
    name: str, partitions_def: dg.PartitionsDefinition, assets: list, description: str
) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=name,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=partitions_def,
        executor_def=STEP_PER_PROCESS,
        description=description,
    )


def asset_graph_executor(catalogue: Catalogue) -> dg.ExecutorDefinition:
    """The Definitions' executor, which runs what the UI's Materialise and `dagster asset materialize` start.

    In-process vLLM engines are the exception: a process frees its GPU memory reliably only by exiting, and a
    vLLM generator plus a vLLM judge loaded into one process would not both fit.
    """
    return STEP_PER_PROCESS if "vllm" in catalogue.engines_in_use else dg.in_process_executor
