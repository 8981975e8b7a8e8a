"""Engines as an asset uses them: each call recorded in the cost ledger for the run's stage and partition."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from magpie_dagster.defs.plumbing.stage_run import StageRun
from magpie_dagster.domain.completion import GenerationEngine
from magpie_dagster.domain.costs.metering import EngineCall, MeteredEngine
from magpie_dagster.domain.engine_config import Price
from magpie_dagster.storage import costs_store
from magpie_dagster.storage.rows import engine_call_row


def metered(
    context: dg.AssetExecutionContext,
    run: StageRun,
    engine: GenerationEngine,
    label: str,
    price: Price,
    model_key: str,
    night: dt.date,
) -> MeteredEngine:
    """`engine`, each call appended to `engine_calls` as it returns (or fails), under the stage's lease.

    `attempt` is Dagster's retry number of the step, so a retried step's calls stay apart from the first try's.
    """

    def record(call: EngineCall) -> None:
        row = engine_call_row(
            call, run_id=context.run_id, attempt=context.retry_number, stage=run.stage, model=model_key,
            partition_date=night,
        )  # fmt: skip
        costs_store.record_call(run.store, run.lease, row)

    return MeteredEngine(engine, label, price, record)


def spend_metadata(run: StageRun, model_key: str, night: dt.date) -> dict[str, dg.MetadataValue]:
    """The stage's spend on this partition over every attempt, from the ledger."""
    spend = costs_store.partition_spend(run.store, model_key, night, run.stage)
    return {
        "engine_calls": dg.MetadataValue.int(spend["calls"]),
        "engine_calls_failed": dg.MetadataValue.int(spend["failed_calls"]),
        "attempts": dg.MetadataValue.int(spend["attempts"]),
        "engine_seconds": dg.MetadataValue.float(round(float(spend["engine_seconds"]), 3)),
        "cost_usd": dg.MetadataValue.float(round(float(spend["cost_usd"]), 6)),
    }
