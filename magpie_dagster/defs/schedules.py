"""The nightly run: today's date partition for every model in the catalogue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TypeVar

import dagster as dg

from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.defs.run_tags import k8s_run_tags
from magpie_dagster.domain.catalogue import Catalogue
from magpie_dagster.domain.generation.sampling_plan import partition_label

NIGHTLY_CRON = "0 2 * * *"
StatusT = TypeVar("StatusT", dg.DefaultScheduleStatus, dg.DefaultSensorStatus)


def build_nightly_schedule(
    job: dg.UnresolvedAssetJobDefinition, catalogue: Catalogue
) -> dg.ScheduleDefinition:
    model_keys = tuple(catalogue.model_keys)
    run_tags = {key: k8s_run_tags(catalogue, key) for key in model_keys}

    @dg.schedule(
        name="nightly_magpie",
        job=job,
        cron_schedule=NIGHTLY_CRON,
        execution_timezone="UTC",
        default_status=nightly_status(catalogue, dg.DefaultScheduleStatus),
        description=(
            "Every night at 02:00 UTC, materialise the new date partition for each catalogue model. Running "
            "unless the catalogue says `nightly: false`."
        ),
    )
    def nightly_magpie(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        night = (
            context.scheduled_execution_time.date() if context.scheduled_execution_time else dt.date.today()
        )
        return nightly_run_requests(model_keys, night, run_tags)

    return nightly_magpie


def nightly_status(catalogue: Catalogue, statuses: type[StatusT]) -> StatusT:
    """RUNNING unless the catalogue switched the nightly refresh off (`nightly: false`)."""
    return statuses.RUNNING if catalogue.nightly else statuses.STOPPED


def nightly_run_requests(
    model_keys: tuple[str, ...], night: dt.date, run_tags: Mapping[str, dict[str, str]] | None = None
) -> list[dg.RunRequest]:
    """`run_tags`: extra tags per model key (a Kubernetes pod's GPUs, `run_tags.py`)."""
    return [
        dg.RunRequest(
            run_key=partition_label(model_key, night),
            partition_key=model_date_key(model_key, night),
            tags={"magpie/model": model_key, "magpie/date": night.isoformat(), **(run_tags or {}).get(model_key, {})},
        )
        for model_key in model_keys
    ]
