"""What the nightly assets share: the nights they are partitioned by, their group, and when they run (as soon as
what they read is newer, unless they say otherwise)."""

import datetime as dt

import dagster as dg

CURATION_GROUP = "curation"


def nightly_asset(nights: dg.DailyPartitionsDefinition, **spec):
    """`dg.asset` for a nightly asset; `spec` holds what is its own (name, ins or deps, kinds, pool, ...)."""
    spec.setdefault("automation_condition", dg.AutomationCondition.eager())
    return dg.asset(partitions_def=nights, group_name=CURATION_GROUP, **spec)


def night_of(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)
