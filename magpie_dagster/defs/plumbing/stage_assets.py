"""`dg.asset` for a stage's asset: its name, group and upstream assets come from the stage list
(`domain/stages.py`), its table and columns from storage; the builder passes only what is its own (kinds, pool,
checks, description, ...)."""

import datetime as dt
import warnings

import dagster as dg

from magpie_dagster.domain.stages import stage_asset
from magpie_dagster.storage.stage_tables import STAGE_TABLES, table_columns


def model_asset(partitions_def: dg.PartitionsDefinition, name: str, **spec):
    """A per-model asset, partitioned by model x date."""
    asset = stage_asset(name)
    deps = [dg.AssetKey(upstream) for upstream in asset.reads]
    return dg.asset(
        name=name, deps=deps, partitions_def=partitions_def, group_name=asset.group, metadata=_table(name), **spec
    )


def nightly_asset(nights: dg.DailyPartitionsDefinition, name: str, **spec):
    """A nightly asset over every model; it runs as soon as what it reads is newer, unless `spec` says otherwise.
    A per-model asset it reads maps to the night by the date of its partitions."""
    asset = stage_asset(name)
    ins = {
        upstream: dg.AssetIn(
            dg.AssetKey(upstream),
            partition_mapping=_by_night() if stage_asset(upstream).per_model else None,
            dagster_type=dg.Nothing,
        )
        for upstream in asset.reads
    }
    spec.setdefault("automation_condition", dg.AutomationCondition.eager())
    return dg.asset(name=name, ins=ins, partitions_def=nights, group_name=asset.group, metadata=_table(name), **spec)


def _table(name: str) -> dict:
    """The asset's table and columns, shown on its page before the first materialisation."""
    table = STAGE_TABLES.get(name)
    if table is None:
        return {}
    columns = [dg.TableColumn(column, sql_type) for column, sql_type in table_columns(table)]
    return {"dagster/table_name": table, "dagster/column_schema": dg.TableSchema(columns=columns)}


def night_of(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


def _by_night() -> dg.PartitionMapping:
    with warnings.catch_warnings():  # beta, and the only mapping from model x date partitions to their night
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")
