"""Runs a scheduled night's next rounds, as `magpie-dagster run` does (`night_driver.py`) for a night it drives.

When `night_rounds` plans another round for some models, the sensor requests their partitions' runs; when all of
those have succeeded it requests the night's curation, which closes the round (and may plan the next). Run keys
name the model, night and round, so a round is requested once however often the sensor ticks; a round whose run
failed is left there: the failure is in the UI, and the night keeps what it has.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg

from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.domain.stages import NIGHT_ROUNDS

ROUND_TAG = "magpie/round"
NIGHT_TAG = "magpie/night"
RUN_KEY_TAG = "dagster/run_key"
NIGHT_ROUNDS_ASSET = dg.AssetKey(NIGHT_ROUNDS)
_FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def build_night_rounds_sensor(
    model_job: dg.UnresolvedAssetJobDefinition, curation_job: dg.UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    @dg.sensor(
        name="night_rounds_sensor",
        jobs=[model_job, curation_job],
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Runs the next round of a night whose models are short of their row targets: their partitions, then "
            "the night's curation, until each model's target is met, its budget spent or its rounds used."
        ),
    )
    def night_rounds_sensor(context: dg.SensorEvaluationContext):
        state = json.loads(context.cursor) if context.cursor else {"after": None, "pending": {}}
        requests = []
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=NIGHT_ROUNDS_ASSET, after_storage_id=state["after"]),
            limit=100,
            ascending=True,
        ).records
        for record in records:
            state["after"] = record.storage_id
            materialization = record.asset_materialization
            planned = materialization.metadata.get("next_rounds") if materialization else None
            if not planned or not planned.value:
                continue
            night = materialization.partition
            keys = []
            for model, round_number in sorted(planned.value.items()):
                run_key = f"{model}|{night}|round {round_number}"
                keys.append(run_key)
                requests.append(
                    dg.RunRequest(
                        run_key=run_key,
                        job_name=model_job.name,
                        partition_key=model_date_key(model, dt.date.fromisoformat(night)),
                        tags={ROUND_TAG: str(round_number), NIGHT_TAG: night, "magpie/model": model},
                    )
                )
            state["pending"][night] = keys
        for night, keys in list(state["pending"].items()):
            statuses = [_status(context.instance, key) for key in keys]
            if any(status is None or status not in _FINISHED for status in statuses):
                continue
            del state["pending"][night]
            if all(status == dg.DagsterRunStatus.SUCCESS for status in statuses):
                requests.append(
                    dg.RunRequest(
                        run_key=f"{night}|curate after " + ", ".join(keys),
                        job_name=curation_job.name,
                        partition_key=night,
                        tags={NIGHT_TAG: night},
                    )
                )
            else:
                context.log.warning(f"night {night}: a round's run did not succeed ({', '.join(keys)}); stopped")
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(state))

    return night_rounds_sensor


def _status(instance: dg.DagsterInstance, run_key: str) -> dg.DagsterRunStatus | None:
    """The latest run with this run key (None: not launched yet)."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
    return runs[0].status if runs else None
