"""The sensors: the automation that builds each night's curation once its partitions are in, and the advice added
to a run whose step died by a signal (so the UI shows the same advice as the CLI)."""

from __future__ import annotations

import dagster as dg

from magpie_dagster.defs.partitions import DATE_DIMENSION, MODEL_DIMENSION
from magpie_dagster.defs.schedules import nightly_status
from magpie_dagster.defs.step_crashes import ADVICE_MARKER, step_crashes
from magpie_dagster.domain.catalogue import Catalogue

PARTITION_TAG = "dagster/partition"


NIGHT_AUTOMATION = "night_automation"


def build_night_automation_sensor(catalogue: Catalogue) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the assets' automation conditions (the curated subset at 02:30 UTC once the night's partitions
    are in, then preference pairs and exports as soon as what they read is newer). Dagster's own default
    automation sensor ships stopped; this one runs unless the catalogue says `nightly: false`."""
    return dg.AutomationConditionSensorDefinition(
        NIGHT_AUTOMATION,
        target=dg.AssetSelection.all(),
        default_status=nightly_status(catalogue, dg.DefaultSensorStatus),
        minimum_interval_seconds=60,
        description=(
            "Builds each night's curated subset, preference pairs and exports once the night's model partitions "
            "are in. Running unless the catalogue says `nightly: false`."
        ),
    )


def build_native_crash_sensor(catalogue: Catalogue) -> dg.SensorDefinition:
    uses_llama_cpp = "llama_cpp" in catalogue.engines_in_use

    @dg.run_failure_sensor(
        name="native_crash_advice",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "When a step's process dies by a signal (a crash in llama.cpp or torch), writes which partition and "
            "step it was, the signal and what to try into the run's event log."
        ),
    )
    def native_crash_advice(context: dg.RunFailureSensorContext) -> None:
        add_crash_advice(context.instance, context.dagster_run, uses_llama_cpp)

    return native_crash_advice


def add_crash_advice(instance: dg.DagsterInstance, run: dg.DagsterRun, uses_llama_cpp: bool) -> list[str]:
    """Reports one engine event per crashed step (once per run); returns the lines it wrote."""
    entries = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    if any(ADVICE_MARKER in (entry.message or "") for entry in entries):
        return []
    partition = run_partition_label(run.tags)
    lines = [crash.describe(partition, uses_llama_cpp) for crash in step_crashes(entries)]
    for line in lines:
        instance.report_engine_event(line, run)
    return lines


def run_partition_label(tags: dict[str, str]) -> str:
    """`model|date` for a model partition, `night date` for a nightly one, as the CLI names them."""
    model, date = tags.get(f"{PARTITION_TAG}/{MODEL_DIMENSION}"), tags.get(f"{PARTITION_TAG}/{DATE_DIMENSION}")
    if model and date:
        return f"{model}|{date}"
    return f"night {tags[PARTITION_TAG]}" if PARTITION_TAG in tags else "(not partitioned)"
