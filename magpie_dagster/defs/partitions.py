"""Partitions, defined once: one generator model (from the catalogue) x one nightly date."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from magpie_dagster.domain.catalogue import Catalogue
from magpie_dagster.domain.generation.sampling_plan import partition_label

MODEL_DIMENSION = "model"
DATE_DIMENSION = "date"


def build_model_date_partitions(catalogue: Catalogue) -> dg.MultiPartitionsDefinition:
    """Adding a model to the catalogue adds its partitions; `end_offset=1` makes today's date available."""
    return dg.MultiPartitionsDefinition(
        {
            MODEL_DIMENSION: dg.StaticPartitionsDefinition(catalogue.model_keys),
            DATE_DIMENSION: dg.DailyPartitionsDefinition(start_date=catalogue.start_date.isoformat(), end_offset=1),
        }
    )


def build_nights(catalogue: Catalogue) -> dg.DailyPartitionsDefinition:
    """One partition per night, for the stages that span every model (curation, preference pairs, exports)."""
    return dg.DailyPartitionsDefinition(start_date=catalogue.start_date.isoformat(), end_offset=1)


def model_date_key(model_key: str, partition_date: dt.date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({MODEL_DIMENSION: model_key, DATE_DIMENSION: partition_date.isoformat()})


def partition_label_of(context: dg.AssetExecutionContext) -> str:
    """The partition as people, logs and leases name it: `model|date`, or a night's date."""
    if isinstance(context.partition_key, dg.MultiPartitionKey):
        return partition_label(*model_and_date(context))
    return context.partition_key


def model_and_date(context: dg.AssetExecutionContext) -> tuple[str, dt.date]:
    keys = context.partition_key.keys_by_dimension
    return keys[MODEL_DIMENSION], dt.date.fromisoformat(keys[DATE_DIMENSION])
